r"""Stochastic interpolants $x_t=\alpha(t)x_0+\beta(t)x_1+\gamma(t)z$ and their presets."""

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_same_shape, check_time, is_concrete
from ._schedules import (
    AbstractGamma,
    AbstractSchedule,
    Constant,
    Cosine,
    HalfCosineSquared,
    Linear,
    QuadraticGamma,
    SineSquaredGamma,
    Sine,
    SqrtGamma,
    ZeroGamma,
)


def _value_and_derivative(fn, t):
    t = jnp.asarray(t, dtype=jnp.result_type(float))
    return jax.jvp(fn, (t,), (jnp.ones_like(t),))


class Interpolant(eqx.Module):
    r"""A stochastic interpolant $x_t = \alpha(t)\,x_0 + \beta(t)\,x_1 + \gamma(t)\,z$, $z\sim\mathcal N(0,I)$.

    The boundary conditions $\alpha(0)=\beta(1)=1$, $\alpha(1)=\beta(0)=\gamma(0)=\gamma(1)=0$ make
    $x_{t=0}=x_0$ and $x_{t=1}=x_1$, so the law of $x_t$ bridges the two marginals. Time derivatives
    $\dot\alpha,\dot\beta,\dot\gamma$ come from `jax.jvp` of the schedules; $\gamma\dot\gamma$ from
    $\frac12\frac{d}{dt}\gamma^2$ (finite at the endpoints even where $\dot\gamma$ is not).

    With `gaussian_x0=True` the interpolant is *one-sided*: $x_0\sim\mathcal N(0,I)$ itself is the
    Gaussian latent (and $\gamma\equiv0$). The "noise" of $x_t$ that the denoiser predicts is then
    $x_0$ with scale $\alpha(t)$ instead of $z$ with scale $\gamma(t)$; see `noise_scale`.

    All methods act on **one sample** `(d,)` at a scalar time `t`; batch with `jax.vmap`.

    **Arguments:**

    - `alpha`, `beta`: `AbstractSchedule`s (scalar functions of `t`).
    - `gamma`: an `AbstractGamma` (default `ZeroGamma()`).
    - `gaussian_x0`: whether $x_0$ is a standard Gaussian (one-sided interpolant).

    **References:** M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic Interpolants: A Unifying
    Framework for Flows and Diffusions", arXiv:2303.08797 (2023).
    """

    alpha: AbstractSchedule
    beta: AbstractSchedule
    gamma: AbstractGamma = ZeroGamma()
    gaussian_x0: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        for name in ("alpha", "beta"):
            if not isinstance(getattr(self, name), AbstractSchedule):
                raise TypeError(f"Interpolant expects {name} to be an AbstractSchedule, got "
                                f"{type(getattr(self, name)).__name__}")
        if not isinstance(self.gamma, AbstractGamma):
            raise TypeError(f"Interpolant expects gamma to be an AbstractGamma, got {type(self.gamma).__name__}")
        if self.gaussian_x0 and not isinstance(self.gamma, ZeroGamma):
            raise ValueError("a one-sided interpolant (gaussian_x0=True) must have gamma=ZeroGamma(), "
                             f"got gamma={type(self.gamma).__name__}")

    # --- coefficients ---------------------------------------------------------------------------
    def coefficients(self, t: Float[ArrayLike, ""]) -> tuple[Float[Array, ""], ...]:
        r"""$(\alpha(t), \beta(t), \gamma(t))$."""
        return self.alpha(t), self.beta(t), self.gamma(t)

    def derivatives(self, t: Float[ArrayLike, ""]) -> tuple[Float[Array, ""], ...]:
        r"""$(\dot\alpha(t), \dot\beta(t), \dot\gamma(t))$ by forward-mode autodiff."""
        return tuple(_value_and_derivative(f, t)[1] for f in (self.alpha, self.beta, self.gamma))

    def gamma_gamma_dot(self, t: Float[ArrayLike, ""]) -> Float[Array, ""]:
        r"""$\gamma(t)\dot\gamma(t) = \tfrac12\tfrac{d}{dt}\gamma(t)^2$, finite at $t\in\{0,1\}$."""
        return 0.5 * _value_and_derivative(self.gamma.squared, t)[1]

    def noise_scale(self, t: Float[ArrayLike, ""]) -> Float[Array, ""]:
        r"""Scale $\sigma(t)$ of the Gaussian part of $x_t$: $\gamma(t)$, or $\alpha(t)$ if one-sided.

        The score is $s(t,x)=\nabla\log\rho_t(x)=-\eta(t,x)/\sigma(t)$ with the denoiser
        $\eta(t,x)=\mathbb E[\xi\mid x_t=x]$, $\xi=z$ (or $\xi=x_0$ for a one-sided interpolant).
        """
        return self.alpha(t) if self.gaussian_x0 else self.gamma(t)

    # --- paths -----------------------------------------------------------------------------------
    def __call__(
        self,
        t: Float[ArrayLike, ""],
        x0: Float[Array, " d"],
        x1: Float[Array, " d"],
        z: Optional[Float[Array, " d"]] = None,
    ) -> Float[Array, " d"]:
        r"""$x_t=\alpha(t)x_0+\beta(t)x_1+\gamma(t)z$ (`z=None` means $z=0$).

        **Arguments:** `t` scalar in [0, 1]; `x0`, `x1`, `z` of the same shape `(d,)`.

        **Returns:** $x_t$, shape `(d,)`.
        """
        self._check(t, x0, x1, z)
        a, b, g = self.coefficients(t)
        out = a * x0 + b * x1
        return out if z is None else out + g * z

    def time_derivative(
        self,
        t: Float[ArrayLike, ""],
        x0: Float[Array, " d"],
        x1: Float[Array, " d"],
        z: Optional[Float[Array, " d"]] = None,
    ) -> Float[Array, " d"]:
        r"""$\partial_t x_t=\dot\alpha x_0+\dot\beta x_1+\dot\gamma z$: the regression target of `velocity_loss`.

        With `z=None` this is $\dot\alpha x_0+\dot\beta x_1$, the target of `velocity_loss(...,
        include_gamma_dot=False)`. **Returns:** shape `(d,)`.
        """
        self._check(t, x0, x1, z)
        da, db, dg = self.derivatives(t)
        out = da * x0 + db * x1
        return out if z is None else out + dg * z

    def _check(self, t, x0, x1, z):
        check_time(t, "t")
        if jnp.ndim(t) != 0:
            raise ValueError(f"t must be a scalar (for batches use jax.vmap), got shape {jnp.shape(t)}")
        check_same_shape(x0, x1, "x0", "x1")
        if z is not None:
            check_same_shape(x0, z, "x0", "z")


