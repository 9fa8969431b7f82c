"""Typed options of [`jaxrep.pinn.solve`][] (also the sections of a `task: pinn` config file).

They are plain data: the optimisers themselves are optax objects handed to `solve(..., phases=...)`,
and `jaxrep.pinn` imports no config or task code (the YAML layer translates files into these).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .._validate import check_positive
from ..nn import ModelConfig
from ..train import FitOptions


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

    `staged_steps`: 0 (default) trains the network and the Koopman parts jointly on the PIKE/SPIKE loss,
    as the SPIKE paper does. $N > 0$ trains in stages: first the network alone on the PINN loss
    (every optimiser phase), then the observables $g$ and the generator $A$ alone for $N$ Adam steps
    (learning rate `staged_learning_rate`, fresh Koopman points every step) on the Koopman terms, the
    network frozen; SPIKE then continues for $N$ more steps with the L1 penalty added (a continuation:
    L1 from the start collapses $A$ to ~0). The in-window solution is then the PINN's; the Koopman
    rollout is fitted to it rather than pulling it away from the PDE (BENCHMARKS.md).
    """

    observables: int = 8
    width_size: int = 32
    depth: int = 2
    use_gradient: bool = True
    generator: Literal["dense", "stable", "skew", "eig"] = "dense"
    init_scale: float = 0.1
    staged_steps: int = 0
    staged_learning_rate: float = 1e-3

    def __post_init__(self):
        if self.observables < 0:
            raise ValueError(f"koopman.observables must be >= 0, got {self.observables}")
        if self.width_size < 1 or self.depth < 0:
            raise ValueError(f"koopman.width_size must be >= 1 and depth >= 0, got {self.width_size}, {self.depth}")
        if self.init_scale < 0:
            raise ValueError(f"koopman.init_scale must be >= 0, got {self.init_scale}")
        if self.staged_steps < 0:
            raise ValueError(f"koopman.staged_steps must be >= 0, got {self.staged_steps}")
        check_positive(self.staged_learning_rate, "koopman.staged_learning_rate")


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
class ConstraintConfig:
    r"""Conditions built into the network by construction instead of penalised (hard constraints).

    - `initial`: $u(x, t) = u_0(x) + \tau(t)\,\hat u(x, t)$ with $\tau = (t - t_0)/(t_1 - t_0)$, so
      $u(x, t_0) = u_0(x)$ exactly (problems first order in time);
    - `boundary`: Dirichlet walls by the distance factor $\phi(x) = \prod_i (x_i - \ell_i)(h_i - x_i)
      / ((h_i - \ell_i)/2)^2$ multiplying the network (with `initial`: $u = u_0 + \tau\phi\hat u$,
      which needs $u_0 = g$ on the walls), periodic boxes by an exact periodic embedding of the
      periodic coordinates ($\cos, \sin$ of $2\pi x/L$) in front of the backbone.
    """

    initial: bool = False
    boundary: bool = False


@dataclass(frozen=True)
class CausalConfig:
    r"""Causal weighting of the residual (Wang, Sankaran & Perdikaris 2022).

    The residual points are split into `chunks` slabs of the training window by time; slab $i$
    gets weight $w_i = \exp(-\varepsilon \sum_{k<i} \mathcal L_k)$ (no gradient through $w$), with
    $\varepsilon$ = `tolerance`, so later times are trained only once earlier ones are resolved.
    `chunks = 0` turns it off. `sampling.n_residual` must be a multiple of `chunks`.

    **References:** S. Wang, S. Sankaran, P. Perdikaris, "Respecting causality is all you need for
    training physics-informed neural networks", arXiv:2203.07404 (2022).
    """

    chunks: int = 0
    tolerance: float = 1.0

    def __post_init__(self):
        if isinstance(self.chunks, bool) or not isinstance(self.chunks, int) or self.chunks < 0:
            raise ValueError(f"causal.chunks must be an int >= 0 (0: off), got {self.chunks!r}")
        check_positive(self.tolerance, "causal.tolerance")


