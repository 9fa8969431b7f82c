r"""A small U-Net for image-valued fields $f(t, x, y)$: velocities, scores and denoisers of images.

Channels-first, one sample at a time (the Equinox convention of `eqx.nn.Conv2d`): an image is
`(channels, height, width)`; batch with `jax.vmap`.
"""

import math
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._validate import check_positive
from ._checks import check_positive_int


def sinusoidal_embedding(t: Float[ArrayLike, ""], dim: int, *, scale: float = 1000.0) -> Float[Array, " dim"]:
    r"""Transformer-style sinusoidal embedding of a scalar time, $[\sin(s t\omega_k), \cos(s t\omega_k)]_{k<d/2}$.

    $\omega_k=10000^{-k/(d/2-1)}$ spans the periods $2\pi/s$ to $2\pi\cdot10^4/s$; the default
    $s=1000$ resolves $t\in[0,1]$ as finely as a 1000-step diffusion schedule.

    **Arguments:** `t` a scalar; `dim` an even width >= 4; `scale` the factor $s$.

    **Returns:** shape `(dim,)`.
    """
    if dim % 2 or dim < 4:
        raise ValueError(f"dim must be an even integer >= 4, got {dim!r}")
    half = dim // 2
    t = jnp.asarray(t)
    dtype = t.dtype if jnp.issubdtype(t.dtype, jnp.floating) else jnp.result_type(float)
    freqs = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=dtype) / (half - 1))
    arg = scale * t.astype(dtype) * freqs
    return jnp.concatenate([jnp.sin(arg), jnp.cos(arg)])


