r"""The named pseudo-spectral benchmarks as data: one record per setup, one solver for all.

Each record ([`SpectralSetup`][]) says what defines a periodic benchmark
$u_t = \mathcal L u + \mathcal N(u)$: the Fourier symbol of $\mathcal L$, the nonlinearity, the
initial condition, the box and time domain, the default physical parameters, and the resolution
and scheme (de-aliasing rule, Galerkin projection) at which its reference meets the accuracy
stated in its solver's docstring. [`named_spectral_reference`][] solves any record through
[`spectral_solve`][] and caches the result on disk; the named functions (`allen_cahn_reference`,
...) are that call with each setup's parameters spelled out. The problem classes of
[`jaxrep.pde.problems`][] read their box, components, initial condition and default parameters
from the same record, so a setup is written once.

A new periodic benchmark is one more record in `SPECTRAL_SETUPS` (and, for the problem suite, a
class that adds the residual); see ARCHITECTURE.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Callable, Optional, Union

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._validate import check_positive
from ._reference import GridReference, cached_arrays
from ._spectral import SpectralGrid, spectral_solve

__all__ = [
    "SPECTRAL_SETUPS",
    "SpectralSetup",
    "allen_cahn_reference",
    "burgers2d_reference",
    "cahn_hilliard_reference",
    "fisher_kpp_reference",
    "kuramoto_sivashinsky_reference",
    "named_spectral_reference",
    "schrodinger_reference",
]

Params = Mapping[str, float]


@dataclasses.dataclass(frozen=True)
class SpectralSetup:
    r"""A periodic benchmark $u_t = \mathcal L u + \mathcal N(u)$ with its initial condition and box.

    **Fields:**

    - `name`: the setup's name (the problem-suite name and the cache-file prefix).
    - `linear`: `(params, grid) -> L`, the Fourier symbol of $\mathcal L$ (see [`spectral_solve`][]).
    - `nonlinear`: `(params, u_hat, grid) -> N_hat`, the nonlinear term in Fourier space.
    - `initial_condition`: `x (d,) -> (n_out,)`, real; a complex field $h$ is given as
      $[\operatorname{Re} h, \operatorname{Im} h]$ (the layout of the solve's output).
    - `x_domain`: `(a, b)`, the periodic interval of every spatial dimension.
    - `t_domain`: `(t0, t1)`, the time window of the reference.
    - `params`: the default physical parameters (each must be a finite number > 0).
    - `component_names`: one name per output component.
    - `dim`: spatial dimensions (the box is `x_domain` in each).
    - `is_complex`: the field is complex.
    - `n`, `n_t`, `dt`: the default grid points per dimension, snapshots and largest time step.
    - `n_store`: the default stored grid (`None`: the solve's grid, and not a parameter).
    - `dealias`, `galerkin`, `oversample`: the scheme, as in [`spectral_solve`][].
    - `scheme`: a label of the scheme, part of the cache key (`None`: none).
    """

    name: str
    linear: Callable[[Params, SpectralGrid], ArrayLike]
    nonlinear: Callable[[Params, Array, SpectralGrid], Array]
    initial_condition: Callable[[Array], Array]
    x_domain: tuple[float, float]
    t_domain: tuple[float, float]
    params: Params
    component_names: tuple[str, ...] = ("u",)
    dim: int = 1
    is_complex: bool = False
    n: int = 256
    n_t: int = 201
    dt: float = 1e-3
    n_store: Optional[int] = None
    dealias: Union[bool, float] = True
    galerkin: bool = False
    oversample: int = 1
    scheme: Optional[str] = None

    def __post_init__(self):
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    # --- the box a problem uses ----------------------------------------------------------------------

    @property
    def n_out(self) -> int:
        """Number of real output components."""
        return len(self.component_names)

    @property
    def lower(self) -> tuple[float, ...]:
        return (self.x_domain[0],) * self.dim

    @property
    def upper(self) -> tuple[float, ...]:
        return (self.x_domain[1],) * self.dim

    # --- the solve ----------------------------------------------------------------------------------

    def _u0(self, x: Array) -> Array:
        u = self.initial_condition(x)
        if not self.is_complex:
            return u
        c = u.shape[0] // 2
        return u[:c] + 1j * u[c:]

    def solve(self, params: Params, *, n: int, n_t: int, dt: float,
              n_store: Optional[int] = None) -> dict[str, np.ndarray]:
        """Solve this setup for `params` (all of them) by ETDRK4; [`spectral_solve`][]'s arrays."""
        x0, x1 = self.x_domain
        t0, t1 = self.t_domain
        store = None if n_store is None else [min(n_store, n)] * self.dim
        return spectral_solve(
            lambda g: self.linear(params, g), lambda uh, g: self.nonlinear(params, uh, g), self._u0,
            lower=[x0] * self.dim, upper=[x1] * self.dim, shape=[n] * self.dim, t0=t0, t1=t1,
            n_t=n_t, dt=dt, is_complex=self.is_complex, dealias=self.dealias,
            galerkin=self.galerkin, oversample=self.oversample, store_shape=store)


def _k(g: SpectralGrid) -> Array:
    return g.wavenumbers()[0]


def _burgers2d_nonlinear(p: Params, uh: Array, g: SpectralGrid) -> Array:
    u = g.to_physical(uh)
    ux = g.to_physical(g.derivative(uh, (1, 0)))
    uy = g.to_physical(g.derivative(uh, (0, 1)))
    return -g.to_spectral(u[0:1] * ux + u[1:2] * uy)


def _schrodinger_nonlinear(p: Params, uh: Array, g: SpectralGrid) -> Array:
    h = g.to_physical(uh)
    return 1j * g.to_spectral(jnp.abs(h) ** 2 * h)


SPECTRAL_SETUPS: Mapping[str, SpectralSetup] = MappingProxyType({s.name: s for s in (
    # Allen-Cahn u_t = d u_xx + a (u - u^3) (Raissi et al. / jaxpi): L = a + d d_xx, N = -a u^3.
    SpectralSetup(
        "allen_cahn",
        linear=lambda p, g: p["a"] - p["d"] * _k(g) ** 2,
        nonlinear=lambda p, uh, g: -p["a"] * g.to_spectral(g.to_physical(uh) ** 3),
        initial_condition=lambda x: x**2 * jnp.cos(jnp.pi * x),
        x_domain=(-1.0, 1.0), t_domain=(0.0, 1.0), params={"d": 1e-4, "a": 5.0},
        n=8192, n_store=2048, n_t=201, dt=2.5e-4,
        dealias=0.5, galerkin=True, oversample=16, scheme="galerkin-1/2-proj16"),
    # Nonlinear Schrodinger i h_t + h_xx / 2 + |h|^2 h = 0: L = (i/2) d_xx, N = i |h|^2 h.
    SpectralSetup(
        "schrodinger",
        linear=lambda p, g: -0.5j * _k(g) ** 2,
        nonlinear=_schrodinger_nonlinear,
        initial_condition=lambda x: jnp.concatenate([2.0 / jnp.cosh(x), jnp.zeros_like(x)]),
        x_domain=(-5.0, 5.0), t_domain=(0.0, 0.5 * math.pi), params={},
        component_names=("Re h", "Im h"), is_complex=True,
        n=4096, n_store=2048, n_t=201, dt=1.25e-4,
        dealias=0.5, galerkin=True, oversample=16, scheme="galerkin-1/2-proj16"),
    # Kuramoto-Sivashinsky u_t + alpha u u_x + beta u_xx + gamma u_xxxx = 0 (jaxpi's chaotic case).
    SpectralSetup(
        "kuramoto_sivashinsky",
        linear=lambda p, g: p["beta"] * _k(g) ** 2 - p["gamma"] * _k(g) ** 4,
        nonlinear=lambda p, uh, g: -0.5 * p["alpha"] * g.derivative(
            g.to_spectral(g.to_physical(uh) ** 2), (1,)),
        initial_condition=lambda x: jnp.cos(x) * (1 + jnp.sin(x)),
        x_domain=(0.0, 2 * math.pi), t_domain=(0.0, 1.0),
        params={"alpha": 100.0 / 16, "beta": 100.0 / 16**2, "gamma": 100.0 / 16**4},
        n=512, n_t=251, dt=5e-5, scheme="2/3"),
    # Cahn-Hilliard u_t = (gamma2 (u^3 - u) - gamma1 u_xx)_xx (Mattey & Ghosh's initial condition).
    SpectralSetup(
        "cahn_hilliard",
        linear=lambda p, g: p["gamma2"] * _k(g) ** 2 - p["gamma1"] * _k(g) ** 4,
        nonlinear=lambda p, uh, g: -p["gamma2"] * _k(g) ** 2 * g.to_spectral(g.to_physical(uh) ** 3),
        initial_condition=lambda x: jnp.cos(jnp.pi * x) - jnp.exp(-4 * (jnp.pi * x) ** 2),
        x_domain=(-1.0, 1.0), t_domain=(0.0, 1.0), params={"gamma1": 1e-3, "gamma2": 0.1},
        n=256, n_t=201, dt=1e-3),
    # Fisher-KPP u_t = D u_xx + r u (1 - u) (Krishnapriyan et al.): L = r + D d_xx, N = -r u^2.
    SpectralSetup(
        "fisher_kpp",
        linear=lambda p, g: p["r"] - p["D"] * _k(g) ** 2,
        nonlinear=lambda p, uh, g: -p["r"] * g.to_spectral(g.to_physical(uh) ** 2),
        initial_condition=lambda x: jnp.exp(-((x - jnp.pi) ** 2) / (2 * (jnp.pi / 4) ** 2)),
        x_domain=(0.0, 2 * math.pi), t_domain=(0.0, 1.0), params={"D": 0.1, "r": 3.0},
        n=256, n_t=201, dt=1e-3, galerkin=True, oversample=16, scheme="galerkin-2/3-proj16"),
    # 2-D viscous Burgers u_t + (u . grad) u = nu lap u from a Taylor-Green cell.
    SpectralSetup(
        "burgers2d",
        linear=lambda p, g: p["nu"] * g.laplacian_symbol(),
        nonlinear=_burgers2d_nonlinear,
        initial_condition=lambda x: jnp.stack(
            [jnp.sin(x[0]) * jnp.cos(x[1]), -jnp.cos(x[0]) * jnp.sin(x[1])]),
        x_domain=(0.0, 2 * math.pi), t_domain=(0.0, 1.0), params={"nu": 0.1},
        component_names=("u", "v"), dim=2, n=96, n_t=101, dt=1e-3, scheme="2/3"),
)})
"""The named setups by name (read-only): `allen_cahn`, `schrodinger`, `kuramoto_sivashinsky`,
`cahn_hilliard`, `fisher_kpp`, `burgers2d`. Each one's equation, source and reference accuracy are in
the docstring of its named solver (`allen_cahn_reference`, ...)."""


def named_spectral_reference(
    name: str,
    *,
    n: Optional[int] = None,
    n_store: Optional[int] = None,
    n_t: Optional[int] = None,
    dt: Optional[float] = None,
    cache: bool = True,
    **params: float,
) -> GridReference:
    r"""The reference of a named setup of `SPECTRAL_SETUPS`, solved once and cached on disk.

    **Arguments:**

    - `name`: a key of `SPECTRAL_SETUPS`.
    - `n`, `n_store`, `n_t`, `dt`: resolution (`None`: the setup's default; `n_store` only for
      setups that store a coarser grid than they solve on).
    - `cache`: use the disk cache (a `.npz` file per name and parameters, written atomically).
    - `**params`: physical parameters (the setup's `params` keys, each > 0; missing ones take
      their defaults).

    **Returns:** a [`GridReference`][] with `n_out` = the setup's number of components.
    """
    setup = SPECTRAL_SETUPS.get(name)
    if setup is None:
        hint = difflib.get_close_matches(str(name), list(SPECTRAL_SETUPS), n=1)
        raise ValueError(f"unknown spectral setup {name!r}"
                         + (f"; did you mean {hint[0]!r}?" if hint else "")
                         + f" (known: {', '.join(SPECTRAL_SETUPS)})")
    unknown = sorted(set(params) - set(setup.params))
    if unknown:
        raise TypeError(f"{name}: unknown parameter(s) {unknown}; it takes {sorted(setup.params)}")
    if n_store is not None and setup.n_store is None:
        raise TypeError(f"{name}: n_store is not a parameter of this setup (it stores its grid)")
    values = {}
    for key, default in setup.params.items():
        value = params.get(key, default)
        check_positive(value, key)
        values[key] = float(value)
    n = setup.n if n is None else n
    n_t = setup.n_t if n_t is None else n_t
    dt = setup.dt if dt is None else dt
    key = dict(values, n=n, n_t=n_t, dt=dt)
    if setup.n_store is not None:
        n_store = setup.n_store if n_store is None else n_store
        key["n_store"] = n_store
    if setup.scheme is not None:
        key["scheme"] = setup.scheme
    return GridReference.from_arrays(cached_arrays(
        name, key, lambda: setup.solve(values, n=n, n_t=n_t, dt=dt, n_store=n_store), cache=cache))


# ----------------------------------------------------------------------------------------------
# The named solvers: each setup's call with its parameters spelled out and its accuracy stated
# ----------------------------------------------------------------------------------------------

_AC, _NLS, _KS, _CH, _FK, _B2 = (SPECTRAL_SETUPS[k] for k in (
    "allen_cahn", "schrodinger", "kuramoto_sivashinsky", "cahn_hilliard", "fisher_kpp", "burgers2d"))


def allen_cahn_reference(
    d: float = _AC.params["d"],
    a: float = _AC.params["a"],
    *,
    n: int = _AC.n,
    n_store: int = _AC.n_store,
    n_t: int = _AC.n_t,
    dt: float = _AC.dt,
    cache: bool = True,
) -> GridReference:
    r"""Allen-Cahn reference: $u_t = d\,u_{xx} + a\,(u - u^3)$, periodic $x \in [-1, 1)$, $t\in[0,1]$.

    Initial condition $u_0(x) = x^2\cos(\pi x)$ (the Raissi et al. / jaxpi benchmark with
    $d = 10^{-4}$, $a = 5$). Solved by ETDRK4 with $\mathcal L = a + d\,\partial_{xx}$ (stiff part
    exactly) and $\mathcal N(u) = -a u^3$. The interfaces have width $\sim\sqrt{2d/a}\approx 0.006$.

    As a periodic function $u_0$ is continuous but not $C^1$ ($u_0'(\pm1) = \mp 2$), so the exact
    solution of the periodic problem has a corner layer of width $\sqrt{d t}$ at $x = \pm 1$ and its
    Fourier coefficients decay only like $m^{-2}$ at $t = 0$. The solve is therefore an exact
    Fourier-Galerkin truncation that resolves that layer for $t \gtrsim 10^{-3}$: $u_0$ is projected
    onto the modes $|m| < n/4$ (coefficients from $16n$ samples, not interpolated, so no
    $O(n^{-2})$ aliasing error enters the low modes) and the cubic term is de-aliased by the 1/2
    rule. The solution is then stored on `n_store` points (the layer needs no more modes once
    $t \ge 0.005$, the first stored time after 0); at $t = 0$ the problems use $u_0$ itself.

    Accuracy (self-convergence on the evaluation grid, 256 points $\times$ 51 times per window,
    float64, against $2n$ and $\Delta t/2$): max error $1.4\cdot10^{-8}$ relative to
    $\max|u| = 1$ (at $t = 0.01$ next to $x = \pm1$), relative $L^2$ error $3\cdot10^{-10}$; the
    time-stepping error is below $10^{-11}$ (the 2048-point 2/3-rule solve used before was off by
    $6\cdot10^{-5}$ there). Between stored
    times $t < 0.005$ the cubic Hermite interpolation does not resolve the corner layer.

    **Arguments:** `d`, `a` (> 0); `n` grid points of the solve; `n_store` stored grid points;
    `n_t` snapshots; `dt` the largest step; `cache` use the disk cache.

    **Returns:** a [`GridReference`][] with `n_out = 1`.
    """
    return named_spectral_reference("allen_cahn", d=d, a=a, n=n, n_store=n_store, n_t=n_t, dt=dt,
                                    cache=cache)


def schrodinger_reference(
    *,
    n: int = _NLS.n,
    n_store: int = _NLS.n_store,
    n_t: int = _NLS.n_t,
    dt: float = _NLS.dt,
    cache: bool = True,
) -> GridReference:
    r"""Nonlinear Schrodinger reference: $i h_t + \tfrac12 h_{xx} + |h|^2 h = 0$.

    Periodic $x\in[-5,5)$, $t\in[0,\pi/2]$, $h_0 = 2\,\mathrm{sech}(x)$ (Raissi et al. 2019).
    ETDRK4 with $\mathcal L = \tfrac{i}{2}\partial_{xx}$ and $\mathcal N(h) = i|h|^2h$ on the complex
    field. Conserves the mass $\int|h|^2\,dx$.

    As a periodic function $h_0$ has a derivative jump $4\,\mathrm{sech}\,5\,\tanh 5 \approx 0.054$
    at $x = \pm5$. Dispersion never smooths it: the exact periodic solution keeps Fourier
    coefficients $\sim 0.014\,m^{-2}$ for all time (the kink radiates waves of every wavenumber and
    the linear flow revives kinks, the Talbot effect), so no Fourier (or any polynomial) method
    converges spectrally; convergence is algebraic, about $M^{-1.5}$ in max norm for $M$ modes. The
    solve is an exact Fourier-Galerkin truncation ($h_0$ projected from $16n$ samples onto
    $|m| < n/4$, cubic term de-aliased by the 1/2 rule) with all its $n/4$ modes stored
    (`n_store` $= n/2$ points).

    Accuracy (self-convergence on the evaluation grid, 256 points $\times$ 51 times per window,
    float64, against $2n$ and $\Delta t/2$): max error $8\cdot10^{-7}$ relative to $\max|h|$,
    relative $L^2$ error $10^{-6}$ (the 512-point default used before was off by
    $7\cdot10^{-6}$). This misses the $10^{-7}$ aim. The time step dominates (16384 points give
    the same numbers; against the same step, 8192 and 16384 points agree to $1.4\cdot10^{-7}$ in
    $L^2$): the phases $k^2\Delta t/2$ of the radiated high modes are large
    (ETDRK4 is pre-asymptotic there, so its error does not fall as $\Delta t^4$). Between stored
    times the cubic Hermite interpolation does not follow those fast phases either (errors up to
    $\sim 10^{-5}$ there); the evaluation grid's times are stored times.

    **Arguments:** `n` grid points of the solve; `n_store` stored grid points; `n_t` snapshots;
    `dt` the largest step; `cache` use the disk cache.

    **Returns:** a [`GridReference`][] with `n_out = 2`: $[\operatorname{Re} h, \operatorname{Im} h]$.
    """
    return named_spectral_reference("schrodinger", n=n, n_store=n_store, n_t=n_t, dt=dt,
                                    cache=cache)


def kuramoto_sivashinsky_reference(
    alpha: float = _KS.params["alpha"],
    beta: float = _KS.params["beta"],
    gamma: float = _KS.params["gamma"],
    *,
    n: int = _KS.n,
    n_t: int = _KS.n_t,
    dt: float = _KS.dt,
    cache: bool = True,
) -> GridReference:
    r"""Kuramoto-Sivashinsky reference: $u_t + \alpha u u_x + \beta u_{xx} + \gamma u_{xxxx} = 0$.

    Periodic $x\in[0, 2\pi)$, $t\in[0,1]$, $u_0 = \cos x\,(1+\sin x)$; the defaults
    $\alpha = 100/16$, $\beta = 100/16^2$, $\gamma = 100/16^4$ are the chaotic benchmark of
    Wang, Sankaran & Perdikaris (causal PINNs / jaxpi). ETDRK4 with
    $\mathcal L = -\beta\partial_{xx} - \gamma\partial_{xxxx}$ (symbol $\beta k^2 - \gamma k^4$) and
    $\mathcal N(u) = -\tfrac{\alpha}{2}\partial_x(u^2)$, as in Kassam & Trefethen (2005).

    Accuracy (self-convergence on the evaluation grid, float64, against $2n$ and $\Delta t/2$): max
    error $2\cdot10^{-8}$ relative to $\max|u|$, relative $L^2$ error $6\cdot10^{-9}$ (the chaotic
    dynamics amplify the truncation error: 256 points were off by $8\cdot10^{-7}$).

    **Arguments:** `alpha`, `beta`, `gamma` (> 0); `n` grid points; `n_t` snapshots; `dt` the
    largest step; `cache` use the disk cache.

    **Returns:** a [`GridReference`][] with `n_out = 1`.
    """
    return named_spectral_reference("kuramoto_sivashinsky", alpha=alpha, beta=beta, gamma=gamma,
                                    n=n, n_t=n_t, dt=dt, cache=cache)


def cahn_hilliard_reference(
    gamma1: float = _CH.params["gamma1"],
    gamma2: float = _CH.params["gamma2"],
    *,
    n: int = _CH.n,
    n_t: int = _CH.n_t,
    dt: float = _CH.dt,
    cache: bool = True,
) -> GridReference:
    r"""Cahn-Hilliard reference: $u_t = \partial_{xx}\big(\gamma_2 (u^3 - u) - \gamma_1 u_{xx}\big)$.

    Periodic $x\in[-1,1)$, $t\in[0,1]$, $u_0 = \cos(\pi x) - \exp(-4\pi^2x^2)$ (the initial
    condition of Mattey & Ghosh 2022, smooth and periodic to $10^{-17}$). Defaults
    $\gamma_1 = 10^{-3}$, $\gamma_2 = 0.1$: interfaces of width $\sqrt{\gamma_1/\gamma_2} = 0.1$,
    a smooth, PINN-friendly phase separation over the window (the solution changes by $O(1)$,
    slopes stay below 10). The mean $\int u\,dx$ is conserved.
    ETDRK4 with symbol $\gamma_2 k^2 - \gamma_1 k^4$ and $\mathcal N(u) = \gamma_2\partial_{xx}(u^3)$.

    Accuracy (self-convergence on the evaluation grid, float64, against $2n$ and $\Delta t/2$): max
    error $1.1\cdot10^{-8}$ relative to $\max|u|$, relative $L^2$ error $8\cdot10^{-10}$.

    **Arguments:** `gamma1`, `gamma2` (> 0); `n` grid points; `n_t` snapshots; `dt` the largest
    step; `cache` use the disk cache.

    **Returns:** a [`GridReference`][] with `n_out = 1`.
    """
    return named_spectral_reference("cahn_hilliard", gamma1=gamma1, gamma2=gamma2, n=n, n_t=n_t,
                                    dt=dt, cache=cache)


def fisher_kpp_reference(
    D: float = _FK.params["D"],
    r: float = _FK.params["r"],
    *,
    n: int = _FK.n,
    n_t: int = _FK.n_t,
    dt: float = _FK.dt,
    cache: bool = True,
) -> GridReference:
    r"""Fisher-KPP reaction-diffusion reference: $u_t = D u_{xx} + r\,u(1-u)$.

    Periodic $x\in[0,2\pi)$, $t\in[0,1]$, $u_0 = \exp\big(-(x-\pi)^2/(2(\pi/4)^2)\big)$ (the
    reaction-diffusion setup of Krishnapriyan et al. 2021). Defaults $D = 0.1$, $r = 3$: the bump
    saturates at $u\approx 1$ and spreads as two smooth fronts of width $\sim\sqrt{D/r}\approx 0.2$.
    ETDRK4 with symbol $r - D k^2$ and $\mathcal N(u) = -r u^2$.

    $u_0$ is not quite periodic-smooth ($u_0'$ jumps by $3.4\cdot10^{-3}$ at the box edge, where
    $u_0 = e^{-8}$), so its coefficients are projected from $16n$ samples rather than interpolated
    (interpolation aliased an $O(n^{-2})$ error into the low modes, which the reaction then grows),
    and the solve is an exact Galerkin truncation (2/3 rule, $u_0$ on the same modes).
    Accuracy (self-convergence on the evaluation grid, float64, against $2n$ and $\Delta t/2$): max
    error $8\cdot10^{-9}$ relative to $\max|u|$, relative $L^2$ error $2\cdot10^{-9}$ (before:
    $2\cdot10^{-6}$).

    **Arguments:** `D`, `r` (> 0); `n` grid points; `n_t` snapshots; `dt` the largest step;
    `cache` use the disk cache.

    **Returns:** a [`GridReference`][] with `n_out = 1`.
    """
    return named_spectral_reference("fisher_kpp", D=D, r=r, n=n, n_t=n_t, dt=dt, cache=cache)


def burgers2d_reference(
    nu: float = _B2.params["nu"],
    *,
    n: int = _B2.n,
    n_t: int = _B2.n_t,
    dt: float = _B2.dt,
    cache: bool = True,
) -> GridReference:
    r"""2-D viscous Burgers reference: $\mathbf u_t + (\mathbf u\cdot\nabla)\mathbf u = \nu\Delta\mathbf u$.

    $\mathbf u = (u, v)$ on the periodic square $[0,2\pi)^2$, $t\in[0,1]$,
    $\mathbf u_0 = (\sin x\cos y,\ -\cos x\sin y)$ (a Taylor-Green cell, here without pressure, so
    it steepens). Default $\nu = 0.1$: smooth fronts. Accuracy (self-convergence on the $32^2$
    evaluation grid, float64, against $2n$ and $\Delta t/2$): max error $8\cdot10^{-8}$ relative to
    $\max|\mathbf u|$, relative $L^2$ error $10^{-8}$ on the default $96^2$ grid ($64^2$:
    $1.4\cdot10^{-5}$). ETDRK4 with symbol $-\nu|\mathbf k|^2$ and $\mathcal N(\mathbf u) = -(\mathbf u\cdot\nabla)\mathbf u$
    (products in physical space, 2/3 de-aliasing).

    **Arguments:** `nu` (> 0); `n` grid points per side; `n_t` snapshots; `dt` the largest step;
    `cache` use the disk cache.

    **Returns:** a [`GridReference`][] on $x\in\mathbb R^2$ with `n_out = 2`: $(u, v)$.
    """
    return named_spectral_reference("burgers2d", nu=nu, n=n, n_t=n_t, dt=dt, cache=cache)
