"""Flax NNX adapters: `KANLayer`, `KAN` and `GRKAN` as `flax.nnx` modules over the same pure basis functions.

Drop them into Flax codebases like any `nnx.Module` (`nnx.Rngs` for initialisation, `nnx.Param` for the
trainable coefficients). Grids and other basis state live in `KANGrid` variables, which are not
`nnx.Param`s, so `nnx.Optimizer(model, tx, wrt=nnx.Param)` leaves them alone. Unlike the Equinox modules
(single sample, vmap for batches) these follow Flax's convention and accept any leading batch axes.

`KANLayer.from_equinox(layer)` / `.to_equinox()` convert both ways, so the two front-ends compute the
same function from the same coefficients, and `jr.nn.update_grid` / `refine_grid` / `prune` can be
applied through the Equinox form.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from . import _grkan, _kan

__all__ = ["GRKAN", "KAN", "KANGrid", "KANLayer"]


def _module_from_fields(cls, **fields):
    """An Equinox module of type `cls` holding `fields` as they are (no `__init__`: no new draws, no copy)."""
    module = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(module, name, value)
    return module


class KANGrid(nnx.Variable):
    """Non-trainable basis state of a KAN layer (knots, centres, normalisation ranges)."""


class KANLayer(nnx.Module):
    r"""Flax NNX Kolmogorov–Arnold layer, $y_j = b_j + \sum_i [w_{ij}\sigma(x_i) + \sum_k c_{ijk}B_k(x_i)]$.

    Same arguments, initialisation and math as `jaxrep.nn.KANLayer`, with `rngs: nnx.Rngs` in place
    of `key`. Input `(..., in_features)`, output `(..., out_features)`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        basis="bspline",
        grid_size: int = 5,
        order: int = 3,
        *,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base_activation: Optional[Callable] = jax.nn.silu,
        rngs: Optional[nnx.Rngs] = None,
        equinox_layer: Optional[_kan.KANLayer] = None,
    ):
        if equinox_layer is None:
            if rngs is None:
                raise ValueError("rngs must be an nnx.Rngs (or pass equinox_layer=...)")
            equinox_layer = _kan.KANLayer(in_features, out_features, basis, grid_size, order,
                                          grid_range=grid_range, base_activation=base_activation,
                                          key=rngs.params())
        layer = equinox_layer
        self.in_features = layer.in_features
        self.out_features = layer.out_features
        self.base_activation = layer.base_activation
        self.coeffs = nnx.Param(layer.coeffs)
        self.base_weight = None if layer.base_weight is None else nnx.Param(layer.base_weight)
        self.bias = nnx.Param(layer.bias)
        # Pruned edges (jaxrep.nn.prune / mask_edges): a boolean mask, never trained.
        self.mask = None if layer.mask is None else KANGrid(layer.mask)
        # Basis arrays: trainable ones (rational denominators) as Params, the rest as KANGrid.
        arrays, self._basis_static = eqx.partition(layer.basis, eqx.is_array)
        leaves, self._basis_treedef = jax.tree_util.tree_flatten(arrays)
        trainable = set(_trainable_basis_leaves(layer.basis))
        self.basis_state = nnx.List(
            [nnx.Param(v) if i in trainable else KANGrid(v) for i, v in enumerate(leaves)]
        )

    @classmethod
    def from_equinox(cls, layer: _kan.KANLayer) -> "KANLayer":
        """The Flax layer holding `layer`'s coefficients and basis state."""
        return cls(layer.in_features, layer.out_features, equinox_layer=layer)

    def _basis(self):
        leaves = [v[...] for v in self.basis_state]
        return eqx.combine(jax.tree_util.tree_unflatten(self._basis_treedef, leaves), self._basis_static)

    def to_equinox(self) -> _kan.KANLayer:
        """The equivalent `jaxrep.nn.KANLayer` (arrays shared, no copy)."""
        return _module_from_fields(_kan.KANLayer, basis=self._basis(), coeffs=self.coeffs[...],
                                   base_weight=None if self.base_weight is None else self.base_weight[...],
                                   bias=self.bias[...], base_activation=self.base_activation,
                                   in_features=self.in_features, out_features=self.out_features,
                                   mask=None if self.mask is None else self.mask[...])

    def __call__(self, x: Float[Array, "... in_features"]) -> Float[Array, "... out_features"]:
        x = jnp.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"KANLayer expects x of shape (..., {self.in_features}), got {x.shape}")
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.in_features)
        phi = jax.vmap(self._basis())(flat)  # (B, in, K)
        coeffs = self.coeffs[...]
        base_weight = None if self.base_weight is None else self.base_weight[...]
        if self.mask is not None:
            m = self.mask[...].astype(coeffs.dtype)
            coeffs = coeffs * m[:, None, :]
            base_weight = None if base_weight is None else base_weight * m
        y = phi.reshape(flat.shape[0], -1) @ coeffs.reshape(-1, self.out_features) + self.bias[...]
        if base_weight is not None:
            y = y + self.base_activation(flat) @ base_weight
        return y.reshape(*lead, self.out_features)


def _trainable_basis_leaves(basis) -> list[int]:
    """Indices (in flatten order) of the basis arrays that are trained (not wrapped in stop_gradient)."""
    from ._kan_basis import RationalBasis

    arrays, _ = eqx.partition(basis, eqx.is_array)
    leaves = jax.tree_util.tree_leaves(arrays)
    if isinstance(basis, RationalBasis):
        return [i for i, v in enumerate(leaves) if v is basis.denominator]
    return []


