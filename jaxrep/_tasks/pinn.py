"""`task: pinn` — solve a PDE/ODE of the problem suite with PINN, PIKE or SPIKE (`jaxrep solve`).

```yaml
task: pinn
method: spike            # pinn | pike | spike
problem: {name: burgers, params: {nu: 0.0031831}}   # + train_box: [[-1.0, 0.5]] to hold out space
model: {kind: mlp, width_size: 32, depth: 4}
train: {steps: 4000, learning_rate: 2.0e-3}     # or phases: [{optimizer: adam, steps: 3000},
                                                #             {optimizer: lbfgs, steps: 2000, n_residual: 8000}]
constraints: {initial: true, boundary: true}    # build u(x, t0) = u0 and the walls into the network
causal: {chunks: 0}                             # > 0: causal weighting over that many time slabs
balance: {every: 0, method: grad_norm}           # every > 0: adaptive term weights (grad_norm or ntk) every N steps
rad: {every: 0, pool: 4, k: 1.0, c: 1.0}        # every > 0: redraw residual points by |r|^k every N steps
marching: {windows: 1}                          # > 1: time marching, one network per time window
precision: float32                              # float64: train and evaluate in double precision
sampling: {n_residual: 1024}
koopman: {observables: 8, staged_steps: 0}   # staged_steps > 0: network first, then the Koopman parts
weights: {physics: 1, initial: 10, boundary: 1, koopman: 0.1, l1: 0.01}
```
The summary (`summary.json`) holds the metrics of `jaxrep.pinn.solve` (with a `train_box`, also
`rel_l2_space_extrapolation` etc. on the held-out space); figures: `solution`
(reference / prediction / error), `solution_koopman` (PIKE/SPIKE), `error_vs_time`, `generator`.
"""

from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import dataclass, field
from typing import Any, Literal

import jax
import jax.random as jr

from ..config import ModelConfig, TrainConfig
from ._optim import make_phases
from ..pinn import make_sampler, problems, solve
from ..pinn._config import (BalanceConfig, CausalConfig, ConstraintConfig, EvalConfig, KoopmanConfig, LossWeights,
                            MarchingConfig, RADConfig, SamplingConfig, SolveConfig)
from ..train import FitOptions
from ._common import save_figure


@dataclass(frozen=True)
class ProblemConfig:
    """`name`: a problem of `jaxrep.pinn.problems.names()`; `params`: its fields (e.g. `nu`,
    `train_window`, `train_box: [[0.0, 0.75]]` for training on a spatial sub-box)."""

    name: str = "burgers"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        problems.get(self.name, **self.params)  # validates the name and every parameter


_DEFAULT = SolveConfig()


@dataclass(frozen=True)
class Config:
    task: str = "pinn"
    method: Literal["pinn", "pike", "spike"] = "spike"
    problem: ProblemConfig = field(default_factory=ProblemConfig)
    model: ModelConfig = field(default_factory=lambda: _DEFAULT.model)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=3000, learning_rate=3e-3,
                                                                  schedule="exponential", decay_rate=0.05,
                                                                  log_every=100, steps_per_call=100,
                                                                  checkpoint_every=1000))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    koopman: KoopmanConfig = field(default_factory=KoopmanConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    eval: EvalConfig = field(default_factory=EvalConfig)
    constraints: ConstraintConfig = field(default_factory=ConstraintConfig)
    causal: CausalConfig = field(default_factory=CausalConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    rad: RADConfig = field(default_factory=RADConfig)
    marching: MarchingConfig = field(default_factory=MarchingConfig)
    # float64: the whole run (parameters, points, training, evaluation) in double precision. Dense
    # quasi-Newton phases (`optimizer: bfgs`) need it to go below a loss of ~1e-6 (BENCHMARKS.md).
    precision: Literal["float32", "float64"] = "float32"

    def __post_init__(self):
        if self.train.ema is not None:
            raise ValueError("train.ema is not read by task: pinn (its quasi-Newton phases need the iterate)")
        solve_config(self)  # validates the combination (e.g. causal.chunks against sampling.n_residual)


def solve_config(cfg: Config) -> SolveConfig:
    """The `SolveConfig` part of a task config."""
    t = cfg.train
    fit = FitOptions(steps_per_call=t.steps_per_call, checkpoint_every=t.checkpoint_every,
                     keep=t.keep_checkpoints, log_every=t.log_every)
    return SolveConfig(model=cfg.model, fit=fit, sampling=cfg.sampling, koopman=cfg.koopman,
                       weights=cfg.weights, eval=cfg.eval, constraints=cfg.constraints, causal=cfg.causal,
                       balance=cfg.balance, rad=cfg.rad, marching=cfg.marching)


def solve_phases(cfg: Config, problem) -> list:
    """The `jaxrep.train.Phase` list of `cfg.train`; a phase with its own `n_residual` gets a sampler
    with that many residual points."""
    out = []
    for phase, n_residual in make_phases(cfg.train):
        if n_residual is not None:
            sampling = dataclasses.replace(cfg.sampling, n_residual=n_residual)
            phase = dataclasses.replace(phase, data=make_sampler(problem, sampling, koopman=cfg.method != "pinn"))
        out.append(phase)
    return out


def save_figures(sol, run_dir) -> list[str]:
    """Write the figures of a `PINNSolution` under `run_dir/figures`; returns their paths."""
    from .. import plot

    prob = sol.problem
    title = f"{prob.name} / {sol.method}"
    names = list(prob.component_names)
    paths = [save_figure(plot.pinn_solution(sol.evaluation, names=names, title=title), run_dir, "solution")]
    if sol.model.has_koopman:
        paths.append(save_figure(plot.pinn_solution(sol.evaluation, mode="koopman", names=names,
                                                    title=title + " (Koopman rollout)"),
                                 run_dir, "solution_koopman"))
        paths.append(save_figure(plot.generator_structure(sol.model.A(), title=title), run_dir, "generator"))
    paths.append(save_figure(plot.pinn_error_vs_time(sol.evaluation, components=prob.error_components,
                                                     title=title), run_dir, "error_vs_time"))
    return [str(p) for p in paths]


def run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    if cfg.precision == "float64":
        with jax.enable_x64(True):
            return _run(cfg, run_dir, resume=resume, progress=progress)
    return _run(cfg, run_dir, resume=resume, progress=progress)


def _run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    problem = problems.get(cfg.problem.name, **cfg.problem.params)
    sol = solve(problem, cfg.method, solve_config(cfg), key=jr.PRNGKey(cfg.train.seed),
                phases=solve_phases(cfg, problem), run_dir=run_dir, resume=resume, progress=progress)
    figures = save_figures(sol, run_dir)
    return {"problem": problem.name, "method": cfg.method, **sol.metrics, "figures": figures}
