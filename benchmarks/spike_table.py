"""PINN vs PIKE vs SPIKE on the problem suite at an equal training budget.

For every problem x method x seed: `jaxrep.pinn.solve` with the problem's bundled config
(`jaxrep/configs/<problem>.yaml` with `method=<method>`, so the three methods share one config) and the
budget's overrides (`recipe`: the config as it is).
Reports mean +- std over seeds of

- rel. L2 error vs the reference on the training window and on the first extrapolation window (network;
  and Koopman rollout from the end of the training window for PIKE/SPIKE),
- physics-residual MSE on both windows (the SPIKE paper's metric),
- the generator's sparsity (fraction of |A_ij| < 1e-3 max|A|),
- time per training step (compile excluded) and wall time of the whole solve,
- the two trivial forecasts of the extrapolation window (persistence of u(x, T), and damped persistence),
  and PDEBench's nRMSE on the training window.

    python benchmarks/spike_table.py --budget recipe [--seeds 3] [--problems heat burgers] [--out table.json]
    python benchmarks/spike_table.py --budget recipe --out table.json --resume   # after an interruption
    python benchmarks/spike_table.py --report table_a.json table_b.json          # merge files, print the table
    python benchmarks/spike_table.py --report table_a.json table_b.json --out merged.json   # ... and save it
    python benchmarks/spike_table.py --budget small    # a short sanity pass (1500 Adam + 300 L-BFGS steps)
    python benchmarks/spike_table.py --budget paper    # paper-sized runs: for a GPU

Each (problem, seed) runs its three methods one after another (the PINN first, whose network the staged
PIKE/SPIKE reuse), and `--out` is rewritten atomically after every run, so an interrupted table loses at
most the run in progress: `--resume` keeps every finished (problem, method, seed) and runs the rest. Split
the work over cores with one `--out` per process (different `--problems`), then `--report` the files.

`recipe` is each problem's config as committed (<= 10 min per run on the 2-core CPU is its target);
`paper` uses paper-like sizes (20k Adam + 5k L-BFGS steps, 8192 residual points, width 128). Run by
hand, never in CI.
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
from jaxrep.pinn import method_names, problems, solve

from _steps import cpu_name  # benchmarks/_steps.py (this script's folder is on sys.path)


BUDGETS = {
    "recipe": ["train.checkpoint_every=100000"],
    "small": [
        "train.phases=[{optimizer: adam, steps: 1500, learning_rate: 1.0e-3, schedule: exponential, decay_rate: 0.1},"
        " {optimizer: lbfgs, steps: 300, n_residual: 2048}]",
        "train.steps_per_call=100", "train.log_every=100", "train.checkpoint_every=100000",
        "sampling.n_residual=512", "sampling.n_koopman=64", "eval.n_x=128", "eval.n_x_2d=24", "eval.n_t=26",
    ],
    "paper": [
        "train.phases=[{optimizer: adam, steps: 20000, learning_rate: 1.0e-3, schedule: exponential, decay_rate: 0.05},"
        " {optimizer: lbfgs, steps: 5000, n_residual: 16384}]",
        "train.steps_per_call=500", "train.log_every=500", "train.checkpoint_every=100000",
        "sampling.n_residual=8192", "sampling.n_koopman=512", "model.width_size=128", "model.depth=4",
    ],
}

COLUMNS = [
    ("rel_l2_train_window", "rel. L2 train"),
    ("rel_l2_extrapolation", "rel. L2 extrap. (net)"),
    ("rel_l2_extrapolation_koopman", "rel. L2 extrap. (Koopman)"),
    ("residual_mse_train_window", "residual MSE train"),
    ("residual_mse_extrapolation", "residual MSE extrap."),
    ("rel_l2_extrapolation_persistence", "rel. L2 extrap. (persistence)"),
    ("rel_l2_extrapolation_damped_persistence", "rel. L2 extrap. (damped pers.)"),
    ("nrmse_train_window", "nRMSE train"),
    ("A_sparsity", "A sparsity"),
    ("A_resdmd_fraction_below", "eigenpairs res < 0.1"),
    ("time_per_step", "ms/step"),
    ("wall_s", "wall s"),
]


def _scalar(v):
    return None if v is None else float(v)


def run_one(problem: str, method: str, seed: int, budget: str, networks: dict, overrides=()) -> dict:
    """One solve (`overrides`: config overrides after the budget's, e.g. `weights.l1=1e-4`). Staged PIKE/SPIKE (`koopman.staged_steps > 0`) start from the PINN solution of the same
    problem and seed when this process has it (`networks`, filled by the `pinn` runs): their first stage
    is that PINN's optimisation, so the result is the same as training it again (`solve(network=)`); their
    `wall_s` then adds the PINN's wall time to their own (`wall_s_stage`)."""
    cfg = config.load(problem, overrides=BUDGETS[budget] + [f"train.seed={seed}", f"method={method}", *overrides])
    network = networks.get((problem, seed)) if method != "pinn" and cfg.koopman.staged_steps > 0 else None
    t0 = time.perf_counter()
    with jax.enable_x64(cfg.precision == "float64"):  # as `jaxrep solve` does (the config's `precision`)
        prob = problems.get(cfg.problem.name, **cfg.problem.params)
        sol = solve(prob, method, solve_config(cfg), key=jr.PRNGKey(seed), phases=solve_phases(cfg, prob),
                    progress=False, network=None if network is None else network[0])
    m = {k: _scalar(sol.metrics[k]) for k, _ in COLUMNS if k in sol.metrics}
    m["wall_s"] = time.perf_counter() - t0
    # every run stores its machine: a table built over several sessions may mix machines, and its time
    # columns depend on them
    m["machine"] = cpu_name() if jax.default_backend() == "cpu" else jax.devices()[0].device_kind
    if method == "pinn" and cfg.marching.windows == 1:
        networks[(problem, seed)] = (sol, m["wall_s"])
    if network is not None:
        m["wall_s_stage"] = m["wall_s"]
        m["wall_s"] += network[1]
    for k in ("valid_prediction_time_lyapunov", "valid_prediction_time_lyapunov_koopman"):
        if k in sol.metrics:
            m[k] = _scalar(sol.metrics[k])
    return m


def _fmt(vals, key):
    vals = np.asarray([v for v in vals if v is not None], float)
    if vals.size == 0:
        return "-"
    if key == "time_per_step":
        vals = 1e3 * vals
        return f"{vals.mean():.2f}"
    if key == "wall_s":
        return f"{vals.mean():.0f}"
    if key in ("A_sparsity", "A_resdmd_fraction_below"):
        return f"{vals.mean():.2f}"
    return f"{vals.mean():.2e} ± {vals.std():.1e}" if vals.size > 1 else f"{vals.mean():.2e}"


def markdown(results: dict) -> str:
    head = "| problem | method | " + " | ".join(c for _, c in COLUMNS) + " |"
    sep = "|" + "---|" * (len(COLUMNS) + 2)
    rows = [head, sep]
    for (problem, method), runs in results.items():
        cells = [_fmt([r.get(k) for r in runs], k) for k, _ in COLUMNS]
        rows.append(f"| {problem} | {method} | " + " | ".join(cells) + " |")
    machines = {}
    for runs in results.values():
        for r in runs:
            name = r.get("machine", "not recorded")
            machines[name] = machines.get(name, 0) + 1
    rows.append("")
    rows.append("Runs per machine: " + "; ".join(f"{k}: {v}" for k, v in sorted(machines.items())))
    return "\n".join(rows)


def _load(paths) -> dict:
    """{(problem, method): {seed: run}} from result files (runs recorded before seeds were stored are
    numbered in order)."""
    results = {}
    for path in paths:
        for key, runs in json.loads(pathlib.Path(path).read_text()).items():
            cell = results.setdefault(tuple(key.split("/")), {})
            for i, run in enumerate(runs):
                cell[int(run.get("seed", i))] = run
    return results


def _write(path: str, results: dict) -> None:
    """Atomically (a temporary file renamed over the target): an interrupted write leaves the old file."""
    out = pathlib.Path(path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps({f"{p}/{m}": [runs[s] for s in sorted(runs)] for (p, m), runs in results.items()},
                              indent=1))
    tmp.replace(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", choices=list(BUDGETS), default="recipe")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--problems", nargs="*", default=problems.names())
    ap.add_argument("--methods", nargs="*", default=method_names())
    ap.add_argument("--out", default=None, help="write the raw results as JSON here (after every run)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the (problem, method, seed) runs already in --out, run the rest")
    ap.add_argument("--report", nargs="+", default=None, metavar="JSON",
                    help="run nothing: merge these result files and print the table (and write them to --out)")
    args = ap.parse_args()
    if args.report:
        results = _load(args.report)
        if args.out:  # one merged file, e.g. to commit, or to --resume from on another machine
            _write(args.out, results)
        print(markdown({k: [v[s] for s in sorted(v)] for k, v in results.items()}))
        return
    if args.resume and not args.out:
        ap.error("--resume needs --out")
    unknown = sorted(set(args.problems) - set(problems.names()))
    if unknown:
        ap.error(f"unknown problems {unknown}; known: {problems.names()}")
    print(f"# budget={args.budget} seeds={args.seeds} jax={jax.__version__} "
          f"backend={jax.default_backend()} machine={platform.machine()} cpu={cpu_name()!r} devices={jax.device_count()}", flush=True)
    results, networks = {}, {}
    if args.resume and pathlib.Path(args.out).exists():
        results = _load([args.out])
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    methods = sorted(args.methods, key=lambda m: m != "pinn")  # the PINN first: PIKE/SPIKE reuse its network
    for problem in args.problems:
        for seed in seeds:
            for method in methods:
                cell = results.setdefault((problem, method), {})
                if seed in cell:
                    continue
                r = {"seed": seed, **run_one(problem, method, seed, args.budget, networks)}
                cell[seed] = r
                print(json.dumps({"problem": problem, "method": method, **r}), flush=True)
                if args.out:
                    _write(args.out, results)
            networks.pop((problem, seed), None)  # one network in memory at a time
    print()
    print(markdown({(p, m): [results[(p, m)][s] for s in sorted(results[(p, m)])]
                    for p in args.problems for m in args.methods if results.get((p, m))}))


if __name__ == "__main__":
    main()
