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
# # Stochastic interpolants: ODE and SDE generative models, in 2-D and on images
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxrep/jaxrep/blob/main/notebooks/04_interpolants.ipynb)
#
# A stochastic interpolant $x_t = \alpha(t)x_0 + \beta(t)x_1 + \gamma(t)z$ bridges two distributions
# $\rho_0$ and $\rho_1$. The velocity $b(t, x) = \mathbb E[\dot x_t \mid x_t = x]$ and the denoiser
# $\eta(t, x) = \mathbb E[\xi \mid x_t = x]$ minimise simple quadratic losses; then the ODE
# $\dot X = b(t, X)$ and the SDEs $dX = (b \pm \epsilon s)dt + \sqrt{2\epsilon}dW$ (with the score
# $s = -\eta/\sigma$) carry $\rho_0$ to $\rho_1$, and the ODE gives exact likelihoods.
#
# 1. Gaussian $\to$ checkerboard: ODE vs SDE sampling, the likelihood heatmap and the NLL against the
#    exact $\ln 32 \approx 3.466$ nats;
# 2. 8 Gaussians $\to$ moons (two-sided, no Gaussian base): independent vs minibatch optimal-transport
#    coupling, scored by $W_2$ after one and four Euler steps and by the straightness of the paths;
# 3. a multimarginal interpolant joining four distributions on the simplex, and a transport path
#    optimised through `jaxrep.train.fit`;
# 4. images: a class-conditional interpolant with a U-Net field on scikit-learn's 8x8 digits, scored by
#    held-out bits per dimension and by a classifier that reads the generated digits.

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
FIGURES = pathlib.Path("_smoke", "04_interpolants") if SMOKE else None  # smoke mode saves every figure here
SEED = 0

STEPS = 100 if SMOKE else 8000            # training steps per model (checkerboard)
BATCH = 128 if SMOKE else 1024            # samples per step (a multiple of the device count)
WIDTH, DEPTH = (64, 2) if SMOKE else (128, 3)
MOONS_STEPS = 60 if SMOKE else 3000       # 8 Gaussians -> moons, per coupling (batch 256, MLP 3 x 64)
N_SAMPLES = 256 if SMOKE else 5000        # generated samples
ODE_STEPS = 16 if SMOKE else None         # None: adaptive Tsit5; else fixed Heun steps
SDE_STEPS = 16 if SMOKE else 500          # Euler-Maruyama steps
N_GRID = 16 if SMOKE else 120             # likelihood heatmap resolution per axis
N_NLL = 100 if SMOKE else 2000            # test points for the NLL
MM_STEPS = 100 if SMOKE else 6000         # multimarginal training steps
PATH_STEPS = 10 if SMOKE else 300         # path optimisation steps
DIGITS_STEPS = 10 if SMOKE else 400       # U-Net interpolant training steps on the 8x8 digits (batch 64)
CLASSIFIER_STEPS = 20 if SMOKE else 1500  # steps of the MLP classifier that scores generated digits
PER_CLASS = 4 if SMOKE else 40            # generated digits per class
N_NLL_DIGITS = 2 if SMOKE else 16         # held-out digits for bits/dim (exact divergence; smoke: 1 probe)
UNET_SIZE = (dict(hidden_channels=8, channel_mults=(1,), groups=4) if SMOKE  # one level: compiles faster
             else dict(hidden_channels=16, channel_mults=(1, 2), groups=8))

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
import diffrax

ode_kwargs = {} if ODE_STEPS is None else {"steps": ODE_STEPS, "solver": diffrax.Heun()}
n_devices = len(jax.devices())
# With several devices (a TPU has 8), shard every batch over them and replicate the model:
# jr.train.fit(..., mesh=...) is all it takes. On one device, mesh=None.
MESH = jr.train.make_mesh() if n_devices > 1 and BATCH % n_devices == 0 else None
print(f"{n_devices} device(s):", "data-parallel training over a mesh" if MESH is not None else "single device")


def time_field(dim, key, time_frequencies=2):
    net = jr.nn.MLP(jr.interpolants.TimeField.in_size(dim, time_frequencies), dim, WIDTH, DEPTH,
                    jax.nn.silu, key=key)
    return jr.interpolants.TimeField(net, time_frequencies)


