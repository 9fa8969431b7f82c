r"""Grid adaptation and grid extension for KANs, with least-squares refits that preserve the function.

Both operations replace each layer's basis and then solve, for every input feature $i$,

$$\min_{c'_{i\cdot\cdot}} \sum_{s} \sum_j \Big(\sum_{k'} c'_{ijk'} B'_{k'}(x^{(s)}_i)
  - \sum_k c_{ijk} B_k(x^{(s)}_i)\Big)^2,$$

a linear least-squares problem with the design matrix $B'(x_i)\in\mathbb R^{N\times K'}$ and one
right-hand side per output $j$ (minimum-norm solution, so basis functions without data get zero
coefficients). The SiLU path and the bias are unchanged. Layers are processed front to back and each
layer is refitted on the inputs produced by the already-updated layers before it.

Placement: a model replicated over several devices (as `jr.train.fit(..., mesh=...)` returns it) is
refitted on one of them and returned replicated with the same sharding; an `x` spread over several
devices is gathered onto the model's device. The refit never runs as a multi-device program: on
XLA:CPU (jaxlib 0.10) the batched LAPACK kernel behind `lstsq` blocks each device's executor thread
while it waits for sub-tasks queued on the same intra-op thread pool, so with as many devices as pool
threads (two virtual CPU devices on a two-core machine) every thread waits and the program never ends.
"""

from __future__ import annotations

import warnings
from typing import TypeVar, Union

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._checks import check_positive_int
from ._kan import KAN, KANLayer
from ._kan_basis import AbstractBasis

_M = TypeVar("_M", KAN, KANLayer)


def refit_layer(
    layer: KANLayer, new_basis: AbstractBasis, x: Float[Array, "batch in_features"]
) -> KANLayer:
    r"""Swap `layer`'s basis for `new_basis` and refit the coefficients by least squares on `x`.

    **Arguments:**

    - `layer`: the `KANLayer` whose edge functions are to be preserved.
    - `new_basis`: the replacement basis (same `in_features`).
    - `x`: a batch of layer inputs, shape `(N, in_features)`.

    **Returns:** a `KANLayer` with `new_basis` and coefficients of shape `(in, new_basis.num_basis, out)`,
    replicated like `layer` if `layer` is replicated over several devices.
    """
    x = _check_batch(x, layer.in_features)
    if new_basis.in_features != layer.in_features:
        raise ValueError(
            f"new_basis has in_features={new_basis.in_features}, layer has {layer.in_features}"
        )
    (layer, new_basis, x), restore = _to_one_device((layer, new_basis, x))
    return restore(_refit_layer(layer, new_basis, x))


def _refit_layer(layer, new_basis, x):
    coeffs = _refit_coeffs(layer, new_basis, x.astype(layer.coeffs.dtype))
    return eqx.tree_at(lambda l: (l.basis, l.coeffs), layer, (new_basis, coeffs))


@eqx.filter_jit
def _refit_coeffs(layer, new_basis, x):
    targets = jax.vmap(layer.spline_values)(x)  # (N, in, out)
    design = jax.vmap(new_basis)(x)  # (N, in, K')
    return jax.vmap(_lstsq, in_axes=(1, 1))(design, targets).astype(layer.coeffs.dtype)


def _lstsq(a, t):
    """Minimum-norm least squares `a @ c ~ t` with column equilibration (monomial and wide-range
    columns differ by orders of magnitude; columns without data get zero coefficients)."""
    norms = jnp.linalg.norm(a, axis=0)
    norms = jnp.where(norms > 0, norms, 1)
    return jnp.linalg.lstsq(a / norms, t)[0] / norms[:, None]


@eqx.filter_jit
def _batched(module, x):
    return jax.vmap(module)(x)


def _is_concrete(a) -> bool:
    return isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer)


