"""KAN multiplication nodes (MultKAN) and pruning by masks: `KAN([2, [1, 1], 1])`, `KANLayer.mask`,
`jr.nn.mask_edges`, `jr.nn.prune`, and their passage through grids, symbolic fitting and Flax."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import sympy as sp

import jaxrep as jrp
from jaxrep.nn import auto_symbolic, combine_nodes, mask_edges, prune, symbolic_formula

X = jr.uniform(jr.PRNGKey(1), (128, 2), minval=-1.0, maxval=1.0)


def batched(model, x):
    return jax.vmap(model)(x)


def _fit_layer_edges(kan, l, targets, grid_size):
    """Set layer `l`'s coefficients to the spline least-squares fits of `targets[i][j]` on [-1, 1]."""
    layer = kan.layers[l]
    xs = jnp.linspace(-1.0, 1.0, 400)
    B = jax.vmap(layer.basis)(jnp.tile(xs[:, None], (1, layer.in_features)))  # (400, in, K)
    coeffs = jnp.stack([
        jnp.stack([jnp.linalg.lstsq(B[:, i, :], targets[i][j](xs))[0] for j in range(layer.out_features)], -1)
        for i in range(layer.in_features)])
    return eqx.tree_at(lambda k: k.layers[l].coeffs, kan, coeffs.astype(layer.coeffs.dtype))


