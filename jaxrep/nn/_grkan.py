r"""Group-rational KAN (GR-KAN) and the Kolmogorov–Arnold Transformer block (KAT).

KAT replaces the two-layer MLP of a transformer block by two GR-KAN layers. A GR-KAN layer is a
learnable elementwise rational activation followed by a linear map,

$$\mathrm{GRKAN}(x) = W\,F(x) + c,\qquad F(x)_i = F_{\lfloor i/d_g\rfloor}(x_i),\qquad
F_g(x) = \frac{P_g(x)}{Q_g(x)} = \frac{a_{g0} + a_{g1}x + \dots + a_{gm}x^m}{1 + |b_{g1}x + \dots + b_{gn}x^n|},$$

with the $d$ input channels split into $g$ contiguous groups of $d_g = d/g$ channels that share one
rational function (KAT: $m = 5$, $n = 4$, $g = 8$). The "safe" denominator $Q_g \ge 1$ has no poles.
Compared with a KAN layer, whose every edge $(i, j)$ carries its own function $\phi_{ij}$, the edge
function of GR-KAN is $\phi_{ij}(x) = w_{ji}F_{\lfloor i/d_g\rfloor}(x)$: the $d_\text{in}d_\text{out}$
weights are those of a linear layer and the activation adds only $g(m + n + 1)$ parameters.

**Initialisation (KAT's variance-preserving scheme).** The rational coefficients are fitted to an
activation — identity ($a = e_1$, $b = 0$ exactly), GELU or SiLU — and the weights are drawn as
$w_{ji} \sim \mathcal N\big(0, 1 / (d_\text{in}\,\mathbb E_{x\sim\mathcal N(0,1)}[F(x)^2])\big)$, so
that for unit-Gaussian inputs $\operatorname{Var}_{w,x}[y_j] = d_\text{in}\operatorname{Var}[w]\,
\mathbb E[F(x)^2] = 1$ (the moment is computed by Gauss–Hermite quadrature). KAT uses `identity` for
the first GR-KAN of a block and `gelu` for the second, so a fresh KAT block computes what a GELU MLP
block with the same weights computes, up to the rational fit error.

**The fit.** KAT fits $P/Q$ by least squares on $[-3, 3]$. That linearised fit (`_fit_rational`) is
accurate there but can turn away from the target just outside (for GELU with $(m, n) = (5, 4)$: 4.1 at
$x = 4$, $-1.9$ at $x = 6$), where pre-activations of a transformer still land. Here it is the starting
point of a Levenberg–Marquardt fit of the safe form itself on $[-5, 5]$: max error
$2.7\cdot10^{-3}$ on $[-3, 3]$ and $3.8\cdot10^{-3}$ on $[-5, 5]$ for GELU, $2\cdot10^{-5}$ and
$6\cdot10^{-5}$ for SiLU (default degrees, float64).

KAT's released code differs from the paper in two details, and here we follow the paper: its `KAT_Group`
shares one numerator across all groups (only denominators are per group), and its Triton kernel evaluates
$Q = 1 + \sum_k |b_k||x|^k$. Here every group has its own numerator and denominator, and
$Q = 1 + |\sum_k b_k x^k|$.

**References:** Yang & Wang, "Kolmogorov-Arnold Transformer", ICLR 2025 (arXiv:2409.10594); Molina et
al., "Padé Activation Units", ICLR 2020 (the safe denominator).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._checks import check_positive_int, check_vector
from ._kan_basis import _fit_rational, _silu_np

__all__ = ["GRKAN", "GroupRational", "KATBlock", "TransformerBlock", "group_rational"]

_INITS = ("identity", "gelu", "silu")


def _gelu_np(x):
    from scipy.special import erf

    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


_FIT_RANGE = 5.0


@functools.cache
def _fitted(init: str, numerator_degree: int, denominator_degree: int) -> tuple[tuple, tuple]:
    """Coefficients of the safe rational fitted to GELU/SiLU (cached: every layer of a model reuses them)."""
    from scipy.optimize import least_squares

    fn = _gelu_np if init == "gelu" else _silu_np
    a0, b0 = _fit_rational(fn, numerator_degree, denominator_degree)  # linearised fit of P/(1 + poly) on [-3, 3]
    xs = np.linspace(-_FIT_RANGE, _FIT_RANGE, 2001)
    target = fn(xs)
    m = numerator_degree

    def residual(c):
        return _safe_rational_np(xs, c[: m + 1], c[m + 1 :]) - target

    start = np.concatenate([a0, b0])
    best = start
    if denominator_degree > 0:
        # Refine the *safe* form on [-5, 5] (Levenberg–Marquardt): the [-3, 3] fit alone can turn away
        # from GELU just outside the interval (4.1 at x = 4, -1.9 at x = 6), where pre-activations of a
        # transformer still land.
        refined = least_squares(residual, start, method="lm", xtol=1e-14, ftol=1e-14, max_nfev=20000).x
        if np.max(np.abs(residual(refined))) < np.max(np.abs(residual(start))):
            best = refined
    return tuple(best[: m + 1]), tuple(best[m + 1 :])


def _safe_rational_np(x, a, b):
    return np.polynomial.polynomial.polyval(x, a) / (1 + np.abs(np.polynomial.polynomial.polyval(x, np.r_[0.0, b])))


def _init_coefficients(init: str, numerator_degree: int, denominator_degree: int):
    """Numerator $a_0..a_m$ and denominator $b_1..b_n$ (float64 numpy) of the rational fitted to `init`."""
    if init == "identity":
        a = np.zeros(numerator_degree + 1)
        a[1] = 1.0
        return a, np.zeros(denominator_degree)
    a, b = _fitted(init, numerator_degree, denominator_degree)
    return np.asarray(a), np.asarray(b)


def _check_init(init, name: str = "init") -> str:
    if not isinstance(init, str) or init not in _INITS:
        raise ValueError(f"{name} must be one of 'identity', 'gelu', 'silu', got {init!r}")
    return init


def _check_groups(groups, features: int, features_name: str) -> None:
    check_positive_int(groups, "groups")
    if features % groups:
        raise ValueError(f"groups={groups} must divide {features_name}={features}")


def _hermite_second_moment(a: np.ndarray, b: np.ndarray) -> float:
    r"""$\mathbb E_{x\sim\mathcal N(0,1)}[(P(x)/Q(x))^2]$ by 64-point Gauss–Hermite quadrature (float64)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(64)
    weights = weights / weights.sum()
    return float(weights @ _safe_rational_np(nodes, a, b) ** 2)


