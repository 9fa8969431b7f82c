"""The image U-Net: shapes for 8x8 / 28x28 / 32x32, conditioning, zero output init, jit/vmap, parameter count."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxrep.nn._unet import UNet, sinusoidal_embedding

# One small conditional net shared by the tests (compiled once).
C, MULTS, K, GROUPS = 4, (1, 2), 10, 2


@pytest.fixture(scope="module")
def net():
    # built under jit: one compiled program instead of hundreds of eager initialisation ops
    return eqx.filter_jit(lambda k: UNet(1, hidden_channels=C, channel_mults=MULTS, num_classes=K, groups=GROUPS,
                                         zero_init=False, key=k))(jr.PRNGKey(0))


@eqx.filter_jit
def apply(model, t, x, label):
    return model(t, x, label)


@pytest.fixture(scope="module")
def images():
    return jr.normal(jr.PRNGKey(1), (3, 1, 8, 8))


def n_params(model) -> int:
    leaves = jax.tree_util.tree_leaves(model)
    return sum(int(np.prod(a.shape)) for a in leaves if isinstance(a, (jax.Array, jax.ShapeDtypeStruct)))


def expected_params(cin, cout, c, mults, nrb, classes, emb=None):
    """The architecture in the UNet docstring, counted by hand."""
    emb = emb or 4 * c
    conv = lambda k, i, o: k * k * i * o + o
    lin = lambda i, o: i * o + o
    gn = lambda ch: 2 * ch

    def res(i, o):
        return gn(i) + conv(3, i, o) + lin(emb, o) + gn(o) + conv(3, o, o) + (conv(1, i, o) if i != o else 0)

    widths = [c * m for m in mults]
    total = 2 * lin(emb, emb) + (0 if classes is None else (classes + 1) * emb) + conv(3, cin, widths[0])
    ch = widths[0]
    for i, w in enumerate(widths):  # encoder
        for _ in range(nrb):
            total += res(ch, w)
            ch = w
        if i < len(widths) - 1:
            total += conv(3, ch, ch)  # stride-2 downsampling
    total += 2 * res(ch, ch)  # middle
    for i in reversed(range(len(widths))):  # decoder: the first block sees the concatenated skip
        w = widths[i]
        total += res(ch + w, w) + (nrb - 1) * res(w, w)
        ch = w
        if i > 0:
            total += conv(3, ch, widths[i - 1])  # upsampling convolution
            ch = widths[i - 1]
    return total + gn(ch) + conv(3, ch, cout)


@pytest.mark.parametrize("cin,cout,c,mults,nrb,classes", [
    (1, 1, 4, (1, 2), 1, 10),
    (3, 2, 8, (1, 2, 4), 2, None),
])
def test_parameter_count(cin, cout, c, mults, nrb, classes):
    model = eqx.filter_eval_shape(lambda k: UNet(cin, cout, hidden_channels=c, channel_mults=mults,
                                                 num_res_blocks=nrb, num_classes=classes, groups=2, key=k),
                                  jr.PRNGKey(0))  # shapes only: no weights drawn
    assert n_params(model) == expected_params(cin, cout, c, mults, nrb, classes)


# 28x28 and 32x32 take the same code path as 8x8 at 2-3x the compile time: `make test-all` runs them.
@pytest.mark.parametrize("cin,cout,side,mults", [
    (1, 1, 8, (1, 2)),
    pytest.param(1, 2, 28, (1, 2, 2), marks=pytest.mark.slow),
    pytest.param(3, 3, 32, (1, 1, 2, 2), marks=pytest.mark.slow),
])
def test_output_shape_and_dtype(cin, cout, side, mults):
    x = jr.normal(jr.PRNGKey(3), (cin, side, side))

    @jax.jit
    def build_and_call(key, x):  # one compiled program instead of hundreds of eager ops
        model = UNet(cin, cout, hidden_channels=4, channel_mults=mults, groups=2, zero_init=False, key=key)
        return model(0.5, x)

    out = build_and_call(jr.PRNGKey(2), x)
    assert out.shape == (cout, side, side) and out.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(out))) and float(jnp.std(out)) > 0


def test_zero_init_gives_zero_field(net, images):
    shapes = eqx.filter_eval_shape(lambda k: UNet(1, hidden_channels=C, channel_mults=MULTS, num_classes=K,
                                                  groups=GROUPS, key=k), jr.PRNGKey(0))
    w = eqx.filter_jit(lambda k: UNet(1, hidden_channels=C, channel_mults=MULTS, num_classes=K, groups=GROUPS,
                                      key=k).conv_out)(jr.PRNGKey(0))
    assert shapes.conv_out.weight.shape == w.weight.shape
    assert float(jnp.max(jnp.abs(w.weight))) == 0.0 and float(jnp.max(jnp.abs(w.bias))) == 0.0
    # the same network with that zero output layer is exactly the zero field, for any t, x, label
    model = eqx.tree_at(lambda m: m.conv_out, net, w)
    for t, lab in ((0.0, None), (0.7, 3)):
        assert float(jnp.max(jnp.abs(apply(model, t, images[0], lab)))) == 0.0
    # ... but its gradient is not zero: the output layer learns first
    g = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(m(0.3, images[0], 1) * images[0])))(model)
    assert float(jnp.max(jnp.abs(g.conv_out.weight))) > 0


def test_time_and_label_conditioning(net, images):
    x = images[0]
    a, b = apply(net, 0.1, x, 3), apply(net, 0.9, x, 3)
    assert float(jnp.max(jnp.abs(a - b))) > 1e-4 * float(jnp.max(jnp.abs(a)))
    c = apply(net, 0.1, x, 5)
    assert float(jnp.max(jnp.abs(a - c))) > 1e-4 * float(jnp.max(jnp.abs(a)))
    # label None uses the "no label" row num_classes of the embedding
    np.testing.assert_allclose(apply(net, 0.1, x, None), apply(net, 0.1, x, K), rtol=1e-6, atol=1e-7)
    # the conditioning enters only through the embedding vector e(t, y)
    e = net.embed(0.1, 3)
    assert e.shape == (4 * C,)


def test_jit_vmap_match_single_calls(net, images):
    ts = jnp.array([0.0, 0.4, 1.0])
    labels = jnp.array([0, 4, 9])
    batched = eqx.filter_jit(jax.vmap(net))(ts, images, labels)
    for i in range(3):
        np.testing.assert_allclose(batched[i], apply(net, ts[i], images[i], labels[i]), rtol=1e-5, atol=1e-6)


def test_skip_connections_reach_every_pixel(net, images):
    """Each output pixel depends on the input pixel it sits on (the full-resolution skip path)."""
    x = images[0]
    jac = eqx.filter_jit(lambda m, v: jax.jacfwd(lambda v: m(0.5, v.reshape(1, 8, 8), 2).ravel())(v))(net, x.ravel())
    assert jac.shape == (64, 64)
    assert float(jnp.min(jnp.abs(jnp.diag(jac)))) > 0


def test_sinusoidal_embedding_closed_form():
    t, dim, s = 0.37, 8, 1000.0
    k = np.arange(4)
    w = np.exp(-math.log(10000.0) * k / 3)
    expected = np.concatenate([np.sin(s * t * w), np.cos(s * t * w)])
    np.testing.assert_allclose(sinusoidal_embedding(t, dim, scale=s), expected, atol=1e-4)  # float32 at |arg|~370
    np.testing.assert_allclose(sinusoidal_embedding(0.0, dim), np.r_[np.zeros(4), np.ones(4)])


def test_bad_input(net):
    key = jr.PRNGKey(0)
    with pytest.raises(ValueError, match="hidden_channels must be an integer >= 1"):
        UNet(1, hidden_channels=0, key=key)
    with pytest.raises(ValueError, match="in_channels must be an integer >= 1"):
        UNet(-1, key=key)
    with pytest.raises(ValueError, match="groups=3 must divide"):
        UNet(1, hidden_channels=8, groups=3, key=key)
    with pytest.raises(ValueError, match="channel_mults must be"):
        UNet(1, channel_mults=(), key=key)
    with pytest.raises(ValueError, match=r"divisible by 2\^\(levels-1\)=2 .* got 7x7"):
        net(0.5, jnp.zeros((1, 7, 7)))
    with pytest.raises(ValueError, match=r"in_channels=1.*for batches use jax.vmap"):
        net(0.5, jnp.zeros((4, 1, 8, 8)))
    with pytest.raises(ValueError, match="scalar t"):
        net(jnp.zeros(2), jnp.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="label was given"):
        eqx.filter_jit(lambda k: UNet(1, hidden_channels=4, groups=2, key=k)(0.5, jnp.zeros((1, 8, 8)), 3))(key)
