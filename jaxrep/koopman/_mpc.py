r"""Model-predictive control on a (learned) linear model: finite-horizon LQ tracking by a backward
Riccati recursion, the receding-horizon closed loop on a plant, and local linearisation as the baseline
model.

The model is a [`ControlEstimator`][jaxrep.koopman.ControlEstimator]: lifted state $z = e(x)$,
$z_{k+1} = Az_k + Bu_k + c$, output $y = Cz$ (the state estimate). Tracking a reference $r_k$ in the
output space over a horizon $N$ minimises

$$J = \sum_{k=1}^{N-1} (y_k - r_k)^\top Q\,(y_k - r_k) + (y_N - r_N)^\top Q_f\,(y_N - r_N)
      + \sum_{k=0}^{N-1} u_k^\top R\,u_k .$$

With the value function $V_k(z) = z^\top P_k z - 2p_k^\top z + \text{const}$, dynamic programming gives
the optimal policy $u_k = -K_k z_k + \kappa_k$ and, from $P_N = C^\top Q_f C$,
$p_N = C^\top Q_f r_N$, backwards:

$$S_k = R + B^\top P_{k+1}B,\quad K_k = S_k^{-1}B^\top P_{k+1}A,\quad
  \kappa_k = S_k^{-1}B^\top(p_{k+1} - P_{k+1}c),$$
$$P_k = C^\top Q C + A^\top P_{k+1}(A - BK_k),\quad
  p_k = C^\top Q r_k + K_k^\top R\kappa_k + (A - BK_k)^\top\big(p_{k+1} - P_{k+1}(B\kappa_k + c)\big).$$

One `lax.scan` of $N$ small dense solves; $P_k$ does not depend on the reference, so the closed loop
computes the gains once and only the $p_k$ recursion per step.
"""

import math
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._control import _array, _check_dt_value, _expm_batch, _is_concrete, _Linear, ControlEstimator

_HI = jax.lax.Precision.HIGHEST


def _mm(a, b):
    return jnp.matmul(a, b, precision=_HI)


# --------------------------------------------------------------------------- validation


def _check_horizon(horizon) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    return horizon


def _weight(W, n: int, name: str, definite: bool, dtype) -> Array:
    """A scalar, a diagonal `(n,)` or a matrix `(n, n)` as a symmetric `(n, n)` weight matrix."""
    if not _is_concrete(W):
        W = jnp.asarray(W, dtype)
        W = W * jnp.eye(n, dtype=dtype) if W.ndim == 0 else (jnp.diag(W) if W.ndim == 1 else W)
        if W.shape != (n, n):
            raise ValueError(
                f"{name} must be a scalar, a diagonal ({n},) or a matrix ({n}, {n}), got {W.shape}"
            )
        return W
    w = np.asarray(W, dtype=np.float64)
    if w.ndim == 0:
        w = w * np.eye(n)
    elif w.ndim == 1 and w.shape[0] == n:
        w = np.diag(w)
    elif w.shape != (n, n):
        raise ValueError(
            f"{name} must be a scalar, a diagonal ({n},) or a matrix ({n}, {n}), got {w.shape}"
        )
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} contains non-finite values")
    scale = max(1.0, float(np.abs(w).max()))
    if not np.allclose(w, w.T, rtol=1e-6, atol=1e-12 * scale):
        raise ValueError(f"{name} must be symmetric")
    lo = float(np.linalg.eigvalsh(w).min())
    if definite and lo <= 1e-12 * scale:
        raise ValueError(f"{name} must be positive definite, got smallest eigenvalue {lo:.3g}")
    if not definite and lo < -1e-12 * scale:
        raise ValueError(f"{name} must be positive semi-definite, got smallest eigenvalue {lo:.3g}")
    return jnp.asarray(w, dtype)


