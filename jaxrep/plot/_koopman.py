"""Koopman figures: verified spectra, eigenfunctions on a grid, forecasts against the truth."""

import jax
import jax.numpy as jnp
import numpy as np

from ._train import _pyplot


def koopman_spectrum(
    eigenvalues,
    residuals=None,
    *,
    continuous: bool = True,
    reference=None,
    pseudospectrum=None,
    title: str = "Koopman spectrum",
):
    r"""Eigenvalues in the complex plane, coloured by their ResDMD residual.

    **Arguments:**

    - `eigenvalues`: complex `(r,)` (continuous-time $\mu$ if `continuous`, else discrete $\lambda$,
      drawn with the unit circle).
    - `residuals`: optional `(r,)` from `jaxrep.koopman.residuals` (log colour scale).
    - `reference`: optional known eigenvalues, drawn as crosses.
    - `pseudospectrum`: optional `(re, im, tau)` grids (e.g. from `jaxrep.koopman.pseudospectrum`),
      drawn as $\log_{10}\tau$ contours.

    **Returns:** a matplotlib `Figure`.
    """
    plt = _pyplot()
    ev = np.asarray(eigenvalues).astype(complex)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if pseudospectrum is not None:
        re, im, tau = (np.asarray(a) for a in pseudospectrum)
        cs = ax.contour(re, im, np.log10(np.maximum(tau, 1e-16)), levels=8, cmap="Greys", linewidths=0.7)
        ax.clabel(cs, fontsize=6, fmt="%.1f")
        ax.plot([], [], color="0.4", lw=0.7, label=r"pseudospectrum $\log_{10}\tau$")
    if not continuous:
        th = np.linspace(0, 2 * np.pi, 400)
        ax.plot(np.cos(th), np.sin(th), "k-", lw=0.6, alpha=0.5, label="unit circle")
    else:
        ax.axvline(0.0, color="k", lw=0.6, alpha=0.5)
    if residuals is not None:
        res = np.maximum(np.asarray(residuals, dtype=float), 1e-16)
        sc = ax.scatter(ev.real, ev.imag, c=np.log10(res), cmap="viridis", s=36, edgecolors="k",
                        linewidths=0.4, zorder=3, label="eigenvalues")
        fig.colorbar(sc, ax=ax, label="log10 residual")
    else:
        ax.scatter(ev.real, ev.imag, s=36, edgecolors="k", linewidths=0.4, zorder=3, label="eigenvalues")
    if reference is not None:
        ref = np.asarray(reference).astype(complex)
        ax.scatter(ref.real, ref.imag, marker="x", c="r", s=60, zorder=4, label="reference")
    ax.legend(fontsize=8)
    ax.set_xlabel("Re")
    ax.set_ylabel("Im")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def koopman_eigenfunctions(eigenfunctions, xlim, ylim, *, n: int = 80, which=(0, 1, 2, 3), labels=None):
    """Real parts of eigenfunctions of a 2-D system on an `n x n` grid.

    **Arguments:**

    - `eigenfunctions`: callable, one state `(2,)` -> `(r,)` (e.g. `jaxrep.koopman.eig(est).eigenfunctions`).
    - `xlim`, `ylim`: `(low, high)` of the grid.
    - `which`: indices to draw; `labels`: optional titles (e.g. the eigenvalues).

    **Returns:** a matplotlib `Figure`.
    """
    plt = _pyplot()
    gx, gy = np.linspace(*xlim, n), np.linspace(*ylim, n)
    xx, yy = np.meshgrid(gx, gy)
    pts = jnp.asarray(np.stack([xx.ravel(), yy.ravel()], -1))
    vals = np.asarray(jax.vmap(eigenfunctions)(pts))
    which = [i for i in which if i < vals.shape[1]]
    fig, axes = plt.subplots(1, len(which), figsize=(3.4 * len(which), 3.0), squeeze=False)
    for ax, i in zip(axes[0], which):
        v = vals[:, i]
        v = v / (np.max(np.abs(v)) + 1e-300)
        im = ax.pcolormesh(xx, yy, np.real(v).reshape(xx.shape), shading="auto", cmap="RdBu_r")
        fig.colorbar(im, ax=ax, label=r"Re $\varphi$ / max$|\varphi|$")
        ax.set_title(labels[i] if labels is not None else f"eigenfunction {i}", fontsize=9)
    fig.tight_layout()
    return fig


def koopman_forecast(ts, truth, prediction, *, names=None, title: str = "forecast vs truth"):
    """Forecast against the true trajectory, one panel per state component.

    **Arguments:** `ts` `(n_t,)`; `truth`, `prediction` `(n_t, d)`; optional component `names`.

    **Returns:** a matplotlib `Figure`.
    """
    plt = _pyplot()
    ts, truth, prediction = (np.asarray(a) for a in (ts, truth, prediction))
    d = truth.shape[1]
    fig, axes = plt.subplots(d, 1, figsize=(6, 1.8 * d + 0.6), sharex=True, squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        ax.plot(ts, truth[:, j], "k-", lw=1.2, label="truth")
        ax.plot(ts, prediction[:, j], "r--", lw=1.2, label="Koopman")
        ax.set_ylabel(names[j] if names else f"x{j + 1}")
        ax.grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("t")
    fig.tight_layout()
    return fig
