"""Couplings (exact / entropic / class-conditional OT, Schrödinger bridge), few-step metrics, adaptive SDE
sampling and the Tweedie step, each checked against brute force, scipy, an independent Sinkhorn or a
closed form."""

import itertools
import math

import diffrax
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from scipy.optimize import linear_sum_assignment

import jaxrep as jrp
import jaxrep.interpolants as ji
from jaxrep.interpolants._sample import _BROWNIAN_TOL


pytestmark = pytest.mark.usefixtures("x64_module")  # the whole module in float64


def _cost(x0, x1):
    x0, x1 = np.asarray(x0, np.float64), np.asarray(x1, np.float64)
    return np.sum((x0[:, None] - x1[None]) ** 2, -1)


def _is_perm(p, n):
    return sorted(np.asarray(p).tolist()) == list(range(n))


# --------------------------------------------------------------------------------------------------
# exact assignment

# Each distinct program holding the solver's while loops is compiled once: the tests share these.
_solve_batch = jax.jit(jax.vmap(lambda c: ji.linear_assignment(c, host=False)))
_solve_host = jax.jit(lambda c: ji.linear_assignment(c, host=True))
_N = 48


@jax.jit
def _exact_perm(x0, x1, labels0, labels1):
    return ji.ExactOT(host=False).permutation(x0, x1, labels0=labels0, labels1=labels1)  # the in-JAX solver


def _pairs(x0, x1, labels0=None, labels1=None):
    """Exact OT permutation for (48, 2) clouds; unlabelled = every sample in class 0."""
    zeros = jnp.zeros(_N, jnp.int32)
    labels0 = (zeros if labels1 is None else labels1) if labels0 is None else labels0
    labels1 = labels0 if labels1 is None else labels1
    return np.asarray(_exact_perm(jnp.asarray(x0, jnp.float64), jnp.asarray(x1, jnp.float64),
                                  jnp.asarray(labels0, jnp.int32), jnp.asarray(labels1, jnp.int32)))


def test_assignment_equals_brute_force():
    # sizes 1..6 in one compiled, vmapped call: an n x n problem padded to 6 x 6 by a block that
    # costs nothing on its diagonal block and prohibitively across blocks
    rng = np.random.default_rng(0)
    problems = []
    for n in range(1, 7):
        for c in [*rng.random((6, n, n)), *rng.integers(0, 3, (6, n, n)).astype(float), np.zeros((n, n))]:
            padded = np.full((6, 6), 1e3)
            padded[:n, :n] = c
            padded[n:, n:] = 0.0
            problems.append((n, c, padded))
    perms = np.asarray(_solve_batch(jnp.asarray(np.stack([p for _, _, p in problems]))))
    for (n, c, _), p in zip(problems, perms):
        assert _is_perm(p, 6) and _is_perm(p[:n], n)
        best = min(sum(c[i, q[i]] for i in range(n)) for q in itertools.permutations(range(n)))
        assert abs(c[np.arange(n), p[:n]].sum() - best) <= 1e-6