def adam(steps, lr=2e-3):
    return optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.05))


# %% [markdown]
# ## 1. Gaussian $\to$ checkerboard
#
# A one-sided interpolant $x_t = (1 - t)x_0 + tx_1$ with $x_0\sim\mathcal N(0, I)$. One model holds the
# velocity $b$ and the denoiser $\eta$; a pure sampler draws fresh $(x_0, x_1)$ inside the compiled
# step, and `jr.train.fit` trains both losses together, keeping an exponential moving average of the
# weights (`jr.train.ema`) that we sample from.

# %%
checker = jr.data.Checkerboard()
I = jr.interpolants.one_sided("linear")

def sample_pairs(key, step):
    k0, k1 = jrandom.split(key)
    return {"x0": jrandom.normal(k0, (BATCH, 2)), "x1": checker.sample(BATCH, key=k1)}

def loss_fn(model, batch, key):
    b, eta = model
    kb, ke = jrandom.split(key)
    lb = jr.interpolants.velocity_loss(b, I, batch["x0"], batch["x1"], key=kb)
    le = jr.interpolants.denoiser_loss(eta, I, batch["x0"], batch["x1"], key=ke)
    return lb + le, {"velocity": lb, "denoiser": le}

kb, ke, kfit = jrandom.split(jrandom.key(SEED), 3)
model = (time_field(2, kb), time_field(2, ke))
# jr.train.ema keeps a moving average of the weights in the optimiser state: we sample from it
model, history, opt_state = jr.train.fit(model, loss_fn, sample_pairs, jr.train.ema(adam(STEPS), 0.999),
                                         steps=STEPS, key=kfit, mesh=MESH, steps_per_call=50, log_every=25,
                                         progress=not SMOKE, return_opt_state=True)
b, eta = jr.train.ema_model(model, opt_state)
show(jr.plot.loss_curve(history, title="checkerboard: velocity + denoiser losses"), "checkerboard_loss")

# %% [markdown]
# ### ODE vs SDE sampling
#
# The probability-flow ODE is deterministic; the SDE adds noise $\sqrt{2\epsilon(t)}dW$ and corrects
# the drift with the score, with the same marginals $\rho_t$. We let $\epsilon(t) = (1 - t)$ vanish
# at $t = 1$, where the one-sided score $-\eta/(1 - t)$ is singular. The kernel MMD to fresh data
# measures the quality of each.

# %%
k0, kdata, ksde = jrandom.split(jrandom.key(SEED + 1), 3)
x0 = jrandom.normal(k0, (N_SAMPLES, 2))
data = checker.sample(N_SAMPLES, key=kdata)
paths = jr.interpolants.sample(b, x0, method="ode", ts=jnp.linspace(0, 1, 21), **ode_kwargs)
x1_ode = paths[:, -1]  # (N_SAMPLES, 21, 2): the whole ODE path, saved at 21 times
x1_sde = jr.interpolants.sample(b, x0, I, method="sde", denoiser=eta, eps=lambda t: 1.0 - t,
                                steps=SDE_STEPS, key=ksde)
print(f"MMD^2 to data: ODE {float(jr.interpolants.mmd(x1_ode, data)):.2e} | "
      f"SDE {float(jr.interpolants.mmd(x1_sde, data)):.2e}")
show(jr.plot.samples(data, x1_ode, titles=("checkerboard data", "ODE samples")), "checkerboard_ode")
show(jr.plot.samples(data, x1_sde, titles=("checkerboard data", "SDE samples")), "checkerboard_sde")
show(jr.plot.trajectories(paths[:200]), "checkerboard_paths")

# %% [markdown]
# ### Likelihood
#
# `jr.interpolants.log_likelihood` integrates the divergence of $b$ backwards along the ODE
# (instantaneous change of variables). The exact NLL of the checkerboard is $\ln 32 \approx 3.466$
# nats; a learned model is always above it (it is a cross-entropy).