def group_rational(
    x: Float[ArrayLike, "... features"],
    numerator: Float[ArrayLike, "groups m+1"],
    denominator: Float[ArrayLike, "groups n"],
) -> Float[Array, "... features"]:
    r"""The group-wise rational activation $F(x)_i = P_{g(i)}(x_i) / (1 + |\sum_{k=1}^n b_{g(i)k}x_i^k|)$.

    Channel $i$ of the last axis belongs to group $g(i) = \lfloor i / d_g\rfloor$, $d_g =$
    `features / groups` (contiguous groups, as in KAT). Both polynomials are evaluated by Horner's rule
    with the group's coefficients broadcast over its channels (no per-channel copy of the coefficients),
    and the derivative is a closed-form JVP (exact, nests for higher derivatives, forward and reverse
    mode; $d|u|/du = 1$ at $u = 0$). A pure function: any leading axes, jit/vmap/grad.

    **Arguments:**

    - `x`: inputs of shape `(..., features)`.
    - `numerator`: $a_{g0}..a_{gm}$, shape `(groups, m + 1)`.
    - `denominator`: $b_{g1}..b_{gn}$, shape `(groups, n)` ($n = 0$: a polynomial activation).

    **Returns:** $F(x)$, the shape of `x`.
    """
    x = jnp.asarray(x)
    a = jnp.asarray(numerator, x.dtype)
    b = jnp.asarray(denominator, x.dtype)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0] or a.shape[1] < 1:
        raise ValueError(f"numerator and denominator must have shapes (groups, m + 1) and (groups, n), "
                         f"got {a.shape} and {b.shape}")
    groups = a.shape[0]
    if x.ndim < 1 or x.shape[-1] % groups:
        raise ValueError(f"x must have a last axis divisible by groups={groups}, got shape {x.shape}")
    return _rational(x, a, b)


