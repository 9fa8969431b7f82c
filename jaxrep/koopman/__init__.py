"""Koopman operators: continuous-time generators with matrix-exponential rollout, closed-form
estimators (EDMD, generator EDMD, kernel reduced-rank regression), control (DMDc / EDMDc, linear and
bilinear control generators, zero-order hold, LQ tracking MPC), the DMD family (exact, optimised,
BOP-DMD, Hankel DMD, HAVOK), verified spectra (ResDMD) and deep Koopman autoencoders."""

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
from ._control import AbstractControlGenerator as AbstractControlGenerator
from ._control import BilinearGenerator as BilinearGenerator
from ._control import ControlEstimator as ControlEstimator
from ._control import ControlGenerator as ControlGenerator
from ._control import ControlGeneratorEstimator as ControlGeneratorEstimator
from ._control import dmdc as dmdc
from ._control import edmdc as edmdc
from ._control import generator_edmdc as generator_edmdc
from ._control import propagate_controlled as propagate_controlled
from ._control import zoh as zoh
from ._mpc import linearize as linearize
from ._mpc import lq_tracking as lq_tracking
from ._mpc import LQSolution as LQSolution
from ._mpc import receding_horizon as receding_horizon
from ._dmd import AbstractDMD as AbstractDMD
from ._dmd import BOPDMDResult as BOPDMDResult
from ._dmd import bopdmd as bopdmd
from ._dmd import dmd as dmd
from ._dmd import DMDResult as DMDResult
from ._dmd import hankel_dmd as hankel_dmd
from ._dmd import havok as havok
from ._dmd import HAVOKResult as HAVOKResult
from ._dmd import optdmd as optdmd
from ._dmd import OptDMDResult as OptDMDResult
from ._spectral import eig as eig
from ._spectral import pseudospectrum as pseudospectrum
from ._spectral import residuals as residuals
from ._autoencoder import KoopmanAutoencoder as KoopmanAutoencoder
from ._autoencoder import SkipLinear as SkipLinear
from . import losses as losses
