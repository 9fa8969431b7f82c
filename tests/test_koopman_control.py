"""Koopman models with inputs against closed forms and independent solvers: DMDc / EDMDc exact recovery,
generator EDMD with inputs (linear and bilinear), zero-order hold vs scipy, bilinear rollout vs diffrax,
LQ tracking vs the discrete algebraic Riccati equation and brute-force least squares, and MPC on the
forced Van der Pol oscillator (learned EDMDc model vs the local linearisation vs no input)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

import jaxrep as jr

K = jr.koopman


pytestmark = pytest.mark.usefixtures("x64_module")  # the whole module in float64


def _random_system(seed, d, m, scale=0.5):
    rng = np.random.default_rng(seed)
    return rng, scale * rng.standard_normal((d, d)), rng.standard_normal((d, m))


def _zoh_ref(A, B, dt):
    d, m = B.shape
    E = scipy.linalg.expm(dt * np.block([[A, B], [np.zeros((m, d + m))]]))
    return E[:d, :d], E[:d, d:]


# --------------------------------------------------------------------------- DMDc


def test_dmdc_recovers_random_linear_system():
    rng, A, B = _random_system(0, 4, 2)
    X, U = rng.standard_normal((30, 4)), rng.standard_normal((30, 2))
    Y = X @ A.T + U @ B.T
    for rank in (None, 6):
        est = K.dmdc(X, U, Y, rank=rank, dt=0.1)
        np.testing.assert_allclose(est.A, A, atol=1e-12)
        np.testing.assert_allclose(est.B, B, atol=1e-12)
    us = rng.standard_normal((5, 2))
    x, ref = X[0], []
    for u in us:
        x = A @ x + B @ u
        ref.append(x)
    np.testing.assert_allclose(est.predict(jnp.asarray(X[0]), us), np.stack(ref), atol=1e-12)
    ev = est.eig()
    np.testing.assert_allclose(np.sort(np.abs(ev.eigenvalues)), np.sort(np.abs(np.linalg.eigvals(A))),
                               atol=1e-12)


def test_dmdc_rank_truncation_exact_on_a_subspace():
    # A 6-d state confined to a 2-d invariant subspace: Omega has rank 2 + m, so the truncated fit
    # (rank = 3) is exact and the output-truncated model (output_rank = 2) is the 2-d system itself.
    rng = np.random.default_rng(1)
    d, r, m, n = 6, 2, 1, 40
    Qb = np.linalg.qr(rng.standard_normal((d, r)))[0]
    Ar, Br = rng.standard_normal((r, r)), rng.standard_normal((r, m))
    A, B = Qb @ Ar @ Qb.T, Qb @ Br
    Z, U = rng.standard_normal((n, r)), rng.standard_normal((n, m))
    X, Y = Z @ Qb.T, (Z @ Ar.T + U @ Br.T) @ Qb.T
    est = K.dmdc(X, U, Y, rank=r + m)
    np.testing.assert_allclose(est.A, A, atol=1e-12)
    np.testing.assert_allclose(est.B, B, atol=1e-12)
    red = K.dmdc(X, U, Y, rank=r + m, output_rank=r)
    assert red.A.shape == (r, r) and red.B.shape == (r, m) and red.C.shape == (d, r)
    np.testing.assert_allclose(red.C @ red.A @ red.C.T, A, atol=1e-12)
    np.testing.assert_allclose(red.C @ red.B, B, atol=1e-12)
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(red.A)),
                               np.sort_complex(np.linalg.eigvals(Ar)), atol=1e-12)
    us = rng.standard_normal((4, m))
    ref = [X[0]]
    for u in us:
        ref.append(A @ ref[-1] + B @ u)
    np.testing.assert_allclose(red.predict(jnp.asarray(X[0]), us), np.stack(ref[1:]), atol=1e-12)


def test_dmdc_truncation_matches_the_paper_formulas():
    # Generic full-rank noisy data: the truncated estimator is Proctor et al.'s eqs. with p < d + m,
    # r < d, written here independently in numpy.
    rng = np.random.default_rng(2)
    d, m, n, p, r = 5, 2, 25, 4, 3
    X, U, Y = (rng.standard_normal((n, k)) for k in (d, m, d))
    Om = np.vstack([X.T, U.T])
    Ut, s, Vt = np.linalg.svd(Om, full_matrices=False)
    Ut, s, V = Ut[:, :p], s[:p], Vt[:p].T
    Uh = np.linalg.svd(Y.T, full_matrices=False)[0][:, :r]
    A_t = Uh.T @ Y.T @ V @ np.diag(1 / s) @ Ut[:d].T @ Uh
    B_t = Uh.T @ Y.T @ V @ np.diag(1 / s) @ Ut[d:].T
    est = K.dmdc(X, U, Y, rank=p, output_rank=r)
    # singular vectors are defined up to sign: compare in the state space
    np.testing.assert_allclose(est.C @ est.A @ est.C.T, Uh @ A_t @ Uh.T, atol=1e-12)
    np.testing.assert_allclose(est.C @ est.B, Uh @ B_t, atol=1e-12)


# --------------------------------------------------------------------------- EDMDc / generator EDMDc


@pytest.fixture(scope="module")
def slow_manifold_data(x64_module):
    # Exact successors: the lifted system is linear, so its zero-order hold (scipy) is the true flow.
    system, dt = jr.data.ControlledSlowManifold(mu=-0.3, lam=-1.0), 0.25
    rng = np.random.default_rng(14)
    X, U = rng.uniform(-1, 1, (60, 2)), rng.uniform(-2, 2, (60, 1))
    Ad, Bd = _zoh_ref(*(np.asarray(M) for M in system.lifted_matrices()), dt)
    Z = np.stack([X[:, 0], X[:, 1], X[:, 0] ** 2], 1) @ Ad.T + U @ Bd.T
    np.testing.assert_allclose(Z[:, 2], Z[:, 0] ** 2, atol=1e-14)  # the lift is invariant
    return system, X, U, Z[:, :2], dt


def test_edmdc_exact_on_a_koopman_invariant_subspace(slow_manifold_data):
    system, X, U, Y, dt = slow_manifold_data
    Ac, Bc = system.lifted_matrices()
    est = K.edmdc(X, U, Y, system.lift, reg=0.0, dt=dt)
    Ad, Bd = _zoh_ref(np.asarray(Ac), np.asarray(Bc), dt)
    np.testing.assert_allclose(est.A, Ad, atol=1e-12)
    np.testing.assert_allclose(est.B, Bd, atol=1e-12)
    np.testing.assert_allclose(est.C, np.eye(2, 3), atol=1e-12)
    # the continuous-time route: exact derivatives through the chain rule
    dX = jax.vmap(system.drift)(X, U)
    gen = K.generator_edmdc(X, U, dX, system.lift, dt=dt)
    np.testing.assert_allclose(gen.A, Ac, atol=1e-12)
    np.testing.assert_allclose(gen.B, Bc, atol=1e-12)
    disc = gen.discretize()
    np.testing.assert_allclose(disc.A, Ad, atol=1e-12)
    np.testing.assert_allclose(disc.B, Bd, atol=1e-12)
    z, ref = np.asarray(system.lift(jnp.asarray(X[0]))), []
    for u in U[:3]:
        z = Ad @ z + Bd @ u
        ref.append(z[:2])
    np.testing.assert_allclose(gen.predict(X[0], U[:3]), np.stack(ref), atol=1e-12)


def test_generator_edmdc_bilinear(slow_manifold_data):
    system, X, U, _, _ = slow_manifold_data
    Ac, Bc = (np.asarray(M) for M in system.lifted_matrices())
    # (1) a bilinear linear-state system: identity features recover A and every B_i exactly
    rng, A, _ = _random_system(3, 3, 2)
    Bs = rng.standard_normal((2, 3, 3))
    Xb, Ub = rng.standard_normal((30, 3)), rng.standard_normal((30, 2))
    dX = np.einsum("njk,nk->nj", A + np.einsum("ni,ijk->njk", Ub, Bs), Xb)
    est = K.generator_edmdc(Xb, Ub, dX, lambda x: x, bilinear=True)
    assert est.bilinear
    np.testing.assert_allclose(est.A, A, atol=1e-12)
    np.testing.assert_allclose(est.B, Bs, atol=1e-12)
    # (2) a nonlinear control-affine system: an additive input is the bilinear term on a constant
    feats = lambda x: jnp.concatenate([jnp.ones(1, x.dtype), system.lift(x)])
    est = K.generator_edmdc(X, U, jax.vmap(system.drift)(X, U), feats, bilinear=True)
    A_ref = np.zeros((4, 4))
    A_ref[1:, 1:] = Ac
    B_ref = np.zeros((1, 4, 4))
    B_ref[0, 1:, 0] = Bc[:, 0]
    np.testing.assert_allclose(est.A, A_ref, atol=1e-11)
    np.testing.assert_allclose(est.B, B_ref, atol=1e-11)
    with pytest.raises(ValueError, match="bilinear"):
        est.discretize()


def test_generator_edmdc_finite_differences_second_order():
    # Successor data of an exactly linear lifted system: the midpoint (trapezoidal) finite difference
    # gives the generator with error O(dt^2).
    rng, A, B = _random_system(4, 3, 1)
    X, U = rng.standard_normal((40, 3)), rng.standard_normal((40, 1))
    errs, dts = [], [0.1, 0.05, 0.025]
    for dt in dts:
        Ad, Bd = _zoh_ref(A, B, dt)
        est = K.generator_edmdc(X, U, None, lambda x: x, Y=X @ Ad.T + U @ Bd.T, dt=dt)
        errs.append(max(np.abs(est.A - A).max(), np.abs(est.B - B).max()))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 1.8 < slope < 2.2, (errs, slope)
    assert errs[-1] < 1e-3


# --------------------------------------------------------------------------- zero-order hold and rollout


def test_zoh_closed_forms_and_fine_integration():
    a, b, dt = -0.7, 2.0, 0.3
    Ad, Bd = K.zoh(jnp.array([[a]]), jnp.array([[b]]), dt)
    np.testing.assert_allclose(Ad, [[np.exp(a * dt)]], rtol=1e-14)
    np.testing.assert_allclose(Bd, [[(np.exp(a * dt) - 1) / a * b]], rtol=1e-14)
    Ad0, Bd0 = K.zoh(jnp.zeros((1, 1)), jnp.array([[b]]), dt)  # singular A: Bd = b dt
    np.testing.assert_allclose(Bd0, [[b * dt]], rtol=1e-14)
    rng, A, B = _random_system(5, 4, 2, scale=1.0)
    Ad, Bd = K.zoh(A, B, 0.4)
    Ad_ref, Bd_ref = _zoh_ref(A, B, 0.4)
    np.testing.assert_allclose(Ad, Ad_ref, atol=1e-13)
    np.testing.assert_allclose(Bd, Bd_ref, atol=1e-13)
    # against an independent fine-step integration under a held input
    z0, u = rng.standard_normal(4), rng.standard_normal(2)
    sol = scipy.integrate.solve_ivp(lambda t, z: A @ z + B @ u, (0, 0.4), z0, method="DOP853",
                                    rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(Ad @ z0 + Bd @ u, sol.y[:, -1], atol=1e-10)


def test_propagate_controlled_linear_paths_agree():
    rng, A, B = _random_system(6, 3, 2, scale=1.0)
    z0, us = rng.standard_normal(3), rng.standard_normal((12, 2))
    ts = 0.1 * np.arange(13)
    fast = K.propagate_controlled(A, B, z0, us, ts)  # uniform concrete grid: one expm
    ref = [z0]
    Ad, Bd = _zoh_ref(A, B, 0.1)
    for u in us:
        ref.append(Ad @ ref[-1] + Bd @ u)
    np.testing.assert_allclose(fast, np.stack(ref), atol=1e-12)
    # non-uniform times: one exponential per interval
    ts2 = np.concatenate([[0.0], np.cumsum(rng.uniform(0.05, 0.3, 12))])
    out, z = K.propagate_controlled(A, B, z0, us, ts2), z0
    for k, u in enumerate(us):
        Ad, Bd = _zoh_ref(A, B, ts2[k + 1] - ts2[k])
        z = Ad @ z + Bd @ u
        np.testing.assert_allclose(out[k + 1], z, atol=1e-12)


def test_bilinear_propagate_vs_diffrax():
    rng, A, _ = _random_system(7, 3, 2, scale=1.0)
    Bs = 0.5 * rng.standard_normal((2, 3, 3))
    system = jr.data.BilinearSystem(A, Bs)
    z0, us, dt = rng.standard_normal(3), rng.uniform(-1, 1, (15, 2)), 0.2
    ref = jr.data.controlled_trajectory(system, z0, us, dt)  # adaptive Dopri8 per interval
    out = K.propagate_controlled(A, Bs, z0, us, dt * np.arange(16))
    np.testing.assert_allclose(out, ref, rtol=1e-8, atol=1e-8)
    # and each interval is expm(dt (A + sum_i u_i B_i))
    z = z0
    for u in us[:3]:
        z = scipy.linalg.expm(dt * (A + np.einsum("i,ijk->jk", u, Bs))) @ z
    np.testing.assert_allclose(out[3], z, atol=1e-12)


def test_forced_systems_reduce_to_the_unforced_ones():
    x = jnp.array([0.7, -1.3])
    zero = jnp.zeros(1)
    np.testing.assert_allclose(jr.data.ForcedVanDerPol(mu=1.5).drift(x, zero),
                               jr.data.VanDerPol(mu=1.5).drift(x))
    np.testing.assert_allclose(jr.data.ForcedDuffing().drift(x, zero), jr.data.Duffing().drift(x))
    np.testing.assert_allclose(
        jr.data.ForcedDuffing().drift(x, jnp.array([2.0])) - jr.data.Duffing().drift(x), [0.0, 2.0]
    )
    sm = jr.data.ControlledSlowManifold()
    A, B = sm.lifted_matrices()
    u = jnp.array([0.4])
    # chain rule: d/dt lift(x) = J lift(x) f(x, u) = A lift(x) + B u
    np.testing.assert_allclose(jax.jvp(sm.lift, (x,), (sm.drift(x, u),))[1], A @ sm.lift(x) + B @ u,
                               atol=1e-14)


# --------------------------------------------------------------------------- learnable generators


def test_control_generators_are_trainable(getkey):
    # Trainable like Generator: a rollout loss through propagate_controlled vanishes with zero gradient
    # at the true system, and elsewhere its gradient is the derivative (central differences, float64).
    # Both generators go through one compiled loss.
    gens = (K.ControlGenerator(2, 2, param="stable", key=getkey()),
            K.BilinearGenerator(2, 2, param="dense", key=getkey()))
    z, u = jnp.array([0.3, -1.2]), jnp.array([0.5, -1.0])
    lin, bil = gens
    np.testing.assert_allclose(lin(z, u), lin.matrix() @ z + lin.input_matrix() @ u, atol=1e-12)
    Bs = bil.input_matrix()
    assert Bs.shape == (2, 2, 2)
    np.testing.assert_allclose(bil(z, u), (bil.matrix() + 0.5 * Bs[0] - Bs[1]) @ z, atol=1e-12)
    with pytest.raises(ValueError, match="jax.vmap"):
        bil(jnp.zeros((4, 2)), u)
    ts, us = 0.25 * np.arange(7), np.random.default_rng(15).uniform(-1, 1, (6, 2))
    z0 = jnp.array([1.0, -0.5])

    @eqx.filter_jit
    @eqx.filter_value_and_grad(has_aux=True)
    @eqx.debug.assert_max_traces(max_traces=1)
    def loss(models, targets):
        preds = [K.propagate_controlled(g.matrix(), g.input_matrix(), z0, us, ts) for g in models]
        return sum(jnp.mean((p - t) ** 2) for p, t in zip(preds, targets)), preds

    (_, targets), _ = loss(gens, [jnp.zeros((7, 2))] * 2)  # the rollouts of the true systems
    (value, _), grads = loss(gens, targets)
    assert float(value) == 0.0
    for leaf in jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_array)):
        np.testing.assert_allclose(leaf, 0.0, atol=1e-14)
    params, static = eqx.partition(gens, eqx.is_array)
    moved = eqx.combine(jax.tree_util.tree_map(lambda x: x + 0.1, params), static)
    _, grads = loss(moved, targets)
    direction = jax.tree_util.tree_map(lambda x: 0.3 * np.ones(x.shape), params)
    grad_leaves = jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_array))
    assert all(np.abs(g).max() > 0 for g in grad_leaves)
    dot = sum(float(np.sum(np.asarray(a) * b))
              for a, b in zip(grad_leaves, jax.tree_util.tree_leaves(direction)))
    h = 1e-6
    shift = lambda s: eqx.apply_updates(moved, jax.tree_util.tree_map(lambda d: s * d, direction))
    fd = (float(loss(shift(h), targets)[0][0]) - float(loss(shift(-h), targets)[0][0])) / (2 * h)
    assert abs(dot - fd) < 1e-6 * max(1.0, abs(fd)), (dot, fd)


# --------------------------------------------------------------------------- LQ tracking


def test_lq_tracking_long_horizon_is_the_dare_solution():
    _, A, B = _random_system(10, 4, 2, scale=0.7)
    Q, R = np.diag([1.0, 2.0, 0.5, 1.0]), np.array([[1.0, 0.2], [0.2, 0.5]])
    sol = K.lq_tracking(A, B, Q, R, np.zeros((150, 4)))
    P = scipy.linalg.solve_discrete_are(A, B, Q, R)
    K_inf = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    np.testing.assert_allclose(sol.value_matrices[1], P, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sol.gains[0], K_inf, atol=1e-10)
    np.testing.assert_allclose(sol.feedforward, 0.0, atol=1e-14)


def test_lq_tracking_short_horizon_vs_brute_force():
    # Outputs y = C z (p < r), an affine term, time-varying references, Qf != Q: the Riccati policy
    # must give the same inputs as minimising the stacked quadratic cost over u_0..u_{N-1} directly.
    rng, A, B = _random_system(11, 4, 2, scale=0.9)
    C, c = rng.standard_normal((3, 4)), rng.standard_normal(4)
    N, z0 = 4, rng.standard_normal(4)
    refs = rng.standard_normal((N, 3))
    Q, Qf, R = np.diag([1.0, 0.5, 2.0]), 3.0 * np.eye(3), np.diag([0.3, 0.7])
    sol = K.lq_tracking(A, B, Q, R, refs, C=C, Qf=Qf, offset=c)
    zs, us = sol.rollout(jnp.asarray(z0))

    def states(u_flat):
        u = u_flat.reshape(N, 2)
        out, z = [], z0
        for k in range(N):
            z = A @ z + B @ u[k] + c
            out.append(z)
        return out

    # the states are affine in u: build the least-squares system column by column
    def residual(u_flat):
        zs_ = states(u_flat)
        r = [np.linalg.cholesky(Q).T @ (C @ zs_[k] - refs[k]) for k in range(N - 1)]
        r.append(np.linalg.cholesky(Qf).T @ (C @ zs_[-1] - refs[-1]))
        r.append((np.linalg.cholesky(R).T @ u_flat.reshape(N, 2).T).T.ravel())
        return np.concatenate([np.ravel(x) for x in r])

    r0 = residual(np.zeros(2 * N))
    J = np.stack([residual(e) - r0 for e in np.eye(2 * N)], 1)
    u_star = np.linalg.lstsq(J, -r0, rcond=None)[0].reshape(N, 2)
    np.testing.assert_allclose(us, u_star, atol=1e-10)
    np.testing.assert_allclose(zs[1:], np.stack(states(u_star.ravel())), atol=1e-10)
    np.testing.assert_allclose(sol.control(jnp.asarray(z0)), u_star[0], atol=1e-10)


def test_receding_horizon_applies_the_first_lq_input():
    rng, A, B = _random_system(12, 3, 1, scale=0.9)
    est = K.ControlEstimator(lambda x: x, jnp.asarray(A), jnp.asarray(B), jnp.eye(3), jnp.zeros(3), 0.1)
    refs = rng.standard_normal((8, 3))
    x0 = rng.standard_normal(3)
    plant = lambda x, u: A @ x + B @ u
    xs, us = K.receding_horizon(plant, est, x0, refs, horizon=5, Q=1.0, R=0.1)
    assert xs.shape == (4, 3) and us.shape == (3, 1)
    xs_py, us_py = K.receding_horizon(plant, est, x0, refs, horizon=5, Q=1.0, R=0.1, scan=False)
    np.testing.assert_allclose(xs_py, xs, atol=1e-13)
    np.testing.assert_allclose(us_py, us, atol=1e-13)
    x = x0
    for t in range(3):
        u = K.lq_tracking(A, B, 1.0, 0.1, refs[t + 1:t + 6]).control(jnp.asarray(x))
        np.testing.assert_allclose(us[t], u, atol=1e-12)
        x = A @ x + B @ u
        np.testing.assert_allclose(xs[t + 1], x, atol=1e-12)


def test_mpc_forced_van_der_pol_learned_vs_linearisation():
    system, dt, T, N = jr.data.ForcedVanDerPol(mu=1.0), 0.1, 100, 20
    X, U, Y = jr.data.controlled_snapshot_pairs(system, 500, dt, input_scale=2.0,
                                                key=jax.random.PRNGKey(0))
    learned = K.edmdc(X, U, Y, K.Polynomial(2, 5), reg=1e-6, dt=dt)
    linear = K.linearize(system.drift, jnp.zeros(2), jnp.zeros(1), dt)
    np.testing.assert_allclose(linear.A, scipy.linalg.expm(dt * np.array([[0, 1], [-1, 1.0]])),
                               atol=1e-12)
    ts = dt * np.arange(T + N)
    refs = np.stack([2.0 * np.sin(0.5 * ts), np.zeros_like(ts)], 1)  # track x_1 only
    plant = lambda x, u: jr.data.controlled_step(system, x, u, dt)  # one compiled diffrax step
    x0 = jnp.array([2.0, 0.0])
    kw = dict(horizon=N, Q=jnp.array([1.0, 0.0]), R=0.1, scan=False)

    def rmse(xs, start=0):
        return float(np.sqrt(np.mean((xs[start:, 0] - refs[start:T + 1, 0]) ** 2)))

    xs_free, us_free = K.receding_horizon(plant, learned, x0, refs, u_min=0.0, u_max=0.0, **kw)
    assert np.all(us_free == 0)
    xs_l, _ = K.receding_horizon(plant, learned, x0, refs, **kw)
    xs_lin, us_lin = K.receding_horizon(plant, linear, x0, refs, **kw)
    e_free, e_l, e_lin = rmse(xs_free), rmse(xs_l), rmse(xs_lin)
    print(f"tracking RMSE: no input {e_free:.3f}, EDMDc MPC {e_l:.3f}, linearised MPC {e_lin:.3f}; "
          f"after 3 s: {rmse(xs_l, 30):.3f} vs {rmse(xs_lin, 30):.3f}")
    assert e_free > 2.0
    assert e_l < 0.3 * e_free and e_lin < 0.3 * e_free
    # away from the origin the learned model is the better one, open loop and in closed loop
    assert rmse(xs_l, 30) < 0.8 * rmse(xs_lin, 30)
    pred_err = {name: np.sqrt(np.mean((model.predict(xs_lin[0], us_lin[:N]) - xs_lin[1:N + 1]) ** 2))
                for name, model in (("learned", learned), ("linear", linear))}
    print("open-loop RMSE over the first horizon:", pred_err)
    assert pred_err["learned"] < pred_err["linear"], pred_err


# --------------------------------------------------------------------------- bad input


def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)


def test_bad_input_errors():
    rng, A, B = _random_system(13, 3, 1)
    X, U, Y = rng.standard_normal((10, 3)), rng.standard_normal((10, 1)), rng.standard_normal((10, 3))
    cases = [
        (lambda: K.dmdc(X, U[:9], Y), "U"),
        (lambda: K.dmdc(X, U, Y[:9]), "Y"),
        (lambda: K.dmdc(X, U, Y, rank=5), "rank"),
        (lambda: K.dmdc(X, U, Y, output_rank=4), "output_rank"),
        (lambda: K.dmdc(X, np.where(np.arange(10)[:, None] == 3, np.nan, U), Y), "U"),
        (lambda: K.edmdc(X, U.ravel(), Y, lambda x: x), "U"),
        (lambda: K.edmdc(X, np.full_like(U, np.inf), Y, lambda x: x), "U"),
        (lambda: K.generator_edmdc(X, U, Y, lambda x: x, Y=Y), "dXdt"),
        (lambda: K.zoh(A, B, 0.0), "dt"),
        (lambda: K.zoh(A, B, -0.1), "dt"),
        (lambda: K.zoh(A, B[:2], 0.1), "B"),
        (lambda: K.propagate_controlled(A, B, X[0], U[:3], np.array([0.0, 0.1, 0.1, 0.2])), "ts"),
        (lambda: K.propagate_controlled(A, B, X[0], U[:3], np.arange(3.0)), "ts"),
        (lambda: K.propagate_controlled(A, B, X[0], np.full((3, 1), np.nan), np.arange(4.0)), "us"),
        (lambda: K.lq_tracking(A, B, 1.0, 0.0, np.zeros((5, 3))), "R"),
        (lambda: K.lq_tracking(A, B, -np.eye(3), 1.0, np.zeros((5, 3))), "Q"),
        (lambda: K.lq_tracking(A, B, 1.0, 1.0, np.zeros((5, 2))), "refs"),
        # an unstable model the input cannot reach: the value function blows up with the horizon
        (lambda: K.lq_tracking(3.0 * np.eye(3), np.zeros((3, 1)), 1.0, 1.0, np.zeros((400, 3))),
         "horizon"),
        (lambda: K.linearize(jr.data.ForcedVanDerPol().drift, jnp.zeros(2), jnp.zeros(1), 0.0), "dt"),
        (lambda: jr.data.controlled_trajectory(jr.data.ForcedVanDerPol(), jnp.zeros(2),
                                               jnp.full((3, 1), jnp.nan), 0.1), "us"),
        (lambda: jr.data.controlled_step(jr.data.ForcedVanDerPol(), jnp.zeros(2), jnp.zeros(2), 0.1),
         "u"),
    ]
    for fn, name in cases:
        with pytest.raises((ValueError, TypeError), match=name) as excinfo:
            fn()
        _one_line(excinfo)
    est = K.ControlEstimator(lambda x: x, jnp.asarray(A), jnp.asarray(B), jnp.eye(3), jnp.zeros(3), 0.1)
    with pytest.raises(ValueError, match="horizon"):
        K.receding_horizon(lambda x, u: x, est, X[0], np.zeros((5, 3)), horizon=0, Q=1.0, R=1.0)
    with pytest.raises(ValueError, match="refs"):
        K.receding_horizon(lambda x, u: x, est, X[0], np.zeros((5, 3)), horizon=5, Q=1.0, R=1.0)
    with pytest.raises(ValueError, match="n_inputs"):
        K.ControlGenerator(3, 0, key=jax.random.PRNGKey(0))
