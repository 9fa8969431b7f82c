"""The issue-11 reference recipe for Burgers, written from scratch in plain JAX + optax (no jaxrep training
code), to check jaxrep's solver against the same ingredients side by side.

Recipe (as issue 11 states it): a tanh MLP 64 x 4 on inputs rescaled to [-1, 1]; the initial and Dirichlet
conditions built in, u = -sin(pi x) + (t / T) (1 - x^2) net(x, t); the residual
u_t + u u_x - nu u_xx (nu = 0.01/pi) by nested forward-mode derivatives; Adam (lr 1e-3 decayed
exponentially to 1e-4 over the phase) on fresh uniform points, then `optax.lbfgs` (zoom line search,
update and value/gradient in one jitted function, the line search's value and gradient reused) on 8000
fixed points. Relative L2 against the Cole-Hopf reference (jaxrep's `ColeHopfBurgers`, accurate to 1e-13)
on a 256 x 101 grid of the training window t in [0, 0.5].

    python benchmarks/burgers_plain_recipe.py [--adam 3000] [--lbfgs 2000] [--memory 10] [--x64]
        [--init lecun|glorot] [--full-batch] [--seed 0]

Compare with `jaxrep solve burgers --set method=pinn` (the same ingredients through `jaxrep.pinn.solve`).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--adam", type=int, default=3000)
parser.add_argument("--lbfgs", type=int, default=2000)
parser.add_argument("--memory", type=int, default=10)
parser.add_argument("--n-adam", type=int, default=2048, help="points per Adam step")
parser.add_argument("--n-lbfgs", type=int, default=8000, help="fixed points of the L-BFGS phase")
parser.add_argument("--x64", action="store_true")
parser.add_argument("--init", choices=["lecun", "glorot"], default="lecun")
parser.add_argument("--full-batch", action="store_true", help="Adam on the L-BFGS phase's fixed points")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--report-every", type=int, default=250)
args = parser.parse_args()
if args.x64:
    jax.config.update("jax_enable_x64", True)

from jaxrep.pde._cole_hopf import ColeHopfBurgers  # noqa: E402  (the reference only)

NU, T = 0.01 / np.pi, 0.5


def init(key, sizes):
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        key, k = jax.random.split(key)
        std = np.sqrt(2.0 / (a + b)) if args.init == "glorot" else np.sqrt(1.0 / a)
        params.append((std * jax.random.normal(k, (a, b)), jnp.zeros(b)))
    return params


def net(params, x, t):
    h = jnp.stack([x, 2 * t / T - 1])
    for w, b in params[:-1]:
        h = jnp.tanh(h @ w + b)
    w, b = params[-1]
    return (h @ w + b)[0]


def u(params, x, t):
    return -jnp.sin(jnp.pi * x) + (t / T) * (1 - x**2) * net(params, x, t)


def residual(params, x, t):
    d1 = lambda y: jax.jvp(lambda z: u(params, z, t), (y,), (jnp.ones_like(y),))  # noqa: E731
    (v, vx), (_, vxx) = jax.jvp(d1, (x,), (jnp.ones_like(x),))
    vt = jax.jvp(lambda s: u(params, x, s), (t,), (jnp.ones_like(t),))[1]
    return vt + v * vx - NU * vxx


def loss(params, xs, ts):
    return jnp.mean(jax.vmap(residual, (None, 0, 0))(params, xs, ts) ** 2)


def points(key, n):
    k1, k2 = jax.random.split(key)
    return jax.random.uniform(k1, (n,), minval=-1.0, maxval=1.0), jax.random.uniform(k2, (n,), maxval=T)


xg, tg = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, T, 101), indexing="ij")
ref = np.asarray(jax.vmap(ColeHopfBurgers(nu=NU))(jnp.asarray(xg.reshape(-1, 1)), jnp.asarray(tg.ravel()))).ravel()


def rel_l2(params):
    pred = np.asarray(jax.vmap(u, (None, 0, 0))(params, jnp.asarray(xg.ravel()), jnp.asarray(tg.ravel())))
    return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref))


key = jax.random.PRNGKey(args.seed)
k_init, k_adam, k_fixed = jax.random.split(key, 3)
params = init(k_init, [2, 64, 64, 64, 64, 1])
xs_fixed, ts_fixed = points(k_fixed, args.n_lbfgs)
adam = optax.adam(optax.exponential_decay(1e-3, max(args.adam, 1), 0.1))
opt_state = adam.init(params)


@jax.jit
def adam_step(params, opt_state, k):
    xs, ts = (xs_fixed, ts_fixed) if args.full_batch else points(k, args.n_adam)
    value, grad = jax.value_and_grad(loss)(params, xs, ts)
    updates, opt_state = adam.update(grad, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value


log = []
t0 = time.perf_counter()
for i, k in enumerate(jax.random.split(k_adam, args.adam)):
    params, opt_state, value = adam_step(params, opt_state, k)
value = float(value) if args.adam else float("nan")
log.append({"phase": "adam", "step": args.adam, "loss": value, "rel_l2": rel_l2(params), "wall_s": time.perf_counter() - t0})
print(json.dumps(log[-1]), flush=True)

objective = lambda p: loss(p, xs_fixed, ts_fixed)  # noqa: E731
lbfgs = optax.lbfgs(memory_size=args.memory)
lb_state = lbfgs.init(params)
value_and_grad = optax.value_and_grad_from_state(objective)


@jax.jit
def lbfgs_step(params, lb_state):
    value, grad = value_and_grad(params, state=lb_state)
    updates, lb_state = lbfgs.update(grad, lb_state, params, value=value, grad=grad, value_fn=objective)
    return optax.apply_updates(params, updates), lb_state, value


for i in range(args.lbfgs):
    params, lb_state, value = lbfgs_step(params, lb_state)
    if (i + 1) % args.report_every == 0 or i + 1 == args.lbfgs:
        log.append({"phase": "lbfgs", "step": i + 1, "loss": float(value), "rel_l2": rel_l2(params),
                    "wall_s": time.perf_counter() - t0})
        print(json.dumps(log[-1]), flush=True)
print(json.dumps({"args": vars(args), "final_rel_l2": log[-1]["rel_l2"], "wall_s": log[-1]["wall_s"]}))
