# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Koopman operators: EDMD, generator EDMD, deep Koopman, verified spectra
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxrep/jaxrep/blob/main/notebooks/02_koopman.ipynb)
#
# The Koopman operator $\mathcal K^t g = g\circ\Phi^t$ turns a nonlinear flow $\Phi^t$ into a
# *linear* operator on observables $g$. jaxrep estimates it three ways:
#
# - **EDMD** (`jr.koopman.edmd`): least squares on snapshot pairs $(x_i, \Phi^{\Delta t}(x_i))$ in a
#   dictionary $\psi$, giving the discrete-time $K\approx e^{\Delta t\mathcal L}$;
# - **generator EDMD** (`jr.koopman.generator_edmd`): the continuous-time generator $\mathcal L$ from
#   $(x_i, \dot x_i)$, with $\tfrac{d}{dt}\psi = D\psi\,\dot x$ by forward-mode autodiff;
# - **deep Koopman** (`jr.koopman.KoopmanAutoencoder`): an encoder learns the observables, a
#   generator $A$ evolves them exactly with $e^{tA}$, trained through `jaxrep.train.fit`.
#
# Eigenvalues of a finite dictionary can be artefacts of the projection; **ResDMD** residuals
# (`jr.koopman.residuals`) check every eigenpair against held-out data. We look at the slow-manifold
# system (known spectrum), the Duffing oscillator (forecast, pseudospectrum), Lorenz-63
# (kernel reduced-rank regression with Nyström landmarks) and, with an input, model-predictive control
# of the forced Van der Pol oscillator on an EDMDc model.

# %%
# Installs jaxrep when it is not importable (e.g. on Colab); edit to pin another version.
JAXREP_PIP = "jaxrep[dev] @ git+https://github.com/jaxrep/jaxrep.git"

import subprocess
import sys

try:
    import jaxrep
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", JAXREP_PIP], check=True)
    import jaxrep

import jax

print("jaxrep", jaxrep.__version__, "| jax", jax.__version__)
print(jax.devices())

# %%
import os
import pathlib

# JAXREP_SMOKE=1 (CI): tiny sizes that run on a CPU in well under a minute. Default: sizes
# that give meaningful results on an accelerator (a Colab TPU or a GPU).
SMOKE = os.environ.get("JAXREP_SMOKE", "0") == "1"
if SMOKE:
    # A few hundred steps at most: compile time dominates, so skip most XLA optimisations.
    jax.config.update("jax_disable_most_optimizations", True)
FIGURES = pathlib.Path("_smoke", "02_koopman") if SMOKE else None  # smoke mode saves every figure here
SEED = 0

N_PAIRS = 400 if SMOKE else 5000          # snapshot pairs for EDMD / gEDMD
N_TRAJ = 32 if SMOKE else 256             # trajectories for the deep Koopman model
N_T = 31 if SMOKE else 61                 # points per trajectory
HORIZON = 10 if SMOKE else 30             # prediction window of the deep Koopman losses
BATCH = 16 if SMOKE else 64               # windows per step (a multiple of the device count)
AE_STEPS = 50 if SMOKE else 3000          # deep Koopman training steps
N_RBF = 30 if SMOKE else 100              # RBF dictionary size (Duffing)
N_LORENZ = 500 if SMOKE else 5000         # Lorenz-63 snapshots (kooplearn's benchmark size)
N_LANDMARKS = 100 if SMOKE else 500       # Nyström landmarks
N_GRID = 16 if SMOKE else 80              # pseudospectrum grid per axis
N_CTRL_TRAJ = 8 if SMOKE else 40          # forced Van der Pol trajectories (random inputs) for EDMDc
CTRL_DEGREE = 3 if SMOKE else 5           # EDMDc dictionary: monomials up to this degree
CTRL_STEPS = 40 if SMOKE else 100         # closed-loop MPC steps

# %%
import equinox as eqx
import jax.numpy as jnp
import jax.random as jrandom
import matplotlib.pyplot as plt
import numpy as np
import optax
from IPython.display import display

import jaxrep as jr


def show(fig, name):
    """Display `fig`; in smoke mode (CI) save it as `_smoke/<notebook>/<name>.png` instead."""
    if FIGURES is not None:
        FIGURES.mkdir(parents=True, exist_ok=True)
        fig.savefig(FIGURES / f"{name}.png", dpi=80)
    else:
        display(fig)
    plt.close(fig)


