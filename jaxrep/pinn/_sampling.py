r"""Pure collocation samplers: `sampler(key, step) -> batch`, called inside the jitted training step."""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, PRNGKeyArray

from ._config import SamplingConfig
from ._problem import AbstractProblem


def latin_hypercube(key: PRNGKeyArray, n: int, dim: int) -> Array:
    r"""`n` Latin-hypercube points in $[0, 1)^{dim}$, shape `(n, dim)`.

    Each coordinate puts exactly one point in each of the $n$ strata $[k/n, (k+1)/n)$ (independent
    random permutations per coordinate), so the residual loss is estimated with less variance than
    by i.i.d. uniform points, at the same cost. Each point is still marginally uniform.

    **References:** McKay, Beckman & Conover, Technometrics 21 (1979).
    """
    k_perm, k_jit = jr.split(key)
    perms = jnp.stack([jr.permutation(k, n) for k in jr.split(k_perm, dim)], -1) if dim else jnp.zeros((n, 0))
    return (perms + jr.uniform(k_jit, (n, dim))) / n


def uniform_box(key: PRNGKeyArray, problem: AbstractProblem, n: int) -> Array:
    """`n` points uniform in the spatial box, shape `(n, d)` (`(n, 0)` for ODEs)."""
    lo = jnp.asarray(problem.lower, jnp.float32) if problem.spatial_dim else jnp.zeros((0,))
    hi = jnp.asarray(problem.upper, jnp.float32) if problem.spatial_dim else jnp.zeros((0,))
    return lo + (hi - lo) * jr.uniform(key, (n, problem.spatial_dim))


def space_time_points(key: PRNGKeyArray, problem: AbstractProblem, n: int, t0: float, t1: float):
    """`n` Latin-hypercube points in the box times $[t_0, t_1]$: `(x (n, d), t (n,))`."""
    d = problem.spatial_dim
    u = latin_hypercube(key, n, d + 1)
    lo = jnp.asarray(tuple(problem.lower) + (t0,), jnp.float32)
    hi = jnp.asarray(tuple(problem.upper) + (t1,), jnp.float32)
    p = lo + (hi - lo) * u
    return p[:, :d], p[:, d]


def boundary_points(key: PRNGKeyArray, problem: AbstractProblem, n: int):
    """`n` points on the faces of the box: `(x (n, d), dim (n,), side (n,))`."""
    d = problem.spatial_dim
    k1, k2, k3 = jr.split(key, 3)
    x = uniform_box(k1, problem, n)
    dim = jr.randint(k2, (n,), 0, max(d, 1))
    side = jr.randint(k3, (n,), 0, 2)
    if d:
        lo = jnp.asarray(problem.lower, x.dtype)
        hi = jnp.asarray(problem.upper, x.dtype)
        face = jnp.where(side[:, None] == 1, hi, lo)
        on = jnp.arange(d)[None, :] == dim[:, None]
        x = jnp.where(on, face, x)
    return x, dim, side


def make_sampler(problem: AbstractProblem, cfg: SamplingConfig, *, koopman: bool) -> Callable:
    r"""The training-data sampler of `jaxrep.pinn.solve`: fresh points at every step.

    **Returns:** `sample(key, step) -> dict` with

    - `x_r (n_residual, d)`, `t_r (n_residual,)`: interior points in $\Omega\times[t_0, T]$
      (Latin hypercube);
    - `x_0 (n_initial, d)`: points at $t_0$;
    - `x_b, t_b, dim_b, side_b`: boundary points (only when $d > 0$);
    - with `koopman=True`: `x_k, t_k` base points with $t\in[t_0, T - s_{\max}]$ and `s_k (n_offsets,)`
      offsets in $(0, s_{\max}]$, $s_{\max}$ = `max_offset` $\cdot (T - t_0)$.
    """
    t0, t_end = problem.train_window
    s_max = cfg.max_offset * (t_end - t0)

    def sample(key, step):
        keys = jr.split(key, 8)
        x_r, t_r = space_time_points(keys[0], problem, cfg.n_residual, t0, t_end)
        batch = {"x_r": x_r, "t_r": t_r, "x_0": uniform_box(keys[2], problem, cfg.n_initial)}
        if problem.spatial_dim:
            x_b, dim_b, side_b = boundary_points(keys[3], problem, cfg.n_boundary)
            batch.update(x_b=x_b, dim_b=dim_b, side_b=side_b,
                         t_b=jr.uniform(keys[4], (cfg.n_boundary,), minval=t0, maxval=t_end))
        if koopman:
            batch.update(
                x_k=uniform_box(keys[5], problem, cfg.n_koopman),
                t_k=jr.uniform(keys[6], (cfg.n_koopman,), minval=t0, maxval=t_end - s_max),
                s_k=jr.uniform(keys[7], (cfg.n_offsets,), minval=0.0, maxval=s_max),
            )
        return batch

    return sample
