"""PINN backbones: PeriodicEmbedding, RWFLinear, ModifiedMLP, PirateNet and their build_model wiring.

Sizes are shared across tests (input 3, width 8, output 2) because on CPU every new shape of a random
draw costs an XLA compilation; test inputs come from numpy for the same reason.
"""

import types

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jrandom
import numpy as np
import pytest

import jaxrep as jr

IN, WIDTH, OUT = 3, 8, 2


@eqx.filter_jit
def _batched(model, x):
    return jax.vmap(model)(x)


def _points(n, d=IN, seed=0, dtype=np.float32):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, d)), dtype)


def _to64(tree):
    return jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, tree)


def _dense(layer, h):
    return np.asarray(layer.weight, float) @ h + np.asarray(layer.bias, float)


# --- PeriodicEmbedding ------------------------------------------------------------------------------


def test_periodic_embedding_closed_form():
    emb = jr.nn.PeriodicEmbedding(3, (2.0, None, 0.5), n_harmonics=2)
    assert emb.out_size == 2 * 2 + 1 + 2 * 2
    x = jnp.asarray([0.3, -1.7, 0.1])
    k = np.array([1.0, 2.0])
    a0, a2 = 2 * np.pi * k * 0.3 / 2.0, 2 * np.pi * k * 0.1 / 0.5
    expected = np.concatenate([np.cos(a0), np.sin(a0), [-1.7], np.cos(a2), np.sin(a2)])
    np.testing.assert_allclose(emb(x), expected, rtol=1e-6, atol=1e-6)
    assert len(jax.tree_util.tree_leaves(emb)) == 0  # no parameters


def test_periodic_embedding_makes_network_exactly_periodic(getkey):
    periods = (2.0, None, 0.75)
    emb = jr.nn.PeriodicEmbedding(3, periods, n_harmonics=2)  # out_size 9
    net = eqx.nn.Sequential([emb, jr.nn.ModifiedMLP(emb.out_size, OUT, WIDTH, 1, key=getkey())])
    x = np.asarray(_points(4), float)
    # shift by a multiple of the period along each periodic input, by a non-period along the plain one
    shifts = np.diag([3 * periods[0], 0.37, 3 * periods[2]])

    @eqx.filter_jit
    def value_jac_hess(m, z):
        return (jax.vmap(m)(z), jax.vmap(jax.jacfwd(m))(z), jax.vmap(jax.hessian(lambda p: m(p)[0]))(z))

    with jax.enable_x64(True):
        pts = jnp.asarray(np.concatenate([x] + [x + s for s in shifts]), jnp.float64)
        outs = [np.asarray(o).reshape(4, 4, *o.shape[1:]) for o in value_jac_hess(_to64(net), pts)]
    for i, L in enumerate(periods):
        for o in outs:
            same = np.allclose(o[0], o[1 + i], rtol=1e-10, atol=1e-10)
            assert same == (L is not None), (i, o.shape)


def test_periodic_embedding_bad_input():
    with pytest.raises(ValueError, match="periods must have one entry per input"):
        jr.nn.PeriodicEmbedding(2, (1.0,))
    with pytest.raises(ValueError, match=r"periods\[1\]"):
        jr.nn.PeriodicEmbedding(2, (1.0, -2.0))
    with pytest.raises(ValueError, match=r"periods\[0\]"):
        jr.nn.PeriodicEmbedding(1, ("a",))
    with pytest.raises(ValueError, match="n_harmonics"):
        jr.nn.PeriodicEmbedding(1, (1.0,), n_harmonics=0)


# --- RWFLinear --------------------------------------------------------------------------------------


