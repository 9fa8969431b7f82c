"""Repeated `jaxrep.interpolants.sample` / `log_likelihood` calls with fields of one architecture (new
weights each call): wall seconds per call, the first including compilation.

    python benchmarks/interpolants_sample_cache.py [--n 512] [--calls 3]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import jax.random as jr

import jaxrep as jrp

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--n", type=int, default=512, help="points per call")
parser.add_argument("--calls", type=int, default=3)
args = parser.parse_args()

ji = jrp.interpolants
x0 = jr.normal(jr.PRNGKey(0), (args.n, 2))
for label, kwargs in (("adaptive Tsit5", {}), ("adaptive Tsit5, 5 saved times", {"ts": jnp.linspace(0, 1, 5)})):
    for i in range(args.calls):
        b = ji.TimeField(jrp.nn.MLP(3, 2, 64, 3, jax.nn.silu, key=jr.PRNGKey(i)))  # 3 x 64 MLP field
        t = time.perf_counter()
        jax.block_until_ready(ji.sample(b, x0, **kwargs))
        print(f"{label:32s} call {i}: {time.perf_counter() - t:6.2f} s", flush=True)
for i in range(args.calls):
    b = ji.TimeField(jrp.nn.MLP(3, 2, 64, 3, jax.nn.silu, key=jr.PRNGKey(i)))
    t = time.perf_counter()
    jax.block_until_ready(ji.log_likelihood(b, x0))
    print(f"{'log_likelihood, exact trace':32s} call {i}: {time.perf_counter() - t:6.2f} s", flush=True)
