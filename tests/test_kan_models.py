"""FourierKAN, image data and metrics, Flax adapters, the KAN activation plot."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jrandom
import numpy as np
import optax
import pytest

import jaxrep as jr


def test_fourier_kan_first_layer_is_a_fourier_series(getkey):
    model = jr.nn.FourierKAN(2, 1, num_frequencies=4, width_size=8, depth=2, key=getkey())
    layer = model.fourier_layer
    x = jnp.asarray([0.3, -0.7])
    w = np.pi
    c = np.asarray(layer.coeffs)  # (in, 2K, out): cosines then sines
    expected = np.asarray(layer.bias).copy()
    for i in range(2):
        for k in range(1, 5):
            expected += c[i, k - 1] * np.cos(k * w * float(x[i])) + c[i, 4 + k - 1] * np.sin(k * w * float(x[i]))
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)
    y = jax.jit(jax.vmap(model))(jrandom.uniform(getkey(), (16, 2), minval=-1, maxval=1))
    assert y.shape == (16, 1)
    g = eqx.filter_grad(lambda m: jnp.sum(m(x) ** 2))(model)
    assert float(jnp.abs(g.fourier_layer.coeffs).sum()) > 0
    with pytest.raises(ValueError, match="x"):
        model(jnp.zeros(3))
    with pytest.raises(ValueError, match="num_frequencies"):
        jr.nn.FourierKAN(2, 1, num_frequencies=0, key=getkey())


def test_build_model_fourier_kan(getkey):
    from jaxrep.config import ModelConfig

    m = jr.nn.build_model(ModelConfig(kind="fourier_kan", grid_size=6, width_size=8, depth=2), 2, 3, key=getkey())
    assert isinstance(m, jr.nn.FourierKAN) and m(jnp.zeros(2)).shape == (3,)


def test_psnr_ssim_closed_forms():
    a = jnp.full((16, 16), 0.3)
    b = jnp.full((16, 16), 0.5)
    c1 = 0.01**2
    # constant images: zero variances, so SSIM reduces to the luminance term
    np.testing.assert_allclose(jr.data.ssim(a, b), (2 * 0.3 * 0.5 + c1) / (0.09 + 0.25 + c1), rtol=1e-5)
    img = jr.data.test_pattern(32)
    np.testing.assert_allclose(jr.data.ssim(img, img), 1.0, rtol=1e-6)
    np.testing.assert_allclose(jr.data.psnr(a, b), -10 * np.log10(0.04), rtol=1e-5)
    # SSIM is invariant to nothing trivial: contrast inversion of a textured image is strongly penalised
    assert float(jr.data.ssim(img, 1 - img)) < 0.0
    with pytest.raises(ValueError, match="shape"):
        jr.data.ssim(img, img[:-1])


def test_images_and_coordinates():
    photo = jr.data.load_image("grace_hopper", size=32)
    assert photo.shape == (32, 32) and 0 <= float(photo.min()) < float(photo.max()) <= 1
    rgb = jr.data.load_image("grace_hopper", size=16, grayscale=False)
    np.testing.assert_allclose(rgb @ jnp.asarray([0.299, 0.587, 0.114]),
                               jr.data.load_image("grace_hopper", size=16), atol=1e-5)
    coords, values = jr.data.image_coordinates(photo)
    assert coords.shape == (1024, 2) and values.shape == (1024, 1)
    np.testing.assert_allclose(coords[0], [-1 + 1 / 32, -1 + 1 / 32])
    np.testing.assert_allclose(values[33, 0], photo[1, 1])  # row-major (y, x)
    with pytest.raises(ValueError, match="name"):
        jr.data.load_image("lena")


BASES = ["bspline", "rbf", "fourier", "chebyshev", "legendre", "rational"]


@pytest.mark.parametrize("basis", BASES)
def test_flax_adapter_matches_equinox(getkey, basis):
    from flax import nnx

    eqx_kan = jr.nn.KAN([3, 4, 2], basis, key=getkey())
    flax_kan = jr.nn.flax.KAN.from_equinox(eqx_kan)
    x = jrandom.normal(getkey(), (6, 3))
    np.testing.assert_array_equal(np.asarray(flax_kan(x)), np.asarray(jax.vmap(eqx_kan)(x)))
    # same gradients for the same coefficients
    g_flax = nnx.grad(lambda m: jnp.mean(m(x) ** 2))(flax_kan)
    g_eqx = eqx.filter_grad(lambda m: jnp.mean(jax.vmap(m)(x) ** 2))(eqx_kan)
    np.testing.assert_allclose(g_flax["layers"][0]["coeffs"][...], g_eqx.layers[0].coeffs, rtol=1e-5, atol=1e-6)
    # round trip
    back = flax_kan.to_equinox()
    np.testing.assert_array_equal(np.asarray(jax.vmap(back)(x)), np.asarray(jax.vmap(eqx_kan)(x)))


def test_flax_layer_trains_with_nnx_optimizer_and_keeps_grid():
    from flax import nnx

    layer = jr.nn.flax.KANLayer(2, 1, rngs=nnx.Rngs(0))
    grid_before = np.asarray(layer.basis_state[0][...])
    x = jnp.linspace(-1, 1, 64)[:, None] * jnp.ones(2)
    y = jnp.sin(3 * x[:, :1])
    opt = nnx.Optimizer(layer, optax.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def step(layer, opt):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(layer)
        opt.update(layer, grads)
        return loss

    first = float(step(layer, opt))
    for _ in range(50):
        last = float(step(layer, opt))
    assert last < 0.5 * first
    np.testing.assert_array_equal(np.asarray(layer.basis_state[0][...]), grid_before)
    assert layer(jnp.zeros((4, 5, 2))).shape == (4, 5, 1)
    with pytest.raises(ValueError, match="x"):
        layer(jnp.zeros((4, 3)))


def test_plot_kan_draws_every_edge(getkey):
    kan = jr.nn.KAN([2, 3, 1], key=getkey())
    fig = jr.plot.kan(kan, jrandom.uniform(getkey(), (50, 2), minval=-1, maxval=1))
    n_axes = len([ax for ax in fig.get_axes() if ax.lines])
    assert n_axes == 2 * 3 + 3 * 1
    import matplotlib.pyplot as plt

    plt.close(fig)
