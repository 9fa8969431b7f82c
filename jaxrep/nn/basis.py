r"""Univariate basis functions for Kolmogorov–Arnold layers, as pure functions.

Every function maps inputs of shape `(..., n)` to basis values of shape `(..., n, n_basis)`: the last
input axis is the feature axis (one 1-D function per feature), the leading axes are anything you like.
All of them are differentiable (`jax.grad`, also for higher derivatives), `jax.jit`/`jax.vmap`-safe and
follow the dtype of their inputs (float32 or float64).

| function | basis | `n_basis` |
|---|---|---|
| `bspline(x, grid, order)` | B-splines of degree `order` on a knot vector (Cox–de Boor) | `grid.shape[-1] - order - 1` |
| `fourier(x, num_frequencies)` | $\cos(k\omega x), \sin(k\omega x)$, $k=1..K$ | `2 K` |
| `chebyshev(x, degree)` | Chebyshev $T_0..T_d$ | `degree + 1` |
| `legendre(x, degree)` | Legendre $P_0..P_d$ | `degree + 1` |
| `rbf(x, centers, width)` | Gaussian bumps $\exp(-((x-c_k)/h)^2)$ (FastKAN) | `centers.shape[-1]` |
| `rational(x, denominator, degree)` | $x^j / Q(x)$, $Q(x) = 1 + \lvert\sum_k q_k x^k\rvert$ (KAT) | `degree + 1` |

`bspline_knots` builds the (extended, uniform) knot vectors that `bspline` expects.
"""

from __future__ import annotations

import functools
from typing import Union

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validate import check_int, check_positive

__all__ = [
    "bspline",
    "bspline_knots",
    "chebyshev",
    "fourier",
    "legendre",
    "rational",
    "rbf",
]


def _float_array(x, name: str) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.ndim < 1:
        raise ValueError(f"{name} must have shape (..., n) with at least one axis, got a scalar")
    return x


_check_int = check_int


def bspline_knots(
    lo: Union[float, Float[ArrayLike, " n"]],
    hi: Union[float, Float[ArrayLike, " n"]],
    grid_size: int,
    order: int,
) -> Float[Array, "... grid_size+2*order+1"]:
    r"""Uniform extended knot vector(s) for `bspline`.

    The interval $[lo, hi]$ is cut into `grid_size` cells of width $h=(hi-lo)/G$ and extended by
    `order` cells on each side, giving knots $t_i = lo + (i - k) h$, $i = 0..G+2k$. On $[lo, hi]$ the
    $G+k$ B-splines of degree $k$ on these knots form a partition of unity.

    **Arguments:**

    - `lo`, `hi`: interval ends, scalars or arrays of shape `(n,)` (one interval per input feature).
    - `grid_size`: number of cells $G \ge 1$.
    - `order`: spline degree $k \ge 0$ (3 = cubic).

    **Returns:** knots of shape `(G + 2k + 1,)`, or `(n, G + 2k + 1)` for array ends.
    """
    _check_int(grid_size, "grid_size", 1)
    _check_int(order, "order", 0)
    lo = jnp.asarray(lo, dtype=jnp.result_type(float))
    hi = jnp.asarray(hi, dtype=lo.dtype)
    h = (hi - lo) / grid_size
    steps = jnp.arange(-order, grid_size + order + 1, dtype=lo.dtype)
    return lo[..., None] + steps * h[..., None]


