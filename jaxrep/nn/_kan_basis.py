r"""Equinox basis modules for KAN layers: a pure basis function plus the per-input state it needs.

A basis module maps one sample $x \in \mathbb R^{n}$ to the matrix $B(x)\in\mathbb R^{n\times K}$,
$B_{ik} = b_k(x_i)$ (or $b_{ik}(x_i)$ with per-input grids). Grids, centres and normalisation ranges
are data, not parameters: they are wrapped in `jax.lax.stop_gradient` and change only through
`adapt` (`jr.nn.update_grid`) and `refine` (`jr.nn.refine_grid`). The rational basis is the exception:
its shared denominator coefficients are trained.

Every basis is described by the same two integers as the B-spline, `grid_size` $G$ and `order` $k$:

| basis | what $G$ and $k$ mean | $K$ |
|---|---|---|
| `BSplineBasis` | $G$ cells, degree $k$ | $G + k$ |
| `RBFBasis` | $G + k$ Gaussian centres (FastKAN) | $G + k$ |
| `ChebyshevBasis`, `LegendreBasis` | polynomial degree $G + k - 1$ | $G + k$ |
| `FourierBasis` | $G$ frequencies ($k$ unused) | $2G$ |
| `RationalBasis` | numerator degree $G$, denominator degree $k + 1$ (KAT's (5, 4) for defaults) | $G + 1$ |

Fast paths. On a uniform knot vector (the default grid, and what `refine_grid` makes of one) a B-spline
basis is evaluated in closed form: the cell index $c = \lfloor (x - t_0)/h\rfloor$ and the fractional
position $f$ are computed once per input, the $k + 1$ cardinal B-spline pieces that are non-zero on that
cell follow from a $k$-step recurrence in $f$, and they are written into their $k + 1$ slots of the
$(n, K)$ design matrix by a comparison with $c$ (no per-knot indicator tensor, no Cox–de Boor ladder
over all knots). Which path a basis takes is a static flag (`BSplineBasis.uniform`), fixed when the
basis is built, so it never depends on traced values. The Fourier basis evaluates its harmonics in one
fused pass with a sine/cosine that XLA vectorises (one shared range reduction per harmonic). Both
define their derivatives in closed form (a custom JVP that nests, so Hessians are exact and cheap).
"""

from __future__ import annotations

import abc
import functools
import math
from typing import ClassVar, Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from . import basis as _b
from ._checks import check_positive_int


def _range(grid_range, in_features, dtype=None):
    lo, hi = grid_range
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"grid_range must be a finite (lo, hi) with hi > lo, got {grid_range!r}")
    dtype = dtype or jnp.result_type(float)
    return jnp.full((in_features,), lo, dtype), jnp.full((in_features,), hi, dtype)


def _data_range(x: Array) -> tuple[Array, Array]:
    """Per-feature min and max of a batch, widened where a feature is (nearly) constant."""
    lo, hi = jnp.min(x, axis=0), jnp.max(x, axis=0)
    width = hi - lo
    pad = jnp.where(width < 1e-6, 0.5, 0.0)
    return lo - pad, hi + pad


@functools.partial(jax.jit, static_argnums=1)  # one compiled call, not a dozen eager ops (refits run eagerly)
def _mixed_points(x: Array, num: int, grid_eps: float) -> Array:
    r"""`num` points per feature: $\epsilon\cdot$uniform $+ (1-\epsilon)\cdot$percentiles (pykan's grid_eps)."""
    lo, hi = _data_range(x)
    xs = jnp.sort(x, axis=0)
    idx = np.round(np.linspace(0, x.shape[0] - 1, num)).astype(int)
    adaptive = xs[idx].T
    # Pin the ends to the (possibly widened) range so that every sample stays inside the grid.
    adaptive = adaptive.at[:, 0].set(lo).at[:, -1].set(hi)
    unit = jnp.linspace(0, 1, num, dtype=x.dtype)
    uniform = lo[:, None] + (hi - lo)[:, None] * unit
    return grid_eps * uniform + (1 - grid_eps) * adaptive


def _check_batch(x, in_features: int, name: str = "x") -> Array:
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != in_features:
        raise ValueError(f"{name} must be a batch of shape (num_samples, {in_features}), got shape {x.shape}")
    return x


@eqx.filter_jit
def _batched(module, x):
    # One compiled call instead of dozens of eagerly dispatched ops (construction and refits run eagerly).
    return jax.vmap(module)(x)


# --- uniform-grid fast path -------------------------------------------------------------------------


