r"""Multimarginal stochastic interpolants: $K+1$ marginals joined on the simplex.

With samples $x_k\sim\rho_k$, $k=0..K$ (typically $\rho_0=\mathcal N(0,I)$), and barycentric
coordinates $\alpha\in\Delta^K=\{\alpha_k\ge0,\ \sum_k\alpha_k=1\}$, the interpolant is
$x(\alpha)=\sum_k\alpha_kx_k$; at the vertex $e_k$ it has law $\rho_k$. The $K+1$ conditional
expectations $g_k(\alpha,x)=\mathbb E[x_k\mid x(\alpha)=x]$ minimise the square loss
$\mathbb E_\alpha\mathbb E\sum_k|\hat g_k(\alpha,x(\alpha))-x_k|^2$, and for any smooth path
$\alpha:[0,1]\to\Delta^K$ the ODE
$$\dot X_t=\sum_k\dot\alpha_k(t)\,g_k(\alpha(t),X_t)$$
transports $\rho_{\alpha(0)}$ to $\rho_{\alpha(1)}$. Its kinetic cost
$\int_0^1\mathbb E|\sum_k\dot\alpha_kg_k|^2dt$ depends on the path, so choosing the path (e.g. bending
it through the interior of the simplex) lowers the transport cost between two marginals.

**References:** M. S. Albergo, N. M. Boffi, M. Lindsey, E. Vanden-Eijnden, "Multimarginal generative
modeling with stochastic interpolants", ICLR 2024 (arXiv:2310.03695).
"""

import abc
from typing import TYPE_CHECKING, Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._validate import check_positive

if TYPE_CHECKING:  # diffrax is imported when first used: `import jaxrep` stays light
    import diffrax


def interpolate_simplex(alpha: Float[Array, " K1"], xs: Float[Array, "K1 d"]) -> Float[Array, " d"]:
    r"""$x(\alpha)=\sum_k\alpha_kx_k$ for one set of marginal samples `xs` `(K+1, d)`."""
    if jnp.ndim(xs) != 2 or jnp.shape(alpha) != (xs.shape[0],):
        raise ValueError(f"interpolate_simplex expects alpha (K+1,) and xs (K+1, d), got {jnp.shape(alpha)} "
                         f"and {jnp.shape(xs)}")
    return alpha @ xs


class Multimarginal(eqx.Module):
    r"""The conditional-expectation fields $g_k(\alpha,x)$, $k=0..K$, as one network.

    `net` maps the concatenation $[x,\alpha]$ of size `d + K + 1` to `(K + 1) * d` outputs; the
    result is reshaped to `(K + 1, d)`. Acts on one sample; batch with `jax.vmap`.

    **Arguments:**

    - `net`: a single-sample backbone (e.g. `jaxrep.nn.MLP(d + K + 1, (K + 1) * d, ...)`).
    - `num_marginals`: $K+1$.
    - `dim`: the data dimension $d$.
    """

    net: Callable
    num_marginals: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)

    def __check_init__(self):
        if self.num_marginals < 2:
            raise ValueError(f"Multimarginal needs num_marginals >= 2, got {self.num_marginals}")
        if self.dim < 1:
            raise ValueError(f"Multimarginal needs dim >= 1, got {self.dim}")

    def __call__(self, alpha: Float[Array, " K1"], x: Float[Array, " d"]) -> Float[Array, "K1 d"]:
        if jnp.shape(alpha) != (self.num_marginals,):
            raise ValueError(f"Multimarginal expects alpha of shape ({self.num_marginals},), got {jnp.shape(alpha)}")
        if jnp.shape(x) != (self.dim,):
            raise ValueError(f"Multimarginal expects x of shape ({self.dim},), got {jnp.shape(x)} "
                             "(for batches use jax.vmap)")
        out = self.net(jnp.concatenate([x, alpha.astype(x.dtype)]))
        return out.reshape(self.num_marginals, self.dim)

    def velocity(self, alpha: Float[Array, " K1"], alpha_dot: Float[Array, " K1"],
                 x: Float[Array, " d"]) -> Float[Array, " d"]:
        r"""$\sum_k\dot\alpha_k\,g_k(\alpha,x)$."""
        return alpha_dot @ self(alpha, x)