def _check_model(A, B, C, offset):
    A = _array(A, "A", 2, "(r, r)")
    r = A.shape[0]
    if A.shape != (r, r):
        raise ValueError(f"A must be square (r, r), got {A.shape}")
    B = _array(B, "B", 2, f"({r}, n_inputs)")
    if B.shape[0] != r:
        raise ValueError(f"B must have shape ({r}, n_inputs) to match A {A.shape}, got {B.shape}")
    C = jnp.asarray(np.eye(r), A.dtype) if C is None else _array(C, "C", 2, f"(p, {r})")
    if C.shape[1] != r:
        raise ValueError(f"C must have shape (p, {r}) to match A {A.shape}, got {C.shape}")
    if offset is None:
        offset = jnp.asarray(np.zeros(r), A.dtype)
    else:
        offset = _array(offset, "offset", 1, f"({r},)")
    if offset.shape != (r,):
        raise ValueError(f"offset must have shape ({r},), got {offset.shape}")
    dtype = jnp.result_type(A.dtype, B.dtype, C.dtype, offset.dtype)
    return tuple(x.astype(dtype) for x in (A, B, C, offset))


# --------------------------------------------------------------------------- Riccati recursion


def _spd_solve(S, b):
    """$S^{-1}b$ for symmetric positive definite $S$ (Cholesky)."""
    return jsl.cho_solve(jsl.cho_factor(S), b)


def _backward(A, B, C, Q, Qf, R, offset, refs, gains=None):
    r"""The backward recursion over stages $k = N-1..0$ (one `lax.scan`).

    Returns gains $K_k$ `(N, m, r)`, feed-forward $\kappa_k$ `(N, m)`, $P_k$ and $p_k$ `(N + 1, ...)`.
    With `gains = (K, P)` given (from an earlier call on the same model), only the reference-dependent
    vectors are recomputed.
    """
    N = refs.shape[0]
    CQ, CQf = _mm(C.T, Q), _mm(C.T, Qf)
    Qz, Qfz = _mm(CQ, C), _mm(CQf, C)
    # stage k (1..N-1) costs ||C z_k - r_k||_Q^2; stage 0 has no state cost (y_0 is given).
    stage = jnp.concatenate([jnp.zeros_like(refs[:1]), refs[:-1]], 0)  # r_k, with r_0 := 0
    weight = jnp.concatenate([jnp.zeros((1,), refs.dtype), jnp.ones((N - 1,), refs.dtype)])

    def back(carry, xs):
        P, p = carry
        r_k, w_k = xs[0], xs[1]
        if gains is None:
            S = R + _mm(B.T, _mm(P, B))
            rhs = jnp.concatenate([_mm(B.T, _mm(P, A)), _mm(B.T, p - _mm(P, offset))[:, None]], 1)
            sol = _spd_solve(S, rhs)  # [K_k, kappa_k] from one factorisation
            K, kappa = sol[:, :-1], sol[:, -1]
        else:
            K, S = xs[2], xs[3]
            kappa = _spd_solve(S, _mm(B.T, p - _mm(P, offset)))
        Acl = A - _mm(B, K)
        if gains is None:
            Pn = w_k * Qz + _mm(A.T, _mm(P, Acl))
            Pn = 0.5 * (Pn + Pn.T)
        else:
            Pn = xs[4]
        w = _mm(B, kappa) + offset
        pn = w_k * _mm(CQ, r_k) + _mm(K.T, _mm(R, kappa)) + _mm(Acl.T, p - _mm(P, w))
        return (Pn, pn), (K, kappa, Pn, pn)

    init = (Qfz, _mm(CQf, refs[-1]))
    if gains is None:
        xs = (stage, weight)
    else:
        K, P = gains
        S = R + jnp.einsum("ji,njk,kl->nil", B, P[1:], B, precision=_HI)
        xs = (stage, weight, K, S, P[:-1])
    _, (K, kappa, P, p) = jax.lax.scan(back, init, xs, reverse=True)
    P = jnp.concatenate([P, Qfz[None]], 0)  # P_0 .. P_N
    p = jnp.concatenate([p, init[1][None]], 0)
    return K, kappa, P, p


