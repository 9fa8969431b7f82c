"""Cost of fusing K training steps per host round-trip with `lax.scan` (jaxrep.train.fit).

Trains the same MLP regression (pure sampler, batch resampled each step) with steps_per_call = 1, 10, 100
and reports steps/s after compilation, side by side in one run.

    python benchmarks/train_fusion.py [--steps 2000] [--width 64] [--batch 256]
"""

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import optax

import jaxrep


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    key = jr.PRNGKey(0)
    X = jr.uniform(key, (4096, 2), minval=-1, maxval=1)
    Y = jnp.sin(3 * X[:, :1]) * jnp.cos(2 * X[:, 1:])
    data = jaxrep.train.minibatches((X, Y), args.batch)
    model = jaxrep.nn.MLP(2, 1, args.width, 3, key=key)

    def loss_fn(m, batch, key):
        x, y = batch
        e = jnp.mean((jax.vmap(m)(x) - y) ** 2)
        return e, {}

    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), {platform.processor() or platform.machine()}")
    print(f"MLP width {args.width} depth 3, batch {args.batch}, {args.steps} steps, best of {args.repeats}")
    opt = optax.adam(1e-3)  # the same objects every call: fit reuses its compiled step
    results = {}
    for k in [1, 10, 100]:
        # warm-up (compilation) with the same chunk length, then timed runs
        jaxrep.train.fit(model, loss_fn, data, opt, steps=k, key=key, steps_per_call=k,
                         progress=False)
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            m, _ = jaxrep.train.fit(model, loss_fn, data, opt, steps=args.steps, key=key,
                                    steps_per_call=k, progress=False, log_every=args.steps)
            jax.block_until_ready(m)
            best = min(best, time.perf_counter() - t)
        results[k] = args.steps / best
    base = results[1]
    print(f"{'steps_per_call':>15} {'steps/s':>10} {'speed-up':>9}")
    for k, v in results.items():
        print(f"{k:>15} {v:>10.0f} {v / base:>8.2f}x")


if __name__ == "__main__":
    main()
