"""Stochastic interpolants on 2-D toys: training speed and sample quality vs function evaluations.

Task: 8 Gaussians -> moons with the linear (Cond-OT, gamma = 0) interpolant and independent coupling,
an MLP with `depth` hidden layers of `width` SiLU units on [x, t], Adam, batch `batch`. Reports

- training steps/s (jaxrep: `jaxrep.train.fit` with `steps_per_call` steps fused per compiled call;
  compile time excluded),
- W2 (exact, 1000 vs 1000 samples) of generated vs fresh data against the number of function
  evaluations (NFE) for Euler, Heun and adaptive Tsit5, and the model NLL of moons test points
  (exact divergence, base density = the 8-Gaussian mixture),
- the same for torchcfm's `ConditionalFlowMatcher(sigma=0)` on the same task, same MLP, same batch, same
  data law, in the same run, when `--peer-python` points at an interpreter with torch + torchcfm
  (a separate venv: torch is never a jaxrep dependency).

    python benchmarks/interpolants_2d.py [--steps 3000] [--peer-python /path/to/venv/bin/python]

Run by hand, never in CI.
"""

import argparse
import json
import os
import platform
import subprocess
import tempfile
import textwrap

# One thread for both frameworks: on a small shared machine multi-threaded BLAS/Eigen oversubscribes
# and the timings become noise (torch fell from ~200 to ~6 steps/s with 2 threads under load).
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import diffrax
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

import jaxrep as jrp
import jaxrep.interpolants as ji


def jaxrep_run(args, source, target):
    I = ji.linear()
    key = jr.PRNGKey(args.seed)
    k_model, k_train, k_eval = jr.split(key, 3)
    net = jrp.nn.MLP(3, 2, args.width, args.depth, jax.nn.silu, key=k_model)
    field = ji.TimeField(net)

    def data(key, step):
        k0, k1 = jr.split(key)
        return source.sample(args.batch, key=k0), target.sample(args.batch, key=k1)

    def loss_fn(model, batch, key):
        x0, x1 = batch
        return ji.velocity_loss(model, I, x0, x1, key=key, antithetic=False), {}

    field, hist = jrp.train.fit(field, loss_fn, data, optax.adam(args.lr), steps=args.steps, key=k_train,
                                progress=False, steps_per_call=args.steps_per_call,
                                log_every=args.steps_per_call)
    # history time is measured after each compiled call: drop the first (compile) interval
    t, s = np.asarray(hist["time"]), np.asarray(hist["step"])
    steps_per_s = (s[-1] - s[0]) / (t[-1] - t[0])
    return field, steps_per_s


def evaluate_jaxrep(field, source, target, key, n=1000):
    I = ji.linear()
    k0, k1, k2 = jr.split(key, 3)
    x0 = source.sample(n, key=k0)
    data = np.asarray(target.sample(n, key=k1))
    test = target.sample(n, key=k2)
    rows = []
    for name, solver, stages, steps_list in (("euler", diffrax.Euler(), 1, (2, 4, 8, 16, 32, 64)),
                                             ("heun", diffrax.Heun(), 2, (2, 4, 8, 16, 32))):
        for steps in steps_list:
            x1 = ji.sample(field, x0, I, solver=solver, steps=steps)
            rows.append({"solver": name, "nfe": stages * steps, "w2": ji.wasserstein2(x1, data)})
    for tol in (1e-2, 1e-4):
        x1, nsteps = ji.sample(field, x0, I, rtol=tol, atol=tol, return_stats=True)
        rows.append({"solver": f"tsit5 tol={tol:.0e}", "nfe": float(6 * jnp.mean(nsteps)),
                     "w2": ji.wasserstein2(x1, data)})
    for solver, steps, label, stages in ((diffrax.Heun(), 16, "heun", 2), (diffrax.Tsit5(), None, "tsit5 tol=1e-04", None)):
        lp = ji.log_likelihood(field, test, I, base_log_prob=source.log_prob, solver=solver, steps=steps,
                               rtol=1e-4, atol=1e-4)
        for r in rows:
            if r["solver"] == label and (steps is None or r["nfe"] == stages * steps):
                r["nll"] = float(-jnp.mean(lp))
    return rows, np.asarray(x0), data


