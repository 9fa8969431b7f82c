r"""An exponential moving average of the parameters, kept in the optimiser state."""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PyTree

from .._validate import check_fraction


class EmaState(NamedTuple):
    """State of [`ema`][jaxrep.train.ema]: the wrapped optimiser's state and the running average.

    `average` holds $\\sum_{s\\le k}(1-\\rho)\\rho^{k-s}\\theta_s$ (started from zeros); divide by
    $1-\\rho^k$ for the debiased average ([`ema_model`][jaxrep.train.ema_model] does).
    """

    inner: PyTree
    count: Int[Array, ""]
    decay: Float[Array, ""]
    average: PyTree


def ema(optimizer: optax.GradientTransformation, decay: float = 0.999) -> optax.GradientTransformationExtraArgs:
    r"""Wrap `optimizer` so that its state also carries an exponential moving average of the parameters.

    After the $k$-th update, with $\theta_k$ the parameters the wrapped optimiser produced,
    $$a_k=\rho\,a_{k-1}+(1-\rho)\,\theta_k,\quad a_0=0,\qquad \bar\theta_k=\frac{a_k}{1-\rho^k},$$
    so $\bar\theta_k$ is a weighted mean of the iterates with weights $\propto\rho^{k-s}$ (the division
    removes the bias towards the zero start, as Adam's moments do). The updates themselves are the wrapped
    optimiser's, unchanged: training follows the same trajectory with or without the average. Averaged
    weights are the usual evaluation weights of diffusion / flow-matching models; they smooth out the
    last steps' gradient noise. The average is part of the optimiser state, so `fit` checkpoints and
    resumes it with everything else; read it with [`ema_model`][jaxrep.train.ema_model].

    **Arguments:** `optimizer` any optax transformation (extra arguments such as a line search's `value`
    are passed through); `decay` $\rho\in[0,1)$ (the average spans about $1/(1-\rho)$ steps).

    **Returns:** an `optax.GradientTransformationExtraArgs` whose `update` needs `params`.
    """
    rho = check_fraction(decay, "decay")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {type(optimizer).__name__}")
    inner = optax.with_extra_args_support(optimizer)

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return EmaState(inner.init(params), jnp.zeros((), jnp.int32), jnp.asarray(rho, dtype=float), zeros)

    def update(updates, state, params=None, **extra):
        if params is None:
            raise ValueError("ema needs the current params in update(updates, state, params)")
        new_updates, new_inner = inner.update(updates, state.inner, params, **extra)
        new_params = optax.apply_updates(params, new_updates)
        average = jax.tree_util.tree_map(
            lambda a, p: (rho * a + (1 - rho) * p).astype(a.dtype), state.average, new_params)
        return new_updates, EmaState(new_inner, state.count + 1, state.decay, average)

    return optax.GradientTransformationExtraArgs(init, update)


def _find(opt_state):
    found = [s for s in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda s: isinstance(s, EmaState))
             if isinstance(s, EmaState)]
    return found


def ema_model(model: PyTree, opt_state: PyTree) -> PyTree:
    r"""The model with its parameters replaced by the debiased moving average $\bar\theta_k$.

    **Arguments:** `model` the trained model (its non-array parts are kept); `opt_state` the optimiser state
    that holds exactly one [`EmaState`][jaxrep.train.EmaState] (e.g. `fit(..., return_opt_state=True)`
    with an [`ema`][jaxrep.train.ema] optimiser, or the `opt_state` of a `TrainState`).

    **Returns:** a model of the same structure; `model` itself when no update was averaged yet.
    """
    found = _find(opt_state)
    if len(found) != 1:
        raise ValueError(f"opt_state must hold exactly one EmaState (an optimiser wrapped by jaxrep.train.ema), "
                         f"found {len(found)}")
    state = found[0]
    params, static = eqx.partition(model, eqx.is_inexact_array)
    if jax.tree_util.tree_structure(params) != jax.tree_util.tree_structure(state.average) or any(
            jnp.shape(a) != jnp.shape(p)
            for a, p in zip(jax.tree_util.tree_leaves(state.average), jax.tree_util.tree_leaves(params))):
        raise ValueError("the EmaState's average does not match the model's parameters (a different model?)")
    k = int(state.count)
    if k == 0:
        return model
    scale = 1.0 / (1.0 - float(state.decay) ** k)
    average = jax.tree_util.tree_map(lambda a, p: (a * scale).astype(p.dtype), state.average, params)
    return eqx.combine(average, static)
