r"""Sparsification of KANs: sample-based L1 + entropy regularisation, coefficient L1, pruning.

Following Liu et al. (Sec. 2.5.1), the magnitude of edge $\phi_{l,ij}$ on a batch is
$|\phi_{l,ij}|_1 = \frac1N\sum_s |\phi_{l,ij}(x^{(s)}_{l,i})|$, a layer's L1 norm is
$|\Phi_l|_1 = \sum_{ij}|\phi_{l,ij}|_1$ and its entropy is
$S(\Phi_l) = -\sum_{ij} p_{ij}\log p_{ij}$ with $p_{ij} = |\phi_{l,ij}|_1/|\Phi_l|_1$. The penalty is
$\mu_1\sum_l|\Phi_l|_1 + \mu_2\sum_l S(\Phi_l)$.
"""

from __future__ import annotations

from typing import Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from ._kan import KAN, KANLayer


def _check_batch(x, kan: KAN) -> Array:
    if not isinstance(kan, KAN):
        raise TypeError(f"expected a jr.nn.KAN, got {type(kan).__name__}")
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != kan.in_size:
        raise ValueError(f"x must be a batch of shape (num_samples, {kan.in_size}), got shape {x.shape}")
    return x


def edge_scores(kan: KAN, x: Float[Array, "batch in_size"]) -> list[Float[Array, "in out"]]:
    r"""Mean absolute activation $|\phi_{l,ij}|_1$ of every edge on the batch `x`, one `(in, out)` array per layer.

    This forms the per-edge `(batch, in, out)` values of each layer (the regulariser needs them); the
    forward pass never does.
    """
    return _edge_scores(kan, _check_batch(x, kan))


@eqx.filter_jit
def _edge_scores(kan, h):
    scores = []
    for l, layer in enumerate(kan.layers):
        scores.append(jnp.mean(jnp.abs(jax.vmap(layer.edge_values)(h)), axis=0))
        h = jax.vmap(lambda v: kan.nodes(l, layer(v)))(h)
    return scores


def kan_regularization(
    kan: KAN, x: Float[Array, "batch in_size"], l1: float = 1.0, entropy: float = 2.0
) -> Float[Array, ""]:
    r"""The KAN paper's sparsity penalty $\mu_1\sum_l|\Phi_l|_1 + \mu_2\sum_l S(\Phi_l)$ on the batch `x`.

    Add `lamb * kan_regularization(kan, x)` to a loss (the paper uses `l1=1`, `entropy=2` and a small
    `lamb` such as `1e-3`). Differentiable with respect to the KAN.

    **Arguments:**

    - `kan`: the network.
    - `x`: a batch of inputs `(N, in_size)`.
    - `l1`, `entropy`: $\mu_1$, $\mu_2$.

    **Returns:** a scalar.

    **References:** Liu et al., "KAN: Kolmogorov-Arnold Networks", Sec. 2.5.1.
    """
    total = 0.0
    for s in edge_scores(kan, x):
        norm = jnp.sum(s)
        p = s / jnp.maximum(norm, 1e-12)
        ent = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
        total = total + l1 * norm + entropy * ent
    return total


def mask_edges(kan: KAN, layer: int, edges: Bool[Array, "in out"]) -> KAN:
    r"""Prune the edges of layer `layer` where `edges` is true: they are masked (see `KANLayer`), so
    $\phi_{ij}\equiv 0$ from now on, through training, grid changes and symbolic fitting.

    Edges already pruned stay pruned. `edges` is a boolean `(in, out)` array of that layer's shape.

    **Returns:** the `KAN` with the layer's mask updated (same parameters).
    """
    if not isinstance(kan, KAN):
        raise TypeError(f"expected a jr.nn.KAN, got {type(kan).__name__}")
    if not (isinstance(layer, int) and 0 <= layer < len(kan.layers)):
        raise ValueError(f"layer must be in [0, {len(kan.layers)}), got {layer!r}")
    ly = kan.layers[layer]
    edges = np.asarray(edges)
    if edges.dtype != bool or edges.shape != (ly.in_features, ly.out_features):
        raise ValueError(f"edges must be a boolean array of shape {(ly.in_features, ly.out_features)}, "
                         f"got {edges.dtype} {edges.shape}")
    live = np.asarray(ly.live) & ~edges
    return eqx.tree_at(lambda m: m.layers[layer].mask, kan, jnp.asarray(live), is_leaf=lambda v: v is None)


