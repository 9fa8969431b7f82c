"""Fourier-KAN implicit neural representation (FKAN): a Fourier-series KAN layer, then an MLP."""

from __future__ import annotations

import math
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_positive_int, check_vector
from ._kan import KANLayer
from ._kan_basis import FourierBasis
from ._mlp import MLP


class FourierKAN(eqx.Module):
    r"""FKAN: learnable Fourier-series activations in the first layer, an MLP after it.

    $$h_j = \sigma\Big(b_j + \sum_i \sum_{k=1}^{K} a_{ijk}\cos(k\omega x_i) + b_{ijk}\sin(k\omega x_i)\Big),
      \qquad y = \mathrm{MLP}(h).$$

    Every edge of the first layer is its own learned Fourier series, so the network chooses which
    frequencies of each coordinate to use (the task-specific spectrum that fixed positional encodings
    or SIREN's single $\omega_0$ impose). Acts on one sample `(in_size,)`; vmap for batches.

    **Arguments:**

    - `in_size`, `out_size`: e.g. 2 and 1 (grey) or 3 (RGB) for images.
    - `num_frequencies`: $K$; the highest mode is $K\omega$.
    - `width_size`: width of the Fourier layer and of the MLP; `depth`: number of hidden layers in
      total (the Fourier layer counts as the first), `depth >= 1`.
    - `activation`: $\sigma$ and the MLP's hidden nonlinearity (default GELU).
    - `base_frequency`: $\omega$; the default $\pi$ gives period 2 (the length of $[-1, 1]$) for $k=1$,
      so $K$ frequencies resolve $K/2$ cycles per unit length.
    - `key`: PRNG key (keyword-only).

    **References:** Mehrabian et al., "Implicit Neural Representations with Fourier
    Kolmogorov-Arnold Networks", ICASSP 2025.
    """

    fourier_layer: KANLayer
    mlp: MLP
    activation: Callable = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        num_frequencies: int = 32,
        width_size: int = 64,
        depth: int = 3,
        activation: Callable = jax.nn.gelu,
        base_frequency: float = math.pi,
        *,
        key: PRNGKeyArray,
    ):
        check_positive_int(in_size, "in_size")
        check_positive_int(out_size, "out_size")
        check_positive_int(num_frequencies, "num_frequencies")
        check_positive_int(width_size, "width_size")
        check_positive_int(depth, "depth")
        k1, k2 = jr.split(key)
        basis = FourierBasis(in_size, num_frequencies, base_frequency=base_frequency)
        # The whole unit output variance goes through the Fourier path (no SiLU residual here).
        self.fourier_layer = KANLayer(in_size, width_size, basis, base_activation=None, key=k1)
        self.mlp = MLP(width_size, out_size, width_size, depth - 1, activation, key=k2)
        self.activation = activation
        self.in_size = in_size
        self.out_size = out_size

    def __call__(
        self, x: Float[Array, " in_size"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_size"]:
        check_vector(x, self.in_size, "x", "FourierKAN")
        return self.mlp(self.activation(self.fourier_layer(x)))