def _horner(xs, a, b):
    r"""$P$, $P'$, $u = \sum_k b_kx^k$ and $u'$ at grouped inputs `xs` `(..., groups, d_g)` (Horner)."""
    m, n = a.shape[1] - 1, b.shape[1]
    p, dp = jnp.broadcast_to(a[:, m : m + 1], xs.shape), jnp.zeros_like(xs)
    for j in range(m - 1, -1, -1):
        dp = dp * xs + p
        p = p * xs + a[:, j : j + 1]
    u, du = jnp.zeros_like(xs), jnp.zeros_like(xs)
    for k in range(n - 1, -1, -1):  # u = ((b_n x + b_{n-1}) x + ... + b_1) x
        u = (u + b[:, k : k + 1]) * xs
        du = du * xs + (k + 1) * b[:, k : k + 1]
    return p, dp, u, du


@jax.custom_jvp
def _rational(x, a, b):
    xs = x.reshape(*x.shape[:-1], a.shape[0], x.shape[-1] // a.shape[0])
    p, _, u, _ = _horner(xs, a, b)
    return (p / (1 + jnp.abs(u))).reshape(x.shape)


@_rational.defjvp
def _rational_jvp(primals, tangents):
    # Closed-form tangent, linear in (dx, da, db): with s = sign(u) (+1 at u = 0, so a denominator
    # started at b = 0 still trains),
    #   dF = (dP + P' dx)/Q - F s (du + u' dx)/Q,  dP = sum_j da_j x^j,  du = sum_k db_k x^k.
    # Reverse mode transposes it (the coefficient cotangents become sums over the batch); the rule
    # is itself differentiable, so Hessians and forward-over-reverse work. Autodiff of the Horner
    # chain gives the same numbers, but inside a transformer block XLA:CPU compiled its backward
    # ~5x slower than this (block step 83 ms vs 35 ms, measured).
    x, a, b = primals
    tx, ta, tb = tangents
    m, n = a.shape[1] - 1, b.shape[1]
    xs = x.reshape(*x.shape[:-1], a.shape[0], x.shape[-1] // a.shape[0])
    p, dp, u, du = _horner(xs, a, b)
    r = 1 / (1 + jnp.abs(u))
    f = p * r
    txs = tx.reshape(xs.shape)
    tp = jnp.broadcast_to(ta[:, m : m + 1], xs.shape)
    for j in range(m - 1, -1, -1):
        tp = tp * xs + ta[:, j : j + 1]
    tu = jnp.zeros_like(xs)
    for k in range(n - 1, -1, -1):
        tu = (tu + tb[:, k : k + 1]) * xs
    sign = jnp.where(u >= 0, 1, -1).astype(xs.dtype)
    out = r * (tp + dp * txs) - f * r * sign * (tu + du * txs)
    return f.reshape(x.shape), out.reshape(x.shape)




class GroupRational(eqx.Module):
    r"""Learnable group-rational activation of GR-KAN, applied elementwise to one sample.

    $F(x)_i = P_{g(i)}(x_i)/Q_{g(i)}(x_i)$ with $P_g(x) = \sum_{j=0}^m a_{gj}x^j$ and the safe denominator
    $Q_g(x) = 1 + |\sum_{k=1}^n b_{gk}x^k| \ge 1$; the `features` channels form `groups` contiguous
    groups that share one rational each (see `group_rational`). Acts on **one sample** of shape
    `(features,)`; batch with `jax.vmap`.

    **Arguments:**

    - `features`: number of channels; `groups`: number of groups (must divide `features`).
    - `numerator_degree` $m \ge 1$, `denominator_degree` $n \ge 0$ (KAT: 5 and 4).
    - `init`: the function every group starts as: `"identity"` (exact), `"gelu"` (exact erf GELU) or
      `"silu"` (least-squares fits of the safe form on $[-5, 5]$; with the default degrees the maximum
      error on $[-3, 3]$ is $2.7\cdot10^{-3}$ for GELU and $2\cdot10^{-5}$ for SiLU).
    - `numerator`, `denominator`: explicit coefficients of shapes `(groups, m + 1)` and `(groups, n)`
      instead of `init`.

    No randomness: the initialisation is deterministic, so there is no `key`.

    **References:** Yang & Wang, "Kolmogorov-Arnold Transformer", ICLR 2025.
    """

    numerator: Float[Array, "groups m+1"]
    denominator: Float[Array, "groups n"]
    features: int = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    def __init__(
        self,
        features: int,
        groups: int = 8,
        numerator_degree: int = 5,
        denominator_degree: int = 4,
        init: str = "gelu",
        *,
        numerator: Float[ArrayLike, "groups m+1"] | None = None,
        denominator: Float[ArrayLike, "groups n"] | None = None,
        dtype=None,
    ):
        check_positive_int(features, "features")
        _check_groups(groups, features, "features")
        check_positive_int(numerator_degree, "numerator_degree", minimum=1)
        check_positive_int(denominator_degree, "denominator_degree", minimum=0)
        _check_init(init)
        dtype = dtype or jnp.result_type(float)
        if numerator is None or denominator is None:
            a, b = _init_coefficients(init, numerator_degree, denominator_degree)
            numerator = np.tile(a, (groups, 1)) if numerator is None else numerator
            denominator = np.tile(b, (groups, 1)) if denominator is None else denominator
        numerator, denominator = jnp.asarray(numerator, dtype), jnp.asarray(denominator, dtype)
        if numerator.shape != (groups, numerator_degree + 1):
            raise ValueError(f"numerator must have shape ({groups}, {numerator_degree + 1}), got {numerator.shape}")
        if denominator.shape != (groups, denominator_degree):
            raise ValueError(f"denominator must have shape ({groups}, {denominator_degree}), got {denominator.shape}")
        self.numerator = numerator
        self.denominator = denominator
        self.features = features
        self.groups = groups

    @property
    def numerator_degree(self) -> int:
        return self.numerator.shape[1] - 1

    @property
    def denominator_degree(self) -> int:
        return self.denominator.shape[1]

    def __call__(self, x: Float[Array, " features"]) -> Float[Array, " features"]:
        check_vector(x, self.features, "x", "GroupRational")
        return group_rational(x, self.numerator, self.denominator)

    def denominator_value(self, x: Float[Array, " features"]) -> Float[Array, " features"]:
        r"""$Q_{g(i)}(x_i) = 1 + |\sum_k b_{g(i)k}x_i^k|$ for one sample (always $\ge 1$)."""
        check_vector(x, self.features, "x", "GroupRational")
        xs = jnp.asarray(x).reshape(self.groups, self.features // self.groups)
        _, _, u, _ = _horner(xs, self.numerator.astype(xs.dtype), self.denominator.astype(xs.dtype))
        return (1 + jnp.abs(u)).reshape(-1)

    def second_moment(self) -> Float[Array, " groups"]:
        r"""$\mathbb E_{x\sim\mathcal N(0,1)}[F_g(x)^2]$ per group (64-point Gauss–Hermite quadrature)."""
        nodes, weights = np.polynomial.hermite_e.hermegauss(64)
        dtype = self.numerator.dtype
        xs = jnp.broadcast_to(jnp.asarray(nodes, dtype)[:, None], (64, self.groups))
        f = group_rational(xs, self.numerator, self.denominator)
        return jnp.asarray(weights / weights.sum(), dtype) @ f**2


class GRKAN(eqx.Module):
    r"""Group-rational KAN layer $y = W F(x) + c$: a `GroupRational` activation, then a linear map.

    Edge $(i, j)$ carries $\phi_{ij}(x) = w_{ji}F_{g(i)}(x)$; $W \in \mathbb R^{d_\text{out}\times
    d_\text{in}}$, $c \in \mathbb R^{d_\text{out}}$ (zeros at initialisation). Variance-preserving
    initialisation (KAT): $w_{ji} \sim \mathcal N(0, 1/(d_\text{in}\,\mathbb E[F(x)^2]))$ with the moment
    of the initial rational under $x \sim \mathcal N(0, 1)$, so that unit-Gaussian inputs give outputs of
    unit variance (over weights and inputs). Acts on **one sample** of shape `(in_features,)`; batch
    with `jax.vmap`.

    **Arguments:**

    - `in_features`, `out_features`: widths.
    - `groups`: rational groups (must divide `in_features`; KAT: 8).
    - `numerator_degree`, `denominator_degree`: $m \ge 1$, $n \ge 0$ (KAT: 5, 4).
    - `init`: `"identity"`, `"gelu"` or `"silu"` (see `GroupRational`).
    - `use_bias`: add $c$.
    - `key`: PRNG key for $W$ (keyword-only).

    **References:** Yang & Wang, "Kolmogorov-Arnold Transformer", ICLR 2025.
    """

    rational: GroupRational
    weight: Float[Array, "out_features in_features"]
    bias: Float[Array, " out_features"] | None
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        groups: int = 8,
        numerator_degree: int = 5,
        denominator_degree: int = 4,
        init: str = "gelu",
        use_bias: bool = True,
        *,
        key: PRNGKeyArray,
        dtype=None,
    ):
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        _check_groups(groups, in_features, "in_features")
        check_positive_int(numerator_degree, "numerator_degree", minimum=1)
        check_positive_int(denominator_degree, "denominator_degree", minimum=0)
        _check_init(init)
        dtype = dtype or jnp.result_type(float)
        a, b = _init_coefficients(init, numerator_degree, denominator_degree)
        self.rational = GroupRational(in_features, groups, numerator_degree, denominator_degree, init,
                                      numerator=np.tile(a, (groups, 1)), denominator=np.tile(b, (groups, 1)),
                                      dtype=dtype)
        std = 1 / math.sqrt(in_features * max(_hermite_second_moment(a, b), 1e-12))
        self.weight = std * jr.normal(key, (out_features, in_features), dtype)
        self.bias = jnp.zeros((out_features,), dtype) if use_bias else None
        self.in_features = in_features
        self.out_features = out_features

    def __call__(self, x: Float[Array, " in_features"]) -> Float[Array, " out_features"]:
        check_vector(x, self.in_features, "x", "GRKAN")
        y = self.weight @ group_rational(x, self.rational.numerator, self.rational.denominator)
        return y if self.bias is None else y + self.bias

    def _rows(self, x: Float[Array, "rows in_features"]) -> Float[Array, "rows out_features"]:
        # The layer on every row of a matrix as one `F(X) W^T` (used by KATBlock on its tokens).
        y = group_rational(x, self.rational.numerator, self.rational.denominator) @ self.weight.T
        return y if self.bias is None else y + self.bias


def _attention(dim: int, num_heads: int, key) -> eqx.nn.MultiheadAttention:
    return eqx.nn.MultiheadAttention(num_heads, dim, use_query_bias=True, use_key_bias=True,
                                     use_value_bias=True, use_output_bias=True, key=key)


def _check_block_args(dim, num_heads, mlp_ratio) -> int:
    check_positive_int(dim, "dim")
    check_positive_int(num_heads, "num_heads")
    if dim % num_heads:
        raise ValueError(f"num_heads={num_heads} must divide dim={dim}")
    if isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, (int, float)) or not mlp_ratio > 0:
        raise ValueError(f"mlp_ratio must be a positive number, got {mlp_ratio!r}")
    hidden = round(dim * mlp_ratio)
    if hidden < 1:
        raise ValueError(f"mlp_ratio={mlp_ratio} gives no hidden channels for dim={dim}")
    return hidden


def _check_tokens(x, dim: int, owner: str) -> None:
    shape = jnp.shape(x)
    if len(shape) != 2 or shape[1] != dim:
        hint = " (for batches use jax.vmap)" if len(shape) == 3 and shape[-1] == dim else ""
        raise ValueError(f"{owner} expects x of shape (num_tokens, {dim}) for one sequence, got shape {shape}{hint}")


class KATBlock(eqx.Module):
    r"""Kolmogorov–Arnold Transformer block: a pre-norm transformer block whose MLP is two GR-KAN layers.

    $$x' = x + \mathrm{MHSA}(\mathrm{LN}_1(x)),\qquad
    y = x' + \mathrm{GRKAN}_2(\mathrm{GRKAN}_1(\mathrm{LN}_2(x')))$$

    applied to the tokens of one sequence; $\mathrm{GRKAN}_1: d \to h$, $\mathrm{GRKAN}_2: h \to d$,
    $h = $ `round(mlp_ratio * dim)`. With KAT's `init=("identity", "gelu")` the block starts as
    $x' + W_2\,\mathrm{GELU}(W_1\mathrm{LN}_2(x') + c_1) + c_2$ up to the rational fit error, i.e. as the
    `TransformerBlock` built from the same `key`. No positional encoding: the block is equivariant under
    permutations of the tokens. Acts on **one sequence** of shape `(num_tokens, dim)`; batch with
    `jax.vmap`.

    **Arguments:**

    - `dim`: token width; `num_heads`: attention heads (must divide `dim`).
    - `mlp_ratio`: hidden width $h$ over `dim` (default 4).
    - `groups`: rational groups of each GR-KAN (must divide `dim` and $h$).
    - `numerator_degree`, `denominator_degree`: of the rationals (KAT: 5, 4).
    - `init`: the initial activations of the two GR-KAN layers (default KAT's `("identity", "gelu")`).
    - `key`: PRNG key (keyword-only).

    **References:** Yang & Wang, "Kolmogorov-Arnold Transformer", ICLR 2025.
    """

    norm1: eqx.nn.LayerNorm
    attn: eqx.nn.MultiheadAttention
    norm2: eqx.nn.LayerNorm
    kan1: GRKAN
    kan2: GRKAN
    dim: int = eqx.field(static=True)
    hidden: int = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        groups: int = 8,
        numerator_degree: int = 5,
        denominator_degree: int = 4,
        init: Sequence[str] = ("identity", "gelu"),
        *,
        key: PRNGKeyArray,
    ):
        hidden = _check_block_args(dim, num_heads, mlp_ratio)
        _check_groups(groups, dim, "dim")
        _check_groups(groups, hidden, "the hidden width (mlp_ratio * dim)")
        if isinstance(init, str) or len(init) != 2:
            raise ValueError(f"init must be a pair of 'identity'/'gelu'/'silu' (one per GR-KAN layer), got {init!r}")
        _check_init(init[0], "init[0]")
        _check_init(init[1], "init[1]")
        k_attn, k1, k2 = jr.split(key, 3)
        self.norm1 = eqx.nn.LayerNorm(dim)
        self.attn = _attention(dim, num_heads, k_attn)
        self.norm2 = eqx.nn.LayerNorm(dim)
        self.kan1 = GRKAN(dim, hidden, groups, numerator_degree, denominator_degree, init[0], key=k1)
        self.kan2 = GRKAN(hidden, dim, groups, numerator_degree, denominator_degree, init[1], key=k2)
        self.dim = dim
        self.hidden = hidden

    def __call__(self, x: Float[Array, "num_tokens dim"]) -> Float[Array, "num_tokens dim"]:
        _check_tokens(x, self.dim, "KATBlock")
        h = jax.vmap(self.norm1)(x)
        x = x + self.attn(h, h, h)
        h = jax.vmap(self.norm2)(x)
        return x + self.kan2._rows(self.kan1._rows(h))