def _cardinal_pieces(f: Array, order: int, derivative: int) -> list[Array]:
    r"""The `order + 1` pieces of the cardinal B-spline of degree `order` on a cell, at fraction `f`.

    Piece $j$ is the value (or `derivative`-th derivative in $u$) of the basis function with index
    $c - k + j$ on cell $c$. Uniform Cox–de Boor recursion in local form,
    $N^{p}_j = \big((f + p - j)N^{p-1}_{j-1} + (j + 1 - f)N^{p-1}_j\big)/p$ (all terms non-negative on
    $[0, 1]$, so it is stable), then $N'_{m,p} = N_{m,p-1} - N_{m+1,p-1}$ once per derivative.
    """
    if derivative > order:
        return [jnp.zeros_like(f)] * (order + 1)
    values = [jnp.ones_like(f)]
    for p in range(1, order - derivative + 1):
        new = []
        for j in range(p + 1):
            term = 0.0
            if j >= 1:
                term = term + (f + (p - j)) * values[j - 1]
            if j < p:
                term = term + ((j + 1) - f) * values[j]
            new.append(term * (1.0 / p))
        values = new
    for _ in range(derivative):
        n = len(values)
        values = [(values[j - 1] if j >= 1 else 0.0) - (values[j] if j < n else 0.0) for j in range(n + 1)]
    return values


def _uniform_design(u: Array, order: int, num_basis: int, derivative: int) -> Array:
    # The cell index is kept as a float: comparisons with the basis index are exact for small integers
    # and an input far outside (or NaN) simply matches no slot, as the general path gives zeros there.
    cell = jnp.floor(u)
    pieces = _cardinal_pieces(u - cell, order, derivative)
    offset = cell[..., None] - jnp.arange(num_basis, dtype=u.dtype)  # c - m; piece j sits at c - m = k - j
    out = jnp.zeros(offset.shape, u.dtype)
    for j, piece in enumerate(pieces):
        out = jnp.where(offset == order - j, piece[..., None], out)
    return out


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def _uniform_bspline(u: Array, order: int, num_basis: int, derivative: int = 0) -> Array:
    """Cardinal B-splines $N_k(u - m)$, $m = 0..K-1$ (or their `derivative`-th derivative in $u$)."""
    return _uniform_design(u, order, num_basis, derivative)


@_uniform_bspline.defjvp
def _uniform_bspline_jvp(order, num_basis, derivative, primals, tangents):
    # d/du of the n-th derivative is the (n+1)-th, again a cheap closed form, and the rule nests, so
    # second derivatives (PINN residuals) and their parameter gradients stay exact. Differentiating the
    # selects instead costs one reduction over K per piece in the backward pass.
    (u,), (du,) = primals, tangents
    value = _uniform_bspline(u, order, num_basis, derivative)
    return value, _uniform_bspline(u, order, num_basis, derivative + 1) * du[..., None]


def _uniform_deviation(grid, xp=jnp):
    """Per knot vector: the largest distance of a knot from the equally spaced knots with the same ends,
    in units of 64 ulps of the knot magnitudes (<= 1: uniform; inf for a vector that does not increase).
    `xp` is `numpy` for the construction-time check and `jax.numpy` for the check at call time."""
    n = grid.shape[-1] - 1
    h = (grid[..., -1] - grid[..., 0]) / n
    ideal = grid[..., :1] + h[..., None] * xp.arange(n + 1, dtype=grid.dtype)
    scale = xp.maximum(xp.max(xp.abs(grid), axis=-1), h)
    tol = 64 * float(np.finfo(grid.dtype).eps) * scale
    deviation = xp.max(xp.abs(grid - ideal), axis=-1) / xp.where(tol > 0, tol, 1)
    return xp.where(h > 0, deviation, xp.inf)


def _grid_is_uniform(grid) -> bool:
    """Whether every knot vector of a concrete `grid` is equally spaced to working precision."""
    if isinstance(grid, jax.core.Tracer):
        return False  # knots traced (a basis built inside jit): the general path, which fits any grid
    with np.errstate(all="ignore"):
        deviation = _uniform_deviation(np.asarray(grid), np)
    return bool(np.all(deviation <= 1))


# Cody–Waite splits of pi/2 (all parts but the last short enough that k * part is exact, with or without
# FMA, for |k| < 2^16 in float32 / 2^20 in float64) and the Cephes minimax polynomials of sin and cos on
# [-pi/4, pi/4] (S. L. Moshier, Cephes Math Library).
_SINCOS = {
    np.dtype(np.float32): (
        (1.5703125, 4.84466552734375e-4, -6.407499313354492e-7, 9.92093629470503e-10),
        (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1),
        (2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2),
        2.0**24,
    ),
    np.dtype(np.float64): (
        (1.57079632673412561417e00, 6.07710050630396597660e-11, 2.02226624879595063154e-21),
        (1.58962301576546568060e-10, -2.50507477628578072866e-8, 2.75573136213857245213e-6,
         -1.98412698295895385996e-4, 8.33333333332211858878e-3, -1.66666666666666307295e-1),
        (-1.13585365213876817300e-11, 2.08757008419747316778e-9, -2.75573141792967388112e-7,
         2.48015872888517045348e-5, -1.38888888888730564116e-3, 4.16666666666665929218e-2),
        2.0**53,
    ),
}


