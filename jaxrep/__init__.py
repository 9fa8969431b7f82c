"""jaxrep: functional scientific machine learning in JAX.

Four families of pure-function modules (Koopman operators, SPIKE-regularised PINNs, KAN layers and
stochastic interpolants) that compose through one trainer, `jaxrep.train.fit`; `jaxrep.pde` is the
suite of PDE/ODE problems with reference solutions that the PINNs (and any other solver) are scored on.

The families are imported when first used (`jaxrep.pinn`, `from jaxrep import nn`), so `import jaxrep`
costs little more than `import jax`; heavy optional dependencies (diffrax, orbax, matplotlib, flax)
are likewise imported only by the functions that need them.
"""

import importlib
import importlib.metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # static analysers and IDEs see the families as plain attributes
    from . import config as config
    from . import data as data
    from . import interpolants as interpolants
    from . import koopman as koopman
    from . import nn as nn
    from . import pde as pde
    from . import pinn as pinn
    from . import plot as plot
    from . import train as train

_FAMILIES = ("config", "data", "interpolants", "koopman", "nn", "pde", "pinn", "plot", "train")


def __getattr__(name):
    # PEP 562: import a family on first attribute access; Python then caches it as a module attribute.
    if name in _FAMILIES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_FAMILIES))


try:
    __version__ = importlib.metadata.version("jaxrep")
except importlib.metadata.PackageNotFoundError:  # a source checkout on PYTHONPATH, not installed
    __version__ = "0+unknown"
