"""Multimarginal interpolants with Gaussian marginals: closed-form g_k, transport, path cost reduction.

With independent $x_k\\sim N(m_k, s_k^2I)$: $x(\\alpha)\\sim N(\\mu,VI)$, $\\mu=\\sum\\alpha_km_k$,
$V=\\sum\\alpha_k^2s_k^2$, and $g_k(\\alpha,x)=m_k+\\alpha_ks_k^2(x-\\mu)/V$.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree
from scipy.integrate import quad

import jaxrep as jrp
import jaxrep.interpolants as ji


MEANS = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]])
STDS = np.array([1.0, 0.5, 0.3])


def exact_g(means, stds):
    m = jnp.asarray(means)
    s2 = jnp.asarray(stds) ** 2

    def g(alpha, x):
        mu = alpha @ m
        V = jnp.sum(alpha**2 * s2)
        return m + (alpha * s2 / V)[:, None] * (x - mu)[None, :]

    return g


def draw(key, n, means=MEANS, stds=STDS, dtype=jnp.float64):
    z = jr.normal(key, (n, len(stds), 2), dtype=dtype)
    return jnp.asarray(means, dtype) + jnp.asarray(stds, dtype)[:, None] * z


def test_affine_minimiser_matches_closed_form(x64, getkey):
    """At fixed alpha the square loss is quadratic in an affine g: its exact minimiser is the closed form."""
    xs = draw(getkey(), 40_000)
    g_true = exact_g(MEANS, STDS)
    for alpha in (jnp.array([0.2, 0.5, 0.3]), jnp.array([0.6, 0.1, 0.3])):
        theta0 = (jnp.zeros((3, 2, 2)), jnp.zeros((3, 2)))
        flat0, unravel = ravel_pytree(theta0)

        def objective(flat):
            W, c = unravel(flat)
            g = lambda a, x: jnp.einsum("kij,j->ki", W, x) + c
            return ji.multimarginal_loss(g, xs, key=getkey(), alpha=alpha)

        grad = jax.grad(objective)(flat0)
        H = jax.hessian(objective)(flat0)
        W, c = unravel(flat0 - jnp.linalg.solve(H, grad))
        x = jnp.array([0.3, -0.7])
        np.testing.assert_allclose(jnp.einsum("kij,j->ki", W, x) + c, g_true(alpha, x), atol=0.03)


def test_learned_fields_match_closed_form(getkey):
    """A Multimarginal MLP trained through jaxrep.train.fit recovers the closed-form g_k."""
    net = jrp.nn.MLP(2 + 3, 3 * 2, width_size=48, depth=2, activation=jax.nn.silu, key=getkey())
    model = ji.Multimarginal(net, num_marginals=3, dim=2)

    def loss_fn(model, xs, key):
        return ji.multimarginal_loss(model, xs, key=key), {}

    data = lambda key, step: draw(key, 256, dtype=jnp.float32)
    model, hist = jrp.train.fit(model, loss_fn, data, optax.adam(3e-3), steps=1500, key=getkey(),
                                progress=False, steps_per_call=250)
    g_true = exact_g(MEANS, STDS)
    # compare where the data live: alpha in the interior, x ~ x(alpha)
    alphas = jr.dirichlet(getkey(), 4.0 * jnp.ones(3), (200,))
    xs = draw(getkey(), 200, dtype=jnp.float32)
    pts = jax.vmap(ji.interpolate_simplex)(alphas, xs)
    err = jax.vmap(lambda a, x: model(a, x) - g_true(a, x))(alphas, pts)
    rmse = float(jnp.sqrt(jnp.mean(err**2)))
    assert rmse < 0.15, rmse
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]


def test_transport_along_edges_and_curved_paths(x64, getkey):
    """With exact g, transport along any path from vertex i reaches the law of vertex j."""
    g = exact_g(MEANS, STDS)
    xs = draw(getkey(), 500)
    edge = ji.SimplexEdge(0, 1, 3)
    x1 = ji.transport(g, xs[:, 0], edge)
    np.testing.assert_allclose(x1.mean(0), MEANS[1], atol=0.1)
    np.testing.assert_allclose(x1.std(0), STDS[1], atol=0.05)
    curved = ji.BezierSimplexPath(jnp.array([0.0, 0.0, 2.0]), 1, 2)
    np.testing.assert_allclose(curved(0.0), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(curved(1.0), [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(jnp.sum(curved(0.37)), 1.0, atol=1e-12)
    x2 = ji.transport(g, xs[:, 1], curved, steps=40)
    np.testing.assert_allclose(x2.mean(0), MEANS[2], atol=0.06)
    np.testing.assert_allclose(x2.std(0), STDS[2], atol=0.04)
    # backwards along the same path returns the starting points (the map is invertible)
    back = ji.transport(g, x2, curved, t0=1.0, t1=0.0, steps=40)
    np.testing.assert_allclose(back, xs[:, 1], atol=1e-3)


def _edge_cost_closed_form(means, stds, i, j, d=2):
    s2 = np.asarray(stds) ** 2

    def integrand(t):
        a = np.zeros(len(stds))
        a[i], a[j] = 1 - t, t
        da = np.zeros(len(stds))
        da[i], da[j] = -1.0, 1.0
        V = np.sum(a**2 * s2)
        k = np.sum(da * a * s2) / V
        return np.sum((da @ means) ** 2) + d * k**2 * V

    return quad(integrand, 0, 1)[0]


def test_transport_cost_and_path_optimisation(x64, getkey):
    """transport_cost matches the closed form on an edge; optimising a Bézier path through the
    Gaussian vertex lowers the cost between two narrow marginals (the two-marginal reduction)."""
    g = exact_g(MEANS, STDS)
    xs = draw(getkey(), 20_000)
    est = ji.transport_cost(g, xs, ji.SimplexEdge(1, 2, 3))
    exact = _edge_cost_closed_form(MEANS, STDS, 1, 2)
    np.testing.assert_allclose(est, exact, rtol=0.03)

    means = np.zeros((3, 2))
    stds = np.array([1.0, 0.1, 0.1])
    g = exact_g(means, stds)
    xs = draw(getkey(), 2000, means, stds)
    edge_cost = float(ji.transport_cost(g, xs, ji.SimplexEdge(1, 2, 3)))
    np.testing.assert_allclose(edge_cost, _edge_cost_closed_form(means, stds, 1, 2), rtol=0.05)
    path = ji.BezierSimplexPath(jnp.zeros(3), 1, 2)  # control point at the centroid: costlier than the edge
    assert float(ji.transport_cost(g, xs, path)) > edge_cost

    def loss_fn(path, batch, key):
        return ji.transport_cost(g, batch, path, num_times=16), {}

    path, hist = jrp.train.fit(path, loss_fn, lambda key, step: xs, optax.adam(0.1), steps=150,
                               key=getkey(), progress=False, steps_per_call=50)
    opt_cost = float(ji.transport_cost(g, xs, path))
    assert opt_cost < 0.6 * edge_cost, (opt_cost, edge_cost)
    assert float(path.control_point()[0]) > 0.05  # it bends towards the Gaussian vertex


def test_bad_input(getkey):
    net = jrp.nn.MLP(5, 6, 8, 1, key=getkey())
    model = ji.Multimarginal(net, num_marginals=3, dim=2)
    with pytest.raises(ValueError, match="alpha of shape"):
        model(jnp.ones(2) / 2, jnp.zeros(2))
    with pytest.raises(ValueError, match="for batches use jax.vmap"):
        model(jnp.ones(3) / 3, jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="simplex"):
        ji.multimarginal_loss(model, jnp.zeros((4, 3, 2)), key=getkey(), alpha=jnp.array([0.5, 0.6, 0.1]))
    with pytest.raises(ValueError, match="xs must have shape"):
        ji.multimarginal_loss(model, jnp.zeros((3, 2)), key=getkey())
    with pytest.raises(ValueError, match="distinct vertices"):
        ji.SimplexEdge(1, 1, 3)
    with pytest.raises(ValueError, match="num_marginals >= 2"):
        ji.Multimarginal(net, num_marginals=1, dim=2)
