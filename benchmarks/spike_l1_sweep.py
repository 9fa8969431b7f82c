"""SPIKE's L1 weight, per problem: does any weight make the sparse generator extrapolate better than PIKE's?

SPIKE adds `weights.l1 * sum |A_ij|` to PIKE's loss; the bundled configs use 1e-3 everywhere. The 3-seed
table (`spike_table.py`, BENCHMARKS.md) found SPIKE's Koopman rollout worse than PIKE's on 12 of 15
problems at that weight. This sweep asks whether that is the weight or the method: for every problem and
seed it trains the PINN once (the config's phases), then runs the staged PIKE (weight 0) and the staged
SPIKE at each weight in `--weights` from that same network (`solve(network=)`, exactly as the table does:
the PIKE stage, then the L1 stage from where it ended), and scores the Koopman rollout on the first
extrapolation window beside the network and the two persistence forecasts.

    python benchmarks/spike_l1_sweep.py --problems burgers heat --seeds 1 --out sweep.json
    python benchmarks/spike_l1_sweep.py --problems burgers --out sweep.json --resume   # after an interruption
    python benchmarks/spike_l1_sweep.py --report sweep_a.json sweep_b.json             # merge, print the table

At the config's weight (1e-3) and weight 0 the runs are the table's SPIKE and PIKE runs of the same seed
(same code path, same keys). `--out` is rewritten atomically after every run; `--resume` keeps every
finished (problem, weight, seed). Run by hand, never in CI (the PINN stage is minutes per problem on a
2-core CPU; each Koopman stage ~10-30 s).
"""

import argparse
import json
import platform

import jax
import numpy as np

from jaxrep.pinn import problems

from _steps import cpu_name  # benchmarks/_steps.py (this script's folder is on sys.path)
from spike_table import _load, _write, run_one

WEIGHTS = (0.0, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3)


def _label(weight: float) -> str:
    return "pike" if weight == 0 else f"l1={weight:g}"


def _weight(label: str) -> float:
    return 0.0 if label == "pike" else float(label.split("=")[1])


def _stats(runs, key):
    vals = np.asarray([r[key] for r in runs if r.get(key) is not None], float)
    return (vals.mean(), vals.std(), vals.size) if vals.size else (np.nan, np.nan, 0)


def markdown(results: dict) -> str:
    """One row per (problem, weight): rollout mean +- std over seeds, and per problem the weight with the
    lowest mean rollout, beside the network's own extrapolation and the two persistence forecasts."""
    rows = ["| problem | L1 weight | seeds | Koopman rollout (extrap.) | in-window rel. L2 | A sparsity | "
            "network (extrap.) | persistence | damped persistence | Koopman VPT (Lyapunov times) |", "|" + "---|" * 10]
    best = {}
    for problem in dict.fromkeys(p for p, _ in results):
        labels = sorted((m for p, m in results if p == problem), key=_weight)
        means = {m: _stats(list(results[(problem, m)].values()), "rel_l2_extrapolation_koopman")[0] for m in labels}
        best[problem] = min(means, key=lambda m: means[m])
        for m in labels:
            runs = [results[(problem, m)][s] for s in sorted(results[(problem, m)])]
            mu, sd, n = _stats(runs, "rel_l2_extrapolation_koopman")
            tr, _, _ = _stats(runs, "rel_l2_train_window")
            sp, _, _ = _stats(runs, "A_sparsity")
            net, _, _ = _stats(runs, "rel_l2_extrapolation")
            pers, _, _ = _stats(runs, "rel_l2_extrapolation_persistence")
            damp, _, _ = _stats(runs, "rel_l2_extrapolation_damped_persistence")
            vpt, vsd, nv = _stats(runs, "valid_prediction_time_lyapunov_koopman")  # Lorenz only
            vpt = "-" if nv == 0 else (f"{vpt:.2f} ± {vsd:.2f}" if nv > 1 else f"{vpt:.2f}")
            cell = f"{mu:.3g} ± {sd:.1g}" if n > 1 else f"{mu:.3g}"
            if m == best[problem]:
                cell = f"**{cell}**"
            rows.append(f"| {problem} | {_weight(m):g} | {n} | {cell} | {tr:.2e} | {sp:.2f} | {net:.3g} | "
                        f"{pers:.3g} | {damp:.3g} | {vpt} |")
    rows.append("")
    rows.append("Lowest mean rollout per problem: " + "; ".join(f"{p}: {_weight(m):g}" for p, m in best.items()))
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="*", default=[p for p in problems.names() if p != "kuramoto_sivashinsky"])
    ap.add_argument("--weights", nargs="+", type=float, default=list(WEIGHTS),
                    help="L1 weights (0 = PIKE) run from each seed's PINN network")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--budget", default="recipe", help="as in spike_table.py (recipe: the configs as committed)")
    ap.add_argument("--out", default=None, help="write the raw results as JSON here (after every run)")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in --out, run the rest")
    ap.add_argument("--report", nargs="+", default=None, metavar="JSON",
                    help="run nothing: merge these result files and print the table (and write them to --out)")
    args = ap.parse_args()
    if args.report:
        results = _load(args.report)
        if args.out:
            _write(args.out, results)
        print(markdown(results))
        return
    if args.resume and not args.out:
        ap.error("--resume needs --out")
    unknown = sorted(set(args.problems) - set(problems.names()))
    if unknown:
        ap.error(f"unknown problems {unknown}; known: {problems.names()}")
    if any(w < 0 for w in args.weights):
        ap.error(f"--weights must be >= 0, got {args.weights}")
    print(f"# budget={args.budget} weights={args.weights} jax={jax.__version__} backend={jax.default_backend()} "
          f"machine={platform.machine()} cpu={cpu_name()!r}", flush=True)
    results = _load([args.out]) if args.resume and args.out else {}
    for problem in args.problems:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            todo = [w for w in args.weights if seed not in results.get((problem, _label(w)), {})]
            if not todo:
                continue
            networks = {}
            pinn = run_one(problem, "pinn", seed, args.budget, networks)
            if (problem, seed) not in networks:
                raise SystemExit(f"{problem}: the sweep needs a staged config on one time window "
                                 "(koopman.staged_steps > 0, marching.windows = 1)")
            print(f"{problem} seed {seed}: PINN {pinn['rel_l2_train_window']:.2e} in the window, "
                  f"{pinn['wall_s']:.0f} s", flush=True)
            for w in todo:
                method = "spike" if w > 0 else "pike"
                # PyYAML reads a float only with a decimal point and a signed exponent: 1.0e-04, not 1e-4
                over = [f"weights.l1={w:.6e}"] if w > 0 else []
                r = run_one(problem, method, seed, args.budget, networks, overrides=over)
                row = {"seed": seed, "weight": w, **r}  # every metric the table stores, so rows can join it
                results.setdefault((problem, _label(w)), {})[seed] = row
                print(json.dumps({"problem": problem, **row}), flush=True)
                if args.out:
                    _write(args.out, results)
    print()
    print(markdown({k: v for k, v in results.items() if k[0] in args.problems}))


if __name__ == "__main__":
    main()
