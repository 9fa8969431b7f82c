"""RAD: residual-based adaptive redistribution of the collocation points (`jaxrep.pinn.rad_*`)."""


import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import jaxrep as jrp
from jaxrep.nn import ModelConfig
from jaxrep.pinn import (EvalConfig, LossWeights, RADConfig, SamplingConfig, SolveConfig, make_loss_fn,
                         make_sampler, problems, rad_select, rad_state)
from jaxrep.pinn._losses import residuals
from jaxrep.pinn._solve import make_model
from jaxrep.train import FitOptions, Phase

SMALL = SamplingConfig(n_residual=32, n_initial=16, n_boundary=16, n_koopman=16, n_offsets=2)


def test_single_draw_probability_is_the_rad_density():
    # One point drawn from m candidates: P(j) = p_j exactly, p_j ∝ |r_j|^k / mean|r|^k + c. 40000
    # independent draws; each frequency within 5 binomial standard deviations of p_j.
    r = jnp.array([0.0, 0.5, 1.0, 2.0, 4.0])
    draws = 40_000
    for k, c in ((1.0, 1.0), (2.0, 0.0), (0.5, 3.0)):
        w = np.asarray(r) ** k
        p = w / w.mean() + c
        p = p / p.sum()
        idx = jax.vmap(lambda key: rad_select(key, r, 1, k, c)[0])(jr.split(jr.PRNGKey(0), draws))
        freq = np.bincount(np.asarray(idx), minlength=5) / draws
        sd = np.sqrt(p * (1 - p) / draws)
        assert np.all(np.abs(freq - p) <= 5 * sd + 1e-12), (k, c, freq, p)


def test_draws_are_distinct_and_avoid_zero_density_points():
    # Without replacement: n distinct indices. With c = 0 a zero-residual candidate has density 0 and is
    # never chosen while enough positive ones exist; with large k the draw is the top-n residuals.
    key = jr.PRNGKey(1)
    r = jnp.concatenate([jnp.zeros(50), jnp.linspace(0.1, 1.0, 50)])
    for i in range(20):
        idx = np.asarray(rad_select(jr.fold_in(key, i), r, 30, 1.0, 0.0))
        assert len(set(idx.tolist())) == 30 and np.all(idx >= 50)
    top = np.sort(np.asarray(rad_select(key, r, 10, 200.0, 0.0)))
    np.testing.assert_array_equal(top, np.arange(90, 100))


@pytest.fixture(scope="module")
def heat_setup():
    p = problems.get("heat")
    rad = RADConfig(every=3, pool=4, k=2.0, c=0.0)
    cfg = SolveConfig(model=ModelConfig(width_size=8, depth=2), sampling=SMALL, rad=rad)
    model = make_model(p, cfg, koopman=False, key=jr.PRNGKey(2))
    sampler = make_sampler(p, SMALL, koopman=False, rad=rad)
    return p, rad, model, sampler


def test_rad_loss_redraws_on_schedule_and_trains_on_its_points(heat_setup):
    p, rad, model, sampler = heat_setup
    # jitted: eager dispatch of the second-derivative residuals is slow
    loss_fn = eqx.filter_jit(make_loss_fn(p, LossWeights(), koopman=False, sparse=False, rad=rad))
    plain = eqx.filter_jit(make_loss_fn(p, LossWeights(), koopman=False, sparse=False))
    res = eqx.filter_jit(lambda m, xs, ts: jnp.linalg.norm(residuals(p, m.u, xs, ts), axis=-1))
    sampler = jax.jit(sampler)
    state = rad_state(p, SMALL.n_residual)
    seen = []
    for step in range(7):
        batch = sampler(jr.PRNGKey(10 + step), step)
        assert batch["x_c"].shape == (rad.pool * SMALL.n_residual, 1)
        loss, aux, new = loss_fn(model, batch, jr.PRNGKey(100 + step), state)
        xs, ts = np.asarray(new["rad_x"]), np.asarray(new["rad_t"])
        # the loss is the plain PINN loss on the state's points
        ref, _ = plain(model, {**{k: v for k, v in batch.items() if k not in ("x_c", "t_c")},
                               "x_r": new["rad_x"], "t_r": new["rad_t"]}, jr.PRNGKey(0))
        np.testing.assert_allclose(loss, ref, rtol=1e-6)
        cand = np.concatenate([np.asarray(batch["x_c"]), np.asarray(batch["t_c"])[:, None]], 1)
        chosen = np.concatenate([xs, ts[:, None]], 1)
        if step == 0:  # first call: the first n candidates (uniform)
            np.testing.assert_array_equal(chosen, cand[: SMALL.n_residual])
        elif step % rad.every == 0:  # a redraw: distinct candidates of this batch, at larger residuals
            rows = {tuple(row) for row in cand.tolist()}
            assert all(tuple(row) in rows for row in chosen.tolist())
            assert len({tuple(row) for row in chosen.tolist()}) == SMALL.n_residual
            r_c = np.asarray(res(model, batch["x_c"], batch["t_c"]))
            r_s = np.asarray(res(model, new["rad_x"], new["rad_t"]))
            np.testing.assert_allclose(aux["rad_mean_ratio"], r_s.mean() / r_c.mean(), rtol=1e-5)
            assert float(aux["rad_mean_ratio"]) > 1.0
        else:  # between redraws the points are kept
            np.testing.assert_array_equal(chosen, seen[-1])
        assert int(new["rad_count"]) == step + 1
        seen.append(chosen)
        state = new
    # a batch without candidates (a fixed-point phase) is used as given and the state kept
    fixed = make_sampler(p, SMALL, koopman=False)(jr.PRNGKey(5), 0)
    loss, _, kept = loss_fn(model, fixed, jr.PRNGKey(6), state)
    np.testing.assert_allclose(loss, plain(model, fixed, jr.PRNGKey(0))[0], rtol=1e-6)
    for k in state:
        np.testing.assert_array_equal(kept[k], state[k])


