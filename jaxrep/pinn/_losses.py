r"""PINN losses as pure functions of a solution function and a batch of collocation points.

$$\mathcal L = w_r\,\overline{|\mathcal N[u]|^2} + w_0\,\overline{|u(\cdot, t_0) - u_0|^2}
 + w_b\,\overline{|\mathcal B[u]|^2}\ \big[+ w_K(\mathcal L_{\text{gen}} + \mathcal L_{\exp})
 \big]\ \big[+ w_1\|A\|_1\big],$$

the bracketed terms for PIKE and SPIKE (see `_koopman_loss.py`). Means run over points and
components. A condition built into the network (`ConstraintConfig`) drops its term; causal weighting
(`CausalConfig`) replaces the plain residual mean by the causally weighted one of `causal_residual`.
"""

from __future__ import annotations

from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._config import BalanceConfig, CausalConfig, LossWeights
from ._koopman_loss import koopman_expm_loss, koopman_generator_loss, l1_penalty
from ._problem import AbstractProblem


def residuals(problem: AbstractProblem, u, xs: Float[Array, "n d"], ts: Float[Array, " n"]):
    r"""The PDE residuals $\mathcal N[u](x_i, t_i)$, shape `(n, k)`."""
    return jax.vmap(lambda x, t: problem.residual(u, x, t))(xs, ts)


def initial_residuals(problem: AbstractProblem, u, xs: Float[Array, "n d"]):
    r"""The initial-condition residuals $u(x_i, t_0) - u_0(x_i)$ (and $u_t$ for second order in time)."""
    return jax.vmap(lambda x: problem.initial_residual(u, x))(xs)


def boundary_residuals(problem: AbstractProblem, u, xs, ts, dims, sides):
    r"""The boundary-condition residuals at the boundary points."""
    return jax.vmap(lambda x, t, d, s: problem.boundary_residual(u, x, t, d, s))(xs, ts, dims, sides)


def residual_mse(problem: AbstractProblem, u, xs: Float[Array, "n d"], ts: Float[Array, " n"]):
    r"""$\operatorname{mean}|\mathcal N[u](x_i, t_i)|^2$."""
    return jnp.mean(residuals(problem, u, xs, ts) ** 2)


def causal_residual(problem: AbstractProblem, u, xs, ts, chunks: int, tolerance: float):
    r"""Causally weighted residual loss over `chunks` equal time slabs of the training window.

    The points are sorted by time and cut into `chunks` slabs of equal count (with Latin-hypercube
    points that is one slab per equal time interval); $\mathcal L_i$ is slab $i$'s mean squared
    residual and
    $$\mathcal L_r = \frac1M\sum_{i=1}^{M} w_i\mathcal L_i,\qquad
    w_i = \exp\Big(-\varepsilon\sum_{k<i}\mathcal L_k\Big)$$
    with no gradient through $w$ (`stop_gradient`).

    **Returns:** `(loss, weights (chunks,))`.

    **References:** Wang, Sankaran & Perdikaris, arXiv:2203.07404 (2022).
    """
    order = jnp.argsort(ts)
    r = residuals(problem, u, xs[order], ts[order])
    per_point = jnp.mean(r**2, axis=-1)
    slab = jnp.mean(per_point.reshape(chunks, -1), axis=1)
    before = jnp.concatenate([jnp.zeros((1,), slab.dtype), jnp.cumsum(slab)[:-1]])
    w = jax.lax.stop_gradient(jnp.exp(-tolerance * before))
    return jnp.mean(w * slab), w


def initial_mse(problem: AbstractProblem, u, xs: Float[Array, "n d"]):
    r"""$\operatorname{mean}|u(x_i, t_0) - u_0(x_i)|^2$ (plus $u_t$ for second order in time)."""
    return jnp.mean(initial_residuals(problem, u, xs) ** 2)


