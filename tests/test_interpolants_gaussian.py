"""Gaussian-to-Gaussian: closed-form velocity/score/denoiser as loss minimisers, ODE/SDE sampling, likelihood.

With $x_0\\sim N(0,I)$, $x_1\\sim N(m,\\Sigma)$ and $z\\sim N(0,I)$ independent, $x_t\\sim N(\\beta m, C_t)$ with
$C_t=(\\alpha^2+\\gamma^2)I+\\beta^2\\Sigma$, and every conditional expectation is affine in $x$:
$b=\\dot\\beta m+(\\alpha\\dot\\alpha I+\\beta\\dot\\beta\\Sigma+\\gamma\\dot\\gamma I)C_t^{-1}(x-\\beta m)$,
$s=-C_t^{-1}(x-\\beta m)$, $\\eta=E[z|x_t]=\\gamma C_t^{-1}(x-\\beta m)$.
"""

import diffrax
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxrep.interpolants as ji


M = np.array([1.0, -2.0])
L = np.array([[0.6, 0.0], [0.3, 0.4]])
SIGMA = L @ L.T  # full covariance, so the Jacobian of b is not diagonal


def exact_fields(I):
    m = jnp.asarray(M)
    S = jnp.asarray(SIGMA)
    eye = jnp.eye(2)

    def cov(t):
        a, b, g = I.coefficients(t)
        return (a**2 + g**2) * eye + b**2 * S

    def centered(t, x):
        return jnp.linalg.solve(cov(t), x - I.beta(t) * m)

    def velocity(t, x):
        a, b, g = I.coefficients(t)
        da, db, _ = I.derivatives(t)
        return db * m + (a * da * eye + b * db * S + I.gamma_gamma_dot(t) * eye) @ centered(t, x)

    def v(t, x):  # velocity without the gamma' z term
        a, b, g = I.coefficients(t)
        da, db, _ = I.derivatives(t)
        return db * m + (a * da * eye + b * db * S) @ centered(t, x)

    def score(t, x):
        return -centered(t, x)

    def denoiser(t, x):  # E[xi | x_t = x], xi = z (or x0 if one-sided)
        return I.noise_scale(t) * centered(t, x)

    return dict(velocity=velocity, v=v, score=score, denoiser=denoiser)


def draw(key, n, dtype=jnp.float64):
    k0, k1 = jr.split(key)
    x0 = jr.normal(k0, (n, 2), dtype=dtype)
    x1 = jnp.asarray(M, dtype) + jr.normal(k1, (n, 2), dtype=dtype) @ jnp.asarray(L, dtype).T
    return x0, x1


INTERPOLANTS = {
    "linear_sqrt": ji.linear(ji.SqrtGamma(1.0)),
    "trig_sin2": ji.trig(ji.SineSquaredGamma()),
    "encoder_decoder": ji.encoder_decoder(),
    "one_sided_linear": ji.one_sided("linear"),
}

LOSSES = {
    "velocity": lambda f, I, x0, x1, key, t: ji.velocity_loss(f, I, x0, x1, key=key, t=t),
    "v": lambda f, I, x0, x1, key, t: ji.velocity_loss(f, I, x0, x1, key=key, t=t, include_gamma_dot=False),
    "score": lambda f, I, x0, x1, key, t: ji.score_loss(f, I, x0, x1, key=key, t=t),
    "denoiser": lambda f, I, x0, x1, key, t: ji.denoiser_loss(f, I, x0, x1, key=key, t=t),
}


@pytest.mark.parametrize("iname", list(INTERPOLANTS))
@pytest.mark.parametrize("lname", list(LOSSES))
def test_loss_minimiser_is_closed_form(iname, lname, x64, getkey):
    """At fixed t, minimise each (quadratic) loss over affine fields W x + c: the minimiser is the closed form."""
    I = INTERPOLANTS[iname]
    t = 0.37
    x0, x1 = draw(getkey(), 50_000)
    key = getkey()
    theta0 = (jnp.zeros((2, 2)), jnp.zeros(2))
    flat0, unravel = ravel_pytree(theta0)

    def objective(flat):
        W, c = unravel(flat)
        return LOSSES[lname](lambda t, x: W @ x + c, I, x0, x1, key, t)

    g = jax.grad(objective)(flat0)
    H = jax.hessian(objective)(flat0)
    W, c = unravel(flat0 - jnp.linalg.solve(H, g))  # exact minimiser of a quadratic
    exact = exact_fields(I)[lname]
    W_exact = jax.jacfwd(lambda x: exact(t, x))(jnp.zeros(2))
    c_exact = exact(t, jnp.zeros(2))
    scale = max(1.0, float(jnp.max(jnp.abs(W_exact))))
    np.testing.assert_allclose(W, W_exact, atol=0.03 * scale)
    np.testing.assert_allclose(c, c_exact, atol=0.03 * scale)