def test_rad_composes_with_balancing(heat_setup):
    p, rad, model, sampler = heat_setup
    bal = jrp.pinn.BalanceConfig(every=2)
    loss_fn = make_loss_fn(p, LossWeights(), koopman=False, sparse=False, rad=rad, balance=bal)
    state = {"weights": jnp.ones(3), "count": jnp.zeros((), jnp.int32), **rad_state(p, SMALL.n_residual)}
    loss, aux, new = loss_fn(model, sampler(jr.PRNGKey(0), 0), jr.PRNGKey(1), state)
    assert set(new) == set(state) and int(new["count"]) == 1 and int(new["rad_count"]) == 1
    assert "weight_physics" in aux and "rad_mean_ratio" in aux


def test_fixed_points_are_chosen_where_the_residual_is_large(heat_setup):
    # rad_fixed_points: n of pool * n candidates in the training region, the other entries kept; with
    # k = 2, c = 0 the chosen points' mean |r| is above the candidates' (E|r|^3 / E|r|^2 >= E|r|), with
    # k -> infinity they are the n largest, and the choice is a function of the key.
    p, _, model, _ = heat_setup
    rad = RADConfig(pool=4, k=2.0, c=0.0, fixed=True)
    select = jrp.pinn.rad_fixed_points(p, rad)
    batch = make_sampler(p, SMALL, koopman=False)(jr.PRNGKey(0), 0)
    out = select(model, batch, jr.PRNGKey(1))
    assert out["x_r"].shape == batch["x_r"].shape and out["t_r"].shape == batch["t_r"].shape
    np.testing.assert_array_equal(out["x_0"], batch["x_0"])
    t0, t1 = p.train_window
    assert np.all((out["t_r"] >= t0) & (out["t_r"] <= t1))
    assert np.all((out["x_r"] >= np.asarray(p.train_lower)) & (out["x_r"] <= np.asarray(p.train_upper)))
    r = lambda x, t: jnp.abs(residuals(p, model.u, x, t)[:, 0])  # noqa: E731
    x_c, t_c = jrp.pinn._sampling.space_time_points(jr.split(jr.PRNGKey(1))[0], p, 4 * 32, t0, t1,
                                                     region=(p.train_lower, p.train_upper))
    assert float(jnp.mean(r(out["x_r"], out["t_r"]))) > 1.1 * float(jnp.mean(r(x_c, t_c)))
    # large k: the choice is the n candidates with the largest |r|
    top = jrp.pinn.rad_fixed_points(p, RADConfig(pool=4, k=200.0, c=0.0))(model, batch, jr.PRNGKey(1))
    want = np.sort(np.asarray(t_c)[np.argsort(-np.asarray(r(x_c, t_c)))[:32]])
    np.testing.assert_array_equal(np.sort(np.asarray(top["t_r"])), want)
    again = select(model, batch, jr.PRNGKey(1))
    np.testing.assert_array_equal(again["x_r"], out["x_r"])


def test_solve_with_rad_and_an_lbfgs_phase(getkey, tmp_path):
    # Through solve: the ratio is 1 before the first redraw and > 1 after (the untrained residual is far
    # from uniform); the fixed L-BFGS phase (no candidates) keeps the last redraw's state and, with
    # rad.fixed, trains on points chosen by the residual (saved beside the checkpoints).
    p = problems.get("heat")
    cfg = SolveConfig(model=ModelConfig(width_size=8, depth=2), sampling=SMALL, eval=EvalConfig(n_x=16, n_t=6),
                      fit=FitOptions(steps_per_call=5, log_every=1),
                      rad=RADConfig(every=5, k=2.0, c=0.0, fixed=True))
    phases = [Phase(optax.adam(3e-3), 15), Phase(optax.lbfgs(), 5, resample=False)]
    sol = jrp.pinn.solve(p, "pinn", cfg, key=getkey(), phases=phases, progress=False, run_dir=tmp_path)
    with np.load(tmp_path / "checkpoints" / "phase_1_batch.npz", allow_pickle=False) as z:
        assert any(z[f].shape == (32, 1) for f in z.files)
    ratio = dict(zip(sol.history["step"].tolist(), sol.history["rad_mean_ratio"].tolist()))
    assert all(ratio[s] == 1.0 for s in range(1, 6))
    assert ratio[6] > 1.0 and ratio[7] == ratio[6]
    assert ratio[20] == ratio[15]
    assert np.isfinite(sol.metrics["rel_l2_train_window"])


def test_rad_config_rejects_bad_input():
    for kw, field in ((dict(every=-1), "rad.every"), (dict(pool=1), "rad.pool"), (dict(k=-1.0), "rad.k"),
                      (dict(c=-0.5), "rad.c"), (dict(k=0.0, c=0.0), "rad.k and rad.c"),
                      (dict(fixed="yes"), "rad.fixed")):
        with pytest.raises(ValueError, match=field):
            RADConfig(**kw)
    p = problems.get("heat")
    loss_fn = make_loss_fn(p, LossWeights(), koopman=False, sparse=False, rad=RADConfig(every=2))
    with pytest.raises(ValueError, match="no residual points"):
        loss_fn(None, {"x_0": jnp.zeros((2, 1))}, None, rad_state(p, 4))
