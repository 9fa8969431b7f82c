"""`jaxrep.pinn.solve`: accuracy on heat, PIKE/SPIKE prediction modes, metrics, KAN backbone, errors."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.scipy.linalg as jsl
import numpy as np
import pytest

import jaxrep as jrp
import optax

from jaxrep.nn import ModelConfig
from jaxrep.pinn import ConstraintConfig, EvalConfig, LossWeights, SamplingConfig, SolveConfig, problems
from jaxrep.train import FitOptions, Phase


def _tiny(steps=40, **kw):
    return SolveConfig(
        model=kw.pop("model", ModelConfig(width_size=16, depth=2)),
        fit=FitOptions(steps_per_call=steps // 2, log_every=steps // 4),
        sampling=SamplingConfig(n_residual=64, n_initial=16, n_boundary=16, n_koopman=16, n_offsets=2),
        eval=EvalConfig(n_x=16, n_x_2d=6, n_t=6),
        **kw,
    )


def _adam(steps=40, lr=3e-3):
    return [Phase(optax.adam(lr), steps)]


def test_short_pinn_run_on_heat_is_accurate():
    # Small budget (a few seconds of training): rel. L2 error against the exact solution < 1e-2, with the
    # initial and wall conditions built in as the bundled configs do (2.3e-3 - 3.7e-3 over seeds 0-2).
    cfg = SolveConfig(
        model=ModelConfig(width_size=20, depth=3, activation="tanh"),
        fit=FitOptions(steps_per_call=750, log_every=750),
        sampling=SamplingConfig(n_residual=256, n_initial=64, n_boundary=64),
        constraints=ConstraintConfig(initial=True, boundary=True),
        eval=EvalConfig(n_x=64, n_t=21),
    )
    phases = jrp.pinn.default_phases(steps=1500, learning_rate=5e-3, decay_rate=0.01)
    sol = jrp.pinn.solve(problems.get("heat"), "pinn", cfg, key=jr.PRNGKey(0), phases=phases, progress=False)
    assert sol.metrics["rel_l2_train_window"] < 1e-2
    # the metric is what it says: recompute it from the evaluation grid
    w = sol.evaluation["windows"][0]
    err = np.linalg.norm(w["network"] - w["reference"]) / np.linalg.norm(w["reference"])
    assert np.isclose(err, sol.metrics["rel_l2_train_window"], rtol=1e-5)
    assert sol.history["loss"][-1] < sol.history["loss"][0]


def test_spike_predict_modes_and_metrics(getkey):
    prob = problems.get("heat")
    sol = jrp.pinn.solve(prob, "spike", _tiny(), key=getkey(), phases=_adam(), progress=False)
    m = sol.metrics
    for k in ("rel_l2_train_window", "rel_l2_extrapolation", "rel_l2_extrapolation_koopman",
              "residual_mse_train_window", "residual_mse_extrapolation", "A_sparsity", "A_eigenvalues",
              "time_per_step"):
        assert k in m, k
    A = sol.model.A()
    dim = sol.model.observable.dim
    assert A.shape == (dim, dim) and len(m["A_eigenvalues"]) == dim
    assert np.isclose(m["A_l1"], float(jnp.sum(jnp.abs(A))), rtol=1e-5)
    T = prob.train_end
    x = jnp.array([[0.2], [0.7], [0.4]])
    t = jnp.array([0.1, T + 0.2, T + 0.45])
    net = sol.predict(x, t, mode="network")
    koop = sol.predict(x, t, mode="koopman")
    assert net.shape == koop.shape == (3, 1)
    assert np.allclose(net[0], koop[0])  # before T the Koopman mode is the network
    for i in (1, 2):  # after T: u = [expm((t - T) A) z(x, T)]_0
        zT = sol.model.z(x[i], jnp.asarray(T))
        manual = (jsl.expm((t[i] - T) * A) @ zT)[:1]
        assert np.allclose(koop[i], manual, rtol=1e-4, atol=1e-5)
    # the stored evaluation uses the same rollout
    w = sol.evaluation["windows"][1]
    xs = jnp.asarray(sol.evaluation["xs"])
    tt = jnp.full((xs.shape[0],), w["ts"][-1])
    assert np.allclose(w["koopman"][-1], sol.predict(xs, tt, mode="koopman"), rtol=1e-4, atol=1e-5)


def test_pinn_accepts_kan_backbone(getkey):
    cfg = _tiny(steps=60, model=ModelConfig(kind="kan", hidden=(6,), grid_size=5, order=3))
    sol = jrp.pinn.solve(problems.get("heat"), "pinn", cfg, key=getkey(), phases=_adam(60), progress=False)
    assert type(sol.model.field.net).__name__ == "KAN"
    h = sol.history["loss"]
    assert np.all(np.isfinite(h)) and h[-1] < h[0]


def test_ode_problem_reports_valid_prediction_time(getkey):
    sol = jrp.pinn.solve(problems.get("lorenz"), "pike", _tiny(), key=getkey(), phases=_adam(), progress=False)
    assert "valid_prediction_time_lyapunov" in sol.metrics
    assert "valid_prediction_time_lyapunov_koopman" in sol.metrics
    lo, hi = problems.get("lorenz").extrapolation_windows[0]
    assert 0 <= sol.metrics["valid_prediction_time_lyapunov"] <= (hi - lo) * 0.9056 + 1e-6


def test_metric_helpers_against_hand_values():
    ref = np.array([[3.0, 4.0]])
    assert np.isclose(float(jrp.pinn.relative_l2(ref + np.array([[0.0, 1.0]]), ref)), 0.2)
    A = np.array([[1.0, 1e-5], [0.0, -2.0]])
    assert jrp.pinn.sparsity(A) == 0.5
    ts = np.linspace(1.0, 2.0, 11)
    ref = np.ones((11, 3))
    pred = ref.copy()
    pred[7:] += 1.0  # relative error jumps above 0.5 at ts[7] = 1.7
    assert np.isclose(jrp.pinn.valid_prediction_time(pred, ref, ts), 0.7)
    assert np.isclose(jrp.pinn.valid_prediction_time(ref, ref, ts), 1.0)


def test_bad_input_errors(getkey):
    prob = problems.get("heat")
    with pytest.raises(ValueError, match="method must be one of .*pinn.*pike.*spike"):
        jrp.pinn.solve(prob, "spike2", key=getkey())
    with pytest.raises(TypeError, match="problem"):
        jrp.pinn.solve("heat", "pinn", key=getkey())
    with pytest.raises(TypeError, match="config"):
        jrp.pinn.solve(prob, "pinn", config={"steps": 3}, key=getkey())
    with pytest.raises(ValueError, match="n_residual"):
        SamplingConfig(n_residual=0)
    with pytest.raises(ValueError, match="weights.l1"):
        LossWeights(l1=-1.0)


def test_staged_spike_trains_the_network_then_the_koopman_parts_alone(monkeypatch, getkey):
    # koopman.staged_steps > 0: fit 1 trains the network alone on the PINN loss, fit 2 trains the generator
    # and observables with the network frozen.
    from jaxrep.pinn import KoopmanConfig, _solve

    calls = []
    real_fit = _solve.fit

    def spy(model, *args, **kwargs):
        out = real_fit(model, *args, **kwargs)
        calls.append((model, out[0]))
        return out

    monkeypatch.setattr(_solve, "fit", spy)
    cfg = dataclasses.replace(_tiny(40), koopman=KoopmanConfig(staged_steps=20))  # logs every 10 steps
    heat, key = problems.get("heat"), getkey()
    sol = jrp.pinn.solve(heat, "spike", cfg, key=key, phases=_adam(20), progress=False)
    leaves = lambda m: jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array))  # noqa: E731
    same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))  # noqa: E731
    (start1, end1), (start2, end2), (start3, end3) = calls
    assert end1.generator is None and end1.observable is None  # stage 1 optimises the network alone
    assert not same(start1.field, end1.field)
    assert same(start2.field, end2.field) and same(end1.field, end2.field) and same(end2.field, end3.field)
    assert not same(start2.generator, end2.generator) and not same(start2.observable, end2.observable)
    # SPIKE's L1 stage continues from where the Koopman stage ended
    assert same(end2.generator, start3.generator) and not same(start3.generator, end3.generator)
    assert list(sol.history["stage"]) == [0, 0, 1, 1, 2, 2]
    assert list(sol.history["step"]) == [10, 20, 30, 40, 50, 60]
    assert "koopman_gen" in sol.history and "rel_l2_extrapolation_koopman" in sol.metrics
    # PIKE has no L1 stage
    calls.clear()
    jrp.pinn.solve(heat, "pike", cfg, key=getkey(), phases=_adam(20), progress=False)
    assert len(calls) == 2
    with pytest.raises(ValueError, match="koopman.staged_steps"):
        KoopmanConfig(staged_steps=-1)

    # network=: stage 1 is the PINN's own optimisation, so SPIKE started from solve(heat, "pinn") with
    # the same config, key and phases is the whole staged SPIKE above bit for bit, with one fit fewer
    calls.clear()
    pinn = jrp.pinn.solve(heat, "pinn", cfg, key=key, phases=_adam(20), progress=False)
    reused = jrp.pinn.solve(heat, "spike", cfg, key=key, phases=_adam(20), progress=False, network=pinn)
    assert len(calls) == 3  # the PINN's fit, then the two Koopman stages alone
    assert bool(eqx.tree_equal(reused.model, sol.model))
    for name in ("rel_l2_train_window", "rel_l2_extrapolation_koopman", "A_sparsity"):
        assert reused.metrics[name] == sol.metrics[name], name
    for name in ("step", "stage", "loss"):
        np.testing.assert_array_equal(reused.history[name], sol.history[name])
    # misuse: one-line errors
    with pytest.raises(TypeError, match="method 'pinn' solve"):
        jrp.pinn.solve(heat, "spike", cfg, key=key, phases=_adam(20), progress=False, network=sol)
    with pytest.raises(ValueError, match="staged PIKE/SPIKE"):
        jrp.pinn.solve(heat, "pinn", cfg, key=key, phases=_adam(20), progress=False, network=pinn)
    with pytest.raises(ValueError, match="staged PIKE/SPIKE"):
        jrp.pinn.solve(heat, "spike", _tiny(40), key=key, phases=_adam(20), progress=False, network=pinn)
    with pytest.raises(ValueError, match="trained on heat"):
        jrp.pinn.solve(problems.get("advection"), "spike", cfg, key=key, phases=_adam(20), progress=False,
                       network=pinn)
    with pytest.raises(ValueError, match="differ in kind, parameters"):  # same PDE, another diffusivity
        jrp.pinn.solve(problems.get("heat", kappa=0.2), "spike", cfg, key=key, phases=_adam(20),
                       progress=False, network=pinn)
    wider = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, width_size=cfg.model.width_size + 1))
    with pytest.raises(ValueError, match="does not match"):
        jrp.pinn.solve(heat, "spike", wider, key=key, phases=_adam(20), progress=False, network=pinn)

