"""Generate the jaxrep notebooks (`python notebooks/_build.py`).

The `.ipynb` files are what is committed and executed (CI runs them in smoke mode through
`tests/test_notebooks.py`); this script is their single source, so that the shared first cells (install,
parameters, figure helper) stay identical across notebooks. Notebooks are written without outputs.

Every figure is shown with `show(fig, "name")`, which in smoke mode (`JAXREP_SMOKE=1`) also saves it as
`notebooks/_smoke/<notebook>/<name>.png`. The names are collected from the cells and stored in the
notebook metadata (`metadata.jaxrep.smoke_figures`) for the test to check.
"""

from __future__ import annotations

import pathlib
import re
import textwrap

import nbformat

HERE = pathlib.Path(__file__).resolve().parent
REPO = "jaxrep/jaxrep"  # GitHub owner/name: to be confirmed; regenerate the notebooks after changing it
PIP_SPEC = f"jaxrep[dev] @ git+https://github.com/{REPO}.git"


def md(text: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str):
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


def header(name: str, title: str, intro: str):
    badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"(https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{name}.ipynb)")
    return [
        md(f"# {title}\n\n{badge}\n\n{textwrap.dedent(intro).strip()}"),
        code(f'''
            # Installs jaxrep when it is not importable (e.g. on Colab); edit to pin another version.
            JAXREP_PIP = "{PIP_SPEC}"

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
        '''),
    ]


def params(name: str, body: str):
    """The parameters cell: `SMOKE` from the environment and every size derived from it."""
    head = textwrap.dedent(f'''
        import os
        import pathlib

        # JAXREP_SMOKE=1 (CI): tiny sizes that run on a CPU in well under a minute. Default: sizes
        # that give meaningful results on an accelerator (a Colab TPU or a GPU).
        SMOKE = os.environ.get("JAXREP_SMOKE", "0") == "1"
        if SMOKE:
            # A few hundred steps at most: compile time dominates, so skip most XLA optimisations.
            jax.config.update("jax_disable_most_optimizations", True)
        FIGURES = pathlib.Path("_smoke", "{name}") if SMOKE else None  # smoke mode saves every figure here
        SEED = 0
    ''').strip()
    return nbformat.v4.new_code_cell(head + "\n\n" + textwrap.dedent(body).strip())


HELPERS = code('''
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
''')


# --------------------------------------------------------------------------------------------------
# 00: quickstart

