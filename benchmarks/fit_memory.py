"""Per-call growth of RSS and memory mappings over repeated trainings in one process (Linux).

A sweep builds a fresh loss per run; each `jaxrep.train.fit` / `jaxrep.pinn.solve` must free its
compiled programs when the run's objects die, or a long sweep runs out of memory mappings
(`vm.max_map_count`, 65530 by default: LLVM then fails with "Unable to allocate section memory").
Flat `maps=` after the first calls is the expected result.

    python benchmarks/fit_memory.py solve [--n 16] [--clear-jax] [--clear-chunk]
    python benchmarks/fit_memory.py fit   [--n 20] [--clear-jax] [--clear-chunk]
"""
import argparse
import gc
import time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["solve", "fit"])
ap.add_argument("--n", type=int, default=16)
ap.add_argument("--clear-jax", action="store_true", help="jax.clear_caches() after each call")
ap.add_argument("--clear-donation", action="store_true",
                help="jax._src.api_util.donation_vector.cache_clear() after each call")
ap.add_argument("--clear-chunk", action="store_true", help="jaxrep.train.clear_cache() after each call")
args = ap.parse_args()

import jax
import jax.numpy as jnp
import jax.random as jr
import optax

import jaxrep


def rss_maps():
    rss = next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]
    return int(rss) / 1024, len(open("/proc/self/maps").readlines())


print("max_map_count", open("/proc/sys/vm/max_map_count").read().strip(), "jax", jax.__version__, flush=True)

if args.mode == "solve":
    from jaxrep import config
    from jaxrep._tasks.pinn import solve_config, solve_phases
    from jaxrep.pinn import problems, solve

    def one(i):
        cfg = config.load("heat", overrides=[
            "train.phases=[{optimizer: adam, steps: 20}]", "train.steps_per_call=10", "train.log_every=10",
            "train.checkpoint_every=100000",
            "sampling.n_residual=64", "sampling.n_koopman=16", "eval.n_x=16", "eval.n_t=8",
            "model.width_size=8", "model.depth=2", f"train.seed={i}"])
        prob = problems.get(cfg.problem.name, **cfg.problem.params)
        solve(prob, "spike", solve_config(cfg), key=jr.PRNGKey(i), phases=solve_phases(cfg, prob), progress=False)
else:
    X = jr.normal(jr.PRNGKey(0), (32, 3))
    Y = X @ jnp.ones((3, 1))

    def one(i):
        def loss(m, batch, key):  # a fresh closure every call, as in a sweep
            x, y = batch
            return jnp.mean((jax.vmap(m)(x) - y) ** 2), {}

        model = jaxrep.nn.MLP(3, 1, 8, 1, key=jr.PRNGKey(i))
        jaxrep.train.fit(model, loss, lambda k, s: (X, Y), optax.adam(1e-2), steps=4, key=jr.PRNGKey(i),
                         steps_per_call=2, progress=False)

r0, m0 = rss_maps()
print(f"start rss={r0:.0f}MiB maps={m0}", flush=True)
for i in range(args.n):
    t = time.perf_counter()
    one(i)
    if args.clear_chunk:
        jaxrep.train.clear_cache()
    if args.clear_donation:
        from jax._src import api_util
        api_util.donation_vector.cache_clear()
    if args.clear_jax:
        jax.clear_caches()
    gc.collect()
    r, m = rss_maps()
    print(f"call {i:2d} rss={r:.0f}MiB maps={m} chunk_cache={jaxrep.train.cache_info()['entries']} ({time.perf_counter()-t:.1f}s)",
          flush=True)
