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
# # jaxrep quickstart: a PDE solved with SPIKE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxrep/jaxrep/blob/main/notebooks/00_quickstart.ipynb)
#
# jaxrep is a JAX / Equinox library for scientific machine learning: Koopman operators, SPIKE-regularised
# physics-informed networks (PINNs), Kolmogorov–Arnold networks (KANs) and stochastic interpolants. All
# training goes through one small trainer, `jaxrep.train.fit` (jitted steps fused with `lax.scan`,
# Optax, Orbax checkpoints, exact resume), and runs unchanged on CPU, GPU and TPU.
#
# This notebook solves the viscous Burgers equation $u_t + uu_x = \nu u_{xx}$ on $t\in[0, 0.5]$ with
# **SPIKE**: a PINN $u_\theta(x, t)$ whose observables $z = [u, g(u)]$ obey a *sparse* linear ODE
# $\dot z = Az$. Then it extrapolates to $t\in[0.5, 1]$ with the network and with the Koopman rollout
# $z(t) = e^{(t - T)A}z(T)$, compares both against the Cole–Hopf reference and looks at $A$.

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
FIGURES = pathlib.Path("_smoke", "00_quickstart") if SMOKE else None  # smoke mode saves every figure here
SEED = 0

STEPS = 150 if SMOKE else 4000            # training steps
N_RESIDUAL = 128 if SMOKE else 2048       # collocation points per step
N_OTHER = 32 if SMOKE else 256            # initial / boundary / Koopman points per step
WIDTH, DEPTH = (16, 2) if SMOKE else (32, 4)
N_X, N_T = (64, 21) if SMOKE else (256, 51)  # evaluation grid

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
# ## The problem
#
# `jr.pinn.problems` holds the PDE/ODE suite. Each problem knows its domain, its training window, the
# windows we extrapolate into, its residual and an independent reference solution.

# %%
problem = jr.pinn.problems.get("burgers")
print(problem)
print("all problems:", ", ".join(jr.pinn.problems.names()))

# %% [markdown]
# ## Solve with SPIKE
#
# `jr.pinn.solve(problem, method, config, key=...)` builds the model, trains it through
# `jaxrep.train.fit` (collocation points are resampled inside the compiled step) and scores it on an
# evaluation grid. The same options can come from a YAML file (`jaxrep solve burgers`).

# %%
from dataclasses import replace

config = jr.pinn.SolveConfig()
config = replace(
    config,
    model=replace(config.model, width_size=WIDTH, depth=DEPTH),
    fit=jr.train.FitOptions(steps_per_call=50, log_every=50),
    sampling=jr.pinn.SamplingConfig(n_residual=N_RESIDUAL, n_initial=N_OTHER, n_boundary=N_OTHER,
                                    n_koopman=N_OTHER),
    eval=jr.pinn.EvalConfig(n_x=N_X, n_t=N_T),
)
phases = jr.pinn.default_phases(steps=STEPS, learning_rate=3e-3)    # Adam; see notebook 03 for L-BFGS
solution = jr.pinn.solve(problem, "spike", config, key=jrandom.key(SEED), phases=phases,
                         progress=not SMOKE)
for name in ("rel_l2_train_window", "rel_l2_extrapolation", "rel_l2_extrapolation_koopman",
             "residual_mse_train_window", "A_sparsity"):
    print(f"{name:32s} {solution.metrics[name]:.3e}")

# %%
show(jr.plot.loss_curve(solution.history, title="SPIKE on Burgers: training"), "loss")

# %% [markdown]
# ## Error heatmaps
#
# Reference, prediction and absolute error over $(t, x)$; the dashed line is the end of the
# training window. Left of it the network interpolates, right of it it extrapolates.

# %%
show(jr.plot.pinn_solution(solution.evaluation, mode="network", title="network"), "solution_network")
show(jr.plot.pinn_solution(solution.evaluation, mode="koopman", title="Koopman rollout after t = 0.5"),
     "solution_koopman")

# %% [markdown]
# ## The generator $A$
#
# SPIKE's $\ell_1$ penalty makes $A$ sparse (crossed entries are below $10^{-3}\max|A|$); its
# eigenvalues say which modes decay, oscillate or grow during extrapolation.

# %%
A = solution.model.A()
print("A is", A.shape, "| eigenvalues:", np.round(np.linalg.eigvals(np.asarray(A)), 3))
show(jr.plot.generator_structure(A, title="SPIKE generator"), "generator")

# %%
# Point-wise predictions at any (x, t), with the network or the Koopman rollout.
x = jnp.linspace(-1.0, 1.0, 5)[:, None]
t = jnp.full((5,), 0.9)
print("network:", solution.predict(x, t)[:, 0])
print("koopman:", solution.predict(x, t, mode="koopman")[:, 0])
print("reference:", problem.reference_grid(x, t[:1])[0, :, 0])

# %% [markdown]
# Next: `01_kan.ipynb` (KANs), `02_koopman.ipynb` (Koopman operators), `03_pinn_spike.ipynb` (PINN vs PIKE
# vs SPIKE), `04_interpolants.ipynb` (stochastic interpolants).
