"""The compiled-chunk cache behind `jaxrep.train.fit`: reuse while the callables live, `clear_cache`."""

import gc

import jax
import jax.numpy as jnp
import jax.random as jr
import optax

import jaxrep as jrp


def test_fit_reuses_its_compiled_chunk_and_clear_cache_drops_it():
    jrp.train.clear_cache()
    model = jrp.nn.MLP(2, 1, 4, 1, key=jr.PRNGKey(0))
    traces = []

    def loss(m, batch, key):
        traces.append(1)  # runs only while tracing
        return jnp.mean((jax.vmap(m)(batch) - 1.0) ** 2), {}

    def sampler(key, step):
        return jnp.ones((4, 2))

    opt = optax.adam(1e-2)
    run = lambda: jrp.train.fit(model, loss, sampler, opt, steps=4, key=jr.PRNGKey(0), progress=False)
    first, _ = run()
    n = len(traces)
    assert n >= 1 and jrp.train.cache_info()["entries"] == 1
    again, _ = run()  # same loss, optimiser and sampler objects: no new trace
    assert len(traces) == n
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(lambda a, b: bool(jnp.all(a == b)),
                                                         jax.tree_util.tree_leaves(first),
                                                         jax.tree_util.tree_leaves(again)))
    jrp.train.clear_cache()
    assert jrp.train.cache_info()["entries"] == 0
    run()  # compiled again after clearing
    assert len(traces) > n
    # the entry dies with its loss function
    del loss, run
    gc.collect()
    assert jrp.train.cache_info()["entries"] == 0