def _sincos(t: Array) -> tuple[Array, Array]:
    r"""$(\sin t, \cos t)$ from one shared range reduction, in plain arithmetic that XLA vectorises.

    XLA:CPU lowers `jnp.sin`/`jnp.cos` to scalar libm calls (~7x the cost of `jnp.exp` per element, measured),
    which made them the bulk of a Fourier KAN layer. Here $t = k\pi/2 + r$ with $|r| \le \pi/4$
    (Cody–Waite reduction), then minimax polynomials and the quadrant $k \bmod 4$. Accuracy: within an
    ulp or two of the exact values for $|t| \le 10^5$ (float32) / $10^6$ (float64); beyond, the exact
    values at an argument within half an ulp of $t$ (backward stable); from $|t| \ge 2^{24}$ (float32) /
    $2^{53}$ (float64), where neighbouring floats are radians apart and the phase is undefined, the
    result is NaN (as for $t = \pm\infty$).
    """
    low = t.dtype.itemsize < 4  # float16 / bfloat16: compute in float32
    work = t.astype(jnp.float32) if low else t
    split, sin_coeffs, cos_coeffs, limit = _SINCOS[np.dtype(work.dtype)]
    k = jnp.round(work * (2 / math.pi))
    r = work
    for part in split:
        r = r - k * part
    z = r * r
    sin_p, cos_p = jnp.full_like(z, sin_coeffs[0]), jnp.full_like(z, cos_coeffs[0])
    for a, b in zip(sin_coeffs[1:], cos_coeffs[1:]):
        sin_p, cos_p = sin_p * z + a, cos_p * z + b
    sin_r = r + r * z * sin_p
    cos_r = 1 - 0.5 * z + z * z * cos_p
    quadrant = k - 4 * jnp.floor(k * 0.25)
    sin = jnp.where(quadrant == 0, sin_r, jnp.where(quadrant == 1, cos_r, jnp.where(quadrant == 2, -sin_r, -cos_r)))
    cos = jnp.where(quadrant == 0, cos_r, jnp.where(quadrant == 1, -sin_r, jnp.where(quadrant == 2, -cos_r, sin_r)))
    valid = jnp.abs(work) < limit
    sin, cos = jnp.where(valid, sin, jnp.nan), jnp.where(valid, cos, jnp.nan)
    return (sin.astype(t.dtype), cos.astype(t.dtype)) if low else (sin, cos)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _harmonics(theta: Array, num_frequencies: int) -> Array:
    r"""$[\cos(j\theta)]_{j=1}^{G} \Vert [\sin(j\theta)]_{j=1}^{G}$ in one fused elementwise pass.

    Each harmonic is evaluated directly by `_sincos` (one shared range reduction for its sine and
    cosine). Measured on XLA:CPU this beats one sine/cosine per input followed by angle-addition
    recurrences ($\cos((j+n)\theta) = \cos j\theta\cos n\theta - \sin j\theta\sin n\theta$): the
    recurrence needs its levels materialised (XLA otherwise recomputes the ladder for every output),
    and those extra passes cost more than the polynomial arithmetic they save.
    """
    j = jnp.arange(1, num_frequencies + 1, dtype=theta.dtype)
    sin, cos = _sincos(theta[..., None] * j)
    return jnp.concatenate([cos, sin], axis=-1)


@_harmonics.defjvp
def _harmonics_jvp(num_frequencies, primals, tangents):
    # d/dtheta [cos jt, sin jt] = j [-sin jt, cos jt]: the basis itself, permuted and scaled, so the
    # rule is one multiply and nests for derivatives of any order.
    (theta,), (dtheta,) = primals, tangents
    out = _harmonics(theta, num_frequencies)
    j = jnp.arange(1, num_frequencies + 1, dtype=out.dtype)
    cos, sin = out[..., :num_frequencies], out[..., num_frequencies:]
    derivative = jnp.concatenate([-j * sin, j * cos], axis=-1)
    return out, derivative * dtheta[..., None]


