"""Figures for stochastic interpolants: samples vs data, trajectories, learned densities, correspondences."""

import numpy as np

from ._train import _pyplot


def samples(data, generated, *, titles=("data", "generated"), lim=None):
    """Side-by-side scatter plots of data and generated 2-D samples on shared axes.

    **Arguments:** `data` `(n, 2)`, `generated` `(m, 2)`; `titles`; `lim` (axis half-width, default from
    the data).

    **Returns:** a matplotlib `Figure`.
    """
    data, generated = np.asarray(data), np.asarray(generated)
    plt = _pyplot()
    lim = lim or 1.05 * float(np.abs(data).max())
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
    for ax, pts, title, color in zip(axes, (data, generated), titles, ("k", "tab:blue")):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, color=color, label=title)
        ax.legend(fontsize=8, loc="upper right", markerscale=4)
        ax.set_title(title)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def trajectories(traj, *, max_paths: int = 200):
    """Sample paths of a 2-D flow: `traj` of shape `(n, m, 2)` (n paths, m times). Start points black,
    end points blue.

    **Returns:** a matplotlib `Figure`.
    """
    traj = np.asarray(traj)[:max_paths]
    if traj.ndim != 3 or traj.shape[-1] != 2:
        raise ValueError(f"trajectories expects traj of shape (n, m, 2), got {traj.shape}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for path in traj:
        ax.plot(path[:, 0], path[:, 1], color="0.6", lw=0.5, alpha=0.6)
    ax.scatter(traj[:, 0, 0], traj[:, 0, 1], s=4, color="k", label="t = 0")
    ax.scatter(traj[:, -1, 0], traj[:, -1, 1], s=4, color="tab:blue", label="t = 1")
    ax.set_aspect("equal")
    ax.legend(fontsize=8)
    ax.set_title("trajectories")
    fig.tight_layout()
    return fig


def density(log_density, extent, *, title: str = "learned density"):
    """Heatmap of a density from its log-values on a regular grid.

    **Arguments:** `log_density` `(ny, nx)` (rows follow y), `extent` `(xmin, xmax, ymin, ymax)`.

    **Returns:** a matplotlib `Figure`.
    """
    log_density = np.asarray(log_density)
    if log_density.ndim != 2:
        raise ValueError(f"density expects a 2-D grid of log-densities, got shape {log_density.shape}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.4))
    im = ax.imshow(np.exp(log_density), origin="lower", extent=extent, cmap="viridis", aspect="equal")
    fig.colorbar(im, ax=ax, label="density")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def correspondence(points, *, labels=None, max_lines: int = 100):
    """Multi-way correspondence between K marginals: `points` `(K, n, 2)` holds the images of the same
    n latent points in each marginal; corresponding points are joined by lines.

    **Returns:** a matplotlib `Figure`.
    """
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"correspondence expects points of shape (K, n, 2), got {points.shape}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    k = points.shape[0]
    labels = labels or [f"marginal {i}" for i in range(k)]
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, points.shape[1]))
    for j in range(min(max_lines, points.shape[1])):
        ax.plot(points[:, j, 0], points[:, j, 1], color=colors[j], lw=0.4, alpha=0.5)
    for i in range(k):
        ax.scatter(points[i, :, 0], points[i, :, 1], s=4, label=labels[i])
    ax.legend(fontsize=8)
    ax.set_aspect("equal")
    ax.set_title("multimarginal correspondence")
    fig.tight_layout()
    return fig


def _tile(rows, shape, columns: int, pad: int = 1) -> np.ndarray:
    """Tile flattened images in [-1, 1] into one grey image in [0, 1], one row per entry of `rows`."""
    _, h, w = shape
    out = np.zeros((len(rows) * (h + pad) + pad, columns * (w + pad) + pad))  # 0: white (gray_r)
    for i, row in enumerate(rows):
        for j, img in enumerate(np.asarray(row)[:columns]):
            im = np.clip((np.asarray(img).reshape(shape).mean(0) + 1) / 2, 0, 1)
            out[pad + i * (h + pad): pad + i * (h + pad) + h, pad + j * (w + pad): pad + j * (w + pad) + w] = im
    return out


def image_samples(panels, shape, *, titles=None, row_labels=None, columns: int = 8):
    """Grids of images side by side, e.g. held-out data next to generated samples, one row per class.

    **Arguments:**

    - `panels`: a list of panels; a panel is a list of rows, a row an array `(n, C * H * W)` (or
      `(n, C, H, W)`) of images with values in [-1, 1] (channels are averaged into grey).
    - `shape`: `(C, H, W)`.
    - `titles`: one title per panel; `row_labels`: one label per row (e.g. the class), on the y axis.
    - `columns`: images shown per row.

    **Returns:** a matplotlib `Figure`.
    """
    if len(shape) != 3:
        raise ValueError(f"image_samples expects shape (C, H, W), got {tuple(shape)}")
    n_rows = max(len(p) for p in panels)
    titles = list(titles) if titles is not None else [""] * len(panels)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * (1 + 0.45 * columns), 1 + 0.45 * n_rows),
                             squeeze=False)
    h = shape[1] + 1
    for ax, rows, title in zip(axes[0], panels, titles):
        ax.imshow(_tile(rows, shape, columns), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        if row_labels is not None:
            ax.set_yticks([1 + h * i + h / 2 - 1 for i in range(len(rows))], [str(c) for c in row_labels][: len(rows)],
                          fontsize=7)
        else:
            ax.set_yticks([])
    fig.tight_layout()
    return fig
