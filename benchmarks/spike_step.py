"""Cost of one PINN / SPIKE training step, jaxrep against the SPIKE paper's PyTorch code, in one run.

Problem and sizes of issue 11: viscous Burgers, 2000 residual + 200 initial + 200 boundary points, tanh
MLP 128x3 (three hidden layers of 128), Koopman latent 64, Adam. One step = draw the points, loss,
gradient, optimiser update.

- **jaxrep** (this process): `jaxrep.pinn.make_model` / `make_loss_fn` / `make_sampler` and the step of
  `jaxrep.train.fit` (sampler -> `eqx.filter_value_and_grad` -> optax Adam -> `apply_updates`), fused
  `--steps-per-call` times in a `lax.scan` as `fit` does. Latent 64 = `KoopmanConfig(observables=63)`
  ($z = [u, g(u, u_x)]$, 1 + 63), observable MLP 64x2 (the peer's `mlp_hidden=64`, two hidden
  layers). With `--separate-passes` the PINN step is also timed with the Burgers residual written
  as it was before `jaxrep.pinn.dx_upto` (each derivative traced separately). SPIKE is timed with
  16 / 256 / 2000 Koopman base points (4 offsets), and also with older Koopman losses kept here
  (`--before`): `"previous"`, the two public losses called separately (so the network runs at the
  base points twice) with $z$ from a `vmap` of jvps over the spatial basis, and
  `"before"`, one `jaxrep.koopman.propagate` per base point and `jax.jacfwd` for $\\nabla_x u$ inside
  $z$. The current loss is `koopman_losses` (shared $z$ at the base points, one `expm_stack`).
- **PyTorch peer** (a subprocess, `--peer-python`): the SPIKE authors' own code
  (github.com/cair-philippines/spike, `--peer-src` = a checkout of it), imported and run unchanged:
  `spike.models.PINN` / `spike.models.SPIKE(embedding_dim=64, hidden_dim=128, num_layers=3)`,
  `spike.diffeq.BurgersEquation`, and `spike.training.Trainer(n_collocation=2000, n_initial=200,
  n_boundary=200).train_step()`, timed per call. Medians over passes within a process, then over
  `--peer-procs` processes (torch has slow phases here); the peer processes alternate with rounds
  of the jaxrep passes, so both sides share the machine's busy and quiet phases.

Times: wall clock per step and, for jaxrep, this process's CPU time per step (`time.process_time`,
one XLA thread), which a machine shared with other jobs disturbs much less; ratios are within one run.

Threads: one core for both sides, in turn: the process pins itself to core `SPIKE_STEP_CORE` (default 0;
`any` leaves the affinity alone) before JAX starts and the peer subprocesses inherit that;
`torch.set_num_threads(1)`, `set_num_interop_threads(1)`, `OMP_NUM_THREADS=1` against
`XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`.

Where the two steps differ (the peer's code as published, not re-tuned):

- Koopman loss. Peer: `Trainer.compute_koopman_loss`, an Euler finite difference
  $\\|z(x, t+0.01) - (I + 0.01A)z(x, t)\\|^2$ on the 2000 residual points (two extra forward passes,
  no matrix exponential, no derivative observables). jaxrep: the generator residual
  $\\|\\partial_t z - Az\\|^2$ (forward-mode $\\partial_t$) plus the exact $e^{s_jA}$ consistency at
  4 random offsets, on `n_koopman` separate base points, with $z$ seeing $u_x$.
- Boundary. Peer: 200 points on each of the 4 faces of the $(x, t)$ box (800, the $t$ faces included);
  jaxrep: 200 on the two $x$ faces.
- Peer embedding: 3 polynomial library features + a 1->64->64->61 MLP, normalised to unit norm;
  jaxrep: $[u, g(u, u_x)]$, $g$ a 2->64->64->63 MLP.
- The peer's PINN step also evaluates nothing Koopman; its SPIKE step computes the embedding in every
  forward pass (physics, initial, boundary too), as its `PIKE.forward` does.

Usage (run by hand, not in CI)::

    python benchmarks/spike_step.py --peer-python /tmp/torchvenv/bin/python --peer-src /tmp/spike_src
    python benchmarks/spike_step.py            # jaxrep only
    python benchmarks/spike_step.py --koopman-points 16 256 2000 --before-points 256 --passes 8
    python benchmarks/spike_step.py --koopman-points 16 256 --before --offsets 1 2 3   # fewer offsets too
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
# The flags above do not stop XLA:CPU's runtime from running independent operations on a second thread
# (on a quiet 2-core VM jaxrep's CPU time was twice its wall time), so the process -- and the peer
# subprocesses, which inherit it -- is pinned to one core: one core per side, in turn.
if hasattr(os, "sched_setaffinity") and os.environ.get("SPIKE_STEP_CORE", "0") != "any":
    os.sched_setaffinity(0, {int(os.environ.get("SPIKE_STEP_CORE", "0"))})

import argparse
import dataclasses
import json
import platform
import subprocess
import textwrap
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from jaxrep.config import ModelConfig
from jaxrep.koopman import propagate
from jaxrep.pinn import dt, dx, problems
from jaxrep.pinn._config import KoopmanConfig, SamplingConfig, SolveConfig
from jaxrep.pinn._koopman_loss import koopman_expm_loss, koopman_generator_loss, l1_penalty
from jaxrep.pinn._losses import make_loss_fn
from jaxrep.pinn._sampling import make_sampler
from jaxrep.pinn._solve import make_model

from _steps import cpu_name, scan_runner  # benchmarks/_steps.py (this script's folder is on sys.path)

# --------------------------------------------------------------------------------------------------
# jaxrep


def _before_z(model, x, t):
    """`PINNModel.z` as it was: a forward call plus `jax.jacfwd` for the spatial gradient."""
    u = model.field(x, t)
    return model.observable(u, jax.jacfwd(lambda y: model.field(y, t))(x))


def _before_expm_loss(z, A, xs, ts, offsets):
    """`koopman_expm_loss` as it was: one `propagate` (per-offset `expm`) per base point."""

    def one(x, t):
        pred = propagate(A, z(x, t), offsets)
        target = jax.vmap(lambda s: z(x, t + s))(offsets)
        return jnp.mean(jnp.sum((target - pred) ** 2, axis=-1))

    return jnp.mean(jax.vmap(one)(xs, ts))


def _previous_z(model, x, t):
    """`PINNModel.z` of the previous version: a `vmap` of `jax.jvp` over the spatial basis (also for
    d = 1)."""
    basis = jnp.eye(x.shape[0], dtype=x.dtype)
    u, grad = jax.vmap(lambda v: jax.jvp(lambda y: model.field(y, t), (x,), (v,)), out_axes=(None, -1))(basis)
    return model.observable(u, grad)


def _before_loss_fn(problem, weights, version: str = "before"):
    """The SPIKE loss of `make_loss_fn(..., koopman=True, sparse=True)` built from older pieces:

    - `"before"`: one `propagate` per base point and `jacfwd` inside $z$ (two versions back);
    - `"previous"`: `koopman_generator_loss` and `koopman_expm_loss` called separately (so $z$ at the
      base points is computed twice, once with $\\partial_t$), with `_previous_z`.
    """
    base = make_loss_fn(problem, weights, koopman=False, sparse=False)

    def loss_fn(model, batch, key):
        loss, aux = base(model, batch, key)
        A = model.A()
        if version == "before":
            z = lambda x, t: _before_z(model, x, t)
            gen = koopman_generator_loss(z, A, batch["x_k"], batch["t_k"])
            exp = _before_expm_loss(z, A, batch["x_k"], batch["t_k"], batch["s_k"])
        else:
            z = lambda x, t: _previous_z(model, x, t)
            gen = koopman_generator_loss(z, A, batch["x_k"], batch["t_k"])
            exp = koopman_expm_loss(z, A, batch["x_k"], batch["t_k"], batch["s_k"])
        loss = loss + weights.koopman * (gen + exp) + weights.l1 * l1_penalty(A)
        return loss, {**aux, "koopman_gen": gen, "koopman_expm": exp}

    return loss_fn


def _separate_passes(problem):
    """The Burgers problem with its residual as it was written before `dx_upto`: $u$, $u_t$, $u_x$
    and $u_{xx}$ each traced separately (1 + 2 + 2 + 4 network passes per point, against 2 + 4)."""

    class SeparatePassBurgers(type(problem)):
        def residual(self, u, x, t):
            return dt(u, x, t) + u(x, t) * dx(u, x, t, 0, 1) - self.nu * dx(u, x, t, 0, 2)

    return SeparatePassBurgers(**{f.name: getattr(problem, f.name) for f in dataclasses.fields(problem)})


def _config(n_koopman: int, n_offsets: int = 4) -> SolveConfig:
    return SolveConfig(
        model=ModelConfig(kind="mlp", width_size=128, depth=3, activation="tanh"),
        sampling=SamplingConfig(n_residual=2000, n_initial=200, n_boundary=200, n_koopman=n_koopman,
                                n_offsets=n_offsets),
        koopman=KoopmanConfig(observables=63, width_size=64, depth=2),
    )


def _make_runner(problem, method: str, n_koopman: int, steps: int, before=False, n_offsets: int = 4):
    """A jitted function advancing (model, opt_state, key) by `steps` training steps (as `fit` does);
    `before` = `False` (the current loss) or `"before"` / `"previous"` (see `_before_loss_fn`);
    `n_offsets` time offsets per Koopman base point."""
    cfg = _config(n_koopman, n_offsets)
    koopman = method == "spike"
    model = make_model(problem, cfg, koopman=koopman, key=jr.PRNGKey(0))
    if before == "separate":
        loss_fn = make_loss_fn(_separate_passes(problem), cfg.weights, koopman=koopman, sparse=koopman)
    elif before:
        loss_fn = _before_loss_fn(problem, cfg.weights, before)
    else:
        loss_fn = make_loss_fn(problem, cfg.weights, koopman=koopman, sparse=koopman)
    sampler = make_sampler(problem, cfg.sampling, koopman=koopman)
    run, carry, _ = scan_runner(model, loss_fn, sampler, optax.adam(1e-3), steps)
    return run, carry, loss_fn, model, sampler


def check_same_loss(problem, n_koopman: int = 256, version: str = "previous") -> dict:
    """The new and an older (`version`) SPIKE loss give the same value and gradients on one batch."""
    _, _, loss_new, model, sampler = _make_runner(problem, "spike", n_koopman, 1)
    loss_old = _before_loss_fn(problem, _config(n_koopman).weights, version)
    batch = sampler(jr.PRNGKey(3), 0)
    vg = lambda f: eqx.filter_jit(eqx.filter_value_and_grad(lambda m: f(m, batch, None)[0]))(model)
    (v1, g1), (v2, g2) = vg(loss_new), vg(loss_old)
    leaves = lambda g: jax.tree_util.tree_leaves(eqx.filter(g, eqx.is_array))
    rel = max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(b)) + 1e-30)) for a, b in zip(leaves(g1), leaves(g2)))
    return {"loss_new": float(v1), f"loss_{version}": float(v2), "max_rel_grad_diff": rel}


def _gflop_per_step(run, carry, steps: int) -> float:
    """Floating-point operations of one training step as XLA's cost analysis counts them for the
    compiled `run`: the work, independent of how fast the CPU does it. XLA counts a loop body once (a
    `lax.scan` of 1 or 5 steps reports the same), so with `steps > 1` this is one step's count."""
    if steps < 2:
        raise ValueError("_gflop_per_step: use steps >= 2 (a 1-step scan may be unrolled)")
    cost = run.lower(carry).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", float("nan"))) / 1e9