# %%
lim = 4.0
g = np.linspace(-lim, lim, N_GRID)
grid = jnp.asarray(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2))
test = checker.sample(N_NLL, key=jrandom.key(SEED + 2))
logp = jr.interpolants.log_likelihood(b, jnp.concatenate([grid, test]), I, **ode_kwargs)
logp_grid, logp_test = logp[: N_GRID**2], logp[N_GRID**2 :]
show(jr.plot.density(np.asarray(logp_grid).reshape(N_GRID, N_GRID), (-lim, lim, -lim, lim),
                     title="learned density (checkerboard)"), "checkerboard_density")
nll = -float(jnp.mean(logp_test))
print(f"NLL on test data: {nll:.3f} nats (exact: ln 32 = {np.log(32):.3f})")

# %% [markdown]
# ## 2. 8 Gaussians $\to$ moons: independent vs optimal-transport coupling
#
# A two-sided linear interpolant $x_t = (1 - t)x_0 + tx_1$ between two data sets (no Gaussian base).
# With *independent* pairs $(x_0, x_1)$ the paths of the learned ODE cross and bend, so a few Euler steps
# land far from the target. Re-pairing each minibatch by **exact optimal transport**
# (`jr.interpolants.ExactOT()`: the permutation of $x_1$ minimising $\sum_i|x_0^i-x_1^{\sigma(i)}|^2$,
# passed as `coupling=` to the loss) makes the learned paths nearly straight: one Euler step already
# gives good samples. Both models start from the same weights, see the same data and keep an
# exponential moving average of their weights (`jr.train.ema`), which is what we sample from.
# Scores: $W_2$ to fresh moons after 1 and 4 Euler steps and with the adaptive solver
# (`jr.interpolants.wasserstein2`, exact assignment on 2000 points: two fresh moons samples are already
# ~0.23 apart), and the straightness $\int_0^1\mathbb E|X_1 - X_0 - b(t, X_t)|^2dt$ (0 for straight
# paths travelled at constant speed).

# %%
source, target = jr.data.EightGaussians(), jr.data.Moons()
I2 = jr.interpolants.linear()

def sample_endpoints(key, step):
    k0, k1 = jrandom.split(key)
    return source.sample(256, key=k0), target.sample(256, key=k1)

def moons_loss(coupling):
    def loss(b, batch, key):
        return jr.interpolants.velocity_loss(b, I2, *batch, key=key, coupling=coupling), {}
    return loss

k0, k1 = jrandom.split(jrandom.key(SEED + 4))
x0 = source.sample(N_SAMPLES, key=k0)
moons = target.sample(N_SAMPLES, key=k1)
n_w2 = min(N_SAMPLES, 2000)
kb, kfit = jrandom.split(jrandom.key(SEED + 3))  # the same initial weights and data for both couplings
moons_fields, moons_paths = {}, {}
for name, coupling in (("independent", None), ("exact OT", jr.interpolants.ExactOT())):
    b2 = jr.interpolants.TimeField(jr.nn.MLP(3, 2, 64, 3, jax.nn.silu, key=kb))
    b2, _, opt_state = jr.train.fit(b2, moons_loss(coupling), sample_endpoints,
                                    jr.train.ema(optax.adam(1e-3), 0.999), steps=MOONS_STEPS, key=kfit,
                                    steps_per_call=50, log_every=50, progress=not SMOKE,
                                    return_opt_state=True)
    b2 = jr.train.ema_model(b2, opt_state)
    moons_fields[name] = b2
    moons_paths[name] = jr.interpolants.sample(b2, x0, method="ode", ts=jnp.linspace(0, 1, 21), **ode_kwargs)
    w2 = jr.interpolants.wasserstein2_euler(b2, x0[:n_w2], moons[:n_w2], steps=(1, 4))
    w2_ode = jr.interpolants.wasserstein2(moons_paths[name][:n_w2, -1], moons[:n_w2])
    s = float(jr.interpolants.straightness(b2, x0[:500], steps=ODE_STEPS))
    print(f"{name:12s} W2 1 Euler step {w2[1]:.3f} | 4 steps {w2[4]:.3f} | adaptive {w2_ode:.3f} | "
          f"straightness {s:.3f}")
print(f"W2(fresh moons, moons) = {jr.interpolants.wasserstein2(target.sample(n_w2, key=jrandom.key(SEED + 10)), moons[:n_w2]):.3f}"
      " (the estimator's floor)")