class AbstractBasis(eqx.Module):
    """A family of 1-D functions applied to each input feature: `(in_features,) -> (in_features, num_basis)`."""

    in_features: eqx.AbstractVar[int]
    num_basis: eqx.AbstractVar[int]
    grid_size: eqx.AbstractVar[int]
    order: eqx.AbstractVar[int]
    #: The `KANLayer` options this basis's constructor takes (after `in_features`), by keyword.
    layer_options: ClassVar[tuple[str, ...]] = ("grid_size", "order", "grid_range")

    def _set_sizes(self, in_features: int, grid_size: int, order: int) -> tuple[int, int, int]:
        """Check and set the sizes every basis has (returned as Python ints); each constructor calls it first.

        The shared checks live here rather than in `__check_init__`, which Equinox runs only after the
        constructor: a bad size must fail with its one-line message before any array is built from it.
        """
        self.in_features = check_positive_int(in_features, "in_features")
        self.grid_size = check_positive_int(grid_size, "grid_size")
        self.order = check_positive_int(order, "order", minimum=0)
        return self.in_features, self.grid_size, self.order

    @abc.abstractmethod
    def __call__(self, x: Float[Array, " in_features"]) -> Float[Array, "in_features num_basis"]:
        """Basis values for one sample."""

    def adapt(self, x: Float[Array, "batch in_features"], grid_eps: float) -> "AbstractBasis":
        """A basis of the same size whose grid follows the data `x` (default: unchanged)."""
        del x, grid_eps
        return self

    @abc.abstractmethod
    def refine(self, grid_size: int, x=None) -> "AbstractBasis":
        """The same basis family at resolution `grid_size` (range widened to cover the batch `x`)."""

    @abc.abstractmethod
    def select_inputs(self, index: Sequence[int]) -> "AbstractBasis":
        """The basis restricted to the input features `index` (used by pruning)."""

    def init_coefficients(
        self, out_features: int, scale: float, *, key
    ) -> Float[Array, "in_features num_basis out_features"]:
        r"""Variance-preserving Gaussian coefficients.

        With $c_{iko}\sim\mathcal N(0,\sigma_i^2)$ and $x_i\sim\mathcal N(0,1)$,
        $\mathbb E[(\sum_{ik} c_{iko}B_k(x_i))^2] = \sum_i \sigma_i^2 \sum_k \mathbb E[B_k(x_i)^2]$;
        $\sigma_i^2 = \text{scale}^2 / (n\sum_k \mathbb E[B_k(x_i)^2])$ makes it `scale**2`. The moments are
        computed by 48-point Gauss–Hermite quadrature.
        """
        nodes, weights = np.polynomial.hermite_e.hermegauss(48)
        weights = weights / weights.sum()
        dtype = jnp.result_type(float)
        xs = jnp.asarray(nodes, dtype)[:, None] * jnp.ones((self.in_features,), dtype)
        moments = jnp.einsum("q,qik->i", jnp.asarray(weights, dtype), _batched(self, xs) ** 2)
        std = scale / jnp.sqrt(self.in_features * jnp.maximum(moments, 1e-12))
        noise = jax.random.normal(key, (self.in_features, self.num_basis, out_features), dtype)
        return noise * std[:, None, None]


@functools.partial(jax.jit, static_argnums=1)
def _extend_interior(interior: Array, order: int) -> Array:
    """The full knot vectors: `order` cells of the end cells' mean width added on each side."""
    h = (interior[:, -1] - interior[:, 0]) / (interior.shape[1] - 1)
    steps = jnp.arange(1, order + 1, dtype=interior.dtype)
    left = interior[:, :1] - h[:, None] * steps[::-1]
    right = interior[:, -1:] + h[:, None] * steps
    return jnp.concatenate([left, interior, right], axis=1)


@functools.partial(jax.jit, static_argnums=2)
def _refined_interior(old: Array, x, grid_size: int) -> Array:
    # Interpolate the old knot positions: for grid_size a multiple of G the new knots contain the old
    # ones, so the old spline is exactly representable (also on non-uniform grids). Where the data
    # leave the grid, the end cells are first stretched to cover them.
    if x is not None:
        old = old.at[:, 0].min(jnp.min(x, axis=0)).at[:, -1].max(jnp.max(x, axis=0))
    pos = jnp.linspace(0, old.shape[1] - 1, grid_size + 1, dtype=old.dtype)
    ref = jnp.arange(old.shape[1], dtype=old.dtype)
    return jax.vmap(lambda row: jnp.interp(pos, ref, row))(old)


def _covering_interior(old: Array, uniform: bool, x: Array, grid_size: int) -> tuple[Array, Optional[bool]]:
    r"""The refined interior knots for concrete samples `x`: `grid_size` cells on the old range $[lo, hi]$
    (the old knots interpolated, so for `grid_size` a multiple of $G$ they contain the old knots), plus
    whole cells of the new mean width $h'=(hi-lo)/$`grid_size` added outside $[lo, hi]$ until every
    sample is covered. The old spline's breakpoints outside $[lo, hi]$ are its extension knots
    $hi + j\,(hi-lo)/G$, which are new knots when $G$ divides `grid_size`: the old function is then
    exactly representable on all samples, inside the range and out of it. Every input gets the same
    number of cells (the spare ones go on the right, where no sample sees them)."""
    old_np = np.asarray(old, dtype=np.float64)
    x_np = np.asarray(x, dtype=np.float64)
    lo, hi = old_np[:, 0], old_np[:, -1]
    h = (hi - lo) / grid_size
    tol = 1e-9 * np.maximum(np.abs(lo), np.abs(hi)).clip(min=1.0)
    left = np.ceil(np.maximum(lo - x_np.min(axis=0) - tol, 0.0) / h).astype(int)
    right = np.ceil(np.maximum(x_np.max(axis=0) - hi - tol, 0.0) / h).astype(int)
    extra = int(np.max(left + right))
    if extra == 0:
        return _refined_interior(old, None, grid_size), (True if uniform else None)
    right = right + (extra - left - right)
    dtype = old.dtype
    if uniform:
        # An equally spaced vector by construction, so the fast path stays on.
        steps = np.arange(grid_size + extra + 1)[None, :] - left[:, None]
        rows = lo[:, None] + h[:, None] * steps
        return jnp.asarray(rows, dtype=dtype), True
    inner = np.asarray(_refined_interior(old, None, grid_size), dtype=np.float64)
    rows = [np.concatenate([lo[i] - h[i] * np.arange(left[i], 0, -1), inner[i],
                            hi[i] + h[i] * np.arange(1, right[i] + 1)]) for i in range(old_np.shape[0])]
    return jnp.asarray(np.stack(rows), dtype=dtype), None


