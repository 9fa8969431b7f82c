"""GR-KAN (group-rational KAN) and the KAT block: closed forms, initialisation, gradients, invariances."""

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy.special import erf

from jaxrep.nn._grkan import (
    GRKAN,
    GroupRational,
    KATBlock,
    TransformerBlock,
    group_rational,
)


def _direct(x, a, b, groups):
    """P/Q channel by channel in numpy, with the coefficients of channel i's group i // d_g."""
    d_g = x.shape[-1] // groups
    out = np.empty_like(x)
    for i in range(x.shape[-1]):
        g = i // d_g
        p = sum(a[g, j] * x[..., i] ** j for j in range(a.shape[1]))
        q = 1 + np.abs(sum(b[g, k - 1] * x[..., i] ** k for k in range(1, b.shape[1] + 1)))
        out[..., i] = p / q
    return out


def test_group_rational_equals_direct_evaluation(x64):
    rng = np.random.default_rng(0)
    groups, features = 4, 12
    a, b = rng.normal(size=(groups, 6)), rng.normal(size=(groups, 4))
    x = rng.normal(scale=2.0, size=(7, features))
    expected = _direct(x, a, b, groups)
    np.testing.assert_allclose(np.asarray(group_rational(x, a, b)), expected, rtol=1e-12, atol=1e-12)
    module = GroupRational(features, groups, 5, 4, numerator=a, denominator=b)
    np.testing.assert_allclose(np.asarray(jax.vmap(module)(x)), expected, rtol=1e-12, atol=1e-12)
    # Groups really are separate: a different group assignment (coefficients of group 0 everywhere) differs.
    assert not np.allclose(expected, _direct(x, a[:1].repeat(groups, 0), b[:1].repeat(groups, 0), groups))
    # n = 0 is a plain polynomial activation.
    np.testing.assert_allclose(np.asarray(group_rational(x, a, np.zeros((groups, 0)))),
                               _direct(x, a, np.zeros((groups, 0)), groups), rtol=1e-12)


def _gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


# Max |F - target| on [-3, 3] (float64, default degrees (5, 4)); the fits measure 2.7e-3 (GELU) and 2e-5 (SiLU).
@pytest.mark.parametrize(
    "init, target, tol",
    [("identity", lambda x: x, 1e-14), ("gelu", _gelu, 3.5e-3), ("silu", lambda x: x / (1 + np.exp(-x)), 1e-4)],
)
def test_init_fits_target_on_minus3_3(x64, init, target, tol):
    r = GroupRational(8, 4, init=init)
    xs = np.linspace(-3, 3, 601)
    f = np.asarray(jax.vmap(r)(np.repeat(xs[:, None], 8, axis=1)))
    assert np.max(np.abs(f - target(xs)[:, None])) <= tol
    # ... and stays close on [-5, 5], where the safe form was fitted (not only the [-3, 3] of KAT's fit).
    xw = np.linspace(-5, 5, 1001)
    fw = np.asarray(jax.vmap(r)(np.repeat(xw[:, None], 8, axis=1)))
    assert np.max(np.abs(fw - target(xw)[:, None])) <= max(tol, 5e-3)


@eqx.filter_jit
def _forward(layer, x):
    return jax.vmap(layer)(x), jax.vmap(layer.rational)(x), layer.rational.second_moment()


@pytest.mark.parametrize("init", ["identity", "gelu", "silu"])
def test_variance_preserving_initialisation(getkey, init):
    # For x ~ N(0, I) the output of a fresh layer has E[y_j^2] = d_in Var[w] E[F(x)^2] = 1. Estimated over
    # 4096 inputs x 256 outputs; the spread of the estimate across weight draws is ~0.02 (mostly the
    # (sum_i w_ji E[F])^2 term of each unit), so |m - 1| <= 0.1 is a >4-sigma band. Without the E[F^2]
    # correction, GELU would give 0.43 and SiLU 0.36.
    layer = GRKAN(256, 256, init=init, key=getkey())
    x = jr.normal(getkey(), (4096, 256))
    y, fx, moment = _forward(layer, x)
    assert abs(float(jnp.mean(y**2)) - 1) < 0.1
    # The quadrature moment of the module agrees with a Monte Carlo estimate.
    mc = jnp.mean(fx**2)
    assert abs(float(moment[0]) - float(mc)) < 0.03 * float(moment[0])


