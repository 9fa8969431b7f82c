"""Dense quasi-Newton (BFGS / self-scaled BFGS / self-scaled Broyden) against `optax.lbfgs` on a small
Burgers PINN, in plain JAX + optax (issue 11: relative L2 <= 1e-4 in the training window, <= 10 min).

Problem (as `burgers_plain_recipe.py`): u_t + u u_x = nu u_xx, nu = 0.01/pi, x in [-1, 1], t in [0, 0.5],
u(x, 0) = -sin(pi x), u(+-1, t) = 0, both built in: u = -sin(pi x) + (t / T)(1 - x^2) net(x, t). A tanh MLP
(sizes `--hidden`, Glorot-normal init) on inputs rescaled to [-1, 1] (or, with `--embed periodic`, on
(t, cos pi x, sin pi x), as Urban et al. do). The loss is the mean squared residual (nested forward-mode
derivatives) on `--n-points` fixed uniform points. Adam warm-up (`--adam` steps, lr `--lr` decayed
exponentially to `--lr-end`, on the same fixed points, or fresh points each step with `--adam-fresh`),
then, from the same warm-up state, each optimiser of `--optimizers` in turn: `lbfgs` (optax.lbfgs,
memory `--memory`), `bfgs`, `ssbfgs`, `ssbroyden` (`jaxrep.train._bfgs.bfgs(scaling=...)`, a dense
inverse-Hessian direction chained with the same `optax.scale_by_zoom_linesearch` as optax.lbfgs), each
`update` + `apply_updates` jitted whole with the line search's value and gradient reused, `--chunk` steps
fused per call by `lax.scan`. Each run stops after `--qn` steps or when the run's wall time (the
warm-up's plus its own, compile included, evaluation excluded) passes `--budget` seconds.
Relative L2 against jaxrep's Cole-Hopf reference on a 256 x 101 grid of the training window.

    taskset -c 1 python benchmarks/burgers_bfgs.py [--hidden 20,20,20] [--x64] [--n-points 4000]
        [--adam 2000] [--qn 100000] [--budget 600] [--optimizers lbfgs,ssbroyden] [--seed 0]

Prints one JSON line per checkpoint: optimiser, step, loss, rel_l2, wall_s; and a summary per optimiser
with the median seconds per quasi-Newton step (compile excluded).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--hidden", default="20,20,20", help="hidden layer widths, comma separated")
parser.add_argument("--embed", choices=["none", "periodic"], default="none")
parser.add_argument("--x64", action="store_true")
parser.add_argument("--n-points", type=int, default=4000, help="fixed residual points")
parser.add_argument("--adam", type=int, default=2000)
parser.add_argument("--adam-fresh", type=int, default=0, help="fresh points per Adam step (0: the fixed set)")
parser.add_argument("--lr", type=float, default=5e-3)
parser.add_argument("--lr-end", type=float, default=5e-4)
parser.add_argument("--qn", type=int, default=100000, help="max quasi-Newton steps per optimiser")
parser.add_argument("--budget", type=float, default=600.0, help="wall seconds per run (warm-up + its phase)")
parser.add_argument("--optimizers", default="lbfgs,ssbroyden")
parser.add_argument("--memory", type=int, default=50)
parser.add_argument("--ls-steps", type=int, default=20, help="max zoom line-search steps")
parser.add_argument("--chunk", type=int, default=50, help="steps per jitted call")
parser.add_argument("--report-every", type=int, default=500)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--nu-pi", type=float, default=0.01, help="viscosity nu = NU_PI / pi")
parser.add_argument("--rad-pool", type=int, default=0,
                    help="choose the fixed quasi-Newton points by RAD from this many times --n-points uniform "
                         "candidates with the warm-up's residual (0: uniform fixed points)")
parser.add_argument("--rad-k", type=float, default=1.0)
parser.add_argument("--rad-c", type=float, default=1.0)
parser.add_argument("--out", default=None, help="write all records as JSON here")
parser.add_argument("--step-cost", action="store_true",
                    help="only time the parts of one step (loss+gradient, dense vs L-BFGS direction) and exit")
args = parser.parse_args()
if args.x64:
    jax.config.update("jax_enable_x64", True)

from jaxrep.pde._cole_hopf import ColeHopfBurgers  # the reference only
from jaxrep.train._bfgs import bfgs

NU, T = args.nu_pi / np.pi, 0.5
DTYPE = jnp.float64 if args.x64 else jnp.float32
HIDDEN = [int(h) for h in args.hidden.split(",")]


def init(key, sizes):
    params = []
    for a, b in itertools.pairwise(sizes):
        key, k = jax.random.split(key)
        params.append((np.sqrt(2.0 / (a + b)) * jax.random.normal(k, (a, b), DTYPE), jnp.zeros(b, DTYPE)))
    return params


def net(params, x, t):
    tt = 2 * t / T - 1
    if args.embed == "periodic":
        h = jnp.stack([tt, jnp.cos(jnp.pi * x), jnp.sin(jnp.pi * x)])
    else:
        h = jnp.stack([x, tt])
    for w, b in params[:-1]:
        h = jnp.tanh(h @ w + b)
    w, b = params[-1]
    return (h @ w + b)[0]


def u(params, x, t):
    return -jnp.sin(jnp.pi * x) + (t / T) * (1 - x**2) * net(params, x, t)


def residual(params, x, t):
    d1 = lambda y: jax.jvp(lambda z: u(params, z, t), (y,), (jnp.ones_like(y),))
    (v, vx), (_, vxx) = jax.jvp(d1, (x,), (jnp.ones_like(x),))
    vt = jax.jvp(lambda s: u(params, x, s), (t,), (jnp.ones_like(t),))[1]
    return vt + v * vx - NU * vxx


def loss(params, xs, ts):
    return jnp.mean(jax.vmap(residual, (None, 0, 0))(params, xs, ts) ** 2)


def points(key, n):
    k1, k2 = jax.random.split(key)
    return (jax.random.uniform(k1, (n,), DTYPE, minval=-1.0, maxval=1.0),
            jax.random.uniform(k2, (n,), DTYPE, maxval=T))


xg, tg = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, T, 101), indexing="ij")
with jax.enable_x64(True):  # the reference in float64 whatever the training precision
    ref = np.asarray(jax.vmap(ColeHopfBurgers(nu=NU))(jnp.asarray(xg.reshape(-1, 1)), jnp.asarray(tg.ravel())))
ref = ref.ravel()
XG, TG = jnp.asarray(xg.ravel(), DTYPE), jnp.asarray(tg.ravel(), DTYPE)
_predict = jax.jit(jax.vmap(u, (None, 0, 0)))


def rel_l2(params):
    pred = np.asarray(_predict(params, XG, TG), np.float64)
    return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref))


key = jax.random.PRNGKey(args.seed)
k_init, k_adam, k_fixed = jax.random.split(key, 3)
params0 = init(k_init, [3 if args.embed == "periodic" else 2, *HIDDEN, 1])
n_params = sum(w.size + b.size for w, b in params0)
xs_fixed, ts_fixed = points(k_fixed, args.n_points)
objective = lambda p: loss(p, xs_fixed, ts_fixed)
records = []


def emit(rec):
    records.append(rec)
    print(json.dumps(rec), flush=True)


if args.step_cost:
    # Median times (compile excluded) of: loss + gradient on the fixed points; the dense
    # direction update (scale_by_bfgs: rank-2 update of H and H g); optax's L-BFGS direction
    # (scale_by_lbfgs, two-loop recursion over `--memory` pairs).
    from jaxrep.train._bfgs import scale_by_bfgs

    def median_time(fn, *xs, repeats=20):
        jax.block_until_ready(fn(*xs))
        times = []
        for _ in range(repeats):
            tc = time.perf_counter()
            jax.block_until_ready(fn(*xs))
            times.append(time.perf_counter() - tc)
        return float(np.median(times))

    grad0 = jax.grad(objective)(params0)
    shifted = jax.tree_util.tree_map(lambda p: p + 1e-3, params0)
    grad1 = jax.grad(objective)(shifted)
    out = {"hidden": HIDDEN, "n_params": n_params, "x64": args.x64, "n_points": args.n_points,
           "loss_and_grad_s": median_time(jax.jit(jax.value_and_grad(objective)), params0)}
    for name, t in (("dense", scale_by_bfgs("ssbroyden")), ("lbfgs", optax.scale_by_lbfgs(args.memory))):
        state = t.init(params0)
        _, state = t.update(grad0, state, params0)
        for _ in range(3):  # fill some memory / do a few updates, so every branch is live
            _, state = t.update(grad1, state, shifted)
            _, state = t.update(grad0, state, params0)

        def ten_updates(state, t=t):  # inside a scan, as in training (the state's buffers reused)
            step = lambda st, _: (t.update(grad1, st, shifted)[1], None)
            return jax.lax.scan(step, state, None, length=10)[0]

        out[f"{name}_direction_s"] = median_time(jax.jit(ten_updates), state, repeats=5) / 10
    print(json.dumps(out), flush=True)
    raise SystemExit(0)


# ---- Adam warm-up (shared by every optimiser) ------------------------------------------------------
adam = optax.adam(optax.exponential_decay(args.lr, max(args.adam, 1), args.lr_end / args.lr))


@jax.jit
def adam_chunk(params, opt_state, keys):
    def body(carry, k):
        params, opt_state = carry
        xs, ts = points(k, args.adam_fresh) if args.adam_fresh else (xs_fixed, ts_fixed)
        value, grad = jax.value_and_grad(loss)(params, xs, ts)
        updates, opt_state = adam.update(grad, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    (params, opt_state), values = jax.lax.scan(body, (params, opt_state), keys)
    return params, opt_state, values[-1]


t0 = time.perf_counter()
params, opt_state = params0, adam.init(params0)
keys = jax.random.split(k_adam, max(args.adam, 1))
chunk = 100
for i in range(0, args.adam, chunk):
    params, opt_state, value = adam_chunk(params, opt_state, keys[i:i + chunk])
jax.block_until_ready(params)
adam_wall = time.perf_counter() - t0
params_adam = params
if args.rad_pool:
    from jaxrep.pinn._losses import rad_select

    xc, tc = points(jax.random.fold_in(k_fixed, 1), args.rad_pool * args.n_points)
    r_abs = jnp.abs(jax.jit(jax.vmap(residual, (None, 0, 0)))(params, xc, tc))
    idx = rad_select(jax.random.fold_in(k_fixed, 2), r_abs, args.n_points, args.rad_k, args.rad_c)
    xs_fixed, ts_fixed = xc[idx], tc[idx]
    objective = lambda p: loss(p, xs_fixed, ts_fixed)
    adam_wall = time.perf_counter() - t0
emit({"phase": "adam", "rad_pool": args.rad_pool, "nu_pi": args.nu_pi, "hidden": HIDDEN, "n_params": n_params, "x64": args.x64, "n_points": args.n_points,
      "step": args.adam, "loss": float(objective(params)), "rel_l2": rel_l2(params), "wall_s": adam_wall})


# ---- quasi-Newton phases ----------------------------------------------------------------------------
def make_optimizer(name):
    ls = optax.scale_by_zoom_linesearch(max_linesearch_steps=args.ls_steps, initial_guess_strategy="one")
    if name == "lbfgs":
        return optax.lbfgs(memory_size=args.memory, linesearch=ls)
    return bfgs(scaling={"bfgs": "none", "ssbfgs": "ssbfgs", "ssbroyden": "ssbroyden"}[name], linesearch=ls)


def strong(tree):
    return jax.tree_util.tree_map(
        lambda x: jnp.array(x, dtype=x.dtype) if isinstance(x, jax.Array) and x.weak_type else x, tree)


summary = []
for name in args.optimizers.split(","):
    opt = make_optimizer(name)
    value_and_grad = optax.value_and_grad_from_state(objective)

    @jax.jit
    def qn_chunk(params, state, opt=opt, value_and_grad=value_and_grad):
        def body(carry, _):
            params, state = carry
            value, grad = value_and_grad(params, state=state)
            updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=objective)
            return (optax.apply_updates(params, updates), state), value

        (params, state), values = jax.lax.scan(body, (params, state), None, length=args.chunk)
        return params, state, values[-1]

    t_start = time.perf_counter()
    params, state = params_adam, strong(opt.init(params_adam))
    eval_s, step, chunk_times, compile_s = 0.0, 0, [], None
    while step < args.qn:
        tc = time.perf_counter()
        params, state, value = qn_chunk(params, state)
        jax.block_until_ready(value)
        dt = time.perf_counter() - tc
        if compile_s is None:
            compile_s = dt
        else:
            chunk_times.append(dt)
        step += args.chunk
        wall = adam_wall + time.perf_counter() - t_start - eval_s
        done = step >= args.qn or wall >= args.budget or not np.isfinite(float(value))
        if step % args.report_every == 0 or done:
            te = time.perf_counter()
            emit({"phase": name, "step": step, "loss": float(value), "rel_l2": rel_l2(params), "wall_s": wall})
            eval_s += time.perf_counter() - te
        if done:
            break
    per_step = float(np.median(chunk_times)) / args.chunk if chunk_times else float("nan")
    summary.append({"optimizer": name, "hidden": HIDDEN, "n_params": n_params, "x64": args.x64,
                    "n_points": args.n_points, "steps": step, "final_loss": records[-1]["loss"],
                    "final_rel_l2": records[-1]["rel_l2"], "wall_s": records[-1]["wall_s"],
                    "s_per_step": per_step, "first_chunk_s": compile_s})
    print(json.dumps({"summary": summary[-1]}), flush=True)

if args.out:
    with open(args.out, "w") as fh:
        json.dump({"args": vars(args), "records": records, "summary": summary}, fh, indent=1)