def boundary_mse(problem: AbstractProblem, u, xs, ts, dims, sides):
    r"""Mean squared boundary-condition residual."""
    return jnp.mean(boundary_residuals(problem, u, xs, ts, dims, sides) ** 2)


def make_loss_fn(
    problem: AbstractProblem,
    weights: LossWeights,
    *,
    koopman: bool,
    sparse: bool,
    hard_initial: bool = False,
    hard_boundary: bool = False,
    causal: CausalConfig = CausalConfig(),
    balance: BalanceConfig = BalanceConfig(),
) -> Callable:
    r"""Build the loss of `jaxrep.train.fit` for a PINN / PIKE / SPIKE model.

    **Arguments:**

    - `problem`: the `AbstractProblem`.
    - `weights`: a `LossWeights`.
    - `koopman`: add the Koopman generator and matrix-exponential losses (PIKE);
    - `sparse`: also add `weights.l1` $\cdot\|A\|_1$ (SPIKE).
    - `hard_initial`, `hard_boundary`: the initial / boundary condition is built into the network, so
      its term is left out.
    - `causal`: a `CausalConfig`; with `chunks > 0` the physics term is causally weighted (and `aux`
      gains `causal_min_weight`, the weight of the last slab).
    - `balance`: a `BalanceConfig`; with `every > 0` the loss is *stateful* (adaptive weights, see
      `balanced_loss`).

    **Returns:** `loss_fn(model, batch, key) -> (loss, aux)`, or with balancing
    `loss_fn(model, batch, key, state) -> (loss, aux, state)` with the terms function as
    `loss_fn.terms` (to size the initial state, as `solve` does); `aux` holds every unweighted term.
    """
    if sparse and not koopman:
        raise ValueError("make_loss_fn: sparse=True needs koopman=True")
    chunks = causal.chunks

    def terms(model, batch):
        """The weighted loss terms (a dict; the L1 penalty is not balanced) and the aux metrics."""
        u = model.u
        aux, out = {}, {}
        if chunks:
            aux["physics"], w = causal_residual(problem, u, batch["x_r"], batch["t_r"], chunks, causal.tolerance)
            aux["causal_min_weight"] = w[-1]
        else:
            aux["physics"] = residual_mse(problem, u, batch["x_r"], batch["t_r"])
        out["physics"] = weights.physics * aux["physics"]
        if not hard_initial:
            aux["initial"] = initial_mse(problem, u, batch["x_0"])
            out["initial"] = weights.initial * aux["initial"]
        if "x_b" in batch and not hard_boundary:
            aux["boundary"] = boundary_mse(problem, u, batch["x_b"], batch["t_b"], batch["dim_b"], batch["side_b"])
            out["boundary"] = weights.boundary * aux["boundary"]
        extra = 0.0
        if koopman:
            A = model.A()
            aux["koopman_gen"] = koopman_generator_loss(model.z, A, batch["x_k"], batch["t_k"])
            aux["koopman_expm"] = koopman_expm_loss(model.z, A, batch["x_k"], batch["t_k"], batch["s_k"])
            out["koopman"] = weights.koopman * (aux["koopman_gen"] + aux["koopman_expm"])
            aux["A_l1"] = l1_penalty(A)
            if sparse:
                extra = weights.l1 * aux["A_l1"]
        return out, extra, aux

    def point_residuals(model, batch, m):
        r"""The weighted pointwise residuals $\sqrt{w_i}\,r_i$ of each term at its first `m` points,
        `{name: (m_i, k)}`, named and ordered as the dict of `terms` (for NTK balancing)."""
        u, b = model.u, {k: v[:m] for k, v in batch.items()}
        out = {"physics": jnp.sqrt(weights.physics) * residuals(problem, u, b["x_r"], b["t_r"])}
        if not hard_initial:
            out["initial"] = jnp.sqrt(weights.initial) * initial_residuals(problem, u, b["x_0"])
        if "x_b" in batch and not hard_boundary:
            out["boundary"] = jnp.sqrt(weights.boundary) * boundary_residuals(
                problem, u, b["x_b"], b["t_b"], b["dim_b"], b["side_b"])
        return out

    if not balance.every:

        def loss_fn(model, batch, key):
            out, extra, aux = terms(model, batch)
            return sum(out.values()) + extra, aux

        return loss_fn
    if balance.method == "ntk" and koopman:
        raise ValueError("balance.method='ntk' balances the PINN terms (physics, initial, boundary) only; "
                         "use balance.method='grad_norm' with the Koopman methods (pike, spike)")
    return balanced_loss(terms, balance, point_residuals=point_residuals if balance.method == "ntk" else None)


