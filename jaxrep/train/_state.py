"""The training state pytree."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PyTree, UInt


class TrainState(eqx.Module):
    """Everything a training run needs to continue exactly: model, optimiser state, step, PRNG key, and
    the state of a stateful loss (e.g. adaptive loss weights; `None` for a plain loss).

    `key` is kept as raw `uint32` key data so that it checkpoints like any other array.
    """

    model: PyTree
    opt_state: PyTree
    step: Int[Array, ""]
    key: UInt[Array, " 2"]
    loss_state: PyTree = None


def raw_key(key) -> Array:
    """Raw uint32 key data for either a typed key (`jax.random.key`) or a legacy `PRNGKey`."""
    if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return jnp.asarray(key, dtype=jnp.uint32)
