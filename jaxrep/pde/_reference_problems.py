r"""Problems whose reference is computed: viscous Burgers (Cole-Hopf quadrature) and the
pseudo-spectral ETDRK4 references (Allen-Cahn, nonlinear Schrodinger, Kuramoto-Sivashinsky,
Cahn-Hilliard, Fisher-KPP, 2-D Burgers).

The pseudo-spectral problems read their setup (box, components, initial condition, default
parameters, time windows) from its record in `_named_spectral.SPECTRAL_SETUPS`, the one the
reference solver uses, and add the residual a solver trains on; Burgers reads the constants of
`_cole_hopf.py`. References are built lazily on first use and cached (in memory here, on disk by the
solvers).
"""

from __future__ import annotations

import functools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from ._cole_hopf import BURGERS_NU, BURGERS_T_DOMAIN, BURGERS_X_DOMAIN, ColeHopfBurgers
from ._derivatives import _value_jacobian_laplacian, dt, dx, dx_upto, value_and_dt
from ._named_spectral import SPECTRAL_SETUPS, SpectralSetup, named_spectral_reference
from ._problem import (
    AbstractProblem,
    Dirichlet,
    Periodic,
    Window,
    check_positive,
)


@functools.lru_cache(maxsize=None)
def _spectral_ref(name, **params):
    """The named setup's `GridReference` for `params`, built once per process (the disk cache is below it)."""
    return named_spectral_reference(name, **params)


class _FromSetup:
    """A class attribute read from the class's `setup` record (on the class and on instances)."""

    def __init__(self, attr: str):
        self.attr = attr

    def __get__(self, obj, cls=None):
        return getattr((cls if cls is not None else type(obj)).setup, self.attr)


class _GridReferenced(AbstractProblem):
    r"""A problem of the pseudo-spectral suite: everything but the residual comes from its `setup`.

    A subclass sets `setup` (a [`SpectralSetup`][jaxrep.pde.SpectralSetup] record) and its `boundary`,
    declares one field per physical parameter of the record (default: the record's value), and writes
    `residual`. Its `name`, `n_out`, box, `component_names` and `t_domain` are the record's; the physical parameters are checked to be > 0; the initial
    condition is the record's, and the reference is the record's ETDRK4 solve for the problem's
    parameters.

    At the reference's start time `reference` returns the initial condition itself: the stored grid
    holds $u_0$ only through its trigonometric interpolant, which is inexact off the grid where $u_0$
    is not smooth as a periodic function (Allen-Cahn's corner at $x = \pm1$, Fisher-KPP's and
    Schrodinger's small derivative jumps at the box edge).
    """

    setup: eqx.AbstractClassVar[SpectralSetup]
    name: ClassVar[str] = _FromSetup("name")
    n_out: ClassVar[int] = _FromSetup("n_out")
    lower: ClassVar[tuple[float, ...]] = _FromSetup("lower")
    upper: ClassVar[tuple[float, ...]] = _FromSetup("upper")
    component_names: ClassVar[tuple[str, ...]] = _FromSetup("component_names")
    t_domain: ClassVar[Window] = _FromSetup("t_domain")
    has_exact: ClassVar[bool] = False

    def __check_init__(self):
        for key in self.setup.params:
            check_positive(type(self).__name__, key, getattr(self, key))

    def initial_condition(self, x):
        return self.setup.initial_condition(x)

    def _grid_reference(self):
        return _spectral_ref(self.setup.name, **{k: getattr(self, k) for k in self.setup.params})

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
    t_domain: ClassVar[Window] = BURGERS_T_DOMAIN

    nu: float = BURGERS_NU

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

    setup: ClassVar[SpectralSetup] = SPECTRAL_SETUPS["allen_cahn"]
    boundary: ClassVar = Periodic(derivatives=1)

    d: float = setup.params["d"]
    a: float = setup.params["a"]

    def residual(self, u, x, t):
        v, v_t = value_and_dt(u, x, t)
        return v_t - self.d * dx(u, x, t, 0, 2) - self.a * (v - v**3)


