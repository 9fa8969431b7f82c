"""`task: kan_symbolic` — turn data into a formula with a KAN (the KAN paper's Fig. 2.4 workflow).

Stages, each trained through `jaxrep.train.fit`:

1. **sparsify**: train the KAN `[d, *kan.hidden, 1]` on grid `kan.grid_schedule[0]` with the L1 +
   entropy penalty (`kan.regularization`, `jr.nn.kan_regularization`);
2. **prune**: `jr.nn.prune` removes hidden nodes below `prune.node_threshold` and masks edges below
   `prune.edge_threshold` (masked edges stay pruned through everything after);
3. **refine**: for each further grid size, `jr.nn.refine_grid` (knot insertion, same function) and
   training without the penalty;
4. **symbolic**: `jr.nn.auto_symbolic` fixes every edge whose best fit $c f(a x + b) + d$ from
   `symbolic.library` reaches $R^2 \\ge$ `symbolic.r2_threshold`;
5. **affine**: the symbolic model's parameters (the affine $(a, b, c, d)$ of every fixed edge, and the
   spline edges left) are trained further (`symbolic.train`; by default Adam then dense quasi-Newton).

`summary.json` holds `formula` (a string, when every live edge is symbolic; `null` otherwise, with the
edges that are not in `unfixed_edges`), `test_rmse_symbolic` (the symbolic model on the test split),
`formula_test_rmse` (the printed formula, constants rounded to `symbolic.digits`, evaluated by sympy),
`test_rmse_kan` (the spline KAN before `auto_symbolic`) and the widths before and after pruning.

Data: a built-in target (`data.function`) or a user's file (`data.path`: an `.npz` with arrays `x`
`(n, d)` and `y` `(n,)`, read with `allow_pickle=False`), split into train and test by the task.
"""

from __future__ import annotations

import json
import math
import pathlib
from dataclasses import dataclass, field
from typing import Literal, Optional

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ..config import PhaseConfig, TrainConfig
from ..nn import KAN, auto_symbolic, prune, refine_grid, symbolic_formula
from ._common import save_figure, train
from .kan_fit import FUNCTIONS, _rmse, _shifted_metrics
from .kan_fit import make_loss as _loss


@dataclass(frozen=True)
class DataConfig:
    function: Literal["exp_sin", "product", "exp_sin4"] = "exp_sin"  # used when `path` is not set
    path: Optional[str] = None  # .npz with x (n, d) and y (n,)
    n_train: int = 2000  # built-in targets: samples drawn uniformly on [-1, 1]^d
    n_test: int = 5000
    test_fraction: float = 0.2  # files: the share of rows held out for testing

    def __post_init__(self):
        if self.n_train < 2 or self.n_test < 1:
            raise ValueError(f"data.n_train must be >= 2 and data.n_test >= 1, got {self.n_train}, {self.n_test}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"data.test_fraction must lie in (0, 1), got {self.test_fraction}")


@dataclass(frozen=True)
class KANConfig:
    hidden: tuple[int, ...] = (5,)
    mult: tuple[int, ...] = ()  # multiplication nodes per hidden layer (MultKAN), in addition to `hidden`
    order: int = 3
    grid_schedule: tuple[int, ...] = (3, 5, 10)
    regularization: float = 0.1  # lambda of the L1 + entropy penalty in the first stage

    def __post_init__(self):
        if not self.grid_schedule or any(g < 1 for g in self.grid_schedule):
            raise ValueError(f"kan.grid_schedule must be a non-empty list of sizes >= 1, got {self.grid_schedule}")
        if any(h < 0 for h in self.hidden) or not self.hidden:
            raise ValueError(f"kan.hidden must be a non-empty list of sizes >= 0, got {self.hidden}")
        if self.mult and len(self.mult) != len(self.hidden):
            raise ValueError(f"kan.mult must have one entry per hidden layer ({len(self.hidden)}), got {self.mult}")
        if any(m < 0 for m in self.mult) or any(h + m < 1 for h, m in zip(self.hidden, self.mult or (0,) * 99)):
            raise ValueError("kan.mult entries must be >= 0 and every hidden layer must keep a node")
        if self.order < 0:
            raise ValueError(f"kan.order must be >= 0, got {self.order}")
        if self.regularization < 0:
            raise ValueError(f"kan.regularization must be >= 0, got {self.regularization}")


@dataclass(frozen=True)
class PruneConfig:
    node_threshold: float = 1e-2
    edge_threshold: Optional[float] = 3e-2  # null: keep every edge of the kept nodes

    def __post_init__(self):
        if self.node_threshold < 0 or (self.edge_threshold is not None and self.edge_threshold < 0):
            raise ValueError("prune.node_threshold and prune.edge_threshold must be >= 0")


@dataclass(frozen=True)
class SymbolicConfig:
    library: Optional[tuple[str, ...]] = None  # names from jaxrep.nn.SYMBOLIC_LIBRARY; null: all of them
    r2_threshold: float = 0.99
    digits: int = 8
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps_per_call=100, log_every=50, checkpoint_every=1000,
        phases=(PhaseConfig(optimizer="adam", steps=500, learning_rate=1e-3),
                PhaseConfig(optimizer="bfgs", steps=300))))

    def __post_init__(self):
        if not 0 <= self.r2_threshold <= 1:
            raise ValueError(f"symbolic.r2_threshold must lie in [0, 1], got {self.r2_threshold}")
        if self.digits < 1:
            raise ValueError(f"symbolic.digits must be >= 1, got {self.digits}")


