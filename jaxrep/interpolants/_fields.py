r"""Time-conditioned neural fields $f(t, x)$ built from any `jaxrep.nn` backbone, image fields and labels."""

from typing import Callable, Optional

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int


class TimeField(eqx.Module):
    r"""A field $f(t,x)=\mathrm{net}([x, \tau(t)])$ for velocities, scores and denoisers.

    $\tau(t)=(t, \cos 2\pi kt, \sin 2\pi kt)_{k=1..K}$ with $K$=`time_frequencies` (0 gives just $t$).
    The backbone `net` must map `(d + 1 + 2K,)` to `(d,)`; use `TimeField.in_size(d, K)` to size it.
    Acts on one sample; batch with `jax.vmap`.

    **Arguments:**

    - `net`: a single-sample module (e.g. `jaxrep.nn.MLP`).
    - `time_frequencies`: number $K$ of Fourier time features.
    """

    net: Callable
    time_frequencies: int = eqx.field(static=True, default=0)

    @staticmethod
    def in_size(dim: int, time_frequencies: int = 0) -> int:
        """Input width of the backbone for data dimension `dim`."""
        return dim + 1 + 2 * time_frequencies

    def __call__(self, t: Float[ArrayLike, ""], x: Float[Array, " d"]) -> Float[Array, " d"]:
        if jnp.ndim(x) != 1:
            raise ValueError(f"TimeField expects one sample x of shape (d,), got {jnp.shape(x)} "
                             "(for batches use jax.vmap)")
        t = jnp.asarray(t, dtype=x.dtype)
        if jnp.ndim(t) != 0:
            raise ValueError(f"TimeField expects a scalar t, got shape {jnp.shape(t)}")
        feats = [t[None]]
        if self.time_frequencies:
            k = jnp.arange(1, self.time_frequencies + 1, dtype=x.dtype)
            feats += [jnp.cos(2 * jnp.pi * k * t), jnp.sin(2 * jnp.pi * k * t)]
        return self.net(jnp.concatenate([x, *feats]))


def _check_label(label, name: str = "label") -> None:
    if label is not None and jnp.ndim(label) != 0:
        raise ValueError(f"{name} must be a scalar integer class label, got shape {jnp.shape(label)} "
                         "(for batches use jax.vmap)")


class ImageField(eqx.Module):
    r"""A field on flattened images, $f(t,x,y)=\mathrm{vec}\big(\mathrm{net}(t,\mathrm{unvec}(x),y)\big)$.

    The samplers, losses and likelihoods of this family act on vectors `(d,)`; an image network (e.g.
    `jaxrep.nn._unet.UNet`, channels first) acts on `(c, h, w)`. `ImageField` reshapes between the two
    ($d=chw$, row-major), so an image model is a field like any other:
    `velocity_loss(ImageField(unet, (1, 8, 8)), I, x0, x1, key=key)` with `x0, x1` of shape `(n, 64)`.

    The optional `label` (a scalar integer class) is passed on to `net(t, image, label)`; leave it
    `None` for an unconditional field (then `net(t, image)` is called). Fix a label with
    [`condition`][jaxrep.interpolants.condition] to get a plain `(t, x)` field for `sample` and
    `log_likelihood`. Acts on one sample; batch with `jax.vmap`.

    **Arguments:**

    - `net`: a single-image module `net(t, image[, label]) -> image` of shape `shape`.
    - `shape`: the image shape `(c, h, w)`.
    """

    net: Callable
    shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, net: Callable, shape: tuple[int, ...]):
        shape = tuple(int(s) for s in shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"shape must be (channels, height, width) with positive entries, got {shape}")
        self.net = net
        self.shape = shape

    @property
    def dim(self) -> int:
        """The flattened dimension $d=chw$."""
        return self.shape[0] * self.shape[1] * self.shape[2]

    def __call__(
        self, t: Float[ArrayLike, ""], x: Float[Array, " d"], label: Optional[Int[ArrayLike, ""]] = None
    ) -> Float[Array, " d"]:
        if jnp.shape(x) != (self.dim,):
            hint = " (for batches use jax.vmap)" if jnp.ndim(x) == 2 and jnp.shape(x)[-1] == self.dim else ""
            raise ValueError(f"ImageField expects one flattened image x of shape ({self.dim},) = "
                             f"prod{self.shape}, got {jnp.shape(x)}{hint}")
        if jnp.ndim(t) != 0:
            raise ValueError(f"ImageField expects a scalar t, got shape {jnp.shape(t)}")
        _check_label(label)
        image = x.reshape(self.shape)
        out = self.net(t, image) if label is None else self.net(t, image, label)
        return out.reshape(-1).astype(x.dtype)


class ConditionedField(eqx.Module):
    r"""A class-conditional field with its label fixed: $f_y(t,x)=(1+w)f(t,x,y)-w\,f(t,x,\varnothing)$.

    With guidance weight $w=0$ (default) this is just $f(t,x,y)$. With $w>0$ it is classifier-free
    guidance (Ho & Salimans, 2022): the unconditional field $f(t,x,\varnothing)$ (label `None`) must then
    have been trained too, by dropping labels during training. Made by
    [`condition`][jaxrep.interpolants.condition]; a plain `(t, x)` field for `sample`, `log_likelihood`
    and the losses.
    """

    field: Callable
    label: Int[Array, ""]
    guidance: Optional[Float[Array, ""]] = None

    def __call__(self, t: Float[ArrayLike, ""], x: Float[Array, " d"]) -> Float[Array, " d"]:
        out = self.field(t, x, self.label)
        if self.guidance is None:
            return out
        return (1 + self.guidance) * out - self.guidance * self.field(t, x, None)


def condition(field: Callable, label: Int[ArrayLike, ""], guidance: Optional[float] = None) -> ConditionedField:
    r"""Fix the class label of a conditional field `field(t, x, label)`: returns `f(t, x)`.

    Class-conditional training and likelihoods compose with the label-free functions of this family by
    vmapping over samples and their labels, e.g. the per-sample velocity loss

    ```python
    per = jax.vmap(lambda a, c, y, k: velocity_loss(condition(b, y), I, a, c, key=k))(x0, x1, y, keys)
    logp = jax.vmap(lambda x, y: log_likelihood(condition(b, y), x, I))(x1, y)   # log rho(x | y)
    ```

    and class-conditional sampling with `sample(condition(b, y), x0, I)` for one class `y`.

    **Arguments:**

    - `field`: a field `field(t, x, label)` (e.g. an [`ImageField`][jaxrep.interpolants.ImageField]).
    - `label`: a scalar integer class.
    - `guidance`: classifier-free guidance weight $w\ge0$ (None: plain conditional field, one
      evaluation; see `ConditionedField`).

    **Returns:** a `ConditionedField`.
    """
    _check_label(label)
    if guidance is not None and isinstance(guidance, (int, float)) and not guidance >= 0:
        raise ValueError(f"guidance must be >= 0 or None, got {guidance}")
    return ConditionedField(field, jnp.asarray(label, jnp.int32),
                            None if guidance is None else jnp.asarray(guidance, jnp.float32))
