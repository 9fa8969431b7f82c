"""`task: pinn` configs and the `jaxrep solve` runner."""

import json
import pathlib

import jax
import pytest

from jaxrep import config
from jaxrep.pinn import method_names, problems

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "jaxrep" / "configs"


def test_one_config_for_every_problem_any_method():
    for name in problems.names():
        for method in method_names():
            cfg = config.load(CONFIGS / f"{name}.yaml", overrides=[f"method={method}"])
            assert cfg.task == "pinn" and cfg.method == method and cfg.problem.name == name
            assert [p.optimizer for p in cfg.train.phases] in (["adam", "lbfgs"], ["adam", "bfgs"])


def test_kinn_config_uses_a_kan_backbone():
    kinn = sorted(CONFIGS.glob("*_kinn.yaml"))
    assert kinn
    for path in kinn:
        assert config.load(path).model.kind in ("kan", "fourier_kan")


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="unknown problem name 'burger'.*valid names"):
        config.load(CONFIGS / "burgers.yaml", overrides=["problem.name=burger"])
    with pytest.raises(ValueError, match="nu"):
        config.load(CONFIGS / "burgers.yaml", overrides=["problem.params.nu=-1.0"])
    with pytest.raises(ValueError, match="method"):
        config.load(CONFIGS / "burgers.yaml", overrides=["method=spiky"])


def test_phase_errors_name_the_field():
    with pytest.raises(ValueError, match="unknown config key 'train.phases\\[0\\].optimiser'"):
        config.load(CONFIGS / "burgers.yaml", overrides=["train.phases=[{optimiser: adam}]"])
    with pytest.raises(ValueError, match="train.phases\\[0\\].optimizer: expected one of"):
        config.load(CONFIGS / "burgers.yaml", overrides=["train.phases=[{optimizer: newton}]"])
    with pytest.raises(ValueError, match="phases\\[\\].steps must be >= 1"):
        config.load(CONFIGS / "burgers.yaml", overrides=["train.phases=[{optimizer: adam, steps: 0}]"])
    with pytest.raises(ValueError, match="causal.chunks"):
        config.load(CONFIGS / "burgers.yaml", overrides=["causal.chunks=-1"])
    with pytest.raises(ValueError, match="constraints.boundary"):
        from jaxrep._tasks.pinn import run

        run(config.load(CONFIGS / "lorenz.yaml", overrides=["constraints.boundary=true"]), None, resume=False,
            progress=False)


def test_phases_translate_to_optax():
    import optax

    from jaxrep._tasks.pinn import solve_phases

    cfg = config.load(CONFIGS / "burgers.yaml", overrides=["method=pinn"])
    phases = solve_phases(cfg, problems.get("burgers"))
    # Adam resamples its points every step; the quasi-Newton phase keeps one fixed set
    assert [(p.steps, p.resample) for p in phases] == [(cfg.train.phases[0].steps, True),
                                                        (cfg.train.phases[1].steps, False)]
    assert [p.optimizer for p in cfg.train.phases] == ["adam", "bfgs"]
    assert isinstance(phases[1].optimizer, optax.GradientTransformationExtraArgs)
    batch = phases[1].data(jax.random.PRNGKey(0), 0)  # the phase's own point set
    assert batch["x_r"].shape == (cfg.train.phases[1].n_residual, 1) and "x_k" not in batch
    assert cfg.train.phases[1].n_residual != cfg.sampling.n_residual


def test_solve_runner_writes_summary_and_figures(tmp_path):
    from jaxrep.cli import main

    out = tmp_path / "run"
    rc = main(["solve", str(CONFIGS / "heat.yaml"), "--out", str(out), "--no-progress",
               "--set", "train.phases=[{optimizer: adam, steps: 10}, {optimizer: sgd, steps: 10, n_residual: 32}]",
               "--set", "train.steps_per_call=10", "--set", "train.log_every=10",
               "--set", "sampling.n_residual=64", "--set", "eval.n_x=16", "--set", "eval.n_t=5",
               "--set", "problem.params.kappa=0.2", "--set", "model.width_size=8",
               # small and float32: the bundled config's 3000-step float64 Koopman stage is for accuracy
               "--set", "koopman.staged_steps=10", "--set", "precision=float32"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problem"] == "heat" and summary["method"] == "spike"
    for k in ("rel_l2_train_window", "rel_l2_extrapolation", "rel_l2_extrapolation_koopman",
              "residual_mse_train_window", "A_sparsity", "A_eigenvalues"):
        assert k in summary
    for fig in ("solution", "solution_koopman", "generator", "error_vs_time", "loss"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    assert (out / "config.yaml").exists() and (out / "metrics.jsonl").exists()
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20]  # both phases ran, logged as one run
    assert config.load(out / "config.yaml").problem.params == {"kappa": 0.2}


def test_float64_run_with_a_dense_quasi_newton_phase(tmp_path, monkeypatch):
    # `precision: float64` trains and evaluates in double precision, inside the run only (x64 is off again
    # afterwards), and a `bfgs` phase on its own fixed points lowers the loss of a PDE solve.
    from jaxrep._tasks import pinn as task

    seen = {}
    solve = task.solve

    def spy(*args, **kwargs):
        sol = solve(*args, **kwargs)
        seen["dtypes"] = {str(leaf.dtype) for leaf in jax.tree_util.tree_leaves(sol.model) if hasattr(leaf, "dtype")}
        seen["grid"] = sol.evaluation["windows"][0]["network"].dtype
        return sol

    monkeypatch.setattr(task, "solve", spy)
    cfg = config.load(CONFIGS / "heat.yaml", overrides=[
        "method=pinn", "precision=float64", "model.width_size=8", "model.depth=1", "eval.n_x=16", "eval.n_t=5",
        "train.phases=[{optimizer: adam, steps: 10}, {optimizer: bfgs, steps: 20, n_residual: 64}]",
        "train.steps_per_call=10", "train.log_every=10", "sampling.n_residual=64"])
    x64_before = jax.config.jax_enable_x64
    summary = task.run(cfg, tmp_path, resume=False, progress=False)
    assert jax.config.jax_enable_x64 == x64_before
    assert seen["dtypes"] == {"float64"} and seen["grid"] == "float64"
    loss = [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(loss) == 3 and loss[2] < 0.5 * loss[1]  # the bfgs phase: steps 10 -> 30
    assert summary["rel_l2_train_window"] < 1.0
