"""Shared fixtures: a seeded `getkey` and dtype-aware `tree_allclose`."""

import os
import random

os.environ.setdefault("MPLBACKEND", "Agg")

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import pytest

# Tests check the mathematics at float32/float64 tolerances. On NVIDIA GPUs JAX's default float32 matmul
# precision is TF32 (~1e-3 relative), which is a hardware choice, not a bug; run the suite at full precision
# so that it means the same on every backend (a no-op on CPU).
jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture
def getkey(request):
    """Return a function giving a fresh PRNG key each call; the seed is printed on failure."""
    seed = random.Random(request.node.nodeid).randint(0, 2**31 - 1)
    print(f"getkey seed: {seed}")
    keys = iter(jr.split(jr.PRNGKey(seed), 1000))
    return lambda: next(keys)


def _default_tol(tree):
    dtypes = [x.dtype for x in jax.tree_util.tree_leaves(tree) if eqx.is_array(x)]
    if any(d == jnp.float64 for d in dtypes):
        return 1e-10, 1e-10
    return 1e-5, 1e-5


def tree_allclose(x, y, *, rtol=None, atol=None) -> bool:
    """`eqx.tree_equal` with tolerances chosen from the leaves' dtype unless given."""
    d_rtol, d_atol = _default_tol(x)
    return bool(eqx.tree_equal(x, y, rtol=d_rtol if rtol is None else rtol,
                               atol=d_atol if atol is None else atol))


@pytest.fixture
def allclose():
    return tree_allclose
