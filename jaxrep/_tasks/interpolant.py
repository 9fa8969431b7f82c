"""`task: interpolant` — learn a stochastic-interpolant generative model between two 2-D distributions.

Trains a velocity field (and, for the SDE sampler, a denoiser) through `jaxrep.train.fit`, samples with
the ODE or SDE, and reports sample quality against the data: exact $W_2$, MMD and — when both ends have
closed-form densities — the ODE negative log-likelihood next to the exact one (the entropy, e.g.
$\\ln 32$ for the checkerboard). Figures: samples vs data, trajectories, learned density.

Names in the config (interpolant kind, gamma, distributions) are mapped to classes here, once.
"""

from __future__ import annotations

import pathlib
import time
from dataclasses import dataclass, field
from typing import Literal, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from .. import interpolants as ji
from .._validate import check_positive
from ..config import ModelConfig, TrainConfig
from ..data import toy2d
from ..nn import build_model
from ..train import fit
from ._common import save_figure, train

Distribution = Literal["gaussian", "checkerboard", "8gaussians", "moons", "spirals", "rings"]


@dataclass(frozen=True)
class InterpolantConfig:
    """The path $x_t=\\alpha x_0+\\beta x_1+\\gamma z$: `kind` picks $\\alpha,\\beta$; `gamma` the noise."""

    kind: Literal["linear", "trig", "encoder_decoder", "one_sided_linear", "one_sided_trig"] = "one_sided_linear"
    gamma: Literal["zero", "sqrt", "quadratic", "sin2"] = "zero"
    gamma_scale: float = 1.0

    def __post_init__(self):
        if self.kind.startswith("one_sided") and self.gamma != "zero":
            raise ValueError(f"interpolant.gamma must be 'zero' for a one-sided kind, got {self.gamma!r}")
        check_positive(self.gamma_scale, "interpolant.gamma_scale")


@dataclass(frozen=True)
class DataConfig:
    """`source` ($x_0$) and `target` ($x_1$) distributions; `gaussian` is $\\mathcal N(0, I)$."""

    source: Distribution = "gaussian"
    target: Distribution = "checkerboard"
    n_eval: int = 1000  # samples for W2 / MMD and points for the NLL
    # Non-empty: a multimarginal run over these K+1 marginals (the first is the base, e.g. gaussian);
    # `source`/`target` are then ignored.
    marginals: tuple[Distribution, ...] = ()

    def __post_init__(self):
        if len(self.marginals) == 1:
            raise ValueError(f"data.marginals needs at least 2 entries (or none), got {list(self.marginals)}")


@dataclass(frozen=True)
class FieldsConfig:
    """What to learn: the velocity `b` alone, or `v` ($\\dot\\gamma$-free velocity) plus a denoiser `eta`
    (needed by the SDE sampler; $b=v-\\gamma\\dot\\gamma s$, $s=-\\eta/\\sigma$)."""

    learn: Literal["velocity", "velocity_denoiser"] = "velocity"
    antithetic: bool = True
    time_frequencies: int = 0


@dataclass(frozen=True)
class CouplingConfig:
    """How training pairs $(x_0, x_1)$ are matched in each minibatch (`jaxrep.interpolants.COUPLINGS`).

    `independent` keeps the pairs as drawn; `exact` is exact minibatch OT (`ExactOT`, `host` picks scipy
    through a host callback or the in-JAX solver); `sinkhorn` draws partners from the entropic plan at
    `epsilon` (`SinkhornOT`, needs `jaxrep[ot]`; `epsilon: null` is 0.05 x the std of the cost).
    Schrodinger-bridge flow matching with reference noise $\\sigma$ is `interpolant: {kind: linear,
    gamma: sqrt, gamma_scale: sigma^2}` with `coupling: {kind: sinkhorn, epsilon: 2 sigma^2}`.
    """

    kind: Literal["independent", "exact", "sinkhorn"] = "independent"
    epsilon: Optional[float] = None
    host: bool = True

    def __post_init__(self):
        if self.epsilon is not None:
            if self.kind != "sinkhorn":
                raise ValueError(f"coupling.epsilon applies to kind 'sinkhorn' only, got kind {self.kind!r}")
            check_positive(self.epsilon, "coupling.epsilon")