QUICKSTART = [
    *header("00_quickstart", "jaxrep quickstart: a PDE solved with SPIKE", """
        jaxrep is a JAX / Equinox library for scientific machine learning: Koopman operators, SPIKE-regularised
        physics-informed networks (PINNs), Kolmogorov–Arnold networks (KANs) and stochastic interpolants. All
        training goes through one small trainer, `jaxrep.train.fit` (jitted steps fused with `lax.scan`,
        Optax, Orbax checkpoints, exact resume), and runs unchanged on CPU, GPU and TPU.

        This notebook solves the viscous Burgers equation $u_t + uu_x = \\nu u_{xx}$ on $t\\in[0, 0.5]$ with
        **SPIKE**: a PINN $u_\\theta(x, t)$ whose observables $z = [u, g(u)]$ obey a *sparse* linear ODE
        $\\dot z = Az$. Then it extrapolates to $t\\in[0.5, 1]$ with the network and with the Koopman rollout
        $z(t) = e^{(t - T)A}z(T)$, compares both against the Cole–Hopf reference and looks at $A$.
    """),
    params("00_quickstart", """
        STEPS = 150 if SMOKE else 4000            # training steps
        N_RESIDUAL = 128 if SMOKE else 2048       # collocation points per step
        N_OTHER = 32 if SMOKE else 256            # initial / boundary / Koopman points per step
        WIDTH, DEPTH = (16, 2) if SMOKE else (32, 4)
        N_X, N_T = (64, 21) if SMOKE else (256, 51)  # evaluation grid
    """),
    HELPERS,
    md("""
        ## The problem

        `jr.pinn.problems` holds the PDE/ODE suite. Each problem knows its domain, its training window, the
        windows we extrapolate into, its residual and an independent reference solution.
    """),
    code('''
        problem = jr.pinn.problems.get("burgers")
        print(problem)
        print("all problems:", ", ".join(jr.pinn.problems.names()))
    '''),
    md("""
        ## Solve with SPIKE

        `jr.pinn.solve(problem, method, config, key=...)` builds the model, trains it through
        `jaxrep.train.fit` (collocation points are resampled inside the compiled step) and scores it on an
        evaluation grid. The same options can come from a YAML file (`jaxrep solve burgers`).
    """),
    code('''
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
    '''),
    code('''
        show(jr.plot.loss_curve(solution.history, title="SPIKE on Burgers: training"), "loss")
    '''),
    md("""
        ## Error heatmaps

        Reference, prediction and absolute error over $(t, x)$; the dashed line is the end of the
        training window. Left of it the network interpolates, right of it it extrapolates.
    """),
    code('''
        show(jr.plot.pinn_solution(solution.evaluation, mode="network", title="network"), "solution_network")
        show(jr.plot.pinn_solution(solution.evaluation, mode="koopman", title="Koopman rollout after t = 0.5"),
             "solution_koopman")
    '''),
    md("""
        ## The generator $A$

        SPIKE's $\\ell_1$ penalty makes $A$ sparse (crossed entries are below $10^{-3}\\max|A|$); its
        eigenvalues say which modes decay, oscillate or grow during extrapolation.
    """),
    code('''
        A = solution.model.A()
        print("A is", A.shape, "| eigenvalues:", np.round(np.linalg.eigvals(np.asarray(A)), 3))
        show(jr.plot.generator_structure(A, title="SPIKE generator"), "generator")
    '''),
    code('''
        # Point-wise predictions at any (x, t), with the network or the Koopman rollout.
        x = jnp.linspace(-1.0, 1.0, 5)[:, None]
        t = jnp.full((5,), 0.9)
        print("network:", solution.predict(x, t)[:, 0])
        print("koopman:", solution.predict(x, t, mode="koopman")[:, 0])
        print("reference:", problem.reference_grid(x, t[:1])[0, :, 0])
    '''),
    md("""
        Next: `01_kan.ipynb` (KANs), `02_koopman.ipynb` (Koopman operators), `03_pinn_spike.ipynb` (PINN vs PIKE
        vs SPIKE), `04_interpolants.ipynb` (stochastic interpolants).
    """),
]



# --------------------------------------------------------------------------------------------------
# 01: KAN

