r"""Exact derivatives of a solution function $u(x, t)$ by forward-mode automatic differentiation.

Every PDE residual in [`jaxrep.pinn`][] is written with these helpers, never with finite differences.
A directional derivative of order $k$ is $k$ nested `jax.jvp`s,

$$\partial_v^k u(x) = \frac{d^k}{ds^k}\, u(x + s v)\Big|_{s=0},$$

which costs $O(k)$ forward passes and no Jacobian matrices, so third- and fourth-order operators
(KdV, Kuramoto-Sivashinsky, Cahn-Hilliard) stay cheap. All helpers act on **one** point; the PINN
losses vmap over collocation points.
"""

from typing import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

SolutionFn = Callable[[Float[Array, " d"], Float[Array, ""]], Float[Array, " n_out"]]


def _directional(f: Callable, x, v, order: int):
    """`order`-th derivative of `f` at `x` along `v`, by nested forward-mode differentiation."""
    g = f
    for _ in range(order):
        g = (lambda h: lambda y: jax.jvp(h, (y,), (v,))[1])(g)
    return g(x)


def dt(u: SolutionFn, x: Float[Array, " d"], t: Float[Array, ""], order: int = 1) -> Float[Array, " n_out"]:
    r"""$\partial_t^k u(x, t)$, shape `(n_out,)` (`order` $=k\ge 1$)."""
    t = jnp.asarray(t, dtype=jnp.result_type(t, float))
    return _directional(lambda s: u(x, s), t, jnp.ones_like(t), order)


def dx(
    u: SolutionFn, x: Float[Array, " d"], t: Float[Array, ""], dim: int = 0, order: int = 1
) -> Float[Array, " n_out"]:
    r"""$\partial_{x_i}^k u(x, t)$ with $i=$ `dim` (a Python int or traced int), shape `(n_out,)`."""
    e = jax.nn.one_hot(dim, x.shape[0], dtype=x.dtype)
    return _directional(lambda y: u(y, t), x, e, order)


def grad_x(u: SolutionFn, x: Float[Array, " d"], t: Float[Array, ""]) -> Float[Array, "n_out d"]:
    r"""Spatial Jacobian $\partial u_j / \partial x_i$, shape `(n_out, d)`."""
    return jax.jacfwd(lambda y: u(y, t))(x)


def laplacian(u: SolutionFn, x: Float[Array, " d"], t: Float[Array, ""]) -> Float[Array, " n_out"]:
    r"""$\Delta u = \sum_i \partial_{x_i}^2 u$, shape `(n_out,)`."""
    return sum(dx(u, x, t, i, 2) for i in range(x.shape[0]))


def bilaplacian(u: SolutionFn, x: Float[Array, " d"], t: Float[Array, ""]) -> Float[Array, " n_out"]:
    r"""$\Delta^2 u = \sum_{i,j} \partial_{x_i}^2\partial_{x_j}^2 u$, shape `(n_out,)`."""
    return laplacian(lambda y, s: laplacian(u, y, s), x, t)
