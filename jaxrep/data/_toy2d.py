r"""Two-dimensional toy distributions for generative modelling, with exact log-densities where they exist.

Each distribution is an Equinox module with `sample(n, *, key) -> (n, 2)` and, where the density is
known in closed form, `log_prob(x)` for **one** point `(2,)` (vmap for batches):

| class | density | `log_prob` |
|---|---|---|
| `Checkerboard` | uniform on the 8 "black" cells of a 4x4 board | exact ($-\ln 32$ inside for scale 2) |
| `EightGaussians` | mixture of 8 isotropic Gaussians on a circle | exact |
| `Rings` | concentric circles + isotropic Gaussian noise | exact (Bessel $I_0$) |
| `Gaussian` | $\mathcal N(m, s^2 I)$ | exact |
| `Moons`, `Spirals` | noisy curves | not available |

**References:** Grathwohl et al., "FFJORD" (2019) and Tong et al., "Improving and generalizing
flow-based generative models with minibatch optimal transport" (torchcfm, 2023) for these benchmarks.
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import did_you_mean


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")


def _check_point(x, owner):
    if jnp.shape(x) != (2,):
        hint = " (for batches use jax.vmap)" if jnp.ndim(x) == 2 and jnp.shape(x)[-1] == 2 else ""
        raise ValueError(f"{owner}.log_prob expects x of shape (2,), got {jnp.shape(x)}{hint}")


def _check_positive(value, name, owner):
    if not value > 0:
        raise ValueError(f"{owner} expects {name} > 0, got {value!r}")


class AbstractToyDistribution(eqx.Module):
    """A 2-D distribution: `sample(n, *, key)`; `log_prob(x)` where the density is known."""

    has_log_prob: eqx.AbstractClassVar[bool]

    @abc.abstractmethod
    def sample(self, n: int, *, key: PRNGKeyArray) -> Float[Array, "n 2"]:
        raise NotImplementedError

    def log_prob(self, x: Float[Array, " 2"]) -> Float[Array, ""]:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form density")


class Checkerboard(AbstractToyDistribution):
    r"""Uniform density on the cells $(i,j)$ with $i+j$ even of a 4x4 board on $[-2s, 2s]^2$.

    Each cell has side $s$ (`scale`), so the support has area $8s^2$ and the exact negative
    log-likelihood (= entropy) is $\ln(8s^2)$: $\ln 32\approx3.466$ nats for the standard $s=2$.
    """

    scale: float = eqx.field(static=True, default=2.0)
    has_log_prob = True

    def __check_init__(self):
        _check_positive(self.scale, "scale", "Checkerboard")

    @property
    def entropy(self) -> float:
        """Exact differential entropy $\\ln(8s^2)$ in nats."""
        return math.log(8 * self.scale**2)

    def sample(self, n: int, *, key: PRNGKeyArray) -> Float[Array, "n 2"]:
        _check_n(n)
        kc, ku = jr.split(key)
        # the 8 cells with i + j even, indexed by (row i, column j) in 0..3
        cells = jnp.array([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0], float)
        idx = jr.randint(kc, (n,), 0, 8)
        u = jr.uniform(ku, (n, 2))
        return self.scale * (cells[idx] + u - 2.0)

    def log_prob(self, x: Float[Array, " 2"]) -> Float[Array, ""]:
        _check_point(x, "Checkerboard")
        c = x / self.scale + 2.0
        inside = jnp.all((c >= 0) & (c < 4))
        ij = jnp.floor(c)
        black = jnp.mod(ij[0] + ij[1], 2) == 0
        return jnp.where(inside & black, -jnp.log(8 * self.scale**2), -jnp.inf)


class EightGaussians(AbstractToyDistribution):
    r"""Equal mixture of 8 Gaussians $\mathcal N(r(\cos\theta_k,\sin\theta_k), \sigma^2I)$, $\theta_k=k\pi/4$."""

    radius: float = eqx.field(static=True, default=2.0)
    std: float = eqx.field(static=True, default=0.1)
    has_log_prob = True

    def __check_init__(self):
        _check_positive(self.radius, "radius", "EightGaussians")
        _check_positive(self.std, "std", "EightGaussians")

    def centers(self) -> Float[Array, "8 2"]:
        theta = jnp.arange(8) * jnp.pi / 4
        return self.radius * jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=-1)

    def sample(self, n: int, *, key: PRNGKeyArray) -> Float[Array, "n 2"]:
        _check_n(n)
        kc, kz = jr.split(key)
        idx = jr.randint(kc, (n,), 0, 8)
        return self.centers()[idx] + self.std * jr.normal(kz, (n, 2))

    def log_prob(self, x: Float[Array, " 2"]) -> Float[Array, ""]:
        _check_point(x, "EightGaussians")
        sq = jnp.sum((x - self.centers()) ** 2, axis=-1)
        comp = -0.5 * sq / self.std**2 - jnp.log(2 * jnp.pi * self.std**2)
        return jax.nn.logsumexp(comp) - jnp.log(8.0)


class Rings(AbstractToyDistribution):
    r"""Equal mixture over radii $r_k$ of a uniform point on the circle of radius $r_k$ plus $\mathcal N(0,\sigma^2I)$.

    Integrating the angle out gives the exact density
    $\rho(x)=\frac1K\sum_k\frac{1}{2\pi\sigma^2}\exp\!\big(-\frac{|x|^2+r_k^2}{2\sigma^2}\big)
    I_0\!\big(\frac{|x|r_k}{\sigma^2}\big)$, evaluated with the scaled Bessel function `i0e`.
    """

    radii: tuple[float, ...] = eqx.field(static=True, default=(1.0, 2.0, 3.0))
    std: float = eqx.field(static=True, default=0.08)
    has_log_prob = True

    def __check_init__(self):
        _check_positive(self.std, "std", "Rings")
        if len(self.radii) == 0 or min(self.radii) <= 0:
            raise ValueError(f"Rings expects a non-empty tuple of positive radii, got {self.radii!r}")

    def sample(self, n: int, *, key: PRNGKeyArray) -> Float[Array, "n 2"]:
        _check_n(n)
        kr, ka, kz = jr.split(key, 3)
        r = jnp.asarray(self.radii)[jr.randint(kr, (n,), 0, len(self.radii))]
        theta = jr.uniform(ka, (n,), maxval=2 * jnp.pi)
        pts = r[:, None] * jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=-1)
        return pts + self.std * jr.normal(kz, (n, 2))

    def log_prob(self, x: Float[Array, " 2"]) -> Float[Array, ""]:
        _check_point(x, "Rings")
        rho = jnp.sqrt(jnp.sum(x**2))
        r = jnp.asarray(self.radii, dtype=x.dtype)
        s2 = self.std**2
        arg = rho * r / s2
        # log I0(a) = log i0e(a) + a, so the exponent is -(rho - r)^2 / (2 s2)
        comp = -((rho - r) ** 2) / (2 * s2) + jnp.log(jax.scipy.special.i0e(arg)) - jnp.log(2 * jnp.pi * s2)
        return jax.nn.logsumexp(comp) - jnp.log(len(self.radii))


class Gaussian(AbstractToyDistribution):
    r"""Isotropic Gaussian $\mathcal N(m, s^2I)$ in 2-D (a reference with known everything)."""

    mean: tuple[float, float] = eqx.field(static=True, default=(0.0, 0.0))
    std: float = eqx.field(static=True, default=1.0)
    has_log_prob = True

    def __check_init__(self):
        _check_positive(self.std, "std", "Gaussian")

    def sample(self, n: int, *, key: PRNGKeyArray) -> Float[Array, "n 2"]:
        _check_n(n)
        return jnp.asarray(self.mean) + self.std * jr.normal(key, (n, 2))

    def log_prob(self, x: Float[Array, " 2"]) -> Float[Array, ""]:
        _check_point(x, "Gaussian")
        sq = jnp.sum((x - jnp.asarray(self.mean, x.dtype)) ** 2)
        return -0.5 * sq / self.std**2 - jnp.log(2 * jnp.pi * self.std**2)


class Moons(AbstractToyDistribution):
    r"""Two interleaving half circles (as `sklearn.datasets.make_moons`) plus $\mathcal N(0,\sigma^2I)$ noise,
    affinely mapped by `scale` and `shift`."""

    std: float = eqx.field(static=True, default=0.2)
    scale: float = eqx.field(static=True, default=3.0)
    shift: tuple[float, float] = eqx.field(static=True, default=(-1 / 3, -1 / 3))
    has_log_prob = False

    def sample(self, n: int, *, key: PRNGKeyArray) -> Float[Array, "n 2"]:
        _check_n(n)
        kc, ka, kz = jr.split(key, 3)
        upper = jr.bernoulli(kc, 0.5, (n,))
        theta = jr.uniform(ka, (n,), maxval=jnp.pi)
        top = jnp.stack([jnp.cos(theta), jnp.sin(theta)], -1)
        bottom = jnp.stack([1 - jnp.cos(theta), 0.5 - jnp.sin(theta)], -1)
        pts = jnp.where(upper[:, None], top, bottom) + self.std * jr.normal(kz, (n, 2))
        return self.scale * (pts + jnp.asarray(self.shift))


class Spirals(AbstractToyDistribution):
    r"""Two interleaved Archimedean spirals $r\propto\sqrt u$ (uniform arc density) plus Gaussian noise."""

    turns: float = eqx.field(static=True, default=1.5)
    radius: float = eqx.field(static=True, default=3.5)
    std: float = eqx.field(static=True, default=0.1)
    has_log_prob = False

    def sample(self, n: int, *, key: PRNGKeyArray) -> Float[Array, "n 2"]:
        _check_n(n)
        kc, ku, kz = jr.split(key, 3)
        arm = jr.bernoulli(kc, 0.5, (n,))
        u = jnp.sqrt(jr.uniform(ku, (n,)))
        theta = 2 * jnp.pi * self.turns * u + jnp.where(arm, jnp.pi, 0.0)
        r = self.radius * u
        pts = r[:, None] * jnp.stack([jnp.cos(theta), jnp.sin(theta)], -1)
        return pts + self.std * jr.normal(kz, (n, 2))


# names -> classes, resolved once at the config edge
TOY_DISTRIBUTIONS = {
    "checkerboard": Checkerboard,
    "8gaussians": EightGaussians,
    "rings": Rings,
    "gaussian": Gaussian,
    "moons": Moons,
    "spirals": Spirals,
}


def toy2d(name: str, **kwargs) -> AbstractToyDistribution:
    """Instantiate a toy distribution by name (`checkerboard`, `8gaussians`, `rings`, `gaussian`,
    `moons`, `spirals`), with keyword arguments passed to its class."""
    if name not in TOY_DISTRIBUTIONS:
        hint = did_you_mean(name, TOY_DISTRIBUTIONS)
        raise ValueError(f"toy distribution {name!r} is unknown{hint} (valid: {', '.join(TOY_DISTRIBUTIONS)})")
    return TOY_DISTRIBUTIONS[name](**kwargs)