KAN = [
    *header("01_kan", "Kolmogorov–Arnold networks: grid extension, activations, Fourier-KAN images", """
        A KAN layer puts a learnable 1-D function on every edge,
        $y_j = b_j + \\sum_i \\big[w_{ij}\\,\\mathrm{SiLU}(x_i) + \\sum_k c_{ijk}B_k(x_i)\\big]$, with $B_k$ a
        B-spline (or RBF, Chebyshev, Legendre, Fourier, rational) basis evaluated by pure functions
        (`jr.nn.basis`). Because the spline grid can be refined without changing the function
        (`jr.nn.refine_grid`: knot insertion + least-squares refit), a small KAN can be trained coarse-to-fine.

        1. Fit $f(x, y) = \\exp(\\sin\\pi x + y^2)$ (the KAN paper's first example) with a $[2, 5, 1]$ KAN and
           grid extension $G = 3 \\to 5 \\to 10 \\to 20 \\to \\dots$, and look at the learned activations;
        2. fit an image (an implicit neural representation) with a Fourier-KAN and a SIREN of the same
           parameter count;
        3. recover the formula of section 1's target from data: sparsify, prune, `auto_symbolic`.
    """),
    params("01_kan", """
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
    """),
    HELPERS,
    md("""
        ## 1. Grid extension

        Each stage trains with `jr.train.fit` (full-batch Adam), then `jr.nn.refine_grid` moves every layer
        to the next grid size on the training inputs, preserving the function, and training continues.
        With several devices (a TPU has 8), `mesh=jr.train.make_mesh()` shards the batch over them:
        data-parallel training with no other change.
    """),
    code('''
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
    '''),
    code('''
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
    '''),
    md("""
        ## 2. Learned activations

        `jr.plot.kan` draws every edge function $\\phi_{l,ij}$ over the range its input takes on the data;
        faint panels are unimportant edges (small $\\lVert\\phi_{l,ij}\\rVert_1$, the score `jr.nn.prune` uses).
        For this target the first layer should show a sine in $x$ and a parabola in $y$, and the second an
        exponential.
    """),
    code('''
        show(jr.plot.kan(kan, X, title=f"[2, 5, 1] KAN, G = {GRIDS[-1]}"), "kan_activations")
    '''),
    md("""
        ## 3. Fourier-KAN vs SIREN on an image

        An implicit neural representation maps pixel coordinates in $[-1, 1]^2$ to intensities. The
        Fourier-KAN (`jr.nn.FourierKAN`) learns a Fourier series on every edge of its first layer; SIREN
        (`jr.nn.SIREN`) uses sine activations with a fixed $\\omega_0$. Both get the same parameter count and
        the same number of full-batch Adam steps.
    """),
    code('''
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
    '''),
    md("""
        ## 4. From a KAN to a formula

        The KAN paper's workflow turns the network of section 1 into $\\exp(\\sin\\pi x + y^2)$:

        1. train a $[2, 5, 1]$ KAN with the sparsity penalty $\\lambda\\,(\\sum_l|\\Phi_l|_1 + 2\\sum_l S(\\Phi_l))$
           (`jr.nn.kan_regularization`), so that few edges carry the function;
        2. `jr.nn.prune` removes the idle hidden nodes (and *masks* weak edges: they stay zero from then on);
        3. refine the grid and train on (no penalty);
        4. `jr.nn.auto_symbolic` fits every edge by $c\\,f(a x + b) + d$ over a library of functions and
           keeps the best where $R^2 \\ge 0.99$; the affine parameters keep training through `fit`
           (Adam, then the dense quasi-Newton `jr.train.bfgs`);
        5. `jr.nn.symbolic_formula` writes the result with sympy.

        The same pipeline on your own data file is `jaxrep run kan_symbolic --set data.path=samples.npz`.
    """),
    code('''
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
    '''),
    code('''
        show(jr.plot.kan(pruned, X, title=f"pruned KAN {pruned.spec}, G = {SYMBOLIC_GRIDS[-1]}"), "kan_pruned")
    '''),
]

# --------------------------------------------------------------------------------------------------
# 02: Koopman

