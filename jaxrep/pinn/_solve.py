r"""`jaxrep.pinn.solve`: train a PINN, PIKE or SPIKE model on a problem and score it.

| `method=` | loss |
|---|---|
| `"pinn"` | physics + initial + boundary |
| `"pike"` | + Koopman generator and matrix-exponential losses on $z = [u, g(u)]$, $\dot z = Az$ |
| `"spike"` | + $\lambda\|A\|_1$ |

Training goes through `jaxrep.train.fit` (one call, all optimiser phases) with collocation points
resampled at every step by a pure sampler (or a fixed set for a phase with `resample=False`, such as
L-BFGS), so checkpoints, exact resume and NaN handling come from the trainer.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Literal, Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ..koopman import Generator, propagate
from ..nn import MLP, build_model
from ..train import Phase, fit
from ._baselines import baseline_metrics
from ._config import SolveConfig
from ._constraints import HardConstraint, periodic_periods
from ._koopman_loss import koopman_losses
from ._losses import l1_penalty, make_loss_fn, rad_fixed_points, rad_state
from ._marching import MarchedModel, window_edges, window_problem
from ._metrics import relative_l2, sparsity, standard_metrics, valid_prediction_time
from ._model import Observable, PINNField, PINNModel
from ..pde._problem import AbstractProblem, Dirichlet, Periodic
from ._sampling import make_sampler
from ._spectra import residual_metrics

# name -> (Koopman losses?, L1 on A?): resolved once, here.
_METHODS: dict[str, tuple[bool, bool]] = {"pinn": (False, False), "pike": (True, False), "spike": (True, True)}


def method_names() -> list[str]:
    """The valid `method=` names of [`jaxrep.pinn.solve`][]."""
    return list(_METHODS)


def _check_method(method) -> tuple[bool, bool]:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {method_names()}, got {method!r}")
    return _METHODS[method]


def make_model(problem: AbstractProblem, cfg: SolveConfig, *, koopman: bool, key: PRNGKeyArray) -> PINNModel:
    """Build the (untrained) `PINNModel` for `problem`: backbone from `cfg.model` (with the hard
    constraints of `cfg.constraints`: an output transform, and for periodic boxes an exact periodic
    embedding), and for PIKE/SPIKE the observable MLP and a `jaxrep.koopman.Generator` from
    `cfg.koopman`."""
    k_net, k_obs, k_gen = jr.split(key, 3)
    d = problem.spatial_dim
    con = cfg.constraints
    model_cfg = cfg.model
    if con.boundary and isinstance(problem.boundary, Periodic):
        model_cfg = dataclasses.replace(model_cfg, periods=periodic_periods(problem))
    elif con.boundary and not isinstance(problem.boundary, Dirichlet):
        periodic_periods(problem)  # raises the one-line error naming constraints.boundary
    net = build_model(model_cfg, d + 1, problem.n_out, key=k_net)
    dirichlet = con.boundary and isinstance(problem.boundary, Dirichlet)
    transform = None
    if con.initial or dirichlet:
        transform = HardConstraint.for_problem(problem, initial=con.initial, dirichlet=dirichlet)
    field = PINNField(net, tuple(problem.lower) + (problem.time_window[0],),
                      tuple(problem.upper) + (problem.time_window[1],), problem.n_out, transform)
    if not koopman:
        return PINNModel(field)
    kc = cfg.koopman
    n_in = problem.n_out * (1 + d) if kc.use_gradient else problem.n_out
    g = MLP(n_in, kc.observables, kc.width_size, kc.depth, jnp.tanh, key=k_obs) if kc.observables else None
    obs = Observable(g, problem.n_out, kc.use_gradient)
    gen = Generator(obs.dim, kc.generator, key=k_gen, scale=kc.init_scale)
    return PINNModel(field, obs, gen)


# --------------------------------------------------------------------------------------------------
# evaluation


def _float():
    """JAX's default float dtype (float64 under `jax_enable_x64`), as a numpy dtype."""
    return np.dtype(jnp.result_type(float))