def _to_one_device(tree):
    """Move the arrays of `tree = (model, ..., x)` onto one device if any spans several; also return
    `restore`, which places a result with the model's sharding if that replicates it over several
    devices (and is the identity otherwise). The module docstring says why the refit needs this."""
    arrays = [a for a in jax.tree_util.tree_leaves(tree) if _is_concrete(a)]
    if all(len(a.sharding.device_set) == 1 for a in arrays):
        return tree, lambda result: result
    model = [a for a in jax.tree_util.tree_leaves(tree[0]) if _is_concrete(a)]
    shardings = {a.sharding for a in model}
    restore = lambda result: result
    if len(shardings) == 1:
        (sharding,) = shardings
        if len(sharding.device_set) > 1 and sharding.is_fully_replicated:
            restore = lambda result: _place(result, sharding)
    # The model's first device (the data's when the model has no arrays).
    device = min((model or arrays)[0].sharding.addressable_devices, key=lambda d: d.id)
    return _place(tree, jax.sharding.SingleDeviceSharding(device)), restore


def _place(tree, sharding):
    return jax.tree_util.tree_map(lambda a: jax.device_put(a, sharding) if _is_concrete(a) else a, tree)


def _check_batch(x, in_features: int) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != in_features:
        raise ValueError(
            f"x must be a batch of shape (num_samples, {in_features}), got shape {x.shape} "
            "(grid updates need many samples, not a single one)"
        )
    return x


#: Relative RMSE of a layer's refit output above which `update_grid` / `refine_grid` warn.
REFIT_WARN_RTOL = 1e-3


@eqx.filter_jit
def _relative_change(old, new, x):
    before, after = jax.vmap(old)(x), jax.vmap(new)(x)
    scale = jnp.sqrt(jnp.mean(before**2))
    return jnp.sqrt(jnp.mean((after - before) ** 2)) / jnp.where(scale > 0, scale, 1.0)


def _warn_if_changed(what, index, old, new, x):
    if any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves((new, x))):
        return
    change = float(_relative_change(old, new, x))
    if change > REFIT_WARN_RTOL:
        warnings.warn(
            f"{what}: layer {index}'s output changed by relative RMSE {change:.2e} on its inputs "
            f"(> {REFIT_WARN_RTOL:g}): its new basis cannot represent the trained edge functions there "
            "(refine_grid is exact when the new grid_size is a multiple of the old one)",
            stacklevel=4,
        )


def _map_layers(model, x, make_basis, what, opt_state=None):
    if isinstance(model, KANLayer):
        x = _check_batch(x, model.in_features)
        (model, x), restore = _to_one_device((model, x))
        new = _refit_layer(model, make_basis(model.basis, x), x)
        _warn_if_changed(what, 0, model, new, x)
        if opt_state is None:
            return restore(new)
        proj = {(): _projection(model, new.basis, x)}
        return restore(new), _carry_opt_state(opt_state, model, new, proj)
    if not isinstance(model, KAN):
        raise TypeError(f"expected a jr.nn.KAN or jr.nn.KANLayer, got {type(model).__name__}")
    h = _check_batch(x, model.in_size)
    (model, h), restore = _to_one_device((model, h))
    new_layers, proj = [], {}
    for i, layer in enumerate(model.layers):
        # Each layer is refitted on its own inputs: those produced by the already-refitted layers.
        new = _refit_layer(layer, make_basis(layer.basis, h), h)
        _warn_if_changed(what, i, layer, new, h)
        if opt_state is not None:
            proj[(i,)] = _projection(layer, new.basis, h)
        new_layers.append(new)
        h = model.nodes(i, _batched(new, h))  # the next layer's inputs (multiplication nodes formed)
    new_model = restore(eqx.tree_at(lambda m: m.layers, model, tuple(new_layers)))
    if opt_state is None:
        return new_model
    return new_model, _carry_opt_state(opt_state, model, new_model, proj)


@eqx.filter_jit
def _projection(layer, new_basis, x):
    r"""Per input $i$ the matrix $P_i=\arg\min_P\|B'_iP-B_i\|_F$ `(in, K', K)` that maps old coefficients
    to the refitted ones ($c'_{i\cdot j}=P_ic_{i\cdot j}$, the same least squares as the refit)."""
    x = x.astype(layer.coeffs.dtype)
    old = jax.vmap(layer.basis)(x)  # (N, in, K)
    design = jax.vmap(new_basis)(x)  # (N, in, K')
    return jax.vmap(_lstsq, in_axes=(1, 1))(design, old).astype(layer.coeffs.dtype)