def time_jaxrep(cases, steps: int, passes: int, between=None, rounds: int = 1) -> dict:
    """Per-step ms of every case: `rounds` rounds of `passes` interleaved passes; `between()` (the peer)
    runs before each round, so both sides see the same busy and quiet phases of the machine."""
    problem = problems.get("burgers")
    runners, gflop = {}, {}
    for name, (method, nk, before, *offsets) in cases.items():
        run, carry, *_ = _make_runner(problem, method, nk, steps, before, *offsets)
        t0 = time.perf_counter()
        carry, _ = jax.block_until_ready(run(carry))  # compile + first call
        runners[name] = [run, carry]
        gflop[name] = _gflop_per_step(run, carry, steps)
        print(f"  compiled {name} in {time.perf_counter() - t0:.1f} s; XLA's cost analysis: "
              f"{gflop[name]:.3f} GFLOP per step", flush=True)
    times = {name: [] for name in cases}
    cpu = {name: [] for name in cases}
    for _ in range(rounds):
        if between is not None:
            between()
        for _ in range(passes):  # interleaved, so a busy phase of the machine hits every case alike
            for name, rc in runners.items():
                t0, c0 = time.perf_counter(), time.process_time()
                rc[1], losses = jax.block_until_ready(rc[0](rc[1]))
                times[name].append((time.perf_counter() - t0) / steps * 1e3)
                cpu[name].append((time.process_time() - c0) / steps * 1e3)
                assert bool(jnp.all(jnp.isfinite(losses))), name
    # CPU time of this process (one XLA thread): much less disturbed than wall time when other jobs
    # share the cores, since time spent descheduled is not counted
    return {name: {"median_ms": float(np.median(v)), "min_ms": float(np.min(v)), "gflop_per_step": gflop[name],
                   "gflop_per_s": gflop[name] / (float(np.median(cpu[name])) / 1e3),
                   "cpu_median_ms": float(np.median(cpu[name])), "passes_ms": v, "cpu_passes_ms": cpu[name]}
            for name, v in times.items()}


