"""Pure basis functions of `jaxrep.nn.basis` against closed forms and scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.interpolate
import scipy.special

import jaxrep as jr

basis = jr.nn.basis
# The tests call the basis functions jitted: eager dispatch of the recursions is slow on a busy CPU.
bspline = jax.jit(basis.bspline, static_argnums=2)


def _nonuniform_grid(order):
    interior = np.array([-1.0, -0.7, -0.1, 0.05, 0.5, 1.0])
    h = 0.3
    left = interior[0] - h * np.arange(order, 0, -1)
    right = interior[-1] + h * np.arange(1, order + 1)
    return np.concatenate([left, interior, right])


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_bspline_matches_scipy(x64, order):
    t = _nonuniform_grid(order)
    xs = np.linspace(t[0] - 0.2, t[-1] + 0.2, 301)
    ours = np.asarray(bspline(xs[:, None], t, order))[:, 0, :]
    n_basis = len(t) - order - 1
    assert ours.shape == (301, n_basis)
    for k in range(n_basis):
        ref = scipy.interpolate.BSpline.basis_element(t[k : k + order + 2], extrapolate=False)(xs)
        ref = np.nan_to_num(ref)
        # scipy's basis_element closes the last interval on the right; ignore that single knot point.
        mask = ~np.isclose(xs, t[k + order + 1])
        np.testing.assert_allclose(ours[mask, k], ref[mask], atol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_bspline_partition_of_unity_per_input_grids(x64, dtype):
    order = 3
    grids = basis.bspline_knots(jnp.asarray([-1.0, -2.0]), jnp.asarray([1.0, 3.0]), 7, order)
    x = jnp.stack([jnp.linspace(-1, 1, 200), jnp.linspace(-2, 3, 200)], axis=-1).astype(dtype)
    out = bspline(x, jnp.asarray(grids, dtype), order)
    assert out.dtype == dtype and out.shape == (200, 2, 10)
    tol = 1e-6 if dtype == jnp.float32 else 1e-13
    np.testing.assert_allclose(np.asarray(out.sum(-1)), 1.0, atol=tol)
    assert np.all(np.asarray(out) >= -tol)
    # non-uniform knots too
    t = _nonuniform_grid(order)
    xs = jnp.linspace(-1, 1, 101, dtype=dtype)[:, None]
    np.testing.assert_allclose(np.asarray(bspline(xs, jnp.asarray(t, dtype), order).sum(-1)), 1.0, atol=tol)


def test_bspline_reproduces_cubic(x64):
    t = _nonuniform_grid(3)
    p = np.polynomial.Polynomial([0.3, -1.2, 0.7, 2.1])
    fit_x = np.linspace(-1, 1, 40)
    design = np.asarray(bspline(fit_x[:, None], t, 3))[:, 0, :]
    coef = np.linalg.lstsq(design, p(fit_x), rcond=None)[0]
    test_x = np.random.default_rng(0).uniform(-1, 1, 500)
    approx = np.asarray(bspline(test_x[:, None], t, 3))[:, 0, :] @ coef
    np.testing.assert_allclose(approx, p(test_x), atol=1e-11)


def test_bspline_derivatives_match_finite_differences(x64):
    t = jnp.asarray(_nonuniform_grid(3))
    c = jnp.asarray(np.random.default_rng(1).normal(size=len(t) - 4))
    f = jax.jit(lambda x: basis.bspline(jnp.reshape(x, (1,)), t, 3)[0] @ c)
    df, d2f = jax.jit(jax.grad(f)), jax.jit(jax.grad(jax.grad(f)))
    h = 1e-4
    for x in [-0.85, -0.3, 0.2, 0.77]:  # away from knots
        d1 = df(x)
        d2 = d2f(x)
        fd1 = (f(x + h) - f(x - h)) / (2 * h)
        fd2 = (f(x + h) - 2 * f(x) + f(x - h)) / h**2
        assert abs(d1 - fd1) < 1e-7 * (1 + abs(fd1))
        assert abs(d2 - fd2) < 1e-5 * (1 + abs(fd2))
    # C2 across an interior knot of a cubic spline: second derivative continuous
    knot = float(t[6])
    assert abs(d2f(knot - 1e-9) - d2f(knot + 1e-9)) < 1e-6


def test_bspline_fit_converges_at_fourth_order(x64):
    f = lambda x: np.sin(3 * x) + np.exp(x)
    xs = np.linspace(-1, 1, 2001)
    errs, sizes = [], [4, 8, 16, 32]
    for g in sizes:
        t = np.asarray(basis.bspline_knots(-1.0, 1.0, g, 3))
        design = np.asarray(bspline(xs[:, None], t, 3))[:, 0, :]
        coef = np.linalg.lstsq(design, f(xs), rcond=None)[0]
        errs.append(np.max(np.abs(design @ coef - f(xs))))
    slope = np.polyfit(np.log(sizes), np.log(errs), 1)[0]
    assert -4.6 < slope < -3.5, (slope, errs)


def test_chebyshev_closed_form(x64):
    theta = jnp.linspace(0, jnp.pi, 50)
    out = basis.chebyshev(jnp.cos(theta)[:, None], 8)[:, 0, :]
    expected = jnp.cos(jnp.arange(9)[None, :] * theta[:, None])
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), atol=1e-12)
    # derivatives are finite at the end points (recurrence, not arccos)
    g = jax.grad(lambda x: basis.chebyshev(x[None], 5)[0, 5])(1.0)
    assert np.isclose(g, 25.0)  # T_n'(1) = n^2


def test_legendre_orthogonality_and_scipy(x64):
    nodes, weights = np.polynomial.legendre.leggauss(20)
    P = np.asarray(basis.legendre(nodes[:, None], 7))[:, 0, :]
    gram = P.T @ (weights[:, None] * P)
    np.testing.assert_allclose(gram, np.diag(2.0 / (2 * np.arange(8) + 1)), atol=1e-13)
    xs = np.linspace(-1.5, 1.5, 31)
    ours = np.asarray(basis.legendre(xs[:, None], 6))[:, 0, :]
    ref = np.stack([scipy.special.eval_legendre(n, xs) for n in range(7)], axis=-1)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_fourier_rbf_rational_closed_forms(x64):
    x = jnp.asarray([[0.3, -1.2]])
    f = basis.fourier(x, 3, base_frequency=2.0)
    assert f.shape == (1, 2, 6)
    np.testing.assert_allclose(f[0, 1], [np.cos(-2.4), np.cos(-4.8), np.cos(-7.2),
                                         np.sin(-2.4), np.sin(-4.8), np.sin(-7.2)], atol=1e-14)
    centers = jnp.asarray([-1.0, 0.0, 1.0])
    r = basis.rbf(x, centers, 0.5)
    np.testing.assert_allclose(r[0, 0], np.exp(-(((0.3 - np.array([-1, 0, 1])) / 0.5) ** 2)), atol=1e-14)
    b = jnp.asarray([0.5, -2.0])
    q = basis.rational(x, b, 3)
    for i, xi in enumerate([0.3, -1.2]):
        den = 1 + abs(0.5 * xi - 2.0 * xi**2)
        np.testing.assert_allclose(q[0, i], [xi**j / den for j in range(4)], atol=1e-14)
    # safe denominator: no poles even where 1 + sum b_k x^k would vanish
    xs = jnp.linspace(-5, 5, 1001)[:, None]
    assert np.all(np.isfinite(np.asarray(basis.rational(xs, jnp.asarray([-1.0, 0.0]), 4))))
    g = jax.grad(lambda x: basis.rational(x[None], b, 3)[0].sum())(0.0)
    assert np.isfinite(g)


ALL = [
    ("bspline", lambda x: bspline(x, basis.bspline_knots(-1.0, 1.0, 5, 3), 3), 8),
    ("fourier", lambda x: basis.fourier(x, 4), 8),
    ("chebyshev", lambda x: basis.chebyshev(jnp.tanh(x), 5), 6),
    ("legendre", lambda x: basis.legendre(jnp.tanh(x), 5), 6),
    ("rbf", lambda x: basis.rbf(x, jnp.linspace(-1, 1, 7), 0.3), 7),
    ("rational", lambda x: basis.rational(x, jnp.asarray([0.1, 0.2, 0.3]), 4), 5),
    # per-feature denominators: this case once hit an XLA:CPU miscompilation under jit
    ("rational_per_feature", lambda x: basis.rational(3 * x, jnp.asarray([[0.0, 0.1065, 0.0, 5e-4]] * 3), 5), 6),
]


@pytest.mark.parametrize("name,fn,n_basis", ALL, ids=[a[0] for a in ALL])
def test_basis_transforms_and_dtypes(name, fn, n_basis):
    x = jnp.linspace(-0.9, 0.9, 12).reshape(4, 3)
    out = fn(x)
    assert out.shape == (4, 3, n_basis) and out.dtype == jnp.float32
    np.testing.assert_allclose(jax.jit(fn)(x), out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(fn)(x), out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.vmap(fn))(x), out, rtol=1e-6, atol=1e-6)
    g = jax.grad(lambda x: jnp.sum(fn(x) ** 2))(x)
    assert g.shape == x.shape and np.all(np.isfinite(np.asarray(g)))


def test_basis_float64(x64):
    x = jnp.linspace(-0.9, 0.9, 6, dtype=jnp.float64).reshape(2, 3)
    for _, fn, _ in ALL:
        assert fn(x).dtype == jnp.float64


def test_bad_input():
    x = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match="order"):
        bspline(x, jnp.linspace(-1, 1, 9), -1)
    with pytest.raises(ValueError, match="grid"):
        bspline(x, jnp.linspace(-1, 1, 4), 3)
    with pytest.raises(ValueError, match="grid"):
        bspline(x, jnp.zeros((3, 9)), 3)
    with pytest.raises(ValueError, match="grid_size"):
        basis.bspline_knots(-1.0, 1.0, 0, 3)
    with pytest.raises(ValueError, match="num_frequencies"):
        basis.fourier(x, 0)
    with pytest.raises(ValueError, match="degree"):
        basis.chebyshev(x, -1)
    with pytest.raises(ValueError, match="centers"):
        basis.rbf(x, jnp.zeros((3, 4)), 1.0)
    with pytest.raises(ValueError, match="denominator"):
        basis.rational(x, jnp.zeros((5, 2)), 3)


@pytest.mark.parametrize("name", jr.nn.basis_names())
def test_every_basis_module_checks_its_sizes_first(name):
    # The shared size checks (AbstractBasis._set_sizes) run before any array is built, with one
    # message per field, for every basis; valid numpy integers are stored as Python ints.
    from jaxrep.nn._kan_basis import BASES

    cls = BASES[name]
    bad = [({"in_features": 0}, "in_features"), ({"in_features": 2.5}, "in_features"),
           ({"in_features": 2, "grid_size": 0}, "grid_size"),
           ({"in_features": 2, "grid_size": True}, "grid_size"),
           ({"in_features": 2, "order": -1}, "order"), ({"in_features": 2, "order": "3"}, "order")]
    for kwargs, field in bad:
        with pytest.raises(ValueError, match=rf"^{field} must be an integer >= \d, got"):
            cls(**kwargs)
    b = cls(np.int64(2), grid_size=np.int32(4), order=np.int64(2))
    assert (b.in_features, b.grid_size, b.order) == (2, 4, 2)
    assert all(type(v) is int for v in (b.in_features, b.grid_size, b.order))
