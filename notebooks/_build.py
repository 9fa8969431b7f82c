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
REPO_URL = "https://github.com/jaxrep/jaxrep"
PIP_SPEC = "jaxrep[dev] @ git+https://github.com/jaxrep/jaxrep.git"


def md(text: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str):
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


def header(name: str, title: str, intro: str):
    badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"(https://colab.research.google.com/github/jaxrep/jaxrep/blob/main/notebooks/{name}.ipynb)")
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
        """Display `fig`; in smoke mode also save it as `_smoke/<notebook>/<name>.png`."""
        if FIGURES is not None:
            FIGURES.mkdir(parents=True, exist_ok=True)
            fig.savefig(FIGURES / f"{name}.png", dpi=80)
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
        evaluation grid. The same options can come from a YAML file (`jaxrep solve configs/burgers_spike.yaml`).
    """),
    code('''
        from dataclasses import replace

        config = jr.pinn.SolveConfig()
        config = replace(
            config,
            model=replace(config.model, width_size=WIDTH, depth=DEPTH),
            train=replace(config.train, steps=STEPS, learning_rate=3e-3, steps_per_call=50, log_every=50),
            sampling=jr.pinn.SamplingConfig(n_residual=N_RESIDUAL, n_initial=N_OTHER, n_boundary=N_OTHER,
                                            n_koopman=N_OTHER),
            eval=jr.pinn.EvalConfig(n_x=N_X, n_t=N_T),
        )
        solution = jr.pinn.solve(problem, "spike", config, key=jrandom.key(SEED), progress=not SMOKE)
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
        STEPS = 150 if SMOKE else 6000            # training steps per method
        LORENZ_STEPS = 100 if SMOKE else 10000
        N_RESIDUAL = 128 if SMOKE else 2048       # collocation points per step
        N_OTHER = 32 if SMOKE else 256            # initial / boundary / Koopman points per step
        WIDTH, DEPTH = (16, 2) if SMOKE else (64, 4)
        N_X, N_T = (64, 21) if SMOKE else (256, 101)
    """),
    HELPERS,
    code('''
        from dataclasses import replace

        def solve_config(steps, width=WIDTH, depth=DEPTH):
            config = jr.pinn.SolveConfig()
            return replace(
                config,
                model=replace(config.model, width_size=width, depth=depth),
                train=replace(config.train, steps=steps, learning_rate=3e-3, steps_per_call=50, log_every=50),
                sampling=jr.pinn.SamplingConfig(n_residual=N_RESIDUAL, n_initial=N_OTHER, n_boundary=N_OTHER,
                                                n_koopman=N_OTHER),
                eval=jr.pinn.EvalConfig(n_x=N_X, n_t=N_T),
            )

        problem = jr.pinn.problems.get(PROBLEM)
        print(problem)
        print("methods:", jr.pinn.method_names())
    '''),
    md("""
        ## Train the three methods

        Same backbone, same collocation points (same key), same number of steps; only the loss differs.
        Every run goes through `jaxrep.train.fit`.
    """),
    code('''
        config = solve_config(STEPS)
        solutions = {}
        for method in ("pinn", "pike", "spike"):
            solutions[method] = jr.pinn.solve(problem, method, config, key=jrandom.key(SEED), progress=not SMOKE)

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

        `jr.pinn.solve` is a thin layer over public parts, and here we assemble them by hand: the model
        (`PINNField`, `Observable`, `jr.koopman.Generator`), the loss (`jr.pinn.make_loss_fn`), the pure
        collocation sampler (`jr.pinn.make_sampler`), `jr.train.fit`, and the Koopman rollout
        `jr.koopman.propagate`.
    """),
    code('''
        def train_ode(problem, method, config, *, key):
            koopman, sparse = method in ("pike", "spike"), method == "spike"
            k_net, k_obs, k_gen, k_fit = jrandom.split(key, 4)
            t0, t1 = problem.time_window
            net = jr.nn.build_model(config.model, 1, problem.n_out, key=k_net)
            field = jr.pinn.PINNField(net, (t0,), (t1,), problem.n_out)  # inputs rescaled to [-1, 1]
            model = jr.pinn.PINNModel(field)
            if koopman:
                kc = config.koopman
                g = jr.nn.MLP(problem.n_out, kc.observables, kc.width_size, kc.depth, jnp.tanh, key=k_obs)
                observable = jr.pinn.Observable(g, problem.n_out, False)  # z = [u, g(u)]
                generator = jr.koopman.Generator(observable.dim, kc.generator, key=k_gen, scale=kc.init_scale)
                model = jr.pinn.PINNModel(field, observable, generator)
            loss_fn = jr.pinn.make_loss_fn(problem, config.weights, koopman=koopman, sparse=sparse)
            sampler = jr.pinn.make_sampler(problem, config.sampling, koopman=koopman)
            model, history = jr.train.fit(model, loss_fn, sampler, jr.config.make_optimizer(config.train),
                                          steps=config.train.steps, key=k_fit, progress=not SMOKE,
                                          steps_per_call=config.train.steps_per_call,
                                          log_every=config.train.log_every)
            return model, history


        def evaluate_ode(model, problem, n_t):
            """Network (and Koopman rollout after the training window) against the reference, in the
            layout of `jr.pinn.evaluate` so that the `jr.plot.pinn_*` figures apply."""
            x = jnp.zeros((1, 0))
            windows = []
            for window in (problem.train_window, *problem.extrapolation_windows):
                ts = jnp.linspace(*window, n_t)
                entry = {"window": window, "ts": np.asarray(ts),
                         "reference": np.asarray(problem.reference_grid(x, ts)),
                         "network": np.asarray(jax.vmap(model.u, in_axes=(None, 0))(x[0], ts))[:, None]}
                if model.has_koopman:
                    t_end = jnp.asarray(problem.train_end, ts.dtype)
                    z = jr.koopman.propagate(model.A(), model.z(x[0], t_end), jnp.maximum(ts - t_end, 0.0))
                    after = (ts >= t_end)[:, None]
                    koop = jnp.where(after, z[:, : problem.n_out], entry["network"][:, 0])
                    entry["koopman"] = np.asarray(koop)[:, None]
                windows.append(entry)
            return {"xs": np.zeros((1, 0)), "grid_shape": (), "windows": windows}


        lorenz = jr.pinn.problems.get("lorenz")
        lorenz_config = solve_config(LORENZ_STEPS)
        lorenz_results = {}
        for method in ("pinn", "spike"):
            model, history = train_ode(lorenz, method, lorenz_config, key=jrandom.key(SEED))
            evaluation = evaluate_ode(model, lorenz, N_T)
            extrapolation = evaluation["windows"][1]
            modes = ("network", "koopman") if model.has_koopman else ("network",)
            for mode in modes:
                vpt = jr.pinn.valid_prediction_time(extrapolation[mode], extrapolation["reference"],
                                                    extrapolation["ts"])
                rel = jr.pinn.relative_l2(extrapolation[mode], extrapolation["reference"])
                print(f"{method:6s} {mode:8s} extrapolation rel L2 {float(rel):.2e} | valid prediction time "
                      f"{vpt * lorenz.lyapunov_exponent:.2f} Lyapunov times")
            lorenz_results[method] = evaluation
    '''),
    code('''
        names = list(lorenz.component_names)
        show(jr.plot.pinn_solution(lorenz_results["spike"], mode="koopman", names=names,
                                   title="Lorenz-63, SPIKE (Koopman rollout after t = 1)"), "lorenz_spike")
        show(jr.plot.pinn_error_vs_time(lorenz_results["spike"], title="Lorenz-63, SPIKE"), "lorenz_error")
    '''),
]


# --------------------------------------------------------------------------------------------------

NOTEBOOKS = {
    "00_quickstart": QUICKSTART,
    "03_pinn_spike": PINN_SPIKE,
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