@dataclass(frozen=True)
class SampleConfig:
    """Sampler for the evaluation: adaptive (`steps: null`) or fixed-step, ODE or SDE.

    Adaptive ODE: `solver` (default Tsit5) with a PID controller at `rtol`/`atol` (default 1e-5).
    Adaptive SDE: ShARK with a PI controller on a virtual Brownian tree at `rtol`/`atol` (default 1e-3;
    `solver` is ignored). Fixed-step SDE: Euler-Maruyama (or `heun`). `denoise`: a final Tweedie step
    $x + \\sigma(t_1)^2 s(t_1, x)$ (needs the denoiser).
    """

    method: Literal["ode", "sde"] = "ode"
    solver: Literal["tsit5", "dopri5", "heun", "euler"] = "tsit5"
    steps: Optional[int] = None
    eps: float = 1.0
    rtol: Optional[float] = None
    atol: Optional[float] = None
    t_min: float = 1e-3  # SDE and denoiser-based fields stay in [t_min, 1 - t_min]
    denoise: bool = False
    density_grid: int = 48  # resolution of the learned-density figure (0: skip)

    def __post_init__(self):
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"sample.steps must be >= 1 (or null for adaptive), got {self.steps}")
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if value is not None:
                check_positive(value, f"sample.{name}")


@dataclass(frozen=True)
class Config:
    task: str = "interpolant"
    interpolant: InterpolantConfig = field(default_factory=InterpolantConfig)
    data: DataConfig = field(default_factory=DataConfig)
    fields: FieldsConfig = field(default_factory=FieldsConfig)
    coupling: CouplingConfig = field(default_factory=CouplingConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(width_size=128, depth=3, activation="silu"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=5000, learning_rate=1e-3, batch_size=512))
    sample: SampleConfig = field(default_factory=SampleConfig)

    def __post_init__(self):
        if self.data.marginals and self.coupling.kind != "independent":
            raise ValueError(f"coupling.kind must be 'independent' for a multimarginal run, got {self.coupling.kind!r}")
        if self.sample.denoise and self.fields.learn != "velocity_denoiser":
            raise ValueError("sample.denoise needs fields.learn='velocity_denoiser' (the Tweedie step uses the denoiser)")


_KINDS = {
    "linear": ji.linear,
    "trig": ji.trig,
    "encoder_decoder": ji.encoder_decoder,
}
_SOLVERS = {"tsit5": "Tsit5", "dopri5": "Dopri5", "heun": "Heun", "euler": "Euler"}  # diffrax class names


def make_interpolant(cfg: InterpolantConfig) -> ji.Interpolant:
    """The `Interpolant` that `cfg` names."""
    if cfg.kind == "one_sided_linear":
        return ji.one_sided("linear")
    if cfg.kind == "one_sided_trig":
        return ji.one_sided("trig")
    gamma = ji.GAMMAS[cfg.gamma]() if cfg.gamma == "zero" else ji.GAMMAS[cfg.gamma](cfg.gamma_scale)
    if cfg.kind == "encoder_decoder" and cfg.gamma == "zero":
        gamma = ji.SineSquaredGamma(cfg.gamma_scale)  # the encoder-decoder needs gamma(1/2) > 0
    return _KINDS[cfg.kind](gamma)


def make_distribution(name: str):
    return toy2d("gaussian") if name == "gaussian" else toy2d(name)


class Fields(eqx.Module):
    """The learned fields: a velocity `b` (or $\\dot\\gamma$-free `v`) and an optional denoiser `eta`."""

    b: ji.TimeField
    eta: Optional[ji.TimeField]


def build_fields(cfg: Config, *, key) -> Fields:
    kb, ke = jr.split(key)
    in_size = ji.TimeField.in_size(2, cfg.fields.time_frequencies)
    b = ji.TimeField(build_model(cfg.model, in_size, 2, key=kb), cfg.fields.time_frequencies)
    eta = None
    if cfg.fields.learn == "velocity_denoiser":
        eta = ji.TimeField(build_model(cfg.model, in_size, 2, key=ke), cfg.fields.time_frequencies)
    return Fields(b, eta)


def make_coupling(cfg: CouplingConfig) -> ji.AbstractCoupling:
    """The `AbstractCoupling` that `cfg` names."""
    if cfg.kind == "exact":
        return ji.ExactOT(host=cfg.host)
    if cfg.kind == "sinkhorn":
        return ji.SinkhornOT(epsilon=cfg.epsilon)
    return ji.IndependentCoupling()


