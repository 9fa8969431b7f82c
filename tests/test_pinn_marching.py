"""Time marching (`MarchingConfig`, `window_problem`, `MarchedModel`): each window starts from the last."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import jaxrep as jrp
from jaxrep.nn import ModelConfig
from jaxrep.pinn import (ConstraintConfig, EvalConfig, MarchedModel, MarchingConfig, SamplingConfig, SolveConfig,
                         problems, window_problem)
from jaxrep.pinn._solve import make_model
from jaxrep.train import FitOptions, Phase

SMALL = SamplingConfig(n_residual=32, n_initial=16, n_boundary=16, n_koopman=16, n_offsets=2)


def test_window_problem_takes_its_initial_condition_from_the_previous_window():
    heat = problems.get("heat")
    prev = lambda x, t: jnp.array([jnp.sin(3.0 * x[0]) * (1.0 + t)])  # noqa: E731
    w = window_problem(heat, 0.1, 0.2, prev)
    assert w.train_window == (0.1, 0.2) and w.t0 == 0.1 and w.extrapolation_windows == ()
    x = jnp.array([0.3])
    np.testing.assert_allclose(w.initial_condition(x), prev(x, 0.1), rtol=1e-6)
    # the PDE is the problem's own: same residual for any u
    u = lambda x, t: jnp.array([jnp.cos(x[0]) * jnp.exp(-t)])  # noqa: E731
    np.testing.assert_allclose(w.residual(u, x, jnp.array(0.15)), heat.residual(u, x, jnp.array(0.15)), rtol=1e-6)
    np.testing.assert_allclose(w.initial_residual(u, x), u(x, 0.1) - prev(x, 0.1), rtol=1e-6)
    # without a previous window it is the problem's own initial condition
    np.testing.assert_allclose(window_problem(heat, 0.0, 0.1).initial_condition(x), heat.initial_condition(x))


def test_second_order_window_also_matches_the_velocity():
    wave = problems.get("wave")
    prev = lambda x, t: jnp.array([jnp.sin(x[0]) * jnp.cos(2.0 * t)])  # noqa: E731
    w = window_problem(wave, 0.2, 0.4, prev)
    x = jnp.array([0.7])
    u = lambda x, t: prev(x, t) + 0.5 * (t - 0.2) + 0.25  # noqa: E731
    r = w.initial_residual(u, x)
    # value: u - prev = 0.25; velocity: u_t - prev_t = 0.5
    np.testing.assert_allclose(r, [0.25, 0.5], rtol=1e-5)


def test_marched_model_uses_each_windows_network():
    p = problems.get("heat")
    cfg = SolveConfig(model=ModelConfig(width_size=8, depth=2), sampling=SMALL)
    m0, m1 = (make_model(p, cfg, koopman=False, key=jr.PRNGKey(i)) for i in (0, 1))
    mm = MarchedModel((m0, m1), (0.0, 0.25, 0.5))
    x = jnp.array([0.4])
    ts = jnp.array([0.0, 0.1, 0.2499, 0.25, 0.4, 0.9])
    at = eqx.filter_jit(lambda m, ts: jax.vmap(m.u, in_axes=(None, 0))(x, ts)[:, 0])
    want = jnp.where(ts < 0.25, at(m0, ts), at(m1, ts))
    np.testing.assert_allclose(at(mm, ts), want, rtol=1e-6, atol=1e-7)
    assert not np.allclose(at(m0, ts), at(m1, ts))


def test_solve_marches_and_the_windows_join_continuously(getkey, tmp_path):
    # With the initial condition built in (hard constraint), window k's network equals window k-1's at
    # their common time exactly: the marched solution is continuous across the edges.
    p = problems.get("heat")
    cfg = SolveConfig(model=ModelConfig(width_size=8, depth=2), sampling=SMALL, eval=EvalConfig(n_x=16, n_t=6),
                      fit=FitOptions(steps_per_call=10, log_every=10),
                      constraints=ConstraintConfig(initial=True), marching=MarchingConfig(windows=2))
    sol = jrp.pinn.solve(p, "pinn", cfg, key=getkey(), phases=[Phase(optax.adam(3e-3), 20)], run_dir=tmp_path,
                         progress=False)
    mm = sol.model
    assert isinstance(mm, MarchedModel) and len(mm.models) == 2
    t_edge = mm.edges[1]
    np.testing.assert_allclose(t_edge, np.mean(p.train_window))
    xs = jnp.linspace(p.lower[0], p.upper[0], 9)[:, None]
    left = jax.vmap(mm.models[0].u, in_axes=(0, None))(xs, jnp.float32(t_edge))
    right = jax.vmap(mm.models[1].u, in_axes=(0, None))(xs, jnp.float32(t_edge))
    np.testing.assert_allclose(right, left, atol=1e-6)
    assert not np.allclose(mm.models[0].u(xs[3], jnp.float32(0.9 * t_edge)),
                           mm.models[1].u(xs[3], jnp.float32(0.9 * t_edge)))
    h = sol.history
    np.testing.assert_array_equal(h["window"], [0, 0, 1, 1])
    np.testing.assert_array_equal(h["step"], [10, 20, 30, 40])
    assert (tmp_path / "windows" / "0" / "metrics.jsonl").is_file()
    assert (tmp_path / "windows" / "1" / "metrics.jsonl").is_file()
    assert np.isfinite(sol.metrics["rel_l2_train_window"])


def test_marching_rejects_bad_input():
    with pytest.raises(ValueError, match="marching.windows"):
        MarchingConfig(windows=0)
    cfg = SolveConfig(constraints=ConstraintConfig(initial=True), marching=MarchingConfig(windows=2))
    with pytest.raises(ValueError, match="first order in time"):
        jrp.pinn.solve(problems.get("wave"), "pinn", cfg, key=jr.PRNGKey(0), progress=False)