class BSplineBasis(AbstractBasis):
    r"""B-splines of degree `order` on one knot vector per input (`jr.nn.basis.bspline`).

    The grid has $G$ cells on $[lo, hi]$ plus `order` cells on each side; $K = G + k$ functions.

    On a uniform knot vector $t_i = t_0 + ih$ (the default grid, `update_grid` with `grid_eps=1`, and
    `refine_grid` of a uniform grid whose range covers the data) the basis takes a fast path: with
    $u = (x - t_0)/h$, $c = \lfloor u\rfloor$ and $f = u - c$, the only non-zero functions are
    $B_{c-k+j}(x) = N^k_j(f)$, $j = 0..k$, the pieces of the cardinal B-spline, computed by a $k$-step
    recurrence and placed into the design matrix by comparing $c$ with the basis index. Derivatives
    use $\frac{d}{du}N_{m,k} = N_{m,k-1} - N_{m+1,k-1}$ (a custom JVP that nests to any order). Values
    and derivatives equal the general Cox–de Boor path to rounding; at a knot itself the two may pick
    neighbouring cells, which changes nothing for the continuous derivatives (orders $< k$).

    `uniform` is a static flag, decided once when the basis is built (`None`: detected from a concrete
    `grid`; a grid traced inside `jit` takes the general path). If the knots are later replaced
    behind the constructor's back (`eqx.tree_at`, restoring other arrays onto this module) by a
    non-uniform grid, calling the basis raises an error instead of silently using the wrong knots.
    """

    grid: Float[Array, "in_features grid_size+2*order+1"]
    in_features: int = eqx.field(static=True)
    grid_size: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    num_basis: int = eqx.field(static=True)
    uniform: bool = eqx.field(static=True)

    def __init__(self, in_features: int, grid_size: int = 5, order: int = 3, grid_range=(-1.0, 1.0), *,
                 grid=None, uniform: Optional[bool] = None):
        in_features, grid_size, order = self._set_sizes(in_features, grid_size, order)
        if uniform is not None and not isinstance(uniform, bool):
            raise TypeError(f"uniform must be None, True or False, got {uniform!r}")
        if grid is None:
            lo, hi = _range(grid_range, in_features)
            grid = _b.bspline_knots(lo, hi, grid_size, order)
            uniform = True if uniform is None else uniform
        elif uniform is None:
            uniform = _grid_is_uniform(grid)
        elif uniform and not isinstance(grid, jax.core.Tracer) and not _grid_is_uniform(grid):
            raise ValueError("uniform=True but grid is not equally spaced; pass uniform=None to detect it")
        self.grid = grid
        self.num_basis = grid_size + order
        self.uniform = uniform

    def __check_init__(self):
        expected = (self.in_features, self.grid_size + 2 * self.order + 1)
        if self.grid.shape != expected:
            raise ValueError(f"grid must have shape {expected}, got {self.grid.shape}")

    def __call__(self, x):
        grid = jax.lax.stop_gradient(self.grid)
        if not self.uniform:
            return _b.bspline(x, grid, self.order)
        x = jnp.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., {self.in_features}), got shape {x.shape}")
        dtype = jnp.result_type(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else float, grid.dtype)
        x, grid = x.astype(dtype), grid.astype(dtype)
        # Checked on the knots (not per sample): one small reduction per call, outside any vmap.
        grid = eqx.error_if(
            grid, jnp.any(_uniform_deviation(grid) > 1),
            "BSplineBasis.uniform is True but its grid is not equally spaced (was it replaced with "
            "eqx.tree_at?); rebuild it with BSplineBasis(..., grid=grid)",
        )
        inv_h = (grid.shape[-1] - 1) / (grid[:, -1] - grid[:, 0])
        return _uniform_bspline((x - grid[:, 0]) * inv_h, self.order, self.num_basis)

    @property
    def interior(self) -> Float[Array, "in_features grid_size+1"]:
        """The $G+1$ knots that bound the grid cells, per input."""
        return self.grid[:, self.order : self.order + self.grid_size + 1]

    def _with_interior(self, interior: Array, uniform: Optional[bool] = None) -> "BSplineBasis":
        grid = _extend_interior(interior, self.order)
        return BSplineBasis(self.in_features, interior.shape[1] - 1, self.order, grid=grid, uniform=uniform)

    def adapt(self, x, grid_eps):
        x = _check_batch(x, self.in_features)
        return self._with_interior(_mixed_points(x.astype(self.grid.dtype), self.grid_size + 1, grid_eps))

    def refine(self, grid_size, x=None):
        check_positive_int(grid_size, "grid_size")
        if x is not None:
            x = _check_batch(x, self.in_features).astype(self.grid.dtype)
            if not isinstance(x, jax.core.Tracer) and not isinstance(self.grid, jax.core.Tracer):
                return self._with_interior(*_covering_interior(self.interior, self.uniform, x, grid_size))
        interior = _refined_interior(self.interior, x, grid_size)
        # A uniform grid refined without data stays uniform by construction (also when traced);
        # otherwise the new knots are inspected (stretched end cells make the grid non-uniform).
        return self._with_interior(interior, uniform=True if self.uniform and x is None else None)

    def select_inputs(self, index):
        index = np.asarray(index, dtype=int)
        return BSplineBasis(len(index), self.grid_size, self.order, grid=self.grid[index],
                            uniform=self.uniform or None)


