"""jaxtyping aliases shared across the package."""

from typing import Any, Callable, Union

from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray, PyTree

Scalar = Float[Array, ""]
ScalarLike = Union[float, Float[ArrayLike, ""]]
Batch = PyTree[Any]
LossFn = Callable[..., tuple[Scalar, dict[str, Scalar]]]

__all__ = [
    "Array",
    "ArrayLike",
    "Batch",
    "Float",
    "Int",
    "LossFn",
    "PRNGKeyArray",
    "PyTree",
    "Scalar",
    "ScalarLike",
]
