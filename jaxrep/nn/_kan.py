r"""Kolmogorov–Arnold layers and networks (single-sample Equinox modules)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_positive_int, check_vector
from ._kan_basis import AbstractBasis, resolve_basis

BasisLike = Union[str, AbstractBasis, type]


class KANLayer(eqx.Module):
    r"""One Kolmogorov–Arnold layer: a learnable 1-D function on every edge $i \to j$.

    $$y_j = b_j + \sum_{i=1}^{n} \Big[w_{ij}\,\sigma(x_i) + \sum_{k=1}^{K} c_{ijk}\,B_k(x_i)\Big],
      \qquad \sigma = \mathrm{SiLU}.$$

    It is evaluated as one basis expansion $B(x)\in\mathbb R^{n\times K}$ followed by a single
    contraction with the coefficient tensor $c\in\mathbb R^{n\times K\times m}$ (a matmul of the
    flattened $(nK,)$ features); no per-edge $(n, m)$ tensor is formed in the forward pass, and under
    `jax.vmap` the contraction is one $(B, nK)\times(nK, m)$ GEMM. On a uniform grid (the default, see
    `BSplineBasis.uniform`) the B-spline expansion is the closed-form fast path (cell index and the
    $k+1$ cardinal pieces, no Cox–de Boor ladder), and the Fourier expansion is one fused pass, so a
    forward+backward step costs little more than that GEMM (`benchmarks/kan_throughput.py`).

    Initialisation is variance-preserving: for $x_i\sim\mathcal N(0,1)$ the output has second moment
    $\approx 1$, half from the SiLU path and half from the basis path, so deep KANs train.

    Acts on **one sample** of shape `(in_features,)`; batch with `jax.vmap`.

    **Arguments:**

    - `in_features`, `out_features`: $n$ and $m$.
    - `basis`: `"bspline"` (default), `"rbf"`, `"fourier"`, `"chebyshev"`, `"legendre"`, `"rational"`, a
      subclass of `jr.nn.AbstractBasis`, or a basis instance with `in_features` inputs.
    - `grid_size`: $G \ge 1$ (number of grid cells; see `AbstractBasis` for each family).
    - `order`: $k \ge 0$ (spline degree; 3 gives $C^2$ splines, smooth enough for second-order PDEs).
    - `grid_range`: initial grid interval `(lo, hi)`; use `jr.nn.update_grid` to move it to the data.
    - `base_activation`: $\sigma$ of the residual path, or `None` to drop it.
    - `key`: PRNG key (keyword-only).

    **References:** Liu et al., "KAN: Kolmogorov-Arnold Networks", ICLR 2025.
    """

    basis: AbstractBasis
    coeffs: Float[Array, "in_features num_basis out_features"]
    base_weight: Optional[Float[Array, "in_features out_features"]]
    bias: Float[Array, " out_features"]
    base_activation: Optional[Callable] = eqx.field(static=True)
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        basis: BasisLike = "bspline",
        grid_size: int = 5,
        order: int = 3,
        *,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base_activation: Optional[Callable] = jax.nn.silu,
        key: PRNGKeyArray,
    ):
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        check_positive_int(grid_size, "grid_size")
        check_positive_int(order, "order", minimum=0)
        self.basis = resolve_basis(basis, in_features, grid_size, order, grid_range)
        # Split the unit output variance between the two paths (all of it to the basis without SiLU).
        spline_var = 0.5 if base_activation is not None else 1.0
        base_std = None
        if base_activation is not None:
            nodes, weights = _gauss_hermite()
            m2 = float(weights @ (_silu_np_like(base_activation, nodes) ** 2))
            base_std = (0.5 / (in_features * max(m2, 1e-12))) ** 0.5
        self.coeffs, self.base_weight, self.bias = _init_params(
            self.basis, out_features, spline_var**0.5, base_std, key
        )
        self.base_activation = base_activation
        self.in_features = in_features
        self.out_features = out_features

    def __check_init__(self):
        expected = (self.in_features, self.basis.num_basis, self.out_features)
        if self.coeffs.shape != expected:
            raise ValueError(f"coeffs must have shape {expected}, got {self.coeffs.shape}")

    def __call__(
        self, x: Float[Array, " in_features"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_features"]:
        check_vector(x, self.in_features, "x", "KANLayer")
        phi = self.basis(x)  # (in, K)
        y = phi.reshape(-1) @ self.coeffs.reshape(-1, self.out_features) + self.bias
        if self.base_activation is not None:
            y = y + self.base_activation(x) @ self.base_weight
        return y

    def spline_values(self, x: Float[Array, " in_features"]) -> Float[Array, "in_features out_features"]:
        r"""Basis part of every edge, $\sum_k c_{ijk}B_k(x_i)$, shape `(in_features, out_features)`."""
        check_vector(x, self.in_features, "x", "KANLayer.spline_values")
        return jnp.einsum("ik,iko->io", self.basis(x), self.coeffs)

    def edge_values(self, x: Float[Array, " in_features"]) -> Float[Array, "in_features out_features"]:
        r"""Every edge's activation $\phi_{ij}(x_i) = w_{ij}\sigma(x_i) + \sum_k c_{ijk}B_k(x_i)$.

        $y = b + \sum_i \phi_{i\cdot}(x_i)$. Used by regularisation, pruning and plotting (it forms the
        per-edge tensor that the forward pass avoids).
        """
        values = self.spline_values(x)
        if self.base_activation is not None:
            values = values + self.base_activation(x)[:, None] * self.base_weight
        return values

    @property
    def num_basis(self) -> int:
        return self.basis.num_basis


@eqx.filter_jit
def _init_params(basis, out_features, spline_std, base_std, key):
    """Coefficients, SiLU-path weights (`None` without it) and zero bias, drawn by one compiled program:
    op-by-op initialisation compiles a kernel per shape, which dominates building a small KAN."""
    k_coef, k_base = jr.split(key)
    coeffs = basis.init_coefficients(out_features, spline_std, key=k_coef)
    dtype = coeffs.dtype
    base_weight = None
    if base_std is not None:
        base_weight = base_std * jr.normal(k_base, (basis.in_features, out_features), dtype)
    return coeffs, base_weight, jnp.zeros((out_features,), dtype)


def _gauss_hermite():
    import numpy as np

    nodes, weights = np.polynomial.hermite_e.hermegauss(48)
    return nodes, weights / weights.sum()


def _silu_np_like(fn, nodes):
    import numpy as np

    return np.asarray(fn(jnp.asarray(nodes)), dtype=float)


class KAN(eqx.Module):
    r"""A Kolmogorov–Arnold network: a stack of `KANLayer`s of widths `[n_0, n_1, ..., n_L]`.

    $$\mathrm{KAN}(x) = (\Phi_{L-1}\circ\cdots\circ\Phi_0)(x),\qquad
      \Phi_l(x)_j = b_{l,j} + \sum_i \phi_{l,ij}(x_i).$$

    Acts on **one sample** of shape `(n_0,)`; batch with `jax.vmap`. Grids adapt to data with
    `jr.nn.update_grid`, extend with `jr.nn.refine_grid`; `jr.nn.kan_regularization` and `jr.nn.prune`
    give the paper's sparsification.

    **Arguments:**

    - `widths`: layer widths, at least two entries (`[2, 5, 1]` is the paper's showcase).
    - `basis`, `grid_size`, `order`, `grid_range`, `base_activation`: as for `KANLayer` (shared by all
      layers).
    - `key`: PRNG key (keyword-only).

    **References:** Liu et al., "KAN: Kolmogorov-Arnold Networks", ICLR 2025.
    """

    layers: tuple[KANLayer, ...]

    def __init__(
        self,
        widths: Sequence[int],
        basis: Union[str, type] = "bspline",
        grid_size: int = 5,
        order: int = 3,
        *,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base_activation: Optional[Callable] = jax.nn.silu,
        key: PRNGKeyArray,
    ):
        widths = list(widths)
        if len(widths) < 2:
            raise ValueError(f"widths must list at least an input and an output width, got {widths!r}")
        for i, w in enumerate(widths):
            check_positive_int(w, f"widths[{i}]")
        if isinstance(basis, AbstractBasis):
            raise TypeError("KAN takes a basis name or class; build KANLayers to pass basis instances")
        keys = jr.split(key, len(widths) - 1)
        self.layers = tuple(
            KANLayer(n_in, n_out, basis, grid_size, order, grid_range=grid_range,
                     base_activation=base_activation, key=k)
            for k, n_in, n_out in zip(keys, widths[:-1], widths[1:])
        )

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.layers[0].in_features, *(layer.out_features for layer in self.layers))

    @property
    def in_size(self) -> int:
        return self.layers[0].in_features

    @property
    def out_size(self) -> int:
        return self.layers[-1].out_features

    def __call__(
        self, x: Float[Array, " in_size"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_size"]:
        check_vector(x, self.in_size, "x", "KAN")
        for layer in self.layers:
            x = layer(x)
        return x

    def layer_inputs(self, x: Float[Array, " in_size"]) -> list[Array]:
        """The input of every layer for one sample, plus the output (length `len(layers) + 1`)."""
        check_vector(x, self.in_size, "x", "KAN")
        values = [x]
        for layer in self.layers:
            values.append(layer(values[-1]))
        return values