def multimarginal_loss(
    g: Callable,
    xs: Float[Array, "n K1 d"],
    *,
    key: PRNGKeyArray,
    alpha: Optional[Float[Array, "n K1"]] = None,
    concentration: float = 1.0,
) -> Float[Array, ""]:
    r"""Square loss $\mathbb E_\alpha\frac1n\sum_i\sum_k|g_k(\alpha_i,x(\alpha_i))-x_{i,k}|^2$.

    Its minimiser is $g_k(\alpha,x)=\mathbb E[x_k\mid x(\alpha)=x]$.

    **Arguments:**

    - `g`: field `g(alpha, x) -> (K+1, d)` for one sample (e.g. a `Multimarginal`).
    - `xs`: a batch `(n, K+1, d)`: row $i$ holds one sample of each marginal.
    - `key`: PRNG key for $\alpha\sim\mathrm{Dirichlet}(c\mathbf 1)$ (keyword-only).
    - `alpha`: optional fixed coordinates `(n, K+1)` (or `(K+1,)`, broadcast) on the simplex.
    - `concentration`: $c$ of the Dirichlet law (1 = uniform on the simplex).

    **Returns:** the batch-mean loss, a scalar.
    """
    if jnp.ndim(xs) != 3:
        raise ValueError(f"xs must have shape (n, K+1, d), got {jnp.shape(xs)}")
    n, k1, _ = xs.shape
    if alpha is None:
        check_positive(concentration, "concentration")
        alpha = jr.dirichlet(key, jnp.full((k1,), concentration, xs.dtype), (n,))
    else:
        alpha = jnp.broadcast_to(jnp.asarray(alpha, xs.dtype), (n, k1))
        _check_simplex(alpha, "alpha")

    def one(a, x):
        return jnp.sum((g(a, interpolate_simplex(a, x)) - x) ** 2)

    return jnp.mean(jax.vmap(one)(alpha, xs))


def _check_simplex(alpha, name):
    if isinstance(alpha, jax.core.Tracer):
        return
    import numpy as np

    a = np.asarray(alpha, dtype=float)
    if np.any(a < -1e-6) or np.any(np.abs(a.sum(-1) - 1) > 1e-5):
        raise ValueError(f"{name} must lie on the simplex (entries >= 0 summing to 1), got {a}")


# --------------------------------------------------------------------------------------------------
# paths on the simplex


class AbstractSimplexPath(eqx.Module):
    r"""A path $t\mapsto\alpha(t)\in\Delta^K$, $t\in[0,1]$; $\dot\alpha$ comes from `jax.jvp`."""

    @abc.abstractmethod
    def __call__(self, t: Float[ArrayLike, ""]) -> Float[Array, " K1"]:
        raise NotImplementedError

    def value_and_derivative(self, t: Float[ArrayLike, ""]) -> tuple[Float[Array, " K1"], Float[Array, " K1"]]:
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return jax.jvp(self, (t,), (jnp.ones_like(t),))


def _vertex(i, n):
    return jnp.zeros(n).at[i].set(1.0)


class SimplexEdge(AbstractSimplexPath):
    r"""The straight edge $\alpha(t)=(1-t)e_i+te_j$: a two-marginal interpolant between $\rho_i$ and $\rho_j$."""

    start: int = eqx.field(static=True)
    end: int = eqx.field(static=True)
    num_marginals: int = eqx.field(static=True)

    def __check_init__(self):
        _check_vertices(self.start, self.end, self.num_marginals)

    def __call__(self, t):
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        n = self.num_marginals
        return (1 - t) * _vertex(self.start, n) + t * _vertex(self.end, n)


