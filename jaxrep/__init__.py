"""jaxrep: functional scientific machine learning in JAX.

Four families of pure-function modules (Koopman operators, SPIKE-regularised PINNs, KAN layers and
stochastic interpolants) that compose through one trainer, `jaxrep.train.fit`.
"""

import importlib.metadata

from . import config as config
from . import data as data
from . import interpolants as interpolants
from . import koopman as koopman
from . import nn as nn
from . import pinn as pinn
from . import plot as plot
from . import train as train

try:
    __version__ = importlib.metadata.version("jaxrep")
except importlib.metadata.PackageNotFoundError:  # a source checkout on PYTHONPATH, not installed
    __version__ = "0+unknown"
