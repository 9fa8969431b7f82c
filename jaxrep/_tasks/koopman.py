"""`task: koopman` — train a continuous-time deep Koopman autoencoder on a dynamical system.

Trajectories come from `jaxrep.data` (diffrax); training windows of `koopman.horizon + 1` states are
resampled every step (a pure sampler, so resume is exact). The summary reports the forecast error on
held-out trajectories, the learned generator's eigenvalues with their ResDMD residuals on held-out
snapshot pairs and, for the slow-manifold system, the error against the exact eigenvalues.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .. import data as jdata
from .. import koopman as jk
from .._validate import check_positive
from ..config import ModelConfig, TrainConfig
from ..nn import build_model
from ._common import save_figure, train

# Names map to system classes once, here (the config edge).
_SYSTEMS = {
    "slow_manifold": lambda c: jdata.SlowManifold(mu=c.mu, lam=c.lam),
    "pendulum": lambda c: jdata.Pendulum(damping=c.damping),
    "duffing": lambda c: jdata.Duffing(delta=c.damping if c.damping > 0 else 0.5),
    "van_der_pol": lambda c: jdata.VanDerPol(),
    "lorenz63": lambda c: jdata.Lorenz63(),
}


@dataclass(frozen=True)
class SystemConfig:
    name: Literal["slow_manifold", "pendulum", "duffing", "van_der_pol", "lorenz63"] = "slow_manifold"
    mu: float = -0.1
    lam: float = -1.0
    damping: float = 0.0
    dt: float = 0.1
    n_steps: int = 30
    n_traj: int = 256
    n_test: int = 32

    def __post_init__(self):
        check_positive(self.dt, "system.dt")
        for name in ("n_steps", "n_traj", "n_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"system.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class KoopmanConfig:
    latent_dim: int = 2
    generator: Literal["dense", "stable", "skew", "eig"] = "dense"
    generator_scale: float = 0.3
    skip_linear: bool = True
    anchor: bool = True
    horizon: int = 30
    reconstruction: float = 1.0
    linearity: float = 1.0
    prediction: float = 1.0
    l1: float = 0.0
    entropy: float = 0.0

    def __post_init__(self):
        if self.latent_dim < 1:
            raise ValueError(f"koopman.latent_dim must be >= 1, got {self.latent_dim}")
        if self.horizon < 1:
            raise ValueError(f"koopman.horizon must be >= 1, got {self.horizon}")
        for name in ("reconstruction", "linearity", "prediction", "l1", "entropy"):
            if getattr(self, name) < 0:
                raise ValueError(f"koopman.{name} (a loss weight) must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class Config:
    task: str = "koopman"
    system: SystemConfig = field(default_factory=SystemConfig)
    koopman: KoopmanConfig = field(default_factory=KoopmanConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(width_size=32, depth=2))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=64))


def make_trajectories(system, cfg: SystemConfig, n: int, key):
    x0 = system.sample_initial(key, n)
    if hasattr(system, "exact_flow"):
        # closed-form flow (slow manifold): exact data and no ODE solver to compile
        return _exact_trajectories(system, x0, cfg.dt * np.arange(cfg.n_steps + 1))
    return jax.vmap(lambda x: jdata.trajectory(system, x, cfg.dt, cfg.n_steps))(x0)


@eqx.filter_jit
def _exact_trajectories(system, x0, ts):
    ts = jnp.asarray(ts, x0.dtype)
    return jax.vmap(lambda x: jax.vmap(lambda t: system.exact_flow(x, t))(ts))(x0)


@eqx.filter_jit
def _forecast(model, x0s, ts: tuple):
    # `ts` static (a tuple): `propagate` sees a concrete uniform grid and takes its one-expm path
    return jax.vmap(lambda x: model(x, np.asarray(ts)))(x0s)


def slow_manifold_reference(sc: SystemConfig, latent_dim: int):
    r"""Exact eigenvalues a `latent_dim`-D latent should find on the slow manifold, or `None`.

    The state observables $x_1, x_2$ lie in the 3-D invariant subspace spanned by the eigenfunctions
    $x_1$, $x_1^2$, $x_2 - bx_1^2$ ($\mu, 2\mu, \lambda$): a 3-D latent finds all three (a linear
    decoder suffices); a 2-D latent needs $x_1$ and $x_2 - bx_1^2$ ($\mu, \lambda$) and a
    nonlinear decoder ($x_2 = z_2 + bz_1^2$)."""
    if sc.name != "slow_manifold" or latent_dim not in (2, 3):
        return None
    return np.array([sc.mu, sc.lam]) if latent_dim == 2 else np.array([sc.mu, 2 * sc.mu, sc.lam])


def build_autoencoder(cfg: Config, dim: int, *, key):
    k_enc, k_gen, k_dec, k_e2, k_d2 = jr.split(key, 5)
    k = cfg.koopman.latent_dim
    enc = build_model(cfg.model, dim, k, key=k_enc)
    dec = build_model(cfg.model, k, dim, key=k_dec)
    if cfg.koopman.skip_linear:
        # anchored: the origin (a fixed point of every built-in system) encodes to latent 0 and back
        enc_anchor, dec_anchor = (jnp.zeros(dim), jnp.zeros(k)) if cfg.koopman.anchor else (None, None)
        enc = jk.SkipLinear(enc, dim, k, key=k_e2, anchor=enc_anchor)
        dec = jk.SkipLinear(dec, k, dim, key=k_d2, anchor=dec_anchor)
    gen = jk.Generator(k, cfg.koopman.generator, scale=cfg.koopman.generator_scale, key=k_gen)
    return jk.KoopmanAutoencoder(enc, gen, dec)


def make_loss(kc: KoopmanConfig, dt: float):
    L = jk.losses

    def loss_fn(model, batch, key):
        terms = {}
        if kc.reconstruction > 0:
            terms["reconstruction"] = (kc.reconstruction, L.reconstruction(model, batch))
        if kc.linearity > 0:
            terms["linearity"] = (kc.linearity, L.linearity(model, batch, dt))
        if kc.prediction > 0:
            terms["prediction"] = (kc.prediction, L.prediction(model, batch, dt))
        if kc.l1 > 0:
            terms["l1"] = (kc.l1, L.l1(model.generator))
        if kc.entropy > 0:
            z = jax.vmap(model.encode)(batch.reshape(-1, batch.shape[-1]))
            # entropy is maximised (prevents collapse): it enters the loss with a minus sign
            terms["entropy"] = (-kc.entropy, L.von_neumann_entropy(z))
        loss = sum(w * v for w, v in terms.values())
        return loss, {name: v for name, (_, v) in terms.items()}

    return loss_fn


def window_sampler(trajs, horizon: int, batch_size: int):
    n_traj, n_t, d = trajs.shape
    if horizon + 1 > n_t:
        raise ValueError(f"koopman.horizon + 1 = {horizon + 1} exceeds the trajectory length {n_t}")

    def sample(key, step):
        k1, k2 = jr.split(key)
        i = jr.randint(k1, (batch_size,), 0, n_traj)
        s = jr.randint(k2, (batch_size,), 0, n_t - horizon)
        return jax.vmap(lambda a, b: jax.lax.dynamic_slice(trajs[a], (b, 0), (horizon + 1, d)))(i, s)

    return sample


def run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    sc, kc = cfg.system, cfg.koopman
    system = _SYSTEMS[sc.name](sc)
    key = jr.PRNGKey(cfg.train.seed)
    k_data, k_model, k_train = jr.split(key, 3)
    # one solve for train and test trajectories (one compilation)
    both = make_trajectories(system, sc, sc.n_traj + sc.n_test, k_data)
    trajs, test = both[: sc.n_traj], both[sc.n_traj:]
    model = build_autoencoder(cfg, system.dim, key=k_model)
    model, history = train(
        model, make_loss(kc, sc.dt), window_sampler(trajs, kc.horizon, cfg.train.batch_size),
        cfg.train, run_dir, key=k_train, resume=resume, progress=progress, desc=f"koopman {cfg.system.name}",
    )

    # forecast over the whole test trajectories from their first state
    ts = sc.dt * np.arange(sc.n_steps + 1)
    pred = _forecast(model, test[:, 0], tuple(float(t) for t in ts))
    rel_l2 = float(jnp.linalg.norm(pred - test) / jnp.linalg.norm(test))
    h = kc.horizon + 1
    rel_l2_h = float(jnp.linalg.norm(pred[:, :h] - test[:, :h]) / jnp.linalg.norm(test[:, :h]))

    # learned spectrum, verified by ResDMD residuals on held-out one-step pairs
    X, Y = test[:, :-1].reshape(-1, system.dim), test[:, 1:].reshape(-1, system.dim)
    est = model.as_estimator(X, sc.dt)
    ev = jk.eig(est)
    res = np.asarray(jk.residuals(est, X, Y, ev))
    mu = np.asarray(ev.continuous_eigenvalues)
    summary = {
        "final_loss": float(history["loss"][-1]) if "loss" in history else None,
        "forecast_rel_l2": rel_l2,
        "forecast_rel_l2_horizon": rel_l2_h,
        "eigenvalues_real": [float(v) for v in mu.real],
        "eigenvalues_imag": [float(v) for v in mu.imag],
        "residuals": [float(r) for r in res],
        "max_real_eigenvalue": float(np.max(mu.real)),
    }
    reference = slow_manifold_reference(sc, kc.latent_dim)
    if reference is not None:
        # relative errors, each exact eigenvalue matched to one learned one by optimal assignment
        summary["eigenvalue_rel_error"] = float(jk.eigenvalue_error(mu, reference))

    save_figure(jk_spectrum_figure(mu, res, reference), run_dir, "spectrum")
    from ..plot import koopman_forecast

    save_figure(koopman_forecast(ts, test[0], pred[0], title=f"{sc.name}: forecast vs truth"),
                run_dir, "forecast")
    if system.dim == 2:
        from ..plot import koopman_eigenfunctions

        lo, hi = np.asarray(jnp.min(trajs, (0, 1))), np.asarray(jnp.max(trajs, (0, 1)))
        labels = [f"mu = {m.real:.3g}{m.imag:+.3g}i" for m in mu]
        # jitted: the plot vmaps it over its grid (one compile instead of one per operation)
        eigfun = eqx.filter_jit(ev.eigenfunctions)
        save_figure(koopman_eigenfunctions(eigfun, (lo[0], hi[0]), (lo[1], hi[1]), labels=labels),
                    run_dir, "eigenfunctions")
    return summary


def jk_spectrum_figure(mu, res, reference):
    from ..plot import koopman_spectrum

    return koopman_spectrum(mu, res, continuous=True, reference=reference,
                            title="learned generator spectrum (colour: ResDMD residual)")