def test_rwf_linear_init_equals_glorot_layer(getkey):
    key = getkey()
    layer = jr.nn.RWFLinear(IN, WIDTH, mean=1.0, std=0.1, key=key)
    # The Glorot-uniform weights a plain layer draws from the same key, and s ~ N(1, 0.1^2).
    k_w, k_s = jrandom.split(key)
    limit = np.sqrt(6.0 / (IN + WIDTH))
    w0 = jrandom.uniform(k_w, (WIDTH, IN), minval=-limit, maxval=limit)
    shell = eqx.filter_eval_shape(eqx.nn.Linear, IN, WIDTH, key=k_w)
    plain = eqx.tree_at(lambda l: (l.weight, l.bias), shell, (w0, jnp.zeros(WIDTH)))
    x = _points(5)
    np.testing.assert_allclose(_batched(layer, x), _batched(plain, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.weight, w0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer.s, 1.0 + 0.1 * jrandom.normal(k_s, (WIDTH,)), rtol=1e-6)
    assert not np.allclose(layer.v, w0)  # really factorised: V != W
    assert not np.any(np.asarray(layer.bias))


def test_rwf_factorize_keeps_function_and_changes_gradients(getkey):
    lin = jr.nn.MLP(IN, WIDTH, depth=0, key=getkey()).layers[0]
    lin = eqx.tree_at(lambda l: l.bias, lin, jnp.linspace(-1.0, 1.0, WIDTH))
    rwf = jr.nn.rwf_factorize(lin, 1.0, 0.1, key=getkey())
    x = _points(1)
    np.testing.assert_allclose(_batched(rwf, x), _batched(lin, x), rtol=1e-5, atol=1e-6)
    # dL/dV = diag(e^s) dL/dW: same function, rescaled gradient geometry
    grad = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(m(x[0]) ** 2)))
    g_w, g_v = grad(lin).weight, grad(rwf).v
    np.testing.assert_allclose(g_v, jnp.exp(rwf.s)[:, None] * g_w, rtol=1e-5, atol=1e-6)
    assert not np.allclose(g_v, g_w, rtol=1e-3)
    with pytest.raises(ValueError, match="linear"):
        jr.nn.rwf_factorize(jr.nn.PeriodicEmbedding(1, (1.0,)), key=getkey())
    with pytest.raises(ValueError, match="std"):
        jr.nn.RWFLinear(2, 2, 1.0, -0.1, key=getkey())


# --- ModifiedMLP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rwf", [None, (1.0, 0.1)], ids=["glorot", "rwf"])
def test_modified_mlp_matches_formula(getkey, rwf):
    net = jr.nn.ModifiedMLP(IN, OUT, width_size=WIDTH, depth=2, activation=jnp.tanh, rwf=rwf, key=getkey())
    assert len(net.layers) == 3
    assert all(isinstance(l, jr.nn.RWFLinear) == (rwf is not None) for l in (*net.layers, net.last))
    x = _points(1)
    xn = np.asarray(x[0], float)
    U, V = np.tanh(_dense(net.encoder_u, xn)), np.tanh(_dense(net.encoder_v, xn))
    H = np.tanh(_dense(net.layers[0], xn))
    for layer in net.layers[1:]:
        Z = np.tanh(_dense(layer, H))
        H = (1 - Z) * U + Z * V
    np.testing.assert_allclose(_batched(net, x)[0], _dense(net.last, H), rtol=1e-5, atol=1e-6)


# --- PirateNet --------------------------------------------------------------------------------------


@eqx.filter_jit
def _out_last_features(net, x):
    return jax.vmap(net)(x), jax.vmap(net.last)(x), jax.vmap(net.features)(x)