class Schrodinger(_GridReferenced):
    r"""Nonlinear Schrodinger $i h_t + \tfrac12 h_{xx} + |h|^2h = 0$ on $[-5, 5]$ (periodic).

    $h_0 = 2\,\mathrm{sech}\,x$, $t\in[0, \pi/2]$; a complex field solved as $(u, v) = (\Re h, \Im h)$:
    $-v_t + \tfrac12u_{xx} + (u^2+v^2)u = 0$, $u_t + \tfrac12v_{xx} + (u^2+v^2)v = 0$. Dispersive.
    Reference: pseudo-spectral ETDRK4 (`schrodinger_reference`).
    """

    setup: ClassVar[SpectralSetup] = SPECTRAL_SETUPS["schrodinger"]
    boundary: ClassVar = Periodic(derivatives=1)


    def residual(self, u, x, t):
        w, w_t = value_and_dt(u, x, t)
        w_xx = dx(u, x, t, 0, 2)
        m = jnp.sum(w**2)
        return jnp.stack([-w_t[1] + 0.5 * w_xx[0] + m * w[0], w_t[0] + 0.5 * w_xx[1] + m * w[1]])


class KuramotoSivashinsky(_GridReferenced):
    r"""Kuramoto-Sivashinsky $u_t + \alpha uu_x + \beta u_{xx} + \gamma u_{xxxx} = 0$ on $[0, 2\pi]$.

    Periodic, $u_0 = \cos x(1+\sin x)$, $\alpha = 100/16$, $\beta = 100/16^2$, $\gamma = 100/16^4$
    (chaotic). Fourth order; periodicity is imposed on $u$ and its first three derivatives.
    Reference: ETDRK4 (`kuramoto_sivashinsky_reference`).
    """

    setup: ClassVar[SpectralSetup] = SPECTRAL_SETUPS["kuramoto_sivashinsky"]
    boundary: ClassVar = Periodic(derivatives=3)

    alpha: float = setup.params["alpha"]
    beta: float = setup.params["beta"]
    gamma: float = setup.params["gamma"]

    def residual(self, u, x, t):
        v, v_x, v_xx, _, v_xxxx = dx_upto(u, x, t, 0, 4)
        return dt(u, x, t) + self.alpha * v * v_x + self.beta * v_xx + self.gamma * v_xxxx


class CahnHilliard(_GridReferenced):
    r"""Cahn-Hilliard $u_t = \partial_{xx}\big(\gamma_2(u^3 - u) - \gamma_1u_{xx}\big)$ on $[-1, 1]$.

    Periodic, $u_0 = \cos\pi x - e^{-4\pi^2x^2}$, $\gamma_1 = 10^{-3}$, $\gamma_2 = 0.1$. Fourth
    order (periodicity on $u$ and three derivatives). Reference: ETDRK4 (`cahn_hilliard_reference`).
    """

    setup: ClassVar[SpectralSetup] = SPECTRAL_SETUPS["cahn_hilliard"]
    boundary: ClassVar = Periodic(derivatives=3)

    gamma1: float = setup.params["gamma1"]
    gamma2: float = setup.params["gamma2"]

    def residual(self, u, x, t):
        def mu(y, s):
            v = u(y, s)
            return self.gamma2 * (v**3 - v) - self.gamma1 * dx(u, y, s, 0, 2)

        return dt(u, x, t) - dx(mu, x, t, 0, 2)


class FisherKPP(_GridReferenced):
    r"""Fisher-KPP reaction-diffusion $u_t = Du_{xx} + ru(1-u)$ on $[0, 2\pi]$ (periodic).

    $u_0 = \exp(-(x-\pi)^2/(2(\pi/4)^2))$, $D = 0.1$, $r = 3$. Reference: ETDRK4
    (`fisher_kpp_reference`).
    """

    setup: ClassVar[SpectralSetup] = SPECTRAL_SETUPS["fisher_kpp"]
    boundary: ClassVar = Periodic(derivatives=1)

    D: float = setup.params["D"]
    r: float = setup.params["r"]

    def residual(self, u, x, t):
        v, v_t = value_and_dt(u, x, t)
        return v_t - self.D * dx(u, x, t, 0, 2) - self.r * v * (1 - v)


class Burgers2D(_GridReferenced):
    r"""2-D viscous Burgers $\mathbf u_t + (\mathbf u\cdot\nabla)\mathbf u = \nu\Delta\mathbf u$ on
    $[0, 2\pi]^2$ (periodic), $\mathbf u_0 = (\sin x\cos y, -\cos x\sin y)$, $\nu = 0.1$.

    Reference: pseudo-spectral ETDRK4 (`burgers2d_reference`).
    """

    setup: ClassVar[SpectralSetup] = SPECTRAL_SETUPS["burgers2d"]
    boundary: ClassVar = Periodic(derivatives=1)

    nu: float = setup.params["nu"]

    def residual(self, u, x, t):
        w, jac, lap = _value_jacobian_laplacian(u, x, t)
        return dt(u, x, t) + jac @ w - self.nu * lap
