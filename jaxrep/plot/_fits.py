"""Figures of function fits: exact vs model vs error, grid extension, residuals of a symbolic fit."""

from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._train import _pyplot


def function_fit(fn: Callable, model: Callable, dim: int, *, n: int = 100, label: str = "model"):
    """A fitted function against the exact one on $[-1, 1]^d$.

    `dim = 1`: both curves on one axis. `dim = 2`: three panels on an `n x n` grid (exact, the model,
    $|$model $-$ exact$|$), each with a colorbar.

    **Arguments:** `fn` the exact function `(batch, dim) -> (batch, 1)`; `model` one sample `(dim,) -> (1,)`;
    `dim` 1 or 2; `n` grid points per axis; `label` the model's name in titles and legends.

    **Returns:** a matplotlib `Figure`.
    """
    if dim not in (1, 2):
        raise ValueError(f"function_fit draws 1-D or 2-D functions, got dim={dim!r}")
    plt = _pyplot()
    predict = jax.jit(jax.vmap(model))
    if dim == 1:
        x = jnp.linspace(-1, 1, 4 * n)[:, None]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x[:, 0], np.asarray(fn(x))[:, 0], "k-", label="exact")
        ax.plot(x[:, 0], np.asarray(predict(x))[:, 0], "r--", label=label)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        ax.legend()
        fig.tight_layout()
        return fig
    g = jnp.linspace(-1, 1, n)
    xx, yy = jnp.meshgrid(g, g)
    pts = jnp.stack([xx.ravel(), yy.ravel()], -1)
    exact = np.asarray(fn(pts)).reshape(xx.shape)
    pred = np.asarray(predict(pts)).reshape(xx.shape)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, z, title in zip(axes, [exact, pred, np.abs(pred - exact)], ["exact", label, "|error|"]):
        im = ax.pcolormesh(np.asarray(xx), np.asarray(yy), z, shading="auto")
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        fig.colorbar(im, ax=ax, label=f"|f - {label}|" if title == "|error|" else "f(x, y)")
    fig.tight_layout()
    return fig


def grid_extension(stages: Sequence[Mapping]):
    """Train and test RMSE against the grid size of a KAN's grid-extension schedule (log-log).

    **Arguments:** `stages` rows with `grid_size`, `train_rmse` and `test_rmse` (as `jaxrep run kan_fit`
    writes them).

    **Returns:** a matplotlib `Figure`.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    g = np.array([s["grid_size"] for s in stages])
    ax.loglog(g, [s["train_rmse"] for s in stages], "o-", label="train")
    ax.loglog(g, [s["test_rmse"] for s in stages], "s-", label="test")
    ax.set_xlabel("grid size G")
    ax.set_ylabel("RMSE")
    ax.set_title("grid extension")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def fit_residuals(truth, predictions: Mapping[str, tuple], *, title: str = ""):
    """Residuals (prediction - truth) against the truth, one panel per model.

    **Arguments:** `truth` `(n,)`; `predictions` `{label: (pred (n,), rmse)}`; `title` the figure's title.

    **Returns:** a matplotlib `Figure`.
    """
    plt = _pyplot()
    truth = np.asarray(truth)
    fig, axes = plt.subplots(1, len(predictions), figsize=(5 * len(predictions), 4), squeeze=False)
    lo, hi = float(truth.min()), float(truth.max())
    for ax, (label, (pred, rmse)) in zip(axes[0], predictions.items()):
        ax.scatter(truth, np.asarray(pred) - truth, s=3, alpha=0.5, label=f"{label}: test RMSE {rmse:.2e}")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xlim(lo, hi)
        ax.set_xlabel("true y (test split)")
        ax.set_ylabel("prediction - truth")
        ax.legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
