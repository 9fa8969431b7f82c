"""Problem suite: residuals vanish on exact solutions and not on perturbed ones; bad input errors."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxrep as jrp
from jaxrep.pinn import problems

EXACT = [n for n in problems.names() if problems.get(n).has_exact]


def _points(problem, key, n=16):
    k1, k2 = jr.split(key)
    d = problem.spatial_dim
    dtype = jnp.result_type(float)  # float64 under the x64 fixture
    lo = jnp.asarray(problem.lower, dtype) if d else jnp.zeros((0,), dtype)
    hi = jnp.asarray(problem.upper, dtype) if d else jnp.zeros((0,), dtype)
    xs = lo + (hi - lo) * jr.uniform(k1, (n, d), dtype=dtype)
    t0, t1 = problem.time_window
    ts = jr.uniform(k2, (n,), minval=t0, maxval=t1, dtype=dtype)
    return xs, ts


def _perturbed(u):
    def up(x, t):
        return u(x, t) + 0.1 * (1.0 + t) * jnp.cos(0.7 * jnp.sum(x) + 0.3)
    return up


def test_derivative_helpers(x64):
    u = lambda x, t: jnp.stack([jnp.sin(2 * x[0]) * jnp.exp(3 * t) * x[1] ** 2])
    x = jnp.array([0.3, 0.7])
    t = jnp.array(0.2)
    s, e = jnp.sin(0.6), jnp.exp(0.6)
    assert np.allclose(jrp.pinn.dt(u, x, t, 2), 9 * s * e * 0.49)
    assert np.allclose(jrp.pinn.dx(u, x, t, 0, 3), -8 * jnp.cos(0.6) * e * 0.49)
    assert np.allclose(jrp.pinn.dx(u, x, t, 1, 2), 2 * s * e)
    assert np.allclose(jrp.pinn.laplacian(u, x, t), (-4 * s * 0.49 + 2 * s) * e)
    assert np.allclose(jrp.pinn.bilaplacian(u, x, t), (16 * s * 0.49 - 16 * s) * e)


def test_shared_pass_helpers_match_closed_forms(x64):
    # u = sin(2 x0) e^{3t} x1^2: d^k/dx0^k sin(2 x0) = 2^k sin(2 x0 + k pi / 2)
    u = lambda x, t: jnp.stack([jnp.sin(2 * x[0]) * jnp.exp(3 * t) * x[1] ** 2])
    x = jnp.array([0.3, 0.7])
    t = jnp.array(0.2)
    e = jnp.exp(0.6)
    got = jrp.pinn.dx_upto(u, x, t, 0, 4)
    assert len(got) == 5
    for k, g in enumerate(got):
        assert np.allclose(g, 2**k * jnp.sin(0.6 + k * jnp.pi / 2) * e * 0.49, rtol=1e-12)
    # along x1 (a quadratic): 2 x1, 2, then exact zeros
    _, d1, d2, d3 = jrp.pinn.dx_upto(u, x, t, 1, 3)
    assert np.allclose([d1[0], d2[0], d3[0]], [1.4 * jnp.sin(0.6) * e, 2 * jnp.sin(0.6) * e, 0.0])
    assert len(jrp.pinn.dx_upto(u, x, t, 0, 0)) == 1
    v, v_t = jrp.pinn.value_and_dt(u, x, t)
    assert np.allclose(v, jnp.sin(0.6) * e * 0.49) and np.allclose(v_t, 3 * jnp.sin(0.6) * e * 0.49)
    with pytest.raises(ValueError, match="order must be >= 0"):
        jrp.pinn.dx_upto(u, x, t, 0, -1)


@pytest.mark.parametrize("name", EXACT)
def test_residual_vanishes_on_exact_solution(name, x64, getkey):
    p = problems.get(name)
    xs, ts = _points(p, getkey())
    res = jax.jit(jax.vmap(lambda x, t: p.residual(p.reference, x, t)))(xs, ts)
    assert res.dtype == jnp.float64
    assert float(jnp.max(jnp.abs(res))) < 1e-9
    init = jax.vmap(lambda x: p.initial_residual(p.reference, x))(xs)
    assert float(jnp.max(jnp.abs(init))) < 1e-12
    bad = jax.jit(jax.vmap(lambda x, t: p.residual(_perturbed(p.reference), x, t)))(xs, ts)
    assert float(jnp.sqrt(jnp.mean(bad**2))) > 1e-2


@pytest.mark.parametrize("name", [n for n in EXACT if problems.get(n).spatial_dim])
def test_boundary_residual_vanishes_on_exact_solution(name, x64, getkey):
    from jaxrep.pinn._sampling import boundary_points

    p = problems.get(name)
    xb, dim, side = boundary_points(getkey(), p, 32)
    xb = xb.astype(jnp.float64)
    ts = jnp.linspace(*p.time_window, 32)
    res = jax.jit(jax.vmap(lambda x, t, d, s: p.boundary_residual(p.reference, x, t, d, s)))(xb, ts, dim, side)
    assert float(jnp.max(jnp.abs(res))) < 1e-6
    # the sampled points do lie on a face of the box
    lo, hi = np.asarray(p.lower), np.asarray(p.upper)
    on_face = np.isclose(np.asarray(xb)[np.arange(32), np.asarray(dim)], np.where(np.asarray(side) == 1, hi[np.asarray(dim)], lo[np.asarray(dim)]))
    assert on_face.all()
    bad = jax.jit(jax.vmap(lambda x, t, d, s: p.boundary_residual(_perturbed(p.reference), x, t, d, s)))(xb, ts, dim, side)
    assert float(jnp.max(jnp.abs(bad))) > 1e-3


def test_unknown_problem_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: .*heat.*advection"):
        problems.get("hheat_eq")
    with pytest.raises(ValueError, match="no parameter 'viscosity'"):
        problems.get("heat", viscosity=1.0)


@pytest.mark.parametrize(
    "name, field",
    [("heat", "kappa"), ("advection", "c"), ("wave", "c"), ("navier_stokes_2d", "nu"), ("kdv", "c")],
)
def test_negative_parameter_names_the_field(name, field):
    with pytest.raises(ValueError, match=field):
        problems.get(name, **{field: -0.1})


def test_empty_or_misplaced_window_names_the_field():
    with pytest.raises(ValueError, match="train_window"):
        problems.get("heat", train_window=(0.0, 0.0))
    with pytest.raises(ValueError, match="train_window"):
        problems.get("heat", train_window=(0.2, 0.5))
    with pytest.raises(ValueError, match="time_window"):
        problems.get("heat", time_window=(1.0, 1.0))
    with pytest.raises(ValueError, match="extrapolation_windows"):
        problems.get("heat", extrapolation_windows=[(0.7, 0.6)])
    p = problems.get("heat", train_window=[0.0, 0.25], extrapolation_windows=[[0.25, 0.5], [0.5, 1.0]])
    assert p.train_window == (0.0, 0.25) and len(p.extrapolation_windows) == 2


# --- problems without a closed-form solution on their benchmark setup -----------------------------
# Each PDE is checked on a closed-form solution of the same equation (a travelling wave, a kink, a
# soliton, ...) or, where none is simple, on a trial function whose residual is computed by hand.


def _zero(x, t, p):
    return 0.0


def _ks_trial(x, t):
    return jnp.exp(-t) * jnp.sin(x)


def _ks_expected(x, t, p):
    u = _ks_trial(x, t)
    return -u + p.alpha * u * jnp.exp(-t) * jnp.cos(x) - p.beta * u + p.gamma * u


def _ch_trial(x, t):
    return jnp.exp(-t) * jnp.sin(jnp.pi * x)


def _ch_expected(x, t, p):
    u = _ch_trial(x, t)
    ux = jnp.pi * jnp.exp(-t) * jnp.cos(jnp.pi * x)
    w_xx = p.gamma2 * (6 * u * ux**2 - 3 * jnp.pi**2 * u**3 + jnp.pi**2 * u) - p.gamma1 * jnp.pi**4 * u
    return -u - w_xx


def _lorenz_trial(x, t):
    return jnp.stack([jnp.sin(t), jnp.cos(t), t])


def _lorenz_expected(x, t, p):
    a, b, c = jnp.sin(t), jnp.cos(t), t
    f = jnp.stack([p.sigma * (b - a), a * (p.rho - c) - b, a * b - p.beta * c])
    return jnp.stack([jnp.cos(t), -jnp.sin(t), 1.0]) - f


def _seir_trial(x, t):
    return jnp.stack([jnp.exp(-t / 50), 0.1 * jnp.sin(t / 10), 0.2 * t / 100, 0.0 * t])


def _seir_expected(x, t, p):
    s, e, i, r = _seir_trial(x, t)
    ds = jnp.stack([-jnp.exp(-t / 50) / 50, 0.01 * jnp.cos(t / 10), 0.2 / 100, 0.0])
    f = jnp.stack([-p.beta * s * i, p.beta * s * i - p.sigma * e, p.sigma * e - p.gamma * i, p.gamma * i])
    return ds - f


MANUFACTURED = {
    # u = c - a tanh(a (x - ct) / (2 nu)): viscous Burgers travelling wave
    "burgers": (dict(nu=0.05), lambda x, t: (0.3 - 0.5 * jnp.tanh(0.5 * (x - 0.3 * t) / 0.1)), _zero),
    # stationary kink u = tanh(x sqrt(a / 2d))
    "allen_cahn": (dict(d=0.01, a=5.0), lambda x, t: jnp.tanh(x * jnp.sqrt(5.0 / 0.02)), _zero),
    # bright soliton h = sech(x) exp(i t / 2)
    "schrodinger": ({}, lambda x, t: jnp.concatenate([jnp.cos(t / 2) / jnp.cosh(x), jnp.sin(t / 2) / jnp.cosh(x)]), _zero),
    # Ablowitz-Zeppetella wave u = (1 + exp(sqrt(r/6D) x - 5rt/6))^-2
    "fisher_kpp": ({}, lambda x, t: (1 + jnp.exp(jnp.sqrt(3.0 / 0.6) * x - 2.5 * t)) ** -2, _zero),
    # Fletcher's exact 2-D Burgers solution
    "burgers2d": (dict(nu=0.05), lambda x, t: jnp.stack([
        0.75 - 0.25 / (1 + jnp.exp((-4 * x[0] + 4 * x[1] - t) / 1.6)),
        0.75 + 0.25 / (1 + jnp.exp((-4 * x[0] + 4 * x[1] - t) / 1.6))]), _zero),
    "kuramoto_sivashinsky": ({}, _ks_trial, _ks_expected),
    "cahn_hilliard": ({}, _ch_trial, _ch_expected),
    "lorenz": ({}, _lorenz_trial, _lorenz_expected),
    "seir": ({}, _seir_trial, _seir_expected),
}


def test_every_problem_is_covered():
    assert set(EXACT) | set(MANUFACTURED) == set(problems.names())


@pytest.mark.parametrize("name", sorted(MANUFACTURED))
def test_residual_on_closed_form_functions(name, x64, getkey):
    params, u, expected = MANUFACTURED[name]
    p = problems.get(name, **params)
    xs, ts = _points(p, getkey())
    res = jax.jit(jax.vmap(lambda x, t: p.residual(u, x, t) - expected(x, t, p)))(xs, ts)
    assert float(jnp.max(jnp.abs(res))) < 1e-8
    bad = jax.jit(jax.vmap(lambda x, t: p.residual(_perturbed(u), x, t) - expected(x, t, p)))(xs, ts)
    assert float(jnp.sqrt(jnp.mean(bad**2))) > 1e-3


@pytest.mark.parametrize("name", ["burgers", "fisher_kpp", "schrodinger", "cahn_hilliard", "seir"])
def test_reference_starts_at_the_initial_condition(name, getkey):
    # The problem's own u0 and the independently built reference agree at t0 (same setup constants).
    p = problems.get(name)
    xs, _ = _points(p, getkey(), n=32)
    xs = xs.astype(jnp.float32)
    t0 = jnp.asarray(p.t0, jnp.float32)
    ref = jax.vmap(lambda x: p.reference(x, t0))(xs)
    u0 = jax.vmap(p.initial_condition)(xs)
    assert np.allclose(ref, u0, atol=1e-4)
