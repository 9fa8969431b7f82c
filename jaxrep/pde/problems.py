"""The problem suite: `jaxrep.pde.problems.get(name, **params)` (also `jaxrep.pinn.problems`) and the problem classes.

| name | equation | reference |
|---|---|---|
| `heat` | $u_t = \\kappa u_{xx}$ | exact |
| `advection` | $u_t + cu_x = 0$ | exact |
| `wave` | $u_{tt} = c^2u_{xx}$ | exact (d'Alembert) |
| `kdv` | $u_t + 6uu_x + u_{xxx} = 0$ | exact soliton |
| `navier_stokes_2d` | incompressible NS | exact (Taylor-Green) |
| `heat2d`, `wave2d` | 2-D heat / wave | exact |
| `burgers` | $u_t + uu_x = \\nu u_{xx}$ | Cole-Hopf by Gauss-Hermite quadrature |
| `allen_cahn` | $u_t = du_{xx} + a(u - u^3)$ | pseudo-spectral ETDRK4 |
| `schrodinger` | $ih_t + \\tfrac12h_{xx} + \\lvert h\\rvert^2h = 0$ | pseudo-spectral ETDRK4 |
| `kuramoto_sivashinsky` | $u_t + \\alpha uu_x + \\beta u_{xx} + \\gamma u_{xxxx} = 0$ | pseudo-spectral ETDRK4 |
| `cahn_hilliard` | $u_t = (\\gamma_2(u^3-u) - \\gamma_1u_{xx})_{xx}$ | pseudo-spectral ETDRK4 |
| `fisher_kpp` | $u_t = Du_{xx} + ru(1-u)$ | pseudo-spectral ETDRK4 |
| `burgers2d` | 2-D viscous Burgers | pseudo-spectral ETDRK4 |
| `lorenz` | Lorenz-63 (ODE) | diffrax Dopri8, tol $10^{-10}$ |
| `seir` | SEIR epidemic (ODE) | diffrax Dopri8, tol $10^{-10}$ |

Names map to classes here, once.
"""

from __future__ import annotations


from .._validate import did_you_mean
from ._exact_problems import Advection as Advection
from ._exact_problems import Heat as Heat
from ._exact_problems import Heat2D as Heat2D
from ._exact_problems import KdV as KdV
from ._exact_problems import NavierStokes2D as NavierStokes2D
from ._exact_problems import Wave as Wave
from ._exact_problems import Wave2D as Wave2D
from ._ode_problems import SEIR as SEIR
from ._ode_problems import Lorenz as Lorenz
from ._problem import AbstractProblem
from ._reference_problems import AllenCahn as AllenCahn
from ._reference_problems import Burgers as Burgers
from ._reference_problems import Burgers2D as Burgers2D
from ._reference_problems import CahnHilliard as CahnHilliard
from ._reference_problems import FisherKPP as FisherKPP
from ._reference_problems import KuramotoSivashinsky as KuramotoSivashinsky
from ._reference_problems import Schrodinger as Schrodinger

_PROBLEMS: dict[str, type[AbstractProblem]] = {
    cls.name: cls
    for cls in (
        Heat,
        Advection,
        Wave,
        Burgers,
        AllenCahn,
        KdV,
        Schrodinger,
        NavierStokes2D,
        KuramotoSivashinsky,
        FisherKPP,
        CahnHilliard,
        Heat2D,
        Wave2D,
        Burgers2D,
        Lorenz,
        SEIR,
    )
}

__all__ = ["Advection", "AllenCahn", "Burgers", "Burgers2D", "CahnHilliard", "FisherKPP", "Heat", "Heat2D", "KdV", "KuramotoSivashinsky", "Lorenz", "NavierStokes2D", "SEIR", "Schrodinger", "Wave", "Wave2D", "get", "names"]


def names() -> list[str]:
    """Names of every problem in the suite."""
    return list(_PROBLEMS)


def get(name: str, **params) -> AbstractProblem:
    """Build the problem `name` with its default parameters, overridden by `params`.

    **Arguments:**

    - `name`: one of [`names()`][jaxrep.pde.problems.names].
    - `**params`: fields of that problem class (e.g. `nu=0.01`, `train_window=(0, 0.4)`, or
      `train_box=[(0.0, 0.75)]`: train on that spatial sub-box only, one `(lo, hi)` per dimension).

    **Returns:** an `AbstractProblem`.

    Raises `ValueError` listing the valid names for an unknown `name`, and naming the field for an
    invalid parameter.
    """
    if name not in _PROBLEMS:
        hint = did_you_mean(name, _PROBLEMS, paren=True)
        raise ValueError(f"unknown problem name {name!r}{hint}; valid names: {', '.join(_PROBLEMS)}")
    cls = _PROBLEMS[name]
    import dataclasses

    valid = {f.name for f in dataclasses.fields(cls)}
    for key in params:
        if key not in valid:
            hint = did_you_mean(key, sorted(valid), paren=True)
            raise ValueError(f"problem {name!r} has no parameter {key!r}{hint}; valid: {', '.join(sorted(valid))}")
    return cls(**params)
