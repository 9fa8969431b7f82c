"""KAN symbolic-regression showcase: recover f(x, y) = exp(sin(pi x) + y^2) as a formula.

The KAN paper's example (its Figure 2.4 workflow): train a [2, 1, 1] KAN (the shape pruning leaves for
this function), refine its grid, fix every edge to a library function with `auto_symbolic`, train the
affine parameters further through `fit`, and print the formula with `symbolic_formula`. Reports, per
seed: which function each edge got, the formula, its test RMSE against the truth (5000 fresh points)
and the wall time of each stage.

    python benchmarks/kan_symbolic.py --seeds 0 1 2

Run by hand (about a minute per seed on a 2-core CPU); record what you find in BENCHMARKS.md.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import sympy as sp

import jaxrep as jrp


def truth(x):
    return jnp.exp(jnp.sin(jnp.pi * x[..., 0]) + x[..., 1] ** 2)


def mse_loss(model, batch, key):
    x, y = batch
    return jnp.mean((jax.vmap(model)(x)[:, 0] - y) ** 2), {}


def train(model, x, y, steps, lr, key):
    sched = optax.cosine_decay_schedule(lr, steps, alpha=0.01)
    model, _ = jrp.train.fit(model, mse_loss, [(x, y)] * steps, optimizer=optax.adam(sched), steps=steps,
                             steps_per_call=steps, progress=False, key=key)
    return model


def rmse(model, x, y):
    return float(jnp.sqrt(mse_loss(model, (x, y), None)[0]))


def run(seed: int) -> dict:
    k_model, k_x, k_test, k1, k3 = jr.split(jr.PRNGKey(seed), 5)
    x = jr.uniform(k_x, (2000, 2), minval=-1.0, maxval=1.0)
    y = truth(x)
    x_test = jr.uniform(k_test, (5000, 2), minval=-1.0, maxval=1.0)
    y_test = truth(x_test)
    out = {"seed": seed}
    t = time.perf_counter()
    # grid extension 3 -> 5 -> 10 (knot insertion keeps the function), Adam full batch at each grid
    kan = jrp.nn.KAN([2, 1, 1], grid_size=3, key=k_model)
    for s, grid_size in enumerate((3, 5, 10)):
        if s:
            kan = jrp.nn.refine_grid(kan, x, grid_size)
        kan = train(kan, x, y, 1500, 1e-2, jr.fold_in(k1, s))
    out["kan_test_rmse"] = rmse(kan, x_test, y_test)
    out["train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    skan = jrp.nn.auto_symbolic(kan, x, r2_threshold=0.99)
    out["symbolic_s"] = time.perf_counter() - t
    out["edges"] = {f"layer {l} ({i}, {j})": skan.names[int(skan.fn_index[l][i, j])]
                    for l, m in enumerate(skan.masks) for i in range(m.shape[0]) for j in range(m.shape[1])
                    if bool(m[i, j])}
    out["fixed"] = int(sum(int(jnp.sum(m)) for m in skan.masks))
    out["symbolic_test_rmse_before"] = rmse(skan, x_test, y_test)
    t = time.perf_counter()
    skan = train(skan, x, y, 1000, 1e-3, k3)
    out["affine_train_s"] = time.perf_counter() - t
    out["symbolic_test_rmse"] = rmse(skan, x_test, y_test)
    if out["fixed"] == sum(m.size for m in skan.masks):
        (expr,) = jrp.nn.symbolic_formula(skan, names=("x", "y"), digits=4)
        out["formula"] = str(expr)
        X, Y = sp.symbols("x y", real=True)
        f = sp.lambdify((X, Y), expr, "numpy")
        pred = f(np.asarray(x_test[:, 0], np.float64), np.asarray(x_test[:, 1], np.float64))
        out["formula_test_rmse"] = float(np.sqrt(np.mean((pred - np.asarray(y_test, np.float64)) ** 2)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}")
    for seed in args.seeds:
        r = run(seed)
        print(f"seed {seed}: KAN test RMSE {r['kan_test_rmse']:.2e} ({r['train_s']:.0f} s); auto_symbolic "
              f"{r['symbolic_s']:.1f} s, {r['fixed']} edges {r['edges']}; symbolic test RMSE "
              f"{r['symbolic_test_rmse_before']:.2e} -> {r['symbolic_test_rmse']:.2e} after affine training "
              f"({r['affine_train_s']:.0f} s)")
        if "formula" in r:
            print(f"  formula: {r['formula']}  (test RMSE {r['formula_test_rmse']:.2e})")


if __name__ == "__main__":
    main()
