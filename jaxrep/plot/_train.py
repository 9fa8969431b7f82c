"""Training figures."""

import json
import pathlib

import numpy as np


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            import matplotlib.pyplot as plt  # noqa: F401
        except Exception:  # no display: fall back to Agg
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loss_curve(history, *, keys=None, title: str = "training", yscale: str = "log", ylabel: str = "value"):
    """Plot the metrics of a training run (on a log scale by default).

    **Arguments:**

    - `history`: the dict returned by `jaxrep.train.fit` (`{"step": ..., "loss": ..., ...}`) or the
      path of a `metrics.jsonl` file.
    - `keys`: metrics to draw (default: every metric except `step` and `time`).
    - `yscale`: `"log"` (absolute values) or `"linear"` (signed values: for losses that are negative
      at their minimum, e.g. an interpolant's velocity loss); `ylabel`: the y-axis label.

    **Returns:** a matplotlib `Figure`.
    """
    if isinstance(history, (str, pathlib.Path)):
        rows = [json.loads(line) for line in pathlib.Path(history).read_text().splitlines() if line]
        names = sorted({k for r in rows for k in r})
        history = {k: np.array([r.get(k, np.nan) for r in rows], dtype=float) for k in names}
    if yscale not in ("log", "linear"):
        raise ValueError(f"yscale must be 'log' or 'linear', got {yscale!r}")
    plt = _pyplot()
    keys = keys or [k for k in history if k not in ("step", "time", "steps_per_s")]
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = np.asarray(history["step"])
    for k in keys:
        vals = np.asarray(history[k], dtype=float)
        if yscale == "linear":
            ax.plot(steps, vals, label=k, lw=1.2 if k == "loss" else 0.8)
        elif np.any(np.abs(vals) > 0):
            ax.semilogy(steps, np.abs(vals), label=k, lw=1.2 if k == "loss" else 0.8)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if keys:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save(fig, path) -> pathlib.Path:
    """Save `fig` as a PNG at `path` (parents created) and close it."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