# %% [markdown]
# ## 1. Slow manifold: a known spectrum
#
# $\dot x_1 = \mu x_1$, $\dot x_2 = \lambda(x_2 - x_1^2)$ has the Koopman eigenfunctions $x_1$,
# $x_2 - bx_1^2$ and $x_1^2$ with eigenvalues $\mu$, $\lambda$, $2\mu$ ($b = \lambda/(\lambda - 2\mu)$),
# and every product of them. With monomials of degree $\le 2$ the span of $\{1, x_1, x_2, x_1^2\}$ is
# invariant, while $x_1x_2$ and $x_2^2$ leak out of the dictionary: their eigenvalues are
# approximations, and ResDMD says so.

# %%
system = jr.data.SlowManifold(mu=-0.1, lam=-1.0)
dt = 0.1
mu, lam = system.mu, system.lam
exact = np.array([0.0, mu, 2 * mu, lam, mu + lam, 2 * lam])  # products of the eigenfunctions
features = jr.koopman.Polynomial(2, 2)  # 1, x1, x2, x1^2, x1 x2, x2^2

k_train, k_test = jrandom.split(jrandom.key(SEED))
X, Y = jr.data.snapshot_pairs(system, N_PAIRS, dt, key=k_train)
X_test, Y_test = jr.data.snapshot_pairs(system, N_PAIRS, dt, key=k_test)

edmd = jr.koopman.edmd(X, Y, features, reg=1e-8, dt=dt)
edmd_eig = jr.koopman.eig(edmd)
edmd_res = jr.koopman.residuals(edmd, X_test, Y_test, edmd_eig)

dXdt = jax.vmap(system.drift)(X)
gedmd = jr.koopman.generator_edmd(X, dXdt, features, dt=dt)
gedmd_eig = jr.koopman.eig(gedmd)
gedmd_res = jr.koopman.residuals(gedmd, X_test, jax.vmap(system.drift)(X_test), gedmd_eig)

print("exact (continuous):", np.sort(exact)[::-1])
for name, ev, res in (("EDMD", edmd_eig, edmd_res), ("gEDMD", gedmd_eig, gedmd_res)):
    print(f"{name:6s}", " ".join(f"{complex(m).real:+.4f} (res {float(r):.1e})"
                                  for m, r in zip(ev.continuous_eigenvalues, res)))

# %%
show(jr.plot.koopman_spectrum(edmd_eig.continuous_eigenvalues, edmd_res, reference=exact,
                              title="slow manifold: EDMD spectrum, coloured by ResDMD residual"),
     "slow_manifold_spectrum")
labels = [f"mu = {complex(m).real:+.3f}" for m in gedmd_eig.continuous_eigenvalues]
show(jr.plot.koopman_eigenfunctions(gedmd_eig.eigenfunctions, (-1, 1), (-1, 1), which=(1, 2, 3, 4),
                                    labels=labels),
     "slow_manifold_eigenfunctions")

# %% [markdown]
# ### Deep Koopman
#
# Now let a network find the observables: an encoder $\varphi$ (linear + MLP correction,
# `jr.koopman.SkipLinear`) to a 2-D latent, a dense generator $A$ and a decoder, trained on windows of
# trajectories with reconstruction + latent linearity + multi-step prediction losses
# (`jr.koopman.losses`). The eigenvalues of $A$ should approach $\mu$ and $\lambda$.
#
# Three choices make that happen in 3000 steps: every window starts at a trajectory's initial state
# ($\lambda$ is visible only in the fast transient; windows on the slow manifold teach the latent
# $\{x_1, x_1^2\}$ with eigenvalues $\{\mu, 2\mu\}$), the encoder is *anchored* at the fixed point
# (`anchor=`: the origin maps to $0$, so no constant, an eigenfunction with eigenvalue $0$, leaks into
# the latent and pulls the eigenvalues towards $0$), and the learning rate is $10^{-2}$.
#
# The windows are drawn by a pure sampler inside the compiled step. With several devices (a TPU
# has 8) `jr.train.fit(..., mesh=jr.train.make_mesh())` shards each batch of windows over them and
# replicates the model: data parallelism with no other change.

