"""Input validation shared by the interpolant functions (clear errors on concrete inputs)."""

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_time(t, name: str = "t") -> None:
    """`ValueError` unless every (concrete) value of `t` lies in [0, 1]."""
    if not is_concrete(t):
        return
    arr = np.asarray(t, dtype=float)
    if arr.size and (np.any(~np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {arr if arr.size < 8 else (arr.min(), arr.max())}")


def check_same_shape(a, b, name_a: str, name_b: str) -> None:
    if jnp.shape(a) != jnp.shape(b):
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {name_a}: {jnp.shape(a)} and "
            f"{name_b}: {jnp.shape(b)}"
        )


def check_sample(x, name: str, ndim: int = 1) -> None:
    """`ValueError` unless `x` has exactly `ndim` axes."""
    if jnp.ndim(x) != ndim:
        what = "one sample of shape (d,)" if ndim == 1 else "a batch of shape (n, d)"
        hint = " (for batches use jax.vmap)" if ndim == 1 and jnp.ndim(x) == 2 else ""
        raise ValueError(f"{name} must be {what}, got shape {jnp.shape(x)}{hint}")


def check_eps(eps, name: str = "eps") -> None:
    """`ValueError` unless a scalar diffusion coefficient is >= 0 (callables are checked at t=0.5)."""
    if callable(eps):
        value = eps(jnp.asarray(0.5))
    else:
        value = eps
    if not is_concrete(value):
        return
    arr = np.asarray(value, dtype=float)
    if arr.shape != ():
        raise ValueError(f"{name} must be a scalar or a callable t -> scalar, got shape {arr.shape}")
    if not np.isfinite(arr) or arr < 0:
        raise ValueError(f"{name} must be >= 0, got {float(arr)}")
