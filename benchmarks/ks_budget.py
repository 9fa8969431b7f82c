"""What the published Kuramoto-Sivashinsky PINN recipe costs on this machine: the evidence behind the
KS target (<= 1e-2 relative L2 in the training window within 10 minutes on the 2-core CPU).

The suite's KS problem is jaxpi's chaotic benchmark ($\\alpha = 100/16$, $\\beta = 100/16^2$,
$\\gamma = 100/16^4$, $u_0 = \\cos x\\,(1 + \\sin x)$). jaxpi's state-of-the-art configuration
(`examples/ks/configs/sota.py` of PredictiveIntelligenceLab/jaxpi) trains a modified MLP (5 layers of
256, 256 random Fourier features of scale 1, random weight factorisation, exact periodic embedding)
with Adam for 200,000 steps of 4096 residual points in each of 10 time windows over $t \\in [0, 1]$
(grad-norm balancing, causal weighting over 32 chunks); our training window is $[0, 0.5]$, i.e. 5 of
those windows.

This script builds the same network and batch with jaxrep (`model.kind: modified_mlp`, depth 4 = five
hidden layers, `fourier_features: 256`, `rwf: [0.5, 0.1]`, initial and periodic conditions built in),
times one Adam step (`lax.scan` of `--steps` steps, median over `--passes`, one core: XLA's one-thread
flags and the process pinned to core `KS_BUDGET_CORE`, default 0) and reads XLA's operation count of the
step. It prints the step time, the GFLOP per step, and what the published budget and the 10-minute
budget come to.

    taskset -c 1 python benchmarks/ks_budget.py           # one core
    python benchmarks/ks_budget.py --width 64 --features 64 --points 1024   # a smaller network

Run by hand (a minute or two), never in CI; the result is in BENCHMARKS.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
_core = os.environ.get("KS_BUDGET_CORE", "0")
if _core != "any" and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {int(_core)})

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.random as jr  # noqa: E402
import optax  # noqa: E402

from jaxrep.nn import ModelConfig  # noqa: E402
from jaxrep.pinn import (ConstraintConfig, SamplingConfig, SolveConfig, make_loss_fn, make_sampler,  # noqa: E402
                         problems)
from jaxrep.pinn._solve import make_model  # noqa: E402

from _steps import scan_runner  # noqa: E402  (benchmarks/_steps.py)

PUBLISHED_STEPS_PER_WINDOW = 200_000
WINDOWS_IN_OUR_TRAINING_WINDOW = 5  # jaxpi: 10 windows over t in [0, 1]; ours is [0, 0.5]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--depth", type=int, default=4, help="gated layers of the modified MLP (hidden layers - 1)")
    ap.add_argument("--features", type=int, default=256, help="random Fourier features")
    ap.add_argument("--points", type=int, default=4096, help="residual points per step")
    ap.add_argument("--steps", type=int, default=3, help="steps per timed scan")
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()

    problem = problems.get("kuramoto_sivashinsky")
    cfg = SolveConfig(
        model=ModelConfig(kind="modified_mlp", width_size=args.width, depth=args.depth, activation="tanh",
                          fourier_features=args.features, fourier_scale=1.0, rwf=(0.5, 0.1)),
        sampling=SamplingConfig(n_residual=args.points, n_initial=256, n_boundary=256),
        constraints=ConstraintConfig(initial=True, boundary=True),
    )
    model = make_model(problem, cfg, koopman=False, key=jr.PRNGKey(0))
    loss_fn = make_loss_fn(problem, cfg.weights, koopman=False, sparse=False)
    sampler = make_sampler(problem, cfg.sampling, koopman=False)
    run, carry, static = scan_runner(model, loss_fn, sampler, optax.adam(1e-3), args.steps)
    params = eqx.filter(eqx.combine(carry[0], static), eqx.is_inexact_array)
    n_params = sum(p.size for p in jax.tree_util.tree_leaves(params))
    compiled = run.lower(carry).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    gflop = float(cost.get("flops", float("nan"))) / 1e9  # XLA counts the scan body once: one step
    out = jax.block_until_ready(compiled(carry))  # warm-up
    times = []
    for _ in range(args.passes):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(out[0]))
        times.append((time.perf_counter() - t0) / args.steps)
    step_s = statistics.median(times)
    published = PUBLISHED_STEPS_PER_WINDOW * WINDOWS_IN_OUR_TRAINING_WINDOW
    print(f"# jax={jax.__version__} backend={jax.default_backend()} machine={platform.machine()} "
          f"cpu={platform.processor() or 'n/a'} core={_core}")
    print(f"modified MLP {args.depth + 1} x {args.width}, {args.features} Fourier features, {n_params} parameters, "
          f"{args.points} residual points")
    print(f"one Adam step: {step_s * 1e3:.0f} ms (median of {args.passes} passes x {args.steps} steps; "
          f"{', '.join(f'{t * 1e3:.0f}' for t in times)} ms), XLA count {gflop:.1f} GFLOP/step, "
          f"{gflop / step_s:.1f} GFLOP/s")
    print(f"published budget for t in [0, 0.5]: {published:,} steps = {published * step_s / 3600:,.0f} h "
          f"({published * step_s / 86400:,.1f} days) on this core")
    print(f"10 minutes on this core: {600 / step_s:,.0f} steps = {600 / step_s / published:.2%} of that budget")


if __name__ == "__main__":
    main()
