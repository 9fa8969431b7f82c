r"""Kolmogorov–Arnold layers and networks (single-sample Equinox modules)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, PRNGKeyArray

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

    **Pruned edges.** `mask` (`None`, or a boolean `(in_features, out_features)` array set by
    `jr.nn.prune` / `jr.nn.mask_edges`) switches edges off: $\phi_{ij} \equiv 0$ wherever
    $m_{ij}$ is false, in the forward pass, `edge_values` and every derivative. The mask is not a
    floating-point leaf, so `jaxrep.train.fit` never trains it; grid changes (`update_grid`,
    `refine_grid`) and symbolic fitting keep it, so a pruned edge stays pruned.

    **References:** Liu et al., "KAN: Kolmogorov-Arnold Networks", ICLR 2025.
    """

    basis: AbstractBasis
    coeffs: Float[Array, "in_features num_basis out_features"]
    base_weight: Optional[Float[Array, "in_features out_features"]]
    bias: Float[Array, " out_features"]
    base_activation: Optional[Callable] = eqx.field(static=True)
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    mask: Optional[Bool[Array, "in_features out_features"]] = None

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
        self.mask = None

    def __check_init__(self):
        expected = (self.in_features, self.basis.num_basis, self.out_features)
        if self.coeffs.shape != expected:
            raise ValueError(f"coeffs must have shape {expected}, got {self.coeffs.shape}")
        mask = getattr(self, "mask", None)
        if mask is not None and (mask.shape != (self.in_features, self.out_features) or mask.dtype != bool):
            raise ValueError(f"mask must be a boolean array of shape {(self.in_features, self.out_features)}, "
                             f"got {mask.dtype} {mask.shape}")

    def _weights(self):
        """Coefficients and SiLU-path weights with the pruned edges' entries set to zero."""
        if self.mask is None:
            return self.coeffs, self.base_weight
        m = self.mask.astype(self.coeffs.dtype)
        base = None if self.base_weight is None else self.base_weight * m
        return self.coeffs * m[:, None, :], base

    def __call__(
        self, x: Float[Array, " in_features"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_features"]:
        check_vector(x, self.in_features, "x", "KANLayer")
        coeffs, base_weight = self._weights()
        phi = self.basis(x)  # (in, K)
        y = phi.reshape(-1) @ coeffs.reshape(-1, self.out_features) + self.bias
        if self.base_activation is not None:
            y = y + self.base_activation(x) @ base_weight
        return y

    def spline_values(self, x: Float[Array, " in_features"]) -> Float[Array, "in_features out_features"]:
        r"""Basis part of every edge, $\sum_k c_{ijk}B_k(x_i)$, shape `(in_features, out_features)`."""
        check_vector(x, self.in_features, "x", "KANLayer.spline_values")
        return jnp.einsum("ik,iko->io", self.basis(x), self._weights()[0])

    def edge_values(self, x: Float[Array, " in_features"]) -> Float[Array, "in_features out_features"]:
        r"""Every edge's activation $\phi_{ij}(x_i) = w_{ij}\sigma(x_i) + \sum_k c_{ijk}B_k(x_i)$.

        $y = b + \sum_i \phi_{i\cdot}(x_i)$. Used by regularisation, pruning and plotting (it forms the
        per-edge tensor that the forward pass avoids).
        """
        values = self.spline_values(x)
        if self.base_activation is not None:
            values = values + self.base_activation(x)[:, None] * self._weights()[1]
        return values

    @property
    def live(self) -> Bool[Array, "in_features out_features"]:
        """Boolean `(in, out)` array: true on the edges that are not pruned."""
        if self.mask is None:
            return jnp.ones((self.in_features, self.out_features), bool)
        return self.mask

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


def combine_nodes(y: Float[Array, " subnodes"], n_mult: int, arity: int = 2) -> Float[Array, " nodes"]:
    r"""Turn a layer's outputs into node values: the first `len(y) - arity * n_mult` are addition nodes
    (passed through), each following group of `arity` outputs is multiplied into one node.

    $(y_1, \dots, y_s, y_{s+1}, \dots, y_{s+a m}) \mapsto
      (y_1, \dots, y_s, \prod_{r=1}^{a} y_{s+r}, \dots, \prod_{r=1}^{a} y_{s+a(m-1)+r})$.
    Acts on one sample (or any leading axes).
    """
    if n_mult == 0:
        return y
    n_sum = y.shape[-1] - arity * n_mult
    groups = y[..., n_sum:].reshape(*y.shape[:-1], n_mult, arity)
    return jnp.concatenate([y[..., :n_sum], jnp.prod(groups, axis=-1)], axis=-1)


def _parse_widths(widths) -> tuple[list[int], list[int]]:
    """`[2, [1, 1], 1]` (pykan's MultKAN notation: [addition, multiplication] nodes) -> nodes, mults."""
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must list at least an input and an output width, got {widths!r}")
    nodes, mults = [], []
    for i, w in enumerate(widths):
        if isinstance(w, (list, tuple)):
            if len(w) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in w):
                raise ValueError(f"widths[{i}] must be an int or a pair [addition nodes, multiplication "
                                 f"nodes] of ints >= 0, got {w!r}")
            if i in (0, len(widths) - 1) and w[1]:
                raise ValueError(f"widths[{i}]: multiplication nodes only in hidden layers, got {w!r}")
            if sum(w) < 1:
                raise ValueError(f"widths[{i}] must hold at least one node, got {w!r}")
            nodes.append(w[0] + w[1])
            mults.append(w[1])
        else:
            check_positive_int(w, f"widths[{i}]")
            nodes.append(int(w))
            mults.append(0)
    return nodes, mults[1:-1]


class KAN(eqx.Module):
    r"""A Kolmogorov–Arnold network: a stack of `KANLayer`s of widths `[n_0, n_1, ..., n_L]`.

    $$\mathrm{KAN}(x) = (\Phi_{L-1}\circ\cdots\circ\Phi_0)(x),\qquad
      \Phi_l(x)_j = b_{l,j} + \sum_i \phi_{l,ij}(x_i).$$

    **Multiplication nodes** (MultKAN, Liu et al. 2024): a hidden width written as a pair
    `[n_add, n_mult]` (pykan's notation, e.g. `[2, [1, 1], 1]`) gives that layer `n_add` addition nodes
    and `n_mult` multiplication nodes. The layer feeding it then has `n_add + arity * n_mult` outputs;
    the first `n_add` are the addition nodes and each following group of `arity` outputs is multiplied
    into one node (`combine_nodes`), so a product such as $xy$ is represented exactly with two edges
    $\phi(x) = x$, $\phi(y) = y$. `widths` reports node counts; `mult` the multiplication nodes of
    each hidden layer.

    Acts on **one sample** of shape `(n_0,)`; batch with `jax.vmap`. Grids adapt to data with
    `jr.nn.update_grid`, extend with `jr.nn.refine_grid`; `jr.nn.kan_regularization` and `jr.nn.prune`
    give the paper's sparsification (pruned edges are masked, see `KANLayer`).

    **Arguments:**

    - `widths`: layer widths, at least two entries (`[2, 5, 1]` is the paper's showcase); hidden
      entries may be `[n_add, n_mult]` pairs.
    - `basis`, `grid_size`, `order`, `grid_range`, `base_activation`: as for `KANLayer` (shared by all
      layers).
    - `mult_arity`: inputs of every multiplication node (default 2).
    - `key`: PRNG key (keyword-only).

    **References:** Liu et al., "KAN: Kolmogorov-Arnold Networks", ICLR 2025; Liu et al.,
    "KAN 2.0: Kolmogorov-Arnold Networks Meet Science", 2024 (multiplication nodes).
    """

    layers: tuple[KANLayer, ...]
    mult: tuple[int, ...] = eqx.field(static=True, default=())
    mult_arity: int = eqx.field(static=True, default=2)

    def __init__(
        self,
        widths: Sequence[Union[int, Sequence[int]]],
        basis: Union[str, type] = "bspline",
        grid_size: int = 5,
        order: int = 3,
        *,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base_activation: Optional[Callable] = jax.nn.silu,
        mult_arity: int = 2,
        key: PRNGKeyArray,
    ):
        nodes, mults = _parse_widths(widths)
        check_positive_int(mult_arity, "mult_arity", minimum=2)
        if isinstance(basis, AbstractBasis):
            raise TypeError("KAN takes a basis name or class; build KANLayers to pass basis instances")
        # Layer l produces the addition nodes of layer l+1 plus `arity` inputs per multiplication node.
        outs = [n + (mult_arity - 1) * m for n, m in zip(nodes[1:], mults + [0])]
        keys = jr.split(key, len(nodes) - 1)
        self.layers = tuple(
            KANLayer(n_in, n_out, basis, grid_size, order, grid_range=grid_range,
                     base_activation=base_activation, key=k)
            for k, n_in, n_out in zip(keys, nodes[:-1], outs)
        )
        self.mult = tuple(mults) if any(mults) else ()
        self.mult_arity = int(mult_arity)

    def __check_init__(self):
        mult = self.mult_of_layers
        for l, (a, b) in enumerate(zip(self.layers[:-1], self.layers[1:])):
            if a.out_features - (self.mult_arity - 1) * mult[l] != b.in_features:
                raise ValueError(f"layer {l} has {a.out_features} outputs with {mult[l]} multiplication "
                                 f"nodes of arity {self.mult_arity}, but layer {l + 1} takes {b.in_features}")

    def with_layers(self, layers: Sequence[KANLayer], mult: Optional[Sequence[int]] = None) -> "KAN":
        """A KAN of the same kind with other `layers` (and multiplication-node counts `mult`)."""
        new = object.__new__(type(self))
        object.__setattr__(new, "layers", tuple(layers))
        object.__setattr__(new, "mult", tuple(self.mult if mult is None else mult))
        object.__setattr__(new, "mult_arity", self.mult_arity)
        new.__check_init__()
        return new

    @property
    def mult_of_layers(self) -> tuple[int, ...]:
        """Multiplication nodes after each layer (0 after the last): one entry per layer."""
        mult = tuple(self.mult) if self.mult else (0,) * (len(self.layers) - 1)
        if len(mult) != len(self.layers) - 1:
            raise ValueError(f"mult must have one entry per hidden layer ({len(self.layers) - 1}), got {mult}")
        return (*mult, 0)

    def nodes(self, l: int, y: Float[Array, " subnodes"]) -> Float[Array, " nodes"]:
        """Node values after layer `l` from its outputs `y` (the multiplication nodes formed)."""
        return combine_nodes(y, self.mult_of_layers[l], self.mult_arity)

    @property
    def widths(self) -> tuple[int, ...]:
        """Node counts `(n_0, ..., n_L)`; hidden layers count addition plus multiplication nodes."""
        return (self.layers[0].in_features, *(layer.in_features for layer in self.layers[1:]),
                self.layers[-1].out_features)

    @property
    def spec(self) -> list:
        """The widths in the constructor's notation: `[n_add, n_mult]` pairs where a layer multiplies."""
        mult = self.mult_of_layers
        out = [self.widths[0]]
        for l, w in enumerate(self.widths[1:-1]):
            out.append([w - mult[l], mult[l]] if mult[l] else w)
        return [*out, self.widths[-1]]

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
        for l, layer in enumerate(self.layers):
            x = self.nodes(l, layer(x))
        return x

    def layer_inputs(self, x: Float[Array, " in_size"]) -> list[Array]:
        """The input of every layer for one sample, plus the output (length `len(layers) + 1`)."""
        check_vector(x, self.in_size, "x", "KAN")
        values = [x]
        for l, layer in enumerate(self.layers):
            values.append(self.nodes(l, layer(values[-1])))
        return values
