"""Stochastic interpolants vs torchcfm on 8 Gaussians -> moons: several seeds, one data pipeline, a W2 that can tell.

Protocol (the same on both sides, in one run):

- **Task**: the linear interpolant x_t = (1 - t) x0 + t x1 (gamma = 0, Cond-OT), independent coupling,
  8 Gaussians -> moons, an MLP with `depth` hidden layers of `width` SiLU units on [x, t], Adam, batch `batch`.
- **Same data**: per seed, one pool of (x0, x1, t) for every step is drawn once (numpy) and fed in the same
  order to both sides: jaxrep reads it as an iterable through `jaxrep.train.fit` (`steps_per_call` steps
  per compiled call), torchcfm through `ConditionalFlowMatcher(sigma=0).sample_location_and_conditional_flow
  (x0, x1, t)`.
- **Same start**: the torch MLP is loaded with jaxrep's initial weights (Glorot-uniform, zero biases).
- **Same loss and gradients**: torchcfm's mean((v - u)^2) and jaxrep's velocity loss differ by a constant
  factor and an additive constant; Adam is invariant to both.
- **Same sampler and metric**: the torch-trained weights are loaded back into the jaxrep MLP, and both
  fields are sampled by the same code (`jaxrep.interpolants.sample`: Euler 64 steps, and adaptive Tsit5 at
  rtol = atol = `tol`) from the same `n_eval` source points.

Variants on the jaxrep side: `same` (exactly the torchcfm protocol), `ema` (+ an exponential moving average
of the weights, `jaxrep.train.ema`, decay 0.999), `recipe` (+ EMA + cosine learning-rate decay to 0).

**Metric.** Exact-assignment W2 on 1000 vs 1000 points has a data-vs-data floor of ~0.27 here, larger than
the differences being measured. Here W2 is the exact OT cost (POT's network simplex) between the two
empirical measures of `n_eval` points each, each quantised to the centroids of the occupied cells of a
square grid of side `cell` (each cell keeps its mass and moves to the mean of its points). By the triangle
inequality the quantisation changes W2 by at most the sum of the two within-cell RMS spreads (printed as
the "quantisation bound": ~0.09 at cell 0.12; in practice far less, e.g. 0.394 at cell 0.12 vs 0.392 at
cell 0.1 on the same samples). At the defaults (30 000 points, cell 0.12) the floor, two fresh data
samples through the same estimator, is ~0.08 (printed with every table) and one evaluation takes
seconds; exact assignment on 1000 points has a floor of ~0.27 and 4000 points ~0.17 (`wasserstein2`).
The unbiased multi-scale MMD^2 (`jaxrep.interpolants.mmd`, `n_mmd` points) is reported alongside.

    pip install -e ".[bench]"     # POT, for the exact OT of the quantised measures
    python benchmarks/interpolants_2d.py --seeds 5 --steps 5000 20000 --peer-python <venv>/bin/python

`<venv>` holds torch + torchcfm (never a jaxrep dependency). Run by hand, never in CI.
"""

import argparse
import json
import os
import platform
import subprocess
import tempfile
import textwrap

# One thread for both frameworks: on a small shared machine multi-threaded BLAS/Eigen oversubscribes.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

import jaxrep as jrp
import jaxrep.interpolants as ji

VARIANTS = ("same", "ema", "recipe")
EMA_DECAY = 0.999


