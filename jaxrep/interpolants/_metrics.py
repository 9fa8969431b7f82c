r"""Sample-quality metrics: multi-scale RBF MMD, exact $W_2$ for small samples, negative log-likelihood."""

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


def _check_pair(x, y, fn):
    if jnp.ndim(x) != 2 or jnp.ndim(y) != 2 or jnp.shape(x)[1] != jnp.shape(y)[1]:
        raise ValueError(f"{fn} expects x (n, d) and y (m, d) with the same d, got {jnp.shape(x)} and {jnp.shape(y)}")


def mmd(
    x: Float[Array, "n d"],
    y: Float[Array, "m d"],
    bandwidths: Sequence[float] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
) -> Float[Array, ""]:
    r"""Unbiased squared maximum mean discrepancy with a sum of RBF kernels.

    $k(a,b)=\sum_h\exp(-|a-b|^2/(2h^2))$ and
    $\widehat{\mathrm{MMD}}^2=\frac{1}{n(n-1)}\sum_{i\ne j}k(x_i,x_j)+\frac{1}{m(m-1)}\sum_{i\ne j}k(y_i,y_j)
    -\frac{2}{nm}\sum_{i,j}k(x_i,y_j)$; zero in expectation iff the laws agree.

    **Arguments:** samples `x` `(n, d)`, `y` `(m, d)` (n, m >= 2); `bandwidths` $h$.

    **Returns:** a scalar (may be slightly negative by sampling noise).

    **References:** Gretton et al., "A Kernel Two-Sample Test", JMLR 2012.
    """
    _check_pair(x, y, "mmd")
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"mmd needs at least 2 samples on each side, got {x.shape[0]} and {y.shape[0]}")
    h = jnp.asarray(bandwidths, dtype=jnp.result_type(x.dtype, y.dtype))

    def gram(a, b):
        sq = jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None, :] - 2 * a @ b.T
        sq = jnp.maximum(sq, 0.0)
        return jnp.sum(jnp.exp(-sq[..., None] / (2 * h**2)), axis=-1)

    n, m = x.shape[0], y.shape[0]
    kxx = gram(x, x)
    kyy = gram(y, y)
    kxy = gram(x, y)
    kxx = (jnp.sum(kxx) - jnp.trace(kxx)) / (n * (n - 1))
    kyy = (jnp.sum(kyy) - jnp.trace(kyy)) / (m * (m - 1))
    return kxx + kyy - 2 * jnp.mean(kxy)


def wasserstein2(x: Float[ArrayLike, "n d"], y: Float[ArrayLike, "n d"]) -> float:
    r"""Exact 2-Wasserstein distance between two empirical measures of equal size.

    $W_2=\big(\min_\pi\frac1n\sum_i|x_i-y_{\pi(i)}|^2\big)^{1/2}$ over permutations $\pi$, solved exactly
    as a linear assignment with `scipy.optimize.linear_sum_assignment` ($O(n^3)$: keep $n\lesssim 5000$).
    Runs on the host (not jittable).

    **Arguments:** `x`, `y` of shape `(n, d)`.

    **Returns:** $W_2$ as a Python float.
    """
    from scipy.optimize import linear_sum_assignment

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    _check_pair(x, y, "wasserstein2")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"wasserstein2 needs equally many samples, got {x.shape[0]} and {y.shape[0]}")
    cost = np.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].mean()))


def nll(log_prob: Callable[[Float[Array, " d"]], Float[Array, ""]], x: Float[Array, "n d"]) -> Float[Array, ""]:
    r"""Average negative log-likelihood $-\frac1n\sum_i\log\rho(x_i)$ in nats of a single-sample `log_prob`."""
    if jnp.ndim(x) != 2:
        raise ValueError(f"nll expects x of shape (n, d), got {jnp.shape(x)}")
    return -jnp.mean(jax.vmap(log_prob)(x))
