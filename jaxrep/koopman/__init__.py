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
from ._propagate import propagate as propagate
from ._propagate import propagate_uniform as propagate_uniform