def make_loss(cfg: Config, I: ji.Interpolant):
    """The training loss: the minibatch is re-paired once by the configured coupling (so the velocity
    and denoiser losses see the same pairs), then the velocity (and denoiser) regression."""
    t_min = cfg.sample.t_min if cfg.fields.learn == "velocity_denoiser" else 0.0
    t_range = (t_min, 1.0 - t_min)
    anti = cfg.fields.antithetic
    coupling = None if cfg.coupling.kind == "independent" else make_coupling(cfg.coupling)

    def loss_fn(fields: Fields, batch, key):
        x0, x1 = batch
        if coupling is not None:
            key, kc = jr.split(key)
            x0, x1 = coupling(x0, x1, key=kc)
        kb, ke = jr.split(key)
        if fields.eta is None:
            loss = ji.velocity_loss(fields.b, I, x0, x1, key=kb, antithetic=anti)
            return loss, {}
        lv = ji.velocity_loss(fields.b, I, x0, x1, key=kb, antithetic=anti, include_gamma_dot=False,
                              t_range=t_range)
        le = ji.denoiser_loss(fields.eta, I, x0, x1, key=ke, antithetic=anti, t_range=t_range)
        return lv + le, {"velocity_loss": lv, "denoiser_loss": le}

    return loss_fn


def make_sampler(cfg: Config):
    source, target = make_distribution(cfg.data.source), make_distribution(cfg.data.target)
    n = cfg.train.batch_size

    def data(key, step):
        k0, k1 = jr.split(key)
        return source.sample(n, key=k0), target.sample(n, key=k1)

    return data


def velocity_field(fields: Fields, I: ji.Interpolant):
    """The probability-flow velocity $b$ of the learned fields."""
    if fields.eta is None:
        return fields.b
    return ji.velocity_from_parts(fields.b, ji.score_from_denoiser(fields.eta, I), I)


def generate(cfg: Config, fields: Fields, I: ji.Interpolant, x0, *, key, ts=None, return_stats=False):
    """Samples at t = 1 (or at `ts`) from source points `x0` with the configured sampler."""
    s = cfg.sample
    b = velocity_field(fields, I)
    import diffrax  # imported when first used: `import jaxrep` stays light

    solver = getattr(diffrax, _SOLVERS[s.solver])()
    denoise = s.denoise and ts is None
    if s.method == "sde":
        if fields.eta is None:
            raise ValueError("sample.method='sde' needs fields.learn='velocity_denoiser' (a score)")
        if s.steps is None:
            solver = None  # adaptive: the library's ShARK + PI controller
        elif s.solver in ("tsit5", "dopri5"):
            solver = diffrax.Euler()  # fixed-step Euler-Maruyama
        return ji.sample(b, x0, I, method="sde", denoiser=fields.eta, eps=s.eps, t0=s.t_min, t1=1 - s.t_min,
                         steps=s.steps, solver=solver, rtol=s.rtol, atol=s.atol, ts=ts, key=key,
                         denoise=denoise, return_stats=return_stats)
    t0, t1 = (s.t_min, 1 - s.t_min) if fields.eta is not None else (0.0, 1.0)
    return ji.sample(b, x0, I, t0=t0, t1=t1, solver=solver, steps=s.steps, rtol=s.rtol, atol=s.atol,
                     ts=ts, denoiser=fields.eta if denoise else None, denoise=denoise,
                     return_stats=return_stats)


def evaluate(cfg: Config, fields: Fields, I: ji.Interpolant, *, key) -> dict:
    """W2, MMD and (where densities are known) NLL vs the exact NLL, plus the solver's NFE."""
    source, target = make_distribution(cfg.data.source), make_distribution(cfg.data.target)
    k0, k1, k2, ks = jr.split(key, 4)
    n = cfg.data.n_eval
    x0 = source.sample(n, key=k0)
    data = target.sample(n, key=k1)
    t_start = time.perf_counter()
    x1, nsteps = generate(cfg, fields, I, x0, key=ks, return_stats=True)
    x1 = jax.block_until_ready(x1)
    out = {
        "w2": ji.wasserstein2(x1, data),
        "w2_data_vs_data": ji.wasserstein2(target.sample(n, key=k2), data),
        "mmd": float(ji.mmd(x1, data)),
        "sample_seconds": time.perf_counter() - t_start,
        "solver_steps_mean": float(jnp.mean(nsteps)),
    }
    if source.has_log_prob and target.has_log_prob and fields.eta is None:
        test = target.sample(n, key=jr.fold_in(k1, 1))
        lp = ji.log_likelihood(fields.b, test, I, base_log_prob=source.log_prob, rtol=cfg.sample.rtol or 1e-5,
                               atol=cfg.sample.atol or 1e-5)
        out["nll"] = float(-jnp.mean(lp))
        out["nll_exact"] = float(ji.nll(target.log_prob, test))
        out["nll_gap"] = out["nll"] - out["nll_exact"]
    return out, (x0, x1, data)


