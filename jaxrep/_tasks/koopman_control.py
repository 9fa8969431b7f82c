r"""`task: koopman_control` — Koopman model-predictive control: fit a lifted linear model with inputs
(EDMDc, or plain DMDc) in closed form, then track a reference on the **true** nonlinear system with
receding-horizon LQ tracking, against the same controller on the local linearisation.

1. Data: `data.n_traj` trajectories of `data.n_steps` steps from `system.sample_initial`, with inputs
   drawn uniformly from $[-a, a]^m$ ($a$ = `data.input_amplitude`) and held for `data.dt` (diffrax,
   `jaxrep.data.controlled_step`); `data.n_test` more trajectories are held out. `train.seed` seeds
   everything (nothing is trained: the fits are closed form, the other `train` keys are unused).
2. Model: `jaxrep.koopman.edmdc` on a dictionary (`polynomial`: all monomials up to `model.degree`;
   `rbf`: the state plus `model.n_rbf` Gaussians centred on training states), or `jaxrep.koopman.dmdc`
   (`model.rank`); the baseline is `jaxrep.koopman.linearize` at `baseline.x`, `baseline.u`.
3. Control: `jaxrep.koopman.receding_horizon` with `mpc.horizon`, weights `mpc.Q` (diagonal, one per
   state) and `mpc.R`, inputs clipped to `[-mpc.u_max, mpc.u_max]`, from `mpc.x0` for `mpc.steps` steps,
   on the reference $r(t)$ of `mpc.reference` in state component `mpc.reference.component` (the other
   components' references are 0: give them weight 0 in `Q` to leave them free).

Summary: `tracking_rmse_<kind>` (`edmdc` or `dmdc`), `tracking_rmse_linear` and `tracking_rmse_open_loop`
($u = 0$): the RMSE of the tracked component against the reference over steps $0..T$; the one-step
prediction RMSE of each model on the held-out pairs (`one_step_rmse_*`, with the persistence forecast
$\hat x_{k+1} = x_k$ as a floor to beat); fit, simulation and closed-loop times. The closed-loop arrays
are saved in `closed_loop.npz` (`ts`, `reference`, `x_<kind>`, `u_<kind>`, `x_linear`, `u_linear`,
`x_open_loop`), the figure in `figures/control.png`.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .. import data as jdata
from .. import koopman as jk
from ..config import TrainConfig
from .._validate import did_you_mean
from ._common import save_figure


def _bilinear(omega: float = 1.0, damping: float = 0.1):
    r"""$\ddot x = -\omega^2(1 - u)x - \delta\dot x$: an oscillator whose stiffness is the input
    (bilinear: $\dot z = Az + uB_1z$)."""
    A = [[0.0, 1.0], [-omega**2, -damping]]
    B = [[[0.0, 0.0], [omega**2, 0.0]]]
    return jdata.BilinearSystem(jnp.asarray(A), jnp.asarray(B))


# Names map to controlled systems once, here (the config edge); each factory takes the `params`.
_SYSTEMS = {
    "forced_van_der_pol": jdata.ForcedVanDerPol,
    "forced_duffing": jdata.ForcedDuffing,
    "slow_manifold": jdata.ControlledSlowManifold,
    "bilinear": _bilinear,
}


def _param_names(name: str) -> list[str]:
    factory = _SYSTEMS[name]
    if dataclasses.is_dataclass(factory):
        return [f.name for f in dataclasses.fields(factory) if f.init]
    import inspect

    return list(inspect.signature(factory).parameters)


def _choice(value, choices, where: str) -> None:
    if value not in choices:
        hint = did_you_mean(value, choices, paren=True)
        raise ValueError(f"{where}: expected one of {list(choices)}, got {value!r}{hint}")


def _finite(value, where: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")


@dataclass(frozen=True)
class SystemConfig:
    """`name`: a controlled system (`forced_van_der_pol`, `forced_duffing`, `slow_manifold`,
    `bilinear`); `params`: its parameters (e.g. `{mu: 1.0}`; `bilinear` takes `omega`, `damping`)."""

    name: str = "forced_van_der_pol"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in _SYSTEMS:
            hint = did_you_mean(self.name, _SYSTEMS, cutoff=0.4)
            raise ValueError(
                f"system.name: unknown controlled system {self.name!r}{hint} "
                f"(valid: {', '.join(_SYSTEMS)})"
            )
        valid = _param_names(self.name)
        for key, value in self.params.items():
            if key not in valid:
                hint = did_you_mean(key, valid, cutoff=0.4)
                raise ValueError(
                    f"system.params.{key} is not a parameter of {self.name}{hint} "
                    f"(valid: {', '.join(valid)}; after changing system.name replace the whole mapping, "
                    f"e.g. --set 'system.params={{}}')"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"system.params.{key} must be a finite number, got {value!r}")

    def build(self):
        return _SYSTEMS[self.name](**{k: float(v) for k, v in self.params.items()})


@dataclass(frozen=True)
class DataConfig:
    """`n_traj` training and `n_test` held-out trajectories of `n_steps` steps of length `dt`, inputs
    uniform in `[-input_amplitude, input_amplitude]`."""

    n_traj: int = 40
    n_test: int = 10
    n_steps: int = 50
    dt: float = 0.1
    input_amplitude: float = 2.0

    def __post_init__(self):
        for name in ("n_traj", "n_test", "n_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"data.dt must be a finite float > 0, got {self.dt}")
        if not (math.isfinite(self.input_amplitude) and self.input_amplitude > 0):
            raise ValueError(f"data.input_amplitude must be a finite float > 0, got {self.input_amplitude}")


@dataclass(frozen=True)
class ControlModelConfig:
    """`kind: edmdc` with `features: polynomial` (monomials up to `degree`) or `rbf` (the state plus
    `n_rbf` Gaussians of width `length_scale` centred on training states), ridge `reg`; or
    `kind: dmdc` with an optional SVD truncation `rank`."""

    kind: Literal["edmdc", "dmdc"] = "edmdc"
    features: Literal["polynomial", "rbf"] = "polynomial"
    degree: int = 5
    n_rbf: int = 50
    length_scale: float = 1.0
    reg: float = 1e-6
    rank: int | None = None

    def __post_init__(self):
        _choice(self.kind, ("edmdc", "dmdc"), "model.kind")
        _choice(self.features, ("polynomial", "rbf"), "model.features")
        if self.degree < 1:
            raise ValueError(f"model.degree must be >= 1, got {self.degree}")
        if self.n_rbf < 1:
            raise ValueError(f"model.n_rbf must be >= 1, got {self.n_rbf}")
        if not (math.isfinite(self.length_scale) and self.length_scale > 0):
            raise ValueError(f"model.length_scale must be a finite float > 0, got {self.length_scale}")
        if not (math.isfinite(self.reg) and self.reg >= 0):
            raise ValueError(f"model.reg must be a finite float >= 0, got {self.reg}")
        if self.rank is not None:
            if self.rank < 1:
                raise ValueError(f"model.rank must be null or >= 1, got {self.rank}")
            if self.kind != "dmdc":
                raise ValueError(f"model.rank truncates DMDc only (model.kind: dmdc), got kind {self.kind!r}")


@dataclass(frozen=True)
class ReferenceConfig:
    r"""The reference of state component `component`: `sine` $o + a\sin(2\pi t/T)$, `square`
    $o + a\,\mathrm{sign}\sin(2\pi t/T)$, `step` $o + a\,[t \ge t_0]$ or `constant` $o + a$ (amplitude
    $a$, period $T$, offset $o$, step time $t_0$ = `start`)."""

    kind: Literal["sine", "square", "step", "constant"] = "sine"
    amplitude: float = 2.0
    period: float = 4 * math.pi
    offset: float = 0.0
    start: float = 1.0
    component: int = 0

    def __post_init__(self):
        _choice(self.kind, ("sine", "square", "step", "constant"), "mpc.reference.kind")
        for name in ("amplitude", "offset", "start"):
            _finite(getattr(self, name), f"mpc.reference.{name}")
        if not (math.isfinite(self.period) and self.period > 0):
            raise ValueError(f"mpc.reference.period must be a finite float > 0, got {self.period}")
        if self.component < 0:
            raise ValueError(f"mpc.reference.component must be >= 0, got {self.component}")

    def __call__(self, ts: np.ndarray) -> np.ndarray:
        w = 2 * np.pi * ts / self.period
        shape = {
            "sine": np.sin(w),
            "square": np.sign(np.sin(w)),
            "step": (ts >= self.start).astype(float),
            "constant": np.ones_like(ts),
        }[self.kind]
        return self.offset + self.amplitude * shape


@dataclass(frozen=True)
class MPCConfig:
    """Receding-horizon LQ tracking: `horizon` steps ahead, `steps` closed-loop steps from `x0`,
    diagonal state weights `Q` (one per state component), input weight `R` > 0, optional bound
    `|u| <= u_max`."""

    horizon: int = 20
    steps: int = 100
    Q: tuple[float, ...] = (1.0, 0.0)
    R: float = 0.1
    u_max: float | None = None
    x0: tuple[float, ...] = (2.0, 0.0)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)

    def __post_init__(self):
        if self.horizon < 1:
            raise ValueError(f"mpc.horizon must be >= 1, got {self.horizon}")
        if self.steps < 1:
            raise ValueError(f"mpc.steps must be >= 1, got {self.steps}")
        if not self.Q or any(not (math.isfinite(q) and q >= 0) for q in self.Q) or not any(self.Q):
            raise ValueError(f"mpc.Q must be finite weights >= 0, not all zero, got {list(self.Q)}")
        if not (math.isfinite(self.R) and self.R > 0):
            raise ValueError(f"mpc.R must be a finite float > 0, got {self.R}")
        if self.u_max is not None and not (math.isfinite(self.u_max) and self.u_max > 0):
            raise ValueError(f"mpc.u_max must be null or a finite float > 0, got {self.u_max}")
        for i, v in enumerate(self.x0):
            _finite(v, f"mpc.x0[{i}]")


@dataclass(frozen=True)
class BaselineConfig:
    """The operating point of the local linearisation (`null`: the origin, zero input)."""

    x: tuple[float, ...] | None = None
    u: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Config:
    task: str = "koopman_control"
    system: SystemConfig = field(default_factory=SystemConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ControlModelConfig = field(default_factory=ControlModelConfig)
    mpc: MPCConfig = field(default_factory=MPCConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    train: TrainConfig = field(default_factory=TrainConfig)  # only `seed` is read

    def __post_init__(self):
        system = self.system.build()
        d, m = system.dim, system.n_inputs
        for name, value, n in (("mpc.Q", self.mpc.Q, d), ("mpc.x0", self.mpc.x0, d),
                               ("baseline.x", self.baseline.x, d), ("baseline.u", self.baseline.u, m)):
            if value is not None and len(value) != n:
                raise ValueError(
                    f"{name} must have {n} entries for {self.system.name} (dim {d}, {m} input(s)), "
                    f"got {len(value)}"
                )
        if self.mpc.reference.component >= d:
            raise ValueError(
                f"mpc.reference.component must be < {d} (the state dimension of {self.system.name}), "
                f"got {self.mpc.reference.component}"
            )


# --------------------------------------------------------------------------------------------------


def _features(mc: ControlModelConfig, d: int, X, key):
    if mc.features == "polynomial":
        return jk.Polynomial(d, mc.degree)
    centers = X[jr.choice(key, X.shape[0], (min(mc.n_rbf, X.shape[0]),), replace=False)]
    return jk.Concat(jk.Polynomial(d, 1), jk.RBF(centers, mc.length_scale))


_LABEL = {"edmdc": "EDMDc", "dmdc": "DMDc"}


def fit_model(mc: ControlModelConfig, X, U, Y, dt: float, *, key):
    """The lifted model of `mc` fitted to the triples `(X, U, Y)`."""
    if mc.kind == "dmdc":
        return jk.dmdc(X, U, Y, rank=mc.rank, dt=dt)
    return jk.edmdc(X, U, Y, _features(mc, X.shape[1], X, key), reg=mc.reg, dt=dt)


def _simulate(plant, x0s, us, tick) -> np.ndarray:
    """Trajectories `(n, T + 1, d)` of the plant from `x0s` `(n, d)` under inputs `us` `(n, T, m)`,
    one compiled single-state step (the one the closed loop uses: one compilation in all); the loop
    itself runs on NumPy arrays, so it compiles nothing else."""
    x0s, us = np.asarray(x0s), np.asarray(us)
    out = np.empty((x0s.shape[0], us.shape[1] + 1, x0s.shape[1]), x0s.dtype)
    out[:, 0] = x0s
    for i in range(x0s.shape[0]):
        for k in range(us.shape[1]):
            out[i, k + 1] = np.asarray(plant(out[i, k], us[i, k]))
            tick()
    return out


def _one_step_rmse(est, X, U, Y) -> float:
    return float(_one_step_rmse_jit(est, X, U, Y))


@eqx.filter_jit
def _one_step_rmse_jit(est, X, U, Y):
    pred = jax.vmap(lambda x, u: est.C @ est.step(est.lift(x), u))(X, U)
    return jnp.sqrt(jnp.mean((pred - Y) ** 2))


def run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    sc, dc, mc, pc = cfg.system, cfg.data, cfg.model, cfg.mpc
    system = sc.build()
    d, m, dt = system.dim, system.n_inputs, dc.dt
    k_x, k_u, k_feat = jr.split(jr.PRNGKey(cfg.train.seed), 3)
    n_all = dc.n_traj + dc.n_test
    x0s = system.sample_initial(k_x, n_all)
    us = dc.input_amplitude * jr.uniform(k_u, (n_all, dc.n_steps, m), minval=-1.0, maxval=1.0)

    # one compiled step of the true system (diffrax), for the data and every closed loop
    plant = jax.jit(lambda x, u: jdata.controlled_step(system, x, u, dt))

    from tqdm.auto import tqdm

    bar = tqdm(total=n_all * dc.n_steps + 3 * pc.steps, desc=f"koopman_control {sc.name}",
               disable=not progress, dynamic_ncols=True, leave=True)
    tick = lambda: bar.update(1)
    try:
        t0 = time.perf_counter()
        us = np.asarray(us, x0s.dtype)
        trajs = _simulate(plant, x0s, us, tick)
        t_data = time.perf_counter() - t0

        def pairs(tr, u):
            return tr[:, :-1].reshape(-1, d), u.reshape(-1, m), tr[:, 1:].reshape(-1, d)

        X, U, Y = pairs(trajs[: dc.n_traj], us[: dc.n_traj])
        Xt, Ut, Yt = pairs(trajs[dc.n_traj:], us[dc.n_traj:])
        t0 = time.perf_counter()
        model = fit_model(mc, X, U, Y, dt, key=k_feat)
        jax.block_until_ready(model.A)
        t_fit = time.perf_counter() - t0
        x_op = np.zeros(d, X.dtype) if cfg.baseline.x is None else np.asarray(cfg.baseline.x, X.dtype)
        u_op = np.zeros(m, X.dtype) if cfg.baseline.u is None else np.asarray(cfg.baseline.u, X.dtype)
        linear = jk.linearize(system.drift, x_op, u_op, dt)

        # the reference: row j is the target after j steps (row 0, the initial state's, is unused)
        T, N, c = pc.steps, pc.horizon, pc.reference.component
        ts = dt * np.arange(T + N)
        refs = np.zeros((T + N, d))
        refs[:, c] = pc.reference(ts)
        x0 = np.asarray(pc.x0, X.dtype)
        Q = np.asarray(pc.Q, X.dtype)
        bound = {} if pc.u_max is None else {"u_min": -pc.u_max, "u_max": pc.u_max}

        def counted(x, u):
            tick()
            return plant(x, u)

        closed, times = {}, {}
        for name, est in ((mc.kind, model), ("linear", linear)):
            t0 = time.perf_counter()
            closed[name] = jk.receding_horizon(counted, est, x0, refs, horizon=N, Q=Q, R=pc.R,
                                               scan=False, **bound)
            jax.block_until_ready(closed[name])
            times[name] = time.perf_counter() - t0
        x_free = _simulate(plant, x0[None], np.zeros((1, T, m), X.dtype), tick)[0]
    finally:
        bar.close()

    def rmse(xs):
        return float(np.sqrt(np.mean((np.asarray(xs)[:, c] - refs[: T + 1, c]) ** 2)))

    x_model, u_model = (np.asarray(a) for a in closed[mc.kind])
    x_lin, u_lin = (np.asarray(a) for a in closed["linear"])
    summary = {
        "system": sc.name,
        "model": mc.kind,
        f"tracking_rmse_{mc.kind}": rmse(x_model),
        "tracking_rmse_linear": rmse(x_lin),
        "tracking_rmse_open_loop": rmse(x_free),
        f"one_step_rmse_{mc.kind}": _one_step_rmse(model, Xt, Ut, Yt),
        # the linearisation acts on the raw state (embed and C the identity): NumPy, nothing to compile
        "one_step_rmse_linear": float(np.sqrt(np.mean(
            (Xt @ np.asarray(linear.A).T + Ut @ np.asarray(linear.B).T + np.asarray(linear.offset) - Yt) ** 2))),
        "one_step_rmse_persistence": float(np.sqrt(np.mean((Xt - Yt) ** 2))),
        "n_features": int(model.A.shape[0]),
        "n_train_pairs": int(X.shape[0]),
        "max_abs_input_" + mc.kind: float(np.max(np.abs(u_model))),
        "max_abs_input_linear": float(np.max(np.abs(u_lin))),
        "simulate_time_s": t_data,
        "fit_time_s": t_fit,
        f"closed_loop_time_s_{mc.kind}": times[mc.kind],
        "closed_loop_time_s_linear": times["linear"],
    }
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    np.savez(run_dir / "closed_loop.npz", ts=ts[: T + 1], reference=refs[: T + 1],
             **{f"x_{mc.kind}": x_model, f"u_{mc.kind}": u_model}, x_linear=x_lin, u_linear=u_lin,
             x_open_loop=x_free, dt=dt)
    save_figure(control_figure(ts[: T + 1], refs[: T + 1, c], {
        f"{_LABEL[mc.kind]} MPC": (x_model[:, c], u_model, summary[f"tracking_rmse_{mc.kind}"]),
        "linearised MPC": (x_lin[:, c], u_lin, summary["tracking_rmse_linear"]),
        "no input": (x_free[:, c], None, summary["tracking_rmse_open_loop"]),
    }, component=c, title=f"{sc.name}: tracking on the true system"), run_dir, "control")
    return summary


def control_figure(ts, reference, runs: dict, *, component: int = 0, title: str = ""):
    """Tracked state against the reference (top) and the applied inputs (bottom), one line per
    controller; `runs` maps a label to `(state (T + 1,), inputs (T, m) or None, tracking RMSE)`."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            import matplotlib.pyplot as plt
        except Exception:  # noqa: BLE001 - no display: fall back to Agg
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_x, ax_u) = plt.subplots(2, 1, figsize=(7, 5), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2]})
    ax_x.plot(ts, reference, "k--", lw=1.5, label="reference")
    styles = ["C0-", "C1-", "0.6"]
    for (label, (xs, us, err)), style in zip(runs.items(), styles):
        ax_x.plot(ts, xs, style, lw=1.3, label=f"{label} (RMSE {err:.3f})")
        if us is not None:
            us = np.asarray(us)
            for j in range(us.shape[1]):
                ax_u.step(ts[:-1], us[:, j], style, where="post", lw=1.2,
                          label=label if us.shape[1] == 1 else f"{label}, u{j + 1}")
    ax_x.set_ylabel(f"x{component + 1}")
    ax_u.set_ylabel("input u")
    ax_u.set_xlabel("t")
    for ax in (ax_x, ax_u):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    if title:
        ax_x.set_title(title)
    fig.tight_layout()
    return fig
