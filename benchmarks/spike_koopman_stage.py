"""Staged PIKE/SPIKE: sweep the Koopman stage on top of one trained PINN network.

A staged fit (`koopman.staged_steps > 0`) trains the network on the PINN loss first, then the
observables $g$ and the generator $A$ alone (network frozen) on the Koopman terms (+ the L1 penalty
for SPIKE). The first stage is the expensive one and does not depend on the Koopman settings, so this
script trains it once (`method=pinn` with the config's phases, seed `--seed`) and then runs stage 2
for each variant from that same network, scoring the Koopman rollout on the extrapolation window
against the reference and beside the two persistence baselines.

    python benchmarks/spike_koopman_stage.py --problem burgers --variants base pike l1_1e-3 lr_1e-2 obs_16
    python benchmarks/spike_koopman_stage.py --problem burgers --out stage.json

Variants (stage 2 only; the network is the same for all):

- `base`: the config as it is (SPIKE, L1 weight `weights.l1`, `koopman.staged_learning_rate`);
- `pike`: no L1 penalty;
- `l1_1e-3`: L1 weight 1e-3;
- `lr_1e-2`: learning rate 1e-2 (constant, as the config's);
- `obs_16`: 16 observables, L1 weight 1e-3;
- `steps_x3`: three times the stage's steps, L1 weight 1e-3;
- `continuation`, `continuation_1e-3`: the PIKE stage first (no L1), then as many steps with the L1
  penalty (weight `weights.l1` or 1e-3) from where it ended.

Run by hand (the PINN stage takes minutes on a 2-core CPU; each variant ~1-2 min); record what you
find in BENCHMARKS.md.
"""

import argparse
import dataclasses
import json
import pathlib
import platform
import time

import equinox as eqx
import jax
import jax.random as jr
import optax

from jaxrep import config
from jaxrep._tasks.pinn import solve_config, solve_phases
from jaxrep.pinn import make_sampler, problems, solve
from jaxrep.pinn._solve import _koopman_stage_loss, compute_metrics, evaluate, make_model
from jaxrep.train import Phase, fit

VARIANTS = {
    "base": dict(),
    "pike": dict(l1=0.0),
    "l1_1e-3": dict(l1=1e-3),
    "lr_1e-2": dict(lr=1e-2),
    "obs_16": dict(observables=16, l1=1e-3),
    "steps_x3": dict(steps_factor=3, l1=1e-3),
    "continuation": dict(continuation=True),
    "continuation_1e-3": dict(continuation=True, l1=1e-3),
}
KEYS = ("rel_l2_train_window", "rel_l2_extrapolation", "rel_l2_extrapolation_koopman",
        "rel_l2_extrapolation_persistence", "rel_l2_extrapolation_damped_persistence", "A_l1", "A_sparsity")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="burgers")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    print(f"# jax={jax.__version__} backend={jax.default_backend()} machine={platform.machine()}", flush=True)
    cfg = config.load(args.problem, overrides=[f"train.seed={args.seed}", "method=spike",
                                               "train.checkpoint_every=1000000"])
    results = {}
    with jax.enable_x64(cfg.precision == "float64"):
        prob = problems.get(cfg.problem.name, **cfg.problem.params)
        scfg = solve_config(cfg)
        key = jr.PRNGKey(args.seed)
        t0 = time.perf_counter()
        net = solve(prob, "pinn", scfg, key=key, phases=solve_phases(cfg, prob), progress=False)
        results["pinn_stage_s"] = time.perf_counter() - t0
        print(f"PINN stage: rel L2 in window {net.metrics['rel_l2_train_window']:.2e} "
              f"({results['pinn_stage_s']:.0f} s)", flush=True)
        k_model, k_train = jr.split(key)
        for name in args.variants:
            v = VARIANTS[name]
            kc = dataclasses.replace(scfg.koopman, observables=v.get("observables", scfg.koopman.observables))
            weights = dataclasses.replace(scfg.weights, l1=v.get("l1", scfg.weights.l1))
            c2 = dataclasses.replace(scfg, koopman=kc, weights=weights)
            sparse = weights.l1 > 0
            model = make_model(prob, c2, koopman=True, key=k_model)
            model = eqx.tree_at(lambda m: m.field, model, net.model.field)
            steps = kc.staged_steps * v.get("steps_factor", 1)
            phase = Phase(optax.adam(v.get("lr", kc.staged_learning_rate)), steps, name="koopman")
            sampler = make_sampler(prob, c2.sampling, koopman=True)
            t0 = time.perf_counter()
            if v.get("continuation"):  # PIKE first, then the L1 penalty from there
                model, _ = fit(model, _koopman_stage_loss(c2, False), sampler, phases=[phase],
                               key=jr.fold_in(k_train, 1), progress=False, **c2.fit.kwargs())
            model, history = fit(model, _koopman_stage_loss(c2, sparse), sampler,
                                 phases=[phase], key=jr.fold_in(k_train, 2 if v.get("continuation") else 1),
                                 progress=False, **c2.fit.kwargs())
            wall = time.perf_counter() - t0
            m = compute_metrics(model, prob, evaluate(model, prob, c2), history)
            row = {k: m.get(k) for k in KEYS}
            row.update(koopman_gen=float(history["koopman_gen"][-1]), koopman_expm=float(history["koopman_expm"][-1]),
                       stage_s=wall, steps=steps)
            results[name] = row
            print(f"{name:10s} Koopman extrap. {row['rel_l2_extrapolation_koopman']:.3f} (persistence "
                  f"{row['rel_l2_extrapolation_persistence']:.3f}, damped {row['rel_l2_extrapolation_damped_persistence']:.3f}"
                  f", network {row['rel_l2_extrapolation']:.3f}) gen {row['koopman_gen']:.3g} expm "
                  f"{row['koopman_expm']:.3g} |A|_1 {row['A_l1']:.3g} ({wall:.0f} s)", flush=True)
            if args.out:
                pathlib.Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