# %%
fig, axes = plt.subplots(2, 3, figsize=(13, 8.5), sharex=True, sharey=True)
for row, (name, b2) in enumerate(moons_fields.items()):
    paths = np.asarray(moons_paths[name])
    one_step = np.asarray(x0 + jax.vmap(lambda x: b2(0.0, x))(x0))  # one Euler step of size 1
    ax = axes[row, 0]
    for path in paths[:150]:
        ax.plot(path[:, 0], path[:, 1], color="0.5", lw=0.5, alpha=0.6)
    ax.scatter(paths[:150, 0, 0], paths[:150, 0, 1], s=4, c="k", label="x0 (8 Gaussians)")
    ax.scatter(paths[:150, -1, 0], paths[:150, -1, 1], s=4, c="tab:blue", label="X1 (ODE)")
    ax.set_title(f"{name}: ODE paths")
    axes[row, 1].scatter(*np.asarray(moons[:1000]).T, s=2, c="0.75", label="moons data")
    axes[row, 1].scatter(*one_step[:1000].T, s=2, c="tab:red", label="1 Euler step")
    axes[row, 1].set_title(f"{name}: one Euler step")
    axes[row, 2].scatter(*np.asarray(moons[:1000]).T, s=2, c="0.75", label="moons data")
    axes[row, 2].scatter(*paths[:1000, -1].T, s=2, c="tab:blue", label="adaptive ODE")
    axes[row, 2].set_title(f"{name}: adaptive solver")
    for ax in axes[row]:
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.legend(loc="lower left", fontsize=8, markerscale=3)
fig.tight_layout()
show(fig, "moons_coupling")

# %% [markdown]
# ## 3. Multimarginal: four distributions on one simplex
#
# With samples $x_k\sim\rho_k$, $k = 0..3$ ($\rho_0 = \mathcal N(0, I)$, 8 Gaussians, moons,
# checkerboard) the interpolant $x(\alpha) = \sum_k\alpha_kx_k$ lives on the simplex $\Delta^3$. One
# network learns $g_k(\alpha, x) = \mathbb E[x_k\mid x(\alpha) = x]$; any path $\alpha(t)$ then gives
# a transport $\dot X = \sum_k\dot\alpha_k g_k(\alpha, X)$. Pushing the same Gaussian points to each
# vertex gives a four-way correspondence.

# %%
marginals = [jr.data.Gaussian(), jr.data.EightGaussians(), jr.data.Moons(), jr.data.Checkerboard()]
K1 = len(marginals)

def sample_tuples(key, step):
    keys = jrandom.split(key, K1)
    return jnp.stack([m.sample(BATCH, key=k) for m, k in zip(marginals, keys)], axis=1)  # (B, K1, 2)

def mm_loss(g, xs, key):
    return jr.interpolants.multimarginal_loss(g, xs, key=key), {}

kg, kfit = jrandom.split(jrandom.key(SEED + 5))
net = jr.nn.MLP(2 + K1, K1 * 2, WIDTH, DEPTH, jax.nn.silu, key=kg)
g = jr.interpolants.Multimarginal(net, K1, 2)
g, mm_history = jr.train.fit(g, mm_loss, sample_tuples, adam(MM_STEPS), steps=MM_STEPS, key=kfit,
                             mesh=MESH, steps_per_call=50, log_every=25, progress=not SMOKE)

