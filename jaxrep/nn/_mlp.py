"""Multilayer perceptron, random Fourier features and SIREN (single-sample Equinox modules)."""

import functools
import math
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import check_positive
from ._checks import check_positive_int, check_vector


@functools.partial(jax.jit, static_argnums=1)
def _glorot_init(key, sizes):
    """Per layer `(weight, bias)`: weight ~ U(+-sqrt(6 / (fan_in + fan_out))) `(fan_out, fan_in)`, bias 0.

    Layer $l$ draws from `jr.split(key, L)[l]`, as a per-layer loop would."""
    keys = jr.split(key, len(sizes) - 1)
    out = []
    for k, (fan_in, fan_out) in zip(keys, zip(sizes[:-1], sizes[1:])):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        out.append((jr.uniform(k, (fan_out, fan_in), minval=-limit, maxval=limit), jnp.zeros(fan_out)))
    return tuple(out)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _siren_init(key, sizes, omega0):
    """SIREN's per-layer `(weight, bias)`, both ~ U(+-limit): 1/fan_in for the first layer, sqrt(6/fan_in)/omega0 after."""
    out = []
    for i, (k, (fan_in, fan_out)) in enumerate(zip(jr.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:]))):
        kw, kb = jr.split(k)
        limit = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / omega0
        out.append((jr.uniform(kw, (fan_out, fan_in), minval=-limit, maxval=limit),
                    jr.uniform(kb, (fan_out,), minval=-limit, maxval=limit)))
    return tuple(out)


class MLP(eqx.Module):
    r"""Fully connected network $x \mapsto W_L\sigma(\cdots\sigma(W_1x+b_1)\cdots)+b_L$.

    Acts on **one sample** of shape `(in_size,)`; batch with `jax.vmap`.

    **Arguments:**

    - `in_size`, `out_size`: input and output widths.
    - `width_size`: hidden width; `depth`: number of hidden layers (0 gives an affine map).
    - `activation`: hidden nonlinearity (default `tanh`, smooth, as PINNs need).
    - `final_activation`: applied to the output (default identity).
    - `key`: PRNG key for the Glorot-uniform initialisation (keyword-only).
    """

    layers: tuple[eqx.nn.Linear, ...]
    activation: Callable = eqx.field(static=True)
    final_activation: Callable = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        width_size: int = 64,
        depth: int = 3,
        activation: Callable = jnp.tanh,
        final_activation: Callable = lambda x: x,
        *,
        key: PRNGKeyArray,
    ):
        check_positive_int(in_size, "in_size")
        check_positive_int(out_size, "out_size")
        check_positive_int(width_size, "width_size")
        check_positive_int(depth, "depth", minimum=0)
        sizes = (in_size,) + (width_size,) * depth + (out_size,)
        # Glorot-uniform weights and zero biases (the usual PINN initialisation), all drawn by one
        # compiled program: op-by-op initialisation compiles a kernel per shape, which dominates the
        # start-up of small models.
        params = _glorot_init(key, sizes)
        layers = []
        for (fan_in, fan_out), (weight, bias) in zip(zip(sizes[:-1], sizes[1:]), params):
            # The layer's structure without drawing its default initialisation (overwritten here).
            shell = jax.eval_shape(lambda: eqx.nn.Linear(fan_in, fan_out, key=jr.PRNGKey(0)))
            layers.append(eqx.tree_at(lambda l: (l.weight, l.bias), shell, (weight, bias)))
        self.layers = tuple(layers)
        self.activation = activation
        self.final_activation = final_activation
        self.in_size = in_size
        self.out_size = out_size

    def __call__(
        self, x: Float[Array, " in_size"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_size"]:
        check_vector(x, self.in_size, "x", "MLP")
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.final_activation(self.layers[-1](x))


class FourierFeatures(eqx.Module):
    r"""Random Fourier feature embedding $\gamma(x) = [\cos(2\pi Bx), \sin(2\pi Bx)]$.

    $B \in \mathbb{R}^{m\times d}$ has i.i.d. $\mathcal N(0, \sigma^2)$ entries and is frozen
    (`jax.lax.stop_gradient`) unless `trainable=True`. Acts on one sample of shape `(in_size,)` and
    returns `(2 * num_features,)`. Use it in front of any backbone, e.g.
    `eqx.nn.Sequential([FourierFeatures(...), MLP(2 * m, ...)])`.

    **References:** Tancik et al., "Fourier Features Let Networks Learn High Frequency Functions in Low
    Dimensional Domains", NeurIPS 2020.
    """

    B: Float[Array, "num_features in_size"]
    trainable: bool = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        num_features: int = 64,
        scale: float = 1.0,
        trainable: bool = False,
        *,
        key: PRNGKeyArray,
    ):
        check_positive_int(in_size, "in_size")
        check_positive_int(num_features, "num_features")
        check_positive(scale, "scale")
        self.B = scale * jr.normal(key, (num_features, in_size))
        self.trainable = trainable
        self.in_size = in_size
        self.out_size = 2 * num_features

    def __call__(
        self, x: Float[Array, " in_size"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_size"]:
        check_vector(x, self.in_size, "x", "FourierFeatures")
        B = self.B if self.trainable else jax.lax.stop_gradient(self.B)
        proj = 2 * jnp.pi * (B @ x)
        return jnp.concatenate([jnp.cos(proj), jnp.sin(proj)])


class SIREN(eqx.Module):
    r"""Sinusoidal representation network: $h_{l+1} = \sin(\omega_0 (W_l h_l + b_l))$, linear output.

    First-layer weights ~ $U(-1/d, 1/d)$, later layers ~ $U(-\sqrt{6/n}/\omega_0, \sqrt{6/n}/\omega_0)$,
    so activations stay well distributed with depth. One sample of shape `(in_size,)`; vmap for batches.

    **References:** Sitzmann et al., "Implicit Neural Representations with Periodic Activation
    Functions", NeurIPS 2020.
    """

    layers: tuple[eqx.nn.Linear, ...]
    omega0: float = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        width_size: int = 64,
        depth: int = 3,
        omega0: float = 30.0,
        *,
        key: PRNGKeyArray,
    ):
        check_positive_int(in_size, "in_size")
        check_positive_int(out_size, "out_size")
        check_positive_int(width_size, "width_size")
        check_positive_int(depth, "depth")
        sizes = (in_size,) + (width_size,) * depth + (out_size,)
        layers = []
        for (fan_in, fan_out), (weight, bias) in zip(zip(sizes[:-1], sizes[1:]), _siren_init(key, sizes, omega0)):
            shell = jax.eval_shape(lambda: eqx.nn.Linear(fan_in, fan_out, key=jr.PRNGKey(0)))
            layers.append(eqx.tree_at(lambda l: (l.weight, l.bias), shell, (weight, bias)))
        self.layers = tuple(layers)
        self.omega0 = omega0
        self.in_size = in_size
        self.out_size = out_size

    def __call__(
        self, x: Float[Array, " in_size"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_size"]:
        check_vector(x, self.in_size, "x", "SIREN")
        for layer in self.layers[:-1]:
            x = jnp.sin(self.omega0 * layer(x))
        return self.layers[-1](x)
