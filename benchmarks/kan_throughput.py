"""Forward+backward throughput of one KAN layer per basis against the equal-FLOP matmul, an MLP of equal
parameter count, jaxrep's general (Cox–de Boor) B-spline path, jaxKAN's layers and pykan's layer.

    python benchmarks/kan_throughput.py [--repeats 15] [--batch 1024] [--bases bspline,fourier,...]
                                        [--cases all|64|256] [--peers-path DIR]

Protocol, the same for every row: batch `--batch` of inputs uniform on [-1, 1], float32, the scalar loss
$L = \\sum_{b,j} y_{bj}^2$, gradients with respect to **all trainable parameters and the input** (one
forward and one backward pass), compiled once (JAX) before timing. Every timed step of every row runs
inside one process, and the repeats are interleaved (repeat r of every row before repeat r + 1 of any),
so a machine shared with other jobs slows all rows alike; each row reports the median wall-clock time
and the median process CPU time of a step (less sensitive to other jobs on the machine). Ratios are
taken between medians of the same run.

Reference rows:

- `matmul`: the **equal-FLOP matmul** of a basis with K functions, `(B, in*K) @ (in*K, out)` — the same
  multiply-adds as the layer's basis contraction (the SiLU path's extra `in*out` weights are not
  counted, which favours the matmul) — differentiated with respect to both operands;
- `mlp`: `in -> h -> out` with SiLU, `h` chosen so that its parameter count equals the KAN layer's;
- `bspline (general path)`: the same layer forced onto the Cox–de Boor path (`uniform=False`), i.e.
  what every B-spline layer ran before the uniform-grid fast path.

Peers are timed only when importable (they are not dependencies): jaxKAN's `SplineLayer` (the
efficient-kan formulation; also its Fourier layer) through `flax.nnx`, and pykan's `KANLayer` in PyTorch
(its forward returns several per-edge tensors; only `y` enters the loss). `--peers-path DIR` appends DIR
to `sys.path` *after* the environment's own packages, so peers installed with
`pip install --target DIR jaxkan pykan torch` (pykan also imports scikit-learn and pandas) are found
without shadowing the project's jax or numpy.

The compiled HLO of each jaxrep KAN step is also scanned for a `(B, out, in)` / `(B, in, out)` buffer
(none should exist: the layer never forms per-edge tensors in the forward or backward pass).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import jaxrep

BASES = ["bspline", "fourier", "rbf", "chebyshev", "legendre", "rational"]
CASES = [(64, 64, 5, 3), (256, 256, 10, 3)]


class Row:
    """One timed configuration: `step()` runs one forward+backward pass and blocks until it is done."""

    def __init__(self, name, step, n_params, note="", temp_bytes=float("nan"), per_edge_buffer=None):
        self.name, self.step, self.n_params, self.note = name, step, n_params, note
        self.temp_bytes, self.per_edge_buffer = temp_bytes, per_edge_buffer
        self.times: list[float] = []
        self.cpu_times: list[float] = []

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def cpu(self) -> float:
        return float(np.median(self.cpu_times))


def _loss(y):
    return jnp.sum(y**2)


def _jax_row(name, apply, params, x, aux=(), note="", scan_shape=None):
    """A jitted `grad(L)` with respect to `params` and `x`; `apply(params, x, aux) -> y` for a batch, where
    `aux` (knots, other non-trainable state) is an argument of the compiled step but not differentiated."""
    grad = jax.grad(lambda p, x, aux: _loss(apply(p, x, aux)), argnums=(0, 1))
    compiled = jax.jit(grad).lower(params, x, aux).compile()
    jax.block_until_ready(compiled(params, x, aux))
    try:
        temp = compiled.memory_analysis().temp_size_in_bytes
    except Exception:  # noqa: BLE001 - a backend without memory analysis
        temp = float("nan")
    found = None
    if scan_shape is not None:
        b, n_in, n_out = scan_shape
        shapes = {f"[{b},{n_out},{n_in}]", f"[{b},{n_in},{n_out}]"}
        found = bool(set(re.findall(r"\[\d+,\d+,\d+\]", compiled.as_text())) & shapes)
    n_params = sum(int(np.prod(v.shape)) for v in jax.tree_util.tree_leaves(params))
    return Row(name, lambda: jax.block_until_ready(compiled(params, x, aux)), n_params, note, temp, found)


def _kan_row(name, layer, x, note=""):
    # Trainable: coefficients, SiLU weights, bias (and a rational basis's denominators). The knots are
    # data (stop_gradient inside the basis): an argument of the step, not differentiated.
    spec = jax.tree_util.tree_map(eqx.is_inexact_array, layer)
    if not isinstance(layer.basis, jaxrep.nn.RationalBasis):
        spec = eqx.tree_at(lambda l: l.basis, spec, replace_fn=lambda b: jax.tree_util.tree_map(lambda _: False, b))
    params, rest = eqx.partition(layer, spec)
    aux, static = eqx.partition(rest, eqx.is_array)
    apply = lambda p, x, aux: jax.vmap(eqx.combine(p, aux, static))(x)
    return _jax_row(name, apply, params, x, aux, note, scan_shape=(x.shape[0], layer.in_features, layer.out_features))


def _matmul_row(n_in, n_out, num_basis, batch, key):
    k1, k2 = jr.split(key)
    w = jr.normal(k1, (n_in * num_basis, n_out)) / (n_in * num_basis) ** 0.5
    x = jr.uniform(k2, (batch, n_in * num_basis), minval=-1, maxval=1)
    return _jax_row(f"matmul ({batch}x{n_in * num_basis} @ {n_in * num_basis}x{n_out})", lambda w, x, _: x @ w, w, x)


def _mlp_row(n_in, n_out, n_params, batch, key):
    hidden = max(1, round((n_params - n_out) / (n_in + 1 + n_out)))
    k1, k2, k3 = jr.split(key, 3)
    params = (jr.normal(k1, (n_in, hidden)) / n_in**0.5, jnp.zeros(hidden),
              jr.normal(k2, (hidden, n_out)) / hidden**0.5, jnp.zeros(n_out))
    apply = lambda p, x, _: jax.nn.silu(x @ p[0] + p[1]) @ p[2] + p[3]
    x = jr.uniform(k3, (batch, n_in), minval=-1, maxval=1)
    return _jax_row(f"MLP {n_in}-{hidden}-{n_out} (SiLU)", apply, params, x)


def _jaxkan_rows(n_in, n_out, grid, order, batch, key, bases):
    try:
        from flax import nnx
        from jaxkan.layers import FourierLayer, SplineLayer
    except ImportError as e:
        return [], [f"jaxKAN: not importable ({e}), not timed"]
    x = jr.uniform(key, (batch, n_in), minval=-1, maxval=1)
    makers = [("jaxKAN SplineLayer", "bspline", lambda: SplineLayer(n_in, n_out, k=order, G=grid)),
              ("jaxKAN FourierLayer", "fourier", lambda: FourierLayer(n_in, n_out, D=grid))]
    rows, notes = [], []
    for name, basis, make in makers:
        if basis not in bases:
            continue
        try:
            layer = make()
            graphdef, params, rest = nnx.split(layer, nnx.Param, ...)
            apply = lambda p, x, rest, graphdef=graphdef: nnx.merge(graphdef, p, rest)(x)
            row = _jax_row(name, apply, params, x, rest, note=basis)
        except Exception as e:  # noqa: BLE001 - a peer API change must not kill the run
            notes.append(f"{name}: failed ({type(e).__name__}: {e})")
            continue
        rows.append(row)
    return rows, notes


def _pykan_rows(n_in, n_out, grid, order, batch, bases):
    if "bspline" not in bases:
        return [], []
    try:
        import torch
        from kan.KANLayer import KANLayer as PykanLayer
    except ImportError as e:
        return [], [f"pykan: not importable ({e}), not timed"]
    torch.manual_seed(0)
    layer = PykanLayer(in_dim=n_in, out_dim=n_out, num=grid, k=order, device="cpu")
    params = [p for p in layer.parameters() if p.requires_grad]
    x0 = torch.rand(batch, n_in) * 2 - 1

    def step():
        for p in params:
            p.grad = None
        x = x0.clone().requires_grad_(True)
        y = layer(x)[0]
        (y**2).sum().backward()
        return x.grad

    step()
    n_params = sum(p.numel() for p in params)
    note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    return [Row("pykan KANLayer", step, n_params, note=f"bspline; {note}")], []


def build_rows(n_in, n_out, grid, order, batch, key, bases):
    keys = iter(jr.split(key, 32))
    x = jr.uniform(next(keys), (batch, n_in), minval=-1, maxval=1)
    ours, refs, peers, notes = {}, {}, [], []
    for basis in bases:
        layer = jaxrep.nn.KANLayer(n_in, n_out, basis, grid, order, key=next(keys))
        ours[basis] = _kan_row(f"jaxrep {basis}", layer, x)
        same = [r for b, r in refs.items() if b != "mlp" and r.num_basis == layer.num_basis]
        refs[basis] = same[0] if same else _matmul_row(n_in, n_out, layer.num_basis, batch, next(keys))
        refs[basis].num_basis = layer.num_basis
        if basis == "bspline":
            assert layer.basis.uniform
            general = eqx.tree_at(lambda l: l.basis, layer,
                                  jaxrep.nn.BSplineBasis(n_in, grid, order, grid=layer.basis.grid, uniform=False))
            ours["bspline (general path)"] = _kan_row("jaxrep bspline, general path", general, x)
            refs["mlp"] = _mlp_row(n_in, n_out, ours[basis].n_params, batch, next(keys))
    rows, more = _jaxkan_rows(n_in, n_out, grid, order, batch, next(keys), bases)
    peers += rows
    notes += more
    rows, more = _pykan_rows(n_in, n_out, grid, order, batch, bases)
    peers += rows
    notes += more
    return ours, refs, peers, notes


def time_interleaved(rows, repeats):
    for _ in range(2):  # warm-up (caches, thread pools)
        for row in rows:
            row.step()
    for r in range(repeats):
        for row in rows[r % len(rows):] + rows[: r % len(rows)]:  # rotate the order as well
            t, c = time.perf_counter(), time.process_time()
            row.step()
            row.times.append(time.perf_counter() - t)
            row.cpu_times.append(time.process_time() - c)


def _target(value, limit, below=True):
    ok = value <= limit if below else value >= limit
    return f"{'met' if ok else 'MISSED'} ({'<=' if below else '>='} {limit}x)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--bases", default=",".join(BASES))
    parser.add_argument("--peers-path", default=None, help="directory appended to sys.path for jaxKAN/pykan")
    parser.add_argument("--cases", default="all", help="'all', '64' or '256'")
    args = parser.parse_args(argv)
    if args.peers_path:
        sys.path.append(args.peers_path)
    # PyTorch's OpenMP workers spin after each op by default, stealing the cores from the JAX rows
    # interleaved with pykan's (two cores): make them sleep (before torch is first imported).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    bases = [b for b in args.bases.split(",") if b]
    unknown = set(bases) - set(BASES)
    if unknown:
        raise SystemExit(f"--bases: unknown {sorted(unknown)}; valid: {', '.join(BASES)}")
    key = jr.PRNGKey(0)
    print(f"jax {jax.__version__}, backend {jax.default_backend()} ({jax.devices()[0].device_kind}), "
          f"float32, batch {args.batch}, median of {args.repeats} interleaved repeats, loss sum(y**2), "
          f"gradients w.r.t. parameters and input")
    for n_in, n_out, grid, order in CASES:
        if args.cases != "all" and str(n_in) != args.cases:
            continue
        ours, refs, peers, notes = build_rows(n_in, n_out, grid, order, args.batch, key, bases)
        rows = [*ours.values(), *{id(r): r for r in refs.values()}.values(), *peers]
        time_interleaved(rows, args.repeats)
        title = f"{n_in}->{n_out}, G={grid}, k={order}"
        print(f"\n### {title}\n")
        print("| row | trainable params | wall ms | wall / matmul | CPU ms | CPU / matmul | XLA temp MiB "
              "| (B,in,out) buffer |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")

        def line(row, mm=None, buffer=""):
            wall = "" if mm is None else f"{row.median / mm.median:.2f}x"
            cpu = "" if mm is None else f"{row.cpu / mm.cpu:.2f}x"
            print(f"| {row.name} | {row.n_params} | {1e3 * row.median:.2f} | {wall} | {1e3 * row.cpu:.2f} | {cpu} "
                  f"| {row.temp_bytes / 2**20:.1f} | {buffer} |")

        for basis, row in ours.items():
            line(row, refs[basis.split(" ")[0]], "FOUND" if row.per_edge_buffer else "none")
        for row in {id(r): r for r in refs.values()}.values():
            line(row)
        for row in peers:
            line(row, refs.get(row.note.split(";")[0]))
        print(f"\nTargets ({title}); wall-clock medians, CPU-time medians in brackets:\n")
        print("| target | measured | |")
        print("|---|---:|---|")

        def ratio(a, b):
            return a.median / b.median, f"{a.median / b.median:.2f}x ({a.cpu / b.cpu:.2f}x)"

        if "bspline" in ours:
            r, text = ratio(ours["bspline"], refs["bspline"])
            print(f"| B-spline / equal-FLOP matmul (in*(G+k) = {n_in * (grid + order)}) | {text} | {_target(r, 2.0)} |")
            r, text = ratio(ours["bspline (general path)"], ours["bspline"])
            print(f"| fast path speed-up over the general path | {text} | |")
            for row in peers:
                if row.note.startswith("bspline"):
                    r, text = ratio(row, ours["bspline"])
                    verdict = _target(r, 1.5, below=False) if "jaxKAN" in row.name else ""
                    print(f"| jaxrep B-spline faster than {row.name} by | {text} | {verdict} |")
        if "fourier" in ours:
            r, text = ratio(ours["fourier"], refs["fourier"])
            print(f"| Fourier / equal-FLOP matmul (in*2G = {n_in * 2 * grid}) | {text} | {_target(r, 2.0)} |")
            for row in peers:
                if row.note.startswith("fourier"):
                    print(f"| jaxrep Fourier faster than {row.name} by | {ratio(row, ours['fourier'])[1]} | |")
        for note in notes:
            print(f"\n{note}")


if __name__ == "__main__":
    main()