def test_assignment_equals_scipy_on_point_clouds(getkey):
    n = _N
    rng = np.random.default_rng(1)
    clouds = {
        "gaussians": (rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1.0),
        "clusters -> moons": (np.asarray(jrp.data.EightGaussians().sample(n, key=getkey())),
                              np.asarray(jrp.data.Moons().sample(n, key=getkey()))),
        "integer grid (ties)": (rng.integers(-2, 3, (n, 2)).astype(float), rng.integers(-2, 3, (n, 2)).astype(float)),
        "duplicates": (np.repeat(rng.normal(size=(n // 4, 2)), 4, 0), rng.normal(size=(n, 2))),
    }
    for name, (a, b) in clouds.items():
        c = _cost(a, b)
        r, s = linear_sum_assignment(c)
        best = c[r, s].sum()
        for p in (_pairs(a, b), _solve_host(jnp.asarray(c))):  # in-JAX solver (via ExactOT), scipy callback
            assert _is_perm(p, n), name
            assert abs(c[np.arange(n), np.asarray(p)].sum() - best) <= 1e-6, name


def test_exact_pairs_shorten_pairs(getkey):
    x0 = jrp.data.EightGaussians().sample(_N, key=getkey())
    x1 = jrp.data.Moons().sample(_N, key=getkey())
    perm = _pairs(x0, x1)
    assert _is_perm(perm, _N)
    ot = float(jnp.mean(jnp.sum((x0 - x1[perm]) ** 2, -1)))
    indep = float(jnp.mean(jnp.sum((x0 - x1) ** 2, -1)))
    shuffles = [float(jnp.mean(jnp.sum((x0 - x1[jr.permutation(getkey(), _N)]) ** 2, -1))) for _ in range(5)]
    assert ot < 0.5 * indep and ot <= min(shuffles)


# --------------------------------------------------------------------------------------------------
# entropic OT


def _numpy_sinkhorn(c, eps, iters=5000):
    n, m = c.shape
    f, g = np.zeros(n), np.zeros(m)
    la, lb = -np.log(n), -np.log(m)
    for _ in range(iters):
        f = -eps * np.logaddexp.reduce((g[None] - c) / eps + lb, axis=1)
        g = -eps * np.logaddexp.reduce((f[:, None] - c) / eps + la, axis=0)
    return np.exp((f[:, None] + g[None] - c) / eps + la + lb)


def test_sinkhorn_plan_marginals_and_independent_solver(getkey):
    x0 = np.asarray(jr.normal(getkey(), (20, 2)))
    x1 = np.asarray(jr.normal(getkey(), (15, 2))) + 1.0
    plan = np.asarray(ji.SinkhornOT(epsilon=0.5, threshold=1e-9, max_iterations=5000).plan(x0, x1))
    np.testing.assert_allclose(plan.sum(1), 1 / 20, atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), 1 / 15, atol=1e-9)
    np.testing.assert_allclose(plan, _numpy_sinkhorn(_cost(x0, x1), 0.5), rtol=1e-6, atol=1e-12)


@jax.jit
def _sinkhorn_pairs(x0, x1, labels0, labels1, key):
    return ji.SinkhornOT(epsilon=0.5)(x0, x1, key=key, labels0=labels0, labels1=labels1)[1]


def test_sinkhorn_pairs_sample_the_plan_rows(getkey):
    x0 = jr.normal(getkey(), (4, 2))
    x1 = jr.normal(getkey(), (5, 2))
    c = ji.SinkhornOT(epsilon=1.0, threshold=1e-6)
    keys = jr.split(getkey(), 4000)
    plan, x1m = jax.jit(lambda ks: (c.plan(x0, x1), jax.vmap(lambda k: c(x0, x1, key=k)[1])(ks)))(keys)
    plan = np.asarray(plan, np.float64)
    idx = np.argmin(np.sum((np.asarray(x1m)[..., None, :] - np.asarray(x1)[None, None]) ** 2, -1), -1)
    freq = np.stack([np.bincount(idx[:, i], minlength=5) / 4000 for i in range(4)])
    np.testing.assert_allclose(freq, plan / plan.sum(1, keepdims=True), atol=0.03)
    # on a minibatch, entropic pairs are much closer than independent ones
    x0 = jrp.data.EightGaussians().sample(_N, key=getkey())
    x1 = jrp.data.Moons().sample(_N, key=getkey())
    zeros = jnp.zeros(_N, jnp.int32)
    x1s = _sinkhorn_pairs(x0, x1, zeros, zeros, getkey())
    assert float(jnp.mean(jnp.sum((x0 - x1s) ** 2, -1))) < 0.5 * float(jnp.mean(jnp.sum((x0 - x1) ** 2, -1)))


# --------------------------------------------------------------------------------------------------
# class-conditional


def test_class_conditional_pairs_stay_in_class(getkey):
    n = _N
    labels1 = jr.randint(getkey(), (n,), 0, 3)
    x1 = jr.normal(getkey(), (n, 2)) + 3.0 * labels1[:, None]
    x0 = jr.normal(getkey(), (n, 2))
    perm = _pairs(x0, x1, labels1=labels1)  # x0 unlabelled: x0[i] takes the class labels1[i]
    lab = np.asarray(labels1)
    assert _is_perm(perm, n) and np.array_equal(lab[perm], lab)
    # the optimum decomposes into per-class optimal assignments
    c = _cost(x0, x1)
    best = sum(c[np.ix_(lab == k, lab == k)][linear_sum_assignment(c[np.ix_(lab == k, lab == k)])].sum()
               for k in range(3))
    np.testing.assert_allclose(c[np.arange(n), perm].sum(), best, rtol=1e-5)
    # both sides labelled: x0's labels are a shuffle of x1's
    labels0 = labels1[jr.permutation(getkey(), n)]
    perm = _pairs(x0, x1, labels0=labels0, labels1=labels1)
    assert np.array_equal(lab[perm], np.asarray(labels0))
    x1s = _sinkhorn_pairs(x0, x1, labels0, labels1, getkey())
    nearest = np.argmin(_cost(x1s, x1), 1)
    assert np.array_equal(lab[nearest], np.asarray(labels0))


# --------------------------------------------------------------------------------------------------
# losses with couplings, Schrödinger bridge


def test_velocity_loss_with_coupling_in_fit(getkey):
    I = ji.linear()
    b = ji.TimeField(jrp.nn.MLP(3, 2, 16, 1, jax.nn.silu, key=getkey()))

    def data(key, step):
        k0, k1 = jr.split(key)
        return jr.normal(k0, (_N, 2)), jr.normal(k1, (_N, 2)) + 2.0

    x0, x1 = data(getkey(), 0)
    # the coupling re-pairs the batch before the loss: same value as the loss on pre-paired data
    key = getkey()
    k_loss, k_coupling = jr.split(key)
    got = ji.velocity_loss(b, I, x0, x1, key=key, coupling=ji.ExactOT())  # scipy callback
    np.testing.assert_allclose(got, ji.velocity_loss(b, I, x0, x1[_pairs(x0, x1)], key=k_loss), rtol=1e-5)

    # inside fit's compiled step (data drawn in the step, then re-paired by the in-JAX exact solver)
    def loss_fn(model, batch, key):
        loss = ji.velocity_loss(model, I, *batch, key=key, coupling=ji.ExactOT(host=False))
        return loss, {}

    _, hist = jrp.train.fit(b, loss_fn, data, optax.adam(1e-2), steps=20, key=getkey(), progress=False,
                            steps_per_call=10)
    assert np.all(np.isfinite(hist["loss"])) and hist["loss"][-1] < hist["loss"][0]
    del k_coupling


def test_schrodinger_bridge_path_and_target(getkey):
    sigma = 0.7
    I, coupling = ji.schrodinger_bridge(sigma)
    assert isinstance(coupling, ji.SinkhornOT) and coupling.epsilon == pytest.approx(2 * sigma**2)
    x0, x1, z = jr.normal(getkey(), (3, 2))
    for t in (0.1, 0.5, 0.83):
        mu = (1 - t) * x0 + t * x1
        xt = I(t, x0, x1, z)
        np.testing.assert_allclose(xt, mu + sigma * math.sqrt(t * (1 - t)) * z, rtol=1e-6)
        # torchcfm's SB-CFM target (1 - 2t) / (2t(1 - t)) (x_t - mu_t) + x1 - x0
        sb_target = (1 - 2 * t) / (2 * t * (1 - t)) * (xt - mu) + x1 - x0
        np.testing.assert_allclose(I.time_derivative(t, x0, x1, z), sb_target, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# metrics


def test_straightness_closed_form(getkey):
    x0 = jr.normal(getkey(), (16, 2))
    # b = -x: X_t = x0 e^{-t}, S = |x0|^2 \int_0^1 (e^{-1} - 1 + e^{-t})^2 dt
    a = math.exp(-1) - 1
    integral = a**2 + 2 * a * (1 - math.exp(-1)) + (1 - math.exp(-2)) / 2
    want = float(jnp.mean(jnp.sum(x0**2, -1))) * integral
    got = ji.straightness(lambda t, x: -x, x0, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # k Euler steps of b = -x give (1 - 1/k)^k x0 against e^{-1} x0: W2 = rms(x0) |(1 - 1/k)^k - e^{-1}| in 1-D
    x0 = jr.normal(getkey(), (200, 1))
    w2 = ji.wasserstein2_euler(lambda t, x: -x, x0, math.exp(-1) * x0, steps=(1, 4))
    rms = math.sqrt(float(jnp.mean(x0**2)))
    assert set(w2) == {1, 4}
    np.testing.assert_allclose([w2[1], w2[4]], [rms * abs((1 - 1 / k) ** k - math.exp(-1)) for k in (1, 4)],
                               rtol=1e-6)
    # straight, uniformly travelled paths (the exact OT field between two 1-D Gaussians): one step is exact
    m, s = 1.5, 0.5

    def b(t, x):
        return m + (s - 1) * (x - t * m) / (1 + t * (s - 1))

    x1 = m + s * jr.normal(getkey(), (200, 1))
    w2 = ji.wasserstein2_euler(b, x0, x1, steps=(1,))
    np.testing.assert_allclose(w2[1], ji.wasserstein2(m + s * x0, x1), rtol=1e-9)  # Euler exact when straight


# --------------------------------------------------------------------------------------------------
# adaptive SDE sampling, Tweedie


def test_adaptive_sde_strong_convergence_on_ou(getkey):
    # dX = -theta X du + s dW as the sampler's SDE (b = -theta x, score 0, eps = s^2 / 2), whose solution on
    # the sampler's own Brownian paths is X_1 = e^{-theta} X_0 + s (W_1 - theta \int_0^1 g(u) W_u du),
    # g(u) = e^{-theta (1 - u)}. On each interval [a, a + h] of a grid, W_u = W_a + (u - a) dW / h + bridge
    # with \int bridge = h H (the space-time Levy area the tree provides), so the integral is exact up to
    # O(h^2) from approximating g by g(mid) on the bridge term.
    theta, s, n, intervals = 1.5, 0.8, 16, 128
    x0 = jr.normal(getkey(), (n, 1))
    key = getkey()
    a = jnp.linspace(0.0, 1.0, intervals + 1)[:-1]
    h = 1.0 / intervals
    g = lambda u: jnp.exp(-theta * (1.0 - u))

    def exact(x, k):
        bm = diffrax.VirtualBrownianTree(0.0, 1.0, tol=_BROWNIAN_TOL, shape=(1,), key=k,
                                         levy_area=diffrax.SpaceTimeLevyArea)
        inc = jax.lax.map(lambda lo: bm.evaluate(lo, lo + h, use_levy=True), a)
        dw, hh = inc.W[:, 0], inc.H[:, 0]
        w_a = jnp.cumsum(dw) - dw
        int_g = (g(a + h) - g(a)) / theta
        int_g_ramp = h * g(a + h) / theta - (g(a + h) - g(a)) / theta**2  # \int g(u) (u - a) du
        integral = jnp.sum(w_a * int_g + dw / h * int_g_ramp + g(a + h / 2) * h * hh)
        return math.exp(-theta) * x + s * (jnp.sum(dw) - theta * integral)

    ref = jax.jit(lambda: jax.lax.map(lambda xk: exact(*xk), (x0, jr.split(key, n))))()

    @jax.jit
    def solve(tol):  # one compile for every tolerance
        x1, nsteps = ji.sample(lambda t, x: -theta * x, x0, method="sde", score=lambda t, x: jnp.zeros_like(x),
                               eps=s**2 / 2, rtol=tol, atol=tol, key=key, return_stats=True)
        return jnp.mean(jnp.abs(x1 - ref)), jnp.mean(nsteps)

    errors, steps = np.asarray([solve(tol) for tol in (1e-1, 1e-2, 1e-3)]).T
    assert np.all(np.diff(errors) < 0) and np.all(np.diff(steps) > 0), (errors, steps)
    # strong convergence: error against the mean step 1 / steps, slope near ShARK's order 1.5 (>= 1 here)
    slope = np.polyfit(np.log(1 / steps), np.log(errors), 1)[0]
    assert slope > 1.0, (slope, errors, steps)
    assert errors[-1] < 2e-4, errors


def test_tweedie_step_on_gaussian(getkey):
    # mirror interpolant x_t = x1 + gamma z, x1 ~ N(mu, tau^2): rho_t = N(mu, tau^2 + gamma^2), known score,
    # and the probability flow is X_t = mu + (X_0 - mu) sqrt(var(t)) / tau
    mu, tau, t1 = 1.0, 0.6, 0.5
    I = ji.mirror(ji.SqrtGamma(1.0))

    def var(t):
        return tau**2 + t * (1 - t)

    def score(t, x):
        return -(x - mu) / var(t)

    def denoiser(t, x):
        return -jnp.sqrt(t * (1 - t)) * score(t, x)

    def b(t, x):  # E[gamma_dot z | x_t = x] = -gamma gamma_dot s
        return -(0.5 - t) * score(t, x)

    x0 = mu + tau * jr.normal(getkey(), (64, 1))
    xt = mu + (x0 - mu) * math.sqrt(var(t1)) / tau
    posterior_mean = mu + tau**2 / var(t1) * (xt - mu)  # E[x1 | x_t] for a Gaussian
    for field in ({"score": score}, {"denoiser": denoiser}):
        xd = ji.sample(b, x0, I, t1=t1, rtol=1e-7, atol=1e-7, denoise=True, **field)
        np.testing.assert_allclose(xd, posterior_mean, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# bad input: one-line errors naming the argument


def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)


def test_bad_input(getkey):
    x = jnp.zeros((4, 2))
    cases = [
        (lambda: ji.ot_pairs(x, jnp.zeros((5, 2))), ValueError, "same batch size"),
        (lambda: ji.ot_pairs(x, jnp.zeros((4, 3))), ValueError, "same feature size"),
        (lambda: ji.ot_pairs(jnp.zeros(2), jnp.zeros(2)), ValueError, "x0 and x1 must be batches"),
        (lambda: ji.ot_pairs(x, x, method="sinkorn", key=getkey()), ValueError, "did you mean 'sinkhorn'"),
        (lambda: ji.ot_pairs(x, x, method="sinkhorn", epsilon=0.0, key=getkey()), ValueError, "epsilon must be"),
        (lambda: ji.ot_pairs(x, x, method="sinkhorn", epsilon=-1.0, key=getkey()), ValueError, "epsilon must be"),
        (lambda: ji.SinkhornOT(epsilon=float("nan")), ValueError, "epsilon must be"),
        (lambda: ji.ot_pairs(x, x, method="sinkhorn", epsilon=0.1), ValueError, "needs a PRNG key"),
        (lambda: ji.ot_pairs(x, x, epsilon=0.1), ValueError, "epsilon applies to method='sinkhorn'"),
        (lambda: ji.ot_pairs(x, x, labels1=jnp.zeros(3, int)), ValueError, "labels1 must have shape"),
        (lambda: ji.ot_pairs(x, x, labels0=jnp.array([0, 0, 1, 1]), labels1=jnp.array([0, 1, 1, 1])),
         ValueError, "same counts"),
        (lambda: ji.linear_assignment(jnp.zeros((3, 4))), ValueError, "cost must be a square"),
        (lambda: ji.schrodinger_bridge(0.0), ValueError, "sigma must be a finite number > 0"),
        (lambda: ji.brownian_bridge(-1.0), ValueError, "sigma must be a finite number > 0"),
        (lambda: ji.velocity_loss(lambda t, x: x, ji.linear(), x, x, key=getkey(), coupling="exact"),
         TypeError, "coupling must be an AbstractCoupling"),
        (lambda: ji.sample(lambda t, x: x, x, ji.linear(), denoise=True), ValueError, "denoise=True needs"),
        (lambda: ji.straightness(lambda t, x: x, x, num_times=1), ValueError, "num_times"),
        (lambda: ji.wasserstein2_euler(lambda t, x: x, x, x, steps=(0,)), ValueError, "steps must hold"),
    ]
    for fn, err, match in cases:
        with pytest.raises(err, match=match) as excinfo:
            fn()
        _one_line(excinfo)
