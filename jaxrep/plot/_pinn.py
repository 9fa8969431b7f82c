"""PDE-family figures: reference / prediction / error heatmaps, error vs time, generator structure."""

from __future__ import annotations

import numpy as np

from ._train import _pyplot


def _stack_windows(evaluation, key):
    ts = np.concatenate([w["ts"] for w in evaluation["windows"]])
    vals = np.concatenate([w[key] for w in evaluation["windows"]], axis=0)
    return ts, vals


def _train_end(evaluation):
    return evaluation["windows"][0]["window"][1]


def _draw_train_box(ax, evaluation, *, space_time: bool, color: str) -> None:
    """Outline the spatial training box (if the problem has one): on an x-t heatmap the rectangle
    train box x training window, on a 2-D field the box itself."""
    box = evaluation.get("train_box")
    if box is None:
        return
    from matplotlib.patches import Rectangle

    if space_time:
        t0, t1 = evaluation["windows"][0]["window"]
        (lo, hi), = box
        corner, width, height = (t0, lo), t1 - t0, hi - lo
    else:
        (x0, x1), (y0, y1) = box
        corner, width, height = (x0, y0), x1 - x0, y1 - y0
    ax.add_patch(Rectangle(corner, width, height, fill=False, edgecolor=color, ls="-.", lw=1.2,
                           label="train box"))


def pinn_solution(evaluation, *, component: int = 0, mode: str = "network", names=None, title: str = ""):
    """Reference, prediction and absolute error of one output component.

    1-D problems: $x$-$t$ heatmaps with the end of the training window drawn as a dashed line and,
    when the problem has a spatial `train_box`, the training region (train box x training window)
    outlined dash-dotted. 2-D problems: the fields at the last evaluated time, with the train box
    outlined. ODEs: every component against time.

    **Arguments:**

    - `evaluation`: `PINNSolution.evaluation` (from `jaxrep.pinn.evaluate`).
    - `component`: output index to draw (fields); `mode`: `"network"` or `"koopman"`.
    - `names`: component names for the labels; `title`: figure title.

    **Returns:** a matplotlib `Figure`.
    """
    plt = _pyplot()
    ts, ref = _stack_windows(evaluation, "reference")
    _, pred = _stack_windows(evaluation, mode)
    xs = evaluation["xs"]
    shape = evaluation["grid_shape"]
    t_end = _train_end(evaluation)
    names = names or [f"u{i}" for i in range(ref.shape[-1])]
    if len(shape) == 0:  # ODE: time series
        n = ref.shape[-1]
        fig, axes = plt.subplots(n, 1, figsize=(7, 1.8 * n), sharex=True, squeeze=False)
        for i in range(n):
            ax = axes[i, 0]
            ax.plot(ts, ref[:, 0, i], "k-", lw=1.2, label="reference")
            ax.plot(ts, pred[:, 0, i], "r--", lw=1.0, label=mode)
            ax.axvline(t_end, color="gray", ls=":", label="end of training window")
            ax.set_ylabel(names[i])
        axes[0, 0].legend(fontsize=8)
        axes[-1, 0].set_xlabel("t")
        fig.suptitle(title)
        fig.tight_layout()
        return fig
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    r = ref[..., component]
    p = pred[..., component]
    err = np.abs(p - r)
    if len(shape) == 1:
        x = xs[:, 0]
        extent = [ts[0], ts[-1], x[0], x[-1]]
        vmin, vmax = np.nanmin(r), np.nanmax(r)
        for ax, img, label, cmap, lims in (
            (axes[0], r, "reference", "RdBu_r", (vmin, vmax)),
            (axes[1], p, f"prediction ({mode})", "RdBu_r", (vmin, vmax)),
            (axes[2], err, "|error|", "magma", (None, None)),
        ):
            im = ax.imshow(img.T, origin="lower", aspect="auto", extent=extent, cmap=cmap,
                           vmin=lims[0], vmax=lims[1])
            ax.axvline(t_end, color="k" if cmap == "RdBu_r" else "w", ls="--", lw=1,
                       label="end of training window")
            _draw_train_box(ax, evaluation, space_time=True, color="k" if cmap == "RdBu_r" else "w")
            ax.set_title(f"{label}: {names[component]}")
            ax.set_xlabel("t")
            ax.set_ylabel("x")
            fig.colorbar(im, ax=ax, label=_colorbar_label(label, names[component]))
    else:
        last = -1
        grid = lambda a: a[last].reshape(shape[0], shape[1]).T
        for ax, img, label, cmap in (
            (axes[0], r, "reference", "RdBu_r"),
            (axes[1], p, f"prediction ({mode})", "RdBu_r"),
            (axes[2], err, "|error|", "magma"),
        ):
            extent = [xs[0, 0], xs[-1, 0], xs[0, 1], xs[-1, 1]]
            im = ax.imshow(grid(img), origin="lower", extent=extent, cmap=cmap)
            _draw_train_box(ax, evaluation, space_time=False, color="k" if cmap == "RdBu_r" else "w")
            ax.set_title(f"{label}: {names[component]} at t={ts[last]:.3g}")
            ax.set_xlabel("x")
            ax.set_ylabel("y")
            fig.colorbar(im, ax=ax, label=_colorbar_label(label, names[component]))
    fig.suptitle(title)
    # One legend for the marks every panel shares (end of the training window, train box), below the
    # panels so that it hides no data.
    handles, labels = axes[0].get_legend_handles_labels()  # drawn in black on the first panel
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    else:
        fig.tight_layout()
    return fig


