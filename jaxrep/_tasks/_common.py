"""Pieces every task runner shares: training from a `TrainConfig`, saving figures."""

from __future__ import annotations

import pathlib

from ..config import TrainConfig
from ._optim import make_phases
from ..train import ema, ema_model, fit


def train(model, loss_fn, data, train_cfg: TrainConfig, run_dir, *, key, resume: bool, progress: bool,
          optimizer=None, mesh=None, desc: str = "fit"):
    """`jaxrep.train.fit` with the options of `train_cfg` (its optimiser, or its `phases`),
    checkpointing under `run_dir/checkpoints` and logging to `run_dir/metrics.jsonl`. `optimizer`
    overrides the one the config describes; `desc` names the stage on the progress bar. With
    `train_cfg.ema` the returned model carries the moving average of the weights."""
    run_dir = pathlib.Path(run_dir)
    if optimizer is not None:
        if train_cfg.ema is not None:
            optimizer = ema(optimizer, train_cfg.ema)
        how = dict(optimizer=optimizer, steps=train_cfg.steps)
    else:
        phases = make_phases(train_cfg)
        if any(n is not None for _, n in phases):
            raise ValueError("train.phases[].n_residual is read by PDE tasks (task: pinn) only")
        how = dict(phases=[p for p, _ in phases])
    out = fit(
        model,
        loss_fn,
        data,
        **how,
        key=key,
        checkpoint_dir=run_dir / "checkpoints",
        resume=resume,
        checkpoint_every=train_cfg.checkpoint_every,
        keep=train_cfg.keep_checkpoints,
        steps_per_call=train_cfg.steps_per_call,
        progress=progress,
        metrics_path=run_dir / "metrics.jsonl",
        log_every=train_cfg.log_every,
        mesh=mesh,
        desc=desc,
        return_opt_state=train_cfg.ema is not None,
    )
    if train_cfg.ema is None:
        return out
    model, history, opt_state = out
    return ema_model(model, opt_state), history


def save_figure(fig, run_dir, name: str) -> pathlib.Path:
    """Save `fig` as `run_dir/figures/<name>.png` and close it."""
    from ..plot import save

    return save(fig, pathlib.Path(run_dir) / "figures" / f"{name}.png")