class LQSolution(eqx.Module):
    r"""The optimal finite-horizon LQ tracking policy $u_k = -K_k z_k + \kappa_k$, $k = 0..N-1$,
    from [`lq_tracking`][jaxrep.koopman.lq_tracking].

    **Fields:** `gains` $K_k$ `(N, m, r)`, `feedforward` $\kappa_k$ `(N, m)`, the value function
    $V_k(z) = z^\top P_k z - 2p_k^\top z + \text{const}$ as `value_matrices` `(N + 1, r, r)` and
    `value_vectors` `(N + 1, r)` (index 0 without a stage-0 output cost: $y_0$ is given), and the
    model `A`, `B`, `offset`.
    """

    gains: Float[Array, "N m r"]
    feedforward: Float[Array, "N m"]
    value_matrices: Float[Array, "N+1 r r"]
    value_vectors: Float[Array, "N+1 r"]
    A: Float[Array, "r r"]
    B: Float[Array, "r m"]
    offset: Float[Array, " r"]

    def control(self, z0: Float[Array, " r"]) -> Float[Array, " m"]:
        """The first optimal input $u_0 = -K_0 z_0 + \\kappa_0$ (what receding-horizon MPC applies)."""
        return -_mm(self.gains[0], z0) + self.feedforward[0]

    def rollout(self, z0: Float[Array, " r"]) -> tuple[Float[Array, "N+1 r"], Float[Array, "N m"]]:
        """The optimal open-loop plan from **one** lifted state: states `(N + 1, r)`, inputs `(N, m)`."""

        def step(z, kk):
            K, kappa = kk
            u = -_mm(K, z) + kappa
            zn = _mm(self.A, z) + _mm(self.B, u) + self.offset
            return zn, (zn, u)

        _, (zs, us) = jax.lax.scan(step, z0, (self.gains, self.feedforward))
        return jnp.concatenate([z0[None], zs], 0), us


def _overflow_error(horizon, A):
    rho = float(np.max(np.abs(np.linalg.eigvals(np.asarray(A, dtype=np.float64)))))
    return ValueError(
        f"horizon={horizon} is too long for this model: the Riccati recursion overflowed "
        f"(spectral radius of A {rho:.3g}; is (A, B) stabilisable?)"
    )


def lq_tracking(
    A: Float[ArrayLike, "r r"],
    B: Float[ArrayLike, "r m"],
    Q,
    R,
    refs: Float[ArrayLike, "N p"],
    *,
    C: Optional[Float[ArrayLike, "p r"]] = None,
    Qf=None,
    offset: Optional[Float[ArrayLike, " r"]] = None,
) -> LQSolution:
    r"""Finite-horizon LQ tracking for $z_{k+1} = Az_k + Bu_k + c$, $y_k = Cz_k$, solved exactly by a
    backward Riccati recursion (`lax.scan`; see the module docstring for the recursion).

    Minimises $\sum_{k=1}^{N-1}\|y_k - r_k\|_Q^2 + \|y_N - r_N\|_{Q_f}^2 + \sum_{k=0}^{N-1}\|u_k\|_R^2$
    over inputs $u_0..u_{N-1}$; the optimum is the affine state feedback
    $u_k = -K_kz_k + \kappa_k$ for every initial state. For long horizons $K_0$ tends to the
    infinite-horizon LQR gain (discrete algebraic Riccati equation).

    **Arguments:**

    - `A` `(r, r)`, `B` `(r, m)`: the (lifted) model; `C` `(p, r)`: output map (default identity);
      `offset` `(r,)`: affine term $c$ (default 0).
    - `Q`, `Qf`: output weights, PSD — a scalar, a diagonal `(p,)` or `(p, p)`; `Qf` defaults to `Q`.
    - `R`: input weight, positive definite — a scalar, `(m,)` or `(m, m)`.
    - `refs`: `(N, p)`, the references $r_1..r_N$; the horizon is $N$ = `refs.shape[0]`.

    **Returns:** an [`LQSolution`][jaxrep.koopman.LQSolution] (`control(z0)`, `rollout(z0)`).

    **References:** Anderson & Moore, "Optimal Control: Linear Quadratic Methods" (1990), ch. 3-4.
    """
    A, B, C, offset = _check_model(A, B, C, offset)
    refs = _array(refs, "refs", 2, f"(horizon, {C.shape[0]})")
    if refs.shape[1] != C.shape[0] or refs.shape[0] < 1:
        raise ValueError(f"refs must have shape (horizon >= 1, {C.shape[0]}), got {refs.shape}")
    Q, Qf, R = _weights(Q, Qf, R, C.shape[0], B.shape[1], A.dtype)
    sol = _lq_jit(A, B, C, Q, Qf, R, offset, refs.astype(A.dtype))
    if _is_concrete(sol.value_matrices) and not (
        np.all(np.isfinite(sol.value_matrices)) and np.all(np.isfinite(sol.feedforward))
    ):
        raise _overflow_error(refs.shape[0], A)
    return sol


