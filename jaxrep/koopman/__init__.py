"""Koopman operators: continuous-time generators with matrix-exponential rollout, closed-form
estimators (EDMD, generator EDMD, kernel reduced-rank regression), verified spectra (ResDMD) and deep
Koopman autoencoders."""

from ._generator import AbstractGenerator as AbstractGenerator
from ._generator import DenseGenerator as DenseGenerator
from ._generator import EigGenerator as EigGenerator
from ._generator import Generator as Generator
from ._generator import generator_names as generator_names
from ._generator import SkewGenerator as SkewGenerator
from ._generator import StableGenerator as StableGenerator
from ._propagate import expm_stack as expm_stack
from ._propagate import propagate as propagate
from ._propagate import propagate_uniform as propagate_uniform
from ._estimators import AbstractKoopmanEstimator as AbstractKoopmanEstimator
from ._estimators import edmd as edmd
from ._estimators import generator_edmd as generator_edmd
from ._estimators import GeneratorEstimator as GeneratorEstimator
from ._estimators import kernel_pcr as kernel_pcr
from ._estimators import kernel_rrr as kernel_rrr
from ._estimators import KoopmanEig as KoopmanEig
from ._estimators import KoopmanEstimator as KoopmanEstimator
from ._features import Concat as Concat
from ._features import GaussianKernel as GaussianKernel
from ._features import Polynomial as Polynomial
from ._features import RandomFourier as RandomFourier
from ._features import RBF as RBF
from ._spectral import eig as eig
from ._spectral import pseudospectrum as pseudospectrum
from ._spectral import residuals as residuals
from ._autoencoder import KoopmanAutoencoder as KoopmanAutoencoder
from ._autoencoder import SkipLinear as SkipLinear
from . import losses as losses
