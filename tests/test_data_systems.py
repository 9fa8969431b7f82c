"""Dynamical systems: diffrax trajectories against closed forms and invariants; SDE statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import jaxrep as jr


def test_slow_manifold_and_linear_match_closed_form(x64, getkey):
    sm = jr.data.SlowManifold(mu=-0.1, lam=-1.0)
    x0 = jnp.array([0.5, 0.3])
    traj = jr.data.trajectory(sm, x0, 0.1, 20)
    assert traj.shape == (21, 2)
    exact = jax.vmap(lambda t: sm.exact_flow(x0, t))(0.1 * jnp.arange(21))
    np.testing.assert_allclose(traj, exact, atol=1e-8)
    A = np.array([[0.0, 1.0], [-2.0, -0.3]])
    X, Y = jr.data.snapshot_pairs(jr.data.LinearSystem(A), 8, 0.25, key=getkey())
    np.testing.assert_allclose(Y, X @ scipy.linalg.expm(0.25 * A).T, atol=1e-8)


def test_pendulum_conserves_energy_and_lorenz_stays_on_attractor(x64):
    traj = jr.data.trajectory(jr.data.Pendulum(), jnp.array([2.0, 0.0]), 0.1, 100)
    energy = 0.5 * traj[:, 1] ** 2 - jnp.cos(traj[:, 0])
    np.testing.assert_allclose(energy, energy[0], atol=1e-8)
    lor = jr.data.trajectory(jr.data.Lorenz63(), jnp.array([1.0, 1.0, 20.0]), 0.05, 200)
    assert bool(jnp.all(jnp.isfinite(lor)))
    assert float(jnp.max(jnp.abs(lor[:, :2]))) < 30 and 0 < float(jnp.mean(lor[:, 2])) < 45


def test_duffing_matches_scipy_and_vector_fields(x64):
    from scipy.integrate import solve_ivp

    system = jr.data.Duffing()
    x0 = np.array([1.0, -0.5])
    traj = jr.data.trajectory(system, jnp.asarray(x0), 0.2, 10)
    ref = solve_ivp(lambda t, y: np.asarray(system.drift(jnp.asarray(y))), (0, 2.0), x0,
                    t_eval=0.2 * np.arange(11), rtol=1e-11, atol=1e-12, method="DOP853")
    np.testing.assert_allclose(traj, ref.y.T, atol=1e-7)
    # the same solver serves every system; check the remaining vector fields against their formulas
    x, v = 0.7, -0.3
    np.testing.assert_allclose(jr.data.VanDerPol(mu=2.0).drift(jnp.array([x, v])),
                               [v, 2.0 * (1 - x**2) * v - x])
    np.testing.assert_allclose(system.drift(jnp.array([x, v])), [v, -0.5 * v + x - x**3])
    np.testing.assert_allclose(jr.data.Lorenz63().drift(jnp.array([1.0, 2.0, 3.0])),
                               [10.0, 1.0 * 25.0 - 2.0, 2.0 - 8.0])


def test_ornstein_uhlenbeck_moments(x64, getkey):
    # same system, sizes and step as the estimator test: one compilation serves both
    ou = jr.data.OrnsteinUhlenbeck(theta=1.0, sigma=1.0)
    X, Y = jr.data.sde_snapshot_pairs(ou, 20000, 0.5, substeps=20, key=getkey())
    stat_var = 0.5
    # stationary start stays stationary; lag covariance e^{-theta dt} var (20000 samples: ~2% error)
    np.testing.assert_allclose(np.var(Y), stat_var, rtol=0.05)
    np.testing.assert_allclose(np.mean(X * Y), np.exp(-0.5) * stat_var, rtol=0.06)
    path = jr.data.sde_trajectory(ou, jnp.array([3.0]), 0.1, 30, key=getkey())
    assert path.shape == (31, 1) and float(path[0, 0]) == 3.0


def test_bad_input(getkey):
    with pytest.raises(ValueError, match=r"x0 must have shape \(2,\).*\(3, 2\)"):
        jr.data.trajectory(jr.data.Pendulum(), jnp.ones((3, 2)), 0.1, 5)
    with pytest.raises(ValueError, match="dt must be"):
        jr.data.trajectory(jr.data.Pendulum(), jnp.ones(2), -0.1, 5)
    with pytest.raises(ValueError, match="A must be square"):
        jr.data.LinearSystem(jnp.ones((2, 3)))
