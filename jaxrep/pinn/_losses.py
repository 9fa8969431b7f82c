r"""PINN losses as pure functions of a solution function and a batch of collocation points.

$$\mathcal L = w_r\,\overline{|\mathcal N[u]|^2} + w_0\,\overline{|u(\cdot, t_0) - u_0|^2}
 + w_b\,\overline{|\mathcal B[u]|^2}\ \big[+ w_K(\mathcal L_{\text{gen}} + \mathcal L_{\exp})
 \big]\ \big[+ w_1\|A\|_1\big],$$

the bracketed terms for PIKE and SPIKE (see `_koopman_loss.py`). Means run over points and
components.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._config import LossWeights
from ._koopman_loss import koopman_expm_loss, koopman_generator_loss, l1_penalty
from ._problem import AbstractProblem


def residual_mse(problem: AbstractProblem, u, xs: Float[Array, "n d"], ts: Float[Array, " n"]):
    r"""$\operatorname{mean}|\mathcal N[u](x_i, t_i)|^2$."""
    r = jax.vmap(lambda x, t: problem.residual(u, x, t))(xs, ts)
    return jnp.mean(r**2)


def initial_mse(problem: AbstractProblem, u, xs: Float[Array, "n d"]):
    r"""$\operatorname{mean}|u(x_i, t_0) - u_0(x_i)|^2$ (plus $u_t$ for second order in time)."""
    r = jax.vmap(lambda x: problem.initial_residual(u, x))(xs)
    return jnp.mean(r**2)


def boundary_mse(problem: AbstractProblem, u, xs, ts, dims, sides):
    r"""Mean squared boundary-condition residual."""
    r = jax.vmap(lambda x, t, d, s: problem.boundary_residual(u, x, t, d, s))(xs, ts, dims, sides)
    return jnp.mean(r**2)


def make_loss_fn(problem: AbstractProblem, weights: LossWeights, *, koopman: bool, sparse: bool) -> Callable:
    r"""Build `loss_fn(model, batch, key) -> (loss, aux)` for `jaxrep.train.fit`.

    **Arguments:**

    - `problem`: the `AbstractProblem`.
    - `weights`: a `LossWeights`.
    - `koopman`: add the Koopman generator and matrix-exponential losses (PIKE);
    - `sparse`: also add `weights.l1` $\cdot\|A\|_1$ (SPIKE).

    **Returns:** the loss function; `aux` holds every unweighted term.
    """
    if sparse and not koopman:
        raise ValueError("make_loss_fn: sparse=True needs koopman=True")

    def loss_fn(model, batch, key):
        u = model.u
        aux = {
            "physics": residual_mse(problem, u, batch["x_r"], batch["t_r"]),
            "initial": initial_mse(problem, u, batch["x_0"]),
        }
        loss = weights.physics * aux["physics"] + weights.initial * aux["initial"]
        if "x_b" in batch:
            aux["boundary"] = boundary_mse(problem, u, batch["x_b"], batch["t_b"], batch["dim_b"], batch["side_b"])
            loss = loss + weights.boundary * aux["boundary"]
        if koopman:
            A = model.A()
            aux["koopman_gen"] = koopman_generator_loss(model.z, A, batch["x_k"], batch["t_k"])
            aux["koopman_expm"] = koopman_expm_loss(model.z, A, batch["x_k"], batch["t_k"], batch["s_k"])
            loss = loss + weights.koopman * (aux["koopman_gen"] + aux["koopman_expm"])
            aux["A_l1"] = l1_penalty(A)
            if sparse:
                loss = loss + weights.l1 * aux["A_l1"]
        return loss, aux

    return loss_fn