# --------------------------------------------------------------------------------------------------
# the PyTorch peer (a subprocess running the SPIKE authors' Trainer.train_step unchanged)

_PEER = textwrap.dedent(r"""
    import json, os, sys, time
    import numpy as np
    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    sys.path.insert(0, sys.argv[1])
    from spike.models import PINN, SPIKE
    from spike.diffeq import BurgersEquation
    from spike.training import Trainer
    steps, passes = int(sys.argv[2]), int(sys.argv[3])
    torch.manual_seed(0)
    models = {
        "pinn": PINN(input_dim=2, output_dim=1, hidden_dim=128, num_layers=3, activation="tanh"),
        "spike": SPIKE(input_dim=2, output_dim=1, embedding_dim=64, hidden_dim=128, num_layers=3,
                       activation="tanh"),
    }
    trainers = {k: Trainer(m, BurgersEquation(), lr=1e-3, n_collocation=2000, n_boundary=200,
                           n_initial=200) for k, m in models.items()}
    for tr in trainers.values():
        for _ in range(3):
            tr.train_step()
    out = {k: [] for k in trainers}
    cpu = {k: [] for k in trainers}
    for _ in range(passes):
        for k, tr in trainers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(steps):
                tr.train_step()
            out[k].append((time.perf_counter() - t0) / steps * 1e3)
            cpu[k].append((time.process_time() - c0) / steps * 1e3)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "times": out,
                      "cpu_times": cpu}))
""")