def spatial_grid(problem: AbstractProblem, n_x: int, n_x_2d: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Tensor grid of the box: `(xs (n_points, d), shape)`; a single empty point for ODEs."""
    d = problem.spatial_dim
    if d == 0:
        return np.zeros((1, 0), _float()), ()
    n = n_x if d == 1 else n_x_2d
    axes = [np.linspace(lo, hi, n, dtype=_float()) for lo, hi in zip(problem.lower, problem.upper)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], -1), tuple([n] * d)


@eqx.filter_jit
def _network_grid(model, xs, ts):
    return jax.vmap(jax.vmap(model.u, in_axes=(0, None)), in_axes=(None, 0))(xs, ts)


@eqx.filter_jit
def _koopman_grid(model, xs, ts, t_start):
    """Network up to `t_start`, then $u = [e^{(t - t_s)A} z(x, t_s)]_{:n}$."""
    A = model.A()
    z0 = jax.vmap(model.z, in_axes=(0, None))(xs, jnp.asarray(t_start, xs.dtype))
    roll = jax.vmap(lambda z: propagate(A, z, ts - t_start))(z0)  # (n_x, n_t, dim)
    koop = jnp.swapaxes(roll, 0, 1)[..., : model.field.n_out]
    net = _network_grid(model, xs, ts)
    return jnp.where((ts >= t_start)[:, None, None], koop, net)


@eqx.filter_jit
def _residual_sq_grid(model, problem, xs, ts):
    """Squared residuals on the grid `ts x xs`, shape `(n_t, n_x, n_res)`."""
    n = ts.shape[0] * xs.shape[0]
    xx = jnp.broadcast_to(xs[None], (ts.shape[0],) + xs.shape).reshape(n, xs.shape[-1])
    tt = jnp.broadcast_to(ts[:, None], (ts.shape[0], xs.shape[0])).reshape(n)
    r = jax.lax.map(lambda p: problem.residual(model.u, p[0], p[1]), (xx, tt), batch_size=2048)
    return (r**2).reshape(ts.shape[0], xs.shape[0], -1)


def evaluate(model: PINNModel, problem: AbstractProblem, cfg: SolveConfig) -> dict[str, Any]:
    """Predictions, reference and residuals on the evaluation grid of every window.

    **Returns:** a dict with `xs (n_x, d)`, `grid_shape`, and `windows`: a list (training window
    first) of dicts with `window`, `ts (n_t,)`, `reference`, `network` and, for Koopman models,
    `koopman` (each `(n_t, n_x, n_out)` numpy arrays), and `residual_mse`.

    With a `problem.train_box`, the dict also holds `train_box` and `train_box_mask (n_x,)` (grid points
    inside the closed train box), and the training-window entry `residual_mse_train_box` and, when the
    held-out region holds grid points, `residual_mse_space_extrapolation`: the residual on the grid
    points inside / outside the train box.
    """
    xs, shape = spatial_grid(problem, cfg.eval.n_x, cfg.eval.n_x_2d)
    xs_j = jnp.asarray(xs)
    out = {"xs": xs, "grid_shape": shape, "windows": []}
    mask = None
    if problem.train_box is not None:
        mask = problem.in_train_box(xs)
        out.update(train_box=problem.train_box, train_box_mask=mask)
    for w in (problem.train_window, *problem.extrapolation_windows):
        ts = np.linspace(w[0], w[1], cfg.eval.n_t, dtype=_float())
        ts_j = jnp.asarray(ts)
        entry = {
            "window": w,
            "ts": ts,
            "reference": np.asarray(problem.reference_grid(xs_j, ts_j)),
            "network": np.asarray(_network_grid(model, xs_j, ts_j)),
        }
        r2 = _residual_sq_grid(model, problem, xs_j, ts_j)
        entry["residual_mse"] = float(jnp.mean(r2))
        if model.has_koopman:
            entry["koopman"] = np.asarray(_koopman_grid(model, xs_j, ts_j, problem.train_end))
        if mask is not None and not out["windows"]:  # training window: split space at the train box
            entry["residual_mse_train_box"] = float(jnp.mean(r2[:, mask]))
            if not mask.all():
                entry["residual_mse_space_extrapolation"] = float(jnp.mean(r2[:, ~mask]))
        out["windows"].append(entry)
    return out


def _components(problem, a):
    idx = problem.error_components
    return a if idx is None else a[..., list(idx)]


def compute_metrics(model: PINNModel, problem: AbstractProblem, evaluation: dict, history: dict) -> dict:
    """The summary metrics of a solve from an `evaluate` result (JSON-serialisable floats/lists).

    `rel_l2_*` / `residual_mse_*` for the training window and the extrapolation windows are over the
    whole spatial box. With a `train_box` (spatial extrapolation), on the training window:
    `rel_l2_train_box` / `residual_mse_train_box` over the grid points inside the train box and
    `rel_l2_space_extrapolation` / `residual_mse_space_extrapolation` over the held-out rest of the box
    (omitted if no grid point is held out).
    """
    wins = evaluation["windows"]
    rel = lambda e, k: float(relative_l2(_components(problem, e[k]), _components(problem, e["reference"])))
    m: dict[str, Any] = {
        "rel_l2_train_window": rel(wins[0], "network"),
        "residual_mse_train_window": wins[0]["residual_mse"],
    }
    mask = evaluation.get("train_box_mask")
    if mask is not None:
        w = wins[0]
        on = lambda sel: {k: w[k][:, sel] for k in ("network", "reference")}
        m["rel_l2_train_box"] = rel(on(mask), "network")
        m["residual_mse_train_box"] = w["residual_mse_train_box"]
        if not mask.all():
            m["rel_l2_space_extrapolation"] = rel(on(~mask), "network")
            m["residual_mse_space_extrapolation"] = w["residual_mse_space_extrapolation"]
    extra = wins[1:]
    if extra:
        m["rel_l2_extrapolation"] = rel(extra[0], "network")
        m["residual_mse_extrapolation"] = extra[0]["residual_mse"]
        m["rel_l2_extrapolation_windows"] = [rel(e, "network") for e in extra]
        m["residual_mse_extrapolation_windows"] = [e["residual_mse"] for e in extra]
        if model.has_koopman:
            m["rel_l2_extrapolation_koopman"] = rel(extra[0], "koopman")
            m["rel_l2_extrapolation_koopman_windows"] = [rel(e, "koopman") for e in extra]
    lyap = getattr(problem, "lyapunov_exponent", None)
    if lyap is not None and extra:
        for mode in ("network", "koopman") if model.has_koopman else ("network",):
            ts = np.concatenate([extra[0]["ts"]])
            vpt = valid_prediction_time(_components(problem, extra[0][mode]),
                                        _components(problem, extra[0]["reference"]), ts)
            key = "valid_prediction_time_lyapunov" + ("" if mode == "network" else "_koopman")
            m[key] = vpt * lyap
    if model.has_koopman:
        A = np.asarray(model.A())
        eig = np.linalg.eigvals(A)
        m["A_sparsity"] = sparsity(A)
        m["A_l1"] = float(np.abs(A).sum())
        m["A_eigenvalues"] = [[float(e.real), float(e.imag)] for e in eig[np.argsort(-eig.real)]]
        # ResDMD residual of every learned eigenpair on the training-window grid (verified spectrum)
        m.update(residual_metrics(model, problem, evaluation["xs"], wins[0]["ts"]))
    # Honest baselines (persistence forecasts) and PDEBench-style metrics beside the relative L2.
    m.update(baseline_metrics(evaluation, error_components=problem.error_components))
    for mode in ("network", "koopman") if model.has_koopman else ("network",):
        m.update(standard_metrics(evaluation, mode, error_components=problem.error_components,
                                  periodic=isinstance(problem.boundary, Periodic)))
    if history and "time" in history and len(history["step"]) > 1:
        steps = np.asarray(history["step"], float)
        times = np.asarray(history["time"], float)
        m["time_per_step"] = float((times[-1] - times[0]) / max(steps[-1] - steps[0], 1))
        m["final_loss"] = float(np.asarray(history["loss"])[-1])
    return m


# --------------------------------------------------------------------------------------------------
# the solver


@dataclasses.dataclass(frozen=True)
class PINNSolution:
    """A trained PINN/PIKE/SPIKE model with its scores.

    **Attributes:** `problem`, `method`, `model` (`PINNModel`), `config` (`SolveConfig`), `history`
    (from `jaxrep.train.fit`), `metrics` (dict, see `compute_metrics`), `evaluation` (see `evaluate`).
    """

    problem: AbstractProblem
    method: str
    model: PINNModel
    config: SolveConfig
    history: dict
    metrics: dict
    evaluation: dict

    def predict(
        self, x: Float[Array, "n d"], t: Float[Array, " n"], mode: Literal["network", "koopman"] = "network"
    ) -> Float[Array, "n n_out"]:
        r"""The solution at the points `(x[i], t[i])`, shape `(n, n_out)`.

        `mode="network"` evaluates $u_\theta$; `mode="koopman"` (PIKE/SPIKE only) uses the network up
        to the end $T$ of the training window and, for $t\ge T$, the Koopman rollout
        $u = [e^{(t-T)A} z(x, T)]_{:n}$.
        """
        x = jnp.asarray(x)
        t = jnp.asarray(t)
        d = self.problem.spatial_dim
        if x.ndim != 2 or x.shape[1] != d or t.shape != (x.shape[0],):
            raise ValueError(f"predict expects x of shape (n, {d}) and t of shape (n,), got {x.shape} and {t.shape}")
        if mode == "network":
            return jax.vmap(self.model.u)(x, t)
        if mode == "koopman":
            if not self.model.has_koopman:
                raise ValueError(f"mode='koopman' needs a PIKE or SPIKE solution, this one is {self.method!r}")
            return _koopman_points(self.model, x, t, self.problem.train_end)
        raise ValueError(f"mode must be 'network' or 'koopman', got {mode!r}")


@eqx.filter_jit
def _koopman_points(model, x, t, t_start):
    A = model.A()
    t_start = jnp.asarray(t_start, t.dtype)

    def one(xi, ti):
        z0 = model.z(xi, t_start)
        zt = propagate(A, z0, jnp.reshape(ti - t_start, (1,)))[0]
        return jnp.where(ti >= t_start, zt[: model.field.n_out], model.u(xi, ti))

    return jax.vmap(one)(x, t)


def default_phases(steps: int = 3000, learning_rate: float = 3e-3, decay_rate: float = 0.05) -> list[Phase]:
    """The default training of `solve`: Adam, learning rate decayed exponentially from `learning_rate`
    to `decay_rate * learning_rate` over `steps` steps, on collocation points resampled every step."""
    schedule = optax.exponential_decay(learning_rate, transition_steps=steps, decay_rate=decay_rate)
    return [Phase(optax.adam(schedule), steps, name="adam")]


def _check_network(network, problem, field):
    """`solve(..., network=)`: a PINN solution of this problem whose network has `field`'s structure."""
    if not eqx.tree_equal(network.problem, problem):  # name, parameters, windows, train box
        raise ValueError(f"network was trained on {network.problem.name}, not on this {problem.name} problem "
                         f"(the problems differ in kind, parameters, windows or train box)")
    spec = lambda f: jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), eqx.filter(f, eqx.is_array))  # noqa: E731
    if jax.tree_util.tree_structure(network.model.field) != jax.tree_util.tree_structure(field) \
            or spec(network.model.field) != spec(field):
        raise ValueError("network's field does not match the one config.model / config.constraints build "
                         "(solve it with the same config and precision)")


