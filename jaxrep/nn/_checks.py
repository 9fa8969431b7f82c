"""Input validation shared by the single-sample modules of `jaxrep.nn`."""

import jax.numpy as jnp

from .._validate import check_int


def check_vector(x, size: int, name: str, owner: str) -> None:
    """Raise a clear `ValueError` unless `x` is one sample of shape `(size,)`."""
    shape = jnp.shape(x)
    if shape != (size,):
        hint = " (for batches use jax.vmap)" if len(shape) > 1 and shape[-1] == size else ""
        raise ValueError(
            f"{owner} expects {name} of shape ({size},) for one sample, got shape {shape}{hint}"
        )


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """`int(value)`, or a `ValueError` naming `name` unless `value` is an integer >= `minimum`."""
    return check_int(value, name, minimum)