@pytest.mark.parametrize("rwf", [None, (1.0, 0.1)], ids=["glorot", "rwf"])
def test_pirate_net_is_linear_at_init_and_matches_formula(getkey, rwf):
    net = jr.nn.PirateNet(IN, OUT, width_size=WIDTH, n_blocks=2, rwf=rwf, key=getkey())
    x = _points(3)
    # alpha = 0: the output is exactly the last layer applied to the block input
    out, last, feats = _out_last_features(net, x)
    np.testing.assert_allclose(out, last, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(feats, x)
    # with alpha != 0 the blocks act, following the paper's formula
    alphas = [jnp.full_like(b.alpha, a) for b, a in zip(net.blocks, (0.3, -0.6))]
    net = eqx.tree_at(lambda n: [b.alpha for b in n.blocks], net, alphas)
    h = np.asarray(x[0], float)
    U, V = np.tanh(_dense(net.encoder_u, h)), np.tanh(_dense(net.encoder_v, h))
    for block in net.blocks:
        f = np.tanh(_dense(block.layers[0], h))
        z1 = (1 - f) * U + f * V
        g = np.tanh(_dense(block.layers[1], z1))
        z2 = (1 - g) * U + g * V
        r = np.tanh(_dense(block.layers[2], z2))
        a = float(block.alpha)
        h = a * r + (1 - a) * h
    out, last, _ = _out_last_features(net, x)
    np.testing.assert_allclose(out[0], _dense(net.last, h), rtol=1e-5, atol=1e-6)
    assert not np.allclose(out, last, atol=1e-4)


def test_pirate_init_last_layer_least_squares(getkey):
    emb = jr.nn.PeriodicEmbedding(IN, (2.0, None, None), n_harmonics=3)  # out_size 8 = WIDTH
    models = [
        eqx.nn.Sequential([emb, jr.nn.PirateNet(emb.out_size, OUT, WIDTH, 2, key=getkey())]),
        eqx.nn.Sequential([emb, jr.nn.PirateNet(emb.out_size, OUT, WIDTH, 2, rwf=(1.0, 0.1), key=getkey())]),
    ]
    x_np = np.asarray(_points(40), float)
    with jax.enable_x64(True):
        x = jnp.asarray(x_np)
        feats = np.asarray(_batched(emb, x))
        design = np.concatenate([feats, np.ones((40, 1))], axis=1)
        coef = np.random.default_rng(1).normal(size=(design.shape[1], OUT))
        y_span = design @ coef
        y = np.stack([np.exp(x_np[:, 0]) * x_np[:, 1], np.abs(x_np[:, 2])], axis=1)
        sol = np.linalg.lstsq(design, y, rcond=None)[0]
        for model in map(_to64, models):
            # (a) targets in the span of the features (+ bias) are reproduced exactly
            fitted = jr.nn.pirate_init_last_layer(model, x, y_span)
            np.testing.assert_allclose(_batched(fitted, x), y_span, rtol=1e-9, atol=1e-9)
            assert np.abs(np.asarray(_batched(model, x)) - y_span).max() > 1e-2  # not before the fit
            # (b) a general target: the residual is numpy's least-squares residual
            fitted = jr.nn.pirate_init_last_layer(model, x, y)
            np.testing.assert_allclose(_batched(fitted, x) - y, design @ sol - y, rtol=1e-8, atol=1e-10)
            # only the last layer changed
            assert eqx.tree_equal(fitted.layers[-1].blocks, model.layers[-1].blocks)
        # a bare PirateNet with out_size 1 and an (n,) target
        bare = _to64(jr.nn.PirateNet(IN, 1, WIDTH, 1, key=getkey()))
        yb = x_np @ np.array([1.0, -2.0, 0.5]) + 0.25
        np.testing.assert_allclose(_batched(jr.nn.pirate_init_last_layer(bare, x, yb), x)[:, 0], yb,
                                   rtol=1e-9, atol=1e-9)


def test_pirate_init_last_layer_bad_input(getkey):
    net = jr.nn.PirateNet(IN, OUT, WIDTH, 1, key=getkey())
    with pytest.raises(ValueError, match="y must have shape"):
        jr.nn.pirate_init_last_layer(net, jnp.zeros((5, IN)), jnp.zeros((5, 3)))
    with pytest.raises(ValueError, match="x must have shape"):
        jr.nn.pirate_init_last_layer(net, jnp.zeros(IN), jnp.zeros((1, OUT)))
    with pytest.raises(ValueError, match="PirateNet"):
        jr.nn.pirate_init_last_layer(net.last, jnp.zeros((5, IN)), jnp.zeros((5, OUT)))


def test_pirate_alpha_gets_gradient_at_init(getkey):
    net = jr.nn.PirateNet(IN, OUT, WIDTH, 2, key=getkey())
    x = _points(8)
    g = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(jax.vmap(m)(x) ** 2)))(net)
    assert float(jnp.abs(g.blocks[-1].alpha)) > 0  # the skip gate can open from alpha = 0


# --- shared: transforms, recompilation, bad input --------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda k: jr.nn.PeriodicEmbedding(IN, (1.0, None, 2.0), 2),
    lambda k: jr.nn.RWFLinear(IN, WIDTH, key=k),
    lambda k: jr.nn.ModifiedMLP(IN, OUT, WIDTH, 1, rwf=(1.0, 0.1), key=k),
    lambda k: jr.nn.PirateNet(IN, OUT, WIDTH, 1, key=k),
], ids=["periodic", "rwf_linear", "modified_mlp_rwf", "pirate"])
def test_transforms_and_bad_input(getkey, make):
    model = make(getkey())
    x = _points(5)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def f(m, x):
        return jax.vmap(m)(x)

    @eqx.filter_jit
    def grad_and_jac(m, x):
        grad = eqx.filter_grad(lambda m: jnp.sum(f(m, x) ** 2))(m) if jax.tree_util.tree_leaves(
            eqx.filter(m, eqx.is_array)) else None
        return grad, jax.vmap(jax.jacfwd(m))(x)

    y = f(model, x)
    f(model, x + 1)
    assert y.shape == (5, model.out_size) and y.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(y)))
    g, dx = grad_and_jac(model, x)
    g_leaves = jax.tree_util.tree_leaves(g)
    assert all(np.all(np.isfinite(np.asarray(l))) for l in g_leaves)
    assert isinstance(model, jr.nn.PeriodicEmbedding) or any(float(jnp.abs(l).sum()) > 0 for l in g_leaves)
    assert dx.shape == (5, model.out_size, IN) and np.all(np.isfinite(np.asarray(dx)))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        model(jnp.zeros(4))
    with pytest.raises(ValueError, match="jax.vmap"):
        model(jnp.zeros((2, 3)))