KOOPMAN = [
    *header("02_koopman", "Koopman operators: EDMD, generator EDMD, deep Koopman, verified spectra", """
        The Koopman operator $\\mathcal K^t g = g\\circ\\Phi^t$ turns a nonlinear flow $\\Phi^t$ into a
        *linear* operator on observables $g$. jaxrep estimates it three ways:

        - **EDMD** (`jr.koopman.edmd`): least squares on snapshot pairs $(x_i, \\Phi^{\\Delta t}(x_i))$ in a
          dictionary $\\psi$, giving the discrete-time $K\\approx e^{\\Delta t\\mathcal L}$;
        - **generator EDMD** (`jr.koopman.generator_edmd`): the continuous-time generator $\\mathcal L$ from
          $(x_i, \\dot x_i)$, with $\\tfrac{d}{dt}\\psi = D\\psi\\,\\dot x$ by forward-mode autodiff;
        - **deep Koopman** (`jr.koopman.KoopmanAutoencoder`): an encoder learns the observables, a
          generator $A$ evolves them exactly with $e^{tA}$, trained through `jaxrep.train.fit`.

        Eigenvalues of a finite dictionary can be artefacts of the projection; **ResDMD** residuals
        (`jr.koopman.residuals`) check every eigenpair against held-out data. We look at the slow-manifold
        system (known spectrum), the Duffing oscillator (forecast, pseudospectrum), Lorenz-63
        (kernel reduced-rank regression with Nyström landmarks) and, with an input, model-predictive control
        of the forced Van der Pol oscillator on an EDMDc model.
    """),
    params("02_koopman", """
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
    """),
    HELPERS,
    md("""
        ## 1. Slow manifold: a known spectrum

        $\\dot x_1 = \\mu x_1$, $\\dot x_2 = \\lambda(x_2 - x_1^2)$ has the Koopman eigenfunctions $x_1$,
        $x_2 - bx_1^2$ and $x_1^2$ with eigenvalues $\\mu$, $\\lambda$, $2\\mu$ ($b = \\lambda/(\\lambda - 2\\mu)$),
        and every product of them. With monomials of degree $\\le 2$ the span of $\\{1, x_1, x_2, x_1^2\\}$ is
        invariant, while $x_1x_2$ and $x_2^2$ leak out of the dictionary: their eigenvalues are
        approximations, and ResDMD says so.
    """),
    code('''
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
    '''),
    code('''
        show(jr.plot.koopman_spectrum(edmd_eig.continuous_eigenvalues, edmd_res, reference=exact,
                                      title="slow manifold: EDMD spectrum, coloured by ResDMD residual"),
             "slow_manifold_spectrum")
        labels = [f"mu = {complex(m).real:+.3f}" for m in gedmd_eig.continuous_eigenvalues]
        show(jr.plot.koopman_eigenfunctions(gedmd_eig.eigenfunctions, (-1, 1), (-1, 1), which=(1, 2, 3, 4),
                                            labels=labels),
             "slow_manifold_eigenfunctions")
    '''),
    md("""
        ### Deep Koopman

        Now let a network find the observables: an encoder $\\varphi$ (linear + MLP correction,
        `jr.koopman.SkipLinear`) to a 2-D latent, a dense generator $A$ and a decoder, trained on windows of
        trajectories with reconstruction + latent linearity + multi-step prediction losses
        (`jr.koopman.losses`). The eigenvalues of $A$ should approach $\\mu$ and $\\lambda$.

        Three choices make that happen in 3000 steps: every window starts at a trajectory's initial state
        ($\\lambda$ is visible only in the fast transient; windows on the slow manifold teach the latent
        $\\{x_1, x_1^2\\}$ with eigenvalues $\\{\\mu, 2\\mu\\}$), the encoder is *anchored* at the fixed point
        (`anchor=`: the origin maps to $0$, so no constant, an eigenfunction with eigenvalue $0$, leaks into
        the latent and pulls the eigenvalues towards $0$), and the learning rate is $10^{-2}$.

        The windows are drawn by a pure sampler inside the compiled step. With several devices (a TPU
        has 8) `jr.train.fit(..., mesh=jr.train.make_mesh())` shards each batch of windows over them and
        replicates the model: data parallelism with no other change.
    """),
    code('''
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
    '''),
    code('''
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
    '''),
    md("""
        ## 2. Duffing oscillator: forecasts and the pseudospectrum

        $\\ddot x = -\\delta\\dot x + x - x^3$ has two stable foci; its Koopman spectrum has no small
        invariant dictionary. A dictionary of Gaussian RBFs plus the state gives good forecasts; ResDMD and
        the approximate pseudospectrum $\\{z : \\tau(z) < \\varepsilon\\}$ show which eigenvalues to trust.
    """),
    code('''
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
    '''),
    code('''
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
    '''),
    md("""
        ## 3. Lorenz-63: kernel reduced-rank regression

        Kernel RRR (`jr.koopman.kernel_rrr`, the kooplearn estimator) with $m$ Nyström landmarks costs
        $O(nm^2 + m^3)$. kooplearn's JOSS benchmark fits 5000 Lorenz-63 points at rank 25; the default
        sizes here match it.
    """),
    code('''
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
    '''),
    md("""
        ## 4. Control: EDMDc and model-predictive control of the forced Van der Pol oscillator

        With an input, $\\ddot x = \\mu(1 - x^2)\\dot x - x + u$, the lifted model stays linear in $u$
        (Korda & Mezić 2018): EDMDc (`jr.koopman.edmdc`) fits $\\psi(x_{k+1}) \\approx A\\psi(x_k) + Bu_k$ and
        $x \\approx C\\psi(x)$ in closed form from trajectories under random inputs. On that model, tracking a
        reference $r_k$ is a linear-quadratic problem solved exactly by a backward Riccati recursion
        (`jr.koopman.lq_tracking`); `jr.koopman.receding_horizon` applies its first input to the **true**
        system (one diffrax step, `jr.data.controlled_step`), measures, and solves again. The baseline is the
        same controller on the local linearisation at the origin (`jr.koopman.linearize`). The same run is
        the config `jaxrep run koopman_control`.
    """),
    code('''
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
    '''),
    code('''
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
    '''),
]

# --------------------------------------------------------------------------------------------------
# 03: PINN vs PIKE vs SPIKE

