r"""Continuous-time deep Koopman autoencoder (Lusch et al. 2018; SPIKE's latent generator).

An encoder $\varphi: \mathbb{R}^d \to \mathbb{R}^k$ lifts a state to latent coordinates that evolve
linearly, $\dot z = Az$, so $z(t) = e^{tA}\varphi(x_0)$ exactly ([`jaxrep.koopman.propagate`][]);
a decoder maps back, $\hat x(t) = \psi(e^{tA}\varphi(x_0))$. Train it with the losses of
[`jaxrep.koopman.losses`][] through `jaxrep.train.fit`.
"""

from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._estimators import (
    _as_data,
    _check_dt,
    _check_reg,
    _mm,
    _ridge,
    GeneratorEstimator,
    KoopmanEstimator,
)
from ._generator import AbstractGenerator
from ._propagate import expm_stack, propagate


class SkipLinear(eqx.Module):
    r"""$x \mapsto W(x - a) + f(x) - f(a)$: a bias-free linear map plus a nonlinear correction
    `backbone` $f$, optionally **anchored** so that the anchor $a$ maps to $0$.

    Koopman eigenfunctions of many systems are "linear plus small nonlinear" (the slow manifold's
    $x_2 - b x_1^2$), which this form learns much faster than a plain network. Acts on one sample.

    **Why anchor.** Every Koopman eigenfunction with eigenvalue $\mu \ne 0$ vanishes at every fixed
    point $x^*$ of the flow ($\varphi(x^*) = e^{t\mu}\varphi(x^*)$ for all $t$). An encoder whose
    output carries a constant offset (the backbone's biases give it one) mixes the constant function,
    eigenvalue $0$, into every latent coordinate; with no latent direction to spare for it, the fitted
    generator's eigenvalues are pulled towards $0$. Anchoring the encoder at a fixed point (and the
    decoder at latent $0$) removes the offset exactly.

    **Arguments:** `backbone` `(in_size,) -> (out_size,)`; `in_size`, `out_size`; `key` (keyword-only,
    for $W$, initialised like `eqx.nn.Linear`); `anchor` (keyword-only): `None` (default, no anchoring:
    $x \mapsto Wx + f(x)$) or a point `(in_size,)` that is mapped to $0$ (for an encoder: a fixed point
    of the dynamics, e.g. the origin).
    """

    linear: eqx.nn.Linear
    backbone: Callable
    # static (a tuple of floats), so that training never moves it
    anchor: Optional[tuple[float, ...]] = eqx.field(static=True)

    def __init__(
        self,
        backbone: Callable,
        in_size: int,
        out_size: int,
        *,
        key: PRNGKeyArray,
        anchor: Optional[Float[ArrayLike, " in_size"]] = None,
    ):
        self.linear = eqx.nn.Linear(in_size, out_size, use_bias=False, key=key)
        self.backbone = backbone
        if anchor is not None:
            a = np.asarray(anchor, dtype=float)
            if a.shape != (in_size,) or not np.all(np.isfinite(a)):
                raise ValueError(f"anchor must be finite with shape ({in_size},) (in_size), got {a.shape}")
            anchor = tuple(float(v) for v in a)
        self.anchor = anchor

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"]:
        if self.anchor is None:
            return self.linear(x) + self.backbone(x)
        a = jnp.asarray(self.anchor, dtype=x.dtype)
        return self.linear(x - a) + self.backbone(x) - self.backbone(a)


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

    def as_estimator(
        self,
        X: Float[ArrayLike, "n d"],
        dt: float,
        reg: float = 1e-8,
        *,
        generator: bool = False,
    ) -> KoopmanEstimator | GeneratorEstimator:
        r"""The learned model as a finite-rank Koopman estimator whose dictionary is the encoder.

        The embedding is $e = \varphi$ (the encoder) and the matrix is the learned generator, in the
        row convention of the estimators ($\tfrac{d}{dt}e(x)^\top = e(x)^\top A^\top$):

        - `generator=False` (default): a [`KoopmanEstimator`][jaxrep.koopman.KoopmanEstimator] with
          transition $M = (e^{\Delta t A})^\top$; check it with
          `residuals(est, X_test, Y_test)` on held-out pairs $Y = \Phi_{\Delta t}(X)$;
        - `generator=True`: a [`GeneratorEstimator`][jaxrep.koopman.GeneratorEstimator] with matrix
          $A^\top$; check it with `residuals(est, X_test, dXdt_test)` on held-out states and
          velocities (the encoder's derivative $D\varphi(x)\dot x$ by forward-mode autodiff), as
          [`jaxrep.pinn.koopman_estimator`][] does for PIKE/SPIKE models.

        Either works with [`jaxrep.koopman.eig`][], [`jaxrep.koopman.residuals`][] (ResDMD: residual
        $\approx 0$ exactly when $\varphi^\top q$ is a Koopman eigenfunction on the data) and
        [`jaxrep.koopman.pseudospectrum`][].

        **Arguments:** `X` `(n, d)` states for the linear read-out $x \approx \varphi(x)^\top B$
        (ridge regression of `X` on $\varphi(X)$; it sets the Koopman modes and forecasts, not the
        eigenvalues or residuals); `dt` the step of the data the estimator is checked on; `reg` ridge;
        `generator` (keyword-only) see above.

        **Returns:** a `KoopmanEstimator` or a `GeneratorEstimator`.
        """
        dt = _check_dt(dt)
        A, M, B = _estimator_matrices(self, _as_data(X, "X"), dt, _check_reg(reg))
        if generator:
            return GeneratorEstimator(self.encode, A.T, B, dt)
        return KoopmanEstimator(self.encode, M, _mm(M, B), B, dt)


@eqx.filter_jit
def _estimator_matrices(model, X, dt, reg):
    # one compiled program (eager expm and lstsq would dispatch and compile op by op)
    A = model.generator.matrix()
    B = _ridge(jax.vmap(model.encode)(X), X, reg)
    return A, expm_stack(A, jnp.full((1,), dt, A.dtype))[0].T, B
