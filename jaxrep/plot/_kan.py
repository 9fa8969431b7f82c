"""KAN figures: every edge's learned 1-D activation; image reconstructions for INR."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._train import _pyplot


@eqx.filter_jit
def _edge_curves(layer, grid):
    # grid: (P, in) -> (P, in, out): each input's own range sampled densely
    return jax.vmap(layer.edge_values)(grid)


def kan(model, x, *, num_points: int = 100, title: str = "KAN activations"):
    r"""Draw every edge's learned activation $\phi_{l,ij}$ of a `jr.nn.KAN`, layer by layer.

    Each layer is a block of `out x in` small panels; panel $(j, i)$ shows $\phi_{l,ij}$ over the range
    its input takes on the batch `x` (the layer inputs are computed by running `x` through the earlier
    layers), with the data's values marked underneath. Panel opacity follows the edge's importance
    $|\phi_{l,ij}|_1$ relative to the layer's strongest edge, as in the KAN paper's plots.

    **Arguments:**

    - `model`: a `jr.nn.KAN`.
    - `x`: a batch of inputs, shape `(N, in_size)`.
    - `num_points`: samples per curve.

    **Returns:** a matplotlib `Figure`.
    """
    from ..nn import KAN, edge_scores

    if not isinstance(model, KAN):
        raise TypeError(f"model must be a jr.nn.KAN, got {type(model).__name__}")
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != model.in_size:
        raise ValueError(f"x must have shape (num_samples, {model.in_size}), got {x.shape}")
    plt = _pyplot()
    scores = [np.asarray(s) for s in edge_scores(model, x)]
    layer_inputs = [x]
    for l, layer in enumerate(model.layers[:-1]):
        layer_inputs.append(model.nodes(l, jax.vmap(layer)(layer_inputs[-1])))
    n_layers = len(model.layers)
    max_in = max(l.in_features for l in model.layers)
    fig = plt.figure(figsize=(min(1.6 * max_in + 1, 18), min(1.5 * sum(l.out_features for l in model.layers) + 1, 24)))
    # One row of panels per layer, and a thin bottom row for the legend that names every panel's marks.
    subfigs = fig.subfigures(n_layers + 1, 1, height_ratios=[l.out_features for l in model.layers[::-1]] + [0.3])
    for row, l in enumerate(reversed(range(n_layers))):  # output layer on top, like the paper
        layer, h = model.layers[l], np.asarray(layer_inputs[l])
        lo, hi = h.min(0), h.max(0)
        grid = lo + (hi - lo) * np.linspace(0, 1, num_points)[:, None]
        curves = np.asarray(_edge_curves(layer, jnp.asarray(grid, dtype=x.dtype)))
        strength = scores[l] / max(scores[l].max(), 1e-12)
        axes = subfigs[row].subplots(layer.out_features, layer.in_features, squeeze=False)
        head = f"{title}\n" if row == 0 else ""
        n_mult = model.mult_of_layers[l]
        products = (f" (last {model.mult_arity * n_mult} outputs multiplied in groups of {model.mult_arity})"
                    if n_mult else "")
        subfigs[row].suptitle(f"{head}layer {l}: {layer.in_features} -> {layer.out_features}{products}",
                              fontsize=9)
        for j in range(layer.out_features):
            for i in range(layer.in_features):
                ax = axes[j, i]
                alpha = float(np.clip(strength[i, j], 0.08, 1.0))
                ax.plot(grid[:, i], curves[:, i, j], color="k", alpha=alpha, lw=1.2, label="learned activation")
                ymin = curves[:, i, j].min()
                ax.plot(h[:, i], np.full(h.shape[0], ymin), "|", color="tab:blue", alpha=0.15 * alpha, ms=3,
                        label="layer inputs on the batch")
                if row == 0 and i == 0 and j == 0:
                    handles = ax.get_legend_handles_labels()
                ax.set_xticks([])
                ax.set_yticks([])
                if j == layer.out_features - 1:
                    ax.set_xlabel(f"x{i}", fontsize=7)
                if i == 0:
                    ax.set_ylabel(f"y{j}", fontsize=7)
    legend = subfigs[-1].legend(*handles, loc="center", ncol=2, fontsize=7, frameon=False)
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)  # the panels fade weak edges; the legend shows the marks at full strength
    return fig


def image_reconstruction(images: dict, *, title: str = "reconstruction"):
    """Side-by-side grey/RGB images, e.g. `{"target": img, "FourierKAN (PSNR 30.1)": rec, ...}`.

    **Arguments:** `images`: a mapping of panel title to an array `(H, W)` or `(H, W, C)` in [0, 1].

    **Returns:** a matplotlib `Figure`.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(images), figsize=(3.2 * len(images), 3.4), squeeze=False)
    for ax, (name, img) in zip(axes[0], images.items()):
        img = np.clip(np.asarray(img, dtype=float), 0, 1)
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
