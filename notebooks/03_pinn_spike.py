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
# # PINN vs PIKE vs SPIKE: extrapolation in time
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxrep/jaxrep/blob/main/notebooks/03_pinn_spike.ipynb)
#
# Three ways to train a physics-informed network $u_\theta(x, t)$ on a time window $[0, T]$:
#
# | method | loss |
# |---|---|
# | **PINN** | PDE residual + initial + boundary conditions |
# | **PIKE** | + a Koopman term: observables $z = [u, g(u)]$ follow $\dot z = Az$ (generator and $e^{sA}$ losses) |
# | **SPIKE** | PIKE + $\lambda\lVert A\rVert_1$, a sparse generator |
#
# We train all three on the same problem, score them against the reference solution inside the
# training window and in the extrapolation window $[T, T_{\text{end}}]$ (with the network and with the
# Koopman rollout $z(t) = e^{(t - T)A}z(T)$), and finish with the chaotic Lorenz-63 system, where
# the figure of merit is the valid prediction time in Lyapunov times.

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
FIGURES = pathlib.Path("_smoke", "03_pinn_spike") if SMOKE else None  # smoke mode saves every figure here
SEED = 0

PROBLEM = "burgers"                       # any 1-D PDE of jr.pinn.problems.names()
STEPS = 60 if SMOKE else 2000             # Adam steps per method
QN_STEPS = 5 if SMOKE else 3000           # then dense quasi-Newton (bfgs) steps on a fixed point set
N_FIXED = 256 if SMOKE else 8000          # residual points of the quasi-Newton phase
KOOPMAN_STEPS = 30 if SMOKE else 3000     # PIKE/SPIKE: Koopman stage after the network's (staged)
LORENZ_STEPS = 40 if SMOKE else 10000
N_RESIDUAL = 128 if SMOKE else 2048       # collocation points per step
N_OTHER = 32 if SMOKE else 256            # initial / boundary / Koopman points per step
WIDTH, DEPTH = (16, 2) if SMOKE else (20, 3)
N_X, N_T = (64, 21) if SMOKE else (256, 101)

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


# %%
from dataclasses import replace

import optax

# The recipe trains in float64: quasi-Newton steps stall near a loss of 1e-6 in float32.
jax.config.update("jax_enable_x64", True)

def solve_config(problem, width=WIDTH, depth=DEPTH, rad_fixed=False):
    # The recipe: initial and boundary conditions built into a small network (hard constraints);
    # PIKE/SPIKE staged: the network on the PINN loss first, then the Koopman parts alone.
    # rad_fixed: the quasi-Newton phase's points are drawn by the residual of the Adam-trained network
    # (RAD) instead of uniformly; it pays off where the error concentrates, e.g. at Burgers' shock.
    config = jr.pinn.SolveConfig()
    return replace(
        config,
        model=replace(config.model, width_size=width, depth=depth),
        koopman=replace(config.koopman, staged_steps=KOOPMAN_STEPS),
        fit=jr.train.FitOptions(steps_per_call=50, log_every=50),
        sampling=jr.pinn.SamplingConfig(n_residual=N_RESIDUAL, n_initial=N_OTHER, n_boundary=N_OTHER,
                                        n_koopman=N_OTHER),
        constraints=jr.pinn.ConstraintConfig(initial=True, boundary=problem.spatial_dim > 0),
        eval=jr.pinn.EvalConfig(n_x=N_X, n_t=N_T),
        rad=jr.pinn.RADConfig(fixed=rad_fixed),
    )

def phases(problem, method, adam_steps, qn_steps=QN_STEPS):
    # Adam with a decaying learning rate on fresh points every step, then dense self-scaled Broyden
    # quasi-Newton (jr.train.bfgs, zoom line search) on one fixed set of N_FIXED residual points.
    # Staged PIKE/SPIKE train the network on the PINN loss, so the fixed set has no Koopman points.
    fixed = jr.pinn.make_sampler(problem, jr.pinn.SamplingConfig(n_residual=N_FIXED, n_initial=N_OTHER,
                                                                  n_boundary=N_OTHER, n_koopman=N_OTHER),
                                 koopman=False)
    adam = optax.adam(optax.exponential_decay(5e-3, adam_steps, 0.1))
    phases = [jr.train.Phase(adam, adam_steps, name="adam")]
    if qn_steps:
        phases.append(jr.train.Phase(jr.train.bfgs(), qn_steps, data=fixed, resample=False, name="bfgs"))
    return phases

problem = jr.pinn.problems.get(PROBLEM)
print(problem)
print("methods:", jr.pinn.method_names())

# %% [markdown]
# ## Train the three methods
#
# Same backbone, same collocation points (same key), same number of steps. Every run goes through
# `jaxrep.train.fit`, in two phases: Adam on fresh collocation points, then dense quasi-Newton
# (`jr.train.bfgs`) on a fixed set (for Burgers drawn where the Adam-trained network's residual is
# large: `RADConfig(fixed=True)`), in float64, with the initial and boundary conditions built into
# the network (`ConstraintConfig`), so the loss is the PDE residual. PIKE and SPIKE are *staged*
# (`KoopmanConfig.staged_steps`): after the network's phases, the observables and the generator $A$
# are fitted with the network frozen, so all three share the PINN's in-window accuracy and differ in
# the Koopman rollout only; so PIKE and SPIKE take the PINN's trained network (`network=`) and fit only
# their Koopman stage. (`staged_steps=0` trains everything jointly, as the SPIKE paper does:
# BENCHMARKS.md measures its cost inside the window.)

