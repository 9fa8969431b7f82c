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
# # Kolmogorov–Arnold networks: grid extension, activations, Fourier-KAN images
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxrep/jaxrep/blob/main/notebooks/01_kan.ipynb)
#
# A KAN layer puts a learnable 1-D function on every edge,
# $y_j = b_j + \sum_i \big[w_{ij}\,\mathrm{SiLU}(x_i) + \sum_k c_{ijk}B_k(x_i)\big]$, with $B_k$ a
# B-spline (or RBF, Chebyshev, Legendre, Fourier, rational) basis evaluated by pure functions
# (`jr.nn.basis`). Because the spline grid can be refined without changing the function
# (`jr.nn.refine_grid`: knot insertion + least-squares refit), a small KAN can be trained coarse-to-fine.
#
# 1. Fit $f(x, y) = \exp(\sin\pi x + y^2)$ (the KAN paper's first example) with a $[2, 5, 1]$ KAN and
#    grid extension $G = 3 \to 5 \to 10 \to 20 \to \dots$, and look at the learned activations;
# 2. fit an image (an implicit neural representation) with a Fourier-KAN and a SIREN of the same
#    parameter count;
# 3. recover the formula of section 1's target from data: sparsify, prune, `auto_symbolic`.

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
FIGURES = pathlib.Path("_smoke", "01_kan") if SMOKE else None  # smoke mode saves every figure here
SEED = 0

GRIDS = (3, 6, 12) if SMOKE else (3, 5, 10, 20, 50)  # grid sizes of the extension schedule
STEPS_PER_GRID = 50 if SMOKE else 2000    # Adam steps at each grid size
N_TRAIN = 256 if SMOKE else 1024          # training points (full batch; a multiple of the device count)
N_TEST = 1000 if SMOKE else 10000
IMAGE_SIZE = 32 if SMOKE else 128         # side of the grey test image
INR_STEPS = 50 if SMOKE else 2000         # image-fit steps per model
N_FREQ, INR_WIDTH = (16, 32) if SMOKE else (64, 64)
SYMBOLIC_STEPS = 50 if SMOKE else 1500    # Adam steps per stage of the formula workflow (section 4)
SYMBOLIC_GRIDS = (5,) if SMOKE else (5, 10)  # grid refinements of the pruned KAN (section 4)
SEARCH_GRID = 15 if SMOKE else 41         # auto_symbolic's (a, b) search grid per zoom round
SPARSITY = 0.1                            # lambda of the sparsity penalty (section 4)
AFFINE_STEPS = 20 if SMOKE else 500       # affine-parameter training after auto_symbolic

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
# ## 1. Grid extension
#
# Each stage trains with `jr.train.fit` (full-batch Adam), then `jr.nn.refine_grid` moves every layer
# to the next grid size on the training inputs, preserving the function, and training continues.
# With several devices (a TPU has 8), `mesh=jr.train.make_mesh()` shards the batch over them:
# data-parallel training with no other change.

# %%
def target(x):
    return jnp.exp(jnp.sin(jnp.pi * x[..., :1]) + x[..., 1:2] ** 2)

k_train, k_test, k_model, k_fit = jrandom.split(jrandom.key(SEED), 4)
X = jrandom.uniform(k_train, (N_TRAIN, 2), minval=-1.0, maxval=1.0)
X_test = jrandom.uniform(k_test, (N_TEST, 2), minval=-1.0, maxval=1.0)
y, y_test = target(X), target(X_test)

n_devices = len(jax.devices())
mesh = jr.train.make_mesh() if n_devices > 1 and N_TRAIN % n_devices == 0 else None
print(f"{n_devices} device(s):", "data-parallel training over a mesh" if mesh is not None else "single device")

def mse(model, batch, key):
    x, y = batch
    return jnp.mean((jax.vmap(model)(x) - y) ** 2), {}

@eqx.filter_jit
def _rmse(model, x, y):
    return jnp.sqrt(jnp.mean((jax.vmap(model)(x) - y) ** 2))

def rmse(model, x, y):
    return float(_rmse(model, x, y))

