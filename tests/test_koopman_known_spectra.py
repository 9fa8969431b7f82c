"""Datasets with known spectra (noisy logistic map, Ornstein-Uhlenbeck, slow manifold) checked against
independent computations, the eigenvalue-error metric, and ResDMD residuals of the deep autoencoder's
estimator view on hand-built exact and perturbed models."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.special

import jaxrep as jr


pytestmark = pytest.mark.usefixtures("x64_module")  # the whole module in float64


# ------------------------------------------------------------------ noisy logistic map


def _beta_features(x, N):
    # written out independently of the library: sqrt(C_N binom(N, i)) sin^(N-i)(pi x) cos^i(pi x)
    c_n = np.pi / scipy.special.beta(N // 2 + 0.5, 0.5)
    i = np.arange(N + 1)
    return (np.sqrt(c_n * scipy.special.binom(N, i)) * np.sin(np.pi * x)[..., None] ** (N - i)
            * np.cos(np.pi * x)[..., None] ** i)


def test_logistic_map_matrix_matches_adaptive_quadrature():
    # kooplearn's construction: K_ij = int_0^1 beta_i(x) beta_j(4x(1-x)) dx by scipy.integrate.quad
    N = 4
    quad = np.array([[scipy.integrate.quad(
        lambda x, i=i, j=j: _beta_features(np.array(x), N)[i] * _beta_features(np.array(4 * x * (1 - x)), N)[j],  # noqa: E501
        0, 1, epsabs=1e-13, epsrel=1e-13)[0] for j in range(N + 1)] for i in range(N + 1)])
    np.testing.assert_allclose(jr.data.logistic_map_matrix(N), quad, atol=1e-11)
    # the kernel integrates to one in y, so the constant is an eigenfunction with eigenvalue 1
    w = np.linalg.eigvals(jr.data.logistic_map_matrix(20))
    assert np.min(np.abs(w - 1.0)) < 1e-10 and np.max(np.abs(w)) < 1 + 1e-10
    with pytest.raises(ValueError, match="N must be even"):
        jr.data.logistic_map_matrix(5)


def test_noisy_logistic_map_samples_and_spectrum():
    N, n = 4, 40_000
    data = jr.data.noisy_logistic_map(n, key=jax.random.PRNGKey(0), N=N)
    X, Y = np.asarray(data.X[:, 0]), np.asarray(data.Y[:, 0])
    assert data.X.shape == (n, 1) and np.all((X >= 0) & (X < 1)) and np.array_equal(X[1:], Y[:-1])
    # the noise xi = y - F(x) (mod 1, centred) has density C_N cos^N(pi xi): compare E[cos(2 pi xi)]
    xi = np.mod(Y - 4 * X * (1 - X) + 0.5, 1.0) - 0.5
    c_n = np.pi / scipy.special.beta(N // 2 + 0.5, 0.5)
    m = scipy.integrate.quad(lambda t: c_n * np.cos(np.pi * t) ** N * np.cos(2 * np.pi * t), -0.5, 0.5)[0]
    assert abs(np.mean(np.cos(2 * np.pi * xi)) - m) < 4 * np.std(np.cos(2 * np.pi * xi)) / math.sqrt(n)
    # span{beta_i o F} is invariant (it contains the range of K), so EDMD on it is consistent: the
    # eigenvalues from the sampled data approach the quadrature ones at the Monte Carlo rate
    feats = jax.jit(lambda x: (jnp.sqrt(np.pi / scipy.special.beta(N // 2 + 0.5, 0.5)
                                        * scipy.special.binom(N, np.arange(N + 1)))
                               * jnp.sin(np.pi * 4 * x[0] * (1 - x[0])) ** (N - np.arange(N + 1))
                               * jnp.cos(np.pi * 4 * x[0] * (1 - x[0])) ** np.arange(N + 1)))
    est = jr.koopman.edmd(data.X, data.Y, feats, reg=0.0)
    lam = np.asarray(jr.koopman.eig(est).eigenvalues)
    exact = np.asarray(data.eigenvalues)
    assert jr.koopman.eigenvalue_error(lam, exact[:3], relative=False) < 0.03
    assert abs(exact[0] - 1) < 1e-10 and np.all(np.diff(np.abs(exact)) <= 1e-12)  # sorted by modulus
    # eigenfunctions: K phi = lambda phi, with K phi(x) = int p(y - F(x)) phi(y) dy by quadrature
    x = np.array([0.1, 0.37, 0.8])
    nodes, w = np.polynomial.legendre.leggauss(400)
    y, w = 0.5 * (nodes + 1), 0.5 * w
    phi = np.asarray(jax.jit(jax.vmap(data.eigenfunctions))(jnp.asarray(np.concatenate([y, x])[:, None])))
    kern = c_n * np.cos(np.pi * (y[None, :] - 4 * x[:, None] * (1 - x[:, None]))) ** N
    Kphi = (kern * w) @ phi[: len(y)]
    phi_x = phi[len(y):]
    np.testing.assert_allclose(Kphi[:, :3], phi_x[:, :3] * exact[:3], atol=1e-9)


# ------------------------------------------------------------------ Ornstein-Uhlenbeck


def test_ou_eigenfunctions_solve_the_generator_equation_and_edmd_finds_the_spectrum():
    theta, sigma, dt = 0.7, 1.3, 0.4
    data = jr.data.ornstein_uhlenbeck(20_000, dt, key=jax.random.PRNGKey(1), theta=theta, sigma=sigma,
                                      n_eig=4)
    np.testing.assert_allclose(data.generator_eigenvalues, -theta * np.arange(4), atol=0)
    np.testing.assert_allclose(data.eigenvalues, np.exp(-theta * np.arange(4) * dt), rtol=1e-14)
    # L phi = -theta x phi' + sigma^2/2 phi'' = mu phi, exactly (autodiff in float64), all k at once
    def phi(x):
        return jnp.real(data.eigenfunctions(jnp.array([x])))

    @jax.jit
    @jax.vmap
    def generator_of_phi(x):
        Lphi = -theta * x * jax.jacfwd(phi)(x) + 0.5 * sigma**2 * jax.jacfwd(jax.jacfwd(phi))(x)
        return Lphi, phi(x)

    Lphi, phis = generator_of_phi(jnp.linspace(-2.0, 2.0, 7))
    np.testing.assert_allclose(Lphi, phis * (-theta * np.arange(4)), atol=1e-10)
    # the sampler: stationary variance and lag-dt correlation of the exact transition
    X, Y = np.asarray(data.X[:, 0]), np.asarray(data.Y[:, 0])
    s2 = sigma**2 / (2 * theta)
    assert abs(np.var(X) / s2 - 1) < 0.03 and abs(np.mean(X * Y) / s2 - math.exp(-theta * dt)) < 0.03
    # polynomials of degree <= 2 are invariant under the OU semigroup: EDMD recovers e^{-k theta dt}
    # (Monte Carlo error ~ 1/sqrt(n) times the spread of He_k, which grows fast with k)
    est = jr.koopman.edmd(data.X, data.Y, jr.koopman.Polynomial(1, 2), reg=0.0, dt=dt)
    lam = np.asarray(jr.koopman.eig(est).eigenvalues)
    assert jr.koopman.eigenvalue_error(lam, data.eigenvalues[:3], relative=False) < 0.03


# ------------------------------------------------------------------ slow manifold


def test_slow_manifold_spectrum_is_exact_on_an_invariant_dictionary():
    mu, lam, dt = -0.05, -1.0, 0.3
    data = jr.data.slow_manifold(200, dt, key=jax.random.PRNGKey(2), mu=mu, lam=lam, order=2)
    np.testing.assert_allclose(np.real(data.generator_eigenvalues),
                               [mu, 2 * mu, lam, mu + lam, 2 * lam], rtol=1e-14)
    # monomials x1^a x2^c of weighted degree a + 2c <= 4 span an invariant subspace of the generator
    # (x2' brings x1^2 in place of x2), so EDMD on exact pairs is exact: an independent computation
    exps = [(a, c) for c in range(3) for a in range(5) if a + 2 * c <= 4]
    feats = lambda x: jnp.stack([x[0] ** a * x[1] ** c for a, c in exps])  # noqa: E731
    est = jr.koopman.edmd(data.X, data.Y, feats, reg=0.0, dt=dt)
    mu_hat = np.asarray(jr.koopman.eig(est).continuous_eigenvalues)
    assert jr.koopman.eigenvalue_error(mu_hat, data.generator_eigenvalues) < 1e-7
    # the eigenfunctions evolve exactly: phi(Y) = lambda phi(X)
    phiX, phiY = jax.vmap(data.eigenfunctions)(data.X), jax.vmap(data.eigenfunctions)(data.Y)
    np.testing.assert_allclose(phiY, phiX * data.eigenvalues, atol=1e-13)
    with pytest.raises(ValueError, match="lam must differ from 2 \\* mu"):
        jr.data.slow_manifold(10, 0.1, key=jax.random.PRNGKey(0), mu=-0.5, lam=-1.0)
    with pytest.raises(ValueError, match="dt must be"):
        jr.data.slow_manifold(10, 0.0, key=jax.random.PRNGKey(0))


# ------------------------------------------------------------------ eigenvalue_error


def test_eigenvalue_error_permutation_and_perturbation():
    exact = np.array([1.0, -0.5 + 2j, -0.5 - 2j, -3.0, 0.2j])
    perm = np.array([3, 0, 4, 2, 1])
    assert float(jr.koopman.eigenvalue_error(exact[perm], exact)) == 0.0
    # distinct small perturbations: each exact eigenvalue keeps its own estimate
    delta = np.array([1e-3, 2e-3j, -3e-3, 4e-3 + 1e-3j, 5e-4])
    est = (exact + delta)[perm]
    err = np.asarray(jr.koopman.eigenvalue_error(est, exact, relative=False, reduction="none"))
    np.testing.assert_allclose(err, np.abs(delta), rtol=1e-12)
    rel = np.asarray(jr.koopman.eigenvalue_error(est, exact, reduction="none"))
    np.testing.assert_allclose(rel, np.abs(delta) / np.abs(exact), rtol=1e-12)
    np.testing.assert_allclose(jr.koopman.eigenvalue_error(est, exact, relative=False),
                               np.abs(delta).max(), rtol=1e-12)
    np.testing.assert_allclose(jr.koopman.eigenvalue_error(est, exact, relative=False, reduction="mean"),
                               np.abs(delta).mean(), rtol=1e-12)
    # the assignment minimises the total error (greedy nearest-first pairing of 1.0 with 1.08 would
    # leave 0.5 for 1.1, total 0.68; the optimum pairs 1.1 with 1.08, total 0.52); the surplus
    # estimate 10.0 stays unmatched
    err2 = jr.koopman.eigenvalue_error(np.array([10.0, 1.08, 0.5]), np.array([1.0, 1.1]),
                                       relative=False, reduction="none")
    np.testing.assert_allclose(err2, [0.5, 0.02], atol=1e-12)
    with pytest.raises(ValueError, match="estimated has 1 eigenvalues, fewer than the 2"):
        jr.koopman.eigenvalue_error([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="relative=False"):
        jr.koopman.eigenvalue_error([1.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="reduction"):
        jr.koopman.eigenvalue_error([1.0], [1.0], reduction="sum")


# ------------------------------------------------------------------ autoencoder as an estimator


def _identity(z):
    return z


def _ae(encoder, A):
    gen = jr.koopman.Generator(A.shape[0], "dense", key=jax.random.PRNGKey(0))
    gen = eqx.tree_at(lambda g: g.weight, gen, jnp.asarray(A, jnp.float64))
    return jr.koopman.KoopmanAutoencoder(encoder, gen, _identity)


def test_as_estimator_residuals_vanish_for_exact_encoders_and_not_otherwise():
    # linear system x' = Ax with the encoder z = Tx: exactly Koopman-invariant, generator T A T^-1
    A = np.array([[-0.2, 1.0], [-1.0, -0.3]])
    T = np.array([[1.0, 0.5], [-0.3, 2.0]])
    dt = 0.2
    X = jax.random.normal(jax.random.PRNGKey(3), (300, 2), jnp.float64)
    Y = X @ scipy.linalg.expm(dt * A).T
    dX = X @ A.T
    def encoder(x):
        return jnp.asarray(T) @ x

    ae = _ae(encoder, T @ A @ np.linalg.inv(T))
    for est, Yd in ((ae.as_estimator(X, dt), Y), (ae.as_estimator(X, dt, generator=True), dX)):
        res = np.asarray(jr.koopman.residuals(est, X, Yd))
        assert res.shape == (2,) and np.max(res) < 1e-10
    # the estimator's eigenvalues are the generator's; forecasts use the fitted read-out exactly
    mu = np.asarray(jr.koopman.eig(ae.as_estimator(X, dt)).continuous_eigenvalues)
    assert jr.koopman.eigenvalue_error(mu, np.linalg.eigvals(A)) < 1e-10
    np.testing.assert_allclose(ae.as_estimator(X, dt).predict(X[0], 3)[-1],
                               scipy.linalg.expm(3 * dt * A) @ np.asarray(X[0]), atol=1e-10)

    # a shifted generator A + eps I keeps the eigenfunctions: the residual is exactly |lambda' - lambda|
    # (discrete) and eps (generator)
    eps = 0.05
    bad = _ae(encoder, T @ A @ np.linalg.inv(T) + eps * np.eye(2))  # same encoder: no recompilation
    res_d = np.asarray(jr.koopman.residuals(bad.as_estimator(X, dt), X, Y))
    lam = np.exp(np.linalg.eigvals(A) * dt)
    np.testing.assert_allclose(res_d, np.abs(lam * (math.exp(eps * dt) - 1)), rtol=1e-8)
    res_g = np.asarray(jr.koopman.residuals(bad.as_estimator(X, dt, generator=True), X, dX))
    np.testing.assert_allclose(res_g, eps, rtol=1e-8)

    # nonlinear: the slow manifold with the eigenfunction encoder (x1, x2 - b x1^2), generator diag(mu, lam)
    data = jr.data.slow_manifold(400, dt, key=jax.random.PRNGKey(4), mu=-0.1, lam=-1.0)
    b = -1.0 / (-1.0 + 0.2)
    exact = _ae(lambda x: jnp.stack([x[0], x[1] - b * x[0] ** 2]), np.diag([-0.1, -1.0]))
    est = exact.as_estimator(data.X, dt)
    assert np.max(np.asarray(jr.koopman.residuals(est, data.X, data.Y))) < 1e-10
    # the pseudospectrum touches zero at the exact eigenvalues and not between them
    tau = np.asarray(jr.koopman.pseudospectrum(est, data.X, data.Y,
                                               np.exp(np.array([-0.1, -1.0, -0.5]) * dt)))
    assert tau[0] < 1e-10 and tau[1] < 1e-10 and tau[2] > 1e-3
    # the linear encoder (x1, x2) is not invariant (x2 feeds on x1^2): the fast pair is flagged
    lin = _ae(_identity, np.array([[-0.1, 0.0], [0.0, -1.0]]))
    res = np.asarray(jr.koopman.residuals(lin.as_estimator(data.X, dt), data.X, data.Y))
    assert np.max(res) > 0.05
    with pytest.raises(ValueError, match="dt must be"):
        exact.as_estimator(data.X, -1.0)