def test_denoiser_score_and_velocity_relations(x64, getkey):
    """s = -eta / sigma and b = v - gamma gamma' s hold for the closed forms."""
    for I in INTERPOLANTS.values():
        f = exact_fields(I)
        s = ji.score_from_denoiser(f["denoiser"], I)
        b = ji.velocity_from_parts(f["v"], f["score"], I)
        for t in (0.2, 0.6):
            x = jr.normal(getkey(), (2,), dtype=jnp.float64)
            np.testing.assert_allclose(s(t, x), f["score"](t, x), rtol=1e-10)
            np.testing.assert_allclose(b(t, x), f["velocity"](t, x), rtol=1e-10, atol=1e-12)


def test_antithetic_reduces_variance(x64, getkey):
    """Antithetic pairs keep the mean of the velocity loss and shrink its spread near t = 0."""
    I = ji.linear(ji.SqrtGamma(1.0))
    b = exact_fields(I)["velocity"]
    x0, x1 = draw(getkey(), 4096)
    keys = jr.split(getkey(), 64)
    t = 0.01
    x0, x1 = x0.reshape(64, 64, 2), x1.reshape(64, 64, 2)
    vals = {
        anti: np.asarray(jax.jit(jax.vmap(
            lambda a, c, k: ji.velocity_loss(b, I, a, c, key=k, t=t, antithetic=anti)))(x0, x1, keys))
        for anti in (True, False)
    }
    assert vals[True].std() < 0.5 * vals[False].std()
    assert abs(vals[True].mean() - vals[False].mean()) < 4 * vals[False].std() / 8


def _check_moments(x, mean, cov, tol):
    np.testing.assert_allclose(x.mean(0), mean, atol=tol)
    np.testing.assert_allclose(np.cov(np.asarray(x).T), cov, atol=tol)