def _colorbar_label(panel: str, name: str) -> str:
    return f"|error| of {name}" if panel == "|error|" else name


def pinn_error_vs_time(evaluation, *, components=None, title: str = ""):
    r"""Relative $L^2$ error over space at every evaluated time, network and (if present) Koopman
    rollout, with the end of the training window marked. With a spatial `train_box`, the network's
    error over the held-out part of space is drawn too (dotted).

    **Returns:** a matplotlib `Figure`.
    """
    plt = _pyplot()
    ts, ref = _stack_windows(evaluation, "reference")
    sel = (lambda a: a) if components is None else (lambda a: a[..., list(components)])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    modes = ["network"] + (["koopman"] if "koopman" in evaluation["windows"][0] else [])
    denom = np.linalg.norm(sel(ref).reshape(len(ts), -1), axis=1)
    for mode in modes:
        _, pred = _stack_windows(evaluation, mode)
        num = np.linalg.norm((sel(pred) - sel(ref)).reshape(len(ts), -1), axis=1)
        ax.semilogy(ts, num / np.maximum(denom, 1e-12), label=mode)
    mask = evaluation.get("train_box_mask")
    if mask is not None and not mask.all():
        _, pred = _stack_windows(evaluation, "network")
        out = lambda a: sel(a)[:, ~mask].reshape(len(ts), -1)
        num = np.linalg.norm(out(pred) - out(ref), axis=1)
        ax.semilogy(ts, num / np.maximum(np.linalg.norm(out(ref), axis=1), 1e-12), ":",
                    label="network, held-out space")
    ax.axvline(_train_end(evaluation), color="gray", ls="--", label="end of training window")
    ax.set_xlabel("t")
    ax.set_ylabel("relative L2 error")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def generator_structure(A, *, tol: float = 1e-3, title: str = ""):
    r"""Sparsity pattern $\log_{10}|A_{ij}|$ and eigenvalues of a Koopman generator $A$.

    Entries below `tol` $\cdot\max|A|$ count as zero (SPIKE's sparsity measure).

    **Returns:** a matplotlib `Figure`.
    """
    plt = _pyplot()
    A = np.asarray(A)
    mag = np.abs(A)
    top = mag.max() if mag.size else 1.0
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    im = axes[0].imshow(np.log10(np.maximum(mag, 1e-12)), cmap="viridis",
                        vmin=np.log10(max(tol * top, 1e-12)), vmax=np.log10(max(top, 1e-12)))
    zero = mag < tol * top
    ys, xs = np.nonzero(zero)
    axes[0].scatter(xs, ys, marker="x", color="w", s=12, label=f"zero (< {tol:g} max|A|)")
    if zero.any():
        axes[0].legend(fontsize=8, loc="upper right", facecolor="0.5")
    axes[0].set_title(f"log10|A|  (sparsity {zero.mean():.0%})")
    fig.colorbar(im, ax=axes[0], label=r"$\log_{10}|A_{ij}|$")
    eig = np.linalg.eigvals(A)
    axes[1].scatter(eig.real, eig.imag, c="C3", label="eigenvalues")
    axes[1].legend(fontsize=8)
    axes[1].axvline(0, color="gray", lw=0.8)
    axes[1].axhline(0, color="gray", lw=0.8)
    axes[1].set_xlabel("Re λ")
    axes[1].set_ylabel("Im λ")
    axes[1].set_title("spectrum of A")
    axes[1].grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