kan = jr.nn.KAN([2, 5, 1], basis="bspline", grid_size=GRIDS[0], order=3, key=k_model)
curves, rows = [], []
for stage, grid in enumerate(GRIDS):
    if stage > 0:
        before = rmse(kan, X_test, y_test)
        kan = jr.nn.refine_grid(kan, X, grid)
        print(f"refine_grid {GRIDS[stage - 1]} -> {grid}: test RMSE {before:.2e} -> {rmse(kan, X_test, y_test):.2e}")
    optimizer = optax.adam(optax.cosine_decay_schedule(1e-2, STEPS_PER_GRID, alpha=0.1))
    kan, history = jr.train.fit(kan, mse, lambda key, step: (X, y), optimizer, steps=STEPS_PER_GRID,
                                key=jrandom.fold_in(k_fit, stage), mesh=mesh, steps_per_call=50,
                                log_every=10, progress=not SMOKE)
    curves.append((stage * STEPS_PER_GRID + history["step"], np.sqrt(history["loss"])))
    n_params = sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(kan, eqx.is_inexact_array)))
    rows.append((grid, n_params, rmse(kan, X, y), rmse(kan, X_test, y_test)))
    print(f"G = {grid:3d}: {n_params:5d} parameters, train RMSE {rows[-1][2]:.2e}, test RMSE {rows[-1][3]:.2e}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for (steps, err), grid in zip(curves, GRIDS):
    axes[0].semilogy(steps, err, label=f"G = {grid}")
axes[0].set(xlabel="step", ylabel="train RMSE", title="training with grid extension")
axes[0].legend(fontsize=8)
grids, params, train_err, test_err = map(np.array, zip(*rows))
axes[1].loglog(params, train_err, "o-", label="train")
axes[1].loglog(params, test_err, "s--", label="test")
for g, p, e in zip(grids, params, test_err):
    axes[1].annotate(f"G={g}", (p, e), textcoords="offset points", xytext=(4, 4), fontsize=8)
axes[1].set(xlabel="number of parameters", ylabel="RMSE", title="error after each stage")
axes[1].legend(fontsize=8)
for ax in axes:
    ax.grid(True, which="both", alpha=0.3)
fig.tight_layout()
show(fig, "grid_extension")

# %% [markdown]
# ## 2. Learned activations
#
# `jr.plot.kan` draws every edge function $\phi_{l,ij}$ over the range its input takes on the data;
# faint panels are unimportant edges (small $\lVert\phi_{l,ij}\rVert_1$, the score `jr.nn.prune` uses).
# For this target the first layer should show a sine in $x$ and a parabola in $y$, and the second an
# exponential.

# %%
show(jr.plot.kan(kan, X, title=f"[2, 5, 1] KAN, G = {GRIDS[-1]}"), "kan_activations")

# %% [markdown]
# ## 3. Fourier-KAN vs SIREN on an image
#
# An implicit neural representation maps pixel coordinates in $[-1, 1]^2$ to intensities. The
# Fourier-KAN (`jr.nn.FourierKAN`) learns a Fourier series on every edge of its first layer; SIREN
# (`jr.nn.SIREN`) uses sine activations with a fixed $\omega_0$. Both get the same parameter count and
# the same number of full-batch Adam steps.

# %%
image = jr.data.load_image("grace_hopper", IMAGE_SIZE)  # matplotlib's sample photograph, offline
coords, values = jr.data.image_coordinates(image)

def count(model):
    return sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))

k_fkan, k_siren, k_fit = jrandom.split(jrandom.key(SEED + 1), 3)
fkan = jr.nn.FourierKAN(2, 1, N_FREQ, INR_WIDTH, 3, jax.nn.gelu, key=k_fkan)
budget = count(fkan)
# the SIREN width whose parameter count is closest to the Fourier-KAN's
siren_width = min(range(8, 1025), key=lambda w: abs(3 * w + 2 * (w * w + w) + w + 1 - budget))
siren = jr.nn.SIREN(2, 1, siren_width, 3, 30.0, key=k_siren)
print(f"FourierKAN: {count(fkan)} parameters | SIREN (width {siren_width}): {count(siren)} parameters")

panels, histories = {"target": image}, {}
for name, model, lr in (("FourierKAN", fkan, 2e-3), ("SIREN", siren, 2e-4)):
    model, history = jr.train.fit(model, mse, lambda key, step: (coords, values), optax.adam(lr),
                                  steps=INR_STEPS, key=k_fit, steps_per_call=50, log_every=10,
                                  progress=not SMOKE)
    pred = jnp.clip(jax.vmap(model)(coords).reshape(image.shape), 0, 1)
    score = float(jr.data.psnr(pred, image))
    panels[f"{name}: PSNR {score:.2f} dB"] = pred
    histories[name] = history
    print(f"{name:10s} PSNR {score:.2f} dB, SSIM {float(jr.data.ssim(pred, image)):.3f}")
