"""The PINN training stack: hard constraints, causal weighting, optimiser phases through `solve`."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import jaxrep as jrp
from jaxrep.nn import ModelConfig
from jaxrep.pinn import (CausalConfig, ConstraintConfig, EvalConfig, LossWeights, SamplingConfig, SolveConfig,
                         causal_residual, make_loss_fn, make_sampler, problems)
from jaxrep.pinn._solve import make_model
from jaxrep.train import FitOptions, Phase

SMALL = SamplingConfig(n_residual=64, n_initial=16, n_boundary=16, n_koopman=16, n_offsets=2)


def _cfg(**kw):
    return SolveConfig(model=kw.pop("model", ModelConfig(width_size=8, depth=2)), sampling=kw.pop("sampling", SMALL),
                       eval=EvalConfig(n_x=16, n_x_2d=6, n_t=6), fit=FitOptions(steps_per_call=10, log_every=10), **kw)


@pytest.mark.parametrize("name", ["burgers", "heat2d", "wave"])
def test_hard_initial_and_dirichlet_hold_exactly(name, getkey):
    p = problems.get(name)
    cfg = _cfg(constraints=ConstraintConfig(initial=True, boundary=True))
    u = make_model(p, cfg, koopman=False, key=getkey()).u
    d = p.spatial_dim
    lo, hi = np.asarray(p.lower), np.asarray(p.upper)
    x = jnp.asarray(lo + (hi - lo) * np.asarray(jr.uniform(getkey(), (32, d))), jnp.float32)
    t0 = jnp.asarray(p.t0, jnp.float32)
    # u(x, t0) = u0(x) for any (untrained, random) network
    np.testing.assert_allclose(jax.vmap(lambda xi: u(xi, t0))(x), jax.vmap(p.initial_condition)(x), atol=1e-6)
    if p.time_order == 2:  # and u_t(x, t0) = 0
        ut = jax.vmap(lambda xi: jax.jvp(lambda s: u(xi, s), (t0,), (jnp.ones_like(t0),))[1])(x)
        np.testing.assert_allclose(ut, 0.0, atol=1e-6)
    # the walls hold at every time
    ts = jr.uniform(getkey(), (32,), minval=p.time_window[0], maxval=p.time_window[1])
    for i in range(d):
        for bound in (lo[i], hi[i]):
            xw = x.at[:, i].set(bound)
            got = jax.vmap(u)(xw, ts)
            want = jax.vmap(p.boundary_value)(xw, ts)
            np.testing.assert_allclose(got, want, atol=1e-6)
    # ... and the network is not trivial away from them
    assert float(jnp.std(jax.vmap(u)(x, ts))) > 1e-3


def test_periodic_embedding_makes_the_solution_periodic(getkey):
    p = problems.get("allen_cahn")
    cfg = _cfg(constraints=ConstraintConfig(initial=True, boundary=True))
    u = make_model(p, cfg, koopman=False, key=getkey()).u
    ts = jr.uniform(getkey(), (16,), minval=0.0, maxval=1.0)
    lo, hi = jnp.full((16, 1), p.lower[0]), jnp.full((16, 1), p.upper[0])
    np.testing.assert_allclose(jax.vmap(u)(lo, ts), jax.vmap(u)(hi, ts), atol=1e-5)
    # the periodic residual terms that a penalty would train are zero by construction for u's value;
    # its derivative is periodic too (u0's derivative jump at the box edge aside, which does not change in t)
    du = lambda x, t: jax.jacfwd(lambda y: u(y, t) - p.initial_condition(y))(x)  # noqa: E731
    np.testing.assert_allclose(jax.vmap(du)(lo, ts), jax.vmap(du)(hi, ts), atol=1e-4)
    # and the loss leaves both terms out
    batch = make_sampler(p, SMALL, koopman=False)(getkey(), 0)
    loss_fn = make_loss_fn(p, LossWeights(), koopman=False, sparse=False, hard_initial=True, hard_boundary=True)
    _, aux = loss_fn(make_model(p, cfg, koopman=False, key=getkey()), batch, getkey())
    assert set(aux) == {"physics"}


def test_constraints_that_do_not_apply_are_refused(getkey):
    with pytest.raises(ValueError, match="constraints.boundary"):
        make_model(problems.get("lorenz"), _cfg(constraints=ConstraintConfig(boundary=True)), koopman=False,
                   key=getkey())


def test_causal_residual_matches_its_definition(getkey):
    p = problems.get("heat")
    net = make_model(p, _cfg(), koopman=False, key=getkey())
    batch = make_sampler(p, SamplingConfig(n_residual=48), koopman=False)(getkey(), 0)
    loss, w = causal_residual(p, net.u, batch["x_r"], batch["t_r"], 4, 2.0)
    # by hand: sort by time, 4 slabs of 12, w_i = exp(-2 sum_{k<i} L_k)
    r = np.asarray(jax.vmap(lambda x, t: p.residual(net.u, x, t))(batch["x_r"], batch["t_r"]))[:, 0] ** 2
    order = np.argsort(np.asarray(batch["t_r"]))
    L = r[order].reshape(4, 12).mean(1)
    w_hand = np.exp(-2.0 * np.concatenate([[0.0], np.cumsum(L)[:-1]]))
    np.testing.assert_allclose(w, w_hand, rtol=1e-5)
    np.testing.assert_allclose(loss, np.mean(w_hand * L), rtol=1e-5)
    # Latin-hypercube points put exactly n/chunks points in each equal time slab
    t = np.sort(np.asarray(batch["t_r"]))
    edges = np.linspace(*p.train_window, 5)
    assert all(np.all((t[12 * i:12 * (i + 1)] >= edges[i] - 1e-6) & (t[12 * i:12 * (i + 1)] <= edges[i + 1] + 1e-6))
               for i in range(4))
    # no gradient flows through the weights: d loss = mean(w * dL)
    g = jax.grad(lambda m: causal_residual(p, m.u, batch["x_r"], batch["t_r"], 4, 2.0)[0])(net)
    g_hand = jax.grad(lambda m: jnp.mean(w * jnp.mean(jax.vmap(lambda x, t: p.residual(m.u, x, t))(
        batch["x_r"][order], batch["t_r"][order])[:, 0].reshape(4, 12) ** 2, axis=1)))(net)
    assert eqx.tree_equal(g, g_hand, rtol=1e-4, atol=1e-7)


def test_bad_recipe_options_name_the_field():
    with pytest.raises(ValueError, match="causal.chunks"):
        CausalConfig(chunks=-1)
    with pytest.raises(ValueError, match="causal.chunks=5 must divide"):
        _cfg(causal=CausalConfig(chunks=5))
    with pytest.raises(ValueError, match="fourier_scale"):
        ModelConfig(fourier_features=8, fourier_scale=0.0)
    with pytest.raises(ValueError, match="FitOptions.steps_per_call"):
        FitOptions(steps_per_call=0)


def test_solve_runs_adam_then_lbfgs_and_lbfgs_lowers_the_loss(getkey):
    # The recipe's mechanism on a tiny budget: a hard-constrained heat PINN, Adam then L-BFGS on a fixed
    # set; the L-BFGS phase must lower the loss on its own points (the same fixed batch every step).
    p = problems.get("heat")
    cfg = _cfg(constraints=ConstraintConfig(initial=True, boundary=True))
    fixed = make_sampler(p, SamplingConfig(n_residual=128), koopman=False)
    phases = [Phase(optax.adam(3e-3), 30), Phase(optax.lbfgs(), 30, data=fixed, resample=False)]
    sol = jrp.pinn.solve(p, "pinn", cfg, key=getkey(), phases=phases, progress=False)
    loss = dict(zip(sol.history["step"].tolist(), sol.history["loss"].tolist()))
    assert sol.history["step"][-1] == 60
    assert loss[60] < 0.5 * loss[40]
    assert np.isfinite(sol.metrics["rel_l2_train_window"])
    for k in ("rel_l2_extrapolation_persistence", "rel_l2_extrapolation_damped_persistence", "nrmse_train_window",
              "max_abs_error_train_window", "boundary_rmse_train_window"):
        assert k in sol.metrics, k


def test_grad_norm_balancing_weights_match_their_definition(getkey):
    # First call: lambda_i = sum_j g_j / g_i with g_i the gradient norm of each weighted term (momentum
    # is not applied at the first update); the loss is sum_i lambda_i T_i and the weights carry no gradient.
    p = problems.get("burgers")
    cfg = _cfg(balance=jrp.pinn.BalanceConfig(every=3, momentum=0.5))
    model = make_model(p, cfg, koopman=False, key=getkey())
    batch = make_sampler(p, SMALL, koopman=False)(getkey(), 0)
    loss_fn = make_loss_fn(p, LossWeights(), koopman=False, sparse=False, balance=cfg.balance)
    state = {"weights": jnp.ones(3), "count": jnp.zeros((), jnp.int32)}
    loss, aux, state1 = loss_fn(model, batch, getkey(), state)
    terms, _, _ = loss_fn.terms(model, batch)
    assert list(terms) == ["physics", "initial", "boundary"]
    g = np.array([np.sqrt(sum(float(jnp.sum(x**2)) for x in jax.tree_util.tree_leaves(
        eqx.filter(jax.grad(lambda m, n=n: loss_fn.terms(m, batch)[0][n])(model), eqx.is_inexact_array))))
        for n in terms])
    np.testing.assert_allclose(state1["weights"], g.sum() / g, rtol=1e-4)
    np.testing.assert_allclose(loss, sum(w * float(t) for w, t in zip(g.sum() / g, terms.values())), rtol=1e-4)
    assert int(state1["count"]) == 1
    # calls 2 and 3 keep the weights; call 4 (count 3) mixes new ones in with momentum 0.5
    _, _, s2 = loss_fn(model, batch, getkey(), state1)
    _, _, s3 = loss_fn(model, batch, getkey(), s2)
    np.testing.assert_array_equal(s3["weights"], state1["weights"])
    fake = {"weights": jnp.array([1.0, 2.0, 3.0]), "count": s3["count"]}
    _, _, s4 = loss_fn(model, batch, getkey(), fake)
    np.testing.assert_allclose(s4["weights"], 0.5 * np.array([1.0, 2.0, 3.0]) + 0.5 * g.sum() / g, rtol=1e-4)


def test_ntk_balancing_weights_are_the_mean_ntk_diagonals(getkey):
    # s_i = w_i/m sum_j |grad_theta r_i(p_j)|^2 over the first m points of term i, each gradient taken one
    # point at a time with jax.grad (independent of the Jacobian the loss uses); lambda_i = sum_j s_j / s_i.
    p = problems.get("burgers")
    m = 5
    bal = jrp.pinn.BalanceConfig(every=2, method="ntk", ntk_points=m)
    weights = LossWeights(physics=1.0, initial=10.0, boundary=3.0)
    cfg = _cfg(balance=bal)
    model = make_model(p, cfg, koopman=False, key=getkey())
    batch = make_sampler(p, SMALL, koopman=False)(getkey(), 0)
    loss_fn = make_loss_fn(p, weights, koopman=False, sparse=False, balance=bal)
    state = {"weights": jnp.ones(3), "count": jnp.zeros((), jnp.int32)}
    loss, aux, state1 = loss_fn(model, batch, getkey(), state)

    def sq_grad(f):
        g = eqx.filter(jax.grad(f)(model), eqx.is_inexact_array)
        return sum(float(jnp.sum(x**2)) for x in jax.tree_util.tree_leaves(g))

    s_phys = np.mean([sq_grad(lambda mod, j=j: p.residual(mod.u, batch["x_r"][j], batch["t_r"][j])[0])
                      for j in range(m)]) * weights.physics
    s_init = np.mean([sq_grad(lambda mod, j=j: p.initial_residual(mod.u, batch["x_0"][j])[0])
                      for j in range(m)]) * weights.initial
    s_bnd = np.mean([sq_grad(lambda mod, j=j: p.boundary_residual(
        mod.u, batch["x_b"][j], batch["t_b"][j], batch["dim_b"][j], batch["side_b"][j])[0])
        for j in range(m)]) * weights.boundary
    s = np.array([s_phys, s_init, s_bnd])
    np.testing.assert_allclose(state1["weights"], s.sum() / s, rtol=1e-3)
    terms, _, _ = loss_fn.terms(model, batch)
    np.testing.assert_allclose(loss, sum(w * float(t) for w, t in zip(s.sum() / s, terms.values())), rtol=1e-3)
    # a different subsample size changes the estimate (the option is used), and the weights differ from
    # grad-norm balancing's
    g_fn = make_loss_fn(p, weights, koopman=False, sparse=False, balance=dataclasses.replace(bal, method="grad_norm"))
    _, _, sg = g_fn(model, batch, getkey(), state)
    assert not np.allclose(sg["weights"], state1["weights"], rtol=1e-2)


def test_balance_config_rejects_bad_input():
    with pytest.raises(ValueError, match="balance.method"):
        jrp.pinn.BalanceConfig(every=1, method="ntk_trace")
    with pytest.raises(ValueError, match="balance.ntk_points"):
        jrp.pinn.BalanceConfig(every=1, method="ntk", ntk_points=0)
    with pytest.raises(ValueError, match="balance.method='ntk'.*Koopman"):
        make_loss_fn(problems.get("heat"), LossWeights(), koopman=True, sparse=False,
                     balance=jrp.pinn.BalanceConfig(every=1, method="ntk"))
