"""Problem suite: residuals vanish on exact solutions and not on perturbed ones; bad input errors."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxrep as jrp
from jaxrep.pinn import problems

EXACT = [n for n in problems.names() if problems.get(n).has_exact]


@pytest.fixture
def x64():
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


def _points(problem, key, n=16):
    k1, k2 = jr.split(key)
    d = problem.spatial_dim
    lo = jnp.asarray(problem.lower, jnp.float64) if d else jnp.zeros((0,))
    hi = jnp.asarray(problem.upper, jnp.float64) if d else jnp.zeros((0,))
    xs = lo + (hi - lo) * jr.uniform(k1, (n, d), dtype=jnp.float64)
    t0, t1 = problem.time_window
    ts = jr.uniform(k2, (n,), minval=t0, maxval=t1, dtype=jnp.float64)
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
