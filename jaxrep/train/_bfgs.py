r"""Dense (self-scaled) BFGS and Broyden quasi-Newton directions, as optax transformations."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, Int

_HI = jax.lax.Precision.HIGHEST
_SCALINGS = ("ssbroyden", "ssbfgs", "none")
# optax.lbfgs's default line search: strong Wolfe (zoom), at most 20 evaluations, first guess 1.
_ZOOM = optax.scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")


class ScaleByBfgsState(NamedTuple):
    """State of `scale_by_bfgs`; every leaf is a strongly typed array.

    The parameters, gradient and direction of the previous step are kept as flat vectors (the order of
    `jax.flatten_util.ravel_pytree`), next to the dense $n\\times n$ inverse-Hessian approximation.
    """

    count: Int[Array, ""]
    # Not named `params`/`grad`/`value`: `optax.value_and_grad_from_state` looks the line search's
    # `value` and `grad` up by name in the whole chain's state and refuses duplicates.
    prev_params: Float[Array, " n"]  # x_k
    prev_grad: Float[Array, " n"]  # g_k
    direction: Float[Array, " n"]  # d_k = H_k g_k, the direction returned at step k
    hess_inv: Float[Array, "n n"]  # H_k


def _dot(a, b):
    return jnp.dot(a, b, precision=_HI)


def _broyden_coefficients(ys, yhy, sbs, scaling: str, n: int, plain):
    r"""$\tau_k$ and $\phi_k$ of the self-scaled Broyden class (see `bfgs` for the formulas).

    `ys` is $y^\top s$, `yhy` $y^\top H y$ and `sbs` $s^\top B s$ with $B = H^{-1}$ (known from the
    line search without inverting $H$); `plain` (the first update) gives an unscaled BFGS update.
    """
    one = jnp.ones_like(ys)
    h = yhy / ys
    b = sbs / ys
    a = jnp.maximum(b * h - 1.0, 0.0)  # >= 0 by Cauchy-Schwarz; clip the rounding
    if scaling == "none":
        tau, phi = one, one
    elif scaling == "ssbfgs":
        tau, phi = jnp.minimum(1.0, 1.0 / b), one
    else:  # "ssbroyden"
        tiny = jnp.finfo(ys.dtype).tiny
        rho_minus = jnp.minimum(1.0, h * (1.0 - jnp.sqrt(a / (1.0 + a))))
        # a = 0 means y is parallel to B s: v = 0 and theta only enters tau, through 1 + a theta = 1.
        theta_minus = jnp.where(a > tiny, (rho_minus - 1.0) / jnp.where(a > tiny, a, 1.0), -jnp.inf)
        theta = jnp.maximum(theta_minus, jnp.minimum(1.0 / rho_minus, (1.0 - b) / b))
        sigma = 1.0 + a * theta
        sigma_root = jnp.exp(jnp.log(jnp.abs(sigma)) / (1.0 - n))  # |sigma|^{1/(1-n)}
        rho_b = jnp.minimum(1.0, 1.0 / b)
        tau = jnp.where(
            theta > 0,
            rho_b * jnp.minimum(sigma_root, 1.0 / jnp.where(theta > 0, theta, 1.0)),
            jnp.minimum(rho_b * sigma_root, sigma),
        )
        phi = (1.0 - theta) / sigma
    return jnp.where(plain, one, tau), jnp.where(plain, one, phi)


def scale_by_bfgs(scaling: str = "ssbroyden") -> optax.GradientTransformation:
    r"""Precondition the gradient by a dense (self-scaled) BFGS / Broyden inverse-Hessian approximation.

    This is [`jaxrep.train.bfgs`][] without the line search and the sign flip: it returns the
    direction $d_k = H_k g_k$. See there for the update formulas and `scaling`.

    **Returns:** an `optax.GradientTransformation` whose state is a `ScaleByBfgsState`.
    """
    if not isinstance(scaling, str) or scaling not in _SCALINGS:
        raise ValueError(f"scaling must be one of {_SCALINGS}, got {scaling!r}")

    def init_fn(params):
        flat, _ = ravel_pytree(params)
        flat = jnp.asarray(flat)
        dtype = flat.dtype
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"params must be real floating-point arrays, got dtype {dtype}")
        n = flat.size
        zeros = jnp.zeros((n,), dtype)
        return ScaleByBfgsState(
            count=jnp.zeros([], jnp.int32),
            prev_params=zeros,
            prev_grad=zeros,
            direction=zeros,
            hess_inv=jnp.eye(n, dtype=dtype),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("params must be given to the BFGS update (it needs x_{k+1} - x_k)")
        g, unravel = ravel_pytree(updates)
        x, _ = ravel_pytree(params)
        dtype = state.hess_inv.dtype
        g, x = g.astype(dtype), x.astype(dtype)
        n = g.size
        s = x - state.prev_params
        y = g - state.prev_grad
        d = state.direction
        ys = _dot(y, s)
        # s = -c d (c: learning rate times line-search step), B d = g_k, so
        # s^T B s = c^2 d^T g_k = (s.d)(s.g_k) / (d.d), without inverting H.
        sbs = _dot(s, d) * _dot(s, state.prev_grad) / jnp.maximum(_dot(d, d), jnp.finfo(dtype).tiny)
        first = state.count == 1
        # Before the first update, H_0 = (y^T s / y^T y) I (Nocedal & Wright, eq. 6.20), then an
        # unscaled BFGS update; the self-scaling starts at the second update. (H is still I then.)
        h_scale = jnp.where(first, ys / _dot(y, y), jnp.ones_like(ys))
        hy = h_scale * jnp.matmul(state.hess_inv, y, precision=_HI)
        yhy = _dot(y, hy)
        tau, phi = _broyden_coefficients(ys, yhy, sbs, scaling, n, first)
        # With v = s / y^T s - H y / y^T H y expanded, the update is H / tau plus a symmetric rank-2
        # term in span{s, H y}: one fused pass over the n x n matrix.
        c_h = h_scale / tau
        c_hh = (phi - 1.0) / (tau * yhy)
        c_sh = -phi / (tau * ys)
        c_ss = 1.0 / ys + phi * yhy / (tau * ys * ys)
        # Skip the update (keep H) without positive curvature (a failed line search) or with
        # non-finite data.
        eps = jnp.finfo(dtype).eps
        ok = (state.count > 0) & (ys > eps * jnp.sqrt(_dot(y, y) * _dot(s, s))) & (sbs > 0)
        coefs = jnp.stack([c_h, c_hh, c_sh, c_ss])
        ok = ok & jnp.all(jnp.isfinite(coefs)) & jnp.all(jnp.isfinite(hy)) & jnp.all(jnp.isfinite(s))
        c_h, c_hh, c_sh, c_ss = jnp.where(ok, coefs, jnp.array([1.0, 0.0, 0.0, 0.0], dtype))
        hy, s_ok = jnp.where(ok, hy, 0.0), jnp.where(ok, s, 0.0)
        sh = c_sh * s_ok
        h_new = (
            c_h * state.hess_inv
            + jnp.outer(c_ss * s_ok, s_ok)
            + (jnp.outer(sh, hy) + jnp.outer(hy, sh))
            + jnp.outer(c_hh * hy, hy)
        )
        direction = jnp.matmul(h_new, g, precision=_HI)
        # First step: H_0 = I, capped to a unit-length step, as optax.lbfgs does.
        gnorm = jnp.sqrt(_dot(g, g))
        direction = jnp.where(state.count == 0, g * jnp.minimum(1.0, 1.0 / gnorm), direction)
        new_state = ScaleByBfgsState(
            count=optax.safe_increment(state.count),
            prev_params=x,
            prev_grad=g,
            direction=direction,
            hess_inv=h_new,
        )
        return unravel(direction), new_state

    return optax.GradientTransformation(init_fn, update_fn)


def bfgs(
    learning_rate: optax.ScalarOrSchedule | None = None,
    *,
    scaling: str = "ssbroyden",
    linesearch: optax.GradientTransformationExtraArgs | optax.GradientTransformation | None = _ZOOM,
) -> optax.GradientTransformationExtraArgs:
    r"""Dense quasi-Newton optimiser: BFGS, self-scaled BFGS or self-scaled Broyden, with a line search.

    A drop-in for `optax.lbfgs` (same chain: direction, sign, line search; same `update(grads, state,
    params, value=, grad=, value_fn=)` call) that keeps the full $n\times n$ inverse-Hessian
    approximation $H_k$ instead of a few pairs. The step is $x_{k+1} = x_k - \eta_k H_k g_k$, with
    $\eta_k$ from the line search (strong Wolfe by default). With
    $s_k = x_{k+1}-x_k$, $y_k = g_{k+1}-g_k$, $B_k = H_k^{-1}$ and

    $$h_k = \frac{y_k^\top H_k y_k}{y_k^\top s_k},\qquad b_k = \frac{s_k^\top B_k s_k}{y_k^\top s_k}
      = \frac{-\eta_k\, s_k^\top g_k}{y_k^\top s_k},\qquad a_k = b_k h_k - 1 \;(\ge 0),\qquad
      v_k = \frac{s_k}{y_k^\top s_k} - \frac{H_k y_k}{y_k^\top H_k y_k},$$

    the update is the self-scaled Broyden class

    $$H_{k+1} = \frac{1}{\tau_k}\left(H_k - \frac{H_k y_k y_k^\top H_k}{y_k^\top H_k y_k}
      + \phi_k\,(y_k^\top H_k y_k)\, v_k v_k^\top\right) + \frac{s_k s_k^\top}{y_k^\top s_k},$$

    which satisfies the secant condition $H_{k+1} y_k = s_k$ for any $\tau_k, \phi_k$
    ($v_k^\top y_k = 0$). `scaling` picks them:

    - `"none"`: $\tau_k = \phi_k = 1$, plain BFGS.
    - `"ssbfgs"`: $\phi_k = 1$, $\tau_k = \min(1, 1/b_k)$ (self-scaled BFGS, Al-Baali's choice).
    - `"ssbroyden"` (default): $\phi_k = (1-\theta_k)/(1 + a_k\theta_k)$ with the Hessian-form
      Broyden parameter
      $\theta_k = \max\!\big(\theta_k^-, \min(\theta_k^+, (1-b_k)/b_k)\big)$,
      $\theta_k^- = (\rho_k^- - 1)/a_k$, $\theta_k^+ = 1/\rho_k^-$,
      $\rho_k^- = \min\!\big(1, h_k(1 - \sqrt{a_k/(1+a_k)})\big)$, and, with
      $\sigma_k = 1 + a_k\theta_k$ and $\rho_k = \min(1, 1/b_k)$,
      $\tau_k = \rho_k\min(\sigma_k^{1/(1-n)}, 1/\theta_k)$ if $\theta_k > 0$, else
      $\tau_k = \min(\rho_k\,\sigma_k^{1/(1-n)}, \sigma_k)$ (Al-Baali's SSBroyden, the "SSBroyden2"
      variant of Urbán et al.).

    The first step uses $H_0 = I$ with the direction capped to unit length (as `optax.lbfgs`); the
    first update starts from $H_0 = (y_0^\top s_0 / y_0^\top y_0)\, I$ and is an unscaled BFGS update.
    An update is skipped (the matrix kept) when $y_k^\top s_k \le \varepsilon\|y_k\|\|s_k\|$ or anything
    is non-finite. $b_k$ needs no inverse: since $s_k = -c\, d_k$ with $B_k d_k = g_k$,
    $s_k^\top B_k s_k = (s_k\cdot d_k)(s_k\cdot g_k)/(d_k\cdot d_k)$.

    Memory and time per step are $O(n^2)$ ($n$ = number of parameters): fine for the small networks
    (a few thousand parameters) on which dense quasi-Newton pays off, out of reach at $10^5$. All
    parameters are flattened to one vector of the parameters' (promoted) dtype; the state holds only
    strongly typed arrays, so a jitted update does not retrace.

    **Arguments:**

    - `learning_rate`: optional global scale (a float or an optax schedule); `None` (default) leaves
      the step length to the line search.
    - `scaling`: `"ssbroyden"` (default), `"ssbfgs"` or `"none"`, as above.
    - `linesearch`: an optax line search such as `optax.scale_by_zoom_linesearch` (default: 20 steps at
      most, initial guess 1), or `None` for none.

    **Returns:** an `optax.GradientTransformationExtraArgs`
    (`optax.chain(scale_by_bfgs(scaling), scale(-1) or scale_by_learning_rate, linesearch)`), updated
    like `optax.lbfgs` with `update(grads, state, params, value=value, grad=grads, value_fn=f)`.

    **References:** Urbán, Stefanou, Pons, "Unveiling the optimization process of physics informed
    neural networks: How accurate and competitive can PINNs be?", J. Comput. Phys. (2025),
    arXiv:2405.04230 (the SSBFGS / SSBroyden choices of $\tau_k, \phi_k$ above, after Al-Baali).
    Al-Baali, "Numerical experience with a class of self-scaling quasi-Newton algorithms", J. Optim.
    Theory Appl. 96 (1998). Nocedal, Wright, *Numerical Optimization*, 2nd ed., ch. 6.
    """
    if learning_rate is None:
        base_scaling = optax.scale(-1.0)
    else:
        if not callable(learning_rate) and not isinstance(learning_rate, jax.core.Tracer):
            lr = np.asarray(learning_rate)
            if lr.shape != () or lr.dtype.kind not in "fiu" or not (np.isfinite(lr) and lr > 0):
                raise ValueError(
                    f"learning_rate must be None, a finite float > 0 or an optax schedule, got {learning_rate!r}"
                )
        base_scaling = optax.scale_by_learning_rate(learning_rate)
    if linesearch is not None and not isinstance(linesearch, optax.GradientTransformation):
        raise ValueError(f"linesearch must be an optax GradientTransformation or None, got {linesearch!r}")
    parts = [scale_by_bfgs(scaling), base_scaling]
    if linesearch is not None:
        parts.append(linesearch)
    return optax.chain(*parts)