def _train(problem, method, cfg, key, phases, run_dir, resume, progress, desc, network=None):
    """Build and `fit` one PINN / PIKE / SPIKE model on `problem`'s training window (in two stages with
    `cfg.koopman.staged_steps > 0`, see `KoopmanConfig`; stage 1 taken from `network` when given)."""
    koopman, sparse = _check_method(method)
    staged = koopman and cfg.koopman.staged_steps > 0
    k_model, k_train = jr.split(key)
    model = make_model(problem, cfg, koopman=koopman, key=k_model)
    if staged:
        # stage 1: the network alone on the PINN loss (the same optimisation as method "pinn"), or the
        # given PINN's network and history when that optimisation was run already
        if network is not None:
            _check_network(network, problem, model.field)
            net, history = PINNModel(network.model.field), dict(network.history)
        else:
            net, history = _fit_network(problem, cfg, PINNModel(model.field), k_train, phases, run_dir, resume,
                                        progress, desc, koopman=False, sparse=False)
        model = eqx.tree_at(lambda m: m.field, model, net.field)
        # stage 2: the Koopman parts alone; SPIKE continues with the L1 penalty from the PIKE stage's end
        # (L1 from the start collapses A to ~0 before the observables are learned: BENCHMARKS.md).
        histories = [history]
        sampler = make_sampler(problem, cfg.sampling, koopman=True)
        for k, (name, with_l1) in enumerate([("koopman", False)] + ([("koopman_sparse", True)] if sparse else [])):
            where = {}
            if run_dir is not None:
                where = dict(checkpoint_dir=run_dir / name / "checkpoints", metrics_path=run_dir / name / "metrics.jsonl")
            phase = Phase(optax.adam(cfg.koopman.staged_learning_rate), cfg.koopman.staged_steps, name=name)
            model, h = fit(model, _koopman_stage_loss(cfg, with_l1), sampler, phases=[phase],
                           key=jr.fold_in(k_train, k + 1), resume=resume, progress=progress,
                           desc=desc + (" / Koopman + L1" if with_l1 else " / Koopman"), **where, **cfg.fit.kwargs())
            histories.append(h)
        history = _merge_histories(histories)
        history["stage"] = history.pop("window")
        return model, history
    return _fit_network(problem, cfg, model, k_train, phases, run_dir, resume, progress, desc,
                        koopman=koopman, sparse=sparse)


