r"""Discrete data under continuous densities: uniform dequantisation and bits per dimension.

Images with $K$ grey levels $v\in\{0,\dots,K-1\}^D$ are mapped to the continuous
$x=\mathrm{lo}+(\mathrm{hi}-\mathrm{lo})\,(v+u)/K$ with $u\sim U[0,1)^D$ (uniform dequantisation): $x$ lies in
the cell $C_v$ of side $\Delta=(\mathrm{hi}-\mathrm{lo})/K$. A density $p$ on $x$ defines the discrete model
$P(v)=\int_{C_v}p(x)\,dx$, and Jensen's inequality gives
$$-\log_2 P(v)\le-\mathbb E_u\big[\log_2 p(x)\big]-D\log_2\Delta,$$
so the bits per dimension
$$\mathrm{bpd}=\frac{-\mathbb E_u[\ln p(x)]}{D\ln2}-\log_2\Delta$$
is an upper bound on the discrete code length per dimension. For 17 grey levels on $[-1,1]$,
$\Delta=2/17$ and $-\log_2\Delta=\log_2 8.5\approx3.087$; the uniform model scores $\log_2 17\approx4.087$.

**References:** L. Theis, A. van den Oord, M. Bethge, "A note on the evaluation of generative models"
(ICLR 2016); B. Uria, I. Murray, H. Larochelle, "RNADE" (NeurIPS 2013).
"""

import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray


def _check_levels(levels) -> None:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise ValueError(f"levels must be an integer >= 2, got {levels!r}")


def _check_range(data_range) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in data_range)
    except (TypeError, ValueError):
        raise ValueError(f"data_range must be a pair (lo, hi), got {data_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"data_range must satisfy lo < hi (finite), got {data_range!r}")
    return lo, hi


def dequantize(
    v: Int[ArrayLike, "*shape"],
    levels: int,
    *,
    key: PRNGKeyArray,
    data_range: tuple[float, float] = (-1.0, 1.0),
    dtype=None,
) -> Float[Array, "*shape"]:
    r"""Uniformly dequantise grey levels: $x=\mathrm{lo}+(\mathrm{hi}-\mathrm{lo})(v+u)/K$, $u\sim U[0,1)$.

    **Arguments:**

    - `v`: integer levels in $\{0,\dots,K-1\}$, any shape.
    - `levels`: the number $K$ of levels (17 for scikit-learn's 8x8 digits, 256 for 8-bit images).
    - `key`: PRNG key for $u$ (keyword-only).
    - `data_range`: the continuous range `(lo, hi)`.
    - `dtype`: float dtype of the result (default: JAX's default float).

    **Returns:** $x$ in $[\mathrm{lo},\mathrm{hi})$, shaped like `v`.
    """
    _check_levels(levels)
    lo, hi = _check_range(data_range)
    v = jnp.asarray(v)
    dtype = dtype or jnp.result_type(float)
    u = jr.uniform(key, v.shape, dtype=dtype)
    return lo + (hi - lo) * (v.astype(dtype) + u) / levels


def bits_per_dim(
    log_prob: Float[ArrayLike, "*n"],
    dim: int,
    levels: int,
    data_range: tuple[float, float] = (-1.0, 1.0),
) -> Float[Array, ""]:
    r"""Bits per dimension of discrete data from continuous log-densities of its dequantised values.

    $$\mathrm{bpd}=-\frac{\overline{\ln p(x)}}{D\ln 2}-\log_2\Delta,\qquad \Delta=\frac{\mathrm{hi}-\mathrm{lo}}{K},$$
    with $\overline{\ln p(x)}$ the mean of `log_prob` (natural log, e.g. from
    [`log_likelihood`][jaxrep.interpolants.log_likelihood] on uniformly dequantised data, see
    [`dequantize`][jaxrep.interpolants.dequantize]). It upper-bounds the discrete model's code length
    $-\mathbb E\log_2P(v)/D$ (see the module docstring).

    **Arguments:**

    - `log_prob`: $\ln p(x)$ per sample (any shape; averaged).
    - `dim`: the data dimension $D$ (e.g. 64 for 8x8 images).
    - `levels`: the number $K$ of discrete levels.
    - `data_range`: the continuous range `(lo, hi)` the levels were mapped to.

    **Returns:** a scalar (bits).
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    _check_levels(levels)
    lo, hi = _check_range(data_range)
    log_delta = math.log((hi - lo) / levels)
    return -jnp.mean(jnp.asarray(log_prob)) / (dim * math.log(2.0)) - log_delta / math.log(2.0)
