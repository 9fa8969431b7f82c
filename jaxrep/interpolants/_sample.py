r"""Sampling with the probability-flow ODE or the SDE of an interpolant, and ODE log-likelihoods."""

from typing import TYPE_CHECKING, Callable, Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._checks import check_eps, check_time, is_concrete
from ._interpolant import Interpolant
from ._losses import Field, score_from_denoiser

if TYPE_CHECKING:  # diffrax and lineax are imported when first used: `import jaxrep` stays light
    import diffrax

EpsLike = Union[float, Float[ArrayLike, ""], Callable[[Float[Array, ""]], Float[Array, ""]]]


def _as_eps(eps):
    if callable(eps):
        return eps
    value = jnp.asarray(eps)
    return lambda t: value.astype(jnp.result_type(t))


def _stepping(steps, rtol, atol, t0, t1):
    """Fixed steps (`steps` given) or an adaptive PID controller."""
    import diffrax  # diffrax is imported when first used: `import jaxrep` stays light

    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer or None (adaptive), got {steps!r}")
        return (t1 - t0) / steps, diffrax.ConstantStepSize()
    if is_concrete(rtol) and is_concrete(atol) and not (rtol > 0 and atol > 0):
        raise ValueError(f"rtol and atol must be > 0, got rtol={rtol}, atol={atol}")
    return (t1 - t0) / 100, diffrax.PIDController(rtol=rtol, atol=atol)


def _ode(b, x, t0, t1, solver, steps, rtol, atol, ts, max_steps):
    import diffrax

    dt0, controller = _stepping(steps, rtol, atol, t0, t1)
    term = diffrax.ODETerm(lambda t, y, args: b(t, y))
    saveat = diffrax.SaveAt(t1=True) if ts is None else diffrax.SaveAt(ts=ts)
    sol = diffrax.diffeqsolve(term, solver, t0, t1, dt0, x, stepsize_controller=controller,
                              saveat=saveat, max_steps=max_steps)
    return sol.ys, sol.stats["num_steps"]


# Resolution (in the rescaled time u in [0, 1]) of the VirtualBrownianTree behind adaptive SDE solves:
# far below any step the PID controller takes at the tolerances used in practice.
_BROWNIAN_TOL = 2.0**-16


def _sde(b, s, eps, x, t0, t1, solver, steps, rtol, atol, ts, key, max_steps):
    import diffrax
    import lineax

    # Integrate in u in [0, 1] with t(u) = t0 + (t1 - t0) u, so forward (t1 > t0: drift b + eps s)
    # and backward (t1 < t0: drift b - eps s) runs share one forward-in-u Brownian motion.
    span = t1 - t0
    sign_span = jnp.abs(span)

    def drift(u, y, args):
        t = t0 + span * u
        return span * b(t, y) + sign_span * eps(t) * s(t, y)

    def diffusion(u, y, args):
        t = t0 + span * u
        return lineax.DiagonalLinearOperator(jnp.sqrt(2.0 * eps(t) * sign_span) * jnp.ones_like(y))

    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer or None (adaptive), got {steps!r}")
        du = 1.0 / steps
        controller = diffrax.ConstantStepSize()
        # Fixed steps query each Brownian increment exactly once, so the cheap UnsafeBrownianPath is exact
        # here (a VirtualBrownianTree would cost a tree descent per step for the same law).
        bm = diffrax.UnsafeBrownianPath(shape=x.shape, key=key)
    else:
        if is_concrete(rtol) and is_concrete(atol) and not (rtol > 0 and atol > 0):
            raise ValueError(f"rtol and atol must be > 0, got rtol={rtol}, atol={atol}")
        du = 1.0 / 64
        # An insensitive PI controller, as diffrax recommends for SDEs; rejected steps re-query the same
        # Brownian path, which the VirtualBrownianTree makes consistent (space-time Levy area for ShARK).
        controller = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.1, icoeff=0.3, dcoeff=0.0)
        bm = diffrax.VirtualBrownianTree(0.0, 1.0, tol=_BROWNIAN_TOL, shape=x.shape, key=key,
                                         levy_area=diffrax.SpaceTimeLevyArea)
    terms = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(diffusion, bm))
    saveat = diffrax.SaveAt(t1=True) if ts is None else diffrax.SaveAt(ts=(ts - t0) / span)
    sol = diffrax.diffeqsolve(terms, solver, 0.0, 1.0, du, x, saveat=saveat, stepsize_controller=controller,
                              max_steps=max_steps, adjoint=diffrax.ForwardMode())
    return sol.ys, sol.stats["num_steps"]


