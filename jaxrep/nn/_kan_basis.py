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
"""

from __future__ import annotations

import abc
import math
from typing import Sequence

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


class AbstractBasis(eqx.Module):
    """A family of 1-D functions applied to each input feature: `(in_features,) -> (in_features, num_basis)`."""

    in_features: eqx.AbstractVar[int]
    num_basis: eqx.AbstractVar[int]
    grid_size: eqx.AbstractVar[int]
    order: eqx.AbstractVar[int]

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


class BSplineBasis(AbstractBasis):
    r"""B-splines of degree `order` on one knot vector per input (`jr.nn.basis.bspline`).

    The grid has $G$ cells on $[lo, hi]$ plus `order` cells on each side; $K = G + k$ functions.
    """

    grid: Float[Array, "in_features grid_size+2*order+1"]
    in_features: int = eqx.field(static=True)
    grid_size: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    num_basis: int = eqx.field(static=True)

    def __init__(self, in_features: int, grid_size: int = 5, order: int = 3, grid_range=(-1.0, 1.0), *, grid=None):
        check_positive_int(in_features, "in_features")
        check_positive_int(grid_size, "grid_size")
        check_positive_int(order, "order", minimum=0)
        if grid is None:
            lo, hi = _range(grid_range, in_features)
            grid = _b.bspline_knots(lo, hi, grid_size, order)
        self.grid = grid
        self.in_features = in_features
        self.grid_size = grid_size
        self.order = order
        self.num_basis = grid_size + order

    def __check_init__(self):
        expected = (self.in_features, self.grid_size + 2 * self.order + 1)
        if self.grid.shape != expected:
            raise ValueError(f"grid must have shape {expected}, got {self.grid.shape}")

    def __call__(self, x):
        return _b.bspline(x, jax.lax.stop_gradient(self.grid), self.order)

    @property
    def interior(self) -> Float[Array, "in_features grid_size+1"]:
        """The $G+1$ knots that bound the grid cells, per input."""
        return self.grid[:, self.order : self.order + self.grid_size + 1]

    def _with_interior(self, interior: Array) -> "BSplineBasis":
        k, g = self.order, interior.shape[1] - 1
        h = (interior[:, -1] - interior[:, 0]) / g
        steps = jnp.arange(1, k + 1, dtype=interior.dtype)
        left = interior[:, :1] - h[:, None] * steps[::-1]
        right = interior[:, -1:] + h[:, None] * steps
        grid = jnp.concatenate([left, interior, right], axis=1)
        return BSplineBasis(self.in_features, g, k, grid=grid)

    def adapt(self, x, grid_eps):
        x = _check_batch(x, self.in_features)
        return self._with_interior(_mixed_points(x.astype(self.grid.dtype), self.grid_size + 1, grid_eps))

    def refine(self, grid_size, x=None):
        check_positive_int(grid_size, "grid_size")
        # Interpolate the old knot positions: for grid_size a multiple of G the new knots contain the
        # old ones, so the old spline is exactly representable (also on non-uniform grids). Where the
        # data leave the grid, the end cells are first stretched to cover them.
        old = self.interior
        if x is not None:
            x = _check_batch(x, self.in_features).astype(old.dtype)
            old = old.at[:, 0].min(jnp.min(x, axis=0)).at[:, -1].max(jnp.max(x, axis=0))
        pos = jnp.linspace(0, self.grid_size, grid_size + 1, dtype=old.dtype)
        ref = jnp.arange(self.grid_size + 1, dtype=old.dtype)
        interior = jax.vmap(lambda row: jnp.interp(pos, ref, row))(old)
        return self._with_interior(interior)

    def select_inputs(self, index):
        index = np.asarray(index, dtype=int)
        return BSplineBasis(len(index), self.grid_size, self.order, grid=self.grid[index])


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
        check_positive_int(in_features, "in_features")
        check_positive_int(grid_size, "grid_size")
        check_positive_int(order, "order", minimum=0)
        num = grid_size + order
        if centers is None:
            lo, hi = _range(grid_range, in_features)
            unit = jnp.linspace(0, 1, num, dtype=lo.dtype)
            centers = lo[:, None] + (hi - lo)[:, None] * unit
            width = (hi - lo) / max(num - 1, 1)
        self.centers = centers
        self.width = width
        self.in_features = in_features
        self.grid_size = grid_size
        self.order = order
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
        check_positive_int(in_features, "in_features")
        check_positive_int(grid_size, "grid_size")
        check_positive_int(order, "order", minimum=0)
        if base_frequency is None:
            lo, hi = grid_range
            if not hi > lo:
                raise ValueError(f"grid_range must be (lo, hi) with hi > lo, got {grid_range!r}")
            base_frequency = math.pi / (hi - lo)
        self.in_features = in_features
        self.grid_size = grid_size
        self.order = order
        self.num_basis = 2 * grid_size
        self.base_frequency = float(base_frequency)

    def __call__(self, x):
        return _b.fourier(x, self.grid_size, self.base_frequency)

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


class ChebyshevBasis(AbstractBasis):
    r"""Chebyshev polynomials $T_0..T_{G+k-1}$ of $\tanh(x)$ (ChebyKAN, default) or of the input range
    normalised to $[-1, 1]$ (`squash=False`; `update_grid` then moves the range to the data)."""

    norm: _PolynomialState
    in_features: int = eqx.field(static=True)
    grid_size: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    num_basis: int = eqx.field(static=True)

    def __init__(self, in_features: int, grid_size: int = 5, order: int = 3, grid_range=(-1.0, 1.0), *,
                 squash: bool = True, norm=None):
        check_positive_int(in_features, "in_features")
        check_positive_int(grid_size, "grid_size")
        check_positive_int(order, "order", minimum=0)
        self.norm = norm if norm is not None else _PolynomialState(*_range(grid_range, in_features), squash)
        self.in_features = in_features
        self.grid_size = grid_size
        self.order = order
        self.num_basis = grid_size + order

    def __call__(self, x):
        return _b.chebyshev(self.norm(x), self.num_basis - 1)

    def adapt(self, x, grid_eps):
        x = _check_batch(x, self.in_features)
        return ChebyshevBasis(self.in_features, self.grid_size, self.order, norm=self.norm.adapt(x))

    def refine(self, grid_size, x=None):
        return ChebyshevBasis(self.in_features, grid_size, self.order, norm=self.norm)

    def select_inputs(self, index):
        return ChebyshevBasis(len(index), self.grid_size, self.order, norm=self.norm.select(index))


class LegendreBasis(AbstractBasis):
    r"""Legendre polynomials $P_0..P_{G+k-1}$ of $\tanh(x)$ (default) or of the input range normalised
    to $[-1, 1]$ (`squash=False`, as Legendre-KAN does on a bounded domain; `update_grid` then moves the
    range to the data). Range normalisation lets polynomials grow outside the range, so prefer it for
    first layers on a known domain."""

    norm: _PolynomialState
    in_features: int = eqx.field(static=True)
    grid_size: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    num_basis: int = eqx.field(static=True)

    def __init__(self, in_features: int, grid_size: int = 5, order: int = 3, grid_range=(-1.0, 1.0), *,
                 squash: bool = True, norm=None):
        check_positive_int(in_features, "in_features")
        check_positive_int(grid_size, "grid_size")
        check_positive_int(order, "order", minimum=0)
        self.norm = norm if norm is not None else _PolynomialState(*_range(grid_range, in_features), squash)
        self.in_features = in_features
        self.grid_size = grid_size
        self.order = order
        self.num_basis = grid_size + order

    def __call__(self, x):
        return _b.legendre(self.norm(x), self.num_basis - 1)

    def adapt(self, x, grid_eps):
        x = _check_batch(x, self.in_features)
        return LegendreBasis(self.in_features, self.grid_size, self.order, norm=self.norm.adapt(x))

    def refine(self, grid_size, x=None):
        return LegendreBasis(self.in_features, grid_size, self.order, norm=self.norm)

    def select_inputs(self, index):
        return LegendreBasis(len(index), self.grid_size, self.order, norm=self.norm.select(index))


def _fit_rational(fn, numerator: int, denominator: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearised least-squares fit of P/Q to `fn` on [-3, 3] (KAT initialises its rationals this way)."""
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

    def __init__(self, in_features: int, grid_size: int = 5, order: int = 3, grid_range=(-1.0, 1.0), *,
                 num_groups=None, denominator=None, group_of_input=None):
        del grid_range
        check_positive_int(in_features, "in_features")
        check_positive_int(grid_size, "grid_size")
        check_positive_int(order, "order", minimum=0)
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
        self.in_features = in_features
        self.grid_size = grid_size
        self.order = order
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


def resolve_basis(basis, in_features: int, grid_size: int, order: int, grid_range) -> AbstractBasis:
    """Map a basis name (the config edge) or an `AbstractBasis` instance to a basis module."""
    if isinstance(basis, AbstractBasis):
        if basis.in_features != in_features:
            raise ValueError(
                f"basis has in_features={basis.in_features} but the layer has in_features={in_features}"
            )
        return basis
    if isinstance(basis, type) and issubclass(basis, AbstractBasis):
        return basis(in_features, grid_size, order, grid_range)
    if not isinstance(basis, str) or basis not in BASES:
        raise ValueError(f"basis={basis!r} is unknown; valid: {', '.join(BASES)} or an AbstractBasis")
    return BASES[basis](in_features, grid_size, order, grid_range)


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