def _weights(Q, Qf, R, p, m, dtype):
    Q = _weight(Q, p, "Q", False, dtype)
    Qf = Q if Qf is None else _weight(Qf, p, "Qf", False, dtype)
    R = _weight(R, m, "R", True, dtype)
    return Q, Qf, R


@jax.jit
def _lq_jit(A, B, C, Q, Qf, R, offset, refs):
    K, kappa, P, p = _backward(A, B, C, Q, Qf, R, offset, refs)
    return LQSolution(K, kappa, P, p, A, B, offset)


# --------------------------------------------------------------------------- closed loop


def receding_horizon(
    plant_step: Callable[[Array, Array], Array],
    model: ControlEstimator,
    x0: Float[ArrayLike, " d"],
    refs: Float[ArrayLike, "T+N p"],
    *,
    horizon: int,
    Q,
    R,
    Qf=None,
    u_min=None,
    u_max=None,
    scan: bool = True,
) -> tuple[Float[Array, "T+1 d"], Float[Array, "T m"]]:
    r"""Closed-loop model-predictive control: at every step lift the measured state, solve the
    LQ tracking problem on `model` over `horizon` steps ([`lq_tracking`][jaxrep.koopman.lq_tracking]),
    apply the first input (clipped to `[u_min, u_max]`) to the true plant, repeat.

    The Riccati gains are computed once (they depend on neither the state nor the reference); each step
    only runs the $O(N r^2)$ feed-forward recursion over its reference window.

    - `scan=True` (default): the whole loop is one jitted `lax.scan`, so `plant_step` must be a JAX
      function, e.g. `lambda x, u: jaxrep.data.controlled_step(system, x, u, dt)`; the loop can itself
      be vmapped over initial states.
    - `scan=False`: a Python loop around a jitted controller, for plants outside JAX (a NumPy
      simulator, hardware) or to reuse one compiled plant across several controllers.

    **Arguments:**

    - `plant_step`: `(x (d,), u (m,)) -> x_next (d,)`, the true (nonlinear) system over one step.
    - `model`: a [`ControlEstimator`][jaxrep.koopman.ControlEstimator] with the plant's step `dt`
      (`dmdc`, `edmdc`, `ControlGeneratorEstimator.discretize()`, or `linearize` for the baseline).
    - `x0`: initial state `(d,)`.
    - `refs`: `(T + horizon, p)` output references, row $j$ the target for the state after $j$ steps
      (row 0, the initial state's, is not used), so `xs - refs[:T + 1]` is the tracking error; the
      loop runs $T$ = `refs.shape[0] - horizon` steps.
    - `horizon`: prediction horizon $N \ge 1$; `Q`, `Qf`, `R`: weights as in `lq_tracking`.
    - `u_min`, `u_max`: optional input bounds (scalars or `(m,)`), applied by clipping.
    - `scan`: see above.

    **Returns:** `(xs, us)`: the plant states `(T + 1, d)` (row 0 is `x0`) and applied inputs `(T, m)`.

    **References:** Korda & Mezić, "Linear predictors for nonlinear dynamical systems: Koopman operator
    meets model predictive control", Automatica 93 (2018).
    """
    if not isinstance(model, ControlEstimator):
        raise TypeError(
            f"model must be a ControlEstimator (dmdc, edmdc, linearize), got {type(model).__name__}"
        )
    horizon = _check_horizon(horizon)
    A, B, C, offset = _check_model(model.A, model.B, model.C, model.offset)
    p, m = C.shape[0], B.shape[1]
    x0 = _array(x0, "x0", 1, f"({p},)")
    if x0.shape != (p,):
        raise ValueError(f"x0 must have shape ({p},), got {x0.shape} (for batches use jax.vmap)")
    refs = _array(refs, "refs", 2, f"(n_steps + horizon, {p})")
    if refs.shape[1] != p or refs.shape[0] <= horizon:
        raise ValueError(
            f"refs must have shape (n_steps + horizon, {p}) with n_steps >= 1 and horizon={horizon}, "
            f"got {refs.shape}"
        )
    Q, Qf, R = _weights(Q, Qf, R, p, m, A.dtype)
    lo, hi = _bound(u_min, m, -np.inf, A.dtype, "u_min"), _bound(u_max, m, np.inf, A.dtype, "u_max")
    if _is_concrete(lo) and _is_concrete(hi) and np.any(np.asarray(lo) > np.asarray(hi)):
        raise ValueError(f"u_min must be <= u_max, got {u_min!r} and {u_max!r}")
    model = eqx.tree_at(lambda e: (e.A, e.B, e.C, e.offset), model, (A, B, C, offset))
    x0, refs = x0.astype(A.dtype), refs.astype(A.dtype)
    weights = (Q, Qf, R, lo, hi)
    if scan:
        xs, us, ok = _closed_loop(plant_step, model, weights, horizon, x0, refs)
    else:
        xs, us, ok, x = [x0], [], True, x0
        for t in range(refs.shape[0] - horizon):
            # the Riccati gains are re-derived inside each call: one compiled function, and at these
            # sizes the recursion costs microseconds
            u, ok_t = _controller(model, weights, horizon, refs, jnp.asarray(t), x)
            ok = ok & ok_t
            x = jnp.asarray(plant_step(x, u), A.dtype)
            if x.shape != (p,):
                raise ValueError(f"plant_step must return a state of shape ({p},), got {x.shape}")
            xs.append(x)
            us.append(u)
        xs, us = jnp.stack(xs), jnp.stack(us)
    if _is_concrete(ok) and not bool(ok):
        raise _overflow_error(horizon, A)
    return xs, us


