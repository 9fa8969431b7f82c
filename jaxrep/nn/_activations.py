"""Name -> activation map, used only at the config/CLI edge."""

from typing import Callable

import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "softplus": jax.nn.softplus,
    "sin": jnp.sin,
    "identity": lambda x: x,
}


def get_activation(name: str) -> Callable:
    """Return the activation called `name`, or raise a `ValueError` listing the valid names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"activation={name!r} is unknown; valid names are {sorted(ACTIVATIONS)}"
        ) from None
