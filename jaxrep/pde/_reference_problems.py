r"""Problems whose reference is computed: viscous Burgers (Cole-Hopf quadrature) and the
pseudo-spectral ETDRK4 references (Allen-Cahn, nonlinear Schrodinger, Kuramoto-Sivashinsky,
Cahn-Hilliard, Fisher-KPP, 2-D Burgers).

The setups (domains, initial conditions, default parameters, time windows) are the constants the
reference solvers document in `_spectral.py` and `_cole_hopf.py`; the references are built lazily on
first use and cached (in memory here, on disk by the solvers).
"""

from __future__ import annotations

import functools
from typing import ClassVar, Optional

import jax
import jax.numpy as jnp

from ._cole_hopf import BURGERS_NU, BURGERS_T_DOMAIN, BURGERS_X_DOMAIN, ColeHopfBurgers
from ._derivatives import _value_jacobian_laplacian, dt, dx, dx_upto, value_and_dt
from ._problem import (
    AbstractProblem,
    Box,
    Dirichlet,
    Periodic,
    Window,
    box_field,
    check_positive,
    window_field,
    windows_field,
)
from . import _spectral
from ._spectral import (
    ALLEN_CAHN,
    BURGERS_2D,
    CAHN_HILLIARD,
    FISHER_KPP,
    KURAMOTO_SIVASHINSKY,
    SCHRODINGER,
)


@functools.lru_cache(maxsize=None)
def _spectral_ref(solver, **params):
    """The solver's `GridReference` for `params`, built once per process (the disk cache is below it)."""
    return solver(**params)


def _half(window) -> tuple[Window, Window, tuple[Window, ...]]:
    t0, t1 = window
    mid = 0.5 * (t0 + t1)
    return (t0, t1), (t0, mid), ((mid, t1),)


class _GridReferenced(AbstractProblem):
    r"""Shared `reference` for problems backed by a named spectral `GridReference`.

    At the reference's start time it returns the initial condition itself: the stored grid holds
    $u_0$ only through its trigonometric interpolant, which is inexact off the grid where $u_0$ is
    not smooth as a periodic function (Allen-Cahn's corner at $x = \pm1$, Fisher-KPP's and
    Schrodinger's small derivative jumps at the box edge).
    """

    def _grid_reference(self):
        raise NotImplementedError

    def reference(self, x, t):
        ref = self._grid_reference()
        dtype = jnp.result_type(x.dtype, jnp.asarray(t).dtype)
        at_start = jnp.asarray(t) == ref.ts[0].astype(jnp.asarray(t).dtype)
        return jnp.where(at_start, self.initial_condition(x), ref(x, t)).astype(dtype)

    def reference_grid(self, xs, ts):
        xs, ts = jnp.asarray(xs), jnp.asarray(ts)
        ref = self._grid_reference()
        out = ref.on_grid(xs, ts)
        at_start = ts == ref.ts[0].astype(ts.dtype)
        u0 = jax.vmap(self.initial_condition)(xs)
        out = jnp.where(at_start[:, None, None], u0[None].astype(out.dtype), out)
        return out.astype(jnp.result_type(xs.dtype, ts.dtype))


class Burgers(AbstractProblem):
    r"""Viscous Burgers $u_t + uu_x = \nu u_{xx}$ on $[-1, 1]$, $u(\pm1, t) = 0$, $u_0 = -\sin\pi x$.

    The Raissi et al. benchmark ($\nu = 0.01/\pi$): a shock forms near $x = 0$ at $t\approx 0.3$.
    Reference: the Cole-Hopf formula by Gauss-Hermite quadrature (`_cole_hopf.py`). Parabolic /
    nonlinear advection.

    **Arguments:** `nu` (viscosity $> 0$) and the time windows.
    """

    name: ClassVar[str] = "burgers"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (BURGERS_X_DOMAIN[0],)
    upper: ClassVar[tuple[float, ...]] = (BURGERS_X_DOMAIN[1],)
    boundary: ClassVar = Dirichlet()
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = False

    nu: float = BURGERS_NU
    time_window: Window = window_field(_half(BURGERS_T_DOMAIN)[0])
    train_window: Window = window_field(_half(BURGERS_T_DOMAIN)[1])
    extrapolation_windows: tuple[Window, ...] = windows_field(_half(BURGERS_T_DOMAIN)[2])
    train_box: Optional[Box] = box_field()

    def __check_init__(self):
        check_positive("Burgers", "nu", self.nu)

    def residual(self, u, x, t):
        v, v_x, v_xx = dx_upto(u, x, t, 0, 2)
        return dt(u, x, t) + v * v_x - self.nu * v_xx

    def initial_condition(self, x):
        return -jnp.sin(jnp.pi * x)

    def reference(self, x, t):
        return ColeHopfBurgers(nu=self.nu)(x, t)