def sample(
    b: Field,
    x: Float[Array, "*n d"],
    I: Optional[Interpolant] = None,
    *,
    method: str = "ode",
    score: Optional[Field] = None,
    denoiser: Optional[Field] = None,
    eps: EpsLike = 0.0,
    t0: float = 0.0,
    t1: float = 1.0,
    solver: Optional["diffrax.AbstractSolver"] = None,
    steps: Optional[int] = None,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    ts: Optional[Float[Array, " m"]] = None,
    max_steps: int = 4096,
    denoise: bool = False,
    return_stats: bool = False,
    key: Optional[PRNGKeyArray] = None,
):
    r"""Transport samples from time `t0` to `t1` with the interpolant's ODE or SDE (via diffrax).

    - `method="ode"`: the probability flow $\dot X_t=b(t,X_t)$, adaptive (default `Tsit5` with a PID
      controller at `rtol`/`atol`) or fixed-step when `steps` is given (pass `diffrax.Euler()` or
      `diffrax.Heun()` as `solver`).
    - `method="sde"`: $dX_t=\big(b(t,X_t)\pm\epsilon(t)s(t,X_t)\big)dt+\sqrt{2\epsilon(t)}\,dW_t$ with
      $+$ forward ($t_1>t_0$) and $-$ backward ($t_1<t_0$) in time; both have the marginals $\rho_t$ of
      the interpolant. Fixed-step when `steps` is given (default solver `Euler`, i.e. Euler–Maruyama),
      else adaptive: a PI step-size controller (`diffrax.PIDController(rtol, atol, pcoeff=0.1,
      icoeff=0.3)`) on a `diffrax.VirtualBrownianTree` with space-time Lévy area, default solver
      `diffrax.ShARK` (strong order 1.5 for this additive noise, two drift evaluations per step, an
      embedded error estimate). The noise is additive, so Itô and Stratonovich solvers agree.
    - `denoise=True`: a final Tweedie step $x\mapsto x+\sigma(t_1)^2\,s(t_1,x)=\mathbb E[x_{t_1}-\sigma
      (t_1)\xi\mid x_{t_1}=x]$ that removes the Gaussian part of $x_{t_1}$ (computed as
      $x-\sigma\eta$ from a denoiser); useful when stopping at $t_1<1$ where $\sigma(t_1)>0$.

    Both directions work: `t0=0, t1=1` generates $x_1$ from $x_0$, `t0=1, t1=0` encodes back.

    **Arguments:**

    - `b`: velocity field `b(t, x) -> (d,)` for one sample.
    - `x`: initial points, one `(d,)` or a batch `(n, d)` (solved per sample with `jax.vmap`).
    - `I`: the `Interpolant`; needed only to turn a `denoiser` into a score ($s=-\eta/\sigma$) and for
      `denoise` ($\sigma(t_1)$).
    - `method`: `"ode"` or `"sde"`.
    - `score` / `denoiser`: the score field $s$ or denoiser $\eta$ (for the SDE and for `denoise`; give one).
    - `eps`: diffusion coefficient $\epsilon\ge0$, a scalar or a callable `eps(t)`.
    - `t0`, `t1`: integration interval in [0, 1].
    - `solver`: a diffrax solver; `steps`: fixed number of steps (None: adaptive).
    - `rtol`, `atol`: tolerances of the adaptive controller (default `1e-5` for the ODE, `1e-3` for the
      SDE, whose strong error is measured on one Brownian path).
    - `ts`: optional times at which to save the trajectory.
    - `denoise`: apply the Tweedie step at `t1` (needs `I` and a `score` or `denoiser`; not with `ts`).
    - `return_stats`: also return the number of solver steps per sample.
    - `key`: PRNG key for the Brownian motion (keyword-only; required for `"sde"`).

    **Returns:** the transported points, shaped like `x` (or `(n, m, d)` / `(m, d)` with `ts`), and,
    with `return_stats`, the number of accepted+rejected steps (shape `(n,)` or `()`).

    **References:** Albergo, Boffi, Vanden-Eijnden (2023), Sec. 2.3 (generative SDEs).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    check_time(jnp.asarray([t0, t1]), "t0/t1")
    if t0 == t1:
        raise ValueError(f"t0 and t1 must differ, got t0=t1={t0}")
    if jnp.ndim(x) not in (1, 2):
        raise ValueError(f"x must have shape (d,) or (n, d), got {jnp.shape(x)}")
    if ts is not None:
        check_time(ts, "ts")
    check_eps(eps, "eps")
    t0 = float(t0)
    t1 = float(t1)
    if score is not None and denoiser is not None:
        raise ValueError("give exactly one of score= or denoiser=, got both")
    if denoise:
        if I is None or (score is None and denoiser is None):
            raise ValueError("denoise=True needs the interpolant I and a score= or denoiser= (Tweedie step "
                             "x + sigma(t1)^2 s(t1, x))")
        if ts is not None:
            raise ValueError("denoise=True applies to the samples at t1 and cannot be combined with ts")
    if method == "sde" and key is None:
        raise ValueError("method='sde' needs a PRNG key, got key=None")
    if method == "sde" and score is None and denoiser is None:
        raise ValueError("method='sde' needs exactly one of score= or denoiser=")
    if key is None:
        key = jr.PRNGKey(0)  # unused: the ODE is deterministic
    ys, nsteps = _transport(b, x, I, score, denoiser, eps, key, method, t0, t1, solver, steps, rtol, atol, ts,
                            max_steps, denoise)
    return (ys, nsteps) if return_stats else ys


@eqx.filter_jit
def _transport(b, x, I, score, denoiser, eps, key, method, t0, t1, solver, steps, rtol, atol, ts, max_steps,
               denoise):
    """The solve behind `sample`, compiled once per field structure, shapes and options: calling `sample`
    again with a field of the same architecture (new weights) or new points of the same shape reuses
    the compiled program."""
    import diffrax

    if method == "ode":
        solver = solver or diffrax.Tsit5()
        rtol = 1e-5 if rtol is None else rtol
        atol = 1e-5 if atol is None else atol

        def one(x, key):
            return _ode(b, x, t0, t1, solver, steps, rtol, atol, ts, max_steps)

    else:
        s_fn = score if denoiser is None else _score_of(denoiser, I)
        solver = solver or (diffrax.Euler() if steps is not None else diffrax.ShARK())
        rtol = 1e-3 if rtol is None else rtol
        atol = 1e-3 if atol is None else atol
        eps_fn = _as_eps(eps)

        def one(x, key):
            return _sde(b, s_fn, eps_fn, x, t0, t1, solver, steps, rtol, atol, ts, key, max_steps)

    if jnp.ndim(x) == 1:
        ys, nsteps = one(x, key)
        ys = ys[0] if ts is None else ys
    else:
        keys = jr.split(key, x.shape[0])
        ys, nsteps = jax.vmap(one)(x, keys)
        ys = ys[:, 0] if ts is None else ys
    if denoise:
        ys = _tweedie(ys, t1, I, score, denoiser)
    return ys, nsteps


_METHODS = {"ode", "sde"}


def _score_of(denoiser, I):
    if I is None:
        raise ValueError("denoiser= needs the interpolant I to form the score -eta/sigma")
    return score_from_denoiser(denoiser, I)


def _tweedie(x, t1, I, score, denoiser):
    r"""$x+\sigma^2s(t_1,x)$, or $x-\sigma\eta(t_1,x)$ from a denoiser (finite where $\sigma(t_1)=0$)."""
    t = jnp.asarray(t1, dtype=x.dtype)
    sigma = I.noise_scale(t).astype(x.dtype)

    def one(x):
        if denoiser is not None:
            return x - sigma * denoiser(t, x)
        return x + sigma**2 * score(t, x)

    return one(x) if jnp.ndim(x) == 1 else jax.vmap(one)(x)


# --------------------------------------------------------------------------------------------------
# likelihood


def _standard_normal_log_prob(x):
    d = x.shape[-1]
    return -0.5 * jnp.sum(x**2) - 0.5 * d * jnp.log(2 * jnp.pi)


def _exact_divergence(f, x, probe):
    return jnp.trace(jax.jacfwd(f)(x))


def _hutchinson_divergence(f, x, probes):
    # E_v[v^T J v] = tr J for E[v v^T] = I; one jvp per probe.
    jvps = jax.vmap(lambda v: jax.jvp(f, (x,), (v,))[1])(probes)
    return jnp.mean(jnp.sum(jvps * probes, axis=-1))


def log_likelihood(
    b: Field,
    x1: Float[Array, "*n d"],
    I: Optional[Interpolant] = None,
    *,
    base_log_prob: Optional[Callable[[Float[Array, " d"]], Float[Array, ""]]] = None,
    t0: float = 0.0,
    t1: float = 1.0,
    hutchinson_probes: Optional[int] = None,
    solver: Optional["diffrax.AbstractSolver"] = None,
    steps: Optional[int] = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    max_steps: int = 4096,
    key: Optional[PRNGKeyArray] = None,
) -> Float[Array, "*n"]:
    r"""$\log\rho_1(x_1)$ under the probability-flow ODE of `b` (instantaneous change of variables).

    Solves backward from $t_1$ to $t_0$ the augmented system
    $\dot X_t=b(t,X_t)$, $\dot\delta_t=\nabla\!\cdot b(t,X_t)$ with $X_{t_1}=x_1$, $\delta_{t_1}=0$, so
    $$\log\rho_{t_1}(x_1)=\log\rho_{t_0}(X_{t_0})-\int_{t_0}^{t_1}\nabla\!\cdot b(t,X_t)\,dt
    =\log\rho_{t_0}(X_{t_0})+\delta_{t_0}.$$
    The divergence is the exact Jacobian trace (`jax.jacfwd`, $d$ forward passes: small $d$) or, with
    `hutchinson_probes=m`, the Hutchinson estimate $\frac1m\sum_i v_i^\top J v_i$ with Rademacher
    $v_i$ fixed along the trajectory (unbiased; $m$ Jacobian-vector products).

    **Arguments:**

    - `b`: velocity field `b(t, x) -> (d,)`.
    - `x1`: points `(d,)` or `(n, d)` whose log-density is wanted.
    - `I`: the `Interpolant` (unused; kept so that calls mirror `sample`).
    - `base_log_prob`: $\log\rho_{t_0}$ for one sample (default: standard normal).
    - `t0`, `t1`: the base time and the data time.
    - `hutchinson_probes`: number of probe vectors, or None for the exact trace.
    - `solver`, `steps`, `rtol`, `atol`: as in `sample` (default adaptive `Tsit5`).
    - `key`: PRNG key for the Hutchinson probes (keyword-only).

    **Returns:** $\log\rho_{t_1}(x_1)$, shape `()` or `(n,)`.

    **References:** Chen et al., "Neural Ordinary Differential Equations" (2018); Grathwohl et al.,
    "FFJORD" (2019) for the Hutchinson estimator.
    """
    check_time(jnp.asarray([t0, t1]), "t0/t1")
    if jnp.ndim(x1) not in (1, 2):
        raise ValueError(f"x1 must have shape (d,) or (n, d), got {jnp.shape(x1)}")
    if hutchinson_probes is not None:
        if isinstance(hutchinson_probes, bool) or not isinstance(hutchinson_probes, int) or hutchinson_probes < 1:
            raise ValueError(f"hutchinson_probes must be a positive integer or None, got {hutchinson_probes!r}")
        if key is None:
            raise ValueError("hutchinson_probes needs a PRNG key, got key=None")
        divergence = _hutchinson_divergence
    else:
        divergence = _exact_divergence
    base_log_prob = base_log_prob or _standard_normal_log_prob
    if key is None:
        key = jr.PRNGKey(0)  # unused: no probes are drawn for the exact trace
    return _log_likelihood(b, x1, base_log_prob, float(t0), float(t1), hutchinson_probes, divergence, solver, steps,
                           rtol, atol, max_steps, key)


@eqx.filter_jit
def _log_likelihood(b, x1, base_log_prob, t0, t1, hutchinson_probes, divergence, solver, steps, rtol, atol,
                    max_steps, key):
    """The solve behind `log_likelihood`, compiled once per field structure, shapes and options."""
    import diffrax

    solver = solver or diffrax.Tsit5()
    dt0, controller = _stepping(steps, rtol, atol, t1, t0)

    def one(x, key):
        if hutchinson_probes is not None:
            probes = jr.rademacher(key, (hutchinson_probes, x.shape[-1]), dtype=x.dtype)
        else:
            probes = None

        def rhs(t, state, args):
            y, _ = state
            f = lambda y: b(t, y)
            return f(y), divergence(f, y, probes)

        term = diffrax.ODETerm(rhs)
        state0 = (x, jnp.zeros((), x.dtype))
        sol = diffrax.diffeqsolve(term, solver, t1, t0, dt0, state0, stepsize_controller=controller,
                                  max_steps=max_steps)
        y0, delta = sol.ys[0][0], sol.ys[1][0]
        return base_log_prob(y0) + delta

    if jnp.ndim(x1) == 1:
        return one(x1, key)
    return jax.vmap(one)(x1, jr.split(key, x1.shape[0]))
