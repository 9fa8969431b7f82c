r"""Losses and scores for deep Koopman models (pure functions of a model and arrays).

Trajectory batches have shape `(batch, n_t, d)` sampled at times $t_j = j\,\Delta t$. Each loss
returns a scalar; combine them in a `loss_fn(model, batch, key) -> (loss, aux)` for
`jaxrep.train.fit`. Scores (`von_neumann_entropy`, `vamp`) are to be **maximised**: subtract them.
"""

from typing import Union

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._autoencoder import KoopmanAutoencoder
from ._generator import AbstractGenerator

__all__ = ["l1", "linearity", "prediction", "reconstruction", "vamp", "von_neumann_entropy"]

_HI = jax.lax.Precision.HIGHEST


def _check_traj(traj, name="traj"):
    if jnp.ndim(traj) != 3:
        raise ValueError(f"{name} must have shape (batch, n_t, d), got {jnp.shape(traj)}")
    if traj.shape[1] < 2:
        raise ValueError(f"{name} needs n_t >= 2 time points, got shape {traj.shape}")


def _times(n_t, dt, dtype):
    # A concrete (numpy) grid lets `propagate` take its uniform fast path: one expm, not n_t.
    if isinstance(dt, (int, float)):
        return dt * np.arange(n_t)
    return dt * jnp.arange(n_t, dtype=dtype)


def reconstruction(model: KoopmanAutoencoder, X: Float[Array, "... d"]) -> Float[Array, ""]:
    r"""Autoencoding error $\operatorname{mean}\|x - \psi(\varphi(x))\|^2$ over all states in `X`.

    **Arguments:** `model`; `X` of shape `(..., d)` (any leading batch dims, e.g. a trajectory batch).
    """
    flat = X.reshape(-1, X.shape[-1])
    rec = jax.vmap(lambda x: model.decode(model.encode(x)))(flat)
    return jnp.mean(jnp.sum((rec - flat) ** 2, -1))


def linearity(model: KoopmanAutoencoder, traj: Float[Array, "b n_t d"], dt: float) -> Float[Array, ""]:
    r"""Latent linearity $\operatorname{mean}_{j\ge1}\|\varphi(x_j) - e^{t_j A}\varphi(x_0)\|^2$.

    With $n_t = 2$ this is the one-step condition $z(t+\Delta t) = e^{\Delta t A} z(t)$; longer
    windows enforce it over the whole horizon (Lusch et al. 2018).
    """
    _check_traj(traj)
    ts = _times(traj.shape[1], dt, traj.dtype)

    def one(x_seq):
        z = jax.vmap(model.encode)(x_seq)
        zhat = model.latent_rollout(x_seq[0], ts)
        return jnp.mean(jnp.sum((z[1:] - zhat[1:]) ** 2, -1))

    return jnp.mean(jax.vmap(one)(traj))


def prediction(model: KoopmanAutoencoder, traj: Float[Array, "b n_t d"], dt: float) -> Float[Array, ""]:
    r"""Multi-step prediction in state space $\operatorname{mean}_{j\ge1}\|x_j - \psi(e^{t_j A}\varphi(x_0))\|^2$."""
    _check_traj(traj)
    ts = _times(traj.shape[1], dt, traj.dtype)

    def one(x_seq):
        xhat = model(x_seq[0], ts)
        return jnp.mean(jnp.sum((x_seq[1:] - xhat[1:]) ** 2, -1))

    return jnp.mean(jax.vmap(one)(traj))


def l1(A: Union[Float[Array, "k k"], AbstractGenerator]) -> Float[Array, ""]:
    r"""Sparsity penalty $\|A\|_1 = \sum_{ij}|A_{ij}|$ on a generator (SPIKE: sparse Koopman
    generators). Accepts the matrix or an `AbstractGenerator`."""
    if isinstance(A, AbstractGenerator):
        A = A.matrix()
    if jnp.ndim(A) != 2:
        raise ValueError(f"l1 expects a matrix (k, k) or a generator, got shape {jnp.shape(A)}")
    return jnp.sum(jnp.abs(A))


def von_neumann_entropy(Z: Float[Array, "n k"], eps: float = 1e-12) -> Float[Array, ""]:
    r"""Von Neumann entropy of the normalised latent covariance, $S = -\operatorname{tr}(\rho\log\rho)$.

    $\rho = C/\operatorname{tr}C$ with $C = \tfrac1n Z_c^\top Z_c$ (centred latents). $S = 0$ when all
    latents collapse onto one direction and $S = \log k$ when they fill all $k$ directions evenly.
    **Maximise** it (add $-\beta S$ to the loss) to keep the representation from collapsing
    ("Information Shapes Koopman Representation").

    **Arguments:** `Z` `(n, k)` latent codes of a batch; `eps` floor inside the log.

    **Returns:** scalar $S \in [0, \log k]$.
    """
    if jnp.ndim(Z) != 2:
        raise ValueError(f"von_neumann_entropy expects latents of shape (n, k), got {jnp.shape(Z)}")
    Zc = Z - jnp.mean(Z, 0)
    C = jnp.matmul(Zc.T, Zc, precision=_HI) / Z.shape[0]
    rho = C / jnp.trace(C)
    w = jnp.clip(jnp.linalg.eigvalsh(rho), eps, None)
    return -jnp.sum(w * jnp.log(w))


def vamp(Z_x: Float[Array, "n k"], Z_y: Float[Array, "n k"], reg: float = 1e-6) -> Float[Array, ""]:
    r"""VAMP-2 score $\|C_{00}^{-1/2} C_{01} C_{11}^{-1/2}\|_F^2$ of features at $t$ and $t+\Delta t$.

    $C_{00} = \tfrac1n \bar Z_x^\top\bar Z_x + \epsilon I$, $C_{11}$ likewise, $C_{01} =
    \tfrac1n\bar Z_x^\top \bar Z_y$ (centred). It is the sum of squared singular values of the
    whitened Koopman operator, $\le k$, maximal when the features span its leading singular
    subspace (Wu & Noé 2020; the DPNets score of Kostic et al. 2023). The constant function is
    excluded by centring; add 1 for the textbook VAMP-2 value. **Maximise** it.

    **Arguments:** `Z_x`, `Z_y` `(n, k)` features of paired samples; `reg` $\epsilon$.

    **Returns:** scalar score.
    """
    if jnp.ndim(Z_x) != 2 or jnp.shape(Z_x) != jnp.shape(Z_y):
        raise ValueError(f"vamp expects Z_x and Z_y of equal shape (n, k), got {jnp.shape(Z_x)} and "
                         f"{jnp.shape(Z_y)}")
    n, k = Z_x.shape
    X = Z_x - jnp.mean(Z_x, 0)
    Y = Z_y - jnp.mean(Z_y, 0)
    eye = jnp.eye(k, dtype=X.dtype)
    C00 = jnp.matmul(X.T, X, precision=_HI) / n + reg * eye
    C11 = jnp.matmul(Y.T, Y, precision=_HI) / n + reg * eye
    C01 = jnp.matmul(X.T, Y, precision=_HI) / n

    def inv_sqrt(C):
        w, Q = jnp.linalg.eigh(C)
        return (Q / jnp.sqrt(w)) @ Q.T

    K = inv_sqrt(C00) @ C01 @ inv_sqrt(C11)
    return jnp.sum(K**2)