# %%
k_data, k_model, k_fit = jrandom.split(jrandom.key(SEED + 1), 3)
x0 = system.sample_initial(k_data, N_TRAJ + 1)
trajs = jax.vmap(lambda x: jr.data.trajectory(system, x, dt, N_T - 1))(x0)  # (N_TRAJ + 1, N_T, 2)
trajs, held_out = trajs[:N_TRAJ], trajs[N_TRAJ]  # the last one is kept for the forecast

def window_sampler(key, step):
    i = jrandom.randint(key, (BATCH,), 0, N_TRAJ)
    return trajs[i, : HORIZON + 1]  # windows from the initial state: the transient carries lambda

def ae_loss(model, windows, key):
    L = jr.koopman.losses
    terms = {"reconstruction": L.reconstruction(model, windows),
             "linearity": L.linearity(model, windows, dt),
             "prediction": L.prediction(model, windows, dt)}
    return sum(terms.values()), terms

ks = jrandom.split(k_model, 5)
origin = jnp.zeros(2)  # the fixed point: anchored maps send it to 0
encoder = jr.koopman.SkipLinear(jr.nn.MLP(2, 2, 32, 2, jnp.tanh, key=ks[0]), 2, 2, key=ks[1], anchor=origin)
decoder = jr.koopman.SkipLinear(jr.nn.MLP(2, 2, 32, 2, jnp.tanh, key=ks[2]), 2, 2, key=ks[3], anchor=origin)
ae = jr.koopman.KoopmanAutoencoder(encoder, jr.koopman.Generator(2, "dense", scale=0.3, key=ks[4]), decoder)

n_devices = len(jax.devices())
mesh = jr.train.make_mesh() if n_devices > 1 and BATCH % n_devices == 0 else None
print(f"{n_devices} device(s):", "data-parallel over a mesh" if mesh is not None else "single device")
optimizer = optax.adam(optax.cosine_decay_schedule(1e-2, AE_STEPS))
ae, ae_history = jr.train.fit(ae, ae_loss, window_sampler, optimizer, steps=AE_STEPS, key=k_fit,
                              mesh=mesh, steps_per_call=50, log_every=10, progress=not SMOKE)

ae_est = ae.as_estimator(X, dt)                 # the learned model as a verifiable estimator
ae_eig = jr.koopman.eig(ae_est)
ae_res = jr.koopman.residuals(ae_est, X_test, Y_test, ae_eig)
print("eigenvalues of A:", np.round(np.linalg.eigvals(np.asarray(ae.generator.matrix())), 4),
      "| exact:", mu, lam, "| ResDMD residuals:", np.asarray(ae_res).round(3))
show(jr.plot.loss_curve(ae_history, title="deep Koopman training"), "deep_koopman_loss")


# %%
def closest(values, target):
    values = np.asarray(values)
    return values[np.argmin(np.abs(values - target))]

print(f"{'method':14s}{'mu':>22s}{'lambda':>22s}")
print(f"{'exact':14s}{mu:22.4f}{lam:22.4f}")
for name, ev in (("EDMD", edmd_eig.continuous_eigenvalues), ("gEDMD", gedmd_eig.continuous_eigenvalues),
                 ("deep Koopman", np.linalg.eigvals(np.asarray(ae.generator.matrix())))):
    print(f"{name:14s}{closest(ev, mu).real:22.4f}{closest(ev, lam).real:22.4f}")

ts = dt * np.arange(N_T)
show(jr.plot.koopman_forecast(ts, held_out, ae(held_out[0], ts), names=["x1", "x2"],
                              title="deep Koopman forecast (slow manifold)"), "deep_koopman_forecast")

# %% [markdown]
# ## 2. Duffing oscillator: forecasts and the pseudospectrum
#
# $\ddot x = -\delta\dot x + x - x^3$ has two stable foci; its Koopman spectrum has no small
# invariant dictionary. A dictionary of Gaussian RBFs plus the state gives good forecasts; ResDMD and
# the approximate pseudospectrum $\{z : \tau(z) < \varepsilon\}$ show which eigenvalues to trust.

# %%
duffing = jr.data.Duffing()
dt_d = 0.1
k1, k2, k3 = jrandom.split(jrandom.key(SEED + 2), 3)
Xd, Yd = jr.data.snapshot_pairs(duffing, N_PAIRS, dt_d, key=k1)
Xd_test, Yd_test = jr.data.snapshot_pairs(duffing, N_PAIRS, dt_d, key=k2)
centers = jrandom.uniform(k3, (N_RBF, 2), minval=-2.0, maxval=2.0)
dictionary = jr.koopman.Concat(jr.koopman.Polynomial(2, 1), jr.koopman.RBF(centers, 0.6))

