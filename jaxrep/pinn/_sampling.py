r"""Pure collocation samplers: `sampler(key, step) -> batch`, called inside the jitted training step."""

from __future__ import annotations

from typing import Callable, Optional

import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, PRNGKeyArray

from ._config import RADConfig, SamplingConfig
from ..pde._problem import AbstractProblem


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


Bounds = tuple[tuple[float, ...], tuple[float, ...]]


def _corners(problem: AbstractProblem, region: Optional[Bounds]):
    lower, upper = (problem.lower, problem.upper) if region is None else region
    return tuple(lower), tuple(upper)


def uniform_box(key: PRNGKeyArray, problem: AbstractProblem, n: int, *, region: Optional[Bounds] = None) -> Array:
    """`n` points uniform in the spatial box, shape `(n, d)` (`(n, 0)` for ODEs).

    `region=(lower, upper)` draws them in that sub-box instead (e.g. the problem's training box).
    """
    lower, upper = _corners(problem, region)
    lo = jnp.asarray(lower, jnp.float32) if problem.spatial_dim else jnp.zeros((0,))
    hi = jnp.asarray(upper, jnp.float32) if problem.spatial_dim else jnp.zeros((0,))
    return lo + (hi - lo) * jr.uniform(key, (n, problem.spatial_dim))


def space_time_points(key: PRNGKeyArray, problem: AbstractProblem, n: int, t0: float, t1: float, *,
                      region: Optional[Bounds] = None):
    """`n` Latin-hypercube points in the box (or `region=(lower, upper)`) times $[t_0, t_1]$:
    `(x (n, d), t (n,))`."""
    d = problem.spatial_dim
    lower, upper = _corners(problem, region)
    u = latin_hypercube(key, n, d + 1)
    lo = jnp.asarray(lower + (t0,), jnp.float32)
    hi = jnp.asarray(upper + (t1,), jnp.float32)
    p = lo + (hi - lo) * u
    return p[:, :d], p[:, d]


def boundary_points(key: PRNGKeyArray, problem: AbstractProblem, n: int, *, region: Optional[Bounds] = None,
                    faces: Optional[tuple[tuple[int, int], ...]] = None):
    """`n` points on the faces of the box: `(x (n, d), dim (n,), side (n,))`.

    By default every face is drawn with equal probability. `faces` (a non-empty tuple of `(dim, side)`)
    restricts the draw to those faces, and `region=(lower, upper)` draws the coordinates along each
    face in that sub-box (the face coordinate itself is always the box's bound). Shapes are static.
    """
    d = problem.spatial_dim
    k1, k2, k3 = jr.split(key, 3)
    x = uniform_box(k1, problem, n, region=region)
    every = {(i, s) for i in range(d) for s in (0, 1)}
    if faces is None or set(faces) == every:
        dim = jr.randint(k2, (n,), 0, max(d, 1))
        side = jr.randint(k3, (n,), 0, 2)
    else:
        if not faces:
            raise ValueError("boundary_points: faces must be None or a non-empty tuple of (dim, side)")
        table = jnp.asarray(faces, jnp.int32)
        pick = table[jr.randint(k2, (n,), 0, len(faces))]
        dim, side = pick[:, 0], pick[:, 1]
    if d:
        lo = jnp.asarray(problem.lower, x.dtype)
        hi = jnp.asarray(problem.upper, x.dtype)
        face = jnp.where(side[:, None] == 1, hi, lo)
        on = jnp.arange(d)[None, :] == dim[:, None]
        x = jnp.where(on, face, x)
    return x, dim, side


def make_sampler(problem: AbstractProblem, cfg: SamplingConfig, *, koopman: bool,
                 rad: Optional[RADConfig] = None) -> Callable:
    r"""The training-data sampler of `jaxrep.pinn.solve`: fresh points at every step.

    Everything is drawn in the training region $\Omega_{\text{train}}\times[t_0, T]$, where
    $\Omega_{\text{train}}$ is `problem.train_box` (the whole box $\Omega$ when it is `None`), so
    the network never sees the held-out part of space or time.

    **Returns:** `sample(key, step) -> dict` with

    - `x_r (n_residual, d)`, `t_r (n_residual,)`: interior points in $\Omega_{\text{train}}\times[t_0, T]$
      (Latin hypercube);
    - `x_0 (n_initial, d)`: points of $\Omega_{\text{train}}$ at $t_0$ (the initial condition is only
      enforced there);
    - `x_b, t_b, dim_b, side_b`: boundary points (only when $d > 0$), on the faces of $\Omega$ given by
      `problem.train_faces()`, i.e. those the train box touches (a periodic dimension only when the
      train box spans it), with the other coordinates in $\Omega_{\text{train}}$; the term is dropped
      when the train box touches no face;
    - with `koopman=True`: `x_k, t_k` base points with $x\in\Omega_{\text{train}}$,
      $t\in[t_0, T - s_{\max}]$ and `s_k (n_offsets,)` offsets in $(0, s_{\max}]$,
      $s_{\max}$ = `max_offset` $\cdot (T - t_0)$;
    - with `rad` (a `RADConfig` with `every > 0`): `x_c, t_c`, `rad.pool` $\times$ `n_residual`
      Latin-hypercube candidates from which the RAD loss (`rad_loss`) redraws the residual points.

    The sampler is pure and jit-able: the region and the faces are static, the shapes fixed.
    """
    t0, t_end = problem.train_window
    s_max = cfg.max_offset * (t_end - t0)
    region = (problem.train_lower, problem.train_upper)
    faces = problem.train_faces()
    n_candidates = rad.pool * cfg.n_residual if rad is not None and rad.every else 0

    def sample(key, step):
        keys = jr.split(key, 8)
        x_r, t_r = space_time_points(keys[0], problem, cfg.n_residual, t0, t_end, region=region)
        batch = {"x_r": x_r, "t_r": t_r, "x_0": uniform_box(keys[2], problem, cfg.n_initial, region=region)}
        if n_candidates:
            batch["x_c"], batch["t_c"] = space_time_points(keys[1], problem, n_candidates, t0, t_end, region=region)
        if problem.spatial_dim and faces:
            x_b, dim_b, side_b = boundary_points(keys[3], problem, cfg.n_boundary, region=region, faces=faces)
            batch.update(x_b=x_b, dim_b=dim_b, side_b=side_b,
                         t_b=jr.uniform(keys[4], (cfg.n_boundary,), minval=t0, maxval=t_end))
        if koopman:
            batch.update(
                x_k=uniform_box(keys[5], problem, cfg.n_koopman, region=region),
                t_k=jr.uniform(keys[6], (cfg.n_koopman,), minval=t0, maxval=t_end - s_max),
                s_k=jr.uniform(keys[7], (cfg.n_offsets,), minval=0.0, maxval=s_max),
            )
        return batch

    return sample
