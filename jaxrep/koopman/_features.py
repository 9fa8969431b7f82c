r"""Feature dictionaries $\psi: \mathbb{R}^d \to \mathbb{R}^p$ for EDMD, and kernels for kernel methods.

Every dictionary acts on **one** state `x` of shape `(d,)` and returns `(p,)`; estimators vmap it.
Any callable with that contract works as a dictionary, including a `jaxrep.nn` model.
"""

import itertools
import math
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._validate import check_positive


def _check_state(x, d: int, owner: str):
    if jnp.shape(x) != (d,):
        raise ValueError(
            f"{owner} expects one state of shape ({d},), got {jnp.shape(x)} (for batches use jax.vmap)"
        )


class Polynomial(eqx.Module):
    r"""All monomials $x^\alpha = \prod_j x_j^{\alpha_j}$ with $|\alpha| \le$ `degree`.

    Ordered by total degree (constant first if `constant=True`, then $x_1..x_d$, then degree 2, ...),
    so `Polynomial(d, 1, constant=False)` is the identity (plain DMD).

    **Arguments:**

    - `in_size`: state dimension $d$.
    - `degree`: maximal total degree ($\ge 1$).
    - `constant`: include the constant function (default `True`).

    **Returns** (on call): `(p,)` with $p = \binom{d + \text{degree}}{d}$ (minus one without constant).
    """

    exponents: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    in_size: int = eqx.field(static=True)

    def __init__(self, in_size: int, degree: int, constant: bool = True):
        if isinstance(in_size, bool) or not isinstance(in_size, int) or in_size < 1:
            raise ValueError(f"in_size must be an integer >= 1, got {in_size!r}")
        if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
            raise ValueError(f"degree must be an integer >= 1, got {degree!r}")
        exps = []
        for total in range(0 if constant else 1, degree + 1):
            for combo in itertools.combinations_with_replacement(range(in_size), total):
                alpha = [0] * in_size
                for j in combo:
                    alpha[j] += 1
                exps.append(tuple(alpha))
        self.exponents = tuple(exps)
        self.in_size = in_size

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " p"]:
        _check_state(x, self.in_size, "Polynomial")
        # integer_pow per (feature, coordinate): exact, and differentiable at x = 0.
        cols = [
            jnp.prod(jnp.stack([x[j] ** a[j] for j in range(self.in_size)]))
            for a in self.exponents
        ]
        return jnp.stack(cols)


class RBF(eqx.Module):
    r"""Gaussian radial basis functions $\psi_i(x) = \exp(-\|x - c_i\|^2 / (2\ell^2))$.

    **Arguments:** `centers` `(p, d)`; `length_scale` $\ell > 0$.
    """

    centers: Float[Array, "p d"]
    length_scale: float = eqx.field(static=True)

    def __init__(self, centers: Float[ArrayLike, "p d"], length_scale: float):
        centers = jnp.asarray(centers)
        if centers.ndim != 2:
            raise ValueError(f"RBF: centers must have shape (p, d), got {centers.shape}")
        check_positive(length_scale, "RBF: length_scale")
        self.centers = centers
        self.length_scale = float(length_scale)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " p"]:
        _check_state(x, self.centers.shape[1], "RBF")
        sq = jnp.sum((x - self.centers) ** 2, axis=-1)
        return jnp.exp(-0.5 * sq / self.length_scale**2)


class RandomFourier(eqx.Module):
    r"""Random Fourier features $\psi(x) = \sqrt{2/p}\,\cos(Wx + b)$ (Rahimi & Recht, 2007).

    $W_{ij} \sim \mathcal N(0, \ell^{-2})$, $b_i \sim \mathcal U(0, 2\pi)$, so that
    $\psi(x)^\top\psi(y) \to \exp(-\|x-y\|^2/(2\ell^2))$ as $p \to \infty$.

    **Arguments:** `in_size` $d$; `n_features` $p$; `length_scale` $\ell$; `key` (keyword-only).
    """

    weight: Float[Array, "p d"]
    bias: Float[Array, " p"]

    def __init__(self, in_size: int, n_features: int, length_scale: float = 1.0, *,
                 key: PRNGKeyArray):
        check_positive(length_scale, "RandomFourier: length_scale")
        k1, k2 = jr.split(key)
        self.weight = jr.normal(k1, (n_features, in_size)) / length_scale
        self.bias = jr.uniform(k2, (n_features,), maxval=2 * math.pi)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " p"]:
        _check_state(x, self.weight.shape[1], "RandomFourier")
        p = self.weight.shape[0]
        return math.sqrt(2.0 / p) * jnp.cos(self.weight @ x + self.bias)


class Concat(eqx.Module):
    """Stack several dictionaries: $\\psi(x) = [\\psi_1(x), \\psi_2(x), \\dots]$."""

    parts: tuple

    def __init__(self, *parts: Callable):
        self.parts = tuple(parts)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " p"]:
        return jnp.concatenate([jnp.atleast_1d(f(x)) for f in self.parts])


class GaussianKernel(eqx.Module):
    r"""Gaussian (squared-exponential) kernel $k(x, y) = \exp(-\|x-y\|^2 / (2\ell^2))$."""

    length_scale: float = eqx.field(static=True)

    def __init__(self, length_scale: float = 1.0):
        check_positive(length_scale, "GaussianKernel: length_scale")
        self.length_scale = float(length_scale)

    def __call__(self, x: Float[Array, " d"], y: Float[Array, " d"]) -> Float[Array, ""]:
        return jnp.exp(-0.5 * jnp.sum((x - y) ** 2) / self.length_scale**2)

    def gram(self, X: Float[Array, "n d"], Z: Float[Array, "m d"]) -> Float[Array, "n m"]:
        """Kernel matrix $k(X_i, Z_j)$ through the expanded squared distance (one matmul)."""
        sq = (
            jnp.sum(X**2, -1)[:, None]
            + jnp.sum(Z**2, -1)[None, :]
            - 2 * jnp.matmul(X, Z.T, precision=jax.lax.Precision.HIGHEST)
        )
        return jnp.exp(-0.5 * jnp.maximum(sq, 0.0) / self.length_scale**2)


def gram(kernel: Callable, X: Float[Array, "n d"], Z: Float[Array, "m d"]) -> Float[Array, "n m"]:
    """Kernel matrix of any kernel: its `gram` method if it has one, else a double vmap."""
    if hasattr(kernel, "gram"):
        return kernel.gram(X, Z)
    return jax.vmap(lambda x: jax.vmap(lambda z: kernel(x, z))(Z))(X)
