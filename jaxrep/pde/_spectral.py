r"""Pseudo-spectral ETDRK4 solver for stiff semilinear PDEs on periodic boxes.

Equations of the form
$$\partial_t u = \mathcal L u + \mathcal N(u), \qquad x \in \prod_j [a_j, b_j)\ \text{periodic},$$
with $\mathcal L$ linear and diagonal in Fourier space (symbol $L(\mathbf k)$) and $\mathcal N$
nonlinear, are integrated exactly in $\mathcal L$ and to fourth order in $\mathcal N$ by the
exponential time-differencing Runge-Kutta scheme ETDRK4 of Cox & Matthews (2002), with the
$\varphi$-function coefficients evaluated by the contour integral of Kassam & Trefethen (2005),
which avoids the cancellation of the closed forms when $|hL|$ is small.

This module is the machinery (coefficients, stepper, grid, the generic driver); the named benchmark
setups that use it are records in `_named_spectral.py`.

References:

- S. M. Cox, P. C. Matthews, *Exponential time differencing for stiff systems*, J. Comput. Phys.
  176 (2002).
- A.-K. Kassam, L. N. Trefethen, *Fourth-order time-stepping for stiff PDEs*, SIAM J. Sci. Comput.
  26 (2005).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional, Sequence, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Inexact

from .._validate import check_positive
from ._reference import GridReference

__all__ = [
    "ETDRK4Coefficients",
    "SpectralGrid",
    "etdrk4",
    "etdrk4_coefficients",
    "etdrk4_step",
    "spectral_reference",
    "spectral_solve",
]


# ----------------------------------------------------------------------------------------------
# ETDRK4
# ----------------------------------------------------------------------------------------------


class ETDRK4Coefficients(NamedTuple):
    r"""The ETDRK4 coefficients for step $h$ and symbol $L$ (all with the shape of $L$).

    With $z = hL$: `E` $= e^{z}$, `E2` $= e^{z/2}$, `Q` $= h\,(e^{z/2}-1)/z$,
    `f1` $= h\,(-4 - z + e^{z}(4 - 3z + z^2))/z^3$, `f2` $= h\,(2 + z + e^{z}(z - 2))/z^3$,
    `f3` $= h\,(-4 - 3z - z^2 + e^{z}(4 - z))/z^3$.
    """

    E: Inexact[Array, "..."]
    E2: Inexact[Array, "..."]
    Q: Inexact[Array, "..."]
    f1: Inexact[Array, "..."]
    f2: Inexact[Array, "..."]
    f3: Inexact[Array, "..."]


def etdrk4_coefficients(
    linear: Inexact[ArrayLike, "..."], dt: float, *, n_contour: int = 64
) -> ETDRK4Coefficients:
    r"""ETDRK4 coefficients by the Kassam-Trefethen contour integral.

    Each $\varphi$-type function $g(z)$ in [`ETDRK4Coefficients`][] is entire, so by the mean value
    property $g(z) = \frac{1}{M}\sum_{m=1}^{M} g(z + e^{i\theta_m})$,
    $\theta_m = 2\pi(m - 1/2)/M$: the trapezoidal rule on the unit circle around $z = hL$, which
    converges geometrically in $M$ and never evaluates $g$ near its removable singularity at 0.

    **Arguments:**

    - `linear`: the Fourier symbol $L(\mathbf k)$, any shape, real or complex.
    - `dt`: the step $h > 0$.
    - `n_contour`: number of contour points $M$ (32 already gives double precision).

    **Returns:** [`ETDRK4Coefficients`][], each with the shape of `linear`; real when `linear` is.

    **References:** Kassam & Trefethen (2005), eq. (2.5) and section 5.
    """
    check_positive(dt, "dt")
    if n_contour < 4:
        raise ValueError(f"n_contour must be >= 4, got {n_contour}")
    linear = jnp.asarray(linear)
    real = not jnp.iscomplexobj(linear)
    z = dt * linear
    cdtype = jnp.result_type(z.dtype, jnp.complex64)
    theta = 2 * jnp.pi * (jnp.arange(n_contour) + 0.5) / n_contour
    r = jnp.exp(1j * theta).astype(cdtype)
    lr = z[..., None].astype(cdtype) + r
    ez, ez2 = jnp.exp(lr), jnp.exp(lr / 2)

    def mean(g):
        out = jnp.mean(g, axis=-1)
        return jnp.real(out) if real else out

    E = jnp.exp(z)
    E2 = jnp.exp(z / 2)
    Q = dt * mean((ez2 - 1) / lr)
    f1 = dt * mean((-4 - lr + ez * (4 - 3 * lr + lr**2)) / lr**3)
    f2 = dt * mean((2 + lr + ez * (lr - 2)) / lr**3)
    f3 = dt * mean((-4 - 3 * lr - lr**2 + ez * (4 - lr)) / lr**3)
    return ETDRK4Coefficients(E, E2, Q, f1, f2, f3)


def etdrk4_step(
    u_hat: Complex[Array, "..."],
    coefficients: ETDRK4Coefficients,
    nonlinear: Callable[[Array], Array],
) -> Complex[Array, "..."]:
    r"""One ETDRK4 step (Cox & Matthews 2002) for $\hat u_t = L\hat u + \hat N(\hat u)$.

    $$\begin{aligned}
    a &= E_2\hat u + Q\,\hat N(\hat u), \quad b = E_2\hat u + Q\,\hat N(a), \quad
      c = E_2 a + Q\,(2\hat N(b) - \hat N(\hat u)),\\
    \hat u_{+} &= E\hat u + f_1\hat N(\hat u) + 2 f_2(\hat N(a) + \hat N(b)) + f_3\hat N(c).
    \end{aligned}$$

    **Arguments:** `u_hat` (Fourier coefficients, any shape), the coefficients from
    [`etdrk4_coefficients`][] (broadcastable to `u_hat`) and `nonlinear: u_hat -> N_hat`.

    **Returns:** $\hat u$ one step later, same shape.
    """
    E, E2, Q, f1, f2, f3 = coefficients
    Nu = nonlinear(u_hat)
    a = E2 * u_hat + Q * Nu
    Na = nonlinear(a)
    b = E2 * u_hat + Q * Na
    Nb = nonlinear(b)
    c = E2 * a + Q * (2 * Nb - Nu)
    Nc = nonlinear(c)
    return E * u_hat + f1 * Nu + 2 * f2 * (Na + Nb) + f3 * Nc


def etdrk4(
    linear: Inexact[ArrayLike, "..."],
    nonlinear: Callable[[Array], Array],
    u0_hat: Complex[ArrayLike, "..."],
    *,
    dt: float,
    n_steps: int,
    save_every: int = 1,
    n_contour: int = 64,
) -> Complex[Array, "n_save ..."]:
    r"""Integrate $\hat u_t = L\hat u + \hat N(\hat u)$ by ETDRK4 with a fixed step.

    The whole loop is one `jax.lax.scan` (jitted): `n_steps` steps of size `dt`, returning the
    state every `save_every` steps, the initial state included.

    **Arguments:**

    - `linear`: the diagonal symbol $L$, broadcastable to `u0_hat`.
    - `nonlinear`: pure function $\hat u \mapsto \hat N(\hat u)$ (same shape in and out).
    - `u0_hat`: the initial Fourier coefficients (complex).
    - `dt`: step size; `n_steps`: number of steps (a multiple of `save_every`).
    - `save_every`: steps between saved states.
    - `n_contour`: contour points for [`etdrk4_coefficients`][].

    **Returns:** `(n_steps // save_every + 1, *u0_hat.shape)`, the states at
    $t = 0, h\,s, 2h\,s, \dots$ with $s$ = `save_every`.
    """
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
    if not isinstance(save_every, int) or save_every < 1 or n_steps % save_every:
        raise ValueError(f"save_every must be a positive int dividing n_steps={n_steps}, "
                         f"got {save_every!r}")
    u0_hat = jnp.asarray(u0_hat)
    if not jnp.iscomplexobj(u0_hat):
        u0_hat = u0_hat.astype(jnp.result_type(u0_hat.dtype, jnp.complex64))
    coefficients = etdrk4_coefficients(linear, dt, n_contour=n_contour)
    coefficients = ETDRK4Coefficients(*(c.astype(u0_hat.dtype) for c in coefficients))

    @jax.jit
    def run(u0, coeffs):
        def inner(u, _):
            return etdrk4_step(u, coeffs, nonlinear), None

        def outer(u, _):
            u, _ = jax.lax.scan(inner, u, None, length=save_every)
            return u, u

        _, us = jax.lax.scan(outer, u0, None, length=n_steps // save_every)
        return jnp.concatenate([u0[None], us])

    return run(u0_hat, coefficients)


# ----------------------------------------------------------------------------------------------
# Periodic spectral grid
# ----------------------------------------------------------------------------------------------


class SpectralGrid(eqx.Module):
    r"""A uniform periodic grid on $\prod_j [a_j, b_j)$ and its Fourier transforms.

    Fields have a leading component axis: physical `(c, N_1, ..., N_d)`, spectral
    `(c, *spectral_shape)`. Real fields use `rfftn` (the last axis keeps modes $0..N_d/2$), complex
    fields `fftn`. Angular wavenumbers are $k_j = 2\pi m_j / P_j$, $P_j = b_j - a_j$.

    **Arguments:**

    - `lower`, `upper`: box corners (sequences of length $d$).
    - `shape`: grid points per dimension (even integers, at least 4).
    - `is_complex`: whether the field is complex-valued.
    """

    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    is_complex: bool = eqx.field(static=True)

    def __init__(self, lower, upper, shape, is_complex: bool = False):
        lower = tuple(float(v) for v in np.atleast_1d(lower))
        upper = tuple(float(v) for v in np.atleast_1d(upper))
        shape = tuple(int(v) for v in np.atleast_1d(shape))
        if not (len(lower) == len(upper) == len(shape)) or not lower:
            raise ValueError(f"lower, upper and shape must have one equal length d >= 1, got "
                             f"{lower}, {upper}, {shape}")
        if any(b <= a for a, b in zip(lower, upper)):
            raise ValueError(f"upper must exceed lower, got lower={lower}, upper={upper}")
        if any(n < 4 or n % 2 for n in shape):
            raise ValueError(f"shape must hold even integers >= 4, got {shape}")
        self.lower, self.upper, self.shape = lower, upper, shape
        self.is_complex = bool(is_complex)

    @property
    def dim(self) -> int:
        return len(self.shape)

    @property
    def axes(self) -> tuple[int, ...]:
        return tuple(range(-self.dim, 0))

    @property
    def spectral_shape(self) -> tuple[int, ...]:
        if self.is_complex:
            return self.shape
        return self.shape[:-1] + (self.shape[-1] // 2 + 1,)

    def coordinates(self) -> tuple[np.ndarray, ...]:
        """The 1-D grid coordinates $a_j + m P_j/N_j$, $m = 0..N_j-1$."""
        return tuple(a + (b - a) * np.arange(n) / n
                     for a, b, n in zip(self.lower, self.upper, self.shape))

    def points(self) -> np.ndarray:
        """All grid points, shape `(N_1, ..., N_d, d)`."""
        return np.stack(np.meshgrid(*self.coordinates(), indexing="ij"), axis=-1)

    def _mode_numbers(self, j: int) -> np.ndarray:
        n = self.shape[j]
        if j == self.dim - 1 and not self.is_complex:
            return np.arange(n // 2 + 1, dtype=np.float64)
        return np.fft.fftfreq(n, 1.0 / n)

    def wavenumbers(self, *, odd: bool = False) -> tuple[np.ndarray, ...]:
        """Angular wavenumbers $k_j$, each broadcastable to `spectral_shape`.

        With `odd=True` the Nyquist mode is set to zero, as it must be for odd-order derivatives
        of a real field.
        """
        ks = []
        for j in range(self.dim):
            m = self._mode_numbers(j)
            if odd:
                m = np.where(np.abs(m) == self.shape[j] // 2, 0.0, m)
            k = 2 * np.pi * m / (self.upper[j] - self.lower[j])
            shape = [1] * self.dim
            shape[j] = k.shape[0]
            ks.append(k.reshape(shape))
        return tuple(ks)

    def laplacian_symbol(self) -> np.ndarray:
        r"""$-|\mathbf k|^2$ on the spectral grid."""
        return -sum(k**2 for k in self.wavenumbers())

    def dealias_mask(self, fraction: float = 2 / 3) -> np.ndarray:
        r"""1 for $|m_j| < \text{fraction}\cdot N_j/2$ in every dimension, 0 otherwise.

        The default is Orszag's 2/3 rule ($|m_j| < N_j/3$), exact for quadratic nonlinearities;
        `fraction=1/2` is exact for cubic ones.
        """
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
        mask = np.ones(self.spectral_shape)
        for j in range(self.dim):
            m = self._mode_numbers(j)
            shape = [1] * self.dim
            shape[j] = m.shape[0]
            mask = mask * (np.abs(m) < fraction * self.shape[j] / 2 - 1e-9).reshape(shape)
        return mask

    def to_spectral(self, u: Inexact[Array, "*c *n"]) -> Complex[Array, "*c *n_hat"]:
        """Forward FFT over the last $d$ axes."""
        return (jnp.fft.fftn if self.is_complex else jnp.fft.rfftn)(u, axes=self.axes)

    def to_physical(self, u_hat: Complex[Array, "*c *n_hat"]) -> Inexact[Array, "*c *n"]:
        """Inverse FFT over the last $d$ axes (real output for real fields)."""
        if self.is_complex:
            return jnp.fft.ifftn(u_hat, axes=self.axes)
        return jnp.fft.irfftn(u_hat, s=self.shape, axes=self.axes)

    def derivative(self, u_hat: Complex[Array, "*c *n_hat"], order: Sequence[int]) -> Array:
        r"""$\prod_j (i k_j)^{o_j}\,\hat u$ for derivative orders `order` $=(o_1,\dots,o_d)$."""
        if len(order) != self.dim:
            raise ValueError(f"order must have length d={self.dim}, got {order}")
        out = u_hat
        for o, k_even, k_odd in zip(order, self.wavenumbers(), self.wavenumbers(odd=True)):
            if o:
                out = out * (1j * (k_odd if o % 2 else k_even)) ** o
        return out


# ----------------------------------------------------------------------------------------------
# Generic reference driver
# ----------------------------------------------------------------------------------------------


def spectral_solve(
    linear: Callable[[SpectralGrid], ArrayLike],
    nonlinear: Callable[[Array, SpectralGrid], Array],
    u0: Union[Callable[[Array], Array], ArrayLike],
    *,
    lower: Sequence[float],
    upper: Sequence[float],
    shape: Sequence[int],
    t1: float,
    n_t: int,
    dt: float,
    t0: float = 0.0,
    is_complex: bool = False,
    dealias: Union[bool, float] = True,
    galerkin: bool = False,
    oversample: int = 1,
    store_shape: Optional[Sequence[int]] = None,
    n_contour: int = 64,
) -> dict[str, np.ndarray]:
    r"""Solve $u_t = \mathcal L u + \mathcal N(u)$ on a periodic box by ETDRK4; float64 grid arrays.

    Same arguments as [`spectral_reference`][], which wraps this function. Returns the float64
    numpy arrays `ts`, `lower`, `upper`, `values`, `derivatives` of a [`GridReference`][] (whatever
    JAX's default precision), the form in which references are cached on disk.

    The field has $c$ components (real or complex). The solve runs in float64 whatever JAX's
    default precision. The nonlinear term is de-aliased by the 2/3 rule when `dealias=True`. The
    step is the largest $h \le$ `dt` that divides the snapshot spacing $(t_1-t_0)/(n_t-1)$. The
    stored time derivatives are $\mathcal L u + \mathcal N(u)$ at each snapshot, so the returned
    [`GridReference`][] interpolates in time with cubic Hermite polynomials.

    **Arguments:**

    - `linear`: `grid -> L`, the Fourier symbol, broadcastable to `(c, *grid.spectral_shape)`.
    - `nonlinear`: `(u_hat, grid) -> N_hat`, pure, shapes `(c, *grid.spectral_shape)`.
    - `u0`: initial field, either a function of one point `x: (d,) -> (c,)` (or a scalar for
      $c=1$) or an array `(c, N_1, ..., N_d)` / `(N_1, ..., N_d)` of grid values.
    - `lower`, `upper`, `shape`: the periodic box and grid (see [`SpectralGrid`][]).
    - `t1`, `t0`: time window; `n_t`: number of snapshots (>= 2); `dt`: largest step allowed.
    - `is_complex`: complex field; outputs are then $[\operatorname{Re} u_1..u_c,
      \operatorname{Im} u_1..u_c]$.
    - `dealias`: `True` applies the 2/3 rule to $\hat N$, a number `f` in $(0, 1]$ keeps the modes
      $|m_j| < f N_j/2$ (`0.5` is exact for cubic nonlinearities), `False` none.
    - `galerkin`: also project $u_0$ onto the de-aliased modes, so that the solve is an exact
      Fourier-Galerkin truncation (no aliasing at all when the rule matches the degree of
      $\mathcal N$).
    - `oversample`: with a callable `u0`, compute its Fourier coefficients from `oversample`
      $\times N_j$ samples per dimension (close to the exact $L^2$ projection: the aliasing error of
      a non-smooth periodic $u_0$ drops by `oversample`$^{p}$ for coefficients decaying like
      $|m|^{-p}$) instead of interpolating $N_j$ samples.
    - `store_shape`: the returned grid (even, at most `shape` per dimension); the solution is
      truncated to its modes $|m_j| < N^{store}_j/2$. Lets a fine solve be stored compactly.
    - `n_contour`: contour points for the coefficients.

    **Returns:** a dict of float64 numpy arrays: `ts (n_t,)`, `lower`, `upper` `(d,)`, `values` and
    `derivatives` `(n_t, *store_shape, n_out)` with `n_out` $= c$ (real) or $2c$ (complex).
    """
    if not t1 > t0:
        raise ValueError(f"t1 must exceed t0, got t0={t0}, t1={t1}")
    if not isinstance(n_t, int) or n_t < 2:
        raise ValueError(f"n_t must be an int >= 2, got {n_t!r}")
    check_positive(dt, "dt")
    if not isinstance(oversample, int) or oversample < 1:
        raise ValueError(f"oversample must be a positive int, got {oversample!r}")
    grid = SpectralGrid(lower, upper, shape, is_complex)
    store = grid if store_shape is None else SpectralGrid(lower, upper, store_shape, is_complex)
    if store.dim != grid.dim or any(m > n for m, n in zip(store.shape, grid.shape)):
        raise ValueError(f"store_shape must have {grid.dim} entries, each <= shape={grid.shape}, "
                         f"got {store_shape}")
    fraction = (2 / 3 if dealias is True else float(dealias)) if dealias is not False else 1.0
    save_dt = (t1 - t0) / (n_t - 1)
    save_every = max(1, math.ceil(save_dt / dt - 1e-9))
    h = save_dt / save_every

    with jax.enable_x64(True):
        if callable(u0):
            fine = SpectralGrid(lower, upper, [oversample * n for n in grid.shape], is_complex)
            pts = fine.points().reshape(-1, grid.dim)
            u0_arr = jax.jit(jax.vmap(lambda p: jnp.atleast_1d(u0(p))))(pts)
            u0_arr = jnp.moveaxis(u0_arr, -1, 0).reshape((u0_arr.shape[-1],) + fine.shape)
            if not is_complex and jnp.iscomplexobj(u0_arr):
                raise TypeError("u0 is complex but is_complex=False")
            u0_arr = u0_arr.astype(jnp.complex128 if is_complex else jnp.float64)
            u0_hat = fine.to_spectral(u0_arr)
            if oversample > 1:
                u0_hat = _resample_spectral(u0_hat, fine, grid)
        else:
            u0_arr = jnp.asarray(u0)
            if u0_arr.shape == grid.shape:
                u0_arr = u0_arr[None]
            if u0_arr.shape[1:] != grid.shape:
                raise ValueError(f"u0 must have shape (c, *{grid.shape}) or {grid.shape}, got "
                                 f"{u0_arr.shape}")
            if not is_complex and jnp.iscomplexobj(u0_arr):
                raise TypeError("u0 is complex but is_complex=False")
            u0_arr = u0_arr.astype(jnp.complex128 if is_complex else jnp.float64)
            u0_hat = grid.to_spectral(u0_arr)
        mask = grid.dealias_mask(fraction) if dealias is not False else 1.0
        if galerkin:
            u0_hat = mask * u0_hat

        def nonlin(u_hat):
            return mask * nonlinear(u_hat, grid)

        @jax.jit
        def solve(u0_hat):
            L = jnp.broadcast_to(jnp.asarray(linear(grid)),
                                 (u0_hat.shape[0],) + grid.spectral_shape)
            u_hats = etdrk4(L, nonlin, u0_hat, dt=h, n_steps=save_every * (n_t - 1),
                            save_every=save_every, n_contour=n_contour)
            du_hats = L * u_hats + jax.vmap(nonlin)(u_hats)
            if store is not grid:
                u_hats = _resample_spectral(u_hats, grid, store)
                du_hats = _resample_spectral(du_hats, grid, store)
            us, dus = store.to_physical(u_hats), store.to_physical(du_hats)
            if is_complex:
                us = jnp.concatenate([us.real, us.imag], axis=-store.dim - 1)
                dus = jnp.concatenate([dus.real, dus.imag], axis=-store.dim - 1)
            return jnp.moveaxis(us, 1, -1), jnp.moveaxis(dus, 1, -1)

        values, derivatives = (np.asarray(a) for a in solve(u0_hat))
    if not np.all(np.isfinite(values)):
        raise FloatingPointError("the spectral solve produced non-finite values; reduce dt or "
                                 "increase the resolution")
    ts = t0 + save_dt * np.arange(n_t)
    return {"ts": ts, "lower": np.asarray(grid.lower), "upper": np.asarray(grid.upper),
            "values": values, "derivatives": derivatives}


def _resample_spectral(u_hat: Array, source: SpectralGrid, target: SpectralGrid) -> Array:
    r"""Carry spectral coefficients from `source` to `target` (same box, any even shapes).

    Keeps the modes $|m_j| < \min(N_j, N'_j)/2$ (the Nyquist modes are dropped, as they are not
    representable symmetrically), zero-pads the rest, and rescales for the unnormalised forward FFT.
    Works on the trailing $d$ axes of `u_hat`; any leading axes are kept.
    """
    d = source.dim
    out = u_hat
    for j in range(d):
        axis = u_hat.ndim - d + j
        n_src, n_tgt = source.shape[j], target.shape[j]
        keep = min(n_src, n_tgt) // 2  # modes 0..keep-1 and -(keep-1)..-1
        if j == d - 1 and not source.is_complex:
            idx = np.arange(keep)
            size = n_tgt // 2 + 1
            pos = idx
        else:
            m = np.r_[np.arange(keep), np.arange(-keep + 1, 0)]
            idx, pos, size = m % n_src, m % n_tgt, n_tgt
        taken = jnp.take(out, jnp.asarray(idx), axis=axis)
        new_shape = list(out.shape)
        new_shape[axis] = size
        zeros = jnp.zeros(new_shape, out.dtype)
        out = zeros.at[(slice(None),) * axis + (jnp.asarray(pos),)].set(taken)
    scale = np.prod(target.shape) / np.prod(source.shape)
    return out * scale


def spectral_reference(
    linear: Callable[[SpectralGrid], ArrayLike],
    nonlinear: Callable[[Array, SpectralGrid], Array],
    u0: Union[Callable[[Array], Array], ArrayLike],
    *,
    lower: Sequence[float],
    upper: Sequence[float],
    shape: Sequence[int],
    t1: float,
    n_t: int,
    dt: float,
    t0: float = 0.0,
    is_complex: bool = False,
    dealias: Union[bool, float] = True,
    galerkin: bool = False,
    oversample: int = 1,
    store_shape: Optional[Sequence[int]] = None,
    n_contour: int = 64,
) -> GridReference:
    r"""Solve $u_t = \mathcal L u + \mathcal N(u)$ on a periodic box by ETDRK4 and return a reference.

    The field has $c$ components (real or complex). The solve runs in float64 whatever JAX's
    default precision. The nonlinear term is de-aliased by the 2/3 rule when `dealias=True`. The
    step is the largest $h \le$ `dt` that divides the snapshot spacing $(t_1-t_0)/(n_t-1)$. The
    stored time derivatives are $\mathcal L u + \mathcal N(u)$ at each snapshot, so the returned
    [`GridReference`][] interpolates in time with cubic Hermite polynomials.

    **Arguments:**

    - `linear`: `grid -> L`, the Fourier symbol, broadcastable to `(c, *grid.spectral_shape)`.
    - `nonlinear`: `(u_hat, grid) -> N_hat`, pure, shapes `(c, *grid.spectral_shape)`.
    - `u0`: initial field, either a function of one point `x: (d,) -> (c,)` (or a scalar for
      $c=1$) or an array `(c, N_1, ..., N_d)` / `(N_1, ..., N_d)` of grid values.
    - `lower`, `upper`, `shape`: the periodic box and grid (see [`SpectralGrid`][]).
    - `t1`, `t0`: time window; `n_t`: number of snapshots (>= 2); `dt`: largest step allowed.
    - `is_complex`: complex field; outputs are then $[\operatorname{Re} u_1..u_c,
      \operatorname{Im} u_1..u_c]$.
    - `dealias`: `True` applies the 2/3 rule to $\hat N$, a number `f` keeps $|m_j| < f N_j/2$.
    - `galerkin`, `oversample`, `store_shape`: see [`spectral_solve`][].
    - `n_contour`: contour points for the coefficients.

    **Returns:** a [`GridReference`][] with `n_out` $= c$ (real) or $2c$ (complex).

    **Example** (viscous Burgers $u_t + u u_x = \nu u_{xx}$ on $[0, 2\pi)$):

    ```python
    ref = spectral_reference(
        lambda g: -0.1 * g.wavenumbers()[0] ** 2,
        lambda uh, g: -0.5 * g.derivative(g.to_spectral(g.to_physical(uh) ** 2), (1,)),
        lambda x: jnp.sin(x[0]),
        lower=[0.0], upper=[2 * jnp.pi], shape=[128], t1=1.0, n_t=101, dt=1e-3)
    ref(jnp.array([1.0]), 0.5)  # (1,)
    ```
    """
    return GridReference.from_arrays(spectral_solve(
        linear, nonlinear, u0, lower=lower, upper=upper, shape=shape, t1=t1, n_t=n_t, dt=dt,
        t0=t0, is_complex=is_complex, dealias=dealias, galerkin=galerkin, oversample=oversample,
        store_shape=store_shape, n_contour=n_contour))