def run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    if cfg.data.marginals:
        return run_multimarginal(cfg, run_dir, resume=resume, progress=progress)
    key = jr.PRNGKey(cfg.train.seed)
    k_model, k_train, k_eval, k_fig = jr.split(key, 4)
    I = make_interpolant(cfg.interpolant)
    fields = build_fields(cfg, key=k_model)
    fields, history = train(fields, make_loss(cfg, I), make_sampler(cfg), cfg.train, run_dir, key=k_train,
                            resume=resume, progress=progress, desc="interpolant")
    summary, (x0, x1, data) = evaluate(cfg, fields, I, key=k_eval)
    summary["final_loss"] = float(history["loss"][-1])
    _figures(cfg, fields, I, x0, x1, data, run_dir, key=k_fig)
    return summary


def _figures(cfg, fields, I, x0, x1, data, run_dir, *, key):
    from ..plot import _interpolants as plots

    save_figure(plots.samples(data, x1, titles=(f"data ({cfg.data.target})", "generated")), run_dir, "samples")
    ts = jnp.linspace(0.0, 1.0, 21)
    if fields.eta is not None:
        ts = jnp.linspace(cfg.sample.t_min, 1 - cfg.sample.t_min, 21)
    traj = generate(cfg, fields, I, x0[:200], key=key, ts=ts)
    save_figure(plots.trajectories(traj), run_dir, "trajectories")
    source = make_distribution(cfg.data.source)
    if cfg.sample.density_grid > 0 and source.has_log_prob and fields.eta is None:
        lim = float(np.max(np.abs(np.asarray(data)))) * 1.05
        g = jnp.linspace(-lim, lim, cfg.sample.density_grid)
        xx, yy = jnp.meshgrid(g, g, indexing="xy")
        pts = jnp.stack([xx.ravel(), yy.ravel()], -1)
        lp = ji.log_likelihood(fields.b, pts, I, base_log_prob=source.log_prob, rtol=1e-4, atol=1e-4)
        save_figure(plots.density(np.asarray(lp).reshape(xx.shape), (-lim, lim, -lim, lim)), run_dir, "density")


def run_multimarginal(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    """Learn the K+1 fields g_k, generate every marginal from the base along the edges 0 -> k (the
    same base points give the multi-way correspondence), and compare transport costs between
    marginals 1 and 2 along the edge and along an optimised Bezier path through the simplex."""
    dists = [make_distribution(name) for name in cfg.data.marginals]
    k1 = len(dists)
    key = jr.PRNGKey(cfg.train.seed)
    k_model, k_train, k_eval, k_path = jr.split(key, 4)
    net = build_model(cfg.model, 2 + k1, 2 * k1, key=k_model)
    g = ji.Multimarginal(net, num_marginals=k1, dim=2)
    n = cfg.train.batch_size

    def data(key, step):
        keys = jr.split(key, k1)
        return jnp.stack([d.sample(n, key=k) for d, k in zip(dists, keys)], axis=1)

    def loss_fn(g, xs, key):
        return ji.multimarginal_loss(g, xs, key=key), {}

    g, history = train(g, loss_fn, data, cfg.train, run_dir, key=k_train, resume=resume, progress=progress,
                       desc="interpolant multimarginal")
    m = cfg.data.n_eval
    xs = data(k_eval, 0) if m == n else jnp.stack(
        [d.sample(m, key=k) for d, k in zip(dists, jr.split(k_eval, k1))], axis=1)
    base = xs[:, 0]
    generated = [base] + [ji.transport(g, base, ji.SimplexEdge(0, k, k1), rtol=cfg.sample.rtol or 1e-5,
                                       atol=cfg.sample.atol or 1e-5) for k in range(1, k1)]
    summary = {"final_loss": float(history["loss"][-1])}
    for k in range(1, k1):
        summary[f"w2_{cfg.data.marginals[k]}"] = ji.wasserstein2(generated[k], xs[:, k])
    if k1 >= 3:
        edge = float(ji.transport_cost(g, xs, ji.SimplexEdge(1, 2, k1)))
        path = ji.BezierSimplexPath(jnp.zeros(k1), 1, 2)
        path, _ = fit(path, lambda p, batch, key: (ji.transport_cost(g, batch, p, num_times=16), {}),
                      lambda key, step: xs, optax.adam(0.05), steps=200, key=k_path, progress=False,
                      steps_per_call=100)
        summary["transport_cost_edge_1_2"] = edge
        summary["transport_cost_optimised_1_2"] = float(ji.transport_cost(g, xs, path))
        summary["optimised_control_point"] = [float(v) for v in path.control_point()]
    from ..plot import _interpolants as plots

    save_figure(plots.correspondence(jnp.stack(generated)[:, :300], labels=list(cfg.data.marginals)),
                run_dir, "correspondence")
    for k in range(1, k1):
        save_figure(plots.samples(xs[:, k], generated[k], titles=(cfg.data.marginals[k], "generated")), run_dir,
                    f"samples_{k}_{cfg.data.marginals[k]}")
    return summary
