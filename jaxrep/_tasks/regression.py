"""`task: regression` — fit a known function with a `jaxrep.nn` model (the smallest end-to-end example).

Targets are closed-form, so the summary reports the test RMSE against the exact function.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Literal

import jax
import jax.numpy as jnp
import jax.random as jr

from ..config import ModelConfig, TrainConfig
from ..nn import build_model
from ..train import minibatches
from ._common import save_figure, train


def _sine(x):
    return jnp.sin(3.0 * x[..., :1]) * jnp.exp(-0.5 * x[..., :1] ** 2)


def _exp_sin(x):
    # The KAN paper's showcase f(x, y) = exp(sin(pi x) + y^2).
    return jnp.exp(jnp.sin(jnp.pi * x[..., :1]) + x[..., 1:2] ** 2)


def _franke(x):
    a, b = 9 * x[..., :1], 9 * x[..., 1:2]
    return (
        0.75 * jnp.exp(-((a - 2) ** 2) / 4 - ((b - 2) ** 2) / 4)
        + 0.75 * jnp.exp(-((a + 1) ** 2) / 49 - (b + 1) / 10)
        + 0.5 * jnp.exp(-((a - 7) ** 2) / 4 - ((b - 3) ** 2) / 4)
        - 0.2 * jnp.exp(-((a - 4) ** 2) - (b - 7) ** 2)
    )


TARGETS = {"sine": (_sine, 1), "exp_sin": (_exp_sin, 2), "franke": (_franke, 2)}


@dataclass(frozen=True)
class DataConfig:
    target: Literal["sine", "exp_sin", "franke"] = "sine"
    n_train: int = 1024
    n_test: int = 2048
    noise: float = 0.0

    def __post_init__(self):
        if self.n_train < 1 or self.n_test < 1:
            raise ValueError(f"data.n_train and data.n_test must be >= 1, got {self.n_train}, {self.n_test}")
        if self.noise < 0:
            raise ValueError(f"data.noise must be >= 0, got {self.noise}")


@dataclass(frozen=True)
class Config:
    task: str = "regression"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(width_size=32, depth=2))
    train: TrainConfig = field(default_factory=TrainConfig)


def make_data(cfg: DataConfig, key):
    fn, dim = TARGETS[cfg.target]
    k_tr, k_te, k_noise = jr.split(key, 3)
    x_train = jr.uniform(k_tr, (cfg.n_train, dim), minval=-1.0, maxval=1.0)
    x_test = jr.uniform(k_te, (cfg.n_test, dim), minval=-1.0, maxval=1.0)
    y_train = fn(x_train) + cfg.noise * jr.normal(k_noise, (cfg.n_train, 1))
    return (x_train, y_train), (x_test, fn(x_test)), dim


def mse_loss(model, batch, key):
    x, y = batch
    err = jnp.mean((jax.vmap(model)(x) - y) ** 2)
    return err, {"rmse": jnp.sqrt(err)}


def run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    key = jr.PRNGKey(cfg.train.seed)
    k_data, k_model, k_train = jr.split(key, 3)
    train_set, (x_test, y_test), dim = make_data(cfg.data, k_data)
    model = build_model(cfg.model, dim, 1, key=k_model)
    model, history = train(
        model, mse_loss, minibatches(train_set, cfg.train.batch_size), cfg.train, run_dir,
        key=k_train, resume=resume, progress=progress, desc="regression",
    )
    pred = jax.vmap(model)(x_test)
    rmse = float(jnp.sqrt(jnp.mean((pred - y_test) ** 2)))
    rel_l2 = float(jnp.linalg.norm(pred - y_test) / jnp.linalg.norm(y_test))
    save_figure(_figure(cfg, model), run_dir, "fit")
    return {"test_rmse": rmse, "test_rel_l2": rel_l2, "final_loss": float(history["loss"][-1])
            if "loss" in history else None}


def _figure(cfg: Config, model):
    from ..plot import function_fit

    fn, dim = TARGETS[cfg.data.target]
    return function_fit(fn, model, dim)
