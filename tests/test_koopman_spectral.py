"""ResDMD residuals and pseudospectra: zero on invariant subspaces, large for spurious eigenvalues,
equal to the quadratic-form definition, and a lower envelope of the residuals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import jaxrep as jr


MU, LAM, DT = -0.1, -1.0, 0.5


def _slow_data(n=120, seed=0):
    system = jr.data.SlowManifold(mu=MU, lam=LAM)
    X = system.sample_initial(jax.random.PRNGKey(seed), n)
    Y = jax.vmap(lambda x: system.exact_flow(x, DT))(X)
    return X, Y


def _noninvariant(x):
    # {x1, x2, x1^2} spans an invariant subspace; the other three functions do not close.
    return jnp.stack(
        [x[0], x[1], x[0] ** 2, jnp.sin(3 * x[1]), jnp.cos(2 * x[0] + x[1]), jnp.tanh(x[0] * x[1])]
    )


def test_true_eigenvalues_small_residual_spurious_large(x64):
    X, Y = _slow_data()
    est = jr.koopman.edmd(X, Y, _noninvariant, reg=0.0, dt=DT)
    ev = jr.koopman.eig(est)
    res = np.asarray(jr.koopman.residuals(est, X, Y, ev))
    mu = np.asarray(ev.continuous_eigenvalues)
    true = np.array([MU, 2 * MU, LAM])
    is_true = np.array([np.min(np.abs(m - true)) < 1e-8 for m in mu])
    assert is_true.sum() == 3  # the invariant subspace's eigenvalues are found exactly
    assert np.all(res[is_true] < 1e-10)
    assert np.all(res[~is_true] > 1e-3)
    # held-out data gives the same verdict
    Xh, Yh = _slow_data(80, seed=1)
    res_h = np.asarray(jr.koopman.residuals(est, Xh, Yh, ev))
    assert np.all(res_h[is_true] < 1e-10) and np.all(res_h[~is_true] > 1e-3)


def test_residual_equals_quadratic_form(x64):
    X, Y = _slow_data()
    est = jr.koopman.edmd(X, Y, _noninvariant, reg=1e-6, dt=DT)
    ev = jr.koopman.eig(est)
    res = np.asarray(jr.koopman.residuals(est, X, Y, ev))
    PX = np.asarray(jax.vmap(_noninvariant)(X))
    PY = np.asarray(jax.vmap(_noninvariant)(Y))
    W = np.eye(len(X)) / len(X)
    G, A, L = PX.T @ W @ PX, PX.T @ W @ PY, PY.T @ W @ PY
    for lam, g in zip(np.asarray(ev.eigenvalues), np.asarray(ev.eigenvectors).T):
        num = g.conj() @ (L - lam * A.conj().T - np.conj(lam) * A + abs(lam) ** 2 * G) @ g
        ref = np.sqrt(max(num.real, 0.0) / (g.conj() @ G @ g).real)
        np.testing.assert_allclose(res[list(np.asarray(ev.eigenvalues)).index(lam)], ref,
                                   rtol=1e-6, atol=1e-7)


def test_invariant_dictionary_zero_residual_linear_and_generator(x64):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((3, 3)) - np.eye(3)
    X = rng.standard_normal((30, 3))
    Y = X @ scipy.linalg.expm(0.2 * A).T
    lin = jr.koopman.Polynomial(3, 1, constant=False)
    est = jr.koopman.edmd(X, Y, lin, reg=0.0, dt=0.2)
    assert float(jnp.max(jr.koopman.residuals(est, X, Y))) < 1e-12
    gen = jr.koopman.generator_edmd(X, X @ A.T, lin)
    assert float(jnp.max(jr.koopman.residuals(gen, X, X @ A.T))) < 1e-12
    # a wrong velocity field gives a large generator residual
    assert float(jnp.min(jr.koopman.residuals(gen, X, X @ (A + np.eye(3)).T))) > 0.1


def test_pseudospectrum_envelope(x64):
    X, Y = _slow_data()
    est = jr.koopman.edmd(X, Y, _noninvariant, reg=0.0, dt=DT)
    ev = jr.koopman.eig(est)
    res = np.asarray(jr.koopman.residuals(est, X, Y, ev))
    tau_at_eigs = np.asarray(jr.koopman.pseudospectrum(est, X, Y, ev.eigenvalues))
    # tau(z) = min over g, so it is below the residual of the eigenpair at z = lambda
    assert np.all(tau_at_eigs <= res + 1e-10)
    # zero at exact eigenvalues, positive away from the spectrum
    assert float(jr.koopman.pseudospectrum(est, X, Y, jnp.exp(MU * DT) + 0j)) < 1e-10
    grid = jnp.array([[0.3 + 0.4j, -0.5 + 0j], [0.0 + 0.9j, 1.5 + 0j]])
    tau = jr.koopman.pseudospectrum(est, X, Y, grid)
    assert tau.shape == (2, 2) and float(jnp.min(tau)) > 1e-3
    # brute-force check of tau(z) = sigma_min((Psi_Y - z Psi_X) R^{-1}) with Psi_X = Q R
    PX = np.asarray(jax.vmap(_noninvariant)(X))
    PY = np.asarray(jax.vmap(_noninvariant)(Y))
    R = np.linalg.qr(PX, mode="r")
    z = 0.3 + 0.4j
    ref = np.linalg.svd((PY - z * PX) @ np.linalg.inv(R), compute_uv=False)[-1]
    np.testing.assert_allclose(tau[0, 0], ref, rtol=1e-8)


def test_bad_input(x64):
    X, Y = _slow_data(20)
    est = jr.koopman.edmd(X, Y, _noninvariant, reg=1e-6, dt=DT)
    with pytest.raises(ValueError, match=r"same shape"):
        jr.koopman.residuals(est, X, Y[:10])
    with pytest.raises(TypeError, match="fitted Koopman estimator"):
        jr.koopman.eig(np.eye(3))
