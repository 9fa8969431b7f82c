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


def _nnx_case(layer, batch, n_in, repeats, key):
    from flax import nnx

    graphdef, params, rest = nnx.split(layer, nnx.Param, ...)
    apply = lambda p, x: nnx.merge(graphdef, p, rest)(x)
    x = jr.uniform(key, (batch, n_in), minval=-1, maxval=1)
    t, mem, _ = _bench(_fwd_bwd(apply), (params, x), repeats)
    return t, mem


def peers(n_in, n_out, grid, order, batch, repeats, key):
    """Rows `(name, basis, seconds, temp bytes)` for the peers that are importable."""
    rows, notes = [], []
    try:
        from jaxkan.layers import (BaseLayer, ChebyshevLayer, FourierLayer, LegendreLayer, RBFLayer,
                                   SplineLayer)
    except ImportError:
        notes.append("jaxKAN: not importable, not timed")
    else:
        degree = grid + order - 1
        layers = [
            ("jaxKAN BaseLayer", "bspline", lambda: BaseLayer(n_in, n_out, k=order, G=grid)),
            ("jaxKAN SplineLayer", "bspline", lambda: SplineLayer(n_in, n_out, k=order, G=grid)),
            ("jaxKAN RBFLayer", "rbf", lambda: RBFLayer(n_in, n_out, D=grid + order)),
            ("jaxKAN FourierLayer", "fourier", lambda: FourierLayer(n_in, n_out, D=grid)),
            ("jaxKAN ChebyshevLayer", "chebyshev", lambda: ChebyshevLayer(n_in, n_out, D=degree)),
            ("jaxKAN LegendreLayer", "legendre", lambda: LegendreLayer(n_in, n_out, D=degree)),
        ]
        for name, basis, make in layers:
            try:
                t, mem = _nnx_case(make(), batch, n_in, repeats, key)
            except Exception as e:  # a peer API change must not kill the run
                notes.append(f"{name}: failed ({type(e).__name__}: {e})")
                continue
            rows.append((name, basis, t, mem))
    try:
        import kan  # noqa: F401  (pykan, PyTorch)
    except ImportError:
        notes.append("pykan: not importable, not timed")
    return rows, notes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    key = jr.PRNGKey(0)
    cases = [(64, 64, 5, 3), (256, 256, 10, 3)]
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, batch {args.batch}, best of {args.repeats}")
    print("| shape | basis | K | params | KAN ms | matmul ms | KAN/matmul | MLP (h) ms | KAN/MLP | "
          "KAN temp MiB | one (B,in,out) tensor MiB | (B,out,in) buffer in HLO |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    ours = {}
    x_bytes = jnp.zeros((), jnp.result_type(float)).dtype.itemsize
    for n_in, n_out, grid, order in cases:
        for basis in BASES:
            t_kan, m_kan, found, n_params, num_basis = kan_case(basis, n_in, n_out, grid, order, args.batch,
                                                                 args.repeats, key)
            t_mm, m_mm = matmul_case(n_in, n_out, num_basis, args.batch, args.repeats, key)
            t_mlp, m_mlp, hidden = mlp_case(n_in, n_out, n_params, args.batch, args.repeats, key)
            print(f"| {n_in}->{n_out}, G={grid}, k={order} | {basis} | {num_basis} | {n_params} | "
                  f"{1e3 * t_kan:.2f} | {1e3 * t_mm:.2f} | {t_kan / t_mm:.2f}x | {1e3 * t_mlp:.2f} ({hidden}) | "
                  f"{t_kan / t_mlp:.2f}x | {m_kan / 2**20:.1f} | {args.batch * n_in * n_out * x_bytes / 2**20:.0f} | "
                  f"{'FOUND' if found else 'none'} |", flush=True)
            ours[(n_in, basis)] = (t_kan, m_kan)
    rows, notes = peers(64, 64, 5, 3, args.batch, args.repeats, key)
    if rows:
        print("\n| peer (64->64, G=5, k=3) | ms | jaxrep ms | peer / jaxrep | peer temp MiB |")
        print("|---|---:|---:|---:|---:|")
        for name, basis, t, mem in rows:
            t_ours = ours[(64, basis)][0]
            print(f"| {name} | {1e3 * t:.2f} | {1e3 * t_ours:.2f} ({basis}) | {t / t_ours:.2f}x | {mem / 2**20:.1f} |")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