def _bound(b, m, default, dtype, name):
    if b is None:
        return jnp.asarray(np.full((m,), default), dtype)
    if jnp.ndim(b) not in (0, 1) or (jnp.ndim(b) == 1 and jnp.shape(b)[0] != m):
        raise ValueError(f"{name} must be a scalar or have shape ({m},), got {jnp.shape(b)}")
    return jnp.broadcast_to(jnp.asarray(b, dtype), (m,))


def _gains(model, weights, refs, horizon):
    """Gains $K_k$ and $P_k$ (reference independent) and whether they are finite."""
    Q, Qf, R = weights[:3]
    K, _, P, _ = _backward(model.A, model.B, model.C, Q, Qf, R, model.offset, refs[1:horizon + 1])
    return (K, P), jnp.all(jnp.isfinite(K)) & jnp.all(jnp.isfinite(P))


def _control(model, weights, gains, refs, t, x):
    """The MPC input at step `t` from the measured state `x` (references `refs[t + 1 : t + 1 + N]`)."""
    Q, Qf, R, lo, hi = weights
    A, B, C, offset = model.A, model.B, model.C, model.offset
    window = jax.lax.dynamic_slice_in_dim(refs, t + 1, gains[0].shape[0], 0)
    _, kappa, _, _ = _backward(A, B, C, Q, Qf, R, offset, window, gains=gains)
    z = model.embed(x).astype(A.dtype)
    return jnp.clip(-_mm(gains[0][0], z) + kappa[0], lo, hi)


