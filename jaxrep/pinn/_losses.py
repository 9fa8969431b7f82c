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

from ._config import BalanceConfig, CausalConfig, LossWeights, RADConfig
from ._koopman_loss import koopman_losses, l1_penalty
from ._sampling import space_time_points
from ..pde._problem import AbstractProblem


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
    rad: RADConfig = RADConfig(),
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
    - `rad`: a `RADConfig`; with `every > 0` the residual points are redistributed by RAD (stateful,
      see `rad_loss`; the batches need candidates, `make_sampler(..., rad=rad)`).

    **Returns:** `loss_fn(model, batch, key) -> (loss, aux)`, or with balancing or RAD
    `loss_fn(model, batch, key, state) -> (loss, aux, state)` (the terms function as `loss_fn.terms`
    with balancing, to size the initial state as `solve` does); `aux` holds every unweighted term.
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
            aux["koopman_gen"], aux["koopman_expm"] = koopman_losses(
                model.z, A, batch["x_k"], batch["t_k"], batch["s_k"])
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

    else:
        if balance.method == "ntk" and koopman:
            raise ValueError("balance.method='ntk' balances the PINN terms (physics, initial, boundary) only; "
                             "use balance.method='grad_norm' with the Koopman methods (pike, spike)")
        loss_fn = balanced_loss(terms, balance, point_residuals=point_residuals if balance.method == "ntk" else None)
    return rad_loss(loss_fn, problem, rad) if rad.every else loss_fn


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


def residual_norms(problem: AbstractProblem, u, xs: Float[Array, "n d"], ts: Float[Array, " n"]) -> Array:
    """$|r(x_i, t_i)|$, the Euclidean norm of the PDE residual over its components, shape `(n,)`."""
    r = residuals(problem, u, xs, ts)
    return jnp.sqrt(jnp.sum(r.reshape(r.shape[0], -1) ** 2, axis=-1))


def rad_select(key, r_abs: Float[Array, " m"], n: int, k: float, c: float) -> Array:
    r"""`n` distinct indices into the `m` candidates, drawn without replacement with probability
    $p_j\propto |r_j|^k/\operatorname{mean}_i|r_i|^k + c$ (successive sampling by Gumbel top-$n$).
    The density is invariant to the scale of $r$, which is divided by its maximum first, so large $k$
    neither overflows nor underflows."""
    finite = jnp.isfinite(r_abs)  # a non-finite residual: (almost) never chosen
    r_abs = jnp.where(finite, r_abs, 0.0)
    w = (r_abs / (jnp.max(r_abs) + 1e-30)) ** k
    p = w / (jnp.mean(w) + 1e-30) + c
    p = jnp.where(finite & jnp.isfinite(p), p, 0.0) + 1e-30
    return jax.random.choice(key, r_abs.shape[0], (n,), replace=False, p=p / jnp.sum(p))


def rad_fixed_points(problem: AbstractProblem, rad) -> Callable:
    r"""RAD for a fixed-point phase: `select(model, batch, key) -> batch` for `jaxrep.train.Phase(...,
    resample=False, select=...)`.

    The phase's $n$ residual points `x_r, t_r` are replaced by $n$ of `rad.pool` $\times n$ fresh
    Latin-hypercube candidates in the training region, drawn without replacement by `rad_select`
    (probability $\propto |r|^k/\operatorname{mean}|r|^k + c$, `rad.k`, `rad.c`) with the residual of
    `model` as it enters the phase; the other entries of the batch are kept. A quasi-Newton phase
    then spends its fixed points where the residual was large (e.g. near a shock) instead of uniformly.
    """
    t0, t_end = problem.train_window
    region = (problem.train_lower, problem.train_upper)

    def select(model, batch, key):
        if "x_r" not in batch or "t_r" not in batch:
            raise ValueError("rad.fixed: the phase's batch has no residual points 'x_r', 't_r' to choose")
        n = batch["x_r"].shape[0]
        k_cand, k_pick = jax.random.split(key)
        x_c, t_c = space_time_points(k_cand, problem, rad.pool * n, t0, t_end, region=region)
        x_c, t_c = x_c.astype(batch["x_r"].dtype), t_c.astype(batch["t_r"].dtype)
        r_abs = residual_norms(problem, jax.lax.stop_gradient(model).u, x_c, t_c)
        idx = rad_select(k_pick, r_abs, n, rad.k, rad.c)
        return {**batch, "x_r": x_c[idx], "t_r": t_c[idx]}

    return select


