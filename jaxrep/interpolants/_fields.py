r"""Time-conditioned neural fields $f(t, x)$ built from any `jaxrep.nn` backbone."""

from typing import Callable

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


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