class AllenCahn(_GridReferenced):
    r"""Allen-Cahn $u_t = d\,u_{xx} + a(u - u^3)$ on $[-1, 1]$ (periodic), $u_0 = x^2\cos\pi x$.

    Stiff reaction-diffusion with thin interfaces ($d = 10^{-4}$, $a = 5$). Reference:
    pseudo-spectral ETDRK4 (`allen_cahn_reference`).

    **Arguments:** `d` (diffusion $> 0$), `a` (reaction rate $> 0$) and the time windows.
    """

    name: ClassVar[str] = "allen_cahn"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (ALLEN_CAHN["x_domain"][0],)
    upper: ClassVar[tuple[float, ...]] = (ALLEN_CAHN["x_domain"][1],)
    boundary: ClassVar = Periodic(derivatives=1)
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = False

    d: float = ALLEN_CAHN["d"]
    a: float = ALLEN_CAHN["a"]
    time_window: Window = window_field(_half(ALLEN_CAHN["t_domain"])[0])
    train_window: Window = window_field(_half(ALLEN_CAHN["t_domain"])[1])
    extrapolation_windows: tuple[Window, ...] = windows_field(_half(ALLEN_CAHN["t_domain"])[2])
    train_box: Optional[Box] = box_field()

    def __check_init__(self):
        check_positive("AllenCahn", "d", self.d)
        check_positive("AllenCahn", "a", self.a)

    def residual(self, u, x, t):
        v, v_t = value_and_dt(u, x, t)
        return v_t - self.d * dx(u, x, t, 0, 2) - self.a * (v - v**3)

    def initial_condition(self, x):
        return x**2 * jnp.cos(jnp.pi * x)

    def _grid_reference(self):
        return _spectral_ref(_spectral.allen_cahn_reference, d=self.d, a=self.a)


class Schrodinger(_GridReferenced):
    r"""Nonlinear Schrodinger $i h_t + \tfrac12 h_{xx} + |h|^2h = 0$ on $[-5, 5]$ (periodic).

    $h_0 = 2\,\mathrm{sech}\,x$, $t\in[0, \pi/2]$; a complex field solved as $(u, v) = (\Re h, \Im h)$:
    $-v_t + \tfrac12u_{xx} + (u^2+v^2)u = 0$, $u_t + \tfrac12v_{xx} + (u^2+v^2)v = 0$. Dispersive.
    Reference: pseudo-spectral ETDRK4 (`schrodinger_reference`).
    """

    name: ClassVar[str] = "schrodinger"
    n_out: ClassVar[int] = 2
    lower: ClassVar[tuple[float, ...]] = (SCHRODINGER["x_domain"][0],)
    upper: ClassVar[tuple[float, ...]] = (SCHRODINGER["x_domain"][1],)
    boundary: ClassVar = Periodic(derivatives=1)
    component_names: ClassVar[tuple[str, ...]] = ("Re h", "Im h")
    has_exact: ClassVar[bool] = False

    time_window: Window = window_field(_half(SCHRODINGER["t_domain"])[0])
    train_window: Window = window_field(_half(SCHRODINGER["t_domain"])[1])
    extrapolation_windows: tuple[Window, ...] = windows_field(_half(SCHRODINGER["t_domain"])[2])
    train_box: Optional[Box] = box_field()

    def residual(self, u, x, t):
        w, w_t = value_and_dt(u, x, t)
        w_xx = dx(u, x, t, 0, 2)
        m = jnp.sum(w**2)
        return jnp.stack([-w_t[1] + 0.5 * w_xx[0] + m * w[0], w_t[0] + 0.5 * w_xx[1] + m * w[1]])

    def initial_condition(self, x):
        return jnp.concatenate([2.0 / jnp.cosh(x), jnp.zeros_like(x)])

    def _grid_reference(self):
        return _spectral_ref(_spectral.schrodinger_reference)


