r"""The PIKE / SPIKE Koopman regularisers, as pure functions of a latent field $z(x, t)$ and $A$.

A PIKE model asks its observables to evolve linearly in time at every point,
$\partial_t z(x, t) = A\,z(x, t)$. Two losses enforce it:

- **continuous time** (generator residual), with $\partial_t z$ by `jax.jvp`:
  $\mathcal L_{\text{gen}} = \operatorname{mean}\,\|\partial_t z - Az\|^2$;
- **matrix-exponential consistency** on sampled time pairs (the exact flow that
  [`jaxrep.koopman.propagate`][] computes): $\mathcal L_{\exp} = \operatorname{mean}_{x,t,j}
  \|z(x, t + s_j) - e^{s_jA}z(x, t)\|^2$, which is what makes the Koopman rollout used for
  extrapolation accurate over finite horizons (and unconditionally stable to integrate).

SPIKE adds $\lambda\|A\|_1 = \lambda\sum_{ij}|A_{ij}|$ for a sparse, parsimonious generator.

**References:** the SPIKE paper (Sparse Physics-Informed Koopman-Enhanced PINNs), see
`shared/seeds/paper-abstracts.txt`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..koopman._propagate import expm_stack

_HIGHEST = jax.lax.Precision.HIGHEST

LatentFn = Callable[[Float[Array, " d"], Float[Array, ""]], Float[Array, " dim"]]


def generator_residual(
    z: LatentFn, A: Float[Array, "dim dim"], x: Float[Array, " d"], t: Float[Array, ""]
) -> Float[Array, " dim"]:
    r"""$\partial_t z(x, t) - A z(x, t)$ at one point (time derivative by `jax.jvp`)."""
    t = jnp.asarray(t)
    value, z_t = jax.jvp(lambda s: z(x, s), (t,), (jnp.ones_like(t),))
    return z_t - A @ value


def koopman_generator_loss(
    z: LatentFn, A: Float[Array, "dim dim"], xs: Float[Array, "n d"], ts: Float[Array, " n"]
) -> Float[Array, ""]:
    r"""$\operatorname{mean}_i\|\partial_t z - Az\|_2^2$ over the points `(xs[i], ts[i])` (squared
    norm over the latent components, mean over points)."""
    r = jax.vmap(generator_residual, in_axes=(None, None, 0, 0))(z, A, xs, ts)
    return jnp.mean(jnp.sum(r**2, axis=-1))


def koopman_expm_loss(
    z: LatentFn,
    A: Float[Array, "dim dim"],
    xs: Float[Array, "n d"],
    ts: Float[Array, " n"],
    offsets: Float[Array, " m"],
) -> Float[Array, ""]:
    r"""$\operatorname{mean}_{i,j}\|z(x_i, t_i + s_j) - e^{s_jA}z(x_i, t_i)\|_2^2$.

    The $m$ exponentials $e^{s_jA}$ are computed once, as one `(m, dim, dim)` stack
    (`expm_stack` in `jaxrep/koopman/_propagate.py`, matrix products only), and applied to all base points by one
    `einsum`; $z$ is evaluated at the $n(m+1)$ points $(x_i, t_i + s_j)$, $s_0 = 0$, in one batch.
    (Calling `propagate` per point gives the same numbers, but its reverse pass then runs the
    exponentials' backward once per point: $n$ times the work.)

    **Arguments:** latent function `z(x, t) -> (dim,)`, generator `A (dim, dim)`, base points
    `xs (n, d)`, `ts (n,)`, offsets `(m,)`.

    **Returns:** a scalar.
    """
    ts = jnp.asarray(ts)
    offsets = jnp.asarray(offsets, ts.dtype)
    mats = expm_stack(A, offsets)  # (m, dim, dim)
    shifts = jnp.concatenate([jnp.zeros((1,), offsets.dtype), offsets])  # t + 0 == t exactly
    zs = jax.vmap(lambda x, t: jax.vmap(lambda s: z(x, t + s))(shifts))(xs, ts)  # (n, m + 1, dim)
    pred = jnp.einsum("mde,ne->nmd", mats, zs[:, 0], precision=_HIGHEST)
    return jnp.mean(jnp.sum((zs[:, 1:] - pred) ** 2, axis=-1))


def l1_penalty(A: Float[Array, "dim dim"]) -> Float[Array, ""]:
    r"""Entry-wise $\|A\|_1 = \sum_{ij}|A_{ij}|$ (the SPIKE sparsity term)."""
    return jnp.sum(jnp.abs(A))
