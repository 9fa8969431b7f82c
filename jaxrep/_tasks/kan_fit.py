"""`task: kan_fit` — fit a closed-form function with a KAN and grid extension (the KAN paper's showcase).

Training runs in stages: for each grid size in `kan.grid_schedule` the KAN is trained for `train.steps`
steps through `jaxrep.train.fit` (Adam by default), then the grid is extended with
`jr.nn.refine_grid` (knot insertion + least-squares refit, same function) and training continues.
With `kan.update_grid: true` the grids are first moved to the data with `jr.nn.update_grid` (its refit
is approximate on a changed grid, and at large G the sparsely covered end cells of hidden layers then
extrapolate poorly, so it is off by default; `refine_grid` widens a grid that the data leave). The summary reports
test RMSE against the exact function after every stage.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field
from typing import Literal

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ..config import TrainConfig
from ..nn import KAN, kan_regularization, refine_grid, update_grid
from ._common import save_figure, train


def _exp_sin(x):
    # f(x, y) = exp(sin(pi x) + y^2), the KAN paper's first example; a [2, 1, 1] KAN represents it.
    return jnp.exp(jnp.sin(jnp.pi * x[..., :1]) + x[..., 1:2] ** 2)


def _product(x):
    return x[..., :1] * x[..., 1:2]


def _exp_sin4(x):
    # exp(0.5 (sin(pi (x1^2 + x2^2)) + sin(pi (x3^2 + x4^2)))), the paper's 4-D example.
    return jnp.exp(0.5 * (jnp.sin(jnp.pi * (x[..., :1] ** 2 + x[..., 1:2] ** 2))
                          + jnp.sin(jnp.pi * (x[..., 2:3] ** 2 + x[..., 3:4] ** 2))))


FUNCTIONS = {"exp_sin": (_exp_sin, 2), "product": (_product, 2), "exp_sin4": (_exp_sin4, 4)}


@dataclass(frozen=True)
class DataConfig:
    function: Literal["exp_sin", "product", "exp_sin4"] = "exp_sin"
    n_train: int = 2000
    n_test: int = 1000

    def __post_init__(self):
        if self.n_train < 2 or self.n_test < 1:
            raise ValueError(f"data.n_train must be >= 2 and data.n_test >= 1, got {self.n_train}, {self.n_test}")


@dataclass(frozen=True)
class KANConfig:
    hidden: tuple[int, ...] = (5,)
    basis: str = "bspline"
    order: int = 3
    grid_schedule: tuple[int, ...] = (3, 5, 10, 20)
    update_grid: bool = False  # also move grids to the data (jr.nn.update_grid) before each extension
    grid_eps: float = 1.0
    regularization: float = 0.0  # lambda of the L1 + entropy penalty (the paper's sparsification)

    def __post_init__(self):
        if not self.grid_schedule or any(g < 1 for g in self.grid_schedule):
            raise ValueError(f"kan.grid_schedule must be a non-empty list of sizes >= 1, got {self.grid_schedule}")
        if self.order < 0:
            raise ValueError(f"kan.order must be >= 0, got {self.order}")
        if not 0 <= self.grid_eps <= 1:
            raise ValueError(f"kan.grid_eps must lie in [0, 1], got {self.grid_eps}")


@dataclass(frozen=True)
class Config:
    task: str = "kan_fit"
    data: DataConfig = field(default_factory=DataConfig)
    kan: KANConfig = field(default_factory=KANConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=1500, learning_rate=1e-2, schedule="cosine",
                                            steps_per_call=250, log_every=50, checkpoint_every=1500)
    )


def make_loss(reg: float):
    def loss_fn(model, batch, key):
        x, y = batch
        mse = jnp.mean((jax.vmap(model)(x) - y) ** 2)
        aux = {"rmse": jnp.sqrt(mse)}
        if reg > 0:
            penalty = kan_regularization(model, x)
            aux["reg"] = penalty
            return mse + reg * penalty, aux
        return mse, aux

    return loss_fn


def _rmse(model, x, y) -> float:
    return float(jnp.sqrt(jnp.mean((jax.jit(jax.vmap(model))(x) - y) ** 2)))


def run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    run_dir = pathlib.Path(run_dir)
    fn, dim = FUNCTIONS[cfg.data.function]
    k_data, k_test, k_model, k_train = jr.split(jr.PRNGKey(cfg.train.seed), 4)
    x = jr.uniform(k_data, (cfg.data.n_train, dim), minval=-1.0, maxval=1.0)
    x_test = jr.uniform(k_test, (cfg.data.n_test, dim), minval=-1.0, maxval=1.0)
    y, y_test = fn(x), fn(x_test)
    schedule = cfg.kan.grid_schedule
    model = KAN([dim, *cfg.kan.hidden, 1], cfg.kan.basis, schedule[0], cfg.kan.order, key=k_model)
    loss_fn = make_loss(cfg.kan.regularization)
    data = lambda key, step: (x, y)  # full batch, as in the paper
    stages, rows = [], []
    for s, grid_size in enumerate(schedule):
        if s > 0:
            if cfg.kan.update_grid:
                model = update_grid(model, x, cfg.kan.grid_eps)
            model = refine_grid(model, x, grid_size)
        stage_dir = run_dir / f"stage_{s}_grid_{grid_size}"
        model, _ = train(model, loss_fn, data, cfg.train, stage_dir, key=jr.fold_in(k_train, s),
                         resume=resume, progress=progress, desc=f"kan_fit grid {grid_size} ({s + 1}/{len(schedule)})")
        stages.append({"grid_size": grid_size, "train_rmse": _rmse(model, x, y),
                       "test_rmse": _rmse(model, x_test, y_test)})
        rows += _shifted_metrics(stage_dir / "metrics.jsonl", s * cfg.train.steps, grid_size)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _figures(model, x, x_test, y_test, fn, dim, stages, run_dir)
    n_params = sum(int(np.prod(l.coeffs.shape)) + int(np.prod(l.base_weight.shape)) + l.out_features
                   for l in model.layers)
    return {"stages": stages, "test_rmse": stages[-1]["test_rmse"], "train_rmse": stages[-1]["train_rmse"],
            "widths": list(model.widths), "num_parameters": n_params}


def _shifted_metrics(path: pathlib.Path, offset: int, grid_size: int) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            row["step"] = row.get("step", 0) + offset
            row["grid_size"] = grid_size
            rows.append(row)
    return rows


def _figures(model, x, x_test, y_test, fn, dim, stages, run_dir):
    from .. import plot

    save_figure(plot.kan(model, x[:500]), run_dir, "activations")
    save_figure(plot.grid_extension(stages), run_dir, "grid_extension")
    if dim == 2:
        save_figure(plot.function_fit(fn, model, 2, n=80, label="KAN"), run_dir, "fit")