def coefficient_l1(kan: KAN) -> Float[Array, ""]:
    r"""Cheap sparsity proxy: the mean absolute spline coefficient plus base weight, summed over layers.

    $\sum_l \big(\mathrm{mean}_{ijk}|c_{l,ijk}| + \mathrm{mean}_{ij}|w_{l,ij}|\big)$ — no forward pass.
    """
    total = 0.0
    for layer in kan.layers:
        total = total + jnp.mean(jnp.abs(layer.coeffs))
        if layer.base_weight is not None:
            total = total + jnp.mean(jnp.abs(layer.base_weight))
    return total


def _select(layer: KANLayer, inputs: Sequence[int], outputs: Sequence[int]) -> KANLayer:
    inputs, outputs = np.asarray(inputs, dtype=int), np.asarray(outputs, dtype=int)
    new = object.__new__(KANLayer)
    fields = dict(
        basis=layer.basis.select_inputs(inputs),
        coeffs=layer.coeffs[inputs][:, :, outputs],
        base_weight=None if layer.base_weight is None else layer.base_weight[inputs][:, outputs],
        bias=layer.bias[outputs],
        mask=None if layer.mask is None else layer.mask[inputs][:, outputs],
        base_activation=layer.base_activation,
        in_features=len(inputs),
        out_features=len(outputs),
    )
    for name, value in fields.items():
        object.__setattr__(new, name, value)
    new.__check_init__()
    return new


def prune(
    kan: KAN,
    x: Float[Array, "batch in_size"],
    node_threshold: float = 1e-2,
    edge_threshold: Optional[float] = None,
) -> KAN:
    r"""Remove unimportant hidden nodes and mask unimportant edges, returning a smaller `KAN`.

    Hidden node $i$ of layer $l$ has incoming score $\max_k|\phi_{l-1,ki}|_1$ (for a multiplication
    node: the largest over the edges into its `arity` factors) and outgoing score
    $\max_j|\phi_{l,ij}|_1$; it is kept when both exceed `node_threshold` (Liu et al., Sec. 2.5.1).
    Removed nodes are deleted with all their edges. Inputs and outputs are never removed, and at least
    one node per hidden layer survives. Edges whose score is below `edge_threshold` are *masked*
    (`KANLayer.mask`): they stay pruned through further training, `update_grid` / `refine_grid`, and
    `symbolic_formula` leaves them out.

    The pruned KAN computes exactly the original function with the removed edges deleted:
    $\mathrm{pruned}(x) = \mathrm{KAN}(x)$ evaluated with $\phi_{l,ij} \equiv 0$ on every removed edge.

    **Arguments:**

    - `kan`: the network; `x`: a batch `(N, in_size)` on which edge scores are measured.
    - `node_threshold`: $\theta$ for nodes; `edge_threshold`: for edges (`None` keeps all edges).

    **Returns:** a `KAN` with (possibly) narrower hidden layers.
    """
    x = _check_batch(x, kan)
    scores = [np.asarray(s) for s in edge_scores(kan, x)]
    widths, mult, arity = kan.widths, kan.mult_of_layers, kan.mult_arity
    keep = [np.arange(widths[0])]      # kept nodes (inputs of layer l)
    keep_out = []                      # kept output columns of layer l (subnodes)
    new_mult = []
    for l in range(1, len(widths) - 1):
        n_sum = widths[l] - mult[l - 1]
        sub = scores[l - 1]  # (in, subnodes) of layer l - 1
        incoming = sub[:, :n_sum].max(axis=0)
        if mult[l - 1]:
            factors = sub[:, n_sum:].reshape(sub.shape[0], mult[l - 1], arity).max(axis=(0, 2))
            incoming = np.concatenate([incoming, factors])
        outgoing = scores[l].max(axis=1)
        important = (incoming > node_threshold) & (outgoing > node_threshold)
        if not important.any():
            important[np.argmax(np.minimum(incoming, outgoing))] = True
        kept = np.nonzero(important)[0]
        keep.append(kept)
        kept_mult = kept[kept >= n_sum] - n_sum
        cols = [kept[kept < n_sum]] + [n_sum + arity * m + np.arange(arity) for m in kept_mult]
        keep_out.append(np.concatenate(cols).astype(int))
        new_mult.append(len(kept_mult))
    keep_out.append(np.arange(widths[-1]))
    layers = []
    for l, layer in enumerate(kan.layers):
        new = _select(layer, keep[l], keep_out[l])
        if edge_threshold is not None:
            weak = scores[l][keep[l]][:, keep_out[l]] < edge_threshold
            live = np.asarray(new.live) & ~weak
            new = eqx.tree_at(lambda m: m.mask, new, jnp.asarray(live), is_leaf=lambda v: v is None)
        layers.append(new)
    return kan.with_layers(tuple(layers), tuple(new_mult) if kan.mult else ())


__all__ = ["coefficient_l1", "edge_scores", "kan_regularization", "mask_edges", "prune"]