class ResBlock(eqx.Module):
    r"""Residual block $x\mapsto S x + \mathrm{Conv}(\sigma(\mathrm{GN}(\mathrm{Conv}(\sigma(\mathrm{GN}(x)))+We)))$.

    GroupNorm, SiLU, 3x3 convolution; the conditioning vector $e$ (time and label embedding) is added
    per channel after the first convolution; $S$ is a 1x1 convolution when the width changes, else the
    identity. Acts on one `(in_channels, h, w)` image.
    """

    norm1: eqx.nn.GroupNorm
    conv1: eqx.nn.Conv2d
    emb: eqx.nn.Linear
    norm2: eqx.nn.GroupNorm
    conv2: eqx.nn.Conv2d
    skip: Optional[eqx.nn.Conv2d]

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, groups: int, *, key: PRNGKeyArray):
        k1, k2, k3, k4 = jr.split(key, 4)
        self.norm1 = eqx.nn.GroupNorm(groups, in_channels)
        self.conv1 = eqx.nn.Conv2d(in_channels, out_channels, 3, padding=1, key=k1)
        self.emb = eqx.nn.Linear(emb_dim, out_channels, key=k2)
        self.norm2 = eqx.nn.GroupNorm(groups, out_channels)
        self.conv2 = eqx.nn.Conv2d(out_channels, out_channels, 3, padding=1, key=k3)
        self.skip = None if in_channels == out_channels else eqx.nn.Conv2d(in_channels, out_channels, 1, key=k4)

    def __call__(self, x: Float[Array, "c h w"], e: Float[Array, " e"]) -> Float[Array, "c2 h w"]:
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = h + self.emb(jax.nn.silu(e))[:, None, None]
        h = self.conv2(jax.nn.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class UNet(eqx.Module):
    r"""A small U-Net $f(t, x, y)$ on images, conditioned on a time $t$ and optionally a class label $y$.

    The time enters through a sinusoidal embedding followed by a two-layer SiLU MLP,
    $e=W_2\,\sigma(W_1\,\mathrm{sin\_emb}(t))$; a class label adds a learned embedding, $e\mathrel{+}=E_y$.
    Every residual block (GroupNorm, SiLU, 3x3 convolutions) receives $e$. The encoder has one level
    per entry of `channel_mults` (width `hidden_channels * mult`, `num_res_blocks` residual blocks),
    halving the resolution between levels with a stride-2 convolution; a middle of two residual blocks;
    the decoder mirrors the encoder, doubling the resolution (nearest neighbour + 3x3 convolution) and
    concatenating the encoder's output of the same level (the skip connection) before its blocks. With
    $L$=`len(channel_mults)` levels there are $L-1$ halvings, so the image side must be divisible by
    $2^{L-1}$ (8x8 with $L\le4$, 28x28 with $L\le3$, 32x32 with $L\le6$).

    The output convolution is zero-initialised by default (`zero_init=True`), so an untrained field is
    exactly $f\equiv0$: a neutral start for a velocity, score or denoiser.

    With `num_classes=K` the label embedding has $K+1$ rows: labels $0..K-1$, and the "no label" row
    $K$, used when `label=None` (unconditional use of a conditional net, e.g. for classifier-free
    guidance).

    Acts on **one image** `(in_channels, height, width)` (channels first, as `eqx.nn.Conv2d`); batch
    with `jax.vmap`.

    **Arguments:**

    - `in_channels`, `out_channels`: image channels in and out (out defaults to in).
    - `hidden_channels`: width $C$ of the first level.
    - `channel_mults`: width multipliers per level, e.g. `(1, 2)`: levels of width $C$ and $2C$.
    - `num_res_blocks`: residual blocks per level (encoder and decoder each).
    - `num_classes`: number of class labels for a class-conditional field (None: unconditional).
    - `emb_dim`: width of the time/label embedding (default $4C$).
    - `groups`: GroupNorm groups; must divide every level width.
    - `time_scale`: the factor $s$ of `sinusoidal_embedding`.
    - `zero_init`: zero-initialise the output convolution.
    - `key`: PRNG key (keyword-only).

    **References:** O. Ronneberger, P. Fischer, T. Brox, "U-Net" (2015); J. Ho, A. Jain, P. Abbeel,
    "Denoising Diffusion Probabilistic Models" (2020) for the time-conditioned residual U-Net.
    """

    time_mlp: tuple[eqx.nn.Linear, eqx.nn.Linear]
    label_emb: Optional[eqx.nn.Embedding]
    conv_in: eqx.nn.Conv2d
    down_blocks: tuple[tuple[ResBlock, ...], ...]
    downsample: tuple[eqx.nn.Conv2d, ...]
    mid: tuple[ResBlock, ResBlock]
    upsample: tuple[eqx.nn.Conv2d, ...]
    up_blocks: tuple[tuple[ResBlock, ...], ...]
    norm_out: eqx.nn.GroupNorm
    conv_out: eqx.nn.Conv2d
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    channels: tuple[int, ...] = eqx.field(static=True)
    num_classes: Optional[int] = eqx.field(static=True)
    time_scale: float = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: Optional[int] = None,
        hidden_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2),
        num_res_blocks: int = 1,
        num_classes: Optional[int] = None,
        emb_dim: Optional[int] = None,
        groups: int = 8,
        time_scale: float = 1000.0,
        zero_init: bool = True,
        *,
        key: PRNGKeyArray,
    ):
        out_channels = in_channels if out_channels is None else out_channels
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_positive_int(hidden_channels, "hidden_channels")
        check_positive_int(num_res_blocks, "num_res_blocks")
        check_positive_int(groups, "groups")
        if num_classes is not None:
            check_positive_int(num_classes, "num_classes")
        emb_dim = 4 * hidden_channels if emb_dim is None else emb_dim
        check_positive_int(emb_dim, "emb_dim", minimum=4)
        if emb_dim % 2:
            raise ValueError(f"emb_dim must be even (sin/cos pairs), got {emb_dim}")
        mults = tuple(channel_mults)
        if not mults or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in mults):
            raise ValueError(f"channel_mults must be a non-empty sequence of integers >= 1, got {channel_mults!r}")
        channels = tuple(hidden_channels * m for m in mults)
        bad = [c for c in channels if c % groups]
        if bad:
            raise ValueError(f"groups={groups} must divide every level width hidden_channels*channel_mults="
                             f"{list(channels)} (fails for {bad})")
        check_positive(time_scale, "time_scale")
        keys = iter(jr.split(key, 8 + 4 * len(channels) * (num_res_blocks + 2)))

        self.time_mlp = (eqx.nn.Linear(emb_dim, emb_dim, key=next(keys)),
                         eqx.nn.Linear(emb_dim, emb_dim, key=next(keys)))
        self.label_emb = (None if num_classes is None
                          else eqx.nn.Embedding(num_classes + 1, emb_dim, key=next(keys)))
        self.conv_in = eqx.nn.Conv2d(in_channels, channels[0], 3, padding=1, key=next(keys))
        down, downsample = [], []
        c = channels[0]
        for i, ch in enumerate(channels):
            blocks = []
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(c, ch, emb_dim, groups, key=next(keys)))
                c = ch
            down.append(tuple(blocks))
            if i < len(channels) - 1:
                downsample.append(eqx.nn.Conv2d(c, c, 3, stride=2, padding=1, key=next(keys)))
        self.down_blocks = tuple(down)
        self.downsample = tuple(downsample)
        self.mid = (ResBlock(c, c, emb_dim, groups, key=next(keys)), ResBlock(c, c, emb_dim, groups, key=next(keys)))
        up, upsample = [], []
        for i in reversed(range(len(channels))):
            ch = channels[i]
            blocks = [ResBlock(c + ch, ch, emb_dim, groups, key=next(keys))]  # after concatenating the skip
            blocks += [ResBlock(ch, ch, emb_dim, groups, key=next(keys)) for _ in range(num_res_blocks - 1)]
            c = ch
            up.append(tuple(blocks))
            if i > 0:
                upsample.append(eqx.nn.Conv2d(c, channels[i - 1], 3, padding=1, key=next(keys)))
                c = channels[i - 1]
        self.up_blocks = tuple(up)
        self.upsample = tuple(upsample)
        self.norm_out = eqx.nn.GroupNorm(groups, c)
        conv_out = eqx.nn.Conv2d(c, out_channels, 3, padding=1, key=next(keys))
        if zero_init:
            conv_out = eqx.tree_at(lambda m: (m.weight, m.bias), conv_out,
                                   (jnp.zeros_like(conv_out.weight), jnp.zeros_like(conv_out.bias)))
        self.conv_out = conv_out
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.channels = channels
        self.num_classes = num_classes
        self.time_scale = float(time_scale)

    @property
    def levels(self) -> int:
        """Number of resolutions ($L$): the image side must be divisible by $2^{L-1}$."""
        return len(self.channels)

    def embed(self, t: Float[ArrayLike, ""], label: Optional[Int[ArrayLike, ""]] = None) -> Float[Array, " e"]:
        r"""The conditioning vector $e(t, y)$ that every residual block receives."""
        w1, w2 = self.time_mlp
        dtype = w1.weight.dtype
        e = w2(jax.nn.silu(w1(sinusoidal_embedding(jnp.asarray(t, dtype), w1.in_features,
                                                   scale=self.time_scale))))
        if self.label_emb is not None:
            idx = self.num_classes if label is None else jnp.asarray(label, jnp.int32)
            e = e + self.label_emb(idx)
        elif label is not None:
            raise ValueError("label was given, but this UNet is unconditional (num_classes=None)")
        return e

    def __call__(
        self,
        t: Float[ArrayLike, ""],
        x: Float[Array, "c h w"],
        label: Optional[Int[ArrayLike, ""]] = None,
        *,
        key: Optional[PRNGKeyArray] = None,
    ) -> Float[Array, "c_out h w"]:
        """$f(t, x, y)$ for one image `x` of shape `(in_channels, h, w)`, a scalar `t` and an optional
        integer `label` in `[0, num_classes)`; returns `(out_channels, h, w)`."""
        self.check_image_shape(jnp.shape(x))
        if jnp.ndim(t) != 0:
            raise ValueError(f"UNet expects a scalar t, got shape {jnp.shape(t)} (for batches use jax.vmap)")
        if label is not None and jnp.ndim(label) != 0:
            raise ValueError(f"UNet expects a scalar integer label, got shape {jnp.shape(label)} "
                             "(for batches use jax.vmap)")
        e = self.embed(t, label)
        h = self.conv_in(x)
        skips = []
        for i, blocks in enumerate(self.down_blocks):
            for block in blocks:
                h = block(h, e)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        for block in self.mid:
            h = block(h, e)
        for j, blocks in enumerate(self.up_blocks):
            h = jnp.concatenate([h, skips.pop()], axis=0)
            for block in blocks:
                h = block(h, e)
            if j < len(self.upsample):
                h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)  # nearest-neighbour upsampling
                h = self.upsample[j](h)
        return self.conv_out(jax.nn.silu(self.norm_out(h)))

    def check_image_shape(self, shape: tuple[int, ...]) -> None:
        """`ValueError` unless `shape` is `(in_channels, h, w)` with `h`, `w` divisible by $2^{L-1}$."""
        shape = tuple(shape)
        if len(shape) != 3 or shape[0] != self.in_channels:
            hint = " (for batches use jax.vmap)" if len(shape) == 4 and shape[1] == self.in_channels else ""
            raise ValueError(f"UNet expects x of shape (in_channels={self.in_channels}, height, width), "
                             f"got shape {shape}{hint}")
        factor = 2 ** (self.levels - 1)
        if shape[1] % factor or shape[2] % factor:
            raise ValueError(f"x's height and width must be divisible by 2^(levels-1)={factor} for a UNet "
                             f"with {self.levels} levels, got {shape[1]}x{shape[2]}")
