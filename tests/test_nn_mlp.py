"""MLP, SIREN and FourierFeatures: closed forms, transforms, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jrandom
import numpy as np
import pytest

import jaxrep as jr


def test_mlp_matches_explicit_formula(getkey):
    mlp = jr.nn.MLP(3, 2, width_size=5, depth=2, activation=jnp.tanh, key=getkey())
    x = jrandom.normal(getkey(), (3,))
    h = np.asarray(x, dtype=float)
    for layer in mlp.layers[:-1]:
        h = np.tanh(np.asarray(layer.weight) @ h + np.asarray(layer.bias))
    expected = np.asarray(mlp.layers[-1].weight) @ h + np.asarray(mlp.layers[-1].bias)
    np.testing.assert_allclose(mlp(x), expected, rtol=1e-5, atol=1e-6)
    # Glorot-uniform weights, zero biases
    w = np.asarray(mlp.layers[1].weight)
    assert np.all(np.abs(w) <= np.sqrt(6 / 10) + 1e-7) and not np.any(np.asarray(mlp.layers[1].bias))
    affine = jr.nn.MLP(3, 2, depth=0, key=getkey())
    assert len(affine.layers) == 1


def test_siren_matches_explicit_formula_and_init(getkey):
    siren = jr.nn.SIREN(2, 1, width_size=8, depth=2, omega0=30.0, key=getkey())
    x = jnp.asarray([0.2, -0.5])
    h = np.asarray(x, dtype=float)
    for layer in siren.layers[:-1]:
        h = np.sin(30.0 * (np.asarray(layer.weight) @ h + np.asarray(layer.bias)))
    expected = np.asarray(siren.layers[-1].weight) @ h + np.asarray(siren.layers[-1].bias)
    np.testing.assert_allclose(siren(x), expected, rtol=1e-4, atol=1e-5)
    assert np.max(np.abs(np.asarray(siren.layers[0].weight))) <= 1 / 2
    assert np.max(np.abs(np.asarray(siren.layers[1].weight))) <= np.sqrt(6 / 8) / 30 + 1e-7


def test_fourier_features_closed_form_and_frozen(getkey):
    ff = jr.nn.FourierFeatures(2, 4, scale=3.0, key=getkey())
    x = jnp.asarray([0.1, 0.7])
    proj = 2 * np.pi * np.asarray(ff.B) @ np.asarray(x)
    np.testing.assert_allclose(ff(x), np.concatenate([np.cos(proj), np.sin(proj)]), rtol=1e-5, atol=1e-6)
    g = eqx.filter_grad(lambda m: jnp.sum(m(x)))(ff)
    assert float(jnp.abs(g.B).sum()) == 0.0  # frozen unless trainable
    ff_t = jr.nn.FourierFeatures(2, 4, trainable=True, key=getkey())
    assert float(jnp.abs(eqx.filter_grad(lambda m: jnp.sum(m(x)))(ff_t).B).sum()) > 0


@pytest.mark.parametrize("make", [
    lambda k: jr.nn.MLP(3, 2, 8, 2, key=k),
    lambda k: jr.nn.SIREN(3, 2, 8, 2, key=k),
    lambda k: jr.nn.FourierFeatures(3, 4, key=k),
], ids=["mlp", "siren", "fourier_features"])
def test_transforms_and_bad_input(getkey, make):
    model = make(getkey())
    x = jrandom.normal(getkey(), (5, 3))

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def f(m, x):
        return jax.vmap(m)(x)

    y = f(model, x)
    f(model, x + 1)
    assert y.shape[0] == 5 and np.all(np.isfinite(np.asarray(y)))
    g = eqx.filter_grad(lambda m: jnp.sum(f(m, x) ** 2))(model)
    assert all(np.all(np.isfinite(np.asarray(l))) for l in jax.tree_util.tree_leaves(g))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        model(jnp.zeros(4))
    with pytest.raises(ValueError, match="jax.vmap"):
        model(jnp.zeros((2, 3)))


def test_constructor_validation(getkey):
    with pytest.raises(ValueError, match="width_size"):
        jr.nn.MLP(2, 1, width_size=0, key=getkey())
    with pytest.raises(ValueError, match="in_size"):
        jr.nn.SIREN(0, 1, key=getkey())
    with pytest.raises(ValueError, match="scale"):
        jr.nn.FourierFeatures(2, 3, scale=-1.0, key=getkey())