# ----------------------------------------------------------------------------------------------- metric
def _quantise(x: np.ndarray, cell: float):
    idx = np.floor(x / cell).astype(np.int64)
    _, inv, counts = np.unique(idx, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    centroids = np.zeros((counts.size, x.shape[1]))
    np.add.at(centroids, inv, x)
    centroids /= counts[:, None]
    spread = float(np.sqrt(np.mean(np.sum((x - centroids[inv]) ** 2, axis=1))))
    return centroids, counts / x.shape[0], spread


def w2_quantised(x, y, cell: float) -> tuple[float, float]:
    """Exact W2 between the cell-centroid quantisations of two samples; also the bound on its error."""
    import ot

    cx, wx, sx = _quantise(np.asarray(x, np.float64), cell)
    cy, wy, sy = _quantise(np.asarray(y, np.float64), cell)
    cost = ot.dist(cx, cy)  # squared Euclidean
    value = ot.emd2(wx, wy, cost, numItermax=50_000_000)
    return float(np.sqrt(max(value, 0.0))), sx + sy


# ------------------------------------------------------------------------------------------------ data
def make_pool(seed: int, steps: int, batch: int):
    source, target = jrp.data.EightGaussians(), jrp.data.Moons()
    k0, k1, kt = jr.split(jr.PRNGKey(10_000 + seed), 3)
    n = steps * batch
    x0 = np.asarray(source.sample(n, key=k0), np.float32).reshape(steps, batch, 2)
    x1 = np.asarray(target.sample(n, key=k1), np.float32).reshape(steps, batch, 2)
    t = np.asarray(jr.uniform(kt, (steps, batch)), np.float32)
    return x0, x1, t


def init_field(seed: int, args):
    net = jrp.nn.MLP(3, 2, args.width, args.depth, jax.nn.silu, key=jr.PRNGKey(seed))
    return ji.TimeField(net)


def field_weights(field) -> list:
    return [(np.asarray(l.weight), np.asarray(l.bias)) for l in field.net.layers]


def load_weights(field, weights):
    layers = tuple(eqx.tree_at(lambda l: (l.weight, l.bias), l, (jnp.asarray(w), jnp.asarray(b)))
                   for l, (w, b) in zip(field.net.layers, weights))
    return eqx.tree_at(lambda f: f.net.layers, field, layers)


# -------------------------------------------------------------------------------------------- training
def _loss(model, batch, key):
    x0, x1, t = batch
    return ji.velocity_loss(model, ji.linear(), x0, x1, t=t, key=key, antithetic=False), {}


def train_jaxrep(field, pool, variant: str, args):
    steps = pool[0].shape[0]
    lr = optax.cosine_decay_schedule(args.lr, steps) if variant == "recipe" else args.lr
    opt = optax.adam(lr)
    if variant in ("ema", "recipe"):
        opt = jrp.train.ema(opt, EMA_DECAY)
    batches = ((pool[0][i], pool[1][i], pool[2][i]) for i in range(steps))
    field, hist, state = jrp.train.fit(field, _loss, batches, opt, steps=steps, key=jr.PRNGKey(0),
                                       progress=False, steps_per_call=args.steps_per_call,
                                       log_every=args.steps_per_call, return_opt_state=True)
    # the history's time is taken after each compiled call: drop the first interval (compilation)
    t, s = np.asarray(hist["time"]), np.asarray(hist["step"])
    steps_per_s = (s[-1] - s[0]) / (t[-1] - t[0])
    if variant in ("ema", "recipe"):
        field = jrp.train.ema_model(field, state)
    return field, steps_per_s


TORCH_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import torch
    from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    pool = np.load(cfg["pool"], allow_pickle=False)
    init = np.load(cfg["init"], allow_pickle=False)
    torch.manual_seed(0)
    layers, w = [], cfg["width"]
    sizes = [3] + [w] * cfg["depth"] + [2]
    linears = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    with torch.no_grad():
        for i, lin in enumerate(linears):
            lin.weight.copy_(torch.from_numpy(init[f"w{i}"]))
            lin.bias.copy_(torch.from_numpy(init[f"b{i}"]))
    for lin in linears[:-1]:
        layers += [lin, torch.nn.SiLU()]
    model = torch.nn.Sequential(*layers, linears[-1])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    fm = ConditionalFlowMatcher(sigma=0.0)
    x0s, x1s, ts = (torch.from_numpy(pool[k]) for k in ("x0", "x1", "t"))
    steps, warm = x0s.shape[0], 50
    for step in range(steps):
        if step == warm:
            start, cpu0 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        t, xt, ut = fm.sample_location_and_conditional_flow(x0s[step], x1s[step], t=ts[step])
        vt = model(torch.cat([xt, t[:, None]], dim=-1))
        loss = torch.mean((vt - ut) ** 2)
        loss.backward()
        opt.step()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    out = {f"w{i}": lin.weight.detach().numpy() for i, lin in enumerate(linears)}
    out.update({f"b{i}": lin.bias.detach().numpy() for i, lin in enumerate(linears)})
    np.savez(cfg["out"], **out)
    json.dump({"steps_per_s": (steps - warm) / wall, "cpu_ms": 1e3 * cpu / (steps - warm)},
              open(cfg["out_json"], "w"))
    """
)


def train_torch(field, pool, args):
    with tempfile.TemporaryDirectory() as tmp:
        paths = {k: os.path.join(tmp, k) for k in ("pool.npz", "init.npz", "out.npz", "out.json", "peer.py")}
        np.savez(paths["pool.npz"], x0=pool[0], x1=pool[1], t=pool[2])
        np.savez(paths["init.npz"], **{f"{c}{i}": a for i, (w, b) in enumerate(field_weights(field))
                                       for c, a in (("w", w), ("b", b))})
        with open(paths["peer.py"], "w") as fh:
            fh.write(TORCH_SCRIPT)
        cfg = dict(pool=paths["pool.npz"], init=paths["init.npz"], out=paths["out.npz"],
                   out_json=paths["out.json"], width=args.width, depth=args.depth, lr=args.lr)
        subprocess.run([args.peer_python, paths["peer.py"], json.dumps(cfg)], check=True)
        with np.load(paths["out.npz"], allow_pickle=False) as z:
            n = len(field.net.layers)
            weights = [(z[f"w{i}"], z[f"b{i}"]) for i in range(n)]
        with open(paths["out.json"]) as fh:
            stats = json.load(fh)
    return load_weights(field, weights), stats["steps_per_s"]


# ------------------------------------------------------------------------------------------ evaluation
def evaluate(field, x0, ref, args) -> dict:
    I = ji.linear()
    out = {}
    euler = ji.sample(field, x0, I, solver=diffrax.Euler(), steps=64)
    adaptive, nsteps = ji.sample(field, x0, I, rtol=args.tol, atol=args.tol, return_stats=True)
    for name, x in (("euler64", euler), ("adaptive", adaptive)):
        out[f"w2_{name}"] = w2_quantised(np.asarray(x), ref, args.cell)[0]
    out["nfe_adaptive"] = float(6 * jnp.mean(nsteps))
    out["mmd_euler64"] = float(ji.mmd(euler[: args.n_mmd], jnp.asarray(ref[: args.n_mmd])))
    return out


def _fmt(values, digits=3):
    a = np.asarray(values, float)
    return f"{a.mean():.{digits}f} ± {a.std(ddof=1) if a.size > 1 else 0.0:.{digits}f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, nargs="+", default=[5000, 20000])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps-per-call", type=int, default=100)
    p.add_argument("--n-eval", type=int, default=30_000)
    p.add_argument("--n-mmd", type=int, default=4000)
    p.add_argument("--cell", type=float, default=0.12)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--peer-python", default=None, help="python with torch + torchcfm (optional peer)")
    p.add_argument("--json", default=None, help="write every row to this file")
    args = p.parse_args()

    source, target = jrp.data.EightGaussians(), jrp.data.Moons()
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"jax {jax.__version__} on {jax.default_backend()}, 1 thread per framework; batch={args.batch} "
          f"MLP {args.depth}x{args.width} SiLU, Adam {args.lr}; n_eval={args.n_eval} cell={args.cell}", flush=True)
    x0 = source.sample(args.n_eval, key=jr.PRNGKey(7))
    ref = np.asarray(target.sample(args.n_eval, key=jr.PRNGKey(8)))
    floors = [w2_quantised(np.asarray(target.sample(args.n_eval, key=jr.PRNGKey(100 + i))), ref, args.cell)
              for i in range(3)]
    mmd_floor = float(ji.mmd(target.sample(args.n_mmd, key=jr.PRNGKey(99)), jnp.asarray(ref[: args.n_mmd])))
    print(f"# W2 floor (fresh data vs data, 3 draws): {_fmt([f[0] for f in floors])}; quantisation bound "
          f"{floors[0][1]:.3f}; MMD^2 floor {mmd_floor:.2e}", flush=True)

    rows = []
    for steps in args.steps:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            pool = make_pool(seed, steps, args.batch)
            field0 = init_field(seed, args)
            sides = [(v, lambda v=v: train_jaxrep(field0, pool, v, args)) for v in args.variants]
            if args.peer_python:
                sides.append(("torchcfm", lambda: train_torch(field0, pool, args)))
            for name, train in sides:
                field, sps = train()
                row = {"side": name, "steps": steps, "seed": seed, "steps_per_s": sps,
                       **evaluate(field, x0, ref, args)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "floor": [f[0] for f in floors], "bound": floors[0][1],
                       "mmd_floor": mmd_floor, "args": vars(args)}, fh, indent=1)

    print(f"\nW2 floor {_fmt([f[0] for f in floors])} (quantisation bound {floors[0][1]:.3f}); "
          f"mean ± std over seeds {args.first_seed}..{args.first_seed + args.seeds - 1}\n")
    print("| steps | side | W2 Euler 64 | W2 adaptive (NFE) | MMD^2 Euler 64 (x1e-4) | steps/s |")
    print("|---|---|---|---|---|---|")
    for steps in args.steps:
        for name in [*args.variants, *(["torchcfm"] if args.peer_python else [])]:
            rs = [r for r in rows if r["steps"] == steps and r["side"] == name]
            print(f"| {steps} | {name} | {_fmt([r['w2_euler64'] for r in rs])} | "
                  f"{_fmt([r['w2_adaptive'] for r in rs])} ({np.mean([r['nfe_adaptive'] for r in rs]):.0f}) | "
                  f"{_fmt([1e4 * r['mmd_euler64'] for r in rs], 2)} | {np.median([r['steps_per_s'] for r in rs]):.0f} |")


if __name__ == "__main__":
    main()
