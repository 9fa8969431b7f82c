"""Uniform-grid B-spline and Fourier fast paths of the KAN bases against the general paths (float64).

The general paths are `jr.nn.basis.bspline` (Cox–de Boor on the stored knots) and `jr.nn.basis.fourier`
(`jnp.cos`/`jnp.sin` per harmonic); derivatives on both sides come from `jax` autodiff: input
derivatives up to third order per basis function, a KAN's input Hessian (PINN residuals) and, marked
slow, the parameter gradients of a Laplacian loss. Inputs include points outside the grid and exactly
on the knots. scipy's B-spline derivative is an independent reference.
"""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jrandom
import numpy as np
import pytest
import scipy.interpolate

import jaxrep as jr

basis_fns = jr.nn.basis


pytestmark = pytest.mark.usefixtures("x64_module")  # the whole module in float64


@pytest.fixture(scope="module")
def kan(x64_module):
    # Built once: construction compiles the initialisation's quadrature, and equal in_features share it.
    return jr.nn.KAN([2, 2, 1], grid_size=5, order=3, grid_range=(-1.0, 1.0), key=jrandom.PRNGKey(13))


def _derivatives(fn, orders: int = 3):
    """Values and input derivatives up to `orders` of an elementwise basis `(n,) -> (n, K)` (each output
    depends on its own input only, so a JVP along all-ones gives the diagonal), batched over samples."""
    def one(x):
        ones = jnp.ones_like(x)
        ds = [fn]
        for _ in range(orders):
            ds.append(lambda x, f=ds[-1]: jax.jvp(f, (x,), (ones,))[1])
        return jnp.stack([d(x) for d in ds])

    return jax.jit(jax.vmap(one))


def _general(b: jr.nn.BSplineBasis) -> jr.nn.BSplineBasis:
    return jr.nn.BSplineBasis(b.in_features, b.grid_size, b.order, grid=b.grid, uniform=False)


@pytest.mark.parametrize("grid_size,order", [(4, 0), (6, 1), (5, 2), (11, 3), (3, 5)])
def test_bspline_fast_path_values_and_derivatives(getkey, grid_size, order):
    fast = jr.nn.BSplineBasis(2, grid_size, order, grid_range=(-1.3, 0.7))
    assert fast.uniform
    general = _general(fast)
    t = np.asarray(fast.grid)
    # Random points well outside the extended grid on both sides, then every knot exactly.
    off = np.asarray(jrandom.uniform(getkey(), (200, 2), minval=t[:, 0] - 1.5, maxval=t[:, -1] + 1.5))
    x = jnp.asarray(np.concatenate([off, t.T]))  # sample 200 + s puts both inputs on knot s
    # Orders 0-2 for PINN residuals; order 3 enters parameter gradients of a second-derivative loss
    # through a hidden layer (d/dc of B''(h(x; c)) h'(x)^2). Past order k + 1 both are identically zero.
    orders = min(3, order + 1)
    got, want = (np.asarray(_derivatives(b, orders)(x)) for b in (fast, general))
    h = t[0, 1] - t[0, 0]
    for d in range(orders + 1):
        tol = 1e-11 / h**d
        np.testing.assert_allclose(got[:200, d], want[:200, d], atol=tol, err_msg=f"d{d} off the knots")
        # On a knot a degree-k spline has continuous derivatives of order < k only; for higher
        # orders the two paths may take the two sides of the knot.
        if d < order:
            np.testing.assert_allclose(got[200:, d], want[200:, d], atol=tol, err_msg=f"d{d} on the knots")
    # Outside the extended grid every basis function and derivative is zero.
    outside = (off < t[:, 0]) | (off > t[:, -1])
    mask = np.broadcast_to(outside[:, None, :, None], got[:200].shape)
    assert outside.any() and np.all(got[:200][mask] == 0)


def test_bspline_fast_second_derivative_matches_scipy(getkey):
    # An independent reference: scipy's B-spline derivative of a random spline on the fast path's knots.
    fast = jr.nn.BSplineBasis(1, 7, 3, grid_range=(-2.0, 1.0))
    t = np.asarray(fast.grid[0])
    c = np.asarray(jrandom.normal(getkey(), (fast.num_basis,)))
    spline = scipy.interpolate.BSpline(t, c, 3, extrapolate=False)
    xs = np.linspace(-2.0, 1.0, 301)  # includes the interior knots exactly
    f = lambda x: fast(x[None])[0] @ jnp.asarray(c)
    d2 = jax.jit(jax.vmap(jax.grad(jax.grad(f))))(jnp.asarray(xs))
    np.testing.assert_allclose(d2, spline.derivative(2)(xs), atol=1e-9)


