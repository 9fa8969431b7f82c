"""Dense quasi-Newton (`jaxrep.train._bfgs`): quadratic termination, secant condition, Rosenbrock,
optax-chain compatibility, strong types (no retrace) and input checks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrep.train._bfgs import ScaleByBfgsState, bfgs, scale_by_bfgs



pytestmark = pytest.mark.usefixtures("x64_module")  # the whole module in float64


SCALINGS = ("none", "ssbfgs", "ssbroyden")
N = 12


@pytest.fixture(scope="module")
def quadratic():
    """$f(x) = x^\\top Q x / 2 - b^\\top x$ with eigenvalues 1 ... 1e4 (condition number 1e4)."""
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(N, N)))
    q = u @ np.diag(np.logspace(0, 4, N)) @ u.T
    q = 0.5 * (q + q.T)
    b = rng.normal(size=N)
    return q, b, np.linalg.solve(q, b)


# One compiled update per scaling, shared by the tests (a plain function of arrays: no retrace).
_TRANSFORMS = {s: scale_by_bfgs(s) for s in SCALINGS}
_UPDATES = {s: jax.jit(t.update) for s, t in _TRANSFORMS.items()}


def _exact_line_search_run(scaling, q, b, steps, check_secant=False):
    """Quasi-Newton iterations with the exact step along the direction (closed form on a quadratic)."""
    x = jnp.zeros(N)
    state = _TRANSFORMS[scaling].init(x)
    prev = g_prev = None
    checked = 0
    for _ in range(steps):
        g = q @ np.asarray(x) - b
        d, state = _UPDATES[scaling](jnp.asarray(g), state, x)
        # The secant check while the step is well above rounding (near the solution s and y are noise).
        if check_secant and prev is not None and np.linalg.norm(np.asarray(x) - prev) > 1e-6:
            s, y = np.asarray(x) - prev, g - g_prev  # the pair the update saw
            h = np.asarray(state.hess_inv)
            np.testing.assert_allclose(h @ y, s, rtol=0, atol=1e-9 * np.linalg.norm(s))
            np.testing.assert_allclose(h, h.T, rtol=0, atol=1e-12 * np.abs(h).max())
            assert np.linalg.eigvalsh(h).min() > 0  # stays positive definite
            checked += 1
        d = np.asarray(d)
        eta = (g @ d) / (d @ q @ d)
        prev, g_prev = np.asarray(x), g
        x = jnp.asarray(prev - eta * d)
    assert not check_secant or checked >= N // 2
    return np.asarray(x), state


def test_bfgs_quadratic_termination_and_inverse_hessian(quadratic):
    # Plain BFGS with exact line searches ends on a quadratic in n steps with H_n = Q^{-1} (quadratic
    # termination: the steps are Q-conjugate and H_n y_j = s_j for all j); n + 2 allows for rounding.
    q, b, x_star = quadratic
    x, state = _exact_line_search_run("none", q, b, N + 2)
    assert np.linalg.norm(x - x_star) <= 1e-10 * np.linalg.norm(x_star)
    # One more update from the final pair: H against the true inverse Hessian.
    h = np.asarray(state.hess_inv)
    q_inv = np.linalg.inv(q)
    assert np.linalg.norm(h - q_inv) <= 1e-6 * np.linalg.norm(q_inv)


@pytest.mark.parametrize("scaling", SCALINGS)
def test_secant_condition_symmetry_and_convergence(quadratic, scaling):
    # Every update satisfies H_{k+1} y_k = s_k to rounding, for any tau_k, phi_k; the self-scaled
    # variants lose finite termination but still converge to Q^{-1} b.
    q, b, x_star = quadratic
    x, _ = _exact_line_search_run(scaling, q, b, 3 * N, check_secant=True)
    assert np.linalg.norm(x - x_star) <= 1e-8 * np.linalg.norm(x_star)


def test_update_formulas_against_numpy():
    # One update from a given (H, s, y) against the formulas written out in numpy, for each scaling.
    rng = np.random.default_rng(1)
    n = N  # the shape the shared jitted updates were compiled for
    a = rng.normal(size=(n, n))
    h0 = a @ a.T + n * np.eye(n)  # SPD
    x0, g0 = rng.normal(size=n), rng.normal(size=n)
    d0 = h0 @ g0
    s = -0.7 * d0
    x1 = x0 + s
    m = rng.normal(size=(n, n))
    y = (m @ m.T + np.eye(n)) @ s  # y^T s > 0
    g1 = g0 + y
    for scaling in SCALINGS:
        state = ScaleByBfgsState(jnp.asarray(5, jnp.int32), jnp.asarray(x0), jnp.asarray(g0), jnp.asarray(d0),
                                 jnp.asarray(h0))
        d1, new = _UPDATES[scaling](jnp.asarray(g1), state, jnp.asarray(x1))
        ys = y @ s
        hy = h0 @ y
        yhy = y @ hy
        hk = yhy / ys
        bk = s @ np.linalg.solve(h0, s) / ys
        ak = bk * hk - 1
        if scaling == "none":
            tau, phi = 1.0, 1.0
        elif scaling == "ssbfgs":
            tau, phi = min(1.0, 1.0 / bk), 1.0
        else:
            rho_m = min(1.0, hk * (1 - np.sqrt(ak / (1 + ak))))
            theta = max((rho_m - 1) / ak, min(1 / rho_m, (1 - bk) / bk))
            sigma = 1 + ak * theta
            root = abs(sigma) ** (1.0 / (1 - n))
            rho_b = min(1.0, 1.0 / bk)
            tau = rho_b * min(root, 1 / theta) if theta > 0 else min(rho_b * root, sigma)
            phi = (1 - theta) / sigma
        v = s / ys - hy / yhy
        h1 = (h0 - np.outer(hy, hy) / yhy + phi * yhy * np.outer(v, v)) / tau + np.outer(s, s) / ys
        np.testing.assert_allclose(np.asarray(new.hess_inv), h1, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(d1), h1 @ g1, rtol=1e-10, atol=1e-12)
        if scaling == "none":  # the textbook BFGS inverse update (I - rho s y^T) H (I - rho y s^T) + rho s s^T
            e = np.eye(n) - np.outer(s, y) / ys
            np.testing.assert_allclose(h1, e @ h0 @ e.T + np.outer(s, s) / ys, rtol=1e-10, atol=1e-12)


def _rosenbrock(p):
    x = p["x"]
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


# One scaling only: each compiles the zoom line search (seconds); the others share all but tau, phi.
@pytest.mark.parametrize("scaling", ["ssbroyden"])
def test_rosenbrock_with_zoom_linesearch(scaling):
    # The full chain (direction, sign, zoom line search), driven exactly as optax.lbfgs is: the
    # minimum (1, ..., 1) of the 4-D Rosenbrock function from the classic start.
    opt = bfgs(scaling=scaling)
    value_and_grad = optax.value_and_grad_from_state(_rosenbrock)
    params = {"x": jnp.array([-1.2, 1.0, -1.2, 1.0])}
    state = opt.init(params)

    @jax.jit
    def run(params, state):
        def body(carry, _):
            params, state = carry
            value, grad = value_and_grad(params, state=state)
            updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=_rosenbrock)
            return (optax.apply_updates(params, updates), state), value

        return jax.lax.scan(body, (params, state), None, length=120)[0]

    params, _ = run(params, state)
    np.testing.assert_allclose(np.asarray(params["x"]), np.ones(4), rtol=0, atol=1e-8)


def test_strong_types_no_retrace_and_pytree_params():
    # Mixed-shape pytree of float32 parameters: the state is strongly typed in the params' dtype, the
    # update keeps every leaf's type (so a jitted step does not retrace), and directions unflatten.
    params = {"w": jnp.ones((3, 2), jnp.float32), "b": jnp.zeros(2, jnp.float32), "s": jnp.array(0.5, jnp.float32)}
    t = scale_by_bfgs("ssbroyden")
    state = t.init(params)
    leaves = jax.tree_util.tree_leaves(state)
    assert not any(x.weak_type for x in leaves)
    assert state.hess_inv.shape == (9, 9) and state.hess_inv.dtype == jnp.float32

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def step(grads, state, params):
        return t.update(grads, state, params)

    rng = np.random.default_rng(2)
    for _ in range(3):
        grads = jax.tree_util.tree_map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
        updates, new_state = step(grads, state, params)
        assert jax.tree_util.tree_structure(updates) == jax.tree_util.tree_structure(params)
        for u, p in zip(jax.tree_util.tree_leaves(updates), jax.tree_util.tree_leaves(params)):
            assert u.shape == p.shape and u.dtype == p.dtype
        for a, b in zip(jax.tree_util.tree_leaves(new_state), leaves):
            assert a.dtype == b.dtype and a.shape == b.shape and not a.weak_type
        params = jax.tree_util.tree_map(lambda p, u: p - 0.1 * u, params, updates)
        state = new_state


def test_skips_update_without_positive_curvature():
    # y^T s <= 0 (e.g. a failed line search): the matrix is kept, not made indefinite.
    update = _UPDATES["ssbroyden"]
    e = np.eye(N)[0]
    state = _TRANSFORMS["ssbroyden"].init(jnp.zeros(N))
    _, state = update(jnp.asarray(e), state, jnp.zeros(N))
    _, state = update(jnp.asarray(0.75 * e), state, jnp.asarray(-0.5 * e))  # first update: y^T s > 0
    h = state.hess_inv
    assert not np.allclose(np.asarray(h), np.eye(N))
    _, state2 = update(jnp.asarray(3 * e), state, jnp.asarray(-1.0 * e))  # y^T s = -1.125 < 0
    np.testing.assert_array_equal(np.asarray(state2.hess_inv), np.asarray(h))
    _, state3 = update(jnp.asarray(np.full(N, np.nan)), state, jnp.asarray(-1.0 * e))  # NaN gradient
    np.testing.assert_array_equal(np.asarray(state3.hess_inv), np.asarray(h))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scaling": "dfp"}, "scaling"),
        ({"scaling": None}, "scaling"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"linesearch": "zoom"}, "linesearch"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        bfgs(**kwargs)
    assert "\n" not in str(info.value)


def test_integer_params_rejected():
    with pytest.raises(ValueError, match="params"):
        scale_by_bfgs().init(jnp.arange(3))
