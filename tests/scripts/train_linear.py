"""Subprocess driver for the trainer tests: trains a small model, optionally kills itself hard.

Usage: python train_linear.py OUT_DIR STEPS [--kill-at K] [--resume] [--mesh N] [--iterable] [--phases]
`--phases`: Adam for 6 steps, then L-BFGS (zoom line search) on a fixed batch for the rest.
Writes OUT_DIR/final.npy with the flattened final parameters.
"""

import argparse
import os
import signal
import sys

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("steps", type=int)
parser.add_argument("--kill-at", type=int, default=None)
parser.add_argument("--resume", action="store_true")
parser.add_argument("--mesh", type=int, default=0)
parser.add_argument("--iterable", action="store_true")
parser.add_argument("--steps-per-call", type=int, default=2)
parser.add_argument("--phases", action="store_true")
args = parser.parse_args()

if args.mesh:
    os.environ["XLA_FLAGS"] = (f"{os.environ.get('XLA_FLAGS', '')} "
                                f"--xla_force_host_platform_device_count={args.mesh}").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxrep  # noqa: E402

key = jr.PRNGKey(0)
kx, kw, km, kt = jr.split(key, 4)
X = jr.normal(kx, (512, 3))
Y = jnp.tanh(X @ jr.normal(kw, (3, 2)))
model = jaxrep.nn.MLP(3, 2, 16, 2, key=km)


def loss_fn(m, batch, key):
    x, y = batch
    noise = 1e-3 * jr.normal(key, ())  # uses the step key, so key handling is part of what we compare
    err = jnp.mean((jax.vmap(m)(x) - y) ** 2) + noise**2
    return err, {"rmse": jnp.sqrt(err)}


if args.iterable:
    class Batches:
        def __iter__(self):
            for i in range(10**6):
                idx = jr.randint(jr.fold_in(kt, i), (64,), 0, 512)
                yield X[idx], Y[idx]
    data = Batches()
else:
    data = jaxrep.train.minibatches((X, Y), 64)


def callback(step, model, metrics):
    if args.kill_at is not None and step >= args.kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


mesh = jaxrep.train.make_mesh(args.mesh) if args.mesh else None
if args.phases:
    opt = dict(phases=[jaxrep.train.Phase(optax.adam(1e-2), 6),
                       jaxrep.train.Phase(optax.lbfgs(), args.steps - 6, resample=False)])
else:
    opt = dict(optimizer=optax.adam(1e-2), steps=args.steps)
model, hist = jaxrep.train.fit(
    model, loss_fn, data, **opt, key=kt,
    checkpoint_dir=os.path.join(args.out, "ckpt"), resume=args.resume, checkpoint_every=4,
    steps_per_call=args.steps_per_call, mesh=mesh, progress=False,
    metrics_path=os.path.join(args.out, "metrics.jsonl"), callback=callback,
)
leaves = [np.asarray(x).ravel() for x in jax.tree_util.tree_leaves(model) if hasattr(x, "shape")]
np.save(os.path.join(args.out, "final.npy"), np.concatenate(leaves))
print("devices", len(jax.devices()))
sys.exit(0)