class RBFBasis(AbstractBasis):
    r"""Gaussian radial basis functions $\exp(-((x-c_k)/h)^2)$ on $G + k$ centres per input (FastKAN)."""

    centers: Float[Array, "in_features num_basis"]
    width: Float[Array, " in_features"]
    in_features: int = eqx.field(static=True)
    grid_size: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    num_basis: int = eqx.field(static=True)

    def __init__(self, in_features: int, grid_size: int = 5, order: int = 3, grid_range=(-1.0, 1.0), *,
                 centers=None, width=None):
        in_features, grid_size, order = self._set_sizes(in_features, grid_size, order)
        num = grid_size + order
        if centers is None:
            lo, hi = _range(grid_range, in_features)
            unit = jnp.linspace(0, 1, num, dtype=lo.dtype)
            centers = lo[:, None] + (hi - lo)[:, None] * unit
            width = (hi - lo) / max(num - 1, 1)
        self.centers = centers
        self.width = width
        self.num_basis = num

    def __call__(self, x):
        return _b.rbf(x, jax.lax.stop_gradient(self.centers), jax.lax.stop_gradient(self.width))

    def adapt(self, x, grid_eps):
        x = _check_batch(x, self.in_features).astype(self.centers.dtype)
        centers = _mixed_points(x, self.num_basis, grid_eps)
        lo, hi = _data_range(x)
        width = (hi - lo) / max(self.num_basis - 1, 1)
        return RBFBasis(self.in_features, self.grid_size, self.order, centers=centers, width=width)

    def refine(self, grid_size, x=None):
        check_positive_int(grid_size, "grid_size")
        num = grid_size + self.order
        lo, hi = self.centers[:, 0], self.centers[:, -1]
        if x is not None:
            x = _check_batch(x, self.in_features).astype(lo.dtype)
            lo, hi = jnp.minimum(lo, jnp.min(x, axis=0)), jnp.maximum(hi, jnp.max(x, axis=0))
        unit = jnp.linspace(0, 1, num, dtype=lo.dtype)
        centers = lo[:, None] + (hi - lo)[:, None] * unit
        width = (hi - lo) / max(num - 1, 1)
        return RBFBasis(self.in_features, grid_size, self.order, centers=centers, width=width)

    def select_inputs(self, index):
        index = np.asarray(index, dtype=int)
        return RBFBasis(len(index), self.grid_size, self.order, centers=self.centers[index],
                        width=self.width[index])


class FourierBasis(AbstractBasis):
    r"""$\cos(j\omega x), \sin(j\omega x)$ for $j = 1..G$ (`jr.nn.basis.fourier`); $K = 2G$.

    Evaluated in one fused pass with a vectorised sine/cosine (see `_sincos`; XLA:CPU's own are scalar
    library calls), with the closed-form derivative $\frac{d}{dx}[\cos j\omega x, \sin j\omega x] =
    j\omega[-\sin j\omega x, \cos j\omega x]$ (a custom JVP, exact to any order).

    The default $\omega = \pi/(hi - lo)$ makes the lowest mode a half period over the grid range, so
    the series can represent non-periodic functions there (as a cosine series does).
    """

    in_features: int = eqx.field(static=True)
    grid_size: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    num_basis: int = eqx.field(static=True)
    base_frequency: float = eqx.field(static=True)

    def __init__(self, in_features: int, grid_size: int = 5, order: int = 3, grid_range=(-1.0, 1.0), *,
                 base_frequency=None):
        in_features, grid_size, order = self._set_sizes(in_features, grid_size, order)
        if base_frequency is None:
            lo, hi = grid_range
            if not hi > lo:
                raise ValueError(f"grid_range must be (lo, hi) with hi > lo, got {grid_range!r}")
            base_frequency = math.pi / (hi - lo)
        self.num_basis = 2 * grid_size
        self.base_frequency = float(base_frequency)

    def __call__(self, x):
        # Equal to `jr.nn.basis.fourier` (the general reference) to rounding, in one fused pass.
        x = jnp.asarray(x)
        if x.ndim < 1:
            raise ValueError("x must have shape (..., n) with at least one axis, got a scalar")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        return _harmonics(x * self.base_frequency, self.grid_size)

    def refine(self, grid_size, x=None):
        return FourierBasis(self.in_features, grid_size, self.order, base_frequency=self.base_frequency)

    def select_inputs(self, index):
        return FourierBasis(len(index), self.grid_size, self.order, base_frequency=self.base_frequency)


