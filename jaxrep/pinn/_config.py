"""Typed options of [`jaxrep.pinn.solve`][] (also the sections of a `task: pinn` config file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import ModelConfig, TrainConfig


@dataclass(frozen=True)
class SamplingConfig:
    """Collocation points drawn afresh at every training step (uniformly in the training window).

    `n_residual` interior points, `n_initial` points at $t_0$, `n_boundary` boundary points,
    `n_koopman` base points $(x, t)$ of the Koopman loss with `n_offsets` shared time offsets
    $s_j\\sim U(0, \\text{max\\_offset}\\cdot(T - t_0))$.
    """

    n_residual: int = 1024
    n_initial: int = 256
    n_boundary: int = 256
    n_koopman: int = 256
    n_offsets: int = 4
    max_offset: float = 0.25

    def __post_init__(self):
        for name in ("n_residual", "n_initial", "n_boundary", "n_koopman", "n_offsets"):
            if getattr(self, name) < 1:
                raise ValueError(f"sampling.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.max_offset < 1:
            raise ValueError(f"sampling.max_offset must be in (0, 1), got {self.max_offset}")


@dataclass(frozen=True)
class KoopmanConfig:
    """The PIKE/SPIKE latent: $z = [u, g(u)]$ with $g$ an MLP of `observables` outputs.

    `use_gradient=True` (default) lets $g$ also see the spatial gradient $\\nabla_x u$, needed
    whenever $u_t$ at a point is not a function of $u$ there alone (advection, Burgers: $u u_x$ is
    then one observable and $\\dot u$ a sparse row of $A$); it is ignored by ODEs. `generator` is the
    `jaxrep.koopman.Generator` parametrisation, initialised with spectral radius `init_scale`.
    """

    observables: int = 8
    width_size: int = 32
    depth: int = 2
    use_gradient: bool = True
    generator: Literal["dense", "stable", "skew", "eig"] = "dense"
    init_scale: float = 0.1

    def __post_init__(self):
        if self.observables < 0:
            raise ValueError(f"koopman.observables must be >= 0, got {self.observables}")
        if self.width_size < 1 or self.depth < 0:
            raise ValueError(f"koopman.width_size must be >= 1 and depth >= 0, got {self.width_size}, {self.depth}")
        if self.init_scale < 0:
            raise ValueError(f"koopman.init_scale must be >= 0, got {self.init_scale}")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (defaults: the SPIKE paper's code)."""

    physics: float = 1.0
    initial: float = 10.0
    boundary: float = 1.0
    koopman: float = 0.1
    l1: float = 0.01

    def __post_init__(self):
        for name in ("physics", "initial", "boundary", "koopman", "l1"):
            if getattr(self, name) < 0:
                raise ValueError(f"weights.{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation grid: `n_x` points per spatial dimension (`n_x_2d` for 2-D problems) and `n_t`
    times per window."""

    n_x: int = 256
    n_x_2d: int = 32
    n_t: int = 51

    def __post_init__(self):
        for name in ("n_x", "n_x_2d", "n_t"):
            if getattr(self, name) < 2:
                raise ValueError(f"eval.{name} must be >= 2, got {getattr(self, name)}")


@dataclass(frozen=True)
class SolveConfig:
    """Everything [`jaxrep.pinn.solve`][] needs besides the problem, the method and the key."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(width_size=32, depth=4))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=3000, learning_rate=3e-3,
                                                                  schedule="exponential",
                                                                  decay_rate=0.05, log_every=100,
                                                                  steps_per_call=100,
                                                                  checkpoint_every=1000))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    koopman: KoopmanConfig = field(default_factory=KoopmanConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    eval: EvalConfig = field(default_factory=EvalConfig)