def _koopman_stage_loss(cfg, sparse: bool):
    """Stage 2 of a staged PIKE/SPIKE fit: the Koopman terms (+ L1) with the network frozen."""
    w = cfg.weights

    def loss(model, batch, key):
        frozen = jax.tree_util.tree_map(lambda a: jax.lax.stop_gradient(a) if eqx.is_array(a) else a, model.field)
        model = eqx.tree_at(lambda m: m.field, model, frozen)
        A = model.A()
        gen, expm = koopman_losses(model.z, A, batch["x_k"], batch["t_k"], batch["s_k"])
        l1 = l1_penalty(A)
        value = w.koopman * (gen + expm) + (w.l1 * l1 if sparse else 0.0)
        return value, {"koopman_gen": gen, "koopman_expm": expm, "A_l1": l1}

    return loss


def _fit_network(problem, cfg, model, k_train, phases, run_dir, resume, progress, desc, *, koopman, sparse):
    con = cfg.constraints
    loss_fn = make_loss_fn(problem, cfg.weights, koopman=koopman, sparse=sparse, hard_initial=con.initial,
                           hard_boundary=con.boundary, causal=cfg.causal, balance=cfg.balance, rad=cfg.rad)
    sampler = make_sampler(problem, cfg.sampling, koopman=koopman, rad=cfg.rad)
    loss_state = None
    if cfg.balance.every:  # one adaptive weight per loss term, all starting at 1
        batch = jax.eval_shape(sampler, jr.PRNGKey(0), 0)
        n_terms = len(jax.eval_shape(lambda m, b: loss_fn.terms(m, b)[0], model, batch))
        loss_state = {"weights": jnp.ones((n_terms,), jnp.float32), "count": jnp.zeros((), jnp.int32)}
    if cfg.rad.every:  # RAD's points in the state; fixed-point phases train on points without candidates
        loss_state = {**(loss_state or {}), **rad_state(problem, cfg.sampling.n_residual)}
        plain = make_sampler(problem, cfg.sampling, koopman=koopman)
        phases = [dataclasses.replace(p, data=plain) if p.data is None and not p.resample else p for p in phases]
    if cfg.rad.fixed:  # fixed-point phases train on residual-chosen points
        select = rad_fixed_points(problem, cfg.rad)
        phases = [dataclasses.replace(p, select=select) if not p.resample and p.select is None else p for p in phases]
    where = {}
    if run_dir is not None:
        where = dict(checkpoint_dir=run_dir / "checkpoints", metrics_path=run_dir / "metrics.jsonl")
    return fit(model, loss_fn, sampler, phases=phases, key=k_train, resume=resume, loss_state=loss_state,
               progress=progress, desc=desc, **where, **cfg.fit.kwargs())