def bspline(
    x: Float[ArrayLike, "... n"], grid: Float[ArrayLike, "*n m"], order: int
) -> Float[Array, "... n m-order-1"]:
    r"""B-spline basis of degree `order` by the Cox–de Boor recursion.

    $$B_{i,0}(x) = \mathbb 1[t_i \le x < t_{i+1}],\qquad
      B_{i,p}(x) = \frac{x - t_i}{t_{i+p} - t_i} B_{i,p-1}(x)
                 + \frac{t_{i+p+1} - x}{t_{i+p+1} - t_{i+1}} B_{i+1,p-1}(x).$$

    Terms with a zero-length denominator (repeated knots) are dropped, so non-uniform and clamped knot
    vectors work. Outside $[t_0, t_{m-1})$ every basis function is zero. The result is a piecewise
    polynomial in `x`; derivatives of any order come from the closed form
    $B'_{i,p} = p\,\big(B_{i,p-1}/(t_{i+p}-t_i) - B_{i+1,p-1}/(t_{i+p+1}-t_{i+1})\big)$ (a custom JVP,
    ~10x cheaper than differentiating the recursion; a cubic spline is $C^2$ at simple knots). The
    knots are treated as data and receive no gradient.

    **Arguments:**

    - `x`: inputs of shape `(..., n)`.
    - `grid`: knots of shape `(m,)` (shared by all `n` features) or `(n, m)` (one non-decreasing knot
      vector per feature), with `m >= order + 2`. See `bspline_knots`.
    - `order`: degree $k \ge 0$.

    **Returns:** basis values of shape `(..., n, m - order - 1)`.

    **References:** C. de Boor, *A Practical Guide to Splines*, Springer 1978.
    """
    _check_int(order, "order", 0)
    x = _float_array(x, "x")
    grid = jnp.asarray(grid)
    if grid.ndim not in (1, 2):
        raise ValueError(f"grid must have shape (m,) or (n, m), got shape {grid.shape}")
    if grid.ndim == 2 and grid.shape[0] != x.shape[-1]:
        raise ValueError(
            f"grid of shape {grid.shape} has one knot vector per feature, so x must have "
            f"{grid.shape[0]} features on its last axis; got x of shape {x.shape}"
        )
    if grid.shape[-1] < order + 2:
        raise ValueError(
            f"grid needs at least order + 2 = {order + 2} knots for order={order}, got {grid.shape[-1]}"
        )
    dtype = jnp.result_type(x.dtype, grid.dtype) if jnp.issubdtype(grid.dtype, jnp.floating) else x.dtype
    return _bspline(x.astype(dtype), jax.lax.stop_gradient(grid.astype(dtype)), order)


def _cox_de_boor_step(lower: Array, x: Array, t: Array, p: int) -> Array:
    """Degree-`p` B-splines from the degree-`p - 1` ones (one level of the recursion)."""
    xe = x[..., None]
    t_lo, t_hi = t[..., : -(p + 1)], t[..., p:-1]  # t_i, t_{i+p}
    s_lo, s_hi = t[..., 1:-p], t[..., p + 1 :]  # t_{i+1}, t_{i+p+1}
    # A zero-length support means the lower-degree function is identically zero: drop the term.
    inv_left = _safe_inverse(t_hi - t_lo)
    inv_right = _safe_inverse(s_hi - s_lo)
    return (xe - t_lo) * inv_left * lower[..., :-1] + (s_hi - xe) * inv_right * lower[..., 1:]


def _safe_inverse(d: Array) -> Array:
    return jnp.where(d == 0, 0, 1 / jnp.where(d == 0, 1, d))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _bspline(x: Array, t: Array, order: int) -> Array:
    xe = x[..., None]
    basis = jnp.logical_and(xe >= t[..., :-1], xe < t[..., 1:]).astype(x.dtype)
    for p in range(1, order + 1):
        basis = _cox_de_boor_step(basis, x, t, p)
    return basis


@_bspline.defjvp
def _bspline_jvp(order, primals, tangents):
    # d/dx B_{i,p} = p (B_{i,p-1} / (t_{i+p} - t_i) - B_{i+1,p-1} / (t_{i+p+1} - t_{i+1})).
    # Differentiating through the recursion instead costs ~10x the forward pass (slice transposes,
    # selects); this rule costs one lower-degree evaluation and nests for higher derivatives, because
    # the lower-degree call is itself `_bspline`. Knots are data (no tangent).
    x, t = primals
    dx, _ = tangents
    if order == 0:
        y = _bspline(x, t, 0)
        return y, jnp.zeros_like(y)
    lower = _bspline(x, t, order - 1)
    y = _cox_de_boor_step(lower, x, t, order)
    inv_left = _safe_inverse(t[..., order:-1] - t[..., : -(order + 1)])
    inv_right = _safe_inverse(t[..., order + 1 :] - t[..., 1:-order])
    dbasis = order * (lower[..., :-1] * inv_left - lower[..., 1:] * inv_right)
    return y, dbasis * dx[..., None]