show(jr.plot.image_reconstruction(panels, title=f"{IMAGE_SIZE}x{IMAGE_SIZE} image, {INR_STEPS} steps"),
     "image_fit")

fig, ax = plt.subplots(figsize=(6, 4))
for name, history in histories.items():
    ax.semilogy(history["step"], history["loss"], label=name)
ax.set(xlabel="step", ylabel="pixel MSE", title="image fit")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
show(fig, "image_loss")


# %% [markdown]
# ## 4. From a KAN to a formula
#
# The KAN paper's workflow turns the network of section 1 into $\exp(\sin\pi x + y^2)$:
#
# 1. train a $[2, 5, 1]$ KAN with the sparsity penalty $\lambda\,(\sum_l|\Phi_l|_1 + 2\sum_l S(\Phi_l))$
#    (`jr.nn.kan_regularization`), so that few edges carry the function;
# 2. `jr.nn.prune` removes the idle hidden nodes (and *masks* weak edges: they stay zero from then on);
# 3. refine the grid and train on (no penalty);
# 4. `jr.nn.auto_symbolic` fits every edge by $c\,f(a x + b) + d$ over a library of functions and
#    keeps the best where $R^2 \ge 0.99$; the affine parameters keep training through `fit`
#    (Adam, then the dense quasi-Newton `jr.train.bfgs`);
# 5. `jr.nn.symbolic_formula` writes the result with sympy.
#
# The same pipeline on your own data file is `jaxrep run kan_symbolic --set data.path=samples.npz`.

# %%
def penalised(lam):
    def loss(model, batch, key):
        x, y = batch
        fit_term = jnp.mean((jax.vmap(model)(x) - y) ** 2)
        return (fit_term + lam * jr.nn.kan_regularization(model, x) if lam else fit_term), {}
    return loss

def train(model, loss, steps, optimizer, key):
    model, _ = jr.train.fit(model, loss, lambda key, step: (X, y), optimizer, steps=steps, key=key,
                            steps_per_call=50, progress=not SMOKE)
    return model

sched = lambda: optax.adam(optax.cosine_decay_schedule(1e-2, SYMBOLIC_STEPS, alpha=0.01))
sparse = jr.nn.KAN([2, 5, 1], grid_size=3, key=jrandom.fold_in(k_model, 1))
sparse = train(sparse, penalised(SPARSITY), SYMBOLIC_STEPS, sched(), jrandom.fold_in(k_fit, 10))
pruned = jr.nn.prune(sparse, X, node_threshold=1e-2, edge_threshold=3e-2)
print("widths after pruning:", pruned.spec)
for stage, grid in enumerate(SYMBOLIC_GRIDS):
    pruned = jr.nn.refine_grid(pruned, X, grid)
    pruned = train(pruned, penalised(0.0), SYMBOLIC_STEPS, sched(), jrandom.fold_in(k_fit, 11 + stage))
print(f"pruned KAN, G = {SYMBOLIC_GRIDS[-1]}: test RMSE {rmse(pruned, X_test, y_test):.2e}")

symbolic = jr.nn.auto_symbolic(pruned, X, r2_threshold=0.99, grid=SEARCH_GRID, verbose=True)
affine = jr.train.fit(symbolic, penalised(0.0), lambda key, step: (X, y), key=jrandom.fold_in(k_fit, 20),
                      phases=[jr.train.Phase(optax.adam(1e-3), AFFINE_STEPS, name="adam"),
                              jr.train.Phase(jr.train.bfgs(), AFFINE_STEPS // 2, resample=False, name="bfgs")],
                      steps_per_call=50, progress=not SMOKE)[0]
print(f"symbolic KAN: test RMSE {rmse(symbolic, X_test, y_test):.2e} when fixed, "
      f"{rmse(affine, X_test, y_test):.2e} after training the affine parameters")
live = [np.asarray(layer.live) for layer in affine.kan.layers]
if all(bool(np.all(np.asarray(m) | ~l)) for m, l in zip(affine.masks, live)):
    (formula,) = jr.nn.symbolic_formula(affine, names=("x", "y"), digits=4)
    print("formula:", formula)
else:
    print("some edges are not symbolic (R^2 < 0.99): no formula")

# %%
show(jr.plot.kan(pruned, X, title=f"pruned KAN {pruned.spec}, G = {SYMBOLIC_GRIDS[-1]}"), "kan_pruned")
