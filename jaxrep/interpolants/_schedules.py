r"""Scalar time schedules $t\mapsto\alpha(t), \beta(t), \gamma(t)$ of a stochastic interpolant.

Every schedule is an Equinox module mapping a scalar time `t` to a scalar. Time derivatives are never
hand-coded: `Interpolant` differentiates schedules with `jax.jvp`. Noise schedules $\gamma$ also expose
$\gamma^2$ (`squared`), from which $\gamma\dot\gamma = \tfrac12 \tfrac{d}{dt}\gamma^2$ is obtained by
autodiff; this stays finite at $t\in\{0,1\}$ for $\gamma=\sqrt{a t(1-t)}$, whose $\dot\gamma$ diverges.
"""

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


class AbstractSchedule(eqx.Module):
    """A scalar function of time $t\\in[0,1]$; subclasses implement `__call__(t) -> scalar`."""

    @abc.abstractmethod
    def __call__(self, t: Float[ArrayLike, ""]) -> Float[Array, ""]:
        raise NotImplementedError


class AbstractGamma(AbstractSchedule):
    r"""A noise schedule $\gamma(t)\ge0$ with $\gamma(0)=\gamma(1)=0$.

    `squared(t)` returns $\gamma(t)^2$; override it when $\gamma^2$ is smoother than $\gamma$ (so that
    $\gamma\dot\gamma=\frac12\frac{d}{dt}\gamma^2$ is stable at the endpoints).
    """

    def squared(self, t: Float[ArrayLike, ""]) -> Float[Array, ""]:
        return self(t) ** 2


class Constant(AbstractSchedule):
    """$c$, constant in time (e.g. $\\alpha=0, \\beta=1$ for the mirror interpolant)."""

    value: float = eqx.field(static=True)

    def __call__(self, t):
        return jnp.zeros_like(jnp.asarray(t, dtype=jnp.result_type(float))) + self.value


class Linear(AbstractSchedule):
    """$a + (b - a)t$: `Linear(1, 0)` is $1-t$, `Linear(0, 1)` is $t$."""

    start: float = eqx.field(static=True)
    end: float = eqx.field(static=True)

    def __call__(self, t):
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return self.start + (self.end - self.start) * t


class Cosine(AbstractSchedule):
    r"""$\cos(\pi t/2)$: goes from 1 to 0."""

    def __call__(self, t):
        return jnp.cos(0.5 * jnp.pi * jnp.asarray(t, dtype=jnp.result_type(float)))


class Sine(AbstractSchedule):
    r"""$\sin(\pi t/2)$: goes from 0 to 1."""

    def __call__(self, t):
        return jnp.sin(0.5 * jnp.pi * jnp.asarray(t, dtype=jnp.result_type(float)))


class HalfCosineSquared(AbstractSchedule):
    r"""$\cos^2(\pi t)$ on the first half ($t<\frac12$, `first_half=True`) or second half, else 0.

    The encoder–decoder interpolant uses $\alpha=\cos^2(\pi t)\mathbf 1_{t<1/2}$ and
    $\beta=\cos^2(\pi t)\mathbf 1_{t>1/2}$: data are encoded to pure noise at $t=\frac12$ and decoded.
    Both pieces are $C^1$ at $t=\frac12$ (value and slope vanish there).
    """

    first_half: bool = eqx.field(static=True)

    def __call__(self, t):
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        mask = t < 0.5 if self.first_half else t > 0.5
        return jnp.where(mask, jnp.cos(jnp.pi * t) ** 2, 0.0)


class ZeroGamma(AbstractGamma):
    r"""$\gamma(t)=0$: a deterministic interpolant (e.g. Cond-OT $x_t=(1-t)x_0+tx_1$)."""

    def __call__(self, t):
        return jnp.zeros_like(jnp.asarray(t, dtype=jnp.result_type(float)))

    def squared(self, t):
        return self(t)


class SqrtGamma(AbstractGamma):
    r"""$\gamma(t)=\sqrt{a\,t(1-t)}$, the Brownian-bridge schedule; $\gamma\dot\gamma=\tfrac a2(1-2t)$."""

    a: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        if not self.a > 0:
            raise ValueError(f"SqrtGamma expects a > 0, got a={self.a!r}")

    def squared(self, t):
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return self.a * t * (1.0 - t)

    def __call__(self, t):
        return jnp.sqrt(jnp.maximum(self.squared(t), 0.0))


class QuadraticGamma(AbstractGamma):
    r"""$\gamma(t)=a\,t(1-t)$."""

    a: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        if not self.a > 0:
            raise ValueError(f"QuadraticGamma expects a > 0, got a={self.a!r}")

    def __call__(self, t):
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return self.a * t * (1.0 - t)


class SineSquaredGamma(AbstractGamma):
    r"""$\gamma(t)=a\sin^2(\pi t)$ (the encoder–decoder noise schedule for $a=1$)."""

    a: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        if not self.a > 0:
            raise ValueError(f"SineSquaredGamma expects a > 0, got a={self.a!r}")

    def __call__(self, t):
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return self.a * jnp.sin(jnp.pi * t) ** 2