def _pinn_inputs(kan, key):
    t = np.asarray(kan.layers[0].basis.grid)
    return jnp.asarray(np.concatenate([
        np.asarray(jrandom.uniform(key, (24, 2), minval=-2.5, maxval=2.5)),  # inside and outside
        np.stack([t[0, 2:9], t[1, 3:10]], axis=1),  # inputs exactly on knots
    ]))


def _general_kan(kan):
    # hidden values leave [-1, 1] too: the second layer sees inputs outside its grid
    kan = eqx.tree_at(lambda m: m.layers[1].coeffs, kan, 3 * kan.layers[1].coeffs)
    return kan, eqx.tree_at(lambda m: [l.basis for l in m.layers], kan, [_general(l.basis) for l in kan.layers])


def test_kan_fast_path_hessian(getkey, kan):
    # A KAN on uniform grids against the same KAN forced onto the general path: outputs and the input
    # Hessian (the d2/dx2 of PINN residuals).
    assert all(layer.basis.uniform for layer in kan.layers)
    kan, general = _general_kan(kan)
    x = _pinn_inputs(kan, getkey())
    hessian = eqx.filter_jit(lambda m, x: jax.vmap(lambda z: (m(z), jax.hessian(lambda z: m(z)[0])(z)))(x))
    (y_f, h_f), (y_g, h_g) = hessian(kan, x), hessian(general, x)
    np.testing.assert_allclose(y_f, y_g, atol=1e-12)
    np.testing.assert_allclose(h_f, h_g, atol=1e-9)
    assert float(jnp.abs(h_f).max()) > 0.1


@pytest.mark.slow
def test_kan_fast_path_pinn_loss_gradients(getkey, kan):
    # Parameter gradients of a Laplacian loss (third derivatives of the hidden layer's basis); the fast
    # test above and the order-3 basis check cover the same code path.
    kan, general = _general_kan(kan)
    x = _pinn_inputs(kan, getkey())

    @eqx.filter_jit
    def grads(model):
        hessian = lambda m: jax.vmap(jax.hessian(lambda z: m(z)[0]))(x)
        return eqx.filter_grad(lambda m: jnp.mean(jnp.trace(hessian(m), axis1=1, axis2=2) ** 2))(model)

    g_f, g_g = grads(kan), grads(general)
    for a, b in zip(jax.tree_util.tree_leaves(g_f), jax.tree_util.tree_leaves(g_g)):
        np.testing.assert_allclose(a, b, atol=1e-9)
    assert float(jnp.abs(g_f.layers[0].coeffs).sum()) > 0


@pytest.mark.parametrize("num_frequencies", [1, 5, 12])
def test_fourier_fast_path_values_and_derivatives(getkey, num_frequencies):
    fast = jr.nn.FourierBasis(3, num_frequencies, grid_range=(-1.0, 2.0))
    general = lambda x: basis_fns.fourier(x, num_frequencies, fast.base_frequency)
    x = jrandom.uniform(getkey(), (100, 3), minval=-6.0, maxval=6.0)
    got, want = _derivatives(fast)(x), _derivatives(general)(x)
    w = num_frequencies * fast.base_frequency
    for d in range(3):
        np.testing.assert_allclose(got[:, d], want[:, d], atol=1e-13 * num_frequencies * w**d, err_msg=f"d{d}")


def test_fourier_sincos_accuracy_and_limits():
    # The vectorised sine/cosine behind the Fourier basis against numpy (exact for float inputs) over a
    # wide argument range, in both precisions; arguments past the last one with a defined phase are NaN.
    fast = jr.nn.FourierBasis(1, 1, base_frequency=1.0)
    f = jax.jit(jax.vmap(fast))
    for dtype, atol in [(jnp.float64, 4e-16), (jnp.float32, 2e-7)]:
        x = jnp.concatenate([jnp.linspace(-10.0, 10.0, 20001), jnp.linspace(-1e5, 1e5, 20001)]).astype(dtype)
        got = np.asarray(f(x[:, None])[:, 0], np.float64)
        exact = np.asarray(x, np.float64)
        np.testing.assert_allclose(got[:, 0], np.cos(exact), atol=atol)
        np.testing.assert_allclose(got[:, 1], np.sin(exact), atol=atol)
    edges = jnp.asarray([2.0**24, -(2.0**25), jnp.inf, jnp.nan, 0.0], jnp.float32)
    out = np.asarray(f(edges[:, None])[:, 0])
    assert np.all(np.isnan(out[:4])) and np.array_equal(out[4], [1.0, 0.0])