z = marginals[0].sample(N_SAMPLES // 2, key=jrandom.key(SEED + 6))
images = [z] + [jr.interpolants.transport(g, z, jr.interpolants.SimplexEdge(0, k, K1), **ode_kwargs)
                for k in range(1, K1)]
show(jr.plot.correspondence(jnp.stack(images), labels=["Gaussian", "8 Gaussians", "moons", "checkerboard"]),
     "multimarginal_correspondence")

# %% [markdown]
# ### Choosing the path
#
# The kinetic cost $\int_0^1\mathbb E|\sum_k\dot\alpha_kg_k|^2dt$ depends on the path. We compare the
# straight edge 8 Gaussians $\to$ moons with a quadratic Bézier path whose control point is *learned*
# by minimising `jr.interpolants.transport_cost` with `jr.train.fit` (the fields $g$ stay fixed).

# %%
edge = jr.interpolants.SimplexEdge(1, 2, K1)
bezier = jr.interpolants.BezierSimplexPath(jnp.zeros(K1), 1, 2)
g_fixed = jax.lax.stop_gradient(g)

def path_loss(path, xs, key):
    return jr.interpolants.transport_cost(g_fixed, xs, path), {}

bezier, path_history = jr.train.fit(bezier, path_loss, sample_tuples, optax.adam(5e-2), steps=PATH_STEPS,
                                    key=jrandom.key(SEED + 7), steps_per_call=10, progress=not SMOKE)
xs = sample_tuples(jrandom.key(SEED + 8), 0)
for name, path in (("straight edge", edge), ("learned Bezier path", bezier)):
    print(f"{name:20s} transport cost {float(jr.interpolants.transport_cost(g, xs, path)):.3f}")
print("learned control point (Gaussian, 8 Gaussians, moons, checkerboard):",
      np.round(np.asarray(bezier.control_point()), 3))

x_start = marginals[1].sample(N_SAMPLES // 2, key=jrandom.key(SEED + 9))
along_edge = jr.interpolants.transport(g, x_start, edge, **ode_kwargs)
along_bezier = jr.interpolants.transport(g, x_start, bezier, **ode_kwargs)
show(jr.plot.samples(along_edge, along_bezier, titles=("8 Gaussians -> moons: straight edge",
                                                       "learned Bezier path")), "multimarginal_paths")

# %% [markdown]
# ## 4. Images: class-conditional digits with a U-Net field
#
# The same one-sided interpolant $x_t = (1 - t)x_0 + tx_1$, now with $x_1$ an 8x8 grey digit from
# scikit-learn (17 levels, no download), flattened to $d = 64$ and uniformly dequantised to $[-1, 1)$
# afresh in every step, and $x_0\sim\mathcal N(0, I_{64})$. The velocity $b(t, x, y)$ is a small
# `jr.nn.UNet` seen as a vector field by `jr.interpolants.ImageField`, conditioned on the class $y$
# through `jr.interpolants.condition`. Two scores that need no download: the held-out negative
# log-likelihood in **bits per dimension** (probability-flow ODE with the exact divergence; uniform
# noise over the 17 levels scores $\log_2 17 = 4.09$), and the accuracy with which an MLP classifier,
# trained here on real digits, recognises each *generated* digit as the class it was asked for.
# (`jaxrep run interpolant_digits` is the same experiment as a config file.)

# %%
from sklearn.datasets import load_digits

if SMOKE:  # without XLA's optimisations the U-Net's convolutions run ~20x slower: sampling would dominate
    jax.config.update("jax_disable_most_optimizations", False)

digits = load_digits()
LEVELS, SHAPE = 17, (1, 8, 8)
v_all = digits.images.astype(np.int32).reshape(len(digits.target), -1)  # (1797, 64) grey levels 0..16
y_all = digits.target.astype(np.int32)
perm = np.random.default_rng(SEED).permutation(len(y_all))
test_idx, train_idx = perm[:360], perm[360:]
v_train, y_train = jnp.asarray(v_all[train_idx]), jnp.asarray(y_all[train_idx])
v_test, y_test = jnp.asarray(v_all[test_idx]), jnp.asarray(y_all[test_idx])


def real_digits(key, n):
    """`n` training digits, dequantised afresh, and their labels."""
    k_idx, k_deq = jrandom.split(key)
    idx = jrandom.randint(k_idx, (n,), 0, v_train.shape[0])
    return jr.interpolants.dequantize(v_train[idx], LEVELS, key=k_deq, dtype=jnp.float32), y_train[idx]


def digit_batch(key, step):
    k_data, k0 = jrandom.split(key)
    x1, y = real_digits(k_data, 64)
    return jrandom.normal(k0, x1.shape), x1, y


def digits_loss(b, batch, key):
    x0, x1, y = batch  # one velocity loss per image, each with its own class label
    per_image = jax.vmap(lambda a, c, label, k: jr.interpolants.velocity_loss(
        jr.interpolants.condition(b, label), I, a[None], c[None], key=k))(x0, x1, y, jrandom.split(key, len(y)))
    return jnp.mean(per_image), {}


k_net, k_fit, k_clf, k_gen, k_nll = jrandom.split(jrandom.key(SEED + 11), 5)
unet = jr.nn.UNet(1, 1, num_res_blocks=1, num_classes=10, key=k_net, **UNET_SIZE)
b_img = jr.interpolants.ImageField(unet, SHAPE)
schedule = optax.warmup_cosine_decay_schedule(0.0, 2e-3, max(1, DIGITS_STEPS // 4), DIGITS_STEPS)
b_img, digits_history = jr.train.fit(b_img, digits_loss, digit_batch, optax.adam(schedule), steps=DIGITS_STEPS,
                                     key=k_fit, steps_per_call=min(50, DIGITS_STEPS), progress=not SMOKE)

# The judge: an MLP classifier on dequantised real digits, trained through the same `fit`.
def classifier_loss(net, batch, key):
    x, y = batch
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(jax.vmap(net)(x), y)), {}

k_clf_init, k_clf_fit = jrandom.split(k_clf)
clf = jr.nn.MLP(64, 10, 128, 2, jax.nn.relu, key=k_clf_init)
clf, _ = jr.train.fit(clf, classifier_loss, lambda key, step: real_digits(key, 128),
                      optax.adamw(1e-3, weight_decay=1e-4), steps=CLASSIFIER_STEPS, key=k_clf_fit,
                      steps_per_call=min(250, CLASSIFIER_STEPS), progress=False)
predict = eqx.filter_jit(lambda net, x: jnp.argmax(jax.vmap(net)(x), axis=-1))
k_deq, k_nll = jrandom.split(k_nll)
x_test = jr.interpolants.dequantize(v_test, LEVELS, key=k_deq, dtype=jnp.float32)
print(f"classifier accuracy on held-out real digits: {float(jnp.mean(predict(clf, x_test) == y_test)):.3f}")

# %%
generate = eqx.filter_jit(lambda b, x0, label: jr.interpolants.sample(
    jr.interpolants.condition(b, label), x0, I, solver=diffrax.Heun(), steps=32))
generated, accuracy = [], []
for c in range(10):
    xs = generate(b_img, jrandom.normal(jrandom.fold_in(k_gen, c), (PER_CLASS, 64)), jnp.asarray(c))
    generated.append(np.asarray(xs))
    accuracy.append(float(jnp.mean(predict(clf, xs) == c)))
print("generated digits read as their requested class:", " ".join(f"{c}: {a:.2f}" for c, a in enumerate(accuracy)),
      f"| mean {np.mean(accuracy):.3f}")

# Held-out bits/dim: log p(x | y) by the probability-flow ODE with the exact divergence (64 jvps per
# evaluation); smoke mode uses one Hutchinson probe and a few fixed steps instead.
nll_opts = dict(hutchinson_probes=1, steps=4, solver=diffrax.Heun()) if SMOKE else dict(rtol=1e-3, atol=1e-3)
logp_digits = eqx.filter_jit(lambda b, x, y, keys: jax.vmap(lambda x, y, k: jr.interpolants.log_likelihood(
    jr.interpolants.condition(b, y), x, I, key=k, **nll_opts))(x, y, keys))(
    b_img, x_test[:N_NLL_DIGITS], y_test[:N_NLL_DIGITS], jrandom.split(k_nll, N_NLL_DIGITS))
bpd = np.asarray([float(jr.interpolants.bits_per_dim(v, 64, LEVELS)) for v in logp_digits])
print(f"held-out NLL: {bpd.mean():.2f} ± {bpd.std(ddof=1) / np.sqrt(len(bpd)):.2f} bits/dim "
      f"(uniform over the {LEVELS} levels: {np.log2(LEVELS):.2f})")

real = [(np.asarray(v_test[y_test == c][:PER_CLASS]) + 0.5) / LEVELS * 2 - 1 for c in range(10)]  # level centres
show(jr.plot.image_samples([real, generated], SHAPE, titles=("held-out digits", "generated (rows: requested class)"),
                           row_labels=list(range(10)), columns=min(8, PER_CLASS)), "digits_samples")