def test_combine_nodes_multiplies_groups():
    y = jnp.asarray([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    np.testing.assert_array_equal(combine_nodes(y, 2, 2), [1.0, 2.0, 3.0, 20.0, 42.0])
    np.testing.assert_array_equal(combine_nodes(y, 2, 3), [1.0, 2.0 * 3.0 * 4.0, 5.0 * 6.0 * 7.0])
    np.testing.assert_array_equal(combine_nodes(y, 0), y)


def test_mult_kan_forward_is_the_layers_with_products_between(getkey):
    kan = jrp.nn.KAN([2, [1, 2], 1], key=getkey())
    assert kan.widths == (2, 3, 1) and kan.spec == [2, [1, 2], 1] and kan.mult == (2,)
    assert [(l.in_features, l.out_features) for l in kan.layers] == [(2, 5), (3, 1)]
    y = batched(kan.layers[0], X)
    nodes = jnp.stack([y[:, 0], y[:, 1] * y[:, 2], y[:, 3] * y[:, 4]], axis=1)
    np.testing.assert_allclose(batched(kan, X), batched(kan.layers[1], nodes), rtol=1e-6, atol=1e-6)
    inputs = jax.vmap(kan.layer_inputs)(X)
    np.testing.assert_allclose(inputs[1], nodes, rtol=1e-6, atol=1e-6)
    # arity 3: one node from three factors
    k3 = jrp.nn.KAN([2, [0, 1], 1], mult_arity=3, key=getkey())
    y = batched(k3.layers[0], X)
    np.testing.assert_allclose(batched(k3, X), batched(k3.layers[1], jnp.prod(y, 1, keepdims=True)), rtol=1e-5)


def test_a_product_is_represented_exactly_and_written_out_as_a_product(getkey):
    """[2, [0, 1], 1] with edges x, 0 / 0, y and an identity output edge is x*y exactly (cubic splines
    reproduce linear functions); masking the two zero edges lets auto_symbolic and symbolic_formula
    give the product."""
    ident, zero = (lambda v: v), (lambda v: 0.0 * v)
    kan = jrp.nn.KAN([2, [0, 1], 1], grid_size=3, base_activation=None, key=getkey())
    kan = _fit_layer_edges(kan, 0, [[ident, zero], [zero, ident]], 3)
    kan = _fit_layer_edges(kan, 1, [[ident]], 3)
    kan = eqx.tree_at(lambda k: (k.layers[0].bias, k.layers[1].bias), kan,
                      (jnp.zeros(2, X.dtype), jnp.zeros(1, X.dtype)))
    np.testing.assert_allclose(batched(kan, X)[:, 0], X[:, 0] * X[:, 1], atol=1e-5)
    kan = mask_edges(kan, 0, np.array([[False, True], [True, False]]))
    sym = auto_symbolic(kan, X, library=["x", "x^2", "sin"], r2_threshold=0.999)
    # the pruned edges are not fitted, yet the formula is complete
    assert not np.asarray(sym.masks[0])[0, 1] and not np.asarray(sym.masks[0])[1, 0]
    (expr,) = symbolic_formula(sym, names=("x", "y"), digits=6)
    x, y = sp.symbols("x y", real=True)
    f = sp.lambdify((x, y), expr, "numpy")
    pts = np.asarray(X, np.float64)
    np.testing.assert_allclose(f(pts[:, 0], pts[:, 1]), pts[:, 0] * pts[:, 1], atol=1e-4)
    assert expr.has(x) and expr.has(y) and any(isinstance(a, sp.Mul) for a in sp.preorder_traversal(expr))
    # the symbolic model computes what its formula says
    np.testing.assert_allclose(batched(sym, X)[:, 0], f(pts[:, 0], pts[:, 1]), atol=1e-4)


@pytest.mark.filterwarnings("ignore:update_grid")
def test_masked_edges_stay_pruned_through_gradients_perturbation_and_grid_changes(getkey):
    kan = jrp.nn.KAN([2, 3, 1], key=getkey())
    dead = np.array([[True, False, False], [False, False, True]])
    masked = mask_edges(kan, 0, dead)
    assert masked.layers[0].mask.dtype == bool and not eqx.is_inexact_array(masked.layers[0].mask)
    # the forward pass equals the KAN with those edges' parameters zeroed
    m = jnp.asarray(~dead, X.dtype)
    zeroed = eqx.tree_at(lambda k: (k.layers[0].coeffs, k.layers[0].base_weight), kan,
                         (kan.layers[0].coeffs * m[:, None, :], kan.layers[0].base_weight * m))
    np.testing.assert_allclose(batched(masked, X), batched(zeroed, X), rtol=1e-6, atol=1e-6)
    ev = jax.vmap(masked.layers[0].edge_values)(X)
    assert np.all(np.asarray(ev)[:, dead] == 0)
    # gradients of the masked parameters are exactly zero; changing them changes nothing
    g = eqx.filter_grad(lambda k: jnp.sum(batched(k, X) ** 2))(masked)
    assert np.all(np.asarray(g.layers[0].coeffs).transpose(0, 2, 1)[dead] == 0)
    assert np.all(np.asarray(g.layers[0].base_weight)[dead] == 0)
    noise = jr.normal(getkey(), kan.layers[0].coeffs.shape)
    shaken = eqx.tree_at(lambda k: k.layers[0].coeffs, masked,
                         masked.layers[0].coeffs + noise * jnp.asarray(dead, X.dtype)[:, None, :])
    np.testing.assert_array_equal(batched(shaken, X), batched(masked, X))
    # grid changes keep the mask, and the pruned edges stay zero on the new grid
    for changed in (jrp.nn.refine_grid(masked, X, 10), jrp.nn.update_grid(masked, X)):
        np.testing.assert_array_equal(changed.layers[0].mask, ~dead)
        ev = jax.vmap(changed.layers[0].edge_values)(X)
        assert np.all(np.asarray(ev)[:, dead] == 0)
    # masking is cumulative
    both = mask_edges(masked, 0, np.array([[False, True, False], [False, False, False]]))
    assert int(np.sum(~np.asarray(both.layers[0].mask))) == 3


def test_prune_masks_weak_edges_and_removes_a_dead_multiplication_node(getkey):
    kan = jrp.nn.KAN([2, [2, 1], 1], key=getkey())
    # node 2 (the multiplication node) feeds nothing: its outgoing edge is (numerically) dead
    scale = lambda a: a.at[2].multiply(1e-6)
    kan = eqx.tree_at(lambda k: (k.layers[1].coeffs, k.layers[1].base_weight), kan,
                      (scale(kan.layers[1].coeffs), scale(kan.layers[1].base_weight)))
    pruned = prune(kan, X, node_threshold=1e-3)
    assert pruned.spec == [2, 2, 1] and pruned.widths == (2, 2, 1)
    assert pruned.layers[0].out_features == 2  # the node's two factor outputs are gone
    zeroed = eqx.tree_at(lambda k: (k.layers[1].coeffs, k.layers[1].base_weight), kan,
                         (kan.layers[1].coeffs.at[2].set(0), kan.layers[1].base_weight.at[2].set(0)))
    np.testing.assert_allclose(batched(pruned, X), batched(zeroed, X), rtol=1e-5, atol=1e-6)
    # a live multiplication node is kept with both factors; edge pruning masks, it does not zero
    kept = prune(jrp.nn.KAN([2, [1, 1], 1], key=getkey()), X, node_threshold=0.0, edge_threshold=1e9)
    assert kept.spec == [2, [1, 1], 1]
    assert not np.any(np.asarray(kept.layers[0].mask)) and np.any(np.asarray(kept.layers[0].coeffs) != 0)
    np.testing.assert_array_equal(batched(kept, X), jnp.broadcast_to(kept.layers[1].bias, (X.shape[0], 1)))


def test_flax_kan_round_trip_keeps_masks_and_multiplication_nodes(getkey):
    from jaxrep.nn import flax as jflax

    kan = mask_edges(jrp.nn.KAN([2, [1, 1], 1], key=getkey()), 0, np.array([[True, False, False]] * 2))
    f = jflax.KAN.from_equinox(kan)
    np.testing.assert_allclose(f(X), batched(kan, X), rtol=1e-6, atol=1e-6)
    back = f.to_equinox()
    assert back.spec == [2, [1, 1], 1]
    np.testing.assert_array_equal(back.layers[0].mask, kan.layers[0].mask)
    np.testing.assert_allclose(batched(back, X), batched(kan, X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "widths, match",
    [([2, [1], 1], r"widths\[1\]"), ([2, [0, 0], 1], r"widths\[1\]"), ([2, 3, [0, 1]], r"widths\[2\]"),
     ([[1, 1], 3, 1], r"widths\[0\]"), ([2, [1, -1], 1], r"widths\[1\]")],
)
def test_bad_widths_name_the_entry(widths, match):
    with pytest.raises(ValueError, match=match):
        jrp.nn.KAN(widths, key=jr.PRNGKey(0))


def test_bad_masks_are_refused(getkey):
    kan = jrp.nn.KAN([2, 3, 1], key=getkey())
    with pytest.raises(ValueError, match="edges must be a boolean array of shape"):
        mask_edges(kan, 0, np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match="layer must be in"):
        mask_edges(kan, 2, np.zeros((3, 1), bool))
    with pytest.raises(ValueError, match="mult_arity"):
        jrp.nn.KAN([2, [1, 1], 1], mult_arity=1, key=getkey())