def fourier(
    x: Float[ArrayLike, "... n"], num_frequencies: int, base_frequency: float = 1.0
) -> Float[Array, "... n 2*num_frequencies"]:
    r"""Truncated Fourier basis $[\cos(k\omega x)]_{k=1}^K \,\Vert\, [\sin(k\omega x)]_{k=1}^K$.

    The constant term is left out (a KAN layer has a bias). With `base_frequency` $\omega=\pi$ the
    lowest mode has period 2, the length of $[-1, 1]$.

    **Arguments:**

    - `x`: inputs of shape `(..., n)`.
    - `num_frequencies`: $K \ge 1$.
    - `base_frequency`: $\omega > 0$.

    **Returns:** shape `(..., n, 2K)`; cosines first, then sines.

    **References:** Mehrabian et al., "Implicit Neural Representations with Fourier
    Kolmogorov-Arnold Networks" (FKAN), 2024.
    """
    _check_int(num_frequencies, "num_frequencies", 1)
    check_positive(base_frequency, "base_frequency")
    x = _float_array(x, "x")
    k = jnp.arange(1, num_frequencies + 1, dtype=x.dtype) * base_frequency
    kx = x[..., None] * k
    return jnp.concatenate([jnp.cos(kx), jnp.sin(kx)], axis=-1)


def chebyshev(x: Float[ArrayLike, "... n"], degree: int) -> Float[Array, "... n degree+1"]:
    r"""Chebyshev polynomials of the first kind $T_0, \dots, T_d$ by the three-term recurrence.

    $T_0 = 1$, $T_1 = x$, $T_{j+1} = 2xT_j - T_{j-1}$; on $[-1, 1]$, $T_j(\cos\theta) = \cos(j\theta)$.
    The recurrence (not $\cos(j\arccos x)$) keeps derivatives finite at $\pm 1$. Map the input to
    $[-1, 1]$ first (`tanh`, or an affine range normalisation), as `ChebyshevBasis` does.

    **Arguments:**

    - `x`: inputs of shape `(..., n)`.
    - `degree`: highest degree $d \ge 0$.

    **Returns:** shape `(..., n, d + 1)`.

    **References:** SS et al., "Chebyshev Polynomial-Based Kolmogorov-Arnold Networks", 2024.
    """
    _check_int(degree, "degree", 0)
    x = _float_array(x, "x")
    polys = [jnp.ones_like(x)]
    if degree >= 1:
        polys.append(x)
    for _ in range(1, degree):
        polys.append(2 * x * polys[-1] - polys[-2])
    return jnp.stack(polys, axis=-1)


def legendre(x: Float[ArrayLike, "... n"], degree: int) -> Float[Array, "... n degree+1"]:
    r"""Legendre polynomials $P_0, \dots, P_d$ by Bonnet's recurrence.

    $P_0 = 1$, $P_1 = x$, $(j+1)P_{j+1} = (2j+1)xP_j - jP_{j-1}$; orthogonal on $[-1, 1]$ with
    $\int_{-1}^1 P_i P_j\,dx = \frac{2}{2i+1}\delta_{ij}$.

    **Arguments:**

    - `x`: inputs of shape `(..., n)` (map them to $[-1, 1]$ first).
    - `degree`: highest degree $d \ge 0$.

    **Returns:** shape `(..., n, d + 1)`.

    **References:** "Solving the fully nonlinear Monge-Ampère equation using the
    Legendre-Kolmogorov-Arnold Network method", 2024.
    """
    _check_int(degree, "degree", 0)
    x = _float_array(x, "x")
    polys = [jnp.ones_like(x)]
    if degree >= 1:
        polys.append(x)
    for j in range(1, degree):
        polys.append(((2 * j + 1) * x * polys[-1] - j * polys[-2]) / (j + 1))
    return jnp.stack(polys, axis=-1)


