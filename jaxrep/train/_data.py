"""Pure samplers for `fit`: minibatches of a fixed dataset, deterministic in (key, step)."""

from typing import Callable

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import PyTree


def minibatches(arrays: PyTree, batch_size: int) -> Callable:
    """A pure sampler drawing `batch_size` rows of `arrays` (all with the same leading size) per step.

    Rows are drawn uniformly with replacement from the step's `key`, so the stream depends only on
    `(key, step)`: resuming a run reproduces it exactly, and the sampler can be traced inside the
    compiled training step (the dataset lives on the device).

    **Returns:** `sample(key, step) -> batch` with the structure of `arrays`.
    """
    leaves = jax.tree_util.tree_leaves(arrays)
    if not leaves:
        raise ValueError("arrays must hold at least one array")
    n = leaves[0].shape[0]
    for leaf in leaves:
        if leaf.shape[0] != n:
            raise ValueError(
                f"every array must have the same leading size; got {[l.shape for l in leaves]}"
            )
    if not 1 <= batch_size:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    arrays = jax.tree_util.tree_map(jnp.asarray, arrays)

    def sample(key, step):
        idx = jr.randint(key, (batch_size,), 0, n)
        return jax.tree_util.tree_map(lambda a: a[idx], arrays)

    return sample