def _carry_opt_state(opt_state, old_model, new_model, proj):
    r"""Map every parameter-shaped subtree of an optax state onto the refitted model.

    A subtree with the structure of the model's parameters (Adam's `mu` and `nu`, momentum traces, ...)
    gets its spline-coefficient leaves projected like the coefficients: $m'_i=P_im_i$ for first moments
    and other linear statistics, $v'_i=(P_i\circ P_i)\,v_i$ for the second moments `nu` (the variance of a
    linear map of independent entries; it stays non-negative). Basis leaves (knots, centres) carry no
    gradient and start at zero; every other leaf is kept. Any other leaf shaped like a coefficient tensor
    (e.g. L-BFGS's history) cannot be carried: a one-line error says so.
    """
    params_def = jax.tree_util.tree_structure(eqx.filter(old_model, eqx.is_inexact_array))
    new_params = eqx.filter(new_model, eqx.is_inexact_array)

    def layers_of(tree):
        return [tree] if isinstance(old_model, KANLayer) else list(tree.layers)

    def carry(node, squared):
        old_layers, new_layers = layers_of(node), layers_of(new_params)
        out = []
        for i, (old_l, new_l) in enumerate(zip(old_layers, new_layers)):
            p = proj[() if isinstance(old_model, KANLayer) else (i,)]
            p = p * p if squared else p
            coeffs = jnp.einsum("ikc,ico->iko", p, old_l.coeffs.astype(p.dtype)).astype(old_l.coeffs.dtype)
            basis = jax.tree_util.tree_map(jnp.zeros_like, new_l.basis)
            out.append(eqx.tree_at(lambda l: (l.coeffs, l.basis), old_l, (coeffs, basis),
                                   is_leaf=lambda v: v is None))
        if isinstance(old_model, KANLayer):
            return out[0]
        return eqx.tree_at(lambda m: m.layers, node, tuple(out))

    def walk(node, name=None):
        if node is None:
            return None
        if jax.tree_util.tree_structure(node) == params_def and isinstance(node, type(old_model)):
            shapes = [jnp.shape(leaf.coeffs) for leaf in layers_of(node)]
            if shapes != [layer.coeffs.shape for layer in layers_of(old_model)]:
                raise ValueError(
                    f"opt_state holds parameter-like leaves of shape {shapes[0]} (not the coefficients' "
                    f"{layers_of(old_model)[0].coeffs.shape}; e.g. an L-BFGS history), which cannot be "
                    "carried across a grid change; start that optimiser afresh"
                )
            return carry(node, squared=name == "nu")
        if isinstance(node, tuple) and hasattr(node, "_fields"):  # NamedTuple (optax states)
            return type(node)(*(walk(getattr(node, f), f) for f in node._fields))
        if isinstance(node, (tuple, list)):
            return type(node)(walk(v) for v in node)
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        return node

    carried = walk(opt_state)
    coeff_shapes = {tuple(layer.coeffs.shape) for layer in layers_of(old_model)} - {
        tuple(layer.coeffs.shape) for layer in layers_of(new_model)}
    for leaf in jax.tree_util.tree_leaves(carried):
        if tuple(jnp.shape(leaf))[-3:] in coeff_shapes:
            raise ValueError(
                f"opt_state holds a leaf of shape {tuple(jnp.shape(leaf))} outside the parameter-shaped "
                "subtrees (e.g. an L-BFGS history), which cannot be carried across a grid change; "
                "start that optimiser afresh"
            )
    return carried


