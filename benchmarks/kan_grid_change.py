"""How much `refine_grid` / `update_grid` change a trained KAN's output (issue 13, item 4).

A KAN [2, 5, 1] (B-splines, G = 5 on [-1, 1]) is trained on exp(sin(pi x) + y^2); its hidden activations
leave the second layer's grid. Prints the hidden range and, for each grid change, the relative RMSE and
the max abs change of the output on the training points; then the loss over the first steps of training
on after `refine_grid`, with Adam's moments carried (`opt_state=`) and with a fresh Adam.

    python benchmarks/kan_grid_change.py [--seed 0] [--steps 2000] [--points 1000]
"""

import argparse

import jax
import jax.numpy as jnp
import jax.random as jr
import optax

import jaxrep as J


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--points", type=int, default=1000)
    args = p.parse_args()
    kx, km, kt = jr.split(jr.PRNGKey(args.seed), 3)
    x = jr.uniform(kx, (args.points, 2), minval=-1, maxval=1)
    y = jnp.exp(jnp.sin(jnp.pi * x[:, :1]) + x[:, 1:] ** 2)
    kan = J.nn.KAN([2, 5, 1], "bspline", grid_size=5, key=km)

    def loss(m, batch, key):
        xb, yb = batch
        return jnp.mean((jax.vmap(m)(xb) - yb) ** 2), {}

    data = lambda key, step: (x, y)  # noqa: E731
    kan, hist, opt_state = J.train.fit(kan, loss, data, optax.adam(1e-2), steps=args.steps, key=kt,
                                       steps_per_call=100, progress=False, return_opt_state=True)
    out = jax.vmap(kan)(x)
    hidden = jax.vmap(kan.layers[0])(x)
    print(f"final loss {float(hist['loss'][-1]):.2e}; hidden activations in [{float(hidden.min()):.2f}, "
          f"{float(hidden.max()):.2f}]; max |output| {float(jnp.abs(out).max()):.2f}")

    def report(name, model):
        new = jax.vmap(model)(x)
        rel = float(jnp.sqrt(jnp.mean((new - out) ** 2) / jnp.mean(out**2)))
        sizes = [layer.basis.grid_size for layer in model.layers]
        print(f"{name:28s} rel. RMSE {rel:.2e}  max abs {float(jnp.max(jnp.abs(new - out))):.2e}  G per layer {sizes}")

    report("refine_grid(10)", J.nn.refine_grid(kan, x, 10))
    updated = J.nn.update_grid(kan, x)
    report("update_grid", updated)
    report("update_grid + refine_grid(10)", J.nn.refine_grid(updated, x, 10))

    # Training on after refine_grid(10): Adam's moments carried (refine_grid(..., opt_state=)) vs a fresh Adam.
    before = float(hist["loss"][-1])
    finer, carried = J.nn.refine_grid(kan, x, 10, opt_state=opt_state)
    k_more = jr.fold_in(kt, 1)
    for name, state in (("carried moments", carried), ("fresh Adam", None)):
        _, h = J.train.fit(finer, loss, data, optax.adam(1e-2), steps=50, key=k_more, steps_per_call=50,
                           progress=False, opt_state=state)
        print(f"{name:16s} loss before {before:.2e}; max over the next 20 steps {float(h['loss'][:20].max()):.2e} "
              f"({float(h['loss'][:20].max()) / before:.1f}x); after 50 steps {float(h['loss'][-1]):.2e}")


if __name__ == "__main__":
    main()