def rbf(
    x: Float[ArrayLike, "... n"],
    centers: Float[ArrayLike, "*n k"],
    width: Union[float, Float[ArrayLike, "*n"]],
) -> Float[Array, "... n k"]:
    r"""Gaussian radial basis $\exp\!\big(-((x - c_k)/h)^2\big)$, the FastKAN stand-in for B-splines.

    **Arguments:**

    - `x`: inputs of shape `(..., n)`.
    - `centers`: shape `(k,)` (shared) or `(n, k)` (per feature).
    - `width`: $h > 0$, a scalar or shape `(n,)`.

    **Returns:** shape `(..., n, k)`.

    **References:** Z. Li, "Kolmogorov-Arnold Networks are Radial Basis Function Networks", 2024.
    """
    x = _float_array(x, "x")
    centers = jnp.asarray(centers, dtype=x.dtype)
    if centers.ndim not in (1, 2) or (centers.ndim == 2 and centers.shape[0] != x.shape[-1]):
        raise ValueError(
            f"centers must have shape (k,) or (n, k) with n = x.shape[-1] = {x.shape[-1]}, "
            f"got {centers.shape}"
        )
    width = jnp.asarray(width, dtype=x.dtype)
    if width.ndim > 1 or (width.ndim == 1 and width.shape[0] != x.shape[-1]):
        raise ValueError(f"width must be a scalar or of shape ({x.shape[-1]},), got {width.shape}")
    if width.ndim == 1:
        width = width[:, None]
    return jnp.exp(-(((x[..., None] - centers) / width) ** 2))


def rational(
    x: Float[ArrayLike, "... n"], denominator: Float[ArrayLike, "*n q"], degree: int
) -> Float[Array, "... n degree+1"]:
    r"""Rational basis $x^j / Q(x)$, $j = 0..m$, with the safe denominator $Q(x) = 1 + |\sum_{k=1}^{q} b_k x^k|$.

    A rational activation $P(x)/Q(x) = \sum_j a_j x^j / Q(x)$ is a linear combination of these
    functions, so a KAN layer contracts them with its per-edge numerator coefficients $a$ while the
    denominator coefficients $b$ are shared (per group of inputs, as in GR-KAN). $Q \ge 1$, so the
    basis has no poles.

    **Arguments:**

    - `x`: inputs of shape `(..., n)`.
    - `denominator`: $b_1..b_q$, shape `(q,)` (shared) or `(n, q)` (per feature).
    - `degree`: numerator degree $m \ge 0$.

    **Returns:** shape `(..., n, m + 1)`.

    **References:** Yang & Wang, "Kolmogorov-Arnold Transformer", 2024; Molina et al., "Padé
    Activation Units", ICLR 2020 (the safe denominator).
    """
    _check_int(degree, "degree", 0)
    x = _float_array(x, "x")
    b = jnp.asarray(denominator, dtype=x.dtype)
    if b.ndim not in (1, 2) or (b.ndim == 2 and b.shape[0] != x.shape[-1]):
        raise ValueError(
            f"denominator must have shape (q,) or (n, q) with n = x.shape[-1] = {x.shape[-1]}, "
            f"got {b.shape}"
        )
    # Horner for the denominator polynomial, then x^j / Q by repeated products (not `x ** j`: exact
    # for negative x, finite derivatives at 0). Note: the tempting `stack(powers) / (1 + |sum(b *
    # stack(powers)[..., 1:])|)` is miscompiled by XLA:CPU (jax 0.10.2) for per-feature `b` under jit.
    poly = jnp.zeros_like(x)
    for k in range(b.shape[-1] - 1, -1, -1):
        poly = (poly + b[..., k]) * x
    terms = [1 / (1 + jnp.abs(poly))]
    for _ in range(degree):
        terms.append(terms[-1] * x)
    return jnp.stack(terms, axis=-1)
