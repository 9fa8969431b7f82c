"""One process of a data-parallel `fit` run over `jax.distributed` on localhost (see test_multihost.py).

Usage: python multihost_worker.py OUT PROCESS_ID NUM_PROCESSES PORT STEPS [--modes sampler,iterable]
           [--resume] [--stop-at K]

Each process owns one CPU device and the mesh spans every process's device, so each step's global batch
is split across the processes and the gradients are all-reduced over gloo (JAX's CPU collectives).
For each data mode (a `minibatches` sampler traced in the step, or an iterable of host batches) it runs
`fit` into OUT/ckpt_MODE and writes OUT/final_MODE.PROCESS_ID.npy, the flattened final parameters.
`--stop-at K`: after the checkpoint at step K, write OUT/stopped.PROCESS_ID and wait to be killed.

`problem(mode)` is also imported by the test for the single-process reference run on the same batches.
"""

import argparse
import pathlib
import time

T0 = time.perf_counter()

STEPS_PER_CALL = 2
CHECKPOINT_EVERY = 4


def problem(mode: str):
    """`(model, loss_fn, data, optimizer, key)` of the run, in float64 (call under `jax_enable_x64`).

    Data and keys come from numpy and the model is built in one compiled call: every eager JAX op would
    be one more compilation in each process.
    """
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np
    import optax

    import jaxrep

    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 3))
    Y = np.tanh(X @ rng.standard_normal((3, 2)))
    model = eqx.filter_jit(lambda: jaxrep.nn.MLP(3, 2, 16, 2, key=jr.PRNGKey(1)))()
    assert jax.tree_util.tree_leaves(model)[0].dtype == jnp.float64

    def loss_fn(m, batch, key):
        x, y = batch
        noise = 1e-3 * jr.normal(key, (), dtype=jnp.float64)  # the step key is part of what is compared
        err = jnp.mean((jax.vmap(m)(x) - y) ** 2) + noise**2
        return err, {"rmse": jnp.sqrt(err)}

    if mode == "sampler":
        data = jaxrep.train.minibatches((X, Y), 32)
    else:
        class Batches:  # the global batch of step i, the same on every process
            def __iter__(self):
                for i in range(10**6):
                    idx = np.random.default_rng(i).integers(0, 256, 32)
                    yield X[idx], Y[idx]

        data = Batches()
    key = np.array([0, 2], dtype=np.uint32)  # a legacy PRNG key, made without a JAX op
    return model, loss_fn, data, optax.adam(1e-2), key


def flat(model):
    import jax
    import numpy as np

    return np.concatenate([np.asarray(x).ravel() for x in jax.tree_util.tree_leaves(model) if hasattr(x, "shape")])


def _mark(what: str) -> None:  # timings in the log, for a slow or hung run
    print(f"[{time.perf_counter() - T0:6.1f} s] {what}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("process_id", type=int)
    parser.add_argument("num_processes", type=int)
    parser.add_argument("port", type=int)
    parser.add_argument("steps", type=int)
    parser.add_argument("--modes", default="sampler")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stop-at", type=int, default=None)
    args = parser.parse_args()

    import jax

    _mark("jax imported")
    jax.config.update("jax_enable_x64", True)  # float64, so that "equals the single-process run" is tight
    jax.config.update("jax_num_cpu_devices", 1)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"localhost:{args.port}",
        num_processes=args.num_processes,
        process_id=args.process_id,
        initialization_timeout=120,
    )
    _mark(f"process {jax.process_index()} of {jax.process_count()} joined")
    import numpy as np

    import jaxrep

    out = pathlib.Path(args.out)
    mesh = jaxrep.train.make_mesh()  # every process's device: the global mesh
    assert mesh.devices.size == args.num_processes and len(jax.local_devices()) == 1

    def callback(step, model, metrics):
        if args.stop_at is not None and step >= args.stop_at:
            (out / f"stopped.{args.process_id}").write_text(str(step))
            time.sleep(600)  # the test kills both processes with SIGKILL here

    for mode in args.modes.split(","):
        model, loss_fn, data, optimizer, key = problem(mode)
        model, _ = jaxrep.train.fit(
            model, loss_fn, data, optimizer, steps=args.steps, key=key,
            checkpoint_dir=out / f"ckpt_{mode}", resume=args.resume, checkpoint_every=CHECKPOINT_EVERY,
            steps_per_call=STEPS_PER_CALL, mesh=mesh, progress=False, callback=callback,
        )
        np.save(out / f"final_{mode}.{args.process_id}.npy", flat(model))
        _mark(f"{mode}: trained")


if __name__ == "__main__":
    main()