class _PolynomialState(eqx.Module):
    """Affine range normalisation `x -> 2 (x - lo) / (hi - lo) - 1`, or `tanh` when `squash`."""

    lo: Float[Array, " in_features"]
    hi: Float[Array, " in_features"]
    squash: bool = eqx.field(static=True)

    def __call__(self, x):
        if self.squash:
            return jnp.tanh(x)
        lo, hi = jax.lax.stop_gradient(self.lo), jax.lax.stop_gradient(self.hi)
        return 2 * (x - lo) / (hi - lo) - 1

    def adapt(self, x):
        if self.squash:
            return self
        lo, hi = _data_range(x.astype(self.lo.dtype))
        return _PolynomialState(lo, hi, False)

    def select(self, index):
        index = np.asarray(index, dtype=int)
        return _PolynomialState(self.lo[index], self.hi[index], self.squash)


class _PolynomialBasis(AbstractBasis):
    """Orthogonal polynomials $p_0..p_{G+k-1}$ of $\\tanh(x)$ or of the range-normalised input; a subclass
    names its family by `_polynomial(x, degree) -> (..., degree + 1)` (a function of `jaxrep.nn.basis`)."""

    norm: _PolynomialState
    in_features: int = eqx.field(static=True)
    grid_size: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    num_basis: int = eqx.field(static=True)

    def __init__(self, in_features: int, grid_size: int = 5, order: int = 3, grid_range=(-1.0, 1.0), *,
                 squash: bool = True, norm=None):
        in_features, grid_size, order = self._set_sizes(in_features, grid_size, order)
        self.norm = norm if norm is not None else _PolynomialState(*_range(grid_range, in_features), squash)
        self.num_basis = grid_size + order

    def __call__(self, x):
        return type(self)._polynomial(self.norm(x), self.num_basis - 1)

    def adapt(self, x, grid_eps):
        x = _check_batch(x, self.in_features)
        return type(self)(self.in_features, self.grid_size, self.order, norm=self.norm.adapt(x))

    def refine(self, grid_size, x=None):
        return type(self)(self.in_features, grid_size, self.order, norm=self.norm)

    def select_inputs(self, index):
        return type(self)(len(index), self.grid_size, self.order, norm=self.norm.select(index))


class ChebyshevBasis(_PolynomialBasis):
    r"""Chebyshev polynomials $T_0..T_{G+k-1}$ of $\tanh(x)$ (ChebyKAN, default) or of the input range
    normalised to $[-1, 1]$ (`squash=False`; `update_grid` then moves the range to the data)."""

    _polynomial = staticmethod(_b.chebyshev)


class LegendreBasis(_PolynomialBasis):
    r"""Legendre polynomials $P_0..P_{G+k-1}$ of $\tanh(x)$ (default) or of the input range normalised
    to $[-1, 1]$ (`squash=False`, as Legendre-KAN does on a bounded domain; `update_grid` then moves the
    range to the data). Range normalisation lets polynomials grow outside the range, so prefer it for
    first layers on a known domain."""

    _polynomial = staticmethod(_b.legendre)