# %%
config = solve_config(problem, rad_fixed=PROBLEM == "burgers")  # as configs/burgers.yaml
solutions = {}
for method in ("pinn", "pike", "spike"):
    # staged PIKE/SPIKE start from the PINN's trained network (`network=`): their first stage *is* that
    # PINN's optimisation (same config, key and phases), so only the Koopman stage is fitted
    solutions[method] = jr.pinn.solve(problem, method, config, key=jrandom.key(SEED),
                                      phases=phases(problem, method, STEPS), progress=not SMOKE,
                                      network=solutions.get("pinn"))

columns = ("rel_l2_train_window", "rel_l2_extrapolation", "rel_l2_extrapolation_koopman",
           "residual_mse_train_window", "residual_mse_extrapolation", "A_sparsity")
print(f"{'':6s}" + "".join(f"{c:>30s}" for c in columns))
for method, sol in solutions.items():
    row = "".join(f"{sol.metrics[c]:30.3e}" if c in sol.metrics else f"{'-':>30s}" for c in columns)
    print(f"{method:6s}{row}")


# %% [markdown]
# ## Error against time
#
# Relative $L^2$ error over $x$ at every time. Inside the training window the residual loss pins the
# solution down; past the dashed line the network extrapolates freely, while PIKE/SPIKE can also roll
# the learned linear dynamics forward (dotted lines).

# %%
def error_vs_time(evaluation, mode):
    ts = np.concatenate([w["ts"] for w in evaluation["windows"]])
    ref = np.concatenate([w["reference"] for w in evaluation["windows"]]).reshape(len(ts), -1)
    pred = np.concatenate([w[mode] for w in evaluation["windows"]]).reshape(len(ts), -1)
    return ts, np.linalg.norm(pred - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-12)

fig, ax = plt.subplots(figsize=(7, 4))
for i, (method, sol) in enumerate(solutions.items()):
    ts, err = error_vs_time(sol.evaluation, "network")
    ax.semilogy(ts, err, color=f"C{i}", label=f"{method} (network)")
    if "koopman" in sol.evaluation["windows"][0]:
        ts, err = error_vs_time(sol.evaluation, "koopman")
        after = ts >= problem.train_end
        ax.semilogy(ts[after], err[after], color=f"C{i}", ls=":", label=f"{method} (Koopman rollout)")
ax.axvline(problem.train_end, color="gray", ls="--", label="end of training window")
ax.set(xlabel="t", ylabel="relative L2 error", title=f"{PROBLEM}: PINN vs PIKE vs SPIKE")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
show(fig, "error_vs_time")

# %%
show(jr.plot.pinn_solution(solutions["pinn"].evaluation, title="PINN"), "solution_pinn")
show(jr.plot.pinn_solution(solutions["spike"].evaluation, mode="koopman",
                           title="SPIKE, Koopman rollout after the training window"), "solution_spike")

# %% [markdown]
# ## Sparse versus dense generators
#
# The $\ell_1$ penalty is the only difference between PIKE and SPIKE: compare the magnitude pattern
# and the spectrum of the two generators.

# %%
show(jr.plot.generator_structure(solutions["pike"].model.A(), title="PIKE generator"), "generator_pike")
show(jr.plot.generator_structure(solutions["spike"].model.A(), title="SPIKE generator"), "generator_spike")

# %% [markdown]
# ## Lorenz-63: valid prediction time
#
# On a chaotic ODE small errors grow like $e^{\lambda_{\max}t}$, so the score is the *valid
# prediction time* (how long the relative error stays below 0.5) in Lyapunov times
# $\lambda_{\max}t$ ($\lambda_{\max}\approx 0.906$).

# %%
lorenz = jr.pinn.problems.get("lorenz")
print(lorenz)
lorenz_solutions = {}
for method in ("pinn", "spike"):
    lorenz_solutions[method] = jr.pinn.solve(lorenz, method, solve_config(lorenz), key=jrandom.key(SEED),
                                             phases=phases(lorenz, method, LORENZ_STEPS), progress=not SMOKE,
                                             network=lorenz_solutions.get("pinn"))
for method, sol in lorenz_solutions.items():
    m = sol.metrics
    line = (f"{method:6s} rel L2: train window {m['rel_l2_train_window']:.2e}, extrapolation "
            f"{m['rel_l2_extrapolation']:.2e} | valid prediction time (network) "
            f"{m['valid_prediction_time_lyapunov']:.2f} Lyapunov times")
    if "valid_prediction_time_lyapunov_koopman" in m:
        line += f", (Koopman rollout) {m['valid_prediction_time_lyapunov_koopman']:.2f}"
    print(line)

# %%
names = list(lorenz.component_names)
show(jr.plot.pinn_solution(lorenz_solutions["spike"].evaluation, mode="koopman", names=names,
                           title="Lorenz-63, SPIKE (Koopman rollout after t = 1)"), "lorenz_spike")
show(jr.plot.pinn_error_vs_time(lorenz_solutions["spike"].evaluation, title="Lorenz-63, SPIKE"),
     "lorenz_error")
