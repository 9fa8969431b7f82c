"""Forward+backward throughput and memory of one KANLayer per basis, against an MLP layer of equal
parameter count and the equal-FLOP matmul, plus a check that no (batch, out, in) tensor is formed.

    python benchmarks/kan_throughput.py [--repeats 20] [--batch 1024]

For every basis and shape it times `jax.grad` of a sum-of-squares loss with respect to the layer's
parameters and its input (forward + backward), best of `--repeats` after compilation, and reads
XLA's temporary-buffer size (`compiled.memory_analysis().temp_size_in_bytes`). References:

- `matmul`: the equal-FLOP matmul `(B, in*(G+k)) @ (in*(G+k), out)`, forward + backward;
- `mlp`: `in -> h -> out` with SiLU, `h` chosen so that its parameter count equals the KAN layer's.

The compiled HLO of each KAN step is scanned for any `(B, out, in)` / `(B, in, out)` shaped buffer.
jaxKAN / pykan are timed on the same shapes only if they are importable (they are not dependencies).
"""

from __future__ import annotations

import argparse
import re
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr

import jaxrep

BASES = ["bspline", "rbf", "fourier", "chebyshev", "legendre", "rational"]


def _bench(fn, args, repeats):
    compiled = jax.jit(fn).lower(*args).compile()
    out = compiled(*args)
    jax.block_until_ready(out)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t)
    try:
        mem = compiled.memory_analysis().temp_size_in_bytes
    except Exception:  # backend without memory analysis
        mem = float("nan")
    return best, mem, compiled.as_text()


def _fwd_bwd(model_apply):
    def loss(params, x):
        return jnp.sum(model_apply(params, x) ** 2)

    return jax.grad(loss, argnums=(0, 1))


def kan_case(basis, n_in, n_out, grid, order, batch, repeats, key):
    layer = jaxrep.nn.KANLayer(n_in, n_out, basis, grid, order, key=key)
    params, static = eqx.partition(layer, eqx.is_inexact_array)
    apply = lambda p, x: jax.vmap(eqx.combine(p, static))(x)
    x = jr.uniform(key, (batch, n_in), minval=-1, maxval=1)
    t, mem, hlo = _bench(_fwd_bwd(apply), (params, x), repeats)
    shapes = {f"[{batch},{n_out},{n_in}]", f"[{batch},{n_in},{n_out}]"}
    found = set(re.findall(r"\[\d+,\d+,\d+\]", hlo)) & shapes
    n_params = sum(v.size for v in jax.tree_util.tree_leaves(params))
    return t, mem, bool(found), n_params, layer.num_basis


def matmul_case(n_in, n_out, num_basis, batch, repeats, key):
    w = jr.normal(key, (n_in * num_basis, n_out)) / (n_in * num_basis) ** 0.5
    x = jr.normal(key, (batch, n_in * num_basis))
    t, mem, _ = _bench(_fwd_bwd(lambda w, x: x @ w), (w, x), repeats)
    return t, mem


def mlp_case(n_in, n_out, n_params, batch, repeats, key):
    hidden = max(1, round((n_params - n_out) / (n_in + 1 + n_out)))
    k1, k2 = jr.split(key)
    params = (jr.normal(k1, (n_in, hidden)) / n_in**0.5, jnp.zeros(hidden),
              jr.normal(k2, (hidden, n_out)) / hidden**0.5, jnp.zeros(n_out))
    apply = lambda p, x: jax.nn.silu(x @ p[0] + p[1]) @ p[2] + p[3]
    x = jr.uniform(key, (batch, n_in), minval=-1, maxval=1)
    t, mem, _ = _bench(_fwd_bwd(apply), (params, x), repeats)
    return t, mem, hidden


def peers(n_in, n_out, grid, order, batch, repeats):
    rows = []
    try:
        import jaxkan  # noqa: F401
    except ImportError:
        rows.append("jaxKAN: not importable, not timed")
    try:
        import kan  # noqa: F401  (pykan, PyTorch)
    except ImportError:
        rows.append("pykan: not importable, not timed")
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    key = jr.PRNGKey(0)
    cases = [(64, 64, 5, 3), (256, 256, 10, 3)]
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, batch {args.batch}, best of {args.repeats}")
    print("| shape | basis | K | params | KAN ms | matmul ms | KAN/matmul | MLP (h) ms | KAN/MLP | "
          "KAN temp MiB | temp/matmul | (B,out,in) buffer |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for n_in, n_out, grid, order in cases:
        for basis in BASES:
            t_kan, m_kan, found, n_params, num_basis = kan_case(basis, n_in, n_out, grid, order, args.batch,
                                                                 args.repeats, key)
            t_mm, m_mm = matmul_case(n_in, n_out, num_basis, args.batch, args.repeats, key)
            t_mlp, m_mlp, hidden = mlp_case(n_in, n_out, n_params, args.batch, args.repeats, key)
            print(f"| {n_in}->{n_out}, G={grid}, k={order} | {basis} | {num_basis} | {n_params} | "
                  f"{1e3 * t_kan:.2f} | {1e3 * t_mm:.2f} | {t_kan / t_mm:.2f}x | {1e3 * t_mlp:.2f} ({hidden}) | "
                  f"{t_kan / t_mlp:.2f}x | {m_kan / 2**20:.1f} | {m_kan / max(m_mm, 1):.2f}x | "
                  f"{'FOUND' if found else 'none'} |", flush=True)
    for row in peers(64, 64, 5, 3, args.batch, args.repeats):
        print(row)


if __name__ == "__main__":
    main()