def test_constructor_validation(getkey):
    with pytest.raises(ValueError, match="depth"):
        jr.nn.ModifiedMLP(2, 1, 4, 0, key=getkey())
    with pytest.raises(ValueError, match="width_size"):
        jr.nn.ModifiedMLP(2, 1, 0, 2, key=getkey())
    with pytest.raises(ValueError, match="n_blocks"):
        jr.nn.PirateNet(2, 1, 4, 0, key=getkey())
    with pytest.raises(ValueError, match="rwf"):
        jr.nn.PirateNet(2, 1, 4, 1, rwf=(1.0,), key=getkey())
    with pytest.raises(ValueError, match="rwf"):
        jr.nn.ModifiedMLP(2, 1, 4, 1, rwf=(1.0, -1.0), key=getkey())


# --- build_model ------------------------------------------------------------------------------------


def _cfg(**kw):
    base = dict(kind="mlp", width_size=WIDTH, depth=2, activation="tanh", omega0=30.0, basis="bspline",
                grid_size=5, order=3, hidden=(4,), fourier_features=0, fourier_scale=1.0)
    base.update(kw)
    return types.SimpleNamespace(**base)


def test_build_model_new_kinds(getkey):
    # an old-style config without the new fields still builds
    m = jr.nn.build_model(_cfg(kind="modified_mlp"), IN, OUT, key=getkey())
    assert isinstance(m, jr.nn.ModifiedMLP) and len(m.layers) == 3 and isinstance(m.last, eqx.nn.Linear)
    m = jr.nn.build_model(_cfg(kind="modified_mlp", rwf=[1.0, 0.1]), IN, OUT, key=getkey())
    assert isinstance(m.last, jr.nn.RWFLinear)
    m = jr.nn.build_model(_cfg(kind="pirate"), IN, OUT, key=getkey())
    assert isinstance(m, jr.nn.PirateNet) and len(m.blocks) == 3
    m = jr.nn.build_model(_cfg(kind="pirate", n_blocks=2, rwf=[1.0, 0.1], periods=[1.0, None, None],
                               n_harmonics=3, fourier_features=4, fourier_scale=2.0), IN, OUT, key=getkey())
    emb, ff, pirate = m.layers
    assert isinstance(emb, jr.nn.PeriodicEmbedding) and emb.periods == (1.0, None, None)
    assert emb.n_harmonics == 3 and isinstance(ff, jr.nn.FourierFeatures) and ff.in_size == emb.out_size
    assert isinstance(pirate, jr.nn.PirateNet) and len(pirate.blocks) == 2 and pirate.in_size == WIDTH
    assert isinstance(pirate.last, jr.nn.RWFLinear)
    x = jnp.asarray([[0.2, -0.4, 0.1], [1.2, -0.4, 0.1], [0.2, 0.6, 0.1]])
    y = _batched(m, x)
    np.testing.assert_allclose(y[0], y[1], rtol=1e-4, atol=1e-4)  # periodic in x_0 with period 1
    assert not np.allclose(y[0], y[2], rtol=1e-4, atol=1e-4), y
    m = jr.nn.build_model(_cfg(periods=[None, 0.5, None]), IN, OUT, key=getkey())
    assert isinstance(m.layers[0], jr.nn.PeriodicEmbedding) and isinstance(m.layers[1], jr.nn.MLP)


@pytest.mark.parametrize("kw, match", [
    (dict(fourier_features=4, fourier_scale=0.0), "fourier_scale"),
    (dict(fourier_scale=-1.0), "fourier_scale"),
    (dict(periods=[1.0]), "model.periods"),
    (dict(periods=[1.0, 0.0, None]), r"model.periods\[1\]"),
    (dict(periods=[1.0, None, None], n_harmonics=0), "model.n_harmonics"),
    (dict(kind="pirate", rwf=[1.0]), "model.rwf"),
    (dict(kind="mlp", rwf=[1.0, 0.1]), "model.rwf"),
    (dict(kind="resnet"), "modified_mlp, pirate"),
])
def test_build_model_bad_config(getkey, kw, match):
    with pytest.raises(ValueError, match=match) as err:
        jr.nn.build_model(_cfg(**kw), IN, OUT, key=getkey())
    assert "\n" not in str(err.value)