class TransformerBlock(eqx.Module):
    r"""The standard pre-norm transformer block with a GELU MLP, the baseline of `KATBlock`.

    $$x' = x + \mathrm{MHSA}(\mathrm{LN}_1(x)),\qquad
    y = x' + W_2\,\mathrm{GELU}(W_1\mathrm{LN}_2(x') + c_1) + c_2,$$

    with the exact (erf) GELU. Same shapes, attention and normalisation as `KATBlock`, and the same
    weight initialisation drawn from the same `key` ($W_1 \sim \mathcal N(0, 1/d)$,
    $W_2 \sim \mathcal N(0, 1/(h\,\mathbb E[\mathrm{GELU}(x)^2]))$, zero biases): the two blocks differ only
    in the learnable activations (and KAT's $2g(m + n + 1)$ rational coefficients). Acts on **one
    sequence** of shape `(num_tokens, dim)`; batch with `jax.vmap`.

    **Arguments:** `dim`, `num_heads`, `mlp_ratio` as for `KATBlock`; `key` (keyword-only).
    """

    norm1: eqx.nn.LayerNorm
    attn: eqx.nn.MultiheadAttention
    norm2: eqx.nn.LayerNorm
    fc1: eqx.nn.Linear
    fc2: eqx.nn.Linear
    dim: int = eqx.field(static=True)
    hidden: int = eqx.field(static=True)

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, *, key: PRNGKeyArray):
        hidden = _check_block_args(dim, num_heads, mlp_ratio)
        k_attn, k1, k2 = jr.split(key, 3)
        dtype = jnp.result_type(float)
        self.norm1 = eqx.nn.LayerNorm(dim)
        self.attn = _attention(dim, num_heads, k_attn)
        self.norm2 = eqx.nn.LayerNorm(dim)
        nodes, weights = np.polynomial.hermite_e.hermegauss(64)
        gelu_moment = float((weights / weights.sum()) @ _gelu_np(nodes) ** 2)
        fc1 = eqx.nn.Linear(dim, hidden, key=k1)
        fc2 = eqx.nn.Linear(hidden, dim, key=k2)
        w1 = jr.normal(k1, (hidden, dim), dtype) / math.sqrt(dim)
        w2 = jr.normal(k2, (dim, hidden), dtype) / math.sqrt(hidden * gelu_moment)
        self.fc1 = eqx.tree_at(lambda l: (l.weight, l.bias), fc1, (w1, jnp.zeros((hidden,), dtype)))
        self.fc2 = eqx.tree_at(lambda l: (l.weight, l.bias), fc2, (w2, jnp.zeros((dim,), dtype)))
        self.dim = dim
        self.hidden = hidden

    def __call__(self, x: Float[Array, "num_tokens dim"]) -> Float[Array, "num_tokens dim"]:
        _check_tokens(x, self.dim, "TransformerBlock")
        h = jax.vmap(self.norm1)(x)
        x = x + self.attn(h, h, h)
        h = jax.vmap(self.norm2)(x)
        return x + jax.vmap(lambda t: self.fc2(jax.nn.gelu(self.fc1(t), approximate=False)))(h)