PINN_SPIKE = [
    *header("03_pinn_spike", "PINN vs PIKE vs SPIKE: extrapolation in time", """
        Three ways to train a physics-informed network $u_\\theta(x, t)$ on a time window $[0, T]$:

        | method | loss |
        |---|---|
        | **PINN** | PDE residual + initial + boundary conditions |
        | **PIKE** | + a Koopman term: observables $z = [u, g(u)]$ follow $\\dot z = Az$ (generator and $e^{sA}$ losses) |
        | **SPIKE** | PIKE + $\\lambda\\lVert A\\rVert_1$, a sparse generator |

        We train all three on the same problem, score them against the reference solution inside the
        training window and in the extrapolation window $[T, T_{\\text{end}}]$ (with the network and with the
        Koopman rollout $z(t) = e^{(t - T)A}z(T)$), and finish with the chaotic Lorenz-63 system, where
        the figure of merit is the valid prediction time in Lyapunov times.
    """),
    params("03_pinn_spike", """
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
    """),
    HELPERS,
    code('''
        from dataclasses import replace

        import optax

        # The recipe trains in float64: quasi-Newton steps stall near a loss of 1e-6 in float32.
        jax.config.update("jax_enable_x64", True)

        def solve_config(problem, width=WIDTH, depth=DEPTH):
            # The recipe: initial and boundary conditions built into a small network (hard constraints);
            # PIKE/SPIKE staged: the network on the PINN loss first, then the Koopman parts alone.
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
    '''),
    md("""
        ## Train the three methods

        Same backbone, same collocation points (same key), same number of steps. Every run goes through
        `jaxrep.train.fit`, in two phases: Adam on fresh collocation points, then dense quasi-Newton
        (`jr.train.bfgs`) on a fixed set, in float64, with the initial and boundary conditions built into
        the network (`ConstraintConfig`), so the loss is the PDE residual. PIKE and SPIKE are *staged*
        (`KoopmanConfig.staged_steps`): after the network's phases, the observables and the generator $A$
        are fitted with the network frozen, so all three share the PINN's in-window accuracy and differ in
        the Koopman rollout only. (`staged_steps=0` trains everything jointly, as the SPIKE paper does:
        BENCHMARKS.md measures its cost inside the window.)
    """),
    code('''
        config = solve_config(problem)
        solutions = {}
        for method in ("pinn", "pike", "spike"):
            solutions[method] = jr.pinn.solve(problem, method, config, key=jrandom.key(SEED),
                                              phases=phases(problem, method, STEPS), progress=not SMOKE)

        columns = ("rel_l2_train_window", "rel_l2_extrapolation", "rel_l2_extrapolation_koopman",
                   "residual_mse_train_window", "residual_mse_extrapolation", "A_sparsity")
        print(f"{'':6s}" + "".join(f"{c:>30s}" for c in columns))
        for method, sol in solutions.items():
            row = "".join(f"{sol.metrics[c]:30.3e}" if c in sol.metrics else f"{'-':>30s}" for c in columns)
            print(f"{method:6s}{row}")
    '''),
    md("""
        ## Error against time

        Relative $L^2$ error over $x$ at every time. Inside the training window the residual loss pins the
        solution down; past the dashed line the network extrapolates freely, while PIKE/SPIKE can also roll
        the learned linear dynamics forward (dotted lines).
    """),
    code('''
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
    '''),
    code('''
        show(jr.plot.pinn_solution(solutions["pinn"].evaluation, title="PINN"), "solution_pinn")
        show(jr.plot.pinn_solution(solutions["spike"].evaluation, mode="koopman",
                                   title="SPIKE, Koopman rollout after the training window"), "solution_spike")
    '''),
    md("""
        ## Sparse versus dense generators

        The $\\ell_1$ penalty is the only difference between PIKE and SPIKE: compare the magnitude pattern
        and the spectrum of the two generators.
    """),
    code('''
        show(jr.plot.generator_structure(solutions["pike"].model.A(), title="PIKE generator"), "generator_pike")
        show(jr.plot.generator_structure(solutions["spike"].model.A(), title="SPIKE generator"), "generator_spike")
    '''),
    md("""
        ## Lorenz-63: valid prediction time

        On a chaotic ODE small errors grow like $e^{\\lambda_{\\max}t}$, so the score is the *valid
        prediction time* (how long the relative error stays below 0.5) in Lyapunov times
        $\\lambda_{\\max}t$ ($\\lambda_{\\max}\\approx 0.906$).
    """),
    code('''
        lorenz = jr.pinn.problems.get("lorenz")
        print(lorenz)
        lorenz_solutions = {
            method: jr.pinn.solve(lorenz, method, solve_config(lorenz), key=jrandom.key(SEED),
                                  phases=phases(lorenz, method, LORENZ_STEPS), progress=not SMOKE)
            for method in ("pinn", "spike")
        }
        for method, sol in lorenz_solutions.items():
            m = sol.metrics
            line = (f"{method:6s} rel L2: train window {m['rel_l2_train_window']:.2e}, extrapolation "
                    f"{m['rel_l2_extrapolation']:.2e} | valid prediction time (network) "
                    f"{m['valid_prediction_time_lyapunov']:.2f} Lyapunov times")
            if "valid_prediction_time_lyapunov_koopman" in m:
                line += f", (Koopman rollout) {m['valid_prediction_time_lyapunov_koopman']:.2f}"
            print(line)
    '''),
    code('''
        names = list(lorenz.component_names)
        show(jr.plot.pinn_solution(lorenz_solutions["spike"].evaluation, mode="koopman", names=names,
                                   title="Lorenz-63, SPIKE (Koopman rollout after t = 1)"), "lorenz_spike")
        show(jr.plot.pinn_error_vs_time(lorenz_solutions["spike"].evaluation, title="Lorenz-63, SPIKE"),
             "lorenz_error")
    '''),
]


