"""`task: koopman_control` end to end at small sizes: the bundled config through the run-directory
runner, the closed loop checked against an independent re-simulation (scipy) of the true system under the
recorded inputs, tracking errors against the uncontrolled response and against each other, the figure,
and one-line config errors naming the field."""

import json

import jax
import numpy as np
import pytest
import scipy.integrate

import jaxrep as jr
from jaxrep.cli import main, run_config

SMALL = ["data.n_traj=16", "data.n_test=2", "data.n_steps=25", "model.degree=4", "mpc.horizon=10",
         "mpc.steps=60"]


@pytest.fixture(scope="module")
def fast_compile():
    # a handful of small programs, each run for a few steps: compilation dominates
    old = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", old)


@pytest.fixture(scope="module")
def run(tmp_path_factory, fast_compile):
    out = tmp_path_factory.mktemp("koopman_control") / "run"
    cfg = jr.config.load("koopman_control", overrides=SMALL)
    summary = run_config(cfg, out, progress=False)
    return cfg, out, summary


def _vdp_resimulate(mu, x0, us, dt):
    """The forced Van der Pol oscillator under piecewise-constant inputs, by scipy (independent of
    diffrax): one tight RK45 solve per held input."""
    xs = [np.asarray(x0, np.float64)]
    for u in np.asarray(us, np.float64)[:, 0]:
        f = lambda t, x, u=u: [x[1], mu * (1 - x[0] ** 2) * x[1] - x[0] + u]
        xs.append(scipy.integrate.solve_ivp(f, (0.0, dt), xs[-1], rtol=1e-10, atol=1e-10).y[:, -1])
    return np.stack(xs)


def test_runs_end_to_end_and_tracks_on_the_true_system(run):
    cfg, out, summary = run
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert (out / "figures" / "control.png").stat().st_size > 10_000
    arrays = np.load(out / "closed_loop.npz")
    dt, T, mu = cfg.data.dt, cfg.mpc.steps, cfg.system.params["mu"]
    ts = dt * np.arange(T + 1)
    ref = 2.0 * np.sin(2 * np.pi * ts / cfg.mpc.reference.period)  # the reference, written independently
    np.testing.assert_allclose(arrays["reference"][:, 0], ref, atol=1e-12)

    # the recorded closed loops are trajectories of the true system under the recorded inputs
    for name in ("edmdc", "linear"):
        xs, us = arrays[f"x_{name}"], arrays[f"u_{name}"]
        assert xs.shape == (T + 1, 2) and us.shape == (T, 1)
        np.testing.assert_allclose(xs, _vdp_resimulate(mu, cfg.mpc.x0, us, dt), atol=2e-3)
        err = np.sqrt(np.mean((xs[:, 0] - ref) ** 2))
        assert summary[f"tracking_rmse_{name}"] == pytest.approx(err, rel=1e-5)
    free = _vdp_resimulate(mu, cfg.mpc.x0, np.zeros((T, 1)), dt)
    e_free = np.sqrt(np.mean((free[:, 0] - ref) ** 2))
    assert summary["tracking_rmse_open_loop"] == pytest.approx(e_free, rel=1e-3)
    print({k: round(v, 4) for k, v in summary.items() if "rmse" in k})
    # control pays: both controllers track far better than leaving the oscillator alone
    assert e_free > 1.5
    assert summary["tracking_rmse_edmdc"] < 0.35 * e_free
    assert summary["tracking_rmse_linear"] < 0.35 * e_free
    # the learned model predicts the held-out data: far better than persistence and the linearisation
    assert summary["one_step_rmse_edmdc"] < 0.2 * summary["one_step_rmse_persistence"]
    assert summary["one_step_rmse_edmdc"] < 0.2 * summary["one_step_rmse_linear"]
    assert summary["n_features"] == 15 and summary["n_train_pairs"] == 16 * 25
    assert summary["wall_time_s"] > 0


def test_bundled_and_listed(capsys):
    assert "koopman_control" in jr.config.bundled_names()
    assert main(["list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("configs:"))
    assert "koopman_control" in line
    cfg = jr.config.load("koopman_control")
    assert cfg.task == "koopman_control" and cfg.model.kind == "edmdc"
    assert cfg.mpc.reference.kind == "sine" and cfg.mpc.Q == (1.0, 0.0)
    other = jr.config.load("koopman_control", overrides=[
        "system.name=forced_duffing", "system.params={delta: 0.3}", "model.kind=dmdc", "model.rank=2",
        "mpc.reference.kind=step", "baseline.x=[1.0, 0.0]"])
    assert other.system.build().delta == 0.3 and other.model.rank == 2


@pytest.mark.parametrize("override, field", [
    ("system.name=forced_van_der_po", "system.name.*did you mean 'forced_van_der_pol'"),
    ("system.params={nu: 1.0}", "system.params.nu.*did you mean 'mu'"),
    ("mpc.horizon=0", "mpc.horizon"),
    ("mpc.horizon=-3", "mpc.horizon"),
    ("data.dt=0.0", "data.dt"),
    ("data.dt=-0.1", "data.dt"),
    ("mpc.R=0.0", "mpc.R"),
    ("mpc.R=-1.0", "mpc.R"),
    ("mpc.Q=[1.0, 0.0, 0.0]", "mpc.Q"),
    ("mpc.Q=[0.0, 0.0]", "mpc.Q"),
    ("mpc.x0=[1.0]", "mpc.x0"),
    ("mpc.reference.component=2", "mpc.reference.component"),
    ("mpc.reference.kind=ramp", "mpc.reference.kind.*one of"),
    ("mpc.reference.period=0.0", "mpc.reference.period"),
    ("model.kind=edmd", "model.kind.*did you mean 'edmdc'"),
    ("model.rank=2", "model.rank"),
    ("data.input_amplitude=0.0", "data.input_amplitude"),
    ("baseline.u=[0.0, 1.0]", "baseline.u"),
    ("mpc.horizn=5", "mpc.horizn.*did you mean 'horizon'"),
])
def test_bad_input_is_one_line_naming_the_field(override, field):
    with pytest.raises(ValueError, match=field) as excinfo:
        jr.config.load("koopman_control", overrides=[override])
    assert "\n" not in str(excinfo.value)
