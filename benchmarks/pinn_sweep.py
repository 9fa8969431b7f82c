"""Sweep the PINN training stack on one or more problems, to choose each problem's config recipe.

Every variant is a list of `--set` overrides applied on top of the bundled config `<problem>`
(`jaxrep/configs/<problem>.yaml`); each runs `jaxrep.pinn.solve` (method `pinn` by default: the recipe
is chosen for the network, the Koopman terms are measured on top of it by `spike_table.py`) for the
given seeds and reports the relative L2 error in the training window (mean +- spread over seeds),
nRMSE, the final loss and the wall time.

    python benchmarks/pinn_sweep.py --problems burgers allen_cahn --seeds 1 --out sweep.json
    python benchmarks/pinn_sweep.py --problems burgers --variants recipe no_constraints adam_only

Variants (names below; `recipe` is the committed config):

- `recipe`: the config as committed;
- `no_constraints`: initial and boundary conditions penalised instead of built in;
- `adam_only`: the Adam phase alone (no L-BFGS phase);
- `lbfgs_4000`: twice as many L-BFGS steps;
- `modified_mlp`, `pirate`, `fourier`: other backbones (modified MLP; PirateNet; 64 Fourier features, scale 1);
- `causal`: causal weighting over 16 time slabs, tolerance 1;
- `balance`: grad-norm balancing every 100 steps;
- `rad`: RAD redistribution of the residual points every 500 Adam steps (pool 4x, k = 1, c = 1);
- `marching_2`: time marching over 2 windows (each with the full phases: twice the cost);
- `wide`: width 128;
- `dense`: the session-7 Burgers recipe on any problem: float64, tanh MLP 20 x 20 x 20, 2000 Adam steps
  (lr 5e-3 decayed to 5e-4) then 3000 dense self-scaled Broyden steps (`bfgs`) on 8000 fixed points;
- `dense_wide`: the same with width 32 (for 2-D problems and systems; 1.3-2.4k parameters).

Run by hand (minutes per variant on a 2-core CPU), never in CI; record what you find in BENCHMARKS.md.
"""

import argparse
import json
import pathlib
import platform
import time

import jax
import jax.random as jr
import numpy as np

from jaxrep import config
from jaxrep._tasks.pinn import solve_config, solve_phases
from jaxrep.pinn import problems, solve


VARIANTS = {
    "recipe": [],
    "no_constraints": ["constraints.initial=false", "constraints.boundary=false"],
    "adam_only": ["train.phases=[{optimizer: adam, steps: 3000, learning_rate: 1.0e-3, schedule: exponential,"
                  " decay_rate: 0.1}]"],
    "lbfgs_4000": ["train.phases=[{optimizer: adam, steps: 3000, learning_rate: 1.0e-3, schedule: exponential,"
                   " decay_rate: 0.1}, {optimizer: lbfgs, steps: 4000, n_residual: 8000}]"],
    "modified_mlp": ["model.kind=modified_mlp", "model.depth=3"],
    "pirate": ["model.kind=pirate", "model.n_blocks=3", "model.fourier_features=64"],
    "fourier": ["model.fourier_features=64", "model.fourier_scale=1.0"],
    "causal": ["causal.chunks=16", "causal.tolerance=1.0"],
    "balance": ["balance.every=100"],
    "rad": ["rad.every=500", "rad.pool=4", "rad.k=1.0", "rad.c=1.0"],
    "marching_2": ["marching.windows=2"],
    "wide": ["model.width_size=128"],
    "dense": ["precision=float64", "model.kind=mlp", "model.width_size=20", "model.depth=3",
              "train.phases=[{optimizer: adam, steps: 2000, learning_rate: 5.0e-3, schedule: exponential,"
              " decay_rate: 0.1}, {optimizer: bfgs, steps: 3000, n_residual: 8000, scaling: ssbroyden}]"],
    # periodic problems whose initial condition is not smooth-periodic (Fisher-KPP: u0' jumps by 3.5e-3
    # across x = 0 ~ 2 pi): u = u0(x) + t N(periodic features) keeps that kink for all t, so one of the
    # two conditions is penalised instead of built in
    "dense_soft_initial": ["precision=float64", "model.kind=mlp", "model.width_size=20", "model.depth=3",
                           "constraints.initial=false",
                           "train.phases=[{optimizer: adam, steps: 2000, learning_rate: 5.0e-3, schedule: exponential,"
                           " decay_rate: 0.1}, {optimizer: bfgs, steps: 3000, n_residual: 8000, scaling: ssbroyden}]"],
    "dense_soft_boundary": ["precision=float64", "model.kind=mlp", "model.width_size=20", "model.depth=3",
                            "constraints.boundary=false",
                            "train.phases=[{optimizer: adam, steps: 2000, learning_rate: 5.0e-3, schedule: exponential,"
                            " decay_rate: 0.1}, {optimizer: bfgs, steps: 3000, n_residual: 8000, scaling: ssbroyden}]"],
    "dense_wide": ["precision=float64", "model.kind=mlp", "model.width_size=32", "model.depth=3",
                   "train.phases=[{optimizer: adam, steps: 2000, learning_rate: 5.0e-3, schedule: exponential,"
                   " decay_rate: 0.1}, {optimizer: bfgs, steps: 3000, n_residual: 8000, scaling: ssbroyden}]"],
}


def run(problem: str, variant: str, seed: int, method: str, extra: tuple = ()) -> dict:
    cfg = config.load(problem,
                      overrides=VARIANTS[variant] + [f"train.seed={seed}", f"method={method}",
                                                     "train.checkpoint_every=1000000", *extra])
    t0 = time.perf_counter()
    with jax.enable_x64(cfg.precision == "float64"):  # as `jaxrep solve` does (the task's `precision`)
        prob = problems.get(cfg.problem.name, **cfg.problem.params)
        sol = solve(prob, method, solve_config(cfg), key=jr.PRNGKey(seed), phases=solve_phases(cfg, prob),
                    progress=False)
    keep = ("rel_l2_train_window", "nrmse_train_window", "final_loss", "residual_mse_train_window",
            "residual_mse_extrapolation", "rel_l2_extrapolation", "rel_l2_extrapolation_koopman",
            "rel_l2_extrapolation_persistence", "rel_l2_extrapolation_damped_persistence", "A_sparsity")
    m = {k: float(v) if isinstance(v, (int, float, np.floating)) or getattr(v, "ndim", 1) == 0 else v
         for k, v in sol.metrics.items() if k in keep}
    return {**m, "wall_s": time.perf_counter() - t0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="+", default=["burgers"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--method", default="pinn")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override after the variant's, e.g. --set problem.params.nu=0.0016")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    print(f"# jax={jax.__version__} backend={jax.default_backend()} machine={platform.machine()}", flush=True)
    results = {}
    for problem in args.problems:
        for variant in args.variants:
            runs = [run(problem, variant, s, args.method, tuple(args.set)) for s in range(args.first_seed, args.first_seed + args.seeds)]
            results[f"{problem}/{variant}"] = runs
            e = np.array([r["rel_l2_train_window"] for r in runs])
            w = np.array([r["wall_s"] for r in runs])
            print(f"{problem:22s} {variant:15s} rel L2 {e.mean():.2e} +- {e.std():.1e}  wall {w.mean():6.0f} s",
                  flush=True)
            print("  " + json.dumps(runs), flush=True)
            if args.out:
                pathlib.Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