class KuramotoSivashinsky(_GridReferenced):
    r"""Kuramoto-Sivashinsky $u_t + \alpha uu_x + \beta u_{xx} + \gamma u_{xxxx} = 0$ on $[0, 2\pi]$.

    Periodic, $u_0 = \cos x(1+\sin x)$, $\alpha = 100/16$, $\beta = 100/16^2$, $\gamma = 100/16^4$
    (chaotic). Fourth order; periodicity is imposed on $u$ and its first three derivatives.
    Reference: ETDRK4 (`kuramoto_sivashinsky_reference`).
    """

    name: ClassVar[str] = "kuramoto_sivashinsky"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (KURAMOTO_SIVASHINSKY["x_domain"][0],)
    upper: ClassVar[tuple[float, ...]] = (KURAMOTO_SIVASHINSKY["x_domain"][1],)
    boundary: ClassVar = Periodic(derivatives=3)
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = False

    alpha: float = KURAMOTO_SIVASHINSKY["alpha"]
    beta: float = KURAMOTO_SIVASHINSKY["beta"]
    gamma: float = KURAMOTO_SIVASHINSKY["gamma"]
    time_window: Window = window_field(_half(KURAMOTO_SIVASHINSKY["t_domain"])[0])
    train_window: Window = window_field(_half(KURAMOTO_SIVASHINSKY["t_domain"])[1])
    extrapolation_windows: tuple[Window, ...] = windows_field(_half(KURAMOTO_SIVASHINSKY["t_domain"])[2])
    train_box: Optional[Box] = box_field()

    def __check_init__(self):
        for f in ("alpha", "beta", "gamma"):
            check_positive("KuramotoSivashinsky", f, getattr(self, f))

    def residual(self, u, x, t):
        v, v_x, v_xx, _, v_xxxx = dx_upto(u, x, t, 0, 4)
        return dt(u, x, t) + self.alpha * v * v_x + self.beta * v_xx + self.gamma * v_xxxx

    def initial_condition(self, x):
        return jnp.cos(x) * (1 + jnp.sin(x))

    def _grid_reference(self):
        return _spectral_ref(_spectral.kuramoto_sivashinsky_reference, alpha=self.alpha, beta=self.beta, gamma=self.gamma)


class CahnHilliard(_GridReferenced):
    r"""Cahn-Hilliard $u_t = \partial_{xx}\big(\gamma_2(u^3 - u) - \gamma_1u_{xx}\big)$ on $[-1, 1]$.

    Periodic, $u_0 = \cos\pi x - e^{-4\pi^2x^2}$, $\gamma_1 = 10^{-4}$, $\gamma_2 = 10^{-2}$. Fourth
    order (periodicity on $u$ and three derivatives). Reference: ETDRK4 (`cahn_hilliard_reference`).
    """

    name: ClassVar[str] = "cahn_hilliard"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (CAHN_HILLIARD["x_domain"][0],)
    upper: ClassVar[tuple[float, ...]] = (CAHN_HILLIARD["x_domain"][1],)
    boundary: ClassVar = Periodic(derivatives=3)
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = False

    gamma1: float = CAHN_HILLIARD["gamma1"]
    gamma2: float = CAHN_HILLIARD["gamma2"]
    time_window: Window = window_field(_half(CAHN_HILLIARD["t_domain"])[0])
    train_window: Window = window_field(_half(CAHN_HILLIARD["t_domain"])[1])
    extrapolation_windows: tuple[Window, ...] = windows_field(_half(CAHN_HILLIARD["t_domain"])[2])
    train_box: Optional[Box] = box_field()

    def __check_init__(self):
        check_positive("CahnHilliard", "gamma1", self.gamma1)
        check_positive("CahnHilliard", "gamma2", self.gamma2)

    def residual(self, u, x, t):
        def mu(y, s):
            v = u(y, s)
            return self.gamma2 * (v**3 - v) - self.gamma1 * dx(u, y, s, 0, 2)

        return dt(u, x, t) - dx(mu, x, t, 0, 2)

    def initial_condition(self, x):
        return jnp.cos(jnp.pi * x) - jnp.exp(-4 * (jnp.pi * x) ** 2)

    def _grid_reference(self):
        return _spectral_ref(_spectral.cahn_hilliard_reference, gamma1=self.gamma1, gamma2=self.gamma2)