def test_ode_sampling_reproduces_moments(x64, getkey):
    """Adaptive and fixed-step probability-flow ODE with the exact field, forward and backward."""
    I = INTERPOLANTS["linear_sqrt"]
    f = exact_fields(I)
    x0, _ = draw(getkey(), 1000)
    # the flow maps N(0, I) exactly onto N(m, Sigma): only the sampling error of x0 remains
    x1, nsteps = ji.sample(f["velocity"], x0, I, rtol=1e-8, atol=1e-8, return_stats=True)
    _check_moments(x1, M, SIGMA, 0.1)
    assert nsteps.shape == (1000,) and int(nsteps.max()) > 5
    x1h = ji.sample(f["velocity"], x0, I, solver=diffrax.Heun(), steps=50)
    np.testing.assert_allclose(x1h, x1, atol=5e-3)  # second-order: error ~ (1/50)^2
    back = ji.sample(f["velocity"], x1, I, t0=1.0, t1=0.0, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(back, x0, atol=1e-5)


@pytest.mark.parametrize("iname", ["linear_sqrt", "one_sided_linear"])
def test_sde_sampling_reproduces_moments(iname, x64, getkey):
    """Euler-Maruyama SDE with drift b + eps s forward and b - eps s backward keeps the marginals."""
    I = INTERPOLANTS[iname]
    f = exact_fields(I)
    x0, xd = draw(getkey(), 1000)
    t_end = 1.0 if iname == "linear_sqrt" else 0.999  # one-sided score -x0/alpha is singular at t = 1
    x1s = ji.sample(f["velocity"], x0, I, method="sde", score=f["score"], eps=0.5, steps=100,
                    t1=t_end, key=getkey())
    _check_moments(x1s, M, SIGMA, 0.12)
    x1 = ji.sample(f["velocity"], x0, I, solver=diffrax.Heun(), steps=20)
    assert np.abs(np.asarray(x1s) - np.asarray(x1)).mean() > 0.05  # it is genuinely stochastic
    xb = ji.sample(f["velocity"], xd, I, method="sde", score=f["score"], eps=0.5, steps=100,
                   t0=t_end, t1=0.0, key=getkey())
    _check_moments(xb, np.zeros(2), np.eye(2), 0.12)


def test_sde_with_denoiser_and_time_dependent_eps(x64, getkey):
    I = INTERPOLANTS["linear_sqrt"]
    f = exact_fields(I)
    x0, _ = draw(getkey(), 1000)
    x1 = ji.sample(f["velocity"], x0, I, method="sde", denoiser=f["denoiser"], eps=lambda t: 1.0 - t,
                   t0=0.01, t1=0.99, steps=100, key=getkey())
    # the SDE starts from x0 at t0 = 0.01 (close to rho_0) and stops at t = 0.99 (close to rho_1)
    np.testing.assert_allclose(x1.mean(0), M, atol=0.12)
    np.testing.assert_allclose(np.cov(np.asarray(x1).T), SIGMA, atol=0.12)


@pytest.mark.parametrize("iname", ["linear_sqrt", "trig_sin2", "one_sided_linear"])
def test_log_likelihood_of_exact_field(iname, x64, getkey):
    I = INTERPOLANTS[iname]
    b = exact_fields(I)["velocity"]
    _, xs = draw(getkey(), 8)
    exact = jax.vmap(lambda x: jax.scipy.stats.multivariate_normal.logpdf(x, M, SIGMA))(xs)
    lp = ji.log_likelihood(b, xs, I, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(lp, exact, atol=1e-5)


def test_log_likelihood_hutchinson(x64, getkey):
    """Hutchinson is unbiased: many probes converge to the exact value; a single sample works too."""
    I = INTERPOLANTS["linear_sqrt"]
    b = exact_fields(I)["velocity"]
    _, xs = draw(getkey(), 8)
    exact = jax.vmap(lambda x: jax.scipy.stats.multivariate_normal.logpdf(x, M, SIGMA))(xs)
    lph = ji.log_likelihood(b, xs, I, hutchinson_probes=256, key=getkey())
    np.testing.assert_allclose(lph, exact, atol=0.15)
    one = ji.log_likelihood(b, xs[0], I, hutchinson_probes=1, steps=20, key=getkey())
    assert one.shape == () and abs(float(one) - float(exact[0])) < 2.0


def test_trained_velocity_gaussian(getkey):
    """Train a TimeField MLP through jaxrep.train.fit (float32), then sample and evaluate likelihood."""
    import optax

    import jaxrep as jr_
    from jaxrep.interpolants import TimeField

    I = ji.linear()
    net = jr_.nn.MLP(TimeField.in_size(2), 2, width_size=32, depth=2, activation=jax.nn.silu, key=getkey())
    field = TimeField(net)
    m = jnp.asarray(M, jnp.float32)
    Lf = jnp.asarray(L, jnp.float32)

    def data(key, step):
        x0, x1 = draw(key, 256, jnp.float32)
        return x0, x1

    def loss_fn(model, batch, key):
        x0, x1 = batch
        return ji.velocity_loss(model, I, x0, x1, key=key), {}

    model, hist = jr_.train.fit(field, loss_fn, data, optax.adam(3e-3), steps=600, key=getkey(),
                                progress=False, steps_per_call=100)
    assert hist["loss"][-1] < hist["loss"][0]
    x0, _ = draw(getkey(), 1000, jnp.float32)
    x1 = ji.sample(model, x0, I, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x1.mean(0), m, atol=0.1)
    np.testing.assert_allclose(np.cov(np.asarray(x1).T), SIGMA, atol=0.1)
    _, xs = draw(getkey(), 300, jnp.float32)
    nll = -jnp.mean(ji.log_likelihood(model, xs, I, rtol=1e-4, atol=1e-4))
    exact = -np.mean(jax.vmap(lambda x: jax.scipy.stats.multivariate_normal.logpdf(x, m, Lf @ Lf.T))(xs))
    assert abs(float(nll) - float(exact)) < 0.1, (nll, exact)


def test_bad_input_sampling(getkey):
    I = ji.linear()
    b = lambda t, x: x
    x = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        ji.sample(b, x, I, method="sde", score=b, eps=-0.1, steps=10, key=getkey())
    with pytest.raises(ValueError, match="eps must be >= 0"):
        ji.sample(b, x, I, method="sde", score=b, eps=lambda t: -1.0, steps=10, key=getkey())
    with pytest.raises(ValueError, match="t0/t1 must lie in"):
        ji.sample(b, x, I, t1=1.5)
    with pytest.raises(ValueError, match="method must be one of"):
        ji.sample(b, x, I, method="langevin")
    with pytest.raises(ValueError, match="exactly one of score= or denoiser="):
        ji.sample(b, x, I, method="sde", steps=10, key=getkey())
    with pytest.raises(ValueError, match="x must have shape"):
        ji.sample(b, jnp.zeros((2, 2, 2)), I)
    with pytest.raises(ValueError, match="x0 and x1"):
        ji.velocity_loss(b, I, jnp.zeros((4, 2)), jnp.zeros((4, 3)), key=getkey())
    with pytest.raises(ValueError, match="t must lie in"):
        ji.score_loss(b, I, x, x, key=getkey(), t=1.2)
    with pytest.raises(ValueError, match="t0/t1 must lie in"):
        ji.log_likelihood(b, x, I, t0=-0.5)
    with pytest.raises(ValueError, match="hutchinson_probes"):
        ji.log_likelihood(b, x, I, hutchinson_probes=0, key=getkey())


def test_sample_reuses_its_compiled_solve_for_new_weights_and_points(getkey):
    # sample is compiled once per field architecture, shapes and options: a field with new weights (and
    # new points of the same shape) is not traced again, and the result is that of the new weights.
    import equinox as eqx

    traces = []

    class Field(eqx.Module):
        w: jax.Array

        def __call__(self, t, x):
            traces.append(1)  # runs only while tracing
            return self.w * x

    x0 = jr.normal(getkey(), (16, 2))
    y1 = ji.sample(Field(jnp.asarray(0.5)), x0, steps=8, solver=diffrax.Euler())
    n = len(traces)
    assert n > 0
    y2 = ji.sample(Field(jnp.asarray(-1.0)), 2 * x0, steps=8, solver=diffrax.Euler())
    assert len(traces) == n
    np.testing.assert_allclose(y1, x0 * (1 + 0.5 / 8) ** 8, rtol=1e-5)  # Euler on x' = w x
    np.testing.assert_allclose(y2, 2 * x0 * (1 - 1.0 / 8) ** 8, rtol=1e-5)
    # the same for log_likelihood: x' = w x maps x0 to x1 = x0 e^w, so log rho_1(x1) = log N(x1 e^-w) - w d
    def exact(w, x1):
        x0 = x1 * np.exp(-w)
        return -0.5 * np.sum(x0**2, axis=-1) - np.log(2 * np.pi) - 2 * w

    l1 = ji.log_likelihood(Field(jnp.asarray(0.5)), x0)
    n = len(traces)
    l2 = ji.log_likelihood(Field(jnp.asarray(-1.0)), 2 * x0)
    assert len(traces) == n
    np.testing.assert_allclose(l1, exact(0.5, np.asarray(x0)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(l2, exact(-1.0, 2 * np.asarray(x0)), rtol=1e-4, atol=1e-4)


def test_non_positive_tolerances_are_refused():
    f = lambda t, x: x  # noqa: E731
    x = jnp.ones((3, 2))
    with pytest.raises(ValueError, match="rtol and atol must be > 0"):
        ji.sample(f, x, rtol=-1.0)
    with pytest.raises(ValueError, match="rtol and atol must be > 0"):
        ji.sample(f, x, method="sde", score=f, atol=0.0, key=jr.PRNGKey(0))
    with pytest.raises(ValueError, match="rtol and atol must be > 0"):
        ji.log_likelihood(f, x, atol=0.0)
