r"""The PIKE / SPIKE Koopman regularisers, as pure functions of a latent field $z(x, t)$ and $A$.

A PIKE model asks its observables to evolve linearly in time at every point,
$\partial_t z(x, t) = A\,z(x, t)$. Two losses enforce it:

- **continuous time** (generator residual), with $\partial_t z$ by `jax.jvp`:
  $\mathcal L_{\text{gen}} = \operatorname{mean}\,\|\partial_t z - Az\|^2$;
- **matrix-exponential consistency** on sampled time pairs (the exact flow that
  [`jaxrep.koopman.propagate`][] computes): $\mathcal L_{\exp} = \operatorname{mean}_{x,t,j}
  \|z(x, t + s_j) - e^{s_jA}z(x, t)\|^2$, which is what makes the Koopman rollout used for
  extrapolation accurate over finite horizons (and unconditionally stable to integrate).

The training loss evaluates both on the same base points with `koopman_losses`, which runs the
network at each base point once for both terms.

SPIKE adds $\lambda\|A\|_1 = \lambda\sum_{ij}|A_{ij}|$ for a sparse, parsimonious generator.

**References:** "SPIKE: Sparse Koopman Regularization for Physics-Informed Neural Networks" (Sparse
Physics-Informed Koopman-Enhanced PINNs; the code: github.com/cair-philippines/spike).
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
    shifts = jnp.concatenate([jnp.zeros((1,), offsets.dtype), offsets])  # t + 0 == t exactly
    zs = jax.vmap(lambda x, t: jax.vmap(lambda s: z(x, t + s))(shifts))(xs, ts)  # (n, m + 1, dim)
    return _expm_mse(A, offsets, zs[:, 0], zs[:, 1:])


def _expm_mse(A, offsets, z0, shifted):
    r"""$\operatorname{mean}_{i,j}\|z_{ij} - e^{s_jA}z_i\|^2$ for base latents `z0 (n, dim)` and shifted
    latents `shifted (n, m, dim)`; the $m$ exponentials as one `expm_stack`."""
    mats = expm_stack(A, offsets)  # (m, dim, dim)
    pred = jnp.einsum("mde,ne->nmd", mats, z0, precision=_HIGHEST)
    return jnp.mean(jnp.sum((shifted - pred) ** 2, axis=-1))


def koopman_losses(
    z: LatentFn,
    A: Float[Array, "dim dim"],
    xs: Float[Array, "n d"],
    ts: Float[Array, " n"],
    offsets: Float[Array, " m"],
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    r"""Both Koopman losses on the same base points, `(koopman_generator_loss, koopman_expm_loss)`,
    with $z$ and $\partial_t z$ at the base points computed once.

    $$\mathcal L_{\text{gen}} = \operatorname{mean}_i\|\partial_t z(x_i, t_i) - Az(x_i, t_i)\|^2,
    \qquad \mathcal L_{\exp} = \operatorname{mean}_{i,j}\|z(x_i, t_i + s_j) - e^{s_jA}z(x_i, t_i)\|^2.$$

    Equal (to rounding) to calling the two functions separately, at less cost: one `jax.jvp` in $t$
    per base point gives $z(x_i, t_i)$ and $\partial_t z(x_i, t_i)$ together, and the same
    $z(x_i, t_i)$ feeds the exponential term, so the network runs at the base points once (not once
    per loss) and at the $nm$ shifted points $(x_i, t_i + s_j)$ as one flat batch. The $m$
    exponentials come from one `expm_stack` call. This is what the PIKE/SPIKE loss of
    `make_loss_fn` uses.

    **Arguments:** latent function `z(x, t) -> (dim,)`, generator `A (dim, dim)`, base points
    `xs (n, d)`, `ts (n,)`, offsets `(m,)`.

    **Returns:** `(generator loss, exponential loss)`, two scalars.
    """
    ts = jnp.asarray(ts)
    offsets = jnp.asarray(offsets, ts.dtype)
    n, m = ts.shape[0], offsets.shape[0]
    z0, z0_t = jax.vmap(lambda x, t: jax.jvp(lambda s: z(x, s), (t,), (jnp.ones_like(t),)))(xs, ts)
    gen = jnp.mean(jnp.sum((z0_t - jnp.einsum("de,ne->nd", A, z0, precision=_HIGHEST)) ** 2, axis=-1))
    shifted = jax.vmap(z)(jnp.repeat(xs, m, axis=0), (ts[:, None] + offsets[None, :]).reshape(-1))
    return gen, _expm_mse(A, offsets, z0, shifted.reshape(n, m, -1))


def l1_penalty(A: Float[Array, "dim dim"]) -> Float[Array, ""]:
    r"""Entry-wise $\|A\|_1 = \sum_{ij}|A_{ij}|$ (the SPIKE sparsity term)."""
    return jnp.sum(jnp.abs(A))