def balanced_loss(terms: Callable, balance: BalanceConfig, *, point_residuals: Optional[Callable] = None) -> Callable:
    r"""Adaptive balancing of the terms of `terms(model, batch) -> (dict, extra, aux)`.

    The state is `{"weights": (n_terms,), "count": ()}`, one weight per entry of the dict in its
    (insertion) order, all starting at 1. At every `balance.every`-th call (and the first),
    $\hat\lambda_i = \sum_j s_j / s_i$ is computed on the current batch (at `stop_gradient`
    parameters, so it adds nothing to the backward pass) and mixed in with momentum. The scale is
    $s_i = \|\nabla_\theta T_i\|_2$ (`balance.method = "grad_norm"`) or, given
    `point_residuals(model, batch, m) -> {name: (m_i, k)}` (`"ntk"`), the mean NTK diagonal
    $s_i = \frac1{m_i}\sum_j \|\nabla_\theta r_{ij}\|_2^2$ (the Jacobian of the $m_i k$ residuals by
    reverse mode). The loss is $\sum_i \lambda_i T_i$ + `extra`; `aux` gains `weight_<term>`.
    """
    if balance.method == "ntk" and point_residuals is None:
        raise ValueError("balanced_loss: balance.method='ntk' needs point_residuals")
    def grad_norms(model, batch, names):
        params, static = eqx.partition(jax.lax.stop_gradient(model), eqx.is_inexact_array)

        def term(p, name):
            return terms(eqx.combine(p, static), batch)[0][name]

        norms = []
        for name in names:
            g = jax.grad(term)(params, name)
            leaves = [jnp.sum(x**2) for x in jax.tree_util.tree_leaves(g)]
            norms.append(jnp.sqrt(sum(leaves)))
        return jnp.stack(norms)

    def ntk_traces(model, batch, names):
        params, static = eqx.partition(jax.lax.stop_gradient(model), eqx.is_inexact_array)

        def res(p, name):
            return point_residuals(eqx.combine(p, static), batch, balance.ntk_points)[name].reshape(-1)

        traces = []
        for name in names:
            n = res(params, name).shape[0]
            jac = jax.jacrev(res)(params, name)  # leaves (n, *leaf shape)
            traces.append(sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(jac)) / n)
        return jnp.stack(traces)

    scale = ntk_traces if balance.method == "ntk" else grad_norms

    def loss_fn(model, batch, key, state):
        out, extra, aux = terms(model, batch)
        w, count = state["weights"], state["count"]

        def update(w):
            g = scale(model, batch, list(out))
            g = jnp.maximum(g, 1e-12 * jnp.max(g) + 1e-30)
            new = jnp.sum(g) / g
            m = jnp.where(count == 0, 0.0, balance.momentum).astype(w.dtype)
            return (m * w + (1 - m) * new).astype(w.dtype)

        w = jax.lax.cond(count % balance.every == 0, update, lambda w: w, w)
        w = jax.lax.stop_gradient(w)
        loss = sum(wi * t for wi, t in zip(w, out.values())) + extra
        aux.update({f"weight_{name}": wi for name, wi in zip(out, w)})
        return loss, aux, {"weights": w, "count": count + 1}

    loss_fn.terms = terms
    return loss_fn