class FisherKPP(_GridReferenced):
    r"""Fisher-KPP reaction-diffusion $u_t = Du_{xx} + ru(1-u)$ on $[0, 2\pi]$ (periodic).

    $u_0 = \exp(-(x-\pi)^2/(2(\pi/4)^2))$, $D = 0.1$, $r = 3$. Reference: ETDRK4
    (`fisher_kpp_reference`).
    """

    name: ClassVar[str] = "fisher_kpp"
    n_out: ClassVar[int] = 1
    lower: ClassVar[tuple[float, ...]] = (FISHER_KPP["x_domain"][0],)
    upper: ClassVar[tuple[float, ...]] = (FISHER_KPP["x_domain"][1],)
    boundary: ClassVar = Periodic(derivatives=1)
    component_names: ClassVar[tuple[str, ...]] = ("u",)
    has_exact: ClassVar[bool] = False

    D: float = FISHER_KPP["D"]
    r: float = FISHER_KPP["r"]
    time_window: Window = window_field(_half(FISHER_KPP["t_domain"])[0])
    train_window: Window = window_field(_half(FISHER_KPP["t_domain"])[1])
    extrapolation_windows: tuple[Window, ...] = windows_field(_half(FISHER_KPP["t_domain"])[2])
    train_box: Optional[Box] = box_field()

    def __check_init__(self):
        check_positive("FisherKPP", "D", self.D)
        check_positive("FisherKPP", "r", self.r)

    def residual(self, u, x, t):
        v, v_t = value_and_dt(u, x, t)
        return v_t - self.D * dx(u, x, t, 0, 2) - self.r * v * (1 - v)

    def initial_condition(self, x):
        return jnp.exp(-((x - jnp.pi) ** 2) / (2 * (jnp.pi / 4) ** 2))

    def _grid_reference(self):
        return _spectral_ref(_spectral.fisher_kpp_reference, D=self.D, r=self.r)


class Burgers2D(_GridReferenced):
    r"""2-D viscous Burgers $\mathbf u_t + (\mathbf u\cdot\nabla)\mathbf u = \nu\Delta\mathbf u$ on
    $[0, 2\pi]^2$ (periodic), $\mathbf u_0 = (\sin x\cos y, -\cos x\sin y)$, $\nu = 0.05$.

    Reference: pseudo-spectral ETDRK4 (`burgers2d_reference`).
    """

    name: ClassVar[str] = "burgers2d"
    n_out: ClassVar[int] = 2
    lower: ClassVar[tuple[float, ...]] = (BURGERS_2D["x_domain"][0],) * 2
    upper: ClassVar[tuple[float, ...]] = (BURGERS_2D["x_domain"][1],) * 2
    boundary: ClassVar = Periodic(derivatives=1)
    component_names: ClassVar[tuple[str, ...]] = ("u", "v")
    has_exact: ClassVar[bool] = False

    nu: float = BURGERS_2D["nu"]
    time_window: Window = window_field(_half(BURGERS_2D["t_domain"])[0])
    train_window: Window = window_field(_half(BURGERS_2D["t_domain"])[1])
    extrapolation_windows: tuple[Window, ...] = windows_field(_half(BURGERS_2D["t_domain"])[2])
    train_box: Optional[Box] = box_field()

    def __check_init__(self):
        check_positive("Burgers2D", "nu", self.nu)

    def residual(self, u, x, t):
        w, jac, lap = _value_jacobian_laplacian(u, x, t)
        return dt(u, x, t) + jac @ w - self.nu * lap

    def initial_condition(self, x):
        return jnp.stack([jnp.sin(x[0]) * jnp.cos(x[1]), -jnp.cos(x[0]) * jnp.sin(x[1])])

    def _grid_reference(self):
        return _spectral_ref(_spectral.burgers2d_reference, nu=self.nu)