@eqx.filter_jit
def _controller(model, weights, horizon, refs, t, x):
    gains, ok = _gains(model, weights, refs, horizon)
    return _control(model, weights, gains, refs, t, x), ok


@eqx.filter_jit
def _closed_loop(plant_step, model, weights, horizon, x0, refs):
    gains, ok = _gains(model, weights, refs, horizon)

    def step(x, t):
        u = _control(model, weights, gains, refs, t, x)
        xn = plant_step(x, u)
        return xn, (xn, u)

    _, (xs, us) = jax.lax.scan(step, x0, jnp.arange(refs.shape[0] - horizon))
    return jnp.concatenate([x0[None], xs], 0), us, ok


# --------------------------------------------------------------------------- linearisation


def linearize(
    drift: Callable[[Array, Array], Array],
    x: Float[ArrayLike, " d"],
    u: Float[ArrayLike, " m"],
    dt: float,
) -> ControlEstimator:
    r"""The local linearisation of $\dot x = f(x, u)$ at an operating point, discretised exactly: the
    baseline model for MPC.

    With $A_c = \partial_x f$, $B_c = \partial_u f$ at $(x^*, u^*)$ (forward-mode autodiff) and
    $c_c = f(x^*, u^*) - A_cx^* - B_cu^*$, the affine model $\dot x = A_cx + B_cu + c_c$ is
    discretised by one exponential of the augmented matrix (zero-order hold, as in
    [`zoh`][jaxrep.koopman.zoh]): $x_{k+1} = A_dx_k + B_du_k + c_d$.

    **Arguments:** `drift` `(x (d,), u (m,)) -> (d,)` (e.g. `system.drift` of a
    `jaxrep.data` controlled system); `x` `(d,)`, `u` `(m,)`: the operating point; `dt` > 0.

    **Returns:** a [`ControlEstimator`][jaxrep.koopman.ControlEstimator] on the raw state
    (`embed` the identity, `C = I`) with `offset` $c_d$.
    """
    x = _array(x, "x", 1, "(d,)")
    u = _array(u, "u", 1, "(m,)")
    _check_dt_value(dt)
    dtype = jnp.result_type(x.dtype, u.dtype)
    x, u = x.astype(dtype), u.astype(dtype)
    try:
        f0 = jax.eval_shape(drift, x, u)
    except Exception as e:  # noqa: BLE001 - re-raised with the contract spelled out
        raise TypeError(
            f"drift must map (x {x.shape}, u {u.shape}) to (d,); calling it failed: {e}"
        ) from e
    if f0.shape != x.shape:
        raise ValueError(f"drift must return shape {x.shape}, got {f0.shape}")
    Ad, Bd, cd = _linearize(drift, x, u, jnp.asarray(dt, dtype))
    eye = jnp.asarray(np.eye(x.shape[0]), dtype)
    dt_static = float(dt) if _is_concrete(dt) else math.nan
    return ControlEstimator(_Linear(eye), Ad, Bd, eye, cd, dt_static)


@eqx.filter_jit
def _linearize(drift, x, u, dt):
    dtype = x.dtype
    f0 = drift(x, u).astype(dtype)
    Ac = jax.jacfwd(drift, 0)(x, u).astype(dtype)
    Bc = jax.jacfwd(drift, 1)(x, u).astype(dtype)
    cc = f0 - _mm(Ac, x) - _mm(Bc, u)
    d, m = Bc.shape
    M = jnp.zeros((d + m + 1, d + m + 1), dtype)
    M = M.at[:d, :d].set(Ac).at[:d, d:d + m].set(Bc).at[:d, -1].set(cc)
    E = _expm_batch((dt * M)[None])[0]
    return E[:d, :d], E[:d, d:d + m], E[:d, -1]