@functools.lru_cache(maxsize=64)
def _fit_rational(fn, numerator: int, denominator: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearised least-squares fit of P/Q to `fn` on [-3, 3] (KAT initialises its rationals this way).
    Cached (the same fit serves a basis' denominator and its coefficients' initialisation); read-only."""
    xs = np.linspace(-3, 3, 1001)
    ys = fn(xs)
    A = np.concatenate(
        [xs[:, None] ** np.arange(numerator + 1), -ys[:, None] * xs[:, None] ** np.arange(1, denominator + 1)],
        axis=1,
    )
    sol = np.linalg.lstsq(A, ys, rcond=None)[0]
    a, b = sol[: numerator + 1], sol[numerator + 1 :]
    q = 1 + xs[:, None] ** np.arange(1, denominator + 1) @ b
    if np.min(q) <= 0.05:  # the linearisation put a pole nearby: fall back to a polynomial fit
        b = np.zeros(denominator)
        a = np.linalg.lstsq(xs[:, None] ** np.arange(numerator + 1), ys, rcond=None)[0]
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _silu_np(x):
    return x / (1 + np.exp(-x))


class RationalBasis(AbstractBasis):
    r"""Group-rational basis of GR-KAN: $b_j(x_i) = x_i^j / Q_{g(i)}(x_i)$, $j = 0..G$.

    $Q_g(x) = 1 + |\sum_{k=1}^{k+1} q_{gk} x^k|$ is shared by the inputs of group $g$ (inputs are split
    into `num_groups` contiguous groups) and its coefficients are trained; the numerators are the layer's
    per-edge coefficients. `init_coefficients` is KAT's variance-preserving initialisation: every edge
    starts as $w_{io}\,F(x)$ with $F\approx$ SiLU (a rational least-squares fit) and
    $w_{io}\sim\mathcal N(0, \text{scale}^2 / (n\,\mathbb E[F(x)^2]))$.

    **References:** Yang & Wang, "Kolmogorov-Arnold Transformer", 2024.
    """

    denominator: Float[Array, "num_groups q"]
    group_of_input: tuple[int, ...] = eqx.field(static=True)
    in_features: int = eqx.field(static=True)
    grid_size: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    num_basis: int = eqx.field(static=True)

    layer_options: ClassVar[tuple[str, ...]] = ("grid_size", "order")  # no range: rationals act on all of R

    def __init__(self, in_features: int, grid_size: int = 5, order: int = 3, *,
                 num_groups=None, denominator=None, group_of_input=None):
        in_features, grid_size, order = self._set_sizes(in_features, grid_size, order)
        if group_of_input is None:
            num_groups = math.gcd(in_features, 8) if num_groups is None else num_groups
            check_positive_int(num_groups, "num_groups")
            if in_features % num_groups:
                raise ValueError(f"num_groups={num_groups} must divide in_features={in_features}")
            size = in_features // num_groups
            group_of_input = tuple(i // size for i in range(in_features))
        if denominator is None:
            _, b = _fit_rational(_silu_np, grid_size, order + 1)
            groups = max(group_of_input) + 1
            denominator = jnp.tile(jnp.asarray(b, jnp.result_type(float)), (groups, 1))
        self.denominator = denominator
        self.group_of_input = tuple(int(g) for g in group_of_input)
        self.num_basis = grid_size + 1

    def __check_init__(self):
        if len(self.group_of_input) != self.in_features:
            raise ValueError("group_of_input needs one group index per input feature")
        if self.denominator.shape[-1] != self.order + 1:
            raise ValueError(f"denominator must have {self.order + 1} coefficients per group")

    def __call__(self, x):
        per_input = self.denominator[jnp.asarray(self.group_of_input)]
        return _b.rational(x, per_input, self.grid_size)

    def refine(self, grid_size, x=None):
        check_positive_int(grid_size, "grid_size")
        return RationalBasis(self.in_features, grid_size, self.order, denominator=self.denominator,
                             group_of_input=self.group_of_input)

    def select_inputs(self, index):
        index = [int(i) for i in index]
        return RationalBasis(len(index), self.grid_size, self.order, denominator=self.denominator,
                             group_of_input=[self.group_of_input[i] for i in index])

    def init_coefficients(self, out_features, scale, *, key):
        a, b = _fit_rational(_silu_np, self.grid_size, self.order + 1)
        nodes, weights = np.polynomial.hermite_e.hermegauss(48)
        weights = weights / weights.sum()
        f = (nodes[:, None] ** np.arange(self.grid_size + 1)) @ a / (
            1 + np.abs(nodes[:, None] ** np.arange(1, self.order + 2) @ b)
        )
        second_moment = float(weights @ f**2)
        dtype = jnp.result_type(float)
        w = jax.random.normal(key, (self.in_features, out_features), dtype)
        w = w * scale / math.sqrt(self.in_features * max(second_moment, 1e-12))
        return w[:, None, :] * jnp.asarray(a, dtype)[None, :, None]


BASES: dict[str, type[AbstractBasis]] = {
    "bspline": BSplineBasis,
    "rbf": RBFBasis,
    "fourier": FourierBasis,
    "chebyshev": ChebyshevBasis,
    "legendre": LegendreBasis,
    "rational": RationalBasis,
}


def basis_names() -> list[str]:
    """The valid `basis=` names of [`jaxrep.nn.KANLayer`][] and `model.basis` in configs."""
    return list(BASES)


def resolve_basis(basis, in_features: int, grid_size: int, order: int, grid_range) -> AbstractBasis:
    """Map a basis name (the config edge), class or instance to a basis module.

    A name or class is built with the layer options it declares in `layer_options` (the rational basis
    takes no `grid_range`).
    """
    if isinstance(basis, AbstractBasis):
        if basis.in_features != in_features:
            raise ValueError(
                f"basis has in_features={basis.in_features} but the layer has in_features={in_features}"
            )
        return basis
    if isinstance(basis, str) and basis in BASES:
        basis = BASES[basis]
    if not (isinstance(basis, type) and issubclass(basis, AbstractBasis)):
        raise ValueError(f"basis={basis!r} is unknown; valid: {', '.join(BASES)} or an AbstractBasis")
    options = {"grid_size": grid_size, "order": order, "grid_range": grid_range}
    return basis(in_features, **{name: options[name] for name in basis.layer_options})


__all__ = [
    "AbstractBasis",
    "BASES",
    "BSplineBasis",
    "ChebyshevBasis",
    "FourierBasis",
    "LegendreBasis",
    "RBFBasis",
    "RationalBasis",
    "resolve_basis",
]