@dataclass(frozen=True)
class Config:
    task: str = "kan_symbolic"
    precision: Literal["float32", "float64"] = "float64"
    data: DataConfig = field(default_factory=DataConfig)
    kan: KANConfig = field(default_factory=KANConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    symbolic: SymbolicConfig = field(default_factory=SymbolicConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=1500, learning_rate=1e-2, schedule="cosine",
                                            steps_per_call=250, log_every=50, checkpoint_every=1500)
    )


def load_samples(path, test_fraction: float, key) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(x_train, y_train, x_test, y_test)` from an `.npz` file with `x (n, d)` and `y (n,)`, split at
    random (`key`); one-line `ValueError`s name what is wrong with the file."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"data.path: no such file {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except Exception as e:  # noqa: BLE001 - any unreadable file is one message
        raise ValueError(f"data.path: {str(path)!r} is not a readable .npz file ({type(e).__name__}: {e})") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise ValueError(f"data.path: {path.name} lacks array(s) {', '.join(missing)} (it has: "
                         f"{', '.join(sorted(arrays)) or 'none'}); expected x (n, d) and y (n,)")
    x, y = arrays["x"], arrays["y"]
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if x.ndim != 2 or y.ndim != 1:
        raise ValueError(f"data.path: x must be (n, d) and y (n,), got x {x.shape} and y {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"data.path: x has {len(x)} rows but y has {len(y)}")
    if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.number)):
        raise ValueError(f"data.path: x and y must be numeric, got {x.dtype} and {y.dtype}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"data.path: x and y must be finite (found NaN or inf in {path.name})")
    n_test = int(round(test_fraction * len(x)))
    if len(x) - n_test < 2 or n_test < 1:
        raise ValueError(f"data.path: {len(x)} rows are too few to split (test_fraction {test_fraction})")
    perm = np.asarray(jr.permutation(key, len(x)))
    test, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[test], y[test]


def _data(cfg: Config, key):
    dtype = jnp.zeros(()).dtype  # the run's float type (float64 under precision: float64)
    if cfg.data.path is not None:
        x, y, xt, yt = load_samples(cfg.data.path, cfg.data.test_fraction, key)
        cast = lambda a: jnp.asarray(a, dtype)
        return cast(x), cast(y)[:, None], cast(xt), cast(yt)[:, None]
    fn, dim = FUNCTIONS[cfg.data.function]
    k1, k2 = jr.split(key)
    x = jr.uniform(k1, (cfg.data.n_train, dim), dtype, minval=-1.0, maxval=1.0)
    xt = jr.uniform(k2, (cfg.data.n_test, dim), dtype, minval=-1.0, maxval=1.0)
    return x, fn(x), xt, fn(xt)


def run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    with jax.enable_x64(cfg.precision == "float64"):
        return _run(cfg, pathlib.Path(run_dir), resume=resume, progress=progress)


def _run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    k_data, k_model, k_train, k_sym = jr.split(jr.PRNGKey(cfg.train.seed), 4)
    x, y, x_test, y_test = _data(cfg, k_data)
    dim = x.shape[1]
    hidden = [[h, m] if m else h for h, m in zip(cfg.kan.hidden, cfg.kan.mult or (0,) * len(cfg.kan.hidden))]
    schedule = cfg.kan.grid_schedule
    model = KAN([dim, *hidden, 1], "bspline", schedule[0], cfg.kan.order, key=k_model)
    data = lambda key, step: (x, y)  # full batch, as in the paper
    rows, stages = [], []

    def stage(model, name, loss_fn, train_cfg, key, s):
        stage_dir = run_dir / name
        model, _ = train(model, loss_fn, data, train_cfg, stage_dir, key=key, resume=resume, progress=progress,
                         desc=f"kan_symbolic {name}")
        rows.extend(dict(r, stage=len(stages)) for r in _shifted_metrics(stage_dir / "metrics.jsonl", 0, s))
        stages.append({"stage": name, "train_rmse": _rmse(model, x, y), "test_rmse": _rmse(model, x_test, y_test)})
        return model

    # 1. sparsify, 2. prune
    model = stage(model, f"grid_{schedule[0]}_sparsify", _loss(cfg.kan.regularization), cfg.train,
                  jr.fold_in(k_train, 0), schedule[0])
    widths_before = model.spec
    model = prune(model, x, cfg.prune.node_threshold, cfg.prune.edge_threshold)
    pruned_edges = int(sum(int(np.sum(~np.asarray(l.live))) for l in model.layers))
    # 3. refine and train (grid extension keeps the function; no penalty)
    for s, grid_size in enumerate(schedule[1:], start=1):
        model = refine_grid(model, x, grid_size)
        model = stage(model, f"grid_{grid_size}", _loss(0.0), cfg.train, jr.fold_in(k_train, s), grid_size)
    if len(schedule) == 1:  # still train once after pruning
        model = stage(model, f"grid_{schedule[0]}", _loss(0.0), cfg.train, jr.fold_in(k_train, 1), schedule[0])
    kan = model
    test_rmse_kan = _rmse(kan, x_test, y_test)
    # 4. symbolic, 5. affine training
    sym = auto_symbolic(kan, x, library=cfg.symbolic.library, r2_threshold=cfg.symbolic.r2_threshold)
    test_rmse_fixed = _rmse(sym, x_test, y_test)
    sym = stage(sym, "symbolic_affine", _loss(0.0), cfg.symbolic.train, k_sym, schedule[-1])
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    edges, unfixed = {}, []
    for l, (m, layer) in enumerate(zip(sym.masks, sym.kan.layers)):
        m, live = np.asarray(m), np.asarray(layer.live)
        for i, j in zip(*np.nonzero(live)):
            key = f"layer {l} ({i}, {j})"
            if m[i, j]:
                edges[key] = sym.names[int(sym.fn_index[l][i, j])]
            else:
                unfixed.append(key)
    summary = {
        "widths_before_pruning": widths_before, "widths": sym.kan.spec, "pruned_edges": pruned_edges,
        "edges": edges, "unfixed_edges": unfixed, "stages": stages,
        "test_rmse_kan": test_rmse_kan, "test_rmse_symbolic_before_affine": test_rmse_fixed,
        "test_rmse_symbolic": _rmse(sym, x_test, y_test), "formula": None, "formula_test_rmse": None,
        "precision": cfg.precision, "n_train": int(x.shape[0]), "n_test": int(x_test.shape[0]),
    }
    names = ("x", "y") if dim == 2 else tuple(f"x_{k + 1}" for k in range(dim))
    if not unfixed:
        import sympy as sp

        (expr,) = symbolic_formula(sym, names=names, digits=cfg.symbolic.digits)
        summary["formula"] = str(expr)
        f = sp.lambdify([sp.Symbol(n, real=True) for n in names], expr, "numpy")
        xt = np.asarray(x_test, np.float64)
        pred = np.broadcast_to(np.asarray(f(*xt.T), np.float64), (xt.shape[0],))
        err = pred - np.asarray(y_test, np.float64)[:, 0]
        summary["formula_test_rmse"] = float(np.sqrt(np.mean(err**2))) if np.all(np.isfinite(err)) else math.inf
    _figures(kan, sym, x, x_test, y_test, summary, run_dir)
    return summary


def _figures(kan, sym, x, x_test, y_test, summary, run_dir):
    from .. import plot

    save_figure(plot.kan(kan, x[:500], title="KAN after pruning and grid refinement"), run_dir, "activations")
    pred_kan = np.asarray(jax.jit(jax.vmap(kan))(x_test))[:, 0]
    pred_sym = np.asarray(jax.jit(jax.vmap(sym))(x_test))[:, 0]
    title = (f"formula: {summary['formula']}" if summary["formula"]
             else f"{len(summary['unfixed_edges'])} edges not symbolic")
    fig = plot.fit_residuals(np.asarray(y_test)[:, 0], {"spline KAN": (pred_kan, summary["test_rmse_kan"]),
                                                        "symbolic KAN": (pred_sym, summary["test_rmse_symbolic"])},
                             title=title)
    save_figure(fig, run_dir, "residuals")