def test_gradients_match_finite_differences(x64):
    rng = np.random.default_rng(1)
    layer = GRKAN(6, 5, groups=3, key=jr.PRNGKey(0))
    layer = eqx.tree_at(lambda l: (l.rational.numerator, l.rational.denominator, l.bias), layer,
                        (rng.normal(size=(3, 6)) * 0.5, rng.normal(size=(3, 4)) * 0.5, rng.normal(size=5)))
    x = rng.uniform(0.3, 1.5, size=6) * rng.choice([-1, 1], size=6)  # away from x = 0, where |.| has a kink

    def loss(params, x):
        return jnp.sum(jnp.sin(eqx.combine(params, static)(x)))

    params, static = eqx.partition(layer, eqx.is_array)
    g_params, g_x = jax.grad(loss, argnums=(0, 1))(params, x)
    flat, unravel = jax.flatten_util.ravel_pytree((params, x))
    f = jax.jit(jax.vmap(lambda v: loss(*unravel(v))))  # all perturbations in one compiled call
    h = 1e-6
    eye = np.eye(flat.size)
    fd = np.asarray(f(flat + h * eye) - f(flat - h * eye)) / (2 * h)
    ad = np.asarray(jax.flatten_util.ravel_pytree((g_params, g_x))[0])
    np.testing.assert_allclose(ad, fd, rtol=1e-6, atol=1e-8)
    # Forward mode and second derivatives (the closed-form JVP nests): d^2/dx^2 of F against differences of F'.
    rational = layer.rational
    d1 = jax.vmap(jax.grad(lambda t: jnp.sum(rational(jnp.full(6, t)))))
    d2 = jax.vmap(jax.grad(jax.grad(lambda t: jnp.sum(rational(jnp.full(6, t))))))
    ts = np.array([-1.3, -0.4, 0.7, 1.9])
    np.testing.assert_allclose(np.asarray(d2(ts)), np.asarray(d1(ts + h) - d1(ts - h)) / (2 * h), rtol=1e-5)
    jf = jax.jacfwd(lambda x: layer(x))(x)
    np.testing.assert_allclose(np.asarray(jf), np.asarray(jax.jacrev(lambda x: layer(x))(x)), rtol=1e-12)
    # From the identity init (b = 0, so |b(x)| sits on its kink everywhere) the denominator still gets a
    # gradient (d|u|/du = 1 at u = 0, as for KAT's kernels); with sign(0) = 0 it would never train.
    identity = GRKAN(6, 5, groups=3, init="identity", key=jr.PRNGKey(1))
    g = jax.grad(lambda l: jnp.sum(jnp.sin(l(x))))(identity)
    assert float(jnp.max(jnp.abs(g.rational.denominator))) > 1e-3


def test_denominator_is_at_least_one_no_poles(x64):
    # Plain Padé 1 + b(x) with b = (-2, 0, 0, 0) vanishes at x = 0.5 (a pole); the safe Q = 1 + |b(x)| >= 1.
    b = np.array([[-2.0, 0, 0, 0], [0.3, -1.5, 0.2, -0.7]])
    a = np.ones((2, 6))
    r = GroupRational(4, 2, numerator=a, denominator=b)
    xs = np.linspace(-4, 4, 8001)
    xs = np.concatenate([xs, [0.5]])
    batch = np.repeat(xs[:, None], 4, axis=1)
    q = np.asarray(jax.vmap(r.denominator_value)(batch))
    assert q.min() >= 1.0
    poly = np.stack([-2 * xs, 0.3 * xs - 1.5 * xs**2 + 0.2 * xs**3 - 0.7 * xs**4], axis=1)
    np.testing.assert_allclose(q[:, [0, 2]], 1 + np.abs(poly), rtol=1e-12)  # channels 0, 1: group 0; 2, 3: group 1
    assert np.all(np.isfinite(np.asarray(jax.vmap(r)(batch))))


@eqx.filter_jit
def _apply(blocks, xs):
    return tuple(jax.vmap(block)(xs) for block in blocks)


@pytest.fixture(scope="module")
def blocks():
    key = jr.PRNGKey(3)
    return (KATBlock(32, 4, mlp_ratio=2, groups=4, key=key), TransformerBlock(32, 4, mlp_ratio=2, key=key))


