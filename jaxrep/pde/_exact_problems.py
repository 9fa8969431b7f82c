r"""Problems with closed-form solutions: heat, advection, wave (1-D and 2-D), KdV soliton, Taylor-Green.

Each reference is the exact solution, so these problems also verify the residuals (the residual of
the exact solution vanishes to rounding) and the pseudo-spectral reference machinery.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from ._derivatives import _value_jacobian_laplacian, dt, dx, dx_upto, laplacian
from ._problem import (
    AbstractProblem,
    Dirichlet,
    Periodic,
    Window,
    check_positive,
)

_PI = jnp.pi


class Heat(AbstractProblem):
    r"""1-D heat equation $u_t = \kappa u_{xx}$ on $[0, 1]$, $u = 0$ at both ends.

    $u_0(x) = \sin(\pi x) + \tfrac12\sin(2\pi x)$, exact solution
    $u = e^{-\kappa\pi^2 t}\sin(\pi x) + \tfrac12 e^{-4\kappa\pi^2 t}\sin(2\pi x)$. Parabolic.

    **Arguments:** `kappa` (diffusivity $> 0$, default `0.1`) and the time windows.
    """

    name: ClassVar[str] = "heat"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (0.0,)
    upper: ClassVar[tuple[float, ...]] = (1.0,)
    boundary: ClassVar = Dirichlet()
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = True
    t_domain: ClassVar[Window] = (0.0, 1.0)

    kappa: float = 0.1

    def __check_init__(self):
        check_positive("Heat", "kappa", self.kappa)

    def residual(self, u, x, t):
        return dt(u, x, t) - self.kappa * dx(u, x, t, 0, 2)

    def initial_condition(self, x):
        return self.reference(x, jnp.asarray(self.t0, x.dtype))

    def reference(self, x, t):
        k = self.kappa * _PI**2
        v = jnp.exp(-k * t) * jnp.sin(_PI * x[0]) + 0.5 * jnp.exp(-4 * k * t) * jnp.sin(2 * _PI * x[0])
        return v[None]


class Advection(AbstractProblem):
    r"""Linear advection $u_t + c\,u_x = 0$ on $[0, 2\pi]$, periodic; $u = \sin(x - ct)$. Hyperbolic.

    **Arguments:** `c` (speed $> 0$, default `1.0`) and the time windows.
    """

    name: ClassVar[str] = "advection"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (0.0,)
    upper: ClassVar[tuple[float, ...]] = (2 * 3.141592653589793,)
    boundary: ClassVar = Periodic(derivatives=1)
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = True
    t_domain: ClassVar[Window] = (0.0, 2.0)

    c: float = 1.0

    def __check_init__(self):
        check_positive("Advection", "c", self.c)

    def residual(self, u, x, t):
        return dt(u, x, t) + self.c * dx(u, x, t, 0, 1)

    def initial_condition(self, x):
        return jnp.sin(x)

    def reference(self, x, t):
        return jnp.sin(x - self.c * t)


class Wave(AbstractProblem):
    r"""1-D wave equation $u_{tt} = c^2 u_{xx}$ on $[0, 1]$, $u = 0$ at both ends, $u_t(x, 0) = 0$.

    $u_0 = \sin(\pi x) + \tfrac12\sin(3\pi x)$; d'Alembert's solution
    $u = \tfrac12[f(x - ct) + f(x + ct)]$ with $f$ the odd periodic extension of $u_0$, i.e.
    $u = \sin(\pi x)\cos(\pi c t) + \tfrac12\sin(3\pi x)\cos(3\pi c t)$. Hyperbolic.

    **Arguments:** `c` (speed $> 0$, default `1.0`) and the time windows.
    """

    name: ClassVar[str] = "wave"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (0.0,)
    upper: ClassVar[tuple[float, ...]] = (1.0,)
    boundary: ClassVar = Dirichlet()
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = True
    t_domain: ClassVar[Window] = (0.0, 1.0)

    c: float = 1.0

    def __check_init__(self):
        check_positive("Wave", "c", self.c)

    def residual(self, u, x, t):
        return dt(u, x, t, 2) - self.c**2 * dx(u, x, t, 0, 2)

    def initial_condition(self, x):
        return self.reference(x, jnp.asarray(self.t0, x.dtype))

    time_order: ClassVar[int] = 2  # u(x, t0) = u0 and u_t(x, t0) = 0

    def initial_residual(self, u, x):
        t0 = jnp.asarray(self.t0, x.dtype)
        return jnp.concatenate([u(x, t0) - self.initial_condition(x), dt(u, x, t0)])

    def reference(self, x, t):
        f = lambda y: jnp.sin(_PI * y) + 0.5 * jnp.sin(3 * _PI * y)  # odd and 2-periodic
        return (0.5 * (f(x - self.c * t) + f(x + self.c * t)))


class KdV(AbstractProblem):
    r"""Korteweg-de Vries $u_t + 6uu_x + u_{xxx} = 0$ on $[-10, 10]$ with a travelling soliton.

    Exact solution $u = \tfrac{c}{2}\,\mathrm{sech}^2\!\big(\tfrac{\sqrt c}{2}(x - ct - x_0)\big)$;
    Dirichlet data from it (it is $<10^{-3}$ at the ends). Dispersive, third order.

    **Arguments:** `c` (speed $> 0$, default `1.0`), `x0` (initial centre, default `-3.0`), windows.
    """

    name: ClassVar[str] = "kdv"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (-10.0,)
    upper: ClassVar[tuple[float, ...]] = (10.0,)
    boundary: ClassVar = Dirichlet()
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = True
    t_domain: ClassVar[Window] = (0.0, 4.0)

    c: float = 1.0
    x0: float = -3.0

    def __check_init__(self):
        check_positive("KdV", "c", self.c)

    def residual(self, u, x, t):
        v, v_x, _, v_xxx = dx_upto(u, x, t, 0, 3)
        return dt(u, x, t) + 6 * v * v_x + v_xxx

    def initial_condition(self, x):
        return self.reference(x, jnp.asarray(self.t0, x.dtype))

    def boundary_value(self, x, t):
        return self.reference(x, t)

    def reference(self, x, t):
        xi = 0.5 * jnp.sqrt(self.c) * (x - self.c * t - self.x0)
        return 0.5 * self.c / jnp.cosh(xi) ** 2


class NavierStokes2D(AbstractProblem):
    r"""2-D incompressible Navier-Stokes, Taylor-Green vortex on $[0, 2\pi]^2$ (periodic).

    $\mathbf u_t + (\mathbf u\cdot\nabla)\mathbf u = -\nabla p + \nu\Delta\mathbf u$,
    $\nabla\cdot\mathbf u = 0$, outputs $(u, v, p)$. Exact solution
    $u = -\cos x\sin y\,F$, $v = \sin x\cos y\,F$, $p = -\tfrac14(\cos 2x + \cos 2y)F^2$,
    $F = e^{-2\nu t}$. The error is measured on the velocity (pressure is fixed only up to a constant).

    **Arguments:** `nu` (viscosity $> 0$, default `0.1`) and the time windows.

    **References:** Taylor & Green, Proc. R. Soc. Lond. A 158 (1937).
    """

    name: ClassVar[str] = "navier_stokes_2d"
    n_out: ClassVar[int] = 3
    lower: ClassVar[tuple[float, ...]] = (0.0, 0.0)
    upper: ClassVar[tuple[float, ...]] = (2 * 3.141592653589793, 2 * 3.141592653589793)
    boundary: ClassVar = Periodic(derivatives=1)
    component_names: ClassVar[tuple[str, ...]] = ("u", "v", "p")
    has_exact: ClassVar[bool] = True
    t_domain: ClassVar[Window] = (0.0, 2.0)
    error_components: ClassVar[tuple[int, ...]] = (0, 1)

    nu: float = 0.1

    def __check_init__(self):
        check_positive("NavierStokes2D", "nu", self.nu)

    def residual(self, u, x, t):
        w, jac, lap = _value_jacobian_laplacian(u, x, t)  # (3,), (3, 2), (3,)
        w_t = dt(u, x, t)
        vel = w[:2]
        adv = jac[:2] @ vel
        momentum = w_t[:2] + adv + jac[2] - self.nu * lap[:2]
        continuity = jac[0, 0] + jac[1, 1]
        return jnp.concatenate([momentum, continuity[None]])

    def initial_condition(self, x):
        return self.reference(x, jnp.asarray(self.t0, x.dtype))

    def reference(self, x, t):
        f = jnp.exp(-2 * self.nu * t)
        u = -jnp.cos(x[0]) * jnp.sin(x[1]) * f
        v = jnp.sin(x[0]) * jnp.cos(x[1]) * f
        p = -0.25 * (jnp.cos(2 * x[0]) + jnp.cos(2 * x[1])) * f**2
        return jnp.stack([u, v, p])


class Heat2D(AbstractProblem):
    r"""2-D heat equation $u_t = \kappa\Delta u$ on $[0, 1]^2$, $u = 0$ on the boundary.

    Exact solution $u = e^{-2\kappa\pi^2 t}\sin(\pi x)\sin(\pi y)$. Parabolic.

    **Arguments:** `kappa` (diffusivity $> 0$, default `0.05`) and the time windows.
    """

    name: ClassVar[str] = "heat2d"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (0.0, 0.0)
    upper: ClassVar[tuple[float, ...]] = (1.0, 1.0)
    boundary: ClassVar = Dirichlet()
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = True
    t_domain: ClassVar[Window] = (0.0, 1.0)

    kappa: float = 0.05

    def __check_init__(self):
        check_positive("Heat2D", "kappa", self.kappa)

    def residual(self, u, x, t):
        return dt(u, x, t) - self.kappa * laplacian(u, x, t)

    def initial_condition(self, x):
        return self.reference(x, jnp.asarray(self.t0, x.dtype))

    def reference(self, x, t):
        return (jnp.exp(-2 * self.kappa * _PI**2 * t) * jnp.sin(_PI * x[0]) * jnp.sin(_PI * x[1]))[None]


class Wave2D(AbstractProblem):
    r"""2-D wave equation $u_{tt} = c^2\Delta u$ on $[0, 1]^2$, $u = 0$ on the boundary, $u_t(\cdot, 0)=0$.

    Exact standing mode $u = \cos(\sqrt2\pi c t)\sin(\pi x)\sin(\pi y)$. Hyperbolic.

    **Arguments:** `c` (speed $> 0$, default `1.0`) and the time windows.
    """

    name: ClassVar[str] = "wave2d"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (0.0, 0.0)
    upper: ClassVar[tuple[float, ...]] = (1.0, 1.0)
    boundary: ClassVar = Dirichlet()
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = True
    t_domain: ClassVar[Window] = (0.0, 1.0)

    c: float = 1.0

    def __check_init__(self):
        check_positive("Wave2D", "c", self.c)

    def residual(self, u, x, t):
        return dt(u, x, t, 2) - self.c**2 * laplacian(u, x, t)

    def initial_condition(self, x):
        return self.reference(x, jnp.asarray(self.t0, x.dtype))

    time_order: ClassVar[int] = 2  # u(x, t0) = u0 and u_t(x, t0) = 0

    def initial_residual(self, u, x):
        t0 = jnp.asarray(self.t0, x.dtype)
        return jnp.concatenate([u(x, t0) - self.initial_condition(x), dt(u, x, t0)])

    def reference(self, x, t):
        w = jnp.sqrt(2.0) * _PI * self.c
        return (jnp.cos(w * t) * jnp.sin(_PI * x[0]) * jnp.sin(_PI * x[1]))[None]
