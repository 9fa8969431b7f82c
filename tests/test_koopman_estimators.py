"""Closed-form Koopman estimators against closed forms: linear systems (exact), the slow-manifold
system (exact eigenvalues), Ornstein-Uhlenbeck (statistical), kernel RRR against its primal form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import jaxrep as jr


def _linear_data(seed=0, n=40, d=3, dt=0.1):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d)) - np.eye(d)
    X = rng.standard_normal((n, d))
    return A, X, X @ scipy.linalg.expm(dt * A).T, dt


def test_edmd_linear_recovers_expm(x64):
    A, X, Y, dt = _linear_data()
    lin = jr.koopman.Polynomial(3, 1, constant=False)
    est = jr.koopman.edmd(X, Y, lin, reg=0.0, dt=dt)
    # row convention psi(y) = psi(x) K, so K^T = expm(dt A)
    np.testing.assert_allclose(est.transition.T, scipy.linalg.expm(dt * A), atol=1e-8)
    ev = jr.koopman.eig(est)
    np.testing.assert_allclose(
        np.sort(ev.continuous_eigenvalues.real), np.sort(np.linalg.eigvals(A).real), atol=1e-8
    )
    # forecasts are powers of expm(dt A)
    ref = np.stack([scipy.linalg.expm(k * dt * A) @ X[0] for k in range(1, 6)])
    np.testing.assert_allclose(est.predict(jnp.asarray(X[0]), 5), ref, atol=1e-10)
    # modes reconstruct the state: x = sum_i phi_i(x) m_i
    x = jnp.asarray(X[3])
    np.testing.assert_allclose((ev.eigenfunctions(x) @ ev.modes).real, X[3], atol=1e-10)
    np.testing.assert_allclose(est.modes, ev.modes)


def test_generator_edmd_linear_recovers_A(x64):
    A, X, _, _ = _linear_data(1)
    lin = jr.koopman.Polynomial(3, 1, constant=False)
    est = jr.koopman.generator_edmd(X, X @ A.T, lin, dt=0.3)
    np.testing.assert_allclose(est.generator.T, A, atol=1e-8)
    ref = np.stack([scipy.linalg.expm(0.3 * k * A) @ X[0] for k in range(1, 4)])
    np.testing.assert_allclose(est.predict(jnp.asarray(X[0]), 3), ref, atol=1e-10)


def test_slow_manifold_eigenvalues(x64, getkey):
    mu, lam = -0.1, -1.0
    system = jr.data.SlowManifold(mu=mu, lam=lam)
    X = system.sample_initial(getkey(), 60)
    dX = jax.vmap(system.drift)(X)
    feats = lambda x: jnp.stack([x[0], x[1], x[0] ** 2])  # noqa: E731
    gen = jr.koopman.generator_edmd(X, dX, feats)
    np.testing.assert_allclose(
        np.sort(jr.koopman.eig(gen).continuous_eigenvalues.real), [lam, 2 * mu, mu], atol=1e-6
    )
    # discrete time from the exact flow map: log(lambda)/dt gives the same set
    Xd = system.sample_initial(getkey(), 60)
    Yd = jax.vmap(lambda x: system.exact_flow(x, 0.5))(Xd)
    est = jr.koopman.edmd(Xd, Yd, feats, reg=0.0, dt=0.5)
    ev = jr.koopman.eig(est)
    np.testing.assert_allclose(np.sort(ev.continuous_eigenvalues.real), [lam, 2 * mu, mu], atol=1e-6)
    np.testing.assert_allclose(ev.continuous_eigenvalues.imag, 0.0, atol=1e-8)
    # eigenfunction for mu is x1 (up to scale): phi(x)/x1 constant
    phi = jax.vmap(ev.eigenfunctions)(Xd[:5])[:, 0]
    ratio = phi / Xd[:5, 0]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-6)


def test_ornstein_uhlenbeck_spectrum(x64, getkey):
    theta = 1.0
    ou = jr.data.OrnsteinUhlenbeck(theta=theta, sigma=1.0)
    poly = jr.koopman.Polynomial(1, 3)
    # exact generator EDMD with the Ito term: Hermite polynomials span an invariant subspace
    X = ou.sample_initial(getkey(), 200)
    a = jnp.broadcast_to(jnp.eye(1), (200, 1, 1))
    gen = jr.koopman.generator_edmd(X, jax.vmap(ou.drift)(X), poly, diffusion=a)
    mu = np.sort(jr.koopman.eig(gen).continuous_eigenvalues.real)[::-1]
    np.testing.assert_allclose(mu, -theta * np.arange(4), atol=1e-8)
    # statistical: discrete EDMD on simulated SDE pairs, eigenvalues to a few percent
    dt = 0.5
    Xs, Ys = jr.data.sde_snapshot_pairs(ou, 20000, dt, substeps=20, key=getkey())
    est = jr.koopman.edmd(Xs, Ys, poly, reg=0.0, dt=dt)
    mu = np.sort(jr.koopman.eig(est).continuous_eigenvalues.real)[::-1]
    assert abs(mu[0]) < 1e-6
    np.testing.assert_allclose(mu[1:], -theta * np.arange(1, 4), rtol=0.06)


def test_reduced_rank_is_best_rank_r(x64):
    # RRR objective ||Psi_Y - Psi_X K||^2 + n reg ||K||^2 at rank r beats truncating the ridge solution
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 2))
    Y = np.tanh(X @ np.array([[0.9, 0.4], [-0.3, 0.8]])) + 0.05 * rng.standard_normal((200, 2))
    poly = jr.koopman.Polynomial(2, 2)
    P_X, P_Y = np.asarray(jax.vmap(poly)(X)), np.asarray(jax.vmap(poly)(Y))
    reg, r = 1e-3, 2
    est = jr.koopman.edmd(X, Y, poly, reg=reg, rank=r)
    V = np.asarray(est.embed.proj)
    K_rrr = V @ V.T @ (P_X.T @ P_Y / 200)
    assert np.linalg.matrix_rank(K_rrr, tol=1e-8) == r
    K_ridge = np.linalg.solve(P_X.T @ P_X + 200 * reg * np.eye(6), P_X.T @ P_Y)
    U, s, Vt = np.linalg.svd(K_ridge)
    K_trunc = (U[:, :r] * s[:r]) @ Vt[:r]
    obj = lambda K: np.sum((P_Y - P_X @ K) ** 2) + 200 * reg * np.sum(K**2)  # noqa: E731
    assert obj(K_rrr) < obj(K_trunc)
    # the reduced estimator's transition M has the nonzero spectrum of K_rrr
    lam = np.sort(np.abs(np.linalg.eigvals(K_rrr)))[::-1][:r]
    np.testing.assert_allclose(np.sort(np.abs(np.linalg.eigvals(est.transition)))[::-1], lam, rtol=1e-8)


def test_kernel_rrr_equals_primal_rrr(x64):
    # polynomial kernel (1 + x.y)^2 has an explicit 6-dimensional feature map
    rng = np.random.default_rng(5)
    system = jr.data.SlowManifold(mu=-0.1, lam=-1.0)
    X = rng.uniform(-1, 1, (80, 2))
    Y = np.asarray(jax.vmap(lambda x: system.exact_flow(x, 0.5))(jnp.asarray(X)))
    kern = lambda x, y: (1.0 + x @ y) ** 2  # noqa: E731
    s2 = np.sqrt(2.0)
    phi = lambda x: jnp.stack([1.0, s2 * x[0], s2 * x[1], x[0] ** 2, x[1] ** 2, s2 * x[0] * x[1]])  # noqa: E731
    for r in (2, 4):
        kr = jr.koopman.kernel_rrr(X, Y, kern, rank=r, reg=1e-3, dt=0.5)
        pr = jr.koopman.edmd(X, Y, phi, reg=1e-3, rank=r, dt=0.5)
        np.testing.assert_allclose(
            np.sort_complex(np.asarray(jr.koopman.eig(kr).eigenvalues)),
            np.sort_complex(np.asarray(jr.koopman.eig(pr).eigenvalues)),
            rtol=1e-7,
        )
        # eigenfunctions agree up to a scalar per eigenpair
        for est_a, est_b in ((kr, pr),):
            ea, eb = jr.koopman.eig(est_a), jr.koopman.eig(est_b)
            fa = np.asarray(jax.vmap(ea.eigenfunctions)(jnp.asarray(X[:10])))
            fb = np.asarray(jax.vmap(eb.eigenfunctions)(jnp.asarray(X[:10])))
            for i in range(r):
                c = fa[:, i] @ fb[:, i].conj() / (fb[:, i] @ fb[:, i].conj())
                np.testing.assert_allclose(fa[:, i], c * fb[:, i], rtol=1e-6, atol=1e-9)


def test_kernel_pcr_full_rank_equals_edmd(x64):
    # with the explicit feature map of (1 + x.y)^2 and rank 6, kernel PCR is EDMD on those features
    rng = np.random.default_rng(6)
    system = jr.data.SlowManifold(mu=-0.1, lam=-1.0)
    X = rng.uniform(-1, 1, (80, 2))
    Y = np.asarray(jax.vmap(lambda x: system.exact_flow(x, 0.5))(jnp.asarray(X)))
    kern = lambda x, y: (1.0 + x @ y) ** 2  # noqa: E731
    s2 = np.sqrt(2.0)
    phi = lambda x: jnp.stack([1.0, s2 * x[0], s2 * x[1], x[0] ** 2, x[1] ** 2, s2 * x[0] * x[1]])  # noqa: E731
    kp = jr.koopman.kernel_pcr(X, Y, kern, rank=6, reg=0.0, dt=0.5)
    ed = jr.koopman.edmd(X, Y, phi, reg=0.0, dt=0.5)
    np.testing.assert_allclose(
        np.sort_complex(np.asarray(jr.koopman.eig(kp).eigenvalues)),
        np.sort_complex(np.asarray(jr.koopman.eig(ed).eigenvalues)),
        rtol=1e-7, atol=1e-9,
    )
    np.testing.assert_allclose(
        jax.vmap(lambda x: kp.predict(x, 3))(jnp.asarray(X[:5])),
        jax.vmap(lambda x: ed.predict(x, 3))(jnp.asarray(X[:5])),
        atol=1e-8,
    )


def test_gaussian_kernel_rrr_and_nystrom_forecast(x64, getkey):
    # Gaussian-kernel RRR forecasts a smooth nonlinear flow and finds its slow eigenvalues
    # (0, mu = -0.1, 2 mu = -0.2); Nystrom with m << n landmarks stays close to the exact estimator.
    system = jr.data.SlowManifold(mu=-0.1, lam=-1.0)
    X = system.sample_initial(getkey(), 150)
    Y = jax.vmap(lambda x: system.exact_flow(x, 0.5))(X)
    Xt = system.sample_initial(getkey(), 50)
    Yt = jax.vmap(lambda x: system.exact_flow(x, 0.5))(Xt)
    k = jr.koopman.GaussianKernel(0.7)
    exact = jr.koopman.kernel_rrr(X, Y, k, rank=20, reg=1e-8, dt=0.5)
    nys = jr.koopman.kernel_rrr(X, Y, k, rank=20, reg=1e-8, nystrom=60, dt=0.5, key=getkey())
    for est in (exact, nys):
        pred = jax.vmap(lambda x: est.predict(x, 1)[0])(Xt)
        assert float(jnp.sqrt(jnp.mean((pred - Yt) ** 2))) < 5e-3
        top = np.sort(np.abs(jr.koopman.eig(est).continuous_eigenvalues.real))[:3]
        np.testing.assert_allclose(top, [0.0, 0.1, 0.2], atol=2e-2)
    # randomized subspace iteration reproduces the exact (dense eigh) estimator
    rnd = jr.koopman.kernel_rrr(X, Y, k, rank=20, reg=1e-8, dt=0.5, randomized=True, key=getkey())
    np.testing.assert_allclose(
        jax.vmap(lambda x: rnd.predict(x, 2))(Xt), jax.vmap(lambda x: exact.predict(x, 2))(Xt),
        atol=1e-7,
    )
    pcr = jr.koopman.kernel_pcr(X, Y, k, rank=20, reg=1e-10, dt=0.5)
    pred = jax.vmap(lambda x: pcr.predict(x, 1)[0])(Xt)
    assert float(jnp.sqrt(jnp.mean((pred - Yt) ** 2))) < 3e-2


def test_jit_vmap_and_features_as_nn(getkey):
    mlp = jr.nn.MLP(2, 8, 16, 1, key=getkey())
    X = jax.random.normal(getkey(), (64, 2))
    Y = X * 0.9
    est = jr.koopman.edmd(X, Y, mlp, reg=1e-4)
    out = jax.jit(jax.vmap(lambda x: est.predict(x, 4)))(X[:5])
    assert out.shape == (5, 4, 2)
    f = jr.koopman.RandomFourier(2, 50, 1.0, key=getkey())
    assert f(X[0]).shape == (50,)
    rbf = jr.koopman.RBF(X[:10], 0.5)
    assert rbf(X[0]).shape == (10,)
    np.testing.assert_allclose(rbf(X[0])[0], 1.0)
    assert jr.koopman.Polynomial(2, 3)(X[0]).shape == (10,)


def test_bad_input(getkey):
    X = np.ones((10, 2))
    lin = jr.koopman.Polynomial(2, 1)
    with pytest.raises(ValueError, match=r"same shape.*\(10, 2\).*\(9, 2\)"):
        jr.koopman.edmd(X, np.ones((9, 2)), lin)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"Y contains 1 non-finite.*\(10, 2\)"):
        jr.koopman.edmd(X, bad, lin)
    with pytest.raises(ValueError, match=r"rank=5 is larger than the number of features \(3\)"):
        jr.koopman.edmd(X, X, lin, rank=5)
    with pytest.raises(ValueError, match=r"rank=11 is larger than the number of samples \(10\)"):
        jr.koopman.kernel_rrr(X, X, jr.koopman.GaussianKernel(), rank=11)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, dim\)"):
        jr.koopman.edmd(np.ones(10), np.ones(10), lin)
    with pytest.raises(ValueError, match="reg"):
        jr.koopman.edmd(X, X, lin, reg=-1.0)
    with pytest.raises(ValueError, match="diffusion must have shape"):
        jr.koopman.generator_edmd(X, X, lin, diffusion=np.ones((10, 2)))
    est = jr.koopman.edmd(np.random.default_rng(0).standard_normal((10, 2)), X, lin)
    with pytest.raises(ValueError, match="jax.vmap"):
        est.predict(jnp.ones((3, 2)), 2)


def test_blocked_cholesky_solve_matches_dense(x64):
    # the panel form of the Cholesky solve (diagonal blocks inverted, products elsewhere) used by
    # the Krylov kernel RRR solver, with several uneven blocks, against numpy
    from jaxrep.koopman._estimators import _chol_blocks, _chol_solve_blocks, _ridge

    rng = np.random.default_rng(7)
    G = rng.standard_normal((150, 150))
    A = G @ G.T / 150 + 1e-3 * np.eye(150)
    B = rng.standard_normal((150, 7))
    cols = _chol_blocks(jnp.asarray(A), 64)
    assert [c[0] for c in cols] == [0, 64, 128]
    ref = np.linalg.solve(A, B)
    np.testing.assert_allclose(_chol_solve_blocks(cols, jnp.asarray(B)), ref, rtol=1e-9, atol=1e-9)
    # the QR ridge solve equals the normal equations (reg > 0)
    P = rng.standard_normal((40, 6))
    K = np.asarray(_ridge(jnp.asarray(P), jnp.asarray(B[:40]), 1e-2))
    np.testing.assert_allclose(K, np.linalg.solve(P.T @ P + 40 * 1e-2 * np.eye(6), P.T @ B[:40]),
                               rtol=1e-10)


@pytest.fixture(scope="module")
def lorenz_pairs():
    # Lorenz-63 by classical RK4 in numpy (dt = 0.01), burn-in dropped, standardised
    def f(x):
        return np.array([10 * (x[1] - x[0]), x[0] * (28 - x[2]) - x[1], x[0] * x[1] - 8 / 3 * x[2]])

    x, traj, h = np.ones(3), [], 0.01
    for _ in range(700):
        k1 = f(x)
        k2 = f(x + h / 2 * k1)
        k3 = f(x + h / 2 * k2)
        k4 = f(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        traj.append(x)
    traj = np.array(traj[100:])
    traj = (traj - traj.mean(0)) / traj.std(0)
    return traj[:400], traj[1:401], traj[400:500], traj[401:501]


def test_kernel_rrr_krylov_equals_dense(x64, lorenz_pairs):
    # n = 400 >= 8 (rank + 10): the default exact solver is the restarted block Krylov iteration;
    # it must reproduce the dense two-eigh solver to ~float64 precision, whatever the start key.
    from jaxrep.koopman._estimators import _krrr_dense

    X, Y, Xt, _ = lorenz_pairs
    k = jr.koopman.GaussianKernel(0.5)
    dense = _krrr_dense(k, jnp.asarray(X), jnp.asarray(Y), 1e-6, 10, 1.0)
    pred = lambda est: np.asarray(jax.vmap(lambda x: est.predict(x, 3))(jnp.asarray(Xt)))
    ref = pred(dense)
    lam = np.sort_complex(np.asarray(jr.koopman.eig(dense).eigenvalues))
    for seed in (0, 1):
        kry = jr.koopman.kernel_rrr(X, Y, k, rank=10, reg=1e-6, key=jax.random.PRNGKey(seed))
        np.testing.assert_allclose(pred(kry), ref, atol=1e-9 * np.abs(ref).max())
        np.testing.assert_allclose(
            np.sort_complex(np.asarray(jr.koopman.eig(kry).eigenvalues)), lam, atol=1e-9
        )
    # one randomized Krylov pass (4 blocks of 20) is already close; more blocks, closer still
    errs = []
    for n_iter in (2, 4):
        rnd = jr.koopman.kernel_rrr(X, Y, k, rank=10, reg=1e-6, randomized=True, n_iter=n_iter,
                                    key=jax.random.PRNGKey(2))
        errs.append(np.abs(pred(rnd) - ref).max())
    assert errs[1] < 1e-4 and errs[1] < errs[0]


def test_nystrom_is_primal_rrr_on_landmark_features(x64, lorenz_pairs):
    # Nystrom kernel RRR = primal RRR on the features K_mm^{-1/2} k_m(x), landmarks X[choice(key)]
    X, Y, Xt, _ = lorenz_pairs
    k = jr.koopman.GaussianKernel(0.8)
    key = jax.random.PRNGKey(3)
    nys = jr.koopman.kernel_rrr(X, Y, k, rank=8, reg=1e-5, nystrom=40, key=key)
    C = np.asarray(X)[np.asarray(jax.random.choice(key, 400, (40,), replace=False))]
    w, V = np.linalg.eigh(np.exp(-0.5 * ((C[:, None] - C[None]) ** 2).sum(-1) / 0.64))
    W = jnp.asarray((V / np.sqrt(w)) @ V.T)
    feats = lambda x: W @ jnp.exp(-0.5 * jnp.sum((jnp.asarray(C) - x) ** 2, -1) / 0.64)
    pr = jr.koopman.edmd(X, Y, feats, reg=1e-5, rank=8)
    a = jax.vmap(lambda x: nys.predict(x, 2))(jnp.asarray(Xt))
    b = jax.vmap(lambda x: pr.predict(x, 2))(jnp.asarray(Xt))
    np.testing.assert_allclose(a, b, atol=1e-7)
