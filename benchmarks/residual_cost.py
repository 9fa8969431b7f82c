"""XLA's operation count for the Burgers PINN residual written two ways (no timing; any machine).

The residual $u_t + u u_x - \\nu u_{xx}$ of a tanh MLP 128x3 at 2000 points, as the mean squared loss,
forward only and forward + gradient:

- `separate`: `dt(u) + u(x, t) * dx(u, 1) - nu * dx(u, 2)` (each derivative traced on its own);
- `shared`: `dx_upto(u, 2)` for $u, u_x, u_{xx}$ and one `jax.jvp` in $t$ (what `jaxrep.pinn` uses);
- `u`: the plain network, the unit.

Usage::

    python benchmarks/residual_cost.py
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr

from jaxrep.pinn import dt, dx, dx_upto

NU = 0.01 / jnp.pi


def separate(u, x, t):
    return dt(u, x, t) + u(x, t) * dx(u, x, t, 0, 1) - NU * dx(u, x, t, 0, 2)


def shared(u, x, t):
    v, v_x, v_xx = dx_upto(u, x, t, 0, 2)
    return dt(u, x, t) + v * v_x - NU * v_xx


def plain(u, x, t):
    return u(x, t)


def main():
    net = eqx.nn.MLP(2, 1, 128, 3, activation=jnp.tanh, key=jr.PRNGKey(0))
    params, static = eqx.partition(net, eqx.is_array)
    xs, ts = jr.uniform(jr.PRNGKey(1), (2000, 1)), jr.uniform(jr.PRNGKey(2), (2000,))
    print("| residual | forward GFLOP | / u | forward + gradient GFLOP | / u |")
    print("|---|---|---|---|---|")
    base = None
    for name, r in [("u", plain), ("separate", separate), ("shared", shared)]:
        def loss(p, r=r):
            m = eqx.combine(p, static)
            u = lambda x, t: m(jnp.concatenate([x, t[None]]))  # noqa: E731
            return jnp.mean(jax.vmap(lambda x, t: r(u, x, t))(xs, ts) ** 2)

        out = []
        for f in (jax.jit(loss), jax.jit(jax.value_and_grad(loss))):
            cost = f.lower(params).compile().cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            out.append(cost["flops"] / 1e9)
        base = base or out
        print(f"| {name} | {out[0]:.3f} | {out[0] / base[0]:.2f} | {out[1]:.3f} | {out[1] / base[1]:.2f} |")


if __name__ == "__main__":
    main()