@dataclass(frozen=True)
class BalanceConfig:
    r"""Adaptive loss weights: gradient-norm or NTK-trace balancing (Wang, Teng & Perdikaris 2021;
    Wang, Yu & Perdikaris 2022; jaxpi).

    Every `every` steps a raw weight $\hat\lambda_i = \sum_j s_j / s_i$ is computed for each loss
    term $w_i\mathcal L_i$ (the `LossWeights` $w_i$ as priors) and mixed in,
    $\lambda \leftarrow m\lambda + (1 - m)\hat\lambda$ ($m$ = `momentum`); the loss is
    $\sum_i \lambda_i w_i\mathcal L_i$. The scale $s_i$ of a term is, by `method`:

    - `"grad_norm"`: $s_i = \|\nabla_\theta (w_i\mathcal L_i)\|_2$, so every term pulls on the
      parameters equally hard;
    - `"ntk"`: the mean diagonal of the term's neural tangent kernel,
      $s_i = \frac{w_i}{m}\sum_{j\le m}\|\nabla_\theta r_i(p_j)\|_2^2$ over the first $m$ =
      `ntk_points` collocation points $p_j$ of the batch ($r_i$ the term's pointwise residual), so
      every term converges at the same rate under gradient flow. PINN terms only (physics, initial,
      boundary): a Koopman method raises.

    The weights live in the trainer state (checkpointed; exact resume holds). `every = 0` turns it off.

    **References:** S. Wang, Y. Teng, P. Perdikaris, "Understanding and mitigating gradient flow
    pathologies in physics-informed neural networks", SIAM J. Sci. Comput. 43 (2021); S. Wang, X. Yu,
    P. Perdikaris, "When and why PINNs fail to train: a neural tangent kernel perspective", J. Comput.
    Phys. 449 (2022).
    """

    every: int = 0
    momentum: float = 0.9
    method: str = "grad_norm"
    ntk_points: int = 128

    def __post_init__(self):
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 0:
            raise ValueError(f"balance.every must be an int >= 0 (0: off), got {self.every!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"balance.momentum must be in [0, 1), got {self.momentum!r}")
        if self.method not in ("grad_norm", "ntk"):
            raise ValueError(f"balance.method must be 'grad_norm' or 'ntk', got {self.method!r}")
        if isinstance(self.ntk_points, bool) or not isinstance(self.ntk_points, int) or self.ntk_points < 1:
            raise ValueError(f"balance.ntk_points must be an int >= 1, got {self.ntk_points!r}")


@dataclass(frozen=True)
class RADConfig:
    r"""Residual-based adaptive distribution of the collocation points (RAD; Wu, Zhu, Tan, Kartha & Lu
    2023).

    Every `every` steps the `sampling.n_residual` residual points are redrawn, without replacement,
    from `pool` $\times$ `n_residual` fresh Latin-hypercube candidates $x_j$ with probability
    $$p_j \propto \frac{|r(x_j)|^k}{\operatorname{mean}_i |r(x_i)|^k} + c,$$
    $|r|$ the norm of the PDE residual over its components, evaluated at the current parameters
    (no gradient). Between redraws the points stay fixed; the first `every` steps train on uniform
    points. $k$ sharpens the density towards large residuals, $c$ keeps a uniform floor ($c\to\infty$
    is uniform sampling). The points live in the trainer state (checkpointed; exact resume holds).
    `every` acts only in phases that resample: a fixed-point phase (an L-BFGS phase, `resample=False`,
    or a phase with its own `data`) trains on its own points, which `fixed: true` chooses the same
    way, once, when the phase starts: its $n$ points are drawn from `pool` $\times n$ candidates with
    the residual of the network entering the phase (`rad_fixed_points`; the chosen points are saved
    beside the checkpoints, so exact resume holds). `every = 0` turns RAD off in resampling phases;
    `fixed` works with either.

    **References:** C. Wu, M. Zhu, Q. Tan, Y. Kartha, L. Lu, "A comprehensive study of non-adaptive
    and residual-based adaptive sampling for physics-informed neural networks", Comput. Methods Appl.
    Mech. Eng. 403 (2023).
    """

    every: int = 0
    pool: int = 4
    k: float = 1.0
    c: float = 1.0
    fixed: bool = False

    def __post_init__(self):
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 0:
            raise ValueError(f"rad.every must be an int >= 0 (0: off), got {self.every!r}")
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) or self.pool < 2:
            raise ValueError(f"rad.pool must be an int >= 2 (candidates per residual point), got {self.pool!r}")
        if not self.k >= 0:
            raise ValueError(f"rad.k must be >= 0, got {self.k!r}")
        if not self.c >= 0:
            raise ValueError(f"rad.c must be >= 0, got {self.c!r}")
        if self.k == 0 and self.c == 0:
            raise ValueError("rad.k and rad.c cannot both be 0 (the density would be undefined)")
        if not isinstance(self.fixed, bool):
            raise ValueError(f"rad.fixed must be true or false, got {self.fixed!r}")


@dataclass(frozen=True)
class MarchingConfig:
    r"""Time marching: the training window $[t_0, T]$ cut into `windows` equal windows, one network
    each, trained in order, window $k$'s initial condition being window $k-1$'s solution at its end
    (see `jaxrep.pinn.MarchedModel`). Every window trains with the full optimiser phases, so the cost
    is `windows` times that of one solve. `windows = 1` (default) is plain training.

    **References:** Mattey & Ghosh, CMAME 390 (2022); Wang, Sankaran, Wang & Perdikaris,
    arXiv:2308.08468 (2023).
    """

    windows: int = 1

    def __post_init__(self):
        if isinstance(self.windows, bool) or not isinstance(self.windows, int) or self.windows < 1:
            raise ValueError(f"marching.windows must be an int >= 1 (1: off), got {self.windows!r}")


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
    """Everything [`jaxrep.pinn.solve`][] needs besides the problem, the method, the optimiser phases
    and the key: backbone (`jaxrep.nn.ModelConfig`), how `fit` runs (`jaxrep.train.FitOptions`),
    collocation sampling, Koopman latent, loss weights, hard constraints, causal weighting, loss
    balancing, RAD resampling, time marching and the evaluation grid."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(width_size=32, depth=4))
    fit: FitOptions = field(default_factory=lambda: FitOptions(steps_per_call=100, checkpoint_every=1000,
                                                               log_every=100))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    koopman: KoopmanConfig = field(default_factory=KoopmanConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    eval: EvalConfig = field(default_factory=EvalConfig)
    constraints: ConstraintConfig = field(default_factory=ConstraintConfig)
    causal: CausalConfig = field(default_factory=CausalConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    rad: RADConfig = field(default_factory=RADConfig)
    marching: MarchingConfig = field(default_factory=MarchingConfig)

    def __post_init__(self):
        c = self.causal.chunks
        if c and self.sampling.n_residual % c:
            raise ValueError(
                f"causal.chunks={c} must divide sampling.n_residual={self.sampling.n_residual} "
                "(equal time slabs of the Latin-hypercube residual points)"
            )