duffing_edmd = jr.koopman.edmd(Xd, Yd, dictionary, reg=1e-6, dt=dt_d)
duffing_gedmd = jr.koopman.generator_edmd(Xd, jax.vmap(duffing.drift)(Xd), dictionary, reg=1e-6, dt=dt_d)
d_eig = jr.koopman.eig(duffing_edmd)
d_res = jr.koopman.residuals(duffing_edmd, Xd_test, Yd_test, d_eig)

re, im = np.meshgrid(np.linspace(-0.2, 1.2, N_GRID), np.linspace(-0.7, 0.7, N_GRID))
tau = jr.koopman.pseudospectrum(duffing_edmd, Xd_test, Yd_test, jnp.asarray(re + 1j * im))
show(jr.plot.koopman_spectrum(d_eig.eigenvalues, d_res, continuous=False,
                              pseudospectrum=(re, im, np.asarray(tau)),
                              title="Duffing: EDMD eigenvalues, ResDMD residuals, pseudospectrum"),
     "duffing_spectrum")
print("eigenpairs with residual < 0.05:", int(np.sum(np.asarray(d_res) < 0.05)), "of", len(d_res))

# %%
n_steps = 60
x_start = jnp.array([1.5, -1.0])
truth = jr.data.trajectory(duffing, x_start, dt_d, n_steps)
ts = dt_d * np.arange(n_steps + 1)
for name, est in (("EDMD", duffing_edmd), ("gEDMD", duffing_gedmd)):
    pred = jnp.concatenate([x_start[None], est.predict(x_start, n_steps)])
    err = float(jnp.linalg.norm(pred - truth) / jnp.linalg.norm(truth))
    print(f"{name:6s} forecast relative L2 error over {n_steps} steps: {err:.3e}")
pred = jnp.concatenate([x_start[None], duffing_gedmd.predict(x_start, n_steps)])
show(jr.plot.koopman_forecast(ts, truth, pred, names=["x", "v"],
                              title="Duffing: generator EDMD forecast (exact expm rollout)"),
     "duffing_forecast")

# %% [markdown]
# ## 3. Lorenz-63: kernel reduced-rank regression
#
# Kernel RRR (`jr.koopman.kernel_rrr`, the kooplearn estimator) with $m$ Nyström landmarks costs
# $O(nm^2 + m^3)$. kooplearn's JOSS benchmark fits 5000 Lorenz-63 points at rank 25; the default
# sizes here match it.

# %%
import time

lorenz = jr.data.Lorenz63()
dt_l = 0.05
path = jr.data.trajectory(lorenz, jnp.array([1.0, 1.0, 1.0]), dt_l, 200 + N_LORENZ + 100)
path = path[200:]  # drop the transient: start on the attractor
train, test = path[: N_LORENZ + 1], path[N_LORENZ:]
kernel = jr.koopman.GaussianKernel(length_scale=10.0)
fit_lorenz = lambda: jr.koopman.kernel_rrr(train[:-1], train[1:], kernel, rank=25, reg=1e-6,
                                            nystrom=N_LANDMARKS, dt=dt_l, key=jrandom.key(SEED))
jax.block_until_ready(fit_lorenz())  # compile
start = time.perf_counter()
krrr = jax.block_until_ready(fit_lorenz())
print(f"kernel RRR (n={N_LORENZ}, Nystrom m={N_LANDMARKS}, rank 25) fit: {time.perf_counter() - start:.3f} s")

n_steps = 40
pred = jnp.concatenate([test[:1], krrr.predict(test[0], n_steps)])
ts = dt_l * np.arange(n_steps + 1)
show(jr.plot.koopman_forecast(ts, test[: n_steps + 1], pred, names=["x", "y", "z"],
                              title="Lorenz-63: kernel RRR forecast (expected value)"), "lorenz_forecast")

