"""DMD family against closed forms: exact / optimised / BOP-DMD recover the eigenvalues of damped
oscillators, Hankel DMD the frequencies of a scalar signal, HAVOK's forcing term on Lorenz-63, and the
bad-input messages. float64 throughout (closed-form tolerances ~1e-10).

Shapes are shared between tests on purpose (80 snapshots of an 8-dimensional state, rank 4) so that
each jitted program compiles once per session."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import jaxrep as jr
from jaxrep.koopman._dmd import (
    BOPDMDResult,
    DMDResult,
    HAVOKResult,
    OptDMDResult,
    _lsim_foh,
    _prox_conjugate,
    bopdmd,
    dmd,
    hankel_dmd,
    havok,
    optdmd,
)


pytestmark = pytest.mark.usefixtures("x64_module")  # the whole module in float64


M, N, R = 80, 8, 4


def _oscillators(sigmas=(-0.1, -0.3), omegas=(2.0, 5.0), seed=0):
    """Two damped oscillators $\\dot z = Az$ (2x2 blocks [[s, w], [-w, s]]) observed through a random
    8 x 4 matrix; eigenvalues s +- i w. Returns (eigenvalues, x(ts))."""
    rng = np.random.default_rng(seed)
    C, z0 = rng.standard_normal((N, 4)), rng.standard_normal(4)
    mus = np.array([s + sg * 1j * w for s, w in zip(sigmas, omegas) for sg in (1, -1)])

    def x(ts):
        # expm(t [[s, w], [-w, s]]) = e^{st} [[cos wt, sin wt], [-sin wt, cos wt]]
        t = np.asarray(ts, float)[:, None]
        z = []
        for k, (s, w) in enumerate(zip(sigmas, omegas)):
            a, b = z0[2 * k], z0[2 * k + 1]
            c, sn, e = np.cos(w * t), np.sin(w * t), np.exp(s * t)
            z += [e * (c * a + sn * b), e * (-sn * a + c * b)]
        return np.concatenate(z, 1) @ C.T

    return mus, x


def _np(tree):
    """Every array leaf as numpy (assertions in numpy: no eager JAX ops to compile)."""
    return jax.tree_util.tree_map(np.asarray, tree)


def _eig_error(found, true):
    """Largest distance from a true eigenvalue to the nearest found one (and vice versa)."""
    found, true = np.asarray(found), np.asarray(true)
    d = np.abs(found[:, None] - true[None, :])
    return max(d.min(0).max(), d.min(1).max())


def _scipy_optdmd(X, ts, r, alpha0, stable=False):
    """Independent solver: scipy least squares (MINPACK Levenberg-Marquardt, or the bounded
    trust-region method for Re <= 0) on the same variable-projection residual, in numpy, with the
    same projection on the top-r right singular vectors."""
    Xp = X @ np.linalg.svd(X, full_matrices=False)[2][:r].T
    t = ts - ts[0]

    def residual(th):
        Phi = np.exp(t[:, None] * (th[:r] + 1j * th[r:])[None])
        rho = Xp - Phi @ np.linalg.lstsq(Phi, Xp.astype(complex), rcond=None)[0]
        return np.concatenate([rho.real.ravel(), rho.imag.ravel()])

    th0 = np.concatenate([alpha0.real, alpha0.imag])
    tols = dict(xtol=1e-15, ftol=1e-15, gtol=1e-15)
    if stable:
        th0[:r] = np.minimum(th0[:r], 0.0)
        hi = np.r_[np.zeros(r), np.full(r, np.inf)]
        sol = scipy.optimize.least_squares(residual, th0, bounds=(-np.inf, hi), method="trf", **tols)
    else:
        sol = scipy.optimize.least_squares(residual, th0, method="lm", **tols)
    return sol.x[:r] + 1j * sol.x[r:]


def _uneven_times(seed, t_end=8.0):
    rng = np.random.default_rng(seed)
    return np.sort(rng.uniform(0.0, t_end, M))


MUS, SIGNAL = _oscillators()


# --------------------------------------------------------------------------- exact DMD


def test_dmd_recovers_eigenvalues_modes_and_forecasts():
    dt = 0.1
    ts = dt * np.arange(M)
    X = SIGNAL(ts)
    fit = dmd(X, rank=R, dt=dt)
    assert isinstance(fit, DMDResult)
    res = _np(fit)
    assert res.eigenvalues.shape == (R,) and res.modes.shape == (R, N)
    assert _eig_error(res.continuous_eigenvalues, MUS) < 1e-10
    np.testing.assert_allclose(res.eigenvalues, np.exp(res.continuous_eigenvalues * dt), rtol=1e-13)
    # slowest first: Re mu decreasing (to rounding), the positive frequency of a pair first
    assert np.all(np.diff(res.continuous_eigenvalues.real) <= 1e-12)
    assert np.all(res.continuous_eigenvalues.imag[::2] > 0)
    np.testing.assert_allclose(np.linalg.norm(res.modes, axis=1), 1.0, rtol=1e-12)
    # x(t) = Re sum_i b_i e^{mu_i t} m_i, evaluated here in numpy
    ref = (np.exp(ts[:, None] * res.continuous_eigenvalues) * res.amplitudes @ res.modes).real
    np.testing.assert_allclose(ref, X, atol=1e-10)
    np.testing.assert_allclose(np.asarray(fit.reconstruct()), X, atol=1e-10)
    t_future = np.array([9.0, 12.5, 20.0])
    np.testing.assert_allclose(np.asarray(fit.predict(t_future)), SIGNAL(t_future), atol=1e-9)
    # the data span a 4-dimensional subspace: rank=None finds it; pairs (X, Y) give the same fit
    auto = dmd(X, dt=dt)
    assert auto.eigenvalues.shape == (R,)
    with pytest.raises(ValueError, match="ts must be a 1-D array"):
        fit.predict(np.zeros((2, 2)))
    pairs = _np(dmd(X[:-1], X[1:], rank=R, dt=dt))
    np.testing.assert_allclose(pairs.continuous_eigenvalues, res.continuous_eigenvalues, atol=1e-12)


# --------------------------------------------------------------------------- optimised DMD


def test_optdmd_uneven_noise_free_is_exact():
    ts = _uneven_times(1)
    X = SIGNAL(ts)
    fit = optdmd(X, ts, R)
    assert isinstance(fit, OptDMDResult)
    res = _np(fit)
    assert res.converged
    # exact Golub-Pereyra Jacobian: Levenberg-Marquardt converges in a handful of steps
    assert res.n_iter <= 15
    assert _eig_error(res.continuous_eigenvalues, MUS) < 1e-10
    assert res.residual < 1e-12
    np.testing.assert_allclose(np.asarray(fit.reconstruct()), X, atol=1e-10)
    np.testing.assert_allclose(np.asarray(fit.predict(np.array([10.0, 15.0]))),
                               SIGNAL([10.0, 15.0]), atol=1e-9)
    np.testing.assert_allclose(res.eigenvalues, np.exp(res.continuous_eigenvalues * res.dt))
    np.testing.assert_allclose(res.dt, (ts[-1] - ts[0]) / (M - 1))


def test_optdmd_beats_exact_dmd_on_interpolated_noisy_uneven_data():
    errs_opt, errs_exact = [], []
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        ts = _uneven_times(10 + seed)
        X = SIGNAL(ts)
        X = X + 0.05 * X.std() * rng.standard_normal(X.shape)
        # exact DMD on the data linearly interpolated to a uniform grid
        tu = np.linspace(ts[0], ts[-1], M)
        Xu = np.stack([np.interp(tu, ts, X[:, j]) for j in range(N)], 1)
        exact = np.asarray(dmd(Xu, rank=R, dt=tu[1] - tu[0]).continuous_eigenvalues)
        errs_exact.append(_eig_error(exact, MUS))
        res = _np(optdmd(X, ts, R))
        assert res.converged
        if seed == 0:  # the same minimum as scipy's MINPACK from the same start
            assert _eig_error(res.continuous_eigenvalues, _scipy_optdmd(X, ts, R, exact)) < 1e-8
        errs_opt.append(_eig_error(res.continuous_eigenvalues, MUS))
    print("optdmd errors", errs_opt, "interpolated exact DMD errors", errs_exact)
    assert max(errs_opt) < 0.02
    assert all(o < 0.1 * e for o, e in zip(errs_opt, errs_exact))


# --------------------------------------------------------------------------- BOP-DMD


def test_bopdmd_spread_shrinks_with_noise():
    ts = _uneven_times(5)
    clean = SIGNAL(ts)
    noise = np.random.default_rng(6).standard_normal(clean.shape)
    spreads = []
    for level in (0.1, 0.03, 0.01):
        fit = bopdmd(clean + level * noise, ts, R, key=jax.random.PRNGKey(0), n_bags=24)
        assert isinstance(fit, BOPDMDResult)
        res = _np(fit)
        assert res.bag_eigenvalues.shape == (24, R)
        assert np.all(res.bag_converged)
        std = np.abs(res.continuous_eigenvalues_std)
        # the spread is the bags' standard deviation, per eigenvalue
        bags = res.bag_eigenvalues
        np.testing.assert_allclose(std, np.abs(bags.real.std(0) + 1j * bags.imag.std(0)), rtol=1e-10)
        # the mean is an unbiased estimate: within a few spreads (+ a floor) of the truth
        assert _eig_error(res.continuous_eigenvalues, MUS) < 4 * std.max() + 1e-3
        spreads.append(std)
    print("BOP-DMD spreads per noise level", spreads)
    # explicit key: the same key gives the same bags, another key other bags
    X = clean + 0.01 * noise
    again = np.asarray(bopdmd(X, ts, R, key=jax.random.PRNGKey(0), n_bags=24).bag_eigenvalues)
    np.testing.assert_array_equal(again, bags)
    other = np.asarray(bopdmd(X, ts, R, key=jax.random.PRNGKey(1), n_bags=24).bag_eigenvalues)
    assert not np.array_equal(other, bags)
    # monotone in the noise level, for every eigenvalue
    assert np.all(spreads[0] > spreads[1]) and np.all(spreads[1] > spreads[2])


def test_bopdmd_constraints_hold_exactly():
    # one growing pair (Re +0.05) and one decaying pair
    mus, signal = _oscillators(sigmas=(0.05, -0.3), omegas=(2.0, 5.0), seed=3)
    ts = _uneven_times(7)
    X = signal(ts) + 0.02 * np.random.default_rng(8).standard_normal((M, N))
    key = jax.random.PRNGKey(1)
    free = _np(bopdmd(X, ts, R, key=key, n_bags=24))
    assert free.continuous_eigenvalues.real.max() > 0.03  # the growing pair is found
    stable = _np(bopdmd(X, ts, R, key=key, n_bags=24, constraints="stable"))
    for ev in (stable.continuous_eigenvalues, stable.bag_eigenvalues):
        assert np.all(ev.real <= 0.0)
    assert np.all(stable.bag_converged)
    assert stable.continuous_eigenvalues.real.max() == 0.0  # the constraint is active
    # optdmd with the bound: the constrained minimum of scipy's bounded trust-region solver
    opt = _np(optdmd(X, ts, R, constraints="stable"))
    assert opt.converged and opt.continuous_eigenvalues.real.max() == 0.0
    ref = _scipy_optdmd(X, ts, R, free.continuous_eigenvalues, stable=True)
    assert _eig_error(opt.continuous_eigenvalues, ref) < 1e-5
    imag = _np(bopdmd(X, ts, R, key=key, n_bags=24, constraints="imaginary"))
    for ev in (imag.continuous_eigenvalues, imag.bag_eigenvalues):
        assert np.all(ev.real == 0.0)
    assert np.all(imag.bag_converged)
    assert _eig_error(imag.continuous_eigenvalues.imag, mus.imag) < 0.05
    pairs = _np(bopdmd(X, ts, R, key=key, n_bags=24, constraints=("conjugate_pairs", "stable")))
    assert np.all(pairs.bag_converged)
    for ev in [pairs.continuous_eigenvalues, *pairs.bag_eigenvalues]:
        assert np.array_equal(np.sort_complex(ev), np.sort_complex(ev.conj()))
        assert np.all(ev.real <= 0.0)


def test_conjugate_pair_projection():
    a = jnp.array([1.0 + 2.0j, 1.2 - 1.8j, -0.5 + 0.1j, -1.0 - 5.0j, -0.9 + 5.2j])
    prox = jax.jit(_prox_conjugate)
    p = np.asarray(prox(a, 2))
    # sorted by Im, extremes paired: (-1-5i, -0.9+5.2i) -> -0.95 +- 5.1i, (1.2-1.8i, 1+2i) -> 1.1 +- 1.9i,
    # and the middle one made real
    np.testing.assert_allclose(np.sort_complex(p), np.sort_complex(
        [-0.95 + 5.1j, -0.95 - 5.1j, 1.1 + 1.9j, 1.1 - 1.9j, -0.5]), atol=1e-15)
    assert np.array_equal(np.sort_complex(p), np.sort_complex(p.conj()))
    assert np.array_equal(np.asarray(prox(jnp.asarray(p), 2)), p)  # a projection
    # with no pairs allowed every eigenvalue becomes real
    np.testing.assert_array_equal(np.asarray(prox(a, 0)), np.real(np.asarray(a)))


# --------------------------------------------------------------------------- Hankel DMD / HAVOK


def test_hankel_dmd_recovers_two_damped_sinusoids():
    mus = np.array([-0.1 + 2.0j, -0.1 - 2.0j, -0.25 + 3.3j, -0.25 - 3.3j])

    def x(t):
        t = np.asarray(t)
        return np.exp(-0.1 * t) * np.cos(2.0 * t) + 0.5 * np.exp(-0.25 * t) * np.sin(3.3 * t + 0.4)

    dt = 0.05
    ts = dt * np.arange(200)
    fit = hankel_dmd(x(ts), delays=12, rank=4, dt=dt)
    res = _np(fit)
    assert res.modes.shape == (4, 1)
    assert _eig_error(res.continuous_eigenvalues, mus) < 1e-9
    np.testing.assert_allclose(np.sort(np.abs(res.continuous_eigenvalues.imag)),
                               [2.0, 2.0, 3.3, 3.3], atol=1e-9)
    assert res.ts.shape == (200 - 12 + 1,)
    np.testing.assert_allclose(np.asarray(fit.reconstruct())[:, 0], x(res.ts), atol=1e-9)
    np.testing.assert_allclose(np.asarray(fit.predict(np.array([12.0, 15.0])))[:, 0],
                               x([12.0, 15.0]), atol=1e-9)


@jax.jit
def _lorenz(x0):
    """Lorenz-63 (`jaxrep.data.Lorenz63`) by classical RK4, step 0.005, sampled every 0.01 for 20 time
    units. (Fixed-step RK4 compiles in a fraction of the adaptive Dopri8 of `jaxrep.data.trajectory`,
    and HAVOK needs a chaotic signal, not a reference solution.)"""
    f, h = jr.data.Lorenz63().drift, 0.005

    def two_steps(x, _):
        for _ in range(2):
            k1 = f(x)
            k2 = f(x + h / 2 * k1)
            k3 = f(x + h / 2 * k2)
            k4 = f(x + h * k3)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return x, x

    return jnp.concatenate([x0[None], jax.lax.scan(two_steps, x0, None, 2000)[1]])


def test_havok_lorenz_forcing_improves_reconstruction():
    dt = 0.01
    x = np.asarray(_lorenz(jnp.array([-8.0, 8.0, 27.0]))[:, 0])
    q, r = 10, 5
    fit = havok(x, delays=q, rank=r, dt=dt)
    assert isinstance(fit, HAVOKResult)
    res = _np(fit)
    assert res.A.shape == (r - 1, r - 1) and res.B.shape == (r - 1,)
    np.testing.assert_array_equal(res.forcing, res.delay_coordinates[:, -1])
    v1 = res.delay_coordinates[:, 0]
    forced, free = np.asarray(fit.reconstruct(True)), np.asarray(fit.reconstruct(False))
    err_forced = np.sqrt(np.mean((forced[:, 0] - v1) ** 2)) / v1.std()
    err_free = np.sqrt(np.mean((free[:, 0] - v1) ** 2)) / v1.std()
    print(f"HAVOK first delay coordinate, relative RMSE: forced {err_forced:.3g}, unforced {err_free:.3g}")
    assert err_forced < 0.2 and err_forced < 0.1 * err_free
    np.testing.assert_allclose(np.asarray(fit.simulate(res.delay_coordinates[0, :-1])), forced)
    # the delay coordinates and singular values rebuild the signal: x_k ~ sum_j v_j(t_k) s_j U_1j
    x_rec = (res.delay_coordinates * res.singular_values) @ res.delay_modes[:, 0]
    assert np.sqrt(np.mean((x_rec - x[: len(x_rec)]) ** 2)) < 0.05 * x.std()
    # the first-order-hold integrator is exact for a ramp input: v' = a v + b t, v(0) = 0
    a = np.array([-1.0, -0.5, 0.3, -2.0])
    b = np.array([1.0, 2.0, -1.0, 0.5])
    t = res.ts
    v = np.asarray(_lsim_foh(jnp.diag(a), jnp.asarray(b), jnp.zeros(4), fit.ts, fit.dt))
    exact = b * (np.exp(a * t[:, None]) - 1 - a * t[:, None]) / a**2
    np.testing.assert_allclose(v, exact, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- bad input


_X = np.random.default_rng(0).standard_normal((M, N))
_TS = np.linspace(0.0, 8.0, M)
_KEY = jax.random.PRNGKey(0)


def _nan(x):
    x = x.copy()
    x[3, 2] = np.nan
    return x


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dmd(_X, _X[:-1]), "X and Y must have the same shape"),
        (lambda: dmd(_X[:1]), "X must hold at least 2 snapshots"),
        (lambda: dmd(_X, rank=N + 1), "rank=9 is larger than the data allows"),
        (lambda: dmd(_X, rank=0), "rank must be an integer >= 1"),
        (lambda: dmd(_nan(_X)), "X contains 1 non-finite"),
        (lambda: dmd(_X, Y=_nan(_X)), "Y contains 1 non-finite"),
        (lambda: dmd(_X, dt=0.0), "dt must be a finite float > 0"),
        (lambda: dmd(_X, dt=-0.1), "dt must be a finite float > 0"),
        (lambda: optdmd(_X, _TS[:-1], R), r"ts must have shape \(80,\)"),
        (lambda: optdmd(_X, _TS[::-1], R), "ts must be strictly increasing"),
        (lambda: optdmd(_X, np.r_[_TS[:5], _TS[4:-1]], R), "ts must be strictly increasing"),
        (lambda: optdmd(_X, np.r_[_TS[:-1], np.nan], R), "ts contains 1 non-finite"),
        (lambda: optdmd(_nan(_X), _TS, R), "X contains 1 non-finite"),
        (lambda: optdmd(_X[:, :1], _TS, 41), "rank=41 is larger than the data allows"),
        (lambda: optdmd(_X, _TS, R, init=np.zeros(3)), r"init must have shape \(4,\)"),
        (lambda: optdmd(_X, _TS, R, constraints="positive"), "constraints: unknown constraint"),
        (lambda: optdmd(_X, _TS, R, max_iter=0), "max_iter must be an integer >= 1"),
        (lambda: bopdmd(_X, _TS, R, key=_KEY, n_bags=1), "n_bags must be an integer >= 2"),
        (lambda: bopdmd(_X, _TS, R, key=None), "key must be a PRNG key"),
        (lambda: bopdmd(_X, _TS, R, key=_KEY, bag_size=1.5), "bag_size must be an int or a fraction"),
        (lambda: bopdmd(_X, _TS, R, key=_KEY, bag_size=4), "bag_size=4 is too small for rank=4"),
        (lambda: hankel_dmd(_X[:, 0], delays=M), "delays must be smaller"),
        (lambda: hankel_dmd(_X[:, 0], delays=5, rank=6), "rank=6 is larger than the data allows"),
        (lambda: havok(_X[:, 0], delays=10, rank=1), "rank must be an integer >= 2"),
        (lambda: havok(_X[:, 0], delays=78, rank=2), "delays=78 leaves 3 Hankel rows"),
    ],
)
def test_bad_input_one_line_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_rank_above_numerical_rank_is_an_error():
    Q = np.linalg.qr(np.random.default_rng(2).standard_normal((N, 3)))[0]
    X = SIGNAL(0.1 * np.arange(M)) @ Q @ Q.T  # rank-3 data (same shapes as above: no new compile)
    with pytest.raises(ValueError, match="rank=4 is larger than the data allows: X has numerical rank 3"):
        dmd(X, rank=R, dt=0.1)
