r"""Continuous-time deep Koopman autoencoder (Lusch et al. 2018; SPIKE's latent generator).

An encoder $\varphi: \mathbb{R}^d \to \mathbb{R}^k$ lifts a state to latent coordinates that evolve
linearly, $\dot z = Az$, so $z(t) = e^{tA}\varphi(x_0)$ exactly ([`jaxrep.koopman.propagate`][]);
a decoder maps back, $\hat x(t) = \psi(e^{tA}\varphi(x_0))$. Train it with the losses of
[`jaxrep.koopman.losses`][] through `jaxrep.train.fit`.
"""

from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._estimators import _as_data, _ridge, KoopmanEstimator
from ._generator import AbstractGenerator
from ._propagate import propagate


class SkipLinear(eqx.Module):
    r"""$x \mapsto Wx + f(x)$: a bias-free linear map plus a nonlinear correction `backbone`.

    Koopman eigenfunctions of many systems are "linear plus small nonlinear" (the slow manifold's
    $x_2 - b x_1^2$), which this form learns much faster than a plain network. Acts on one sample.

    **Arguments:** `backbone` `(in_size,) -> (out_size,)`; `in_size`, `out_size`; `key` (keyword-only,
    for $W$, initialised like `eqx.nn.Linear`).
    """

    linear: eqx.nn.Linear
    backbone: Callable

    def __init__(self, backbone: Callable, in_size: int, out_size: int, *, key: PRNGKeyArray):
        self.linear = eqx.nn.Linear(in_size, out_size, use_bias=False, key=key)
        self.backbone = backbone

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"]:
        return self.linear(x) + self.backbone(x)


class KoopmanAutoencoder(eqx.Module):
    r"""Deep Koopman model $x(t) \approx \psi\big(e^{tA}\varphi(x_0)\big)$.

    Acts on **one** state; batch with `jax.vmap`.

    **Arguments:**

    - `encoder`: $\varphi$, one state `(d,)` -> latent `(k,)` (e.g. `jaxrep.nn.MLP(d, k, ...)`).
    - `generator`: an [`AbstractGenerator`][jaxrep.koopman.AbstractGenerator] of dimension $k$.
    - `decoder`: $\psi$, latent `(k,)` -> state `(d,)`.

    **References:** Lusch, Kutz & Brunton, "Deep learning for universal linear embeddings of nonlinear
    dynamics", Nat. Commun. 9 (2018); Otto & Rowley, "Linearly-recurrent autoencoder networks for
    learning dynamics", SIAM J. Appl. Dyn. Syst. 18 (2019).
    """

    encoder: Callable
    generator: AbstractGenerator
    decoder: Callable

    def __check_init__(self):
        if not isinstance(self.generator, AbstractGenerator):
            raise TypeError(
                f"generator must be a jaxrep.koopman.AbstractGenerator, got {type(self.generator).__name__}"
            )

    def encode(self, x: Float[Array, " d"]) -> Float[Array, " k"]:
        """Latent coordinates $\\varphi(x)$ of one state."""
        z = self.encoder(x)
        if jnp.shape(z) != (self.generator.dim,):
            raise ValueError(
                f"encoder must map one state to ({self.generator.dim},) (the generator's dim), got "
                f"{jnp.shape(z)}"
            )
        return z

    def decode(self, z: Float[Array, " k"]) -> Float[Array, " d"]:
        """State $\\psi(z)$ of one latent vector."""
        return self.decoder(z)

    def latent_rollout(self, x0: Float[Array, " d"], ts: Float[ArrayLike, " n_t"]) -> Float[Array, "n_t k"]:
        """$e^{t_j A}\\varphi(x_0)$ for every $t_j$, shape `(n_t, k)`."""
        return propagate(self.generator.matrix(), self.encode(x0), ts)

    def __call__(self, x0: Float[Array, " d"], ts: Float[ArrayLike, " n_t"]) -> Float[Array, "n_t d"]:
        """Forecast $\\hat x(t_j) = \\psi(e^{t_j A}\\varphi(x_0))$, shape `(n_t, d)`."""
        return jax.vmap(self.decode)(self.latent_rollout(x0, ts))

    def as_estimator(self, X: Float[ArrayLike, "n d"], dt: float, reg: float = 1e-8) -> KoopmanEstimator:
        r"""The learned model as a finite-rank estimator on the latent dictionary $\varphi$.

        Transition $M = e^{\Delta t A}{}^\top$ (row convention of the estimators), linear state
        read-outs fitted by ridge regression of `X` on $\varphi(X)$. Use it with
        [`jaxrep.koopman.eig`][] and [`jaxrep.koopman.residuals`][] to verify the learned spectrum
        on held-out data.

        **Arguments:** `X` `(n, d)` states for the linear read-out; `dt` step; `reg` ridge.

        **Returns:** a [`KoopmanEstimator`][jaxrep.koopman.KoopmanEstimator].
        """
        X = _as_data(X, "X")
        Z = jax.vmap(self.encode)(X)
        M = jsl.expm(dt * self.generator.matrix()).T
        B = _ridge(Z, X, reg)
        return KoopmanEstimator(self.encode, M, M @ B, B, float(dt))