# %% [markdown]
# ## 4. Control: EDMDc and model-predictive control of the forced Van der Pol oscillator
#
# With an input, $\ddot x = \mu(1 - x^2)\dot x - x + u$, the lifted model stays linear in $u$
# (Korda & Mezić 2018): EDMDc (`jr.koopman.edmdc`) fits $\psi(x_{k+1}) \approx A\psi(x_k) + Bu_k$ and
# $x \approx C\psi(x)$ in closed form from trajectories under random inputs. On that model, tracking a
# reference $r_k$ is a linear-quadratic problem solved exactly by a backward Riccati recursion
# (`jr.koopman.lq_tracking`); `jr.koopman.receding_horizon` applies its first input to the **true**
# system (one diffrax step, `jr.data.controlled_step`), measures, and solves again. The baseline is the
# same controller on the local linearisation at the origin (`jr.koopman.linearize`). The same run is
# the config `jaxrep run koopman_control`.

# %%
vdp = jr.data.ForcedVanDerPol(mu=1.0)
dt_c, ctrl_len = 0.1, 50
# the true system over one step with the input held: compiled once, used for the data and every loop
plant = jax.jit(lambda x, u: jr.data.controlled_step(vdp, x, u, dt_c))

def simulate(x0, inputs):
    xs = [np.asarray(x0)]
    for u in inputs:
        xs.append(np.asarray(plant(xs[-1], u)))
    return np.stack(xs)

k1, k2 = jrandom.split(jrandom.key(SEED + 4))
x0s = np.asarray(vdp.sample_initial(k1, N_CTRL_TRAJ + 2))  # the last two are held out
inputs = np.asarray(jrandom.uniform(k2, (N_CTRL_TRAJ + 2, ctrl_len, 1), minval=-2.0, maxval=2.0))
trajs_c = np.stack([simulate(x, u) for x, u in zip(x0s, inputs)])
Xc = trajs_c[:-2, :-1].reshape(-1, 2)
Uc = inputs[:-2].reshape(-1, 1)
Yc = trajs_c[:-2, 1:].reshape(-1, 2)

edmdc = jr.koopman.edmdc(Xc, Uc, Yc, jr.koopman.Polynomial(2, CTRL_DEGREE), reg=1e-6, dt=dt_c)
linear = jr.koopman.linearize(vdp.drift, jnp.zeros(2), jnp.zeros(1), dt_c)
print(f"EDMDc: {edmdc.A.shape[0]} features from {Xc.shape[0]} pairs")
for name, est in (("EDMDc", edmdc), ("linearisation", linear)):
    # open-loop forecasts of the held-out trajectories under their recorded inputs, 20 steps
    pred = jax.vmap(est.predict)(trajs_c[-2:, 0], inputs[-2:, :20])
    rmse = float(np.sqrt(np.mean((np.asarray(pred) - trajs_c[-2:, 1:21]) ** 2)))
    print(f"{name:14s} 20-step forecast RMSE on held-out trajectories: {rmse:.3f}")

# %%
horizon = 20
ts_c = dt_c * np.arange(CTRL_STEPS + horizon)
refs = np.stack([2.0 * np.sin(0.5 * ts_c), np.zeros_like(ts_c)], 1)  # track x1; x2 is left free (Q)
x_start = jnp.array([2.0, 0.0])
mpc = dict(horizon=horizon, Q=jnp.array([1.0, 0.0]), R=0.1, scan=False)
runs = {name: jr.koopman.receding_horizon(plant, est, x_start, refs, **mpc)
        for name, est in (("EDMDc MPC", edmdc), ("linearised MPC", linear))}
runs["no input"] = (simulate(x_start, np.zeros((CTRL_STEPS, 1))), None)

t_c = ts_c[: CTRL_STEPS + 1]
fig, (ax_x, ax_u) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
ax_x.plot(t_c, refs[: CTRL_STEPS + 1, 0], "k--", label="reference")
for (name, (xs, us)), style in zip(runs.items(), ("C0-", "C1-", "0.6")):
    err = float(np.sqrt(np.mean((np.asarray(xs)[:, 0] - refs[: CTRL_STEPS + 1, 0]) ** 2)))
    print(f"{name:15s} tracking RMSE of x1: {err:.3f}")
    ax_x.plot(t_c, np.asarray(xs)[:, 0], style, label=f"{name} (RMSE {err:.3f})")
    if us is not None:
        ax_u.step(t_c[:-1], np.asarray(us)[:, 0], style, where="post", label=name)
ax_x.set(ylabel="x1", title="forced Van der Pol: MPC on the true system")
ax_u.set(xlabel="t", ylabel="input u")
for ax in (ax_x, ax_u):
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
fig.tight_layout()
show(fig, "control_mpc")
