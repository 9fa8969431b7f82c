"""The problem suite, re-exported from [`jaxrep.pde.problems`][jaxrep.pde.problems] (it moved there so
that any solver can use it): `jaxrep.pinn.problems.get(name, **params)`, `names()` and the classes."""

from ..pde.problems import *  # noqa: F403  (every name of jaxrep.pde.problems.__all__)
from ..pde.problems import __all__ as __all__