# --------------------------------------------------------------------------------------------------
# presets


def linear(gamma: Optional[AbstractGamma] = None) -> Interpolant:
    r"""Linear interpolant $x_t=(1-t)x_0+tx_1+\gamma(t)z$; with `gamma=None` it is Cond-OT (rectified flow)."""
    return Interpolant(Linear(1.0, 0.0), Linear(0.0, 1.0), gamma or ZeroGamma())


def trig(gamma: Optional[AbstractGamma] = None) -> Interpolant:
    r"""Trigonometric interpolant $x_t=\cos(\tfrac{\pi t}2)x_0+\sin(\tfrac{\pi t}2)x_1+\gamma(t)z$."""
    return Interpolant(Cosine(), Sine(), gamma or ZeroGamma())


def encoder_decoder(gamma: Optional[AbstractGamma] = None) -> Interpolant:
    r"""Encoder–decoder interpolant: $\alpha=\cos^2(\pi t)\mathbf 1_{t<1/2}$, $\beta=\cos^2(\pi t)\mathbf 1_{t>1/2}$,
    $\gamma=\sin^2(\pi t)$ (default), so $x_{1/2}=z$ is pure noise."""
    return Interpolant(HalfCosineSquared(True), HalfCosineSquared(False), gamma or SineSquaredGamma())


def one_sided(kind: str = "linear") -> Interpolant:
    r"""One-sided interpolant from a Gaussian base $x_0\sim\mathcal N(0,I)$: `kind="linear"` gives
    $x_t=(1-t)x_0+tx_1$, `kind="trig"` gives $x_t=\cos(\tfrac{\pi t}2)x_0+\sin(\tfrac{\pi t}2)x_1$."""
    presets = {"linear": (Linear(1.0, 0.0), Linear(0.0, 1.0)), "trig": (Cosine(), Sine())}
    if kind not in presets:
        raise ValueError(f"one_sided expects kind in {sorted(presets)}, got {kind!r}")
    alpha, beta = presets[kind]
    return Interpolant(alpha, beta, ZeroGamma(), gaussian_x0=True)


def mirror(gamma: Optional[AbstractGamma] = None) -> Interpolant:
    r"""Mirror interpolant $x_t=x_1+\gamma(t)z$ from the data to itself (use with $x_0=x_1$);
    default $\gamma=\sqrt{t(1-t)}$."""
    return Interpolant(Constant(0.0), Constant(1.0), gamma or SqrtGamma(1.0))


def brownian_bridge(sigma: float) -> Interpolant:
    r"""Brownian-bridge interpolant $x_t=(1-t)x_0+tx_1+\sigma\sqrt{t(1-t)}\,z$ (`linear(SqrtGamma(sigma**2))`).

    $\sigma>0$ is the diffusion of the reference Brownian motion $\sigma W_t$; the velocity target is
    $x_1-x_0+\sigma\frac{1-2t}{2\sqrt{t(1-t)}}z$. With an entropic coupling at $\epsilon=2\sigma^2$ this is
    Schrödinger-bridge flow matching (see `schrodinger_bridge`).
    """
    try:
        value = float(sigma) if is_concrete(sigma) and np.ndim(sigma) == 0 else None
    except (TypeError, ValueError):
        value = None
    if value is None:
        raise TypeError(f"sigma must be a concrete real scalar (it sets a static schedule), got {sigma!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"sigma must be a finite number > 0 (sigma=0 makes the Brownian bridge degenerate: use "
                         f"linear() for the noiseless path), got sigma={sigma!r}")
    return Interpolant(Linear(1.0, 0.0), Linear(0.0, 1.0), SqrtGamma(value**2))


# names -> gamma classes, resolved once at the config edge
GAMMAS = {
    "zero": ZeroGamma,
    "sqrt": SqrtGamma,
    "quadratic": QuadraticGamma,
    "sin2": SineSquaredGamma,
}


def interpolant_names() -> list[str]:
    """The interpolant constructors of `jaxrep.interpolants` and the `gamma=` names they take."""
    return ["linear", "trig", "encoder_decoder", "one_sided", "mirror"] + [f"gamma={g}" for g in GAMMAS]