class KAN(nnx.Module):
    """Flax NNX Kolmogorov–Arnold network: a stack of `KANLayer`s of widths `[n_0, ..., n_L]` (hidden
    entries may be `[n_add, n_mult]` pairs: multiplication nodes, as in `jaxrep.nn.KAN`).

    Same arguments as `jaxrep.nn.KAN` with `rngs: nnx.Rngs` instead of `key`; `KAN.from_equinox`
    and `.to_equinox()` convert both ways.
    """

    def __init__(
        self,
        widths: Sequence[int],
        basis="bspline",
        grid_size: int = 5,
        order: int = 3,
        *,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base_activation: Optional[Callable] = jax.nn.silu,
        rngs: Optional[nnx.Rngs] = None,
        equinox_kan: Optional[_kan.KAN] = None,
    ):
        if equinox_kan is None:
            if rngs is None:
                raise ValueError("rngs must be an nnx.Rngs (or pass equinox_kan=...)")
            equinox_kan = _kan.KAN(widths, basis, grid_size, order, grid_range=grid_range,
                                   base_activation=base_activation, key=rngs.params())
        self.layers = nnx.List([KANLayer.from_equinox(l) for l in equinox_kan.layers])
        self.mult = tuple(equinox_kan.mult)
        self.mult_arity = equinox_kan.mult_arity

    @classmethod
    def from_equinox(cls, kan: _kan.KAN) -> "KAN":
        return cls(kan.spec, equinox_kan=kan)

    def to_equinox(self) -> _kan.KAN:
        template = object.__new__(_kan.KAN)
        object.__setattr__(template, "layers", ())
        object.__setattr__(template, "mult", self.mult)
        object.__setattr__(template, "mult_arity", self.mult_arity)
        return template.with_layers(tuple(l.to_equinox() for l in self.layers))

    def __call__(self, x: Float[Array, "... in_size"]) -> Float[Array, "... out_size"]:
        mult = (*self.mult, 0) if self.mult else (0,) * len(self.layers)
        for l, layer in enumerate(self.layers):
            x = _kan.combine_nodes(layer(x), mult[l], self.mult_arity)
        return x


class GRKAN(nnx.Module):
    r"""Flax NNX GR-KAN layer, $y = W F(x) + c$ with the group-rational $F$ of `jaxrep.nn.GRKAN`.

    Same arguments, initialisation and math as `jaxrep.nn.GRKAN`, with `rngs: nnx.Rngs` in place of
    `key`. The rational coefficients, `weight` and `bias` are `nnx.Param`s (all trained). Unlike the
    Equinox module (single sample, vmap for batches) it follows Flax's convention and accepts any
    leading batch axes: input `(..., in_features)`, output `(..., out_features)`.
    `GRKAN.from_equinox(layer)` / `.to_equinox()` convert both ways (same arrays).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        groups: int = 8,
        numerator_degree: int = 5,
        denominator_degree: int = 4,
        init: str = "gelu",
        use_bias: bool = True,
        *,
        rngs: nnx.Rngs | None = None,
        equinox_layer: _grkan.GRKAN | None = None,
    ):
        if equinox_layer is None:
            if rngs is None:
                raise ValueError("rngs must be an nnx.Rngs (or pass equinox_layer=...)")
            equinox_layer = _grkan.GRKAN(in_features, out_features, groups, numerator_degree,
                                         denominator_degree, init, use_bias, key=rngs.params())
        layer = equinox_layer
        self.in_features = layer.in_features
        self.out_features = layer.out_features
        self.groups = layer.rational.groups
        self.numerator = nnx.Param(layer.rational.numerator)
        self.denominator = nnx.Param(layer.rational.denominator)
        self.weight = nnx.Param(layer.weight)
        self.bias = None if layer.bias is None else nnx.Param(layer.bias)

    @classmethod
    def from_equinox(cls, layer: _grkan.GRKAN) -> "GRKAN":
        """The Flax layer holding `layer`'s arrays."""
        if not isinstance(layer, _grkan.GRKAN):
            raise TypeError(f"layer must be a jaxrep.nn.GRKAN, got {type(layer).__name__}")
        return cls(layer.in_features, layer.out_features, equinox_layer=layer)

    def to_equinox(self) -> _grkan.GRKAN:
        """The equivalent `jaxrep.nn.GRKAN` (arrays shared, no copy)."""
        numerator, denominator = self.numerator[...], self.denominator[...]
        rational = _grkan.GroupRational(self.in_features, self.groups, numerator.shape[1] - 1,
                                        denominator.shape[1], numerator=numerator, denominator=denominator,
                                        dtype=numerator.dtype)
        return _module_from_fields(_grkan.GRKAN, rational=rational, weight=self.weight[...],
                                   bias=None if self.bias is None else self.bias[...],
                                   in_features=self.in_features, out_features=self.out_features)

    def __call__(self, x: Float[Array, "... in_features"]) -> Float[Array, "... out_features"]:
        x = jnp.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"flax GRKAN expects x of shape (..., {self.in_features}), got {x.shape}")
        y = _grkan.group_rational(x, self.numerator[...], self.denominator[...]) @ self.weight[...].T
        return y if self.bias is None else y + self.bias[...]
