"""KANLayer / KAN: formula, transforms, initialisation, grid update/extension, regularisation, pruning."""

import os
import subprocess
import sys
import textwrap
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jrandom
import numpy as np
import pytest
import scipy.interpolate

import jaxrep as jr

BASES = ["bspline", "rbf", "fourier", "chebyshev", "legendre", "rational"]


@eqx.filter_jit
def batched(model, x):
    return jax.vmap(model)(x)


def _silu(x):
    return x / (1 + np.exp(-x))


def test_bspline_layer_matches_independent_formula(getkey):
    layer = jr.nn.KANLayer(3, 2, "bspline", grid_size=4, order=3, key=getkey())
    layer = eqx.tree_at(lambda l: l.bias, layer, jnp.asarray([0.3, -0.1]))
    x = np.asarray(jrandom.uniform(getkey(), (20, 3), minval=-1.2, maxval=1.2))
    t = np.asarray(layer.basis.grid)
    c, w, b = (np.asarray(a, dtype=float) for a in (layer.coeffs, layer.base_weight, layer.bias))
    expected = np.tile(b, (20, 1))
    for i in range(3):
        for j in range(2):
            # sum of scipy basis elements (BSpline(t, c) itself is only defined on [t_k, t_{n}])
            spline = sum(
                c[i, k, j] * np.nan_to_num(
                    scipy.interpolate.BSpline.basis_element(t[i, k : k + 5], extrapolate=False)(x[:, i]))
                for k in range(t.shape[1] - 4)
            )
            expected[:, j] += spline + w[i, j] * _silu(x[:, i])
    np.testing.assert_allclose(np.asarray(batched(layer, jnp.asarray(x))), expected, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("basis", BASES)
def test_layer_shapes_transforms_and_edge_decomposition(getkey, basis):
    layer = jr.nn.KANLayer(4, 3, basis, grid_size=5, order=3, key=getkey())
    x = jrandom.normal(getkey(), (8, 4))
    y = batched(layer, x)
    assert y.shape == (8, 3) and y.dtype == jnp.float32
    # forward (one contraction) equals bias + sum of the per-edge activations
    edges = jax.jit(jax.vmap(layer.edge_values))(x)
    np.testing.assert_allclose(y, layer.bias + edges.sum(axis=1), rtol=1e-5, atol=1e-5)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def loss(m, x):
        return jnp.mean(jax.vmap(m)(x) ** 2)

    grads = eqx.filter_grad(loss)(layer, x)
    loss(layer, x + 1.0)  # second call: no retrace
    assert np.all(np.isfinite(np.asarray(grads.coeffs))) and float(jnp.abs(grads.coeffs).sum()) > 0
    if basis in ("bspline", "rbf"):
        # grids are data, not parameters
        leaf = grads.basis.grid if basis == "bspline" else grads.basis.centers
        assert float(jnp.abs(leaf).sum()) == 0.0


@pytest.mark.parametrize("basis", ["bspline", "chebyshev", "rational"])
def test_init_is_variance_preserving_through_depth(getkey, basis):
    kan = jr.nn.KAN([16, 16, 16, 16, 16], basis, key=getkey())
    x = jrandom.normal(getkey(), (512, 16))
    y = batched(kan, x)
    second_moment = float(jnp.mean(y**2))
    assert 0.1 < second_moment < 5.0, second_moment


def test_kan_float64(x64, getkey):
    kan = jr.nn.KAN([2, 3, 1], key=getkey())
    assert kan.layers[0].coeffs.dtype == jnp.float64
    assert batched(kan, jnp.zeros((2, 2))).dtype == jnp.float64


def test_bad_input(getkey):
    kan = jr.nn.KAN([2, 5, 1], key=getkey())
    with pytest.raises(ValueError, match=r"x .*shape \(2,\)"):
        kan(jnp.zeros(3))
    with pytest.raises(ValueError, match="jax.vmap"):
        kan(jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="grid_size"):
        jr.nn.KANLayer(2, 2, grid_size=0, key=getkey())
    with pytest.raises(ValueError, match="order"):
        jr.nn.KAN([2, 1], order=-1, key=getkey())
    with pytest.raises(ValueError, match="basis"):
        jr.nn.KAN([2, 1], basis="wavelet", key=getkey())
    with pytest.raises(ValueError, match="widths"):
        jr.nn.KAN([2], key=getkey())
    with pytest.raises(ValueError, match="x must be a batch"):
        jr.nn.update_grid(kan, jnp.zeros(2))


def _cubic_edges(layer, key):
    """The layer with every spline edge set to a random cubic polynomial (exact in any cubic spline space)."""
    xs = jnp.linspace(-1, 1, 64, dtype=layer.coeffs.dtype)[:, None] * jnp.ones(layer.in_features)
    poly = jrandom.normal(key, (4, layer.in_features, layer.out_features), dtype=xs.dtype)
    targets = sum(poly[p] * xs[:, :, None] ** p for p in range(4))  # (N, in, out)
    design = jax.vmap(layer.basis)(xs)
    coeffs = jax.vmap(lambda a, t: jnp.linalg.lstsq(a, t)[0], in_axes=(1, 1))(design, targets)
    return eqx.tree_at(lambda l: l.coeffs, layer, coeffs), poly


def test_update_grid_preserves_polynomial_edges_exactly(x64, getkey):
    layer, poly = _cubic_edges(jr.nn.KANLayer(2, 3, key=getkey()), getkey())
    # clustered data: the adapted grid is strongly non-uniform
    u = jrandom.uniform(getkey(), (300, 2), minval=-1, maxval=1, dtype=jnp.float64)
    x = 0.9 * jnp.sign(u) * u**2
    new = jr.nn.update_grid(layer, x, grid_eps=0.0)
    interior = np.asarray(new.basis.interior)
    assert not np.allclose(np.diff(interior, axis=1), np.diff(interior, axis=1)[:, :1])  # moved, non-uniform
    np.testing.assert_allclose(interior[:, 0], np.asarray(x.min(0)))
    np.testing.assert_allclose(interior[:, -1], np.asarray(x.max(0)))
    np.testing.assert_allclose(batched(new, x), batched(layer, x), atol=1e-10)


@pytest.mark.parametrize("basis", BASES)
def test_refine_grid_preserves_function(x64, getkey, basis):
    # A wide grid range keeps hidden activations inside the spline grids, where knot insertion is exact.
    kan = jr.nn.KAN([2, 4, 1], basis, grid_size=4, grid_range=(-6.0, 6.0), key=getkey())
    x = jrandom.uniform(getkey(), (400, 2), minval=-1, maxval=1, dtype=jnp.float64)
    finer = jr.nn.refine_grid(kan, x, 8)
    assert finer.layers[0].basis.grid_size == 8
    assert finer.layers[0].coeffs.shape[1] == finer.layers[0].basis.num_basis
    tol = 1e-9 if basis != "rbf" else None  # RBF spans are not nested: only approximately preserved
    err = float(jnp.max(jnp.abs(batched(finer, x) - batched(kan, x))))
    scale = float(jnp.std(batched(kan, x)))
    if tol is None:
        assert err < 0.05 * scale
    else:
        assert err < tol


@pytest.mark.parametrize("basis", ["chebyshev", "legendre", "fourier", "rational"])
def test_update_grid_exact_for_nested_bases(x64, getkey, basis):
    kan = jr.nn.KAN([2, 3, 2], basis, key=getkey())
    x = jrandom.normal(getkey(), (300, 2), dtype=jnp.float64)
    np.testing.assert_allclose(batched(jr.nn.update_grid(kan, x), x), batched(kan, x), atol=1e-9)


def test_update_grid_on_range_normalised_legendre(x64, getkey):
    layer = jr.nn.KANLayer(2, 2, jr.nn.LegendreBasis(2, 5, 3, squash=False), key=getkey())
    x = 3.0 + 2.0 * jrandom.uniform(getkey(), (200, 2), dtype=jnp.float64)
    new = jr.nn.update_grid(layer, x)
    np.testing.assert_allclose(new.basis.norm.lo, x.min(0))
    np.testing.assert_allclose(batched(new, x), batched(layer, x), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("uniform", [True, False])
def test_refine_grid_is_exact_where_inputs_leave_the_grid(x64, getkey, uniform):
    # Inputs reach past [-1, 1] on both sides, past the old extension knots too (where the old spline
    # is zero): whole cells of the new width are added, the old knots (interior and extension) are new
    # knots, so the function is reproduced on every sample; a uniform grid stays uniform.
    layer = jr.nn.KANLayer(2, 3, "bspline", grid_size=4, key=getkey())
    layer = eqx.tree_at(lambda l: l.coeffs, layer, jrandom.normal(getkey(), layer.coeffs.shape, dtype=jnp.float64))
    if not uniform:
        layer = jr.nn.update_grid(layer, 0.9 * jnp.sign(u := jrandom.uniform(getkey(), (300, 2), minval=-1,
                                                                               maxval=1, dtype=jnp.float64)) * u**2)
    x = jnp.stack([jnp.linspace(-1.7, 3.9, 500), jnp.linspace(-3.1, 0.4, 500)], axis=1)
    finer = jr.nn.refine_grid(layer, x, 8)
    interior = np.asarray(finer.basis.interior)
    assert np.all(interior[:, 0] <= np.asarray(x.min(0))) and np.all(interior[:, -1] >= np.asarray(x.max(0)))
    assert finer.basis.grid_size > 8 and finer.basis.uniform is uniform
    np.testing.assert_allclose(batched(finer, x), batched(layer, x), atol=1e-9)
    # not a multiple of G: the old knots are not new knots, the refit is approximate and says so
    with pytest.warns(UserWarning, match="refine_grid: layer 0's output changed"):
        jr.nn.refine_grid(layer, x, 6)


def test_refine_grid_of_a_trained_kan_keeps_its_output(getkey):
    # issue 13's case: a trained [2, 5, 1] whose hidden activations leave the first grid's range.
    import optax

    x = jrandom.uniform(getkey(), (512, 2), minval=-1, maxval=1)
    y = jnp.exp(jnp.sin(jnp.pi * x[:, :1]) + x[:, 1:] ** 2)
    kan = jr.nn.KAN([2, 5, 1], "bspline", grid_size=5, key=getkey())
    mse = lambda m, b, k: (jnp.mean((jax.vmap(m)(b[0]) - b[1]) ** 2), {})  # noqa: E731
    kan, _ = jr.train.fit(kan, mse, lambda k, s: (x, y), optax.adam(2e-2), steps=300, key=getkey(),
                          steps_per_call=100, progress=False)
    hidden = batched(kan.layers[0], x)
    assert float(jnp.max(jnp.abs(hidden))) > 1.2  # the case at hand: activations outside [-1, 1]
    before = batched(kan, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no layer may warn
        after = batched(jr.nn.refine_grid(kan, x, 10), x)
    rel = float(jnp.sqrt(jnp.mean((after - before) ** 2) / jnp.mean(before**2)))
    assert rel < 1e-5


def test_update_grid_warns_when_the_refit_cannot_keep_the_function(x64, getkey):
    # Moving the knots of a non-polynomial spline cannot keep it exactly: the least-squares refit is
    # the best the new grid can do, and the warning names the layer. Polynomial edges stay silent.
    layer = jr.nn.KANLayer(2, 3, "bspline", grid_size=4, key=getkey())
    layer = eqx.tree_at(lambda l: l.coeffs, layer, jrandom.normal(getkey(), layer.coeffs.shape, dtype=jnp.float64))
    u = jrandom.uniform(getkey(), (400, 2), minval=-1, maxval=1, dtype=jnp.float64)
    with pytest.warns(UserWarning, match="update_grid: layer 0's output changed by relative RMSE"):
        jr.nn.update_grid(layer, 0.9 * jnp.sign(u) * u**2, grid_eps=0.0)
    cubic, _ = _cubic_edges(layer, getkey())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jr.nn.update_grid(cubic, 0.9 * jnp.sign(u) * u**2, grid_eps=0.0)


def test_refine_grid_carries_adam_moments_like_the_coefficients(x64, getkey):
    # First moments are mapped like coefficients: with nested knots (4 -> 8 cells) the carried mu,
    # read as spline coefficients, is the same function of x; nu is mapped by the squared refit matrix
    # (computed here independently with numpy's lstsq) and stays non-negative.
    import optax

    layer = jr.nn.KANLayer(2, 3, "bspline", grid_size=4, key=getkey())
    params = eqx.filter(layer, eqx.is_inexact_array)
    state = optax.adam(1e-2).init(params)
    mu = jrandom.normal(getkey(), layer.coeffs.shape, dtype=jnp.float64)
    nu = jrandom.uniform(getkey(), layer.coeffs.shape, dtype=jnp.float64)
    state = (state[0]._replace(mu=eqx.tree_at(lambda l: l.coeffs, state[0].mu, mu),
                               nu=eqx.tree_at(lambda l: l.coeffs, state[0].nu, nu)),) + tuple(state[1:])
    x = jrandom.uniform(getkey(), (300, 2), minval=-1, maxval=1, dtype=jnp.float64)
    finer, carried = jr.nn.refine_grid(layer, x, 8, opt_state=state)
    mu2, nu2 = carried[0].mu.coeffs, carried[0].nu.coeffs
    assert mu2.shape == finer.coeffs.shape and int(carried[0].count) == int(state[0].count)
    old_design, new_design = batched(layer.basis, x), batched(finer.basis, x)  # (N, in, K), (N, in, K')
    np.testing.assert_allclose(jnp.einsum("nik,iko->nio", new_design, mu2),
                               jnp.einsum("nik,iko->nio", old_design, mu), atol=1e-9)
    for i in range(2):
        P = np.linalg.lstsq(np.asarray(new_design[:, i]), np.asarray(old_design[:, i]), rcond=None)[0]
        np.testing.assert_allclose(nu2[i], (P**2) @ np.asarray(nu[i]), atol=1e-8)
    assert float(jnp.min(nu2)) >= 0
    np.testing.assert_array_equal(carried[0].mu.base_weight, state[0].mu.base_weight)  # other leaves kept
    with pytest.raises(ValueError, match="cannot be carried across a grid change"):
        jr.nn.refine_grid(layer, x, 8, opt_state=optax.lbfgs().init(params))


def test_training_continues_without_adams_restart_jump():
    # train -> refine_grid -> train: with the carried moments the loss stays near its pre-refinement
    # value; a fresh Adam (steps of ~lr in every coordinate) jumps by an order of magnitude. Fixed keys:
    # the jump is an absolute kick, visible only on a well-trained model (the mechanism is checked for
    # random seeds in the test above).
    import optax

    kx, km, kt, kc = jrandom.split(jrandom.key(0), 4)
    x = jrandom.uniform(kx, (256, 2), minval=-1, maxval=1)
    y = jnp.exp(jnp.sin(jnp.pi * x[:, :1]) + x[:, 1:] ** 2)
    mse = lambda m, b, k: (jnp.mean((jax.vmap(m)(b[0]) - b[1]) ** 2), {})  # noqa: E731
    data = lambda k, s: (x, y)  # noqa: E731
    opt = optax.adam(1e-2)
    kan = jr.nn.KAN([2, 5, 1], "bspline", grid_size=5, key=km)
    kan, hist, state = jr.train.fit(kan, mse, data, opt, steps=1000, key=kt, steps_per_call=250,
                                    progress=False, return_opt_state=True)
    before = float(hist["loss"][-1])
    assert before < 2e-3
    finer, carried = jr.nn.refine_grid(kan, x, 10, opt_state=state)
    _, h_carried = jr.train.fit(finer, mse, data, opt, steps=20, key=kc, steps_per_call=20, progress=False,
                                opt_state=carried)
    _, h_fresh = jr.train.fit(finer, mse, data, opt, steps=20, key=kc, steps_per_call=20, progress=False)
    assert float(np.max(h_carried["loss"])) < 2.0 * before
    assert float(np.max(h_fresh["loss"])) > 5.0 * before
    with pytest.raises(ValueError, match="opt_state does not have the structure"):
        jr.train.fit(finer, mse, data, opt, steps=1, key=kc, progress=False, opt_state=state)


# Runs in a subprocess with two virtual CPU devices, pinned to one core so that the device count reaches
# the size of XLA:CPU's intra-op thread pool on any machine: there a refit run as a two-device program
# can deadlock (both pool threads block in the batched LAPACK kernel of `lstsq`, see jaxrep/nn/_grid.py).
_REPLICATED_REFIT = textwrap.dedent("""
    import os
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jrandom
    import numpy as np
    import optax
    import jaxrep as jr

    jax.config.update("jax_enable_x64", True)
    mesh = jr.train.make_mesh()
    assert mesh.size == 2, jax.devices()
    kx, km, kf = jrandom.split(jrandom.key(0), 3)
    X = jrandom.uniform(kx, (64, 2), minval=-1, maxval=1, dtype=jnp.float64)
    y = jnp.sin(3 * X[:, :1]) * X[:, 1:]

    def mse(model, batch, key):
        return jnp.mean((jax.vmap(model)(batch[0]) - batch[1]) ** 2), {}

    # A wide grid range keeps hidden activations inside the spline grids, where refinement is exact.
    kan = jr.nn.KAN([2, 5, 1], "bspline", grid_size=3, grid_range=(-6.0, 6.0), key=km)
    kan, _ = jr.train.fit(kan, mse, lambda key, step: (X, y), optax.adam(1e-2), steps=2, key=kf,
                          mesh=mesh, progress=False)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    arrays = lambda tree: jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))
    assert all(a.sharding == replicated for a in arrays(kan))
    f = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))

    # The deadlock is a race (each device's program must reach the solve before the other's sub-tasks
    # run): a few dozen calls of ~20 ms make it near certain.
    for _ in range(40):
        finer = jr.nn.refine_grid(kan, X, 6)
    assert finer.layers[1].basis.grid_size == 6
    assert all(a.sharding == replicated for a in arrays(finer))  # placed like the input
    np.testing.assert_allclose(f(finer, X), f(kan, X), atol=1e-9)  # the same function
    # The data sharded over the mesh, as `fit` shards batches (the edges are cubics on the data: exact).
    adapted = jr.nn.update_grid(kan, jr.train.shard_batch(X, mesh))
    assert all(a.sharding == replicated for a in arrays(adapted))
    np.testing.assert_allclose(f(adapted, X), f(kan, X), atol=1e-9)
    h = f(kan.layers[0], X)
    layer = jr.nn.refit_layer(kan.layers[1], kan.layers[1].basis.refine(6, h), h)
    assert all(a.sharding == replicated for a in arrays(layer))
    np.testing.assert_allclose(f(layer, h), f(kan.layers[1], h), atol=1e-9)
    print("ok")
""")


def test_grid_refits_of_a_model_replicated_over_two_devices():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    devices = os.environ.get("JAXREP_TEST_XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=devices.strip())
    # A regression hangs: the timeout turns it into a failure.
    out = subprocess.run([sys.executable, "-c", _REPLICATED_REFIT], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["ok"], out.stderr[-3000:]


def test_regularization_closed_form(getkey):
    kan = jr.nn.KAN([2, 3], key=getkey())
    w = np.asarray(jrandom.normal(getkey(), (2, 3)))
    kan = eqx.tree_at(lambda m: (m.layers[0].coeffs, m.layers[0].base_weight), kan,
                      (jnp.zeros_like(kan.layers[0].coeffs), jnp.asarray(w)))
    x = np.asarray(jrandom.normal(getkey(), (100, 2)))
    scores = np.abs(w) * np.mean(np.abs(_silu(x)), axis=0)[:, None]  # |phi_ij|_1 = |w_ij| mean|silu(x_i)|
    p = scores / scores.sum()
    expected = 1.0 * scores.sum() + 2.0 * -(p * np.log(p)).sum()
    np.testing.assert_allclose(jr.nn.kan_regularization(kan, jnp.asarray(x)), expected, rtol=1e-5)
    np.testing.assert_allclose(jr.nn.coefficient_l1(kan), np.mean(np.abs(w)), rtol=1e-6)
    g = eqx.filter_grad(lambda m: jr.nn.kan_regularization(m, jnp.asarray(x)))(kan)
    assert np.all(np.isfinite(np.asarray(g.layers[0].base_weight)))


def test_prune_removes_dead_nodes_and_keeps_the_rest_exactly(getkey):
    kan = jr.nn.KAN([2, 5, 1], key=getkey())
    dead = jnp.asarray([1, 3])
    scale = lambda a: a.at[dead].multiply(1e-5)
    kan = eqx.tree_at(lambda m: (m.layers[1].coeffs, m.layers[1].base_weight), kan,
                      (scale(kan.layers[1].coeffs), scale(kan.layers[1].base_weight)))
    x = jrandom.uniform(getkey(), (256, 2), minval=-1, maxval=1)
    pruned = jr.nn.prune(kan, x, node_threshold=1e-2)
    assert pruned.widths == (2, 3, 1)
    zeroed = eqx.tree_at(lambda m: (m.layers[1].coeffs, m.layers[1].base_weight), kan,
                         (kan.layers[1].coeffs.at[dead].set(0), kan.layers[1].base_weight.at[dead].set(0)))
    np.testing.assert_allclose(batched(pruned, x), batched(zeroed, x), rtol=1e-6, atol=1e-6)
    # edge pruning zeroes exactly the weak edges
    pruned_edges = jr.nn.prune(kan, x, node_threshold=0.0, edge_threshold=1e-2)
    assert pruned_edges.widths == (2, 5, 1)
    np.testing.assert_allclose(batched(pruned_edges, x), batched(zeroed, x), rtol=1e-6, atol=1e-6)


def test_kan_backbone_from_config_is_twice_differentiable(getkey):
    from jaxrep.config import ModelConfig

    model = jr.nn.build_model(ModelConfig(kind="kan", hidden=(6,)), 2, 1, key=getkey())
    assert isinstance(model, jr.nn.KAN) and model.widths == (2, 6, 1)
    f = lambda z: model(z)[0]
    z = jnp.asarray([0.31, -0.42])
    hess = jax.jit(jax.hessian(f))(z)
    h = 1e-2
    fd = (f(z + jnp.asarray([h, 0.0])) - 2 * f(z) + f(z - jnp.asarray([h, 0.0]))) / h**2
    assert abs(float(hess[0, 0]) - float(fd)) < 0.05 * (1 + abs(float(fd)))
    np.testing.assert_allclose(hess, hess.T, atol=1e-5)
