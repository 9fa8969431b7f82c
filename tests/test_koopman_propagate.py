"""`propagate`: exactness against scipy.linalg.expm (float64), stiff and defective generators,
the uniform fast path, gradients against finite differences, vmap, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import jaxrep as jr


def _reference(A, z0, ts):
    return np.stack([scipy.linalg.expm(t * A) @ z0 for t in ts])


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b))


def _cases(rng):
    dense = rng.standard_normal((5, 5))
    # stiff: eigenvalues spread from -1e4 to -1 in a non-normal basis
    V = np.eye(5) + 0.3 * rng.standard_normal((5, 5))
    stiff = V @ np.diag([-1e4, -3e3, -50.0, -2.0, -1.0]) @ np.linalg.inv(V)
    # defective: a 3x3 Jordan block (lambda = -0.5) plus a rotation, in a random basis
    J = np.zeros((5, 5))
    J[:3, :3] = -0.5 * np.eye(3) + np.diag([1.0, 1.0], 1)
    J[3:, 3:] = [[0.0, 2.0], [-2.0, 0.0]]
    W = np.eye(5) + 0.2 * rng.standard_normal((5, 5))
    defective = W @ J @ np.linalg.inv(W)
    return {"dense": dense, "stiff": stiff, "defective": defective}


@pytest.mark.parametrize("case", ["dense", "stiff", "defective"])
def test_matches_scipy_nonuniform(case, x64):
    rng = np.random.default_rng(0)
    A = _cases(rng)[case]
    z0 = rng.standard_normal(5)
    ts = np.sort(rng.uniform(0.0, 3.0, size=7))
    ts = jnp.asarray(ts)
    out = jax.jit(jr.koopman.propagate)(A, z0, ts)  # traced ts: per-time expm path
    assert out.shape == (7, 5) and out.dtype == jnp.float64
    ref = _reference(A, z0, np.asarray(ts))
    assert _rel(out, ref) < 1e-10


@pytest.mark.parametrize("case", ["dense", "stiff", "defective"])
@pytest.mark.parametrize("n_t", [3, 17, 200])
def test_uniform_fast_path_matches_scipy(case, n_t, x64):
    rng = np.random.default_rng(1)
    A = _cases(rng)[case]
    if case == "dense":
        A = A - 2.0 * np.eye(5)  # keep the 200-step rollout bounded for a relative comparison
    z0 = rng.standard_normal(5)
    t0, dt = 0.25, 0.02
    ts = t0 + dt * np.arange(n_t)
    ref = _reference(A, z0, ts)
    auto = jr.koopman.propagate(A, z0, ts)  # concrete uniform ts: fast path
    explicit = jr.koopman.propagate_uniform(A, z0, dt, n_t, t0=t0)
    # compare row by row against the reference scale at that time (decaying rows)
    for out in (auto, explicit):
        err = np.abs(np.asarray(out) - ref).max(-1) / np.maximum(np.abs(ref).max(-1), 1e-300)
        assert err.max() < 1e-9, err.max()
    # and the fast path agrees with the per-time path when ts is traced
    traced = jax.jit(jr.koopman.propagate)(A, z0, jnp.asarray(ts))
    np.testing.assert_allclose(explicit, traced, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


def test_stiff_large_norm(x64):
    # ||t A|| ~ 1e5: many squarings; decaying solution must stay exact, not NaN or blow up.
    A = np.array([[-2e4, 1e4], [0.0, -1.0]])
    z0 = np.array([1.0, 1.0])
    ts = np.array([0.0, 1e-4, 1e-3, 0.5, 5.0])
    out = jax.jit(jr.koopman.propagate)(A, z0, jnp.asarray(ts))
    ref = _reference(A, z0, ts)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-14)


def test_first_step_equals_z0_and_negative_dt(x64):
    A = np.array([[0.0, 1.0], [-1.0, -0.1]])
    z0 = np.array([1.0, 0.0])
    out = jr.koopman.propagate_uniform(A, z0, -0.1, 5)
    np.testing.assert_array_equal(out[0], z0)
    np.testing.assert_allclose(out, _reference(A, z0, -0.1 * np.arange(5)), rtol=1e-12)


def test_vmap_over_z0_and_float32():
    A = jnp.array([[0.0, 1.0], [-4.0, 0.0]])  # harmonic oscillator, omega = 2
    Z0 = jnp.array([[1.0, 0.0], [0.0, 2.0], [0.5, -1.0]])
    ts = jnp.linspace(0.0, 3.0, 31)
    out = jax.vmap(jr.koopman.propagate, in_axes=(None, 0, None))(A, Z0, ts)
    assert out.shape == (3, 31, 2) and out.dtype == jnp.float32
    x0, v0 = Z0[:, 0:1], Z0[:, 1:2]
    exact = x0 * jnp.cos(2 * ts) + v0 / 2 * jnp.sin(2 * ts)
    np.testing.assert_allclose(out[..., 0], exact, atol=2e-5)


def test_gradients_match_finite_differences(x64):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4)) - np.eye(4)
    z0 = rng.standard_normal(4)
    ts_nonuni = jnp.array([0.1, 0.7, 1.3])
    w = rng.standard_normal((3, 4))

    def loss_traced(A, z0, ts):
        return jnp.sum(w * jr.koopman.propagate(A, z0, ts))

    def loss_uniform(A, z0):
        return jnp.sum(w * jr.koopman.propagate_uniform(A, z0, 0.6, 3, t0=0.1))

    gA, gz, gt = jax.jit(jax.grad(loss_traced, argnums=(0, 1, 2)))(A, z0, ts_nonuni)
    gA_u, gz_u = jax.jit(jax.grad(loss_uniform, argnums=(0, 1)))(A, z0)

    def fd(f, x, h=1e-6):
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[idx] = h
            g[idx] = (f(x + e) - f(x - e)) / (2 * h)
        return g

    ts_np = np.asarray(ts_nonuni)
    ref = lambda A_, z_, t_: float(np.sum(w * _reference(A_, z_, t_)))  # noqa: E731
    fA = fd(lambda a: ref(a, z0, ts_np), A)
    fz = fd(lambda z: ref(A, z, ts_np), z0)
    ft = fd(lambda t: ref(A, z0, t), ts_np)
    np.testing.assert_allclose(gA, fA, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gz, fz, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gt, ft, rtol=1e-6, atol=1e-8)
    # uniform grid 0.1, 0.7, 1.3 is the same grid, so the same gradients
    np.testing.assert_allclose(gA_u, fA, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gz_u, fz, rtol=1e-6, atol=1e-8)


def test_bad_input():
    A = jnp.eye(3)
    with pytest.raises(ValueError, match=r"z0 must have shape \(3,\).*\(4, 3\).*vmap"):
        jr.koopman.propagate(A, jnp.ones((4, 3)), jnp.ones(2))
    with pytest.raises(ValueError, match=r"A must be a square matrix.*\(3, 2\)"):
        jr.koopman.propagate(jnp.ones((3, 2)), jnp.ones(3), jnp.ones(2))
    with pytest.raises(ValueError, match="ts must have shape"):
        jr.koopman.propagate(A, jnp.ones(3), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="n_steps"):
        jr.koopman.propagate_uniform(A, jnp.ones(3), 0.1, 0)