def update_grid(model: _M, x: Float[Array, "batch in_size"], grid_eps: float = 0.02, *, opt_state=None):
    r"""Adapt every layer's grid to the data and refit its coefficients (the same function on `x`).

    For B-splines and RBFs the $G+1$ grid points of input $i$ are
    $\epsilon\cdot\mathrm{linspace}(\min x_i, \max x_i) + (1-\epsilon)\cdot$(equally spaced order
    statistics of $x_i$), the mix pykan calls `grid_eps`; range-normalised polynomial bases move their
    range to $[\min x_i, \max x_i]$; Fourier, rational and tanh-squashed bases keep their basis (the
    refit is then exact). Function preservation is exact whenever the old edge functions lie in the
    new span on the data (e.g. polynomials of degree $\le k$ for splines) and otherwise accurate to the
    spline approximation error; a layer whose output on its inputs changes by more than `1e-3`
    relative RMSE raises a warning naming the layer (moving knots cannot keep a trained spline in
    general: refine first, or update the grid early in training as pykan does).

    **Arguments:**

    - `model`: a `KAN` or a `KANLayer`.
    - `x`: a batch of model inputs, shape `(N, in_size)`.
    - `grid_eps`: $\epsilon\in[0, 1]$; 1 gives a uniform grid, 0 a pure percentile grid.
    - `opt_state`: optional optax state of the model's training (e.g. from
      `jaxrep.train.fit(..., return_opt_state=True)`), carried onto the new coefficients as in
      `refine_grid`.

    **Returns:** the updated model (same type and sizes); `(model, opt_state)` when `opt_state` is given.

    **References:** Liu et al., "KAN: Kolmogorov-Arnold Networks" (Sec. 2.4, grid update).
    """
    if not 0.0 <= grid_eps <= 1.0:
        raise ValueError(f"grid_eps must lie in [0, 1], got {grid_eps!r}")
    return _map_layers(model, x, lambda basis, h: basis.adapt(h, grid_eps), "update_grid", opt_state)


def refine_grid(model: _M, x: Float[Array, "batch in_size"], grid_size: int, *, opt_state=None):
    r"""Grid extension: move every layer to resolution `grid_size` and refit on `x` (same function).

    B-spline knots are inserted by interpolating the current knot positions, so with `grid_size` a
    multiple of the current $G$ the old knots are kept. Where a layer's inputs leave its grid range
    $[lo, hi]$ (hidden activations of a trained KAN usually do), whole cells of the new width
    $(hi-lo)/$`grid_size` are added on that side until every sample is covered, so the layer's new
    $G$ can exceed `grid_size` (by the same count for all its inputs). Those cells contain the old
    spline's extension knots, so with `grid_size` a multiple of $G$ the trained function is
    reproduced exactly on every sample, inside the range and out of it, and a uniform grid stays
    uniform (fast path). Polynomial, Fourier and rational bases gain degrees or frequencies (nested
    spans, exact). Combine with `update_grid` to move the range itself. A layer whose refit changes
    its output on `x` by more than `1e-3` relative RMSE raises a warning naming the layer.

    **Arguments:**

    - `model`: a `KAN` or a `KANLayer`.
    - `x`: a batch of model inputs, shape `(N, in_size)`, at which the function is preserved.
    - `grid_size`: the new $G \ge 1$.
    - `opt_state`: optional optax state of the model's training (e.g. from
      `jaxrep.train.fit(..., return_opt_state=True)`). Its parameter-shaped subtrees are carried onto
      the new coefficients the way the coefficients are: first moments (Adam's `mu`, momentum) by the
      refit's linear map $P_i$ (per input, $c'=P_ic$), second moments (`nu`) by $P_i\circ P_i$, so
      training continues through `fit(..., opt_state=...)` without Adam's restart jump (a fresh Adam
      takes steps of size ~lr in every coordinate). Optimisers with other coefficient-shaped state
      (L-BFGS's history) raise an error.

    **Returns:** the refined model (its coefficient tensors have the new `num_basis`); `(model,
    opt_state)` when `opt_state` is given.

    **References:** Liu et al., "KAN: Kolmogorov-Arnold Networks" (Sec. 2.4, grid extension).
    """
    check_positive_int(grid_size, "grid_size")
    return _map_layers(model, x, lambda basis, h: basis.refine(grid_size, h), "refine_grid", opt_state)


__all__ = ["refine_grid", "refit_layer", "update_grid"]
_ = Union