# --------------------------------------------------------------------------------------------------
# 04: stochastic interpolants

INTERPOLANTS = [
    *header("04_interpolants", "Stochastic interpolants: ODE and SDE generative models in 2-D", """
        A stochastic interpolant $x_t = \\alpha(t)x_0 + \\beta(t)x_1 + \\gamma(t)z$ bridges two distributions
        $\\rho_0$ and $\\rho_1$. The velocity $b(t, x) = \\mathbb E[\\dot x_t \\mid x_t = x]$ and the denoiser
        $\\eta(t, x) = \\mathbb E[\\xi \\mid x_t = x]$ minimise simple quadratic losses; then the ODE
        $\\dot X = b(t, X)$ and the SDEs $dX = (b \\pm \\epsilon s)dt + \\sqrt{2\\epsilon}dW$ (with the score
        $s = -\\eta/\\sigma$) carry $\\rho_0$ to $\\rho_1$, and the ODE gives exact likelihoods.

        1. Gaussian $\\to$ checkerboard: ODE vs SDE sampling, the likelihood heatmap and the NLL against the
           exact $\\ln 32 \\approx 3.466$ nats;
        2. 8 Gaussians $\\to$ moons (two-sided, no Gaussian base): independent vs minibatch optimal-transport
           coupling, scored by $W_2$ after one and four Euler steps and by the straightness of the paths;
        3. a multimarginal interpolant joining four distributions on the simplex, and a transport path
           optimised through `jaxrep.train.fit`.
    """),
    params("04_interpolants", """
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
    """),
    HELPERS,
    code('''
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
    '''),
    md("""
        ## 1. Gaussian $\\to$ checkerboard

        A one-sided interpolant $x_t = (1 - t)x_0 + tx_1$ with $x_0\\sim\\mathcal N(0, I)$. One model holds the
        velocity $b$ and the denoiser $\\eta$; a pure sampler draws fresh $(x_0, x_1)$ inside the compiled
        step, and `jr.train.fit` trains both losses together, keeping an exponential moving average of the
        weights (`jr.train.ema`) that we sample from.
    """),
    code('''
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
    '''),
    md("""
        ### ODE vs SDE sampling

        The probability-flow ODE is deterministic; the SDE adds noise $\\sqrt{2\\epsilon(t)}dW$ and corrects
        the drift with the score, with the same marginals $\\rho_t$. We let $\\epsilon(t) = (1 - t)$ vanish
        at $t = 1$, where the one-sided score $-\\eta/(1 - t)$ is singular. The kernel MMD to fresh data
        measures the quality of each.
    """),
    code('''
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
    '''),
    md("""
        ### Likelihood

        `jr.interpolants.log_likelihood` integrates the divergence of $b$ backwards along the ODE
        (instantaneous change of variables). The exact NLL of the checkerboard is $\\ln 32 \\approx 3.466$
        nats; a learned model is always above it (it is a cross-entropy).
    """),
    code('''
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
    '''),
    md("""
        ## 2. 8 Gaussians $\\to$ moons: independent vs optimal-transport coupling

        A two-sided linear interpolant $x_t = (1 - t)x_0 + tx_1$ between two data sets (no Gaussian base).
        With *independent* pairs $(x_0, x_1)$ the paths of the learned ODE cross and bend, so a few Euler steps
        land far from the target. Re-pairing each minibatch by **exact optimal transport**
        (`jr.interpolants.ExactOT()`: the permutation of $x_1$ minimising $\\sum_i|x_0^i-x_1^{\\sigma(i)}|^2$,
        passed as `coupling=` to the loss) makes the learned paths nearly straight: one Euler step already
        gives good samples. Both models start from the same weights, see the same data and keep an
        exponential moving average of their weights (`jr.train.ema`), which is what we sample from.
        Scores: $W_2$ to fresh moons after 1 and 4 Euler steps and with the adaptive solver
        (`jr.interpolants.wasserstein2`, exact assignment on 2000 points: two fresh moons samples are already
        ~0.23 apart), and the straightness $\\int_0^1\\mathbb E|X_1 - X_0 - b(t, X_t)|^2dt$ (0 for straight
        paths travelled at constant speed).
    """),
    code('''
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
    '''),
    code('''
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
    '''),
    md("""
        ## 3. Multimarginal: four distributions on one simplex

        With samples $x_k\\sim\\rho_k$, $k = 0..3$ ($\\rho_0 = \\mathcal N(0, I)$, 8 Gaussians, moons,
        checkerboard) the interpolant $x(\\alpha) = \\sum_k\\alpha_kx_k$ lives on the simplex $\\Delta^3$. One
        network learns $g_k(\\alpha, x) = \\mathbb E[x_k\\mid x(\\alpha) = x]$; any path $\\alpha(t)$ then gives
        a transport $\\dot X = \\sum_k\\dot\\alpha_k g_k(\\alpha, X)$. Pushing the same Gaussian points to each
        vertex gives a four-way correspondence.
    """),
    code('''
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
    '''),
    md("""
        ### Choosing the path

        The kinetic cost $\\int_0^1\\mathbb E|\\sum_k\\dot\\alpha_kg_k|^2dt$ depends on the path. We compare the
        straight edge 8 Gaussians $\\to$ moons with a quadratic Bézier path whose control point is *learned*
        by minimising `jr.interpolants.transport_cost` with `jr.train.fit` (the fields $g$ stay fixed).
    """),
    code('''
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
    '''),
]

