r"""ODE problems (spatial dimension 0): Lorenz-63 and SEIR, with diffrax references.

The solution is $u(t)\in\mathbb R^n$ and the residual $\dot u - f(u)$. The network sees only $t$
(`x` has shape `(0,)`); there is no boundary. References come from `ode_reference` (diffrax
`Dopri8` at tolerance $10^{-10}$, float64), computed once per parameter set and cached.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._derivatives import value_and_dt
from ._problem import (
    AbstractProblem,
    NoBoundary,
    Window,
    check_positive,
)


@functools.lru_cache(maxsize=None)
def _ode_ref(cls, params: tuple, y0: tuple, t0: float, t1: float, n_t: int):
    from ._ode_reference import ode_reference

    vf = lambda t, y, args: cls.vector_field(y, *args)
    name = f"{cls.name}-" + "-".join(f"{p:.12g}" for p in params)
    return ode_reference(vf, np.asarray(y0, np.float64), np.linspace(t0, t1, n_t), args=params,
                         cache_name=name)


class _ODEProblem(AbstractProblem):
    lower: ClassVar[tuple[float, ...]] = ()
    upper: ClassVar[tuple[float, ...]] = ()
    boundary: ClassVar = NoBoundary()
    has_exact: ClassVar[bool] = False
    reference_points: ClassVar[int] = 4001

    def _params(self) -> tuple:
        raise NotImplementedError

    def residual(self, u, x, t):
        y, y_t = value_and_dt(u, x, t)
        return y_t - type(self).vector_field(y, *self._params())

    def initial_condition(self, x):
        return jnp.asarray(self.y0, dtype=jnp.result_type(x.dtype, float))

    def trajectory(self):
        """The diffrax reference as an `ODEReference` (`ref(t) -> (n,)`)."""
        return _ode_ref(type(self), self._params(), tuple(self.y0), *self.time_window, self.reference_points)

    def reference(self, x, t):
        t = jnp.asarray(t)
        return self.trajectory()(t).astype(jnp.result_type(t.dtype, float))


class Lorenz(_ODEProblem):
    r"""Lorenz-63: $\dot x = \sigma(y - x)$, $\dot y = x(\rho - z) - y$, $\dot z = xy - \beta z$.

    $\sigma = 10$, $\rho = 28$, $\beta = 8/3$, $y_0 = (-8, 7, 27)$, chaotic with largest Lyapunov
    exponent $\lambda_{\max}\approx 0.906$ (`lyapunov_exponent`), so the valid prediction time is
    reported in Lyapunov times $\lambda_{\max}t$.

    **References:** Lorenz, J. Atmos. Sci. 20 (1963); Viswanath (1998) for $\lambda_{\max}$.
    """

    name: ClassVar[str] = "lorenz"
    n_out: ClassVar[int] = 3
    component_names: ClassVar[tuple[str, ...]] = ("x", "y", "z")
    t_domain: ClassVar[Window] = (0.0, 2.0)
    lyapunov_exponent: ClassVar[float] = 0.9056

    sigma: float = 10.0
    rho: float = 28.0
    beta: float = 8.0 / 3.0
    y0: tuple[float, ...] = eqx.field(default=(-8.0, 7.0, 27.0), static=True, converter=tuple)

    def __check_init__(self):
        for f in ("sigma", "rho", "beta"):
            check_positive("Lorenz", f, getattr(self, f))
        if len(self.y0) != 3:
            raise ValueError(f"Lorenz: y0 must have 3 entries, got {self.y0!r}")

    def _params(self):
        return (self.sigma, self.rho, self.beta)

    @staticmethod
    def vector_field(u, sigma, rho, beta):
        x, y, z = u[0], u[1], u[2]
        return jnp.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


class SEIR(_ODEProblem):
    r"""SEIR epidemic model (population fractions):

    $\dot S = -\beta SI$, $\dot E = \beta SI - \sigma E$, $\dot I = \sigma E - \gamma I$,
    $\dot R = \gamma I$; $S + E + I + R$ is conserved. Defaults $\beta = 0.5$, $\sigma = 0.2$,
    $\gamma = 0.1$ (days$^{-1}$), $y_0 = (0.99, 0, 0.01, 0)$, $t\in[0, 100]$.
    """

    name: ClassVar[str] = "seir"
    n_out: ClassVar[int] = 4
    component_names: ClassVar[tuple[str, ...]] = ("S", "E", "I", "R")
    t_domain: ClassVar[Window] = (0.0, 100.0)

    beta: float = 0.5
    sigma: float = 0.2
    gamma: float = 0.1
    y0: tuple[float, ...] = eqx.field(default=(0.99, 0.0, 0.01, 0.0), static=True, converter=tuple)

    def __check_init__(self):
        for f in ("beta", "sigma", "gamma"):
            check_positive("SEIR", f, getattr(self, f))
        if len(self.y0) != 4:
            raise ValueError(f"SEIR: y0 must have 4 entries, got {self.y0!r}")

    def _params(self):
        return (self.beta, self.sigma, self.gamma)

    @staticmethod
    def vector_field(u, beta, sigma, gamma):
        s, e, i, _ = u[0], u[1], u[2], u[3]
        return jnp.stack([-beta * s * i, beta * s * i - sigma * e, sigma * e - gamma * i, gamma * i])