def rad_state(problem: AbstractProblem, n_residual: int) -> dict:
    """The initial RAD entries of the loss state: `rad_x (n, d)`, `rad_t (n,)`, `rad_count ()` and
    `rad_ratio ()` (the last redraw's mean $|r|$ of the chosen points over that of the candidates)."""
    return {"rad_x": jnp.zeros((n_residual, problem.spatial_dim), jnp.float32),
            "rad_t": jnp.zeros((n_residual,), jnp.float32), "rad_count": jnp.zeros((), jnp.int32),
            "rad_ratio": jnp.ones((), jnp.float32)}


def rad_loss(loss_fn: Callable, problem: AbstractProblem, rad) -> Callable:
    r"""Residual-based adaptive distribution (RAD) of the residual points around `loss_fn`.

    The returned loss is stateful, `(model, batch, key, state) -> (loss, aux, state)`; `state` holds
    the current points `rad_x`, `rad_t` and a counter `rad_count` (from `rad_state`), plus whatever
    state `loss_fn` keeps (a `balanced_loss`: `weights`, `count`), all in one flat dict. On a batch
    with candidates `x_c, t_c` (`make_sampler(..., rad=rad)`) the points are the first `n_residual`
    candidates at the first call and, at every `rad.every`-th call after it, `n_residual` candidates
    drawn by `rad_select` with the residual of the current parameters; `loss_fn` then sees them as
    `x_r, t_r`. A batch without candidates (a fixed-point phase) is passed through unchanged and the
    state kept. `aux` gains `rad_mean_ratio`: at the last redraw, the mean $|r|$ of the chosen points
    over that of all (uniform) candidates (above 1 when RAD concentrates points where the residual is
    large; 1 before the first redraw).

    **References:** Wu, Zhu, Tan, Kartha & Lu, Comput. Methods Appl. Mech. Eng. 403 (2023).
    """
    inner_stateful = hasattr(loss_fn, "terms")  # balanced_loss: (model, batch, key, state)
    own = ("rad_x", "rad_t", "rad_count", "rad_ratio")

    def call_inner(model, batch, key, state):
        if inner_stateful:
            loss, aux, inner = loss_fn(model, batch, key, {k: v for k, v in state.items() if k not in own})
            return loss, aux, inner
        loss, aux = loss_fn(model, batch, key)
        return loss, aux, {}

    def wrapped(model, batch, key, state):
        if "x_r" not in batch or "t_r" not in batch:
            raise ValueError("rad: the batch has no residual points 'x_r', 't_r' to redistribute")
        if "x_c" not in batch:
            loss, aux, inner = call_inner(model, batch, key, state)
            aux = {**aux, "rad_mean_ratio": state["rad_ratio"]}
            return loss, aux, {**inner, **{k: state[k] for k in own}}
        n, count = batch["x_r"].shape[0], state["rad_count"]
        x_c, t_c = batch["x_c"], batch["t_c"]
        frozen = jax.lax.stop_gradient(model)

        def redraw(_):
            r = residual_norms(problem, frozen.u, x_c, t_c)
            idx = rad_select(jax.random.fold_in(key, 1), r, n, rad.k, rad.c)
            return x_c[idx], t_c[idx], (jnp.mean(r[idx]) / (jnp.mean(r) + 1e-30)).astype(jnp.float32)

        def first(_):
            return x_c[:n], t_c[:n], jnp.ones((), jnp.float32)

        def keep(_):
            return state["rad_x"].astype(x_c.dtype), state["rad_t"].astype(t_c.dtype), state["rad_ratio"]

        branch = jnp.where(count == 0, 0, jnp.where(count % rad.every == 0, 1, 2))
        xs, ts, ratio = jax.lax.switch(branch, (first, redraw, keep), None)
        xs, ts = jax.lax.stop_gradient(xs), jax.lax.stop_gradient(ts)
        inner_batch = {k: v for k, v in batch.items() if k not in ("x_c", "t_c")}
        inner_batch.update(x_r=xs, t_r=ts)
        loss, aux, inner = call_inner(model, inner_batch, key, state)
        aux = dict(aux)
        aux["rad_mean_ratio"] = ratio
        new = {"rad_x": xs.astype(state["rad_x"].dtype), "rad_t": ts.astype(state["rad_t"].dtype),
               "rad_count": count + 1, "rad_ratio": ratio}
        return loss, aux, {**inner, **new}

    if inner_stateful:
        wrapped.terms = loss_fn.terms
    return wrapped