# --------------------------------------------------------------------------------------------------

NOTEBOOKS = {
    "00_quickstart": QUICKSTART,
    "01_kan": KAN,
    "02_koopman": KOOPMAN,
    "03_pinn_spike": PINN_SPIKE,
    "04_interpolants": INTERPOLANTS,
}

def smoke_figures(cells) -> list[str]:
    names = []
    for cell in cells:
        if cell.cell_type == "code":
            names += _figure_names(cell.source)
    return names


def _figure_names(source: str) -> list[str]:
    """The literal names passed as the last argument of `show(...)` calls."""
    names = []
    for m in re.finditer(r"\bshow\(", source):
        depth, i = 1, m.end()
        while depth and i < len(source):
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            i += 1
        call = source[m.end(): i - 1]
        lit = re.search(r"""["']([A-Za-z0-9_\-]+)["']\s*$""", call)
        if lit:
            names.append(lit.group(1))
    return names


def build(name: str, cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "accelerator": "TPU",
        "colab": {"provenance": []},
        "jaxrep": {"smoke_figures": sorted(set(smoke_figures(cells)))},
    }
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # deterministic ids: regenerating gives no spurious diff
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.validate(nb)
    return nb


def main():
    for name, cells in NOTEBOOKS.items():
        nb = build(name, cells)
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb ({len(cells)} cells, figures: "
              f"{', '.join(nb.metadata['jaxrep']['smoke_figures'])})")


if __name__ == "__main__":
    main()
