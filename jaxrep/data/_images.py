r"""Images for implicit neural representations (INR), and the PSNR / SSIM metrics to score them.

Two sources, both offline: `load_image("grace_hopper")`, the photograph that ships with matplotlib's
sample data, and `test_pattern`, a generated image with sharp edges, rings of rising frequency and
smooth shading (structure at every scale, the hard case for spectrally biased networks).
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


def _block_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and area-average down to `size x size` (no resampling library needed)."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = img[top : top + side, left : left + side]
    factor = side // size
    if factor < 1:
        raise ValueError(f"size={size} exceeds the image side {side}")
    img = img[: factor * size, : factor * size]
    shape = (size, factor, size, factor) + img.shape[2:]
    return img.reshape(shape).mean(axis=(1, 3))


def load_image(
    name: Literal["grace_hopper", "test_pattern"] = "grace_hopper", size: int = 64, grayscale: bool = True
) -> Float[Array, "size size *channels"]:
    """An image with values in [0, 1].

    **Arguments:**

    - `name`: `"grace_hopper"` (matplotlib's sample photograph, read offline) or `"test_pattern"`.
    - `size`: output side length (centre crop, then area averaging).
    - `grayscale`: luminance `(size, size)` if true, else RGB `(size, size, 3)`.

    **Returns:** a float32 array.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    if name == "test_pattern":
        img = test_pattern(size)
        return img if grayscale else jnp.repeat(img[..., None], 3, axis=-1)
    if name != "grace_hopper":
        raise ValueError(f"name={name!r} is unknown; valid: 'grace_hopper', 'test_pattern'")
    import matplotlib.cbook
    import matplotlib.image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        img = np.asarray(matplotlib.image.imread(f, format="jpg"), dtype=np.float64)
    img = img[..., :3] / (255.0 if img.max() > 1 else 1.0)
    img = _block_resize(img, size)
    if grayscale:
        img = img @ np.array([0.299, 0.587, 0.114])
    return jnp.asarray(np.clip(img, 0, 1), dtype=jnp.float32)


def test_pattern(size: int = 64) -> Float[Array, "size size"]:
    r"""A structured grey test image in [0, 1]: a chirp ring pattern $\tfrac12+\tfrac12\cos(\pi r^2 s/4)$
    in one half, a checkerboard with a smooth gradient in the other, and a bright disc."""
    t = (np.arange(size) + 0.5) / size * 2 - 1
    xx, yy = np.meshgrid(t, t)
    r2 = xx**2 + yy**2
    rings = 0.5 + 0.5 * np.cos(math.pi * r2 * size / 4)
    checker = ((np.floor((xx + 1) * 4) + np.floor((yy + 1) * 4)) % 2) * 0.6 + 0.2 * (xx + 1)
    img = np.where(xx < 0, rings, checker)
    img = np.where((xx - 0.45) ** 2 + (yy + 0.45) ** 2 < 0.04, 1.0, img)
    return jnp.asarray(np.clip(img, 0, 1), dtype=jnp.float32)


def image_coordinates(image: Float[Array, "h w *c"]) -> tuple[Float[Array, "hw 2"], Float[Array, "hw c"]]:
    """Pixel-centre coordinates in $[-1, 1]^2$ (row-major, `(y, x)` order) and the pixel values.

    **Returns:** `coords` of shape `(H*W, 2)` and `values` of shape `(H*W, C)` (`C = 1` for grey).
    """
    image = jnp.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    h, w = image.shape[:2]
    ys = (jnp.arange(h) + 0.5) / h * 2 - 1
    xs = (jnp.arange(w) + 0.5) / w * 2 - 1
    yy, xx = jnp.meshgrid(ys, xs, indexing="ij")
    coords = jnp.stack([yy.ravel(), xx.ravel()], axis=-1).astype(image.dtype)
    values = image.reshape(h * w, -1)
    return coords, values


def psnr(prediction: Float[Array, "..."], target: Float[Array, "..."], data_range: float = 1.0) -> Float[Array, ""]:
    r"""Peak signal-to-noise ratio $10\log_{10}(R^2/\mathrm{MSE})$ in dB."""
    mse = jnp.mean((jnp.asarray(prediction) - jnp.asarray(target)) ** 2)
    return 10 * jnp.log10(data_range**2 / mse)


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    prediction: Float[Array, "h w *c"],
    target: Float[Array, "h w *c"],
    data_range: float = 1.0,
    window: int = 11,
    sigma: float = 1.5,
) -> Float[Array, ""]:
    r"""Structural similarity (Wang et al. 2004), mean over 'valid' Gaussian windows and channels.

    $$\mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}{(\mu_x^2+\mu_y^2+C_1)(\sigma_x^2+\sigma_y^2+C_2)},
      \quad C_1 = (0.01R)^2,\ C_2 = (0.03R)^2,$$

    with local statistics from an $11\times 11$ Gaussian window ($\sigma = 1.5$).

    **References:** Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility
    to structural similarity", IEEE TIP 2004.
    """
    x, y = jnp.asarray(prediction), jnp.asarray(target)
    if x.shape != y.shape or x.ndim not in (2, 3):
        raise ValueError(f"prediction and target must share a shape (H, W) or (H, W, C); got {x.shape}, {y.shape}")
    if min(x.shape[:2]) < window:
        raise ValueError(f"images must be at least window={window} pixels on each side, got {x.shape[:2]}")
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    g = jnp.asarray(_gaussian_window(window, sigma), dtype=x.dtype)
    kernel = jnp.outer(g, g)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def one_channel(a, b):
        filt = lambda z: jax.scipy.signal.convolve2d(z, kernel, mode="valid")
        mu_a, mu_b = filt(a), filt(b)
        var_a = filt(a * a) - mu_a**2
        var_b = filt(b * b) - mu_b**2
        cov = filt(a * b) - mu_a * mu_b
        num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
        den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        return jnp.mean(num / den)

    return jnp.mean(jax.vmap(one_channel, in_axes=(2, 2))(x, y))