@eqx.filter_jit
def _batched(model, x):
    return jax.vmap(model)(x)


def test_uniform_flag_is_static_and_follows_the_grid(getkey, kan):
    layer = kan.layers[0]
    assert layer.basis.uniform  # default grid
    x = jrandom.uniform(getkey(), (64, 2), minval=-0.9, maxval=0.9)
    # refine_grid with data inside the range keeps a uniform grid (tests/test_kan_layer.py checks that
    # the refit preserves the function, now on this fast path); without data it is uniform by construction
    assert layer.basis.refine(10, x).uniform and layer.basis.refine(12).uniform
    # data beyond the range: whole cells of the new width are added, so the grid stays uniform
    wider = layer.basis.refine(10, 1.5 * x / 0.9)
    assert wider.uniform and wider.grid_size > 10
    # update_grid's percentile knots are non-uniform (general path); grid_eps=1 is uniform again
    assert not layer.basis.adapt(x, 0.02).uniform
    assert layer.basis.adapt(x, 1.0).uniform
    assert layer.basis.select_inputs([1]).uniform
    # explicit grids are inspected; a wrong claim is refused
    nonuniform = layer.basis.grid.at[:, 5].add(0.05)
    assert not jr.nn.BSplineBasis(2, 5, 3, grid=nonuniform).uniform
    with pytest.raises(ValueError, match="uniform"):
        jr.nn.BSplineBasis(2, 5, 3, grid=nonuniform, uniform=True)
    # built inside jit (traced knots): the general path; the flag is part of the static structure
    traced = eqx.filter_jit(lambda g: jr.nn.BSplineBasis(2, 5, 3, grid=g))(layer.basis.grid)
    assert not traced.uniform
    assert jax.tree_util.tree_structure(traced) != jax.tree_util.tree_structure(layer.basis)
    np.testing.assert_allclose(_batched(traced, x), _batched(layer.basis, x), atol=1e-12)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def f(m, x):
        return jax.vmap(m)(x)

    f(layer, x)
    f(eqx.tree_at(lambda l: l.basis.grid, layer, 2 * layer.basis.grid), x)  # new uniform knots: no retrace


def test_tampered_grid_raises_instead_of_using_wrong_knots(kan):
    layer = kan.layers[0]
    bad = eqx.tree_at(lambda l: l.basis.grid, layer, layer.basis.grid.at[:, 5].add(0.05))
    with pytest.raises(Exception, match="not equally spaced"):
        _batched(bad, jnp.zeros((4, 2)))


def test_fast_path_forms_no_one_hot_or_per_edge_buffer(getkey, kan):
    # Sizes chosen so that every shape of interest is distinct: batch 16, in 2, out 7, G 5, k 3. The
    # lowered program (before XLA's fusion) is scanned, so no such intermediate exists at all.
    n_in, n_out, grid_size, order, batch = 2, 7, 5, 3, 16
    layer = jr.nn.KANLayer(n_in, n_out, kan.layers[0].basis, key=getkey())
    x = jrandom.uniform(getkey(), (batch, n_in), minval=-1, maxval=1)

    def shapes(layer):
        p, s = eqx.partition(layer, eqx.is_inexact_array)
        loss = lambda p, x: jnp.sum(jax.vmap(eqx.combine(p, s))(x) ** 2)
        text = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(p, x).as_text()
        return set(re.findall(r"tensor<(\d+x\d+x\d+)x", text))

    one_hot = f"{batch}x{n_in}x{grid_size + 2 * order}"  # order-0 indicators of the Cox–de Boor ladder
    per_edge = {f"{batch}x{n_in}x{n_out}", f"{batch}x{n_out}x{n_in}"}
    fast = shapes(layer)
    assert f"{batch}x{n_in}x{grid_size + order}" in fast  # the design matrix itself
    assert one_hot not in fast and not (per_edge & fast), sorted(fast)
    # the check can fail: the general path does form the indicators
    assert one_hot in shapes(eqx.tree_at(lambda l: l.basis, layer, _general(layer.basis)))