class BezierSimplexPath(AbstractSimplexPath):
    r"""Quadratic Bézier path $\alpha(t)=(1-t)^2e_i+2t(1-t)\,p+t^2e_j$ with $p=\mathrm{softmax}(\ell)\in\Delta^K$.

    It stays on the simplex (a convex combination of simplex points) for any learnable logits $\ell$;
    $p$ bends the path through the interior, e.g. towards the Gaussian vertex.
    """

    logits: Float[Array, " K1"]
    start: int = eqx.field(static=True)
    end: int = eqx.field(static=True)

    def __check_init__(self):
        _check_vertices(self.start, self.end, self.logits.shape[0])

    def control_point(self) -> Float[Array, " K1"]:
        return jax.nn.softmax(self.logits)

    def __call__(self, t):
        t = jnp.asarray(t, dtype=self.logits.dtype)
        n = self.logits.shape[0]
        p = self.control_point()
        return (1 - t) ** 2 * _vertex(self.start, n) + 2 * t * (1 - t) * p + t**2 * _vertex(self.end, n)


def _check_vertices(i, j, n):
    if not (0 <= i < n and 0 <= j < n) or i == j:
        raise ValueError(f"path endpoints must be two distinct vertices in 0..{n - 1}, got start={i}, end={j}")


def transport(
    g: Multimarginal,
    x: Float[Array, "*n d"],
    path: AbstractSimplexPath,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    solver: Optional["diffrax.AbstractSolver"] = None,
    steps: Optional[int] = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    ts: Optional[Float[Array, " m"]] = None,
) -> Float[Array, "*n d"]:
    r"""Transport samples along the simplex path: $\dot X_t=\sum_k\dot\alpha_k(t)g_k(\alpha(t),X_t)$.

    **Arguments:**

    - `g`: the learned `Multimarginal` fields (any callable `g(alpha, x) -> (K+1, d)`).
    - `x`: samples of $\rho_{\alpha(t_0)}$, `(d,)` or `(n, d)` (vmapped).
    - `path`: an `AbstractSimplexPath`.
    - `t0`, `t1`: path times (`t0 > t1` runs the path backwards).
    - `solver`, `steps`, `rtol`, `atol`: as `jaxrep.interpolants.sample` (default adaptive `Tsit5`).
    - `ts`: optional save times.

    **Returns:** the transported samples, shaped like `x` (with a time axis when `ts` is given).
    """
    from ._sample import sample

    def b(t, y):
        a, da = path.value_and_derivative(t)
        return da @ g(a, y)

    return sample(b, x, method="ode", t0=t0, t1=t1, solver=solver, steps=steps, rtol=rtol, atol=atol, ts=ts)


def transport_cost(
    g: Callable,
    xs: Float[Array, "n K1 d"],
    path: AbstractSimplexPath,
    *,
    num_times: int = 32,
) -> Float[Array, ""]:
    r"""Kinetic cost $\int_0^1\mathbb E\big|\sum_k\dot\alpha_k(t)g_k(\alpha(t),x(\alpha(t)))\big|^2dt$ of a path.

    Since $x(\alpha(t))$ built from the samples `xs` has exactly the law $\rho_{\alpha(t)}$, no ODE is
    solved: the time integral uses `num_times`-point Gauss–Legendre quadrature and the expectation the
    batch mean. Differentiable in the path parameters, so a path can be optimised with `jaxrep.train.fit`.

    **Arguments:** `g` as in `multimarginal_loss`; `xs` `(n, K+1, d)`; `path`; `num_times`.

    **Returns:** the cost estimate, a scalar.
    """
    if jnp.ndim(xs) != 3:
        raise ValueError(f"xs must have shape (n, K+1, d), got {jnp.shape(xs)}")
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(num_times)
    ts = jnp.asarray(0.5 * (nodes + 1), xs.dtype)
    ws = jnp.asarray(0.5 * weights, xs.dtype)

    def at_time(t):
        a, da = path.value_and_derivative(t)
        vel = jax.vmap(lambda x: da @ g(a, interpolate_simplex(a, x)))(xs)
        return jnp.mean(jnp.sum(vel**2, axis=-1))

    return jnp.sum(ws * jax.vmap(at_time)(ts))

