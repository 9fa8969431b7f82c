r"""Quadratic objectives whose minimisers are the velocity, score and denoiser of an interpolant.

Fields are single-sample callables `f(t, x) -> (d,)` with a scalar `t`. Each loss is a per-sample
kernel vmapped over the batch; with `antithetic=True` every sample uses the pair $(z,-z)$, which cancels
the leading (diverging near $t\in\{0,1\}$) term of the $\dot\gamma z$ and $z/\gamma$ contributions.

Sign convention: the **denoiser** is $\eta(t,x)=\mathbb E[\xi\mid x_t=x]$ where $\xi$ is the Gaussian
latent ($\xi=z$, or $\xi=x_0$ for a one-sided interpolant) and $\sigma(t)$ its scale
(`Interpolant.noise_scale`). The **score** is then $s(t,x)=\nabla\log\rho_t(x)=-\eta(t,x)/\sigma(t)$.
The velocity splits as $b=v-\gamma\dot\gamma\,s$ with $v(t,x)=\mathbb E[\dot\alpha x_0+\dot\beta x_1\mid
x_t=x]$ (see `velocity_from_parts`).

**References:** Albergo, Boffi, Vanden-Eijnden, "Stochastic Interpolants: A Unifying Framework for
Flows and Diffusions", arXiv:2303.08797, Sec. 2–3 and Sec. 6 (antithetic sampling).
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_same_shape, check_time
from ._coupling import AbstractCoupling
from ._interpolant import Interpolant

Field = Callable[[Float[Array, ""], Float[Array, " d"]], Float[Array, " d"]]


def _prepare(I, x0, x1, key, t, t_range, coupling=None):
    if not isinstance(I, Interpolant):
        raise TypeError(f"I must be an Interpolant, got {type(I).__name__}")
    if coupling is not None and not isinstance(coupling, AbstractCoupling):
        raise TypeError(f"coupling must be an AbstractCoupling (e.g. ExactOT()), got {type(coupling).__name__}")
    check_same_shape(x0, x1, "x0", "x1")
    if jnp.ndim(x0) == 1:
        x0, x1 = x0[None], x1[None]
    if jnp.ndim(x0) != 2:
        raise ValueError(f"x0 must have shape (n, d) or (d,), got {jnp.shape(x0)}")
    if coupling is not None:
        # The coupling gets its own key; without a coupling the key is used as before.
        key, k_coupling = jr.split(key)
        x0, x1 = coupling(x0, x1, key=k_coupling)
    n = x0.shape[0]
    lo, hi = t_range
    check_time(jnp.asarray([lo, hi]), "t_range")
    if not lo < hi:
        raise ValueError(f"t_range must satisfy t_min < t_max, got {t_range}")
    kt, kz = jr.split(key)
    if t is None:
        t = jr.uniform(kt, (n,), dtype=x0.dtype, minval=lo, maxval=hi)
    else:
        t = jnp.broadcast_to(jnp.asarray(t, dtype=x0.dtype), (n,))
        check_time(t, "t")
    z = jr.normal(kz, x0.shape, dtype=x0.dtype)
    return x0, x1, t, z


def _noise(I, x0, z):
    return x0 if I.gaussian_x0 else z


def _pair(kernel, I, t, x0, x1, z, antithetic):
    if not antithetic or I.gaussian_x0:
        # One-sided: the latent x0 is a data input, not resampled here, so no antithetic pair.
        return kernel(t, x0, x1, z)
    return 0.5 * (kernel(t, x0, x1, z) + kernel(t, x0, x1, -z))


def velocity_loss(
    b: Field,
    I: Interpolant,
    x0: Float[Array, "n d"],
    x1: Float[Array, "n d"],
    *,
    key: PRNGKeyArray,
    t=None,
    antithetic: bool = True,
    include_gamma_dot: bool = True,
    t_range: tuple[float, float] = (0.0, 1.0),
    coupling: Optional[AbstractCoupling] = None,
) -> Float[Array, ""]:
    r"""Velocity objective $L_b=\mathbb E\big[\tfrac12|b(t,x_t)|^2-(\dot\alpha x_0+\dot\beta x_1+\dot\gamma z)\cdot b(t,x_t)\big]$.

    Its minimiser is $b(t,x)=\mathbb E[\partial_t x_t\mid x_t=x]$, the velocity of the probability-flow
    ODE. With `include_gamma_dot=False` the target drops $\dot\gamma z$ and the minimiser is
    $v(t,x)=\mathbb E[\dot\alpha x_0+\dot\beta x_1\mid x_t=x]$ (no endpoint singularity; combine with
    a score through `velocity_from_parts`). Up to a $b$-independent constant this equals
    $\tfrac12\mathbb E|b-\partial_t x_t|^2$.

    **Arguments:**

    - `b`: velocity field `b(t, x) -> (d,)` for one sample.
    - `I`: the `Interpolant`.
    - `x0`, `x1`: batches `(n, d)` of (coupled or independent) samples of the two marginals.
    - `key`: PRNG key for $t\sim U(t_\min,t_\max)$ and $z\sim\mathcal N(0,I)$ (keyword-only).
    - `t`: optional fixed time(s) (scalar or `(n,)`) instead of random ones.
    - `antithetic`: average over the pair $(z,-z)$.
    - `t_range`: $(t_\min, t_\max)$ for the uniform time distribution.
    - `coupling`: an [`AbstractCoupling`][jaxrep.interpolants.AbstractCoupling] (e.g. `ExactOT()`,
      `SinkhornOT(epsilon)`) that re-pairs `x1` with `x0` first, inside the compiled step; it draws
      from `k_coupling` of `key, k_coupling = jax.random.split(key)` and the loss from `key`.

    **Returns:** the batch-mean loss, a scalar.
    """
    x0, x1, t, z = _prepare(I, x0, x1, key, t, t_range, coupling)

    def kernel(t, x0, x1, z):
        xt = I(t, x0, x1, z)
        target = I.time_derivative(t, x0, x1, z if include_gamma_dot else None)
        bt = b(t, xt)
        return 0.5 * jnp.sum(bt**2) - jnp.sum(target * bt)

    per = jax.vmap(lambda t, a, c, z: _pair(kernel, I, t, a, c, z, antithetic))(t, x0, x1, z)
    return jnp.mean(per)


def score_loss(
    s: Field,
    I: Interpolant,
    x0: Float[Array, "n d"],
    x1: Float[Array, "n d"],
    *,
    key: PRNGKeyArray,
    t=None,
    antithetic: bool = True,
    t_range: tuple[float, float] = (0.0, 1.0),
    coupling: Optional[AbstractCoupling] = None,
) -> Float[Array, ""]:
    r"""Score objective $L_s=\mathbb E\big[\tfrac12|s(t,x_t)|^2+\sigma(t)^{-1}\xi\cdot s(t,x_t)\big]$.

    Minimised by $s(t,x)=-\mathbb E[\xi\mid x_t=x]/\sigma(t)=\nabla\log\rho_t(x)$. The $1/\sigma$ factor
    diverges at the endpoints: keep `t_range` inside $(0,1)$ or use `denoiser_loss`.

    **Arguments:** as `velocity_loss` (including `coupling`), with `s` the score field `s(t, x) -> (d,)`.

    **Returns:** the batch-mean loss, a scalar.
    """
    x0, x1, t, z = _prepare(I, x0, x1, key, t, t_range, coupling)

    def kernel(t, x0, x1, z):
        xt = I(t, x0, x1, z)
        st = s(t, xt)
        return 0.5 * jnp.sum(st**2) + jnp.sum(_noise(I, x0, z) * st) / I.noise_scale(t)

    per = jax.vmap(lambda t, a, c, z: _pair(kernel, I, t, a, c, z, antithetic))(t, x0, x1, z)
    return jnp.mean(per)


def denoiser_loss(
    eta: Field,
    I: Interpolant,
    x0: Float[Array, "n d"],
    x1: Float[Array, "n d"],
    *,
    key: PRNGKeyArray,
    t=None,
    antithetic: bool = True,
    t_range: tuple[float, float] = (0.0, 1.0),
    coupling: Optional[AbstractCoupling] = None,
) -> Float[Array, ""]:
    r"""Denoiser objective $L_\eta=\mathbb E\big[\tfrac12|\eta(t,x_t)|^2-\xi\cdot\eta(t,x_t)\big]$.

    Minimised by $\eta(t,x)=\mathbb E[\xi\mid x_t=x]$, with $\xi=z$ (or $x_0$ if one-sided); the score
    is $s=-\eta/\sigma$ (`score_from_denoiser`).

    **Arguments:** as `velocity_loss` (including `coupling`), with `eta` the denoiser `eta(t, x) -> (d,)`.

    **Returns:** the batch-mean loss, a scalar.
    """
    x0, x1, t, z = _prepare(I, x0, x1, key, t, t_range, coupling)

    def kernel(t, x0, x1, z):
        et = eta(t, I(t, x0, x1, z))
        return 0.5 * jnp.sum(et**2) - jnp.sum(_noise(I, x0, z) * et)

    per = jax.vmap(lambda t, a, c, z: _pair(kernel, I, t, a, c, z, antithetic))(t, x0, x1, z)
    return jnp.mean(per)


def score_from_denoiser(eta: Field, I: Interpolant) -> Field:
    r"""The score field $s(t,x)=-\eta(t,x)/\sigma(t)$ of a denoiser $\eta$ (see module docstring)."""

    def s(t, x):
        return -eta(t, x) / I.noise_scale(t)

    return s


def velocity_from_parts(v: Field, s: Field, I: Interpolant) -> Field:
    r"""$b(t,x)=v(t,x)-\gamma(t)\dot\gamma(t)\,s(t,x)$ from the $\dot\gamma$-free velocity $v$ and the score.

    Uses the stable $\gamma\dot\gamma=\frac12\frac d{dt}\gamma^2$, so $b$ is finite up to the endpoints.
    """

    def b(t, x):
        return v(t, x) - I.gamma_gamma_dot(t) * s(t, x)

    return b