def _solution_fn(model):
    """`model.u` as a plain function (hashable by identity: it is a static field of the next window's
    problem, so the trained network is a constant there, not a parameter)."""
    return lambda x, t: model.u(x, t)


def _merge_histories(histories: list[dict]) -> dict:
    """One history from the windows' histories: steps and times continue across windows, `window`
    gives each row's window."""
    out: dict = {}
    step0 = time0 = 0.0
    for k, h in enumerate(histories):
        n = len(h["step"])
        rows = dict(h)
        rows["step"] = np.asarray(h["step"]) + step0
        if "time" in h:
            rows["time"] = np.asarray(h["time"]) + time0
            time0 = float(rows["time"][-1]) if n else time0
        rows["window"] = np.full(n, k)
        step0 = float(rows["step"][-1]) if n else step0
        for name, v in rows.items():
            out.setdefault(name, []).append(np.asarray(v))
    return {name: np.concatenate(v) for name, v in out.items()}


def solve(
    problem: AbstractProblem,
    method: str = "spike",
    config: Optional[SolveConfig] = None,
    *,
    key: PRNGKeyArray,
    phases: Optional[Sequence[Phase]] = None,
    run_dir: Optional[pathlib.Path] = None,
    resume: bool = False,
    progress: bool = True,
    network: Optional[PINNSolution] = None,
) -> PINNSolution:
    r"""Solve `problem` with a PINN, PIKE or SPIKE model and score it against the reference.

    **Arguments:**

    - `problem`: an `AbstractProblem` (e.g. `jaxrep.pinn.problems.get("burgers")`).
    - `method`: `"pinn"`, `"pike"` (Koopman-regularised) or `"spike"` (PIKE + $\lambda\|A\|_1$).
    - `config`: a `SolveConfig` (backbone, `fit` options, sampling, Koopman latent, loss weights, hard
      constraints, causal weighting, balancing, RAD, eval grid); default `SolveConfig()`.
    - `key`: PRNG key (keyword-only) for the initialisation and the collocation points.
    - `phases`: the optimiser phases, a sequence of `jaxrep.train.Phase` (default `default_phases()`:
      3000 Adam steps). A phase without `data` trains on `make_sampler(problem, config.sampling)`; e.g.
      `Phase(optax.lbfgs(), 2000, resample=False, data=make_sampler(problem, SamplingConfig(
      n_residual=8000), koopman=...))` adds an L-BFGS phase on 8000 fixed points.
    - `run_dir`: if given, checkpoints go to `run_dir/checkpoints` and metrics to
      `run_dir/metrics.jsonl` (and `resume=True` continues an interrupted run exactly); with time
      marching (`config.marching.windows > 1`) each window $k$ has its own `run_dir/windows/<k>/`.
    - `progress`: show the trainer's progress bar, labelled with the problem and the method.
    - `network`: a `PINNSolution` of `solve(problem, "pinn", ...)` to take as the first stage of a staged
      PIKE/SPIKE fit (`config.koopman.staged_steps > 0`): that stage is the network alone on the PINN
      loss, so it is not trained again and only the Koopman parts are fitted on top. With the same
      `config`, `key` and `phases` the result equals `solve(problem, method, config, key=key,
      phases=phases)` at the cost of its Koopman stage; the PINN's history is stage 0 of the returned one.

    **Returns:** a `PINNSolution` with `.predict(x, t, mode=...)`, `.metrics` and `.evaluation`.

    With `config.marching.windows` $= K > 1$ the training window is cut into $K$ windows trained in
    turn (every window with all of `phases`), each starting from the previous window's solution, and
    the model is a `MarchedModel` (see `MarchingConfig`).

    Training sees only `problem.train_window` and, if the problem has a `train_box`, only that part of
    space; the metrics then also score the held-out part of space (`rel_l2_space_extrapolation`, see
    `compute_metrics`).

    **References:** Raissi, Perdikaris & Karniadakis, "Physics-informed neural networks", J. Comput.
    Phys. 378 (2019); "SPIKE: Sparse Koopman Regularization for Physics-Informed Neural Networks"
    (the code: github.com/cair-philippines/spike).
    """
    if not isinstance(problem, AbstractProblem):
        raise TypeError(f"problem must be a jaxrep.pinn AbstractProblem, got {type(problem).__name__}")
    _check_method(method)
    cfg = config if config is not None else SolveConfig()
    if not isinstance(cfg, SolveConfig):
        raise TypeError(f"config must be a jaxrep.pinn.SolveConfig, got {type(cfg).__name__}")
    phases = list(default_phases() if phases is None else phases)
    run_dir = None if run_dir is None else pathlib.Path(run_dir)
    windows = cfg.marching.windows
    if network is not None:
        if not isinstance(network, PINNSolution) or network.method != "pinn":
            raise TypeError(f"network must be the PINNSolution of a method 'pinn' solve, got "
                            f"{getattr(network, 'method', type(network).__name__)!r}")
        if method == "pinn" or cfg.koopman.staged_steps <= 0 or windows > 1:
            raise ValueError(f"network= needs a staged PIKE/SPIKE fit without time marching (method pike or spike, "
                             f"koopman.staged_steps > 0, marching.windows 1); got method {method!r}, "
                             f"staged_steps {cfg.koopman.staged_steps}, windows {windows}")
    if windows == 1:
        model, history = _train(problem, method, cfg, key, phases, run_dir, resume, progress,
                                f"{problem.name} / {method}", network)
    else:
        if cfg.constraints.initial and problem.time_order != 1:
            raise ValueError(f"marching.windows > 1 with constraints.initial needs a problem first order in time; "
                             f"{problem.name} has time_order {problem.time_order} (use constraints.initial: false)")
        edges = window_edges(problem, windows)
        models, histories, previous = [], [], None
        for k, k_key in enumerate(jr.split(key, windows)):
            sub = window_problem(problem, edges[k], edges[k + 1], previous)
            where = None if run_dir is None else run_dir / "windows" / str(k)
            m, h = _train(sub, method, cfg, k_key, phases, where, resume, progress,
                          f"{problem.name} / {method} / window {k + 1}/{windows}")
            models.append(m)
            histories.append(h)
            previous = _solution_fn(m)
        model = MarchedModel(tuple(models), tuple(float(e) for e in edges))
        history = _merge_histories(histories)
    evaluation = evaluate(model, problem, cfg)
    metrics = compute_metrics(model, problem, evaluation, history)
    return PINNSolution(problem, method, model, cfg, history, metrics, evaluation)
