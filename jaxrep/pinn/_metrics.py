r"""Scores of a solution: relative $L^2$ error, generator sparsity, valid prediction time."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


def relative_l2(pred: Float[ArrayLike, "..."], ref: Float[ArrayLike, "..."]) -> Float[Array, ""]:
    r"""$\|u_\theta - u_{\text{ref}}\|_2 / \|u_{\text{ref}}\|_2$ over all entries."""
    pred = jnp.asarray(pred)
    ref = jnp.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"relative_l2: pred and ref must have equal shapes, got {pred.shape} and {ref.shape}")
    return jnp.linalg.norm((pred - ref).ravel()) / jnp.linalg.norm(ref.ravel())


def sparsity(A: Float[ArrayLike, "dim dim"], tol: float = 1e-3) -> float:
    r"""Fraction of entries with $|A_{ij}| < \text{tol}\cdot\max|A|$ (SPIKE's sparsity measure)."""
    A = np.abs(np.asarray(A))
    top = A.max()
    if top == 0:
        return 1.0
    return float(np.mean(A < tol * top))


def valid_prediction_time(
    pred: Float[ArrayLike, "n_t ..."],
    ref: Float[ArrayLike, "n_t ..."],
    ts: Float[ArrayLike, " n_t"],
    *,
    threshold: float = 0.5,
) -> float:
    r"""First time at which $\|u_\theta(t) - u_{\text{ref}}(t)\| / \|u_{\text{ref}}(t)\|$ exceeds
    `threshold`, measured from `ts[0]`; `ts[-1] - ts[0]` if it never does.

    Divide by the Lyapunov time $1/\lambda_{\max}$ (multiply by $\lambda_{\max}$) for the usual
    chaotic-forecast score.
    """
    pred = np.asarray(pred).reshape(len(ts), -1)
    ref = np.asarray(ref).reshape(len(ts), -1)
    ts = np.asarray(ts)
    err = np.linalg.norm(pred - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-12)
    bad = np.nonzero(err > threshold)[0]
    t_end = ts[bad[0]] if bad.size else ts[-1]
    return float(t_end - ts[0])
