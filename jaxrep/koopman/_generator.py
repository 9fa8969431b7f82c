r"""Parametrised continuous-time Koopman generators $A \in \mathbb{R}^{d\times d}$.

A latent state evolves linearly, $\dot z = A z$, so $z(t) = e^{tA} z_0$ (see
[`jaxrep.koopman.propagate`][]). The parametrisation of $A$ decides which spectra are reachable:

| `param=` | class | structure | spectrum |
|---|---|---|---|
| `"dense"` | `DenseGenerator` | any real matrix (SPIKE uses it with an L1 penalty for sparsity) | anywhere |
| `"stable"` | `StableGenerator` | $A = S - (LL^\top + \varepsilon I)$, $S^\top = -S$ | $\operatorname{Re}\lambda \le -\varepsilon$ |
| `"skew"` | `SkewGenerator` | $A = S$, $S^\top=-S$ (energy conserving) | $\operatorname{Re}\lambda = 0$ |
| `"eig"` | `EigGenerator` | $A = V\,\mathrm{blockdiag}(\mu_i \pm i\omega_i)\,V^{-1}$ (Lusch et al.) | $\{\mu_i \pm i\omega_i\}$ |

The string is mapped to a class once, in the [`jaxrep.koopman.Generator`][] factory.
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Complex, Float, PRNGKeyArray


def _check_dim(dim) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")


def _check_scale(scale, name: str = "scale") -> float:
    if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise ValueError(f"{name} must be a finite float >= 0, got {scale!r}")
    return float(scale)


class AbstractGenerator(eqx.Module):
    r"""A learnable continuous-time generator $A$ of a linear latent flow $\dot z = Az$.

    Subclasses supply `dim` and `matrix()`. Calling a generator on **one** latent vector returns the
    vector field $Az$ (batch with `jax.vmap`).
    """

    dim: eqx.AbstractVar[int]

    @abc.abstractmethod
    def matrix(self) -> Float[Array, "dim dim"]:
        """The generator matrix $A$, shape `(dim, dim)`."""

    def __call__(self, z: Float[Array, " dim"]) -> Float[Array, " dim"]:
        if jnp.shape(z) != (self.dim,):
            raise ValueError(
                f"{type(self).__name__} expects z of shape ({self.dim},) for one sample, got "
                f"{jnp.shape(z)} (for batches use jax.vmap)"
            )
        return jnp.dot(self.matrix(), z, precision=jax.lax.Precision.HIGHEST)


class DenseGenerator(AbstractGenerator):
    r"""Unconstrained generator $A = W$.

    $W$ starts with i.i.d. $\mathcal N(0, \text{scale}^2/d)$ entries, so by the circular law its
    eigenvalues fill a disc of radius about `scale`. Sparse generators (SPIKE) are this class plus
    [`jaxrep.koopman.losses.l1`][] on `matrix()`.

    **Arguments:**

    - `dim`: latent dimension $d$.
    - `scale`: initial spectral radius (default `1.0`; `0.0` starts from $A=0$).
    - `key`: PRNG key (keyword-only).
    """

    weight: Float[Array, "dim dim"]
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, scale: float = 1.0, *, key: PRNGKeyArray):
        _check_dim(dim)
        scale = _check_scale(scale)
        self.dim = dim
        self.weight = scale / math.sqrt(dim) * jr.normal(key, (dim, dim))

    def matrix(self) -> Float[Array, "dim dim"]:
        return self.weight


class SkewGenerator(AbstractGenerator):
    r"""Energy-conserving generator $A = W - W^\top$.

    $e^{tA}$ is orthogonal, so $\|z(t)\|_2 = \|z_0\|_2$ for all $t$ and every eigenvalue is purely
    imaginary.

    **Arguments:**

    - `dim`: latent dimension $d$.
    - `scale`: initial spectral radius (default `1.0`).
    - `key`: PRNG key (keyword-only).
    """

    weight: Float[Array, "dim dim"]
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, scale: float = 1.0, *, key: PRNGKeyArray):
        _check_dim(dim)
        scale = _check_scale(scale)
        self.dim = dim
        self.weight = scale / math.sqrt(2 * dim) * jr.normal(key, (dim, dim))

    def matrix(self) -> Float[Array, "dim dim"]:
        return self.weight - self.weight.T


class StableGenerator(AbstractGenerator):
    r"""Stable generator $A = (W - W^\top) - (LL^\top + \varepsilon I)$.

    For any $x\in\mathbb{C}^d$, $\operatorname{Re}(x^H A x) = -x^H(LL^\top+\varepsilon I)x
    \le -\varepsilon\|x\|^2$, so every eigenvalue satisfies $\operatorname{Re}\lambda\le-\varepsilon$
    for **all** parameter values: the latent flow cannot blow up during or after training.

    **Arguments:**

    - `dim`: latent dimension $d$.
    - `scale`: initial scale of the skew and dissipative parts (default `1.0`).
    - `eps`: guaranteed decay-rate margin $\varepsilon \ge 0$ (default `1e-3`, not trained).
    - `key`: PRNG key (keyword-only).

    **References:** the skew-minus-SPD parametrisation of stable Koopman generators used e.g. in
    Fan et al., "Learning stable Koopman embeddings" (2022).
    """

    skew_weight: Float[Array, "dim dim"]
    dissipation: Float[Array, "dim dim"]
    eps: float = eqx.field(static=True)
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, scale: float = 1.0, eps: float = 1e-3, *, key: PRNGKeyArray):
        _check_dim(dim)
        scale = _check_scale(scale)
        self.eps = _check_scale(eps, "eps")
        self.dim = dim
        k1, k2 = jr.split(key)
        self.skew_weight = scale / math.sqrt(2 * dim) * jr.normal(k1, (dim, dim))
        # L L^T has trace ~ scale * d / 2: decay rates of order scale / 2.
        self.dissipation = math.sqrt(scale / (2 * dim)) * jr.normal(k2, (dim, dim))

    def matrix(self) -> Float[Array, "dim dim"]:
        s = self.skew_weight - self.skew_weight.T
        l = self.dissipation
        p = jnp.dot(l, l.T, precision=jax.lax.Precision.HIGHEST)
        return s - p - self.eps * jnp.eye(self.dim, dtype=l.dtype)


class EigGenerator(AbstractGenerator):
    r"""Generator with prescribed eigenvalues, $A = V B V^{-1}$.

    $B$ is block diagonal in real form: for $i = 1..\lfloor d/2\rfloor$ a block
    $\begin{pmatrix}\mu_i & \omega_i\\ -\omega_i & \mu_i\end{pmatrix}$ (eigenvalues
    $\mu_i \pm i\omega_i$) and, when $d$ is odd, one real eigenvalue $\mu_{\text{real}}$. The
    learnable basis $V$ (initialised at $I$ plus a small perturbation) rotates the blocks; the
    eigenvalues of $A$ are exactly those of $B$ whenever $V$ is invertible.

    **Arguments:**

    - `dim`: latent dimension $d$.
    - `scale`: initial frequencies $\omega_i \sim \mathcal U(0, \text{scale})$; decay rates start
      at $\mu_i \sim -\mathcal U(0, \text{scale}/10)$.
    - `basis_noise`: standard deviation of the perturbation of $V = I + \cdot$ (default `0.01`).
    - `key`: PRNG key (keyword-only).

    **References:** Lusch, Kutz & Brunton, "Deep learning for universal linear embeddings of nonlinear
    dynamics", Nature Communications 9 (2018).
    """

    mu: Float[Array, " n_pairs"]
    omega: Float[Array, " n_pairs"]
    mu_real: Float[Array, " n_real"]
    basis: Float[Array, "dim dim"]
    dim: int = eqx.field(static=True)

    def __init__(
        self, dim: int, scale: float = 1.0, basis_noise: float = 0.01, *, key: PRNGKeyArray
    ):
        _check_dim(dim)
        scale = _check_scale(scale)
        basis_noise = _check_scale(basis_noise, "basis_noise")
        self.dim = dim
        n_pairs, n_real = dim // 2, dim % 2
        k1, k2, k3, k4 = jr.split(key, 4)
        self.omega = scale * jr.uniform(k1, (n_pairs,))
        self.mu = -0.1 * scale * jr.uniform(k2, (n_pairs,))
        self.mu_real = -0.1 * scale * jr.uniform(k3, (n_real,))
        self.basis = jnp.eye(dim) + basis_noise * jr.normal(k4, (dim, dim))

    def block_matrix(self) -> Float[Array, "dim dim"]:
        """The real block-diagonal form $B$."""
        n_pairs = self.dim // 2
        blocks = jnp.stack(
            [jnp.stack([self.mu, self.omega], -1), jnp.stack([-self.omega, self.mu], -1)], -2
        )  # (n_pairs, 2, 2)
        b = jnp.zeros((self.dim, self.dim), dtype=self.mu.dtype)
        idx = jnp.arange(n_pairs)
        for r in range(2):
            for c in range(2):
                b = b.at[2 * idx + r, 2 * idx + c].set(blocks[:, r, c])
        if self.dim % 2:
            b = b.at[-1, -1].set(self.mu_real[0])
        return b

    def eigenvalues(self) -> Complex[Array, " dim"]:
        r"""The eigenvalues $\mu_i \pm i\omega_i$ (and $\mu_{\text{real}}$), in block order."""
        pairs = jnp.stack([self.mu + 1j * self.omega, self.mu - 1j * self.omega], -1).reshape(-1)
        return jnp.concatenate([pairs, self.mu_real.astype(pairs.dtype)])

    def matrix(self) -> Float[Array, "dim dim"]:
        # A = V B V^{-1}  <=>  A^T = V^{-T} B^T V^T: one linear solve instead of an inverse.
        vb = jnp.dot(self.basis, self.block_matrix(), precision=jax.lax.Precision.HIGHEST)
        return jnp.linalg.solve(self.basis.T, vb.T).T


_GENERATORS: dict[str, type[AbstractGenerator]] = {
    "dense": DenseGenerator,
    "stable": StableGenerator,
    "skew": SkewGenerator,
    "eig": EigGenerator,
}


def generator_names() -> list[str]:
    """The valid `param=` names of [`jaxrep.koopman.Generator`][]."""
    return list(_GENERATORS)


def Generator(dim: int, param: str = "dense", *, key: PRNGKeyArray, **kwargs) -> AbstractGenerator:
    r"""Build a Koopman generator by name.

    **Arguments:**

    - `dim`: latent dimension $d$.
    - `param`: `"dense"`, `"stable"`, `"skew"` or `"eig"` (see the module table).
    - `key`: PRNG key (keyword-only).
    - `**kwargs`: forwarded to the class (`scale`, and `eps` for `"stable"`, `basis_noise` for `"eig"`).

    **Returns:** an [`AbstractGenerator`][jaxrep.koopman.AbstractGenerator]; `gen.matrix()` has shape
    `(dim, dim)`.
    """
    if param not in _GENERATORS:
        raise ValueError(f"param must be one of {generator_names()}, got {param!r}")
    return _GENERATORS[param](dim, key=key, **kwargs)