def test_blocks_are_permutation_equivariant(blocks, getkey):
    x = jr.normal(getkey(), (10, 32))
    perm = jr.permutation(getkey(), 10)
    for y, y_perm in _apply(blocks, jnp.stack([x, x[perm]])):
        assert float(jnp.max(jnp.abs(y - x))) > 0.1  # not the identity
        np.testing.assert_allclose(np.asarray(y_perm), np.asarray(y[perm]), rtol=1e-5, atol=1e-5)


def test_fresh_kat_block_is_the_gelu_mlp_block(blocks, getkey):
    # KAT's init (identity, then GELU) with weights drawn like the MLP block's from the same key: the
    # blocks differ only by the rational-vs-GELU fit error (<= 2.7e-3 on [-3, 3]).
    kat, mlp = blocks
    silu = KATBlock(32, 4, mlp_ratio=2, groups=4, init=("identity", "silu"), key=jr.PRNGKey(3))
    x = jr.normal(getkey(), (4, 10, 32))
    y_kat, y_mlp, y_silu = _apply((kat, mlp, silu), x)
    scale = float(jnp.max(jnp.abs(y_mlp - x)))
    assert float(jnp.max(jnp.abs(y_kat - y_mlp))) < 2e-2 * scale
    # ... and the comparison is sensitive: a rational started as SiLU instead is far off.
    assert float(jnp.max(jnp.abs(y_silu - y_mlp))) > 5e-2 * scale


def test_nnx_adapter_matches_equinox(getkey):
    from flax import nnx

    from jaxrep.nn.flax import GRKAN as GRKANnnx

    layer = GRKAN(16, 8, groups=4, init="silu", key=getkey())
    layer = eqx.tree_at(lambda l: l.rational.denominator, layer, layer.rational.denominator + 0.1)
    module = GRKANnnx.from_equinox(layer)
    x = jr.normal(getkey(), (2, 3, 16))
    expected = jax.vmap(jax.vmap(layer))(x)
    np.testing.assert_allclose(np.asarray(module(x)), np.asarray(expected), rtol=1e-5, atol=1e-5)
    back = module.to_equinox()
    np.testing.assert_allclose(np.asarray(jax.vmap(back)(x[0])), np.asarray(expected[0]), rtol=1e-5, atol=1e-5)
    # Built from rngs: the rational coefficients are trainable nnx.Params (what nnx.Optimizer updates).
    fresh = GRKANnnx(16, 8, groups=4, use_bias=False, rngs=nnx.Rngs(0))
    params = nnx.state(fresh, nnx.Param)
    assert {"numerator", "denominator", "weight"} <= set(params.keys()) and fresh.bias is None
    np.testing.assert_allclose(np.asarray(fresh(x[0])), np.asarray(jax.vmap(fresh.to_equinox())(x[0])), rtol=1e-5, atol=1e-5)


def test_bad_inputs_raise(getkey, blocks):
    key = getkey()
    with pytest.raises(ValueError, match="groups=3 must divide in_features=8"):
        GRKAN(8, 4, groups=3, key=key)
    with pytest.raises(ValueError, match="numerator_degree"):
        GRKAN(8, 4, numerator_degree=0, key=key)
    with pytest.raises(ValueError, match="denominator_degree"):
        GroupRational(8, denominator_degree=-1)
    with pytest.raises(ValueError, match="init must be one of"):
        GroupRational(8, init="relu")
    with pytest.raises(ValueError, match="numerator must have shape"):
        GroupRational(8, 2, numerator=np.zeros((2, 3)), denominator=np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"init\[1\]"):
        KATBlock(16, 2, groups=4, init=("identity", "tanh"), key=key)
    with pytest.raises(ValueError, match="num_heads=3 must divide dim=16"):
        KATBlock(16, 3, groups=4, key=key)
    with pytest.raises(ValueError, match="groups=3 must divide dim=16"):
        KATBlock(16, 2, groups=3, key=key)
    layer = GRKAN(8, 4, key=key)
    with pytest.raises(ValueError, match="for batches use jax.vmap"):
        layer(jnp.zeros((5, 8)))
    with pytest.raises(ValueError, match="for batches use jax.vmap"):
        blocks[1](jnp.zeros((3, 5, 32)))
