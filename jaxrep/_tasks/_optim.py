"""From a config's `train` section to the optimisers and phases that `jaxrep.train.fit` takes.

The task layer's half of the trainer options: `jaxrep.config` only describes them (`TrainConfig`,
`PhaseConfig`: typed, validated data); the names are resolved into optax transformations here, once.
"""

from __future__ import annotations

import dataclasses

import optax

from ..config import TrainConfig
from ..train import Phase, bfgs, ema, soap


def make_optimizer(cfg: TrainConfig):
    """Build the optax `GradientTransformation` that `cfg` describes (names resolved here, once)."""
    if cfg.schedule == "constant":
        schedule = optax.constant_schedule(cfg.learning_rate)
    elif cfg.schedule == "cosine":
        schedule = optax.cosine_decay_schedule(cfg.learning_rate, max(cfg.steps - cfg.warmup_steps, 1))
    else:
        schedule = optax.exponential_decay(
            cfg.learning_rate, transition_steps=max(cfg.steps - cfg.warmup_steps, 1),
            decay_rate=cfg.decay_rate,
        )
    if cfg.warmup_steps:
        schedule = optax.join_schedules(
            [optax.linear_schedule(0.0, cfg.learning_rate, cfg.warmup_steps), schedule],
            [cfg.warmup_steps],
        )
    if cfg.optimizer == "adam":
        opt = optax.adam(schedule)
    elif cfg.optimizer == "adamw":
        opt = optax.adamw(schedule, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "lion":
        opt = optax.lion(schedule, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "soap":
        opt = soap(schedule, weight_decay=cfg.weight_decay)
    else:
        opt = optax.sgd(schedule, momentum=0.9)
    if cfg.grad_clip is not None:
        opt = optax.chain(optax.clip_by_global_norm(cfg.grad_clip), opt)
    if cfg.ema is not None:
        opt = ema(opt, cfg.ema)
    return opt


def total_steps(cfg: TrainConfig) -> int:
    """Steps of the whole run: the sum over `cfg.phases`, or `cfg.steps` without phases."""
    return sum(p.steps for p in cfg.phases) if cfg.phases else cfg.steps


def make_phases(cfg: TrainConfig) -> list:
    """The `jaxrep.train.Phase` list that `cfg` describes (one phase without `cfg.phases`).

    **Returns:** a list of `(phase, n_residual)` pairs, `n_residual` the phase's own number of residual
    points (`None`: the task's default), for PDE tasks to build the phase's sampler.
    """
    if not cfg.phases:
        return [(Phase(make_optimizer(cfg), cfg.steps, name=cfg.optimizer), None)]
    out = []
    for i, ph in enumerate(cfg.phases):
        # Quasi-Newton steps have the natural length 1: every line search starts there ("one", as
        # `optax.lbfgs` itself does), not at the last accepted step ("keep", the line search's default,
        # which slowed the dense phase ~50x on Burgers).
        if ph.optimizer == "lbfgs":
            ls = optax.scale_by_zoom_linesearch(max_linesearch_steps=ph.linesearch_steps, initial_guess_strategy="one")
            opt = optax.lbfgs(memory_size=ph.memory_size, linesearch=ls)
            resample = False if ph.resample is None else ph.resample
        elif ph.optimizer == "bfgs":
            ls = optax.scale_by_zoom_linesearch(max_linesearch_steps=ph.linesearch_steps, initial_guess_strategy="one")
            opt = bfgs(scaling=ph.scaling, linesearch=ls)
            resample = False if ph.resample is None else ph.resample
        else:
            over = {k: getattr(ph, k) for k in ("learning_rate", "schedule", "warmup_steps", "decay_rate")
                    if getattr(ph, k) is not None}
            opt = make_optimizer(dataclasses.replace(cfg, optimizer=ph.optimizer, steps=ph.steps, phases=(), **over))
            resample = True if ph.resample is None else ph.resample
        out.append((Phase(opt, ph.steps, resample=resample, name=f"{i}:{ph.optimizer}"), ph.n_residual))
    return out