def _peer_once(python: str, src: str, steps: int, passes: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    res = subprocess.run([python, "-c", _PEER, src, str(steps), str(passes)], capture_output=True,
                         text=True, env=env, check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    print("  peer process: " + ", ".join(f"{k} {np.median(v):.1f} ms" for k, v in r["times"].items()), flush=True)
    return r


def _peer_summary(per_proc: list) -> dict:
    out = {}
    for k in per_proc[0]["times"]:
        meds = [float(np.median(r["times"][k])) for r in per_proc]
        cpu_meds = [float(np.median(r["cpu_times"][k])) for r in per_proc]
        out[f"torch_{k}"] = {"median_ms": float(np.median(meds)),
                             "min_ms": float(min(min(r["times"][k]) for r in per_proc)),
                             "cpu_median_ms": float(np.median(cpu_meds)),  # process CPU time (all threads)
                             "process_medians_ms": meds}
    out["torch_version"] = per_proc[0]["torch"]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer-python", default=None, help="python with torch (e.g. /tmp/torchvenv/bin/python)")
    p.add_argument("--peer-src", default=None, help="checkout of github.com/cair-philippines/spike")
    p.add_argument("--steps-per-call", type=int, default=5)
    p.add_argument("--passes", type=int, default=3, help="jaxrep passes per round (one round per peer process)")
    p.add_argument("--peer-steps", type=int, default=5)
    p.add_argument("--peer-passes", type=int, default=5)
    p.add_argument("--peer-procs", type=int, default=3)
    p.add_argument("--koopman-points", type=int, nargs="+", default=[16, 256, 2000])
    p.add_argument("--before", nargs="*", default=["previous"], choices=["previous", "before"],
                   help="older Koopman losses to time beside the current one (none: --before)")
    p.add_argument("--before-points", type=int, nargs="+", default=None,
                   help="Koopman point counts for the older losses (default: all of --koopman-points)")
    p.add_argument("--separate-passes", action="store_true",
                   help="also time the PINN step with the residual's derivatives traced separately")
    p.add_argument("--offsets", type=int, nargs="*", default=[],
                   help="also time SPIKE at the largest --koopman-points with these numbers of time offsets "
                        "per base point (default 4; the peer's Euler pair is one offset)")
    p.add_argument("--out", default=None, help="write the results as JSON")
    args = p.parse_args()

    problem = problems.get("burgers")
    for version in args.before:
        print(f"same loss and gradients (new vs {version}):", check_same_loss(problem, version=version), flush=True)
    cases = {"jaxrep_pinn": ("pinn", 16, False)}
    if args.separate_passes:
        cases["jaxrep_pinn_separate"] = ("pinn", 16, "separate")
    before_points = args.koopman_points if args.before_points is None else args.before_points
    for nk in args.koopman_points:
        cases[f"jaxrep_spike_k{nk}"] = ("spike", nk, False)
        for version in args.before if nk in before_points else ():
            cases[f"jaxrep_spike_k{nk}_{version}"] = ("spike", nk, version)
    for m in args.offsets:
        cases[f"jaxrep_spike_k{max(args.koopman_points)}_offsets{m}"] = ("spike", max(args.koopman_points), False, m)
    peer_runs, between, rounds = [], None, 1
    if args.peer_python:
        if not args.peer_src:
            p.error("--peer-src is needed with --peer-python")
        between = lambda: peer_runs.append(_peer_once(args.peer_python, args.peer_src, args.peer_steps,
                                                      args.peer_passes))
        rounds = args.peer_procs
    res = time_jaxrep(cases, args.steps_per_call, args.passes, between, rounds)
    if peer_runs:
        res.update(_peer_summary(peer_runs))
    res["machine"] = {"platform": platform.platform(), "processor": cpu_name(), "cpus": os.cpu_count(),
                      "jax": jax.__version__, "threads": "1 per side"}

    pinn = res["jaxrep_pinn"]["median_ms"]
    torch_pinn = res.get("torch_pinn", {}).get("median_ms")
    torch_spike = res.get("torch_spike", {}).get("median_ms")
    cpu_pinn = res["jaxrep_pinn"]["cpu_median_ms"]
    print("\n| step | ms/step (median, wall) | min | / jaxrep PINN | CPU ms/step (median) | / jaxrep PINN (CPU) "
          "| PyTorch / this (wall) | PyTorch / this (CPU) | GFLOP/step (XLA) | GFLOP/s (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    torch_cpu = {k: res.get(f"torch_{k}", {}).get("cpu_median_ms") for k in ("pinn", "spike")}
    for name, r in res.items():
        if not isinstance(r, dict) or "median_ms" not in r:
            continue
        kind = "spike" if "spike" in name else "pinn"
        peer = torch_spike if kind == "spike" else torch_pinn
        vs = f"{peer / r['median_ms']:.2f}x" if peer and not name.startswith("torch") else "-"
        c = r.get("cpu_median_ms")
        cpu_cols = f"{c:.1f} | {c / cpu_pinn:.2f}" if c is not None else "- | -"
        pc = torch_cpu[kind]
        vs_cpu = f"{pc / c:.2f}x" if pc and c and not name.startswith("torch") else "-"
        fl = (f"{r['gflop_per_step']:.3f} | {r['gflop_per_s']:.0f}" if "gflop_per_step" in r else "- | -")
        print(f"| {name} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['median_ms'] / pinn:.2f} | {cpu_cols} | {vs} "
              f"| {vs_cpu} | {fl} |")
    if torch_pinn and torch_spike:
        print(f"\nPyTorch SPIKE/PINN overhead: {torch_spike / torch_pinn:.2f}x")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