TORCH_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import torch
    from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    pool = np.load(cfg["pool"])
    torch.manual_seed(cfg["seed"])
    layers, w = [], cfg["width"]
    sizes = [3] + [w] * cfg["depth"]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.SiLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(w, 2))
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    fm = ConditionalFlowMatcher(sigma=0.0)
    x0s, x1s = torch.from_numpy(pool["x0"]), torch.from_numpy(pool["x1"])
    warm = 50
    for step in range(cfg["steps"]):
        if step == warm:
            start = time.perf_counter()
        opt.zero_grad()
        t, xt, ut = fm.sample_location_and_conditional_flow(x0s[step], x1s[step])
        vt = model(torch.cat([xt, t[:, None]], dim=-1))
        loss = torch.mean((vt - ut) ** 2)
        loss.backward()
        opt.step()
    steps_per_s = (cfg["steps"] - warm) / (time.perf_counter() - start)

    x0 = torch.from_numpy(pool["eval_x0"])
    f = lambda t, x: model(torch.cat([x, torch.full((x.shape[0], 1), t)], dim=-1))
    out = {"steps_per_s": steps_per_s, "samples": {}}
    with torch.no_grad():
        for name, stages, steps_list in (("euler", 1, (2, 4, 8, 16, 32, 64)), ("heun", 2, (2, 4, 8, 16, 32))):
            for n in steps_list:
                x, h = x0.clone(), 1.0 / n
                for i in range(n):
                    t = i * h
                    k1 = f(t, x)
                    if name == "euler":
                        x = x + h * k1
                    else:
                        k2 = f(t + h, x + h * k1)
                        x = x + 0.5 * h * (k1 + k2)
                out["samples"][f"{name}:{stages * n}"] = x.numpy().tolist()
    json.dump(out, open(cfg["out"], "w"))
    """
)


def torch_run(args, source, target, x0_eval):
    key = jr.PRNGKey(args.seed + 1)
    k0, k1 = jr.split(key)
    shape = (args.steps, args.batch)
    pool_x0 = np.asarray(source.sample(args.steps * args.batch, key=k0), np.float32).reshape(*shape, 2)
    pool_x1 = np.asarray(target.sample(args.steps * args.batch, key=k1), np.float32).reshape(*shape, 2)
    with tempfile.TemporaryDirectory() as tmp:
        pool = os.path.join(tmp, "pool.npz")
        np.savez(pool, x0=pool_x0, x1=pool_x1, eval_x0=np.asarray(x0_eval, np.float32))
        out = os.path.join(tmp, "out.json")
        cfg = dict(pool=pool, out=out, seed=args.seed, width=args.width, depth=args.depth, lr=args.lr,
                   steps=args.steps)
        script = os.path.join(tmp, "peer.py")
        with open(script, "w") as fh:
            fh.write(TORCH_SCRIPT)
        subprocess.run([args.peer_python, script, json.dumps(cfg)], check=True)
        with open(out) as fh:
            return json.load(fh)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps-per-call", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--peer-python", default=None, help="python with torch + torchcfm (optional peer)")
    args = p.parse_args()

    source, target = jrp.data.EightGaussians(), jrp.data.Moons()
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"jax {jax.__version__} on {jax.default_backend()}, 1 thread per framework; "
          f"steps={args.steps} batch={args.batch} width={args.width} depth={args.depth} lr={args.lr}")
    field, sps = jaxrep_run(args, source, target)
    rows, x0_eval, data = evaluate_jaxrep(field, source, target, jr.PRNGKey(args.seed + 2))
    peer = None
    if args.peer_python:
        peer = torch_run(args, source, target, x0_eval)
        peer_w2 = {k: ji.wasserstein2(np.asarray(v), data) for k, v in peer["samples"].items()}
    w2_floor = ji.wasserstein2(np.asarray(target.sample(1000, key=jr.PRNGKey(123))), data)

    print(f"\ntraining: jaxrep {sps:.0f} steps/s" + (f", torchcfm {peer['steps_per_s']:.0f} steps/s "
          f"(ratio {sps / peer['steps_per_s']:.2f}x)" if peer else ""))
    print(f"W2 floor (fresh data vs data, n=1000): {w2_floor:.3f}\n")
    print("| solver | NFE | W2 jaxrep | NLL jaxrep | W2 torchcfm |")
    print("|---|---|---|---|---|")
    for r in rows:
        key = f"{r['solver']}:{int(r['nfe'])}"
        pw = f"{peer_w2[key]:.3f}" if peer and key in peer_w2 else "-"
        nll = f"{r['nll']:.3f}" if "nll" in r else "-"
        print(f"| {r['solver']} | {r['nfe']:.0f} | {r['w2']:.3f} | {nll} | {pw} |")


if __name__ == "__main__":
    main()
