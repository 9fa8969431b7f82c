r"""Koopman models with inputs: DMDc / EDMDc, continuous-time control generators (linear and bilinear),
exact zero-order-hold discretisation and rollout under piecewise-constant inputs.

Two model forms, both in a lifted state $z = \psi(x) \in \mathbb{R}^r$ with a linear read-out
$x \approx Cz$:

- **linear in the input** (Proctor, Brunton & Kutz 2016; Korda & Mezić 2018): discrete
  $z_{k+1} = A z_k + B u_k$, or continuous $\dot z = Az + Bu$;
- **bilinear** (the Koopman generator of a control-affine system $\dot x = f(x) + \sum_i g_i(x) u_i$
  is $\mathcal L_f + \sum_i u_i \mathcal L_{g_i}$; Goswami & Paley 2017, Peitz, Otto & Rowley 2020):
  $\dot z = Az + \sum_i u_i B_i z$. An additive input is the bilinear term acting on a constant
  feature.

Matrices act on **column** vectors here ($z_{k+1} = Az_k + Bu_k$), as in the control literature and
[`zoh`][jaxrep.koopman.zoh]; data arrays are stacked by rows, `(n_samples, dim)`, as in
[`edmd`][jaxrep.koopman.edmd].
"""

import abc
import math
from typing import Callable, Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._estimators import _check_dt, _check_reg, _decompose, KoopmanEig
from ._generator import _check_dim, _check_scale, AbstractGenerator, Generator
from ._propagate import _concrete_uniform, _expm_batch

_HI = jax.lax.Precision.HIGHEST


def _mm(a, b):
    return jnp.matmul(a, b, precision=_HI)


# --------------------------------------------------------------------------- validation


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _array(x, name: str, ndim: int, shape_text: str) -> Array:
    """`x` as a float array of `ndim` dimensions, finite when concrete; errors name `name`."""
    if _is_concrete(x):
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
        if arr.ndim != ndim:
            raise ValueError(f"{name} must have shape {shape_text}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.sum(~np.isfinite(arr)))
            raise ValueError(f"{name} contains {bad} non-finite values (shape {arr.shape})")
    x = jnp.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_text}, got {x.shape}")
    return x.astype(jnp.result_type(x.dtype, jnp.float32))


def _snapshots(X, U, Y, y_name: str = "Y") -> tuple[Array, Array, Array]:
    X = _array(X, "X", 2, "(n_samples, dim)")
    U = _array(U, "U", 2, "(n_samples, n_inputs)")
    Y = _array(Y, y_name, 2, "(n_samples, dim)")
    n = X.shape[0]
    if U.shape[0] != n:
        raise ValueError(f"U must have one row per snapshot of X ({n}), got {U.shape[0]} rows")
    if Y.shape != X.shape:
        raise ValueError(f"{y_name} must have the shape of X {X.shape}, got {Y.shape}")
    if n < 1 or X.shape[1] < 1 or U.shape[1] < 1:
        raise ValueError(f"X and U must be non-empty, got shapes {X.shape} and {U.shape}")
    dtype = jnp.result_type(X.dtype, U.dtype, Y.dtype)
    return X.astype(dtype), U.astype(dtype), Y.astype(dtype)


def _check_rank_arg(rank, n_max: int, name: str, what: str) -> Optional[int]:
    if rank is None:
        return None
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"{name} must be None or an integer >= 1, got {rank!r}")
    if rank > n_max:
        raise ValueError(f"{name}={rank} is larger than {what} ({n_max})")
    return rank


def _check_dt_value(dt) -> None:
    """`dt > 0` (a Python number, or a concrete scalar array); traced values pass."""
    if jnp.ndim(dt) != 0:
        raise ValueError(f"dt must be a scalar, got shape {jnp.shape(dt)}")
    if _is_concrete(dt):
        v = float(np.asarray(dt))
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"dt must be a finite float > 0, got {v!r}")


def _check_features(features, X) -> None:
    """`features` maps one state `(d,)` to a vector; checked by abstract evaluation (nothing runs)."""
    if not callable(features):
        raise TypeError(
            f"features must be callable (one state (d,) -> (p,)), got {type(features).__name__}"
        )
    try:
        out = jax.eval_shape(jax.vmap(features), X)
    except Exception as e:  # noqa: BLE001 - re-raised with the contract spelled out
        raise TypeError(
            f"features must map one state of shape ({X.shape[1]},) to a vector; calling it failed: {e}"
        ) from e
    if not hasattr(out, "shape") or len(out.shape) != 2:
        raise ValueError(
            f"features must return a vector (p,) per state, got {getattr(out, 'shape', out)!r} "
            "for a batch"
        )


def _check_system(A, B, name_b: str = "B") -> tuple[Array, Array]:
    A = _array(A, "A", 2, "(dim, dim)")
    d = A.shape[0]
    if A.shape != (d, d):
        raise ValueError(f"A must be a square matrix (dim, dim), got shape {A.shape}")
    if jnp.ndim(B) == 2:
        B = _array(B, name_b, 2, f"({d}, n_inputs) or (n_inputs, {d}, {d})")
        if B.shape[0] != d:
            raise ValueError(
                f"{name_b} must have shape ({d}, n_inputs) to match A {A.shape}, got {B.shape}"
            )
    elif jnp.ndim(B) == 3:
        B = _array(B, name_b, 3, f"(n_inputs, {d}, {d})")
        if B.shape[1:] != (d, d):
            raise ValueError(
                f"{name_b} (bilinear) must have shape (n_inputs, {d}, {d}) to match A {A.shape}, "
                f"got {B.shape}"
            )
    else:
        raise ValueError(
            f"{name_b} must have shape ({d}, n_inputs) (linear) or (n_inputs, {d}, {d}) (bilinear), "
            f"got {jnp.shape(B)}"
        )
    dtype = jnp.result_type(A.dtype, B.dtype)
    return A.astype(dtype), B.astype(dtype)


def _n_inputs(B: Array) -> int:
    return B.shape[1] if B.ndim == 2 else B.shape[0]


# --------------------------------------------------------------------------- zero-order hold


def zoh(
    A: Float[ArrayLike, "d d"], B: Float[ArrayLike, "d m"], dt: Union[float, Float[ArrayLike, ""]]
) -> tuple[Float[Array, "d d"], Float[Array, "d m"]]:
    r"""Exact zero-order-hold discretisation of $\dot z = Az + Bu$ with $u$ constant over each step.

    $$\exp\!\left(\Delta t \begin{pmatrix} A & B \\ 0 & 0 \end{pmatrix}\right)
      = \begin{pmatrix} A_d & B_d \\ 0 & I \end{pmatrix},\qquad
      A_d = e^{\Delta t A},\quad B_d = \int_0^{\Delta t} e^{sA}\,ds\; B,$$

    so $z((k+1)\Delta t) = A_d z(k\Delta t) + B_d u_k$ exactly. One matrix exponential of the augmented
    matrix (scaling and squaring of a truncated Taylor series, as
    [`expm_stack`][jaxrep.koopman.expm_stack], accurate to rounding): no inverse of $A$, so singular
    and defective $A$ are fine.

    **Arguments:**

    - `A`: `(d, d)` continuous-time generator; `B`: `(d, m)` input matrix.
    - `dt`: step $\Delta t > 0$ (may be traced; then it is not checked).

    **Returns:** `(Ad, Bd)`, shapes `(d, d)` and `(d, m)`.

    **References:** Van Loan, "Computing integrals involving the matrix exponential", IEEE Trans.
    Automat. Control 23 (1978).
    """
    if jnp.ndim(B) != 2:
        raise ValueError(f"B must have shape (dim, n_inputs), got {jnp.shape(B)}")
    A, B = _check_system(A, B)
    _check_dt_value(dt)
    return _zoh(A, B, dt)


@jax.jit
def _zoh(A, B, dt):
    d, m = B.shape
    M = jnp.zeros((d + m, d + m), A.dtype).at[:d, :d].set(A).at[:d, d:].set(B)
    E = _expm_batch((jnp.asarray(dt, A.dtype) * M)[None])[0]
    return E[:d, :d], E[:d, d:]


def _interval_maps(A, B, us, dts):
    r"""Per interval $k$: the exact affine map $z \mapsto \Phi_k z + c_k$ of $\dot z = A_k z + b_k$
    ($A_k = A + \sum_i u_{ki}B_i$ bilinear, or $A$ and $b_k = Bu_k$ linear) over $\Delta t_k$."""
    d = A.shape[0]

    def generator(u, dt):
        if B.ndim == 3:
            Ak, bk = A + jnp.einsum("i,ijk->jk", u, B, precision=_HI), jnp.zeros((d,), A.dtype)
        else:
            Ak, bk = A, _mm(B, u)
        return dt * jnp.zeros((d + 1, d + 1), A.dtype).at[:d, :d].set(Ak).at[:d, d].set(bk)

    E = _expm_batch(jax.vmap(generator)(us, dts))
    return E[:, :d, :d], E[:, :d, d]


def propagate_controlled(
    A: Float[ArrayLike, "d d"],
    B: Union[Float[ArrayLike, "d m"], Float[ArrayLike, "m d d"]],
    z0: Float[ArrayLike, " d"],
    us: Float[ArrayLike, "n m"],
    ts: Float[ArrayLike, " n+1"],
) -> Float[Array, "n+1 d"]:
    r"""Exact solution of a linear or bilinear system under piecewise-constant inputs.

    The input $u_k$ is held on $[t_k, t_{k+1})$ and $z(t_0) = z_0$. With `B` of shape `(d, m)` the
    system is $\dot z = Az + Bu$ and each interval is one zero-order-hold step
    ($z_{k+1} = A_d z_k + B_d u_k$, see [`zoh`][jaxrep.koopman.zoh]); with `B` of shape `(m, d, d)` it is
    the bilinear $\dot z = Az + \sum_i u_i B_i z$ and
    $z_{k+1} = \exp\big(\Delta t_k (A + \sum_i u_{ki} B_i)\big) z_k$.

    The interval maps are matrix exponentials computed in parallel, by scaling and squaring of a
    truncated Taylor series (matrix products only, as [`expm_stack`][jaxrep.koopman.expm_stack]; one
    exponential in total for a linear system on a concrete uniform grid); the states then follow by a
    `lax.scan` of mat-vecs. Pure, jittable, vmappable and differentiable in `A`, `B`, `z0`, `us` and
    (traced) `ts`.

    **Arguments:**

    - `A`: `(d, d)`; `B`: `(d, m)` (linear) or `(m, d, d)` (bilinear).
    - `z0`: **one** state `(d,)` at `ts[0]` (vmap for batches).
    - `us`: `(n, m)` inputs, row $k$ held on $[t_k, t_{k+1})$.
    - `ts`: `(n + 1,)` strictly increasing times (may be non-uniform).

    **Returns:** `(n + 1, d)`, row $k$ is $z(t_k)$ (row 0 is `z0`).
    """
    A, B = _check_system(A, B)
    d, m = A.shape[0], _n_inputs(B)
    z0 = _array(z0, "z0", 1, f"({d},)")
    if z0.shape != (d,):
        raise ValueError(
            f"z0 must have shape ({d},) to match A {A.shape}, got {z0.shape} (for batches use jax.vmap)"
        )
    us = _array(us, "us", 2, "(n_steps, n_inputs)")
    if us.shape[1] != m:
        raise ValueError(f"us must have shape (n_steps, {m}) to match B {B.shape}, got {us.shape}")
    n = us.shape[0]
    if jnp.ndim(ts) != 1 or jnp.shape(ts)[0] != n + 1:
        raise ValueError(
            f"ts must have shape (n_steps + 1,) = ({n + 1},) for {n} inputs, got {jnp.shape(ts)}"
        )
    if _is_concrete(ts):
        t = np.asarray(ts, dtype=np.float64)
        if not np.all(np.isfinite(t)):
            raise ValueError("ts contains non-finite values")
        steps = np.diff(t)
        if np.any(steps <= 0):
            k = int(np.argmax(steps <= 0))
            raise ValueError(
                f"ts must be strictly increasing (every interval dt > 0), got dt = "
                f"{float(steps[k])!r} between ts[{k}] and ts[{k + 1}]"
            )
    dtype = jnp.result_type(A.dtype, z0.dtype, us.dtype)
    A, B, z0, us = (x.astype(dtype) for x in (A, B, z0, us))
    uniform = _concrete_uniform(ts) if B.ndim == 2 else None
    if uniform is not None:
        return _propagate_zoh(A, B, z0, us, uniform[1])
    return _propagate_general(A, B, z0, us, jnp.asarray(ts, dtype))


@jax.jit
def _propagate_zoh(A, B, z0, us, dt):
    Ad, Bd = _zoh(A, B, dt)

    def step(z, u):
        z = _mm(Ad, z) + _mm(Bd, u)
        return z, z

    _, zs = jax.lax.scan(step, z0, us)
    return jnp.concatenate([z0[None], zs], 0)


@jax.jit
def _propagate_general(A, B, z0, us, ts):
    Phi, c = _interval_maps(A, B, us, jnp.diff(ts))

    def step(z, pc):
        z = _mm(pc[0], z) + pc[1]
        return z, z

    _, zs = jax.lax.scan(step, z0, (Phi, c))
    return jnp.concatenate([z0[None], zs], 0)


# --------------------------------------------------------------------------- embeddings


class _Linear(eqx.Module):
    """$z = P^\\top x$ (identity for plain DMDc, the POD basis for a reduced one)."""

    proj: Array

    def __call__(self, x):
        return _mm(self.proj.T, x)


# --------------------------------------------------------------------------- estimators


class ControlEstimator(eqx.Module):
    r"""A fitted discrete-time Koopman model with inputs: $z = e(x)$,
    $z_{k+1} = A z_k + B u_k + c$, $x_k \approx C z_k$.

    From [`dmdc`][jaxrep.koopman.dmdc] (where $e$ is the identity or a POD projection), from
    [`edmdc`][jaxrep.koopman.edmdc] (where $e = \psi$ is a dictionary), from
    [`ControlGeneratorEstimator.discretize`][jaxrep.koopman.ControlGeneratorEstimator.discretize] or
    [`linearize`][jaxrep.koopman.linearize]. The offset $c$ is zero except for affine models
    (linearisations away from an equilibrium).

    **Fields:** `embed` (one state `(d,)` -> `(r,)`), `A` `(r, r)`, `B` `(r, m)`, `C` `(d, r)`,
    `offset` `(r,)`, `dt`.
    """

    embed: Callable
    A: Float[Array, "r r"]
    B: Float[Array, "r m"]
    C: Float[Array, "d r"]
    offset: Float[Array, " r"]
    dt: float = eqx.field(static=True)

    def lift(self, x: Float[Array, " d"]) -> Float[Array, " r"]:
        """The lifted state $z = e(x)$ of **one** state (vmap for batches)."""
        d = self.C.shape[0]
        if jnp.shape(x) != (d,):
            raise ValueError(f"x must have shape ({d},), got {jnp.shape(x)} (for batches use jax.vmap)")
        return self.embed(x).astype(self.A.dtype)

    def step(self, z: Float[Array, " r"], u: Float[Array, " m"]) -> Float[Array, " r"]:
        """One step of the lifted model, $Az + Bu + c$."""
        return _mm(self.A, z) + _mm(self.B, u) + self.offset

    def predict(self, x: Float[Array, " d"], us: Float[ArrayLike, "n m"]) -> Float[Array, "n d"]:
        r"""Forecast $\hat x_1, \dots, \hat x_n$ from **one** state $x_0$ under inputs
        $u_0, \dots, u_{n-1}$ (rows of `us`): $\hat x_k = C z_k$, $z_0 = e(x_0)$.

        **Returns:** `(n, d)`.
        """
        m = self.B.shape[1]
        us = _array(us, "us", 2, f"(n_steps, {m})")
        if us.shape[1] != m:
            raise ValueError(f"us must have shape (n_steps, {m}), got {us.shape}")
        z0 = self.lift(x)

        def step(z, u):
            z = self.step(z, u)
            return z, _mm(self.C, z)

        _, out = jax.lax.scan(step, z0, us.astype(self.A.dtype))
        return out

    def eig(self) -> KoopmanEig:
        r"""Eigenvalues, eigenfunctions and modes of the unforced part $A$ (see `KoopmanEig`)."""
        # KoopmanEig works in the row convention e(y)^T = e(x)^T K, i.e. K = A^T and readout C^T.
        return _decompose(self.A.T, False, self.C.T, self.embed, self.dt)


class ControlGeneratorEstimator(eqx.Module):
    r"""A fitted continuous-time Koopman model with inputs, from
    [`generator_edmdc`][jaxrep.koopman.generator_edmdc]: $z = e(x)$, $x \approx Cz$ and

    - linear (`B` of shape `(r, m)`): $\dot z = Az + Bu$;
    - bilinear (`B` of shape `(m, r, r)`): $\dot z = Az + \sum_i u_i B_i z$.

    **Fields:** `embed`, `A` `(r, r)`, `B`, `C` `(d, r)`, `dt` (the step `predict` and `discretize`
    use).
    """

    embed: Callable
    A: Float[Array, "r r"]
    B: Union[Float[Array, "r m"], Float[Array, "m r r"]]
    C: Float[Array, "d r"]
    dt: float = eqx.field(static=True)

    @property
    def bilinear(self) -> bool:
        """Whether the input acts bilinearly ($\\sum_i u_i B_i z$)."""
        return self.B.ndim == 3

    def lift(self, x: Float[Array, " d"]) -> Float[Array, " r"]:
        """The lifted state $z = e(x)$ of **one** state."""
        d = self.C.shape[0]
        if jnp.shape(x) != (d,):
            raise ValueError(f"x must have shape ({d},), got {jnp.shape(x)} (for batches use jax.vmap)")
        return self.embed(x).astype(self.A.dtype)

    def vector_field(self, z: Float[Array, " r"], u: Float[Array, " m"]) -> Float[Array, " r"]:
        """$\\dot z$ at one lifted state and input."""
        if self.bilinear:
            return _mm(self.A + jnp.einsum("i,ijk->jk", u, self.B, precision=_HI), z)
        return _mm(self.A, z) + _mm(self.B, u)

    def predict(self, x: Float[Array, " d"], us: Float[ArrayLike, "n m"]) -> Float[Array, "n d"]:
        r"""Forecast $\hat x(k\Delta t)$, $k = 1..n$, from **one** state under inputs held for `dt`
        each (exact, [`propagate_controlled`][jaxrep.koopman.propagate_controlled]).

        **Returns:** `(n, d)`.
        """
        m = _n_inputs(self.B)
        us = _array(us, "us", 2, f"(n_steps, {m})")
        ts = self.dt * np.arange(us.shape[0] + 1)
        z = propagate_controlled(self.A, self.B, self.lift(x), us, ts)[1:]
        return _mm(z, self.C.T)

    def discretize(self) -> ControlEstimator:
        r"""The exact zero-order-hold discrete model ([`zoh`][jaxrep.koopman.zoh]) with step `dt`, for
        [`lq_tracking`][jaxrep.koopman.lq_tracking] and
        [`receding_horizon`][jaxrep.koopman.receding_horizon]. Linear models only (a bilinear model has
        no input-independent discrete $B$)."""
        if self.bilinear:
            raise ValueError(
                "discretize needs a model linear in the input (B of shape (r, m)), got a bilinear "
                f"B of shape {self.B.shape}"
            )
        Ad, Bd = _zoh(self.A, self.B, self.dt)
        return ControlEstimator(
            self.embed, Ad, Bd, self.C, jnp.zeros(self.A.shape[0], self.A.dtype), self.dt
        )

    def eig(self) -> KoopmanEig:
        """Eigenvalues (continuous $\\mu$ and $e^{\\mu\\Delta t}$), eigenfunctions, modes of $A$."""
        return _decompose(self.A.T, True, self.C.T, self.embed, self.dt)


# --------------------------------------------------------------------------- fitting


def _ridge_traced(A: Array, B: Array, reg: Array, use_reg: bool) -> Array:
    r"""`_ridge` with the ridge $\gamma$ traced (one compilation for every $\gamma > 0$)."""
    if not use_reg:
        return jnp.linalg.lstsq(A, B)[0]
    n, p = A.shape
    A = jnp.concatenate([A, jnp.sqrt(n * reg) * jnp.eye(p, dtype=A.dtype)], 0)
    B = jnp.concatenate([B, jnp.zeros((p, B.shape[1]), B.dtype)], 0)
    return jnp.linalg.lstsq(A, B)[0]


def dmdc(
    X: Float[ArrayLike, "n d"],
    U: Float[ArrayLike, "n m"],
    Y: Float[ArrayLike, "n d"],
    rank: Optional[int] = None,
    output_rank: Optional[int] = None,
    dt: float = 1.0,
) -> ControlEstimator:
    r"""Dynamic mode decomposition with control (DMDc; Proctor, Brunton & Kutz 2016).

    Fits $y_i \approx Ax_i + Bu_i$ by least squares on the stacked snapshots
    $\Omega = \begin{pmatrix}X^\top \\ U^\top\end{pmatrix} \in \mathbb{R}^{(d+m)\times n}$:
    $[A\;B] = Y^\top\Omega^+$. With `rank` $=p$ the pseudo-inverse uses the truncated SVD
    $\Omega \approx \tilde U\tilde\Sigma\tilde V^\top$, $\tilde U = \begin{pmatrix}\tilde U_1\\
    \tilde U_2\end{pmatrix}$, so $A = Y^\top\tilde V\tilde\Sigma^{-1}\tilde U_1^\top$ and
    $B = Y^\top\tilde V\tilde\Sigma^{-1}\tilde U_2^\top$ (input-space truncation). With `output_rank`
    $= r$ the model is further reduced to the leading $r$ left singular vectors $\hat U$ of $Y^\top$
    (output-space truncation): $\tilde A = \hat U^\top A\hat U$, $\tilde B = \hat U^\top B$, in the
    coordinates $z = \hat U^\top x$, with read-out $x \approx \hat U z$.

    Without truncation the fit is exact for noise-free data of a linear system whose snapshots
    $\Omega$ have full row rank; with truncation it is exact when the data span a $p$-dimensional
    subspace, and otherwise the truncation regularises against noise.

    **Arguments:**

    - `X`, `Y`: states and successors, `(n, d)` each; `U`: inputs held between them, `(n, m)`.
    - `rank`: `None` (full least squares) or $p \le \min(n, d + m)$ (input-space SVD truncation).
    - `output_rank`: `None` (model in the full state) or $r \le \min(n, d)$ (reduced coordinates).
    - `dt`: time between $x_i$ and $y_i$ (sets the continuous eigenvalues of `eig()`).

    **Returns:** a [`ControlEstimator`][jaxrep.koopman.ControlEstimator] with `A`, `B` (discrete).

    **References:** Proctor, Brunton & Kutz, "Dynamic mode decomposition with control", SIAM J. Appl.
    Dyn. Syst. 15 (2016).
    """
    X, U, Y = _snapshots(X, U, Y)
    (n, d), m = X.shape, U.shape[1]
    rank = _check_rank_arg(rank, min(n, d + m), "rank", "min(n_samples, dim + n_inputs)")
    output_rank = _check_rank_arg(output_rank, min(n, d), "output_rank", "min(n_samples, dim)")
    dt = _check_dt(dt)
    A, B, P = _dmdc_jit(X, U, Y, rank, output_rank)
    return ControlEstimator(_Linear(P), A, B, P, jnp.zeros(A.shape[0], A.dtype), dt)


@eqx.filter_jit
def _dmdc_jit(X, U, Y, rank, output_rank):
    n, d = X.shape
    Omega = jnp.concatenate([X, U], 1)  # (n, d + m) = Omega^T in the paper's notation
    if rank is None:
        G = jnp.linalg.lstsq(Omega, Y)[0].T  # (d, d + m)
    else:
        Vt, s, Ut = jnp.linalg.svd(Omega, full_matrices=False)  # Omega = Vt diag(s) Ut
        Vt, s, Ut = Vt[:, :rank], s[:rank], Ut[:rank].T  # Ut: (d + m, p)
        # Singular values at rounding level carry no information: drop them rather than divide.
        ok = s > jnp.finfo(X.dtype).eps * max(n, d) * s[0]
        sinv = jnp.where(ok, 1.0 / jnp.where(ok, s, 1.0), 0.0)
        G = _mm(_mm(Y.T, Vt) * sinv, Ut.T)
    A, B = G[:, :d], G[:, d:]
    if output_rank is None:
        return A, B, jnp.eye(d, dtype=X.dtype)
    Uh = jnp.linalg.svd(Y.T, full_matrices=False)[0][:, :output_rank]  # (d, r)
    return _mm(Uh.T, _mm(A, Uh)), _mm(Uh.T, B), Uh


def edmdc(
    X: Float[ArrayLike, "n d"],
    U: Float[ArrayLike, "n m"],
    Y: Float[ArrayLike, "n d"],
    features: Callable,
    reg: float = 1e-6,
    dt: float = 1.0,
) -> ControlEstimator:
    r"""Extended DMD with control (EDMDc; Korda & Mezić 2018): a lifted model linear in the input.

    With a dictionary $\psi$, fits $\psi(y_i) \approx A\psi(x_i) + Bu_i$ by ridge regression,
    $\min_{A,B}\|\Psi_Y - \Psi_X A^\top - UB^\top\|_F^2 + n\gamma\|[A\;B]\|_F^2$ (solved as a stacked
    least-squares problem, never forming normal equations), and the read-out $x \approx C\psi(x)$ by
    ridge regression of $X$ on $\Psi_X$ (include the coordinates in the dictionary for an exact
    read-out). Exact, for $\gamma = 0$, when $\operatorname{span}\psi$ is invariant under the
    controlled dynamics with the input entering linearly.

    **Arguments:**

    - `X`, `Y`: states and successors, `(n, d)` each; `U`: inputs `(n, m)`.
    - `features`: dictionary, one state `(d,)` -> `(p,)` (`Polynomial`, `RBF`, `RandomFourier`,
      `Concat`, a `jaxrep.nn` model or any callable).
    - `reg`: ridge $\gamma \ge 0$.
    - `dt`: time between $x_i$ and $y_i$.

    **Returns:** a [`ControlEstimator`][jaxrep.koopman.ControlEstimator] with `A` `(p, p)`, `B`
    `(p, m)`, `C` `(d, p)`.

    **References:** Korda & Mezić, "Linear predictors for nonlinear dynamical systems: Koopman operator
    meets model predictive control", Automatica 93 (2018).
    """
    X, U, Y = _snapshots(X, U, Y)
    reg, dt = _check_reg(reg), _check_dt(dt)
    _check_features(features, X)
    A, B, C = _edmdc_jit(features, X, U, Y, jnp.asarray(reg, X.dtype), reg > 0)
    return ControlEstimator(features, A, B, C, jnp.zeros(A.shape[0], A.dtype), dt)


@eqx.filter_jit
def _edmdc_jit(features, X, U, Y, reg, use_reg):
    Psi_X = jax.vmap(features)(X).astype(X.dtype)
    Psi_Y = jax.vmap(features)(Y).astype(X.dtype)
    p = Psi_X.shape[1]
    G = _ridge_traced(jnp.concatenate([Psi_X, U], 1), Psi_Y, reg, use_reg).T  # (p, p + m)
    C = _ridge_traced(Psi_X, X, reg, use_reg).T
    return G[:, :p], G[:, p:], C


def generator_edmdc(
    X: Float[ArrayLike, "n d"],
    U: Float[ArrayLike, "n m"],
    dXdt: Optional[Float[ArrayLike, "n d"]] = None,
    features: Optional[Callable] = None,
    reg: float = 0.0,
    bilinear: bool = False,
    dt: float = 1.0,
    *,
    Y: Optional[Float[ArrayLike, "n d"]] = None,
) -> ControlGeneratorEstimator:
    r"""Generator EDMD with inputs: a continuous-time lifted model, linear or bilinear in the input.

    The time derivative of the lifted state comes either

    - from given velocities `dXdt` $= \dot x_i = f(x_i, u_i)$, by the chain rule
      $\dot\psi = D\psi(x)\,\dot x$ (exact, forward-mode autodiff), regressed on $\psi(x_i)$; or
    - from successors `Y` $= x_i(\Delta t)$ under the held input $u_i$, by central finite differences
      in the lifted space: $(\psi(y_i) - \psi(x_i))/\Delta t$ regressed on the midpoint
      $\bar\psi_i = (\psi(x_i) + \psi(y_i))/2$. For lifted dynamics that are linear this is the
      trapezoidal rule, so the generator has error $O(\Delta t^2)$.

    Then (ridge $\gamma$) the linear model solves
    $\min\|\dot\Psi - \Psi A^\top - UB^\top\|_F^2$ and the bilinear one
    $\min\|\dot\Psi - \Psi A^\top - \sum_i (u_i \odot \Psi) B_i^\top\|_F^2$ (Klus et al. 2020; Peitz,
    Otto & Rowley 2020): the Koopman generator of $\dot x = f(x) + \sum_i g_i(x)u_i$ is
    $\mathcal L_f + \sum_i u_i\mathcal L_{g_i}$, bilinear in the input. Exact for $\gamma = 0$ and
    given derivatives when $\operatorname{span}\psi$ is invariant under $\mathcal L_f$ and every
    $\mathcal L_{g_i}$.

    **Arguments:**

    - `X`: states `(n, d)`; `U`: inputs `(n, m)`.
    - `dXdt`: velocities `(n, d)`; or instead (keyword) `Y`: successors after `dt`, `(n, d)`.
    - `features`: dictionary, one state `(d,)` -> `(p,)`.
    - `reg`: ridge $\gamma \ge 0$.
    - `bilinear`: fit $\dot z = Az + \sum_i u_iB_iz$ (default: $\dot z = Az + Bu$).
    - `dt`: the finite-difference step when `Y` is given, and the step of `predict` / `discretize`.

    **Returns:** a [`ControlGeneratorEstimator`][jaxrep.koopman.ControlGeneratorEstimator].

    **References:** Klus, Nüske, Peitz, Niemann, Clementi & Schütte, Physica D 406 (2020); Peitz, Otto
    & Rowley, "Data-driven model predictive control using interpolated Koopman generators", SIAM J.
    Appl. Dyn. Syst. 19 (2020).
    """
    if features is None:
        raise ValueError("features is required: a dictionary mapping one state (d,) to (p,)")
    if (dXdt is None) == (Y is None):
        raise ValueError(
            "give exactly one of dXdt (velocities) and Y (successors after dt, finite differences), "
            f"got dXdt={'None' if dXdt is None else 'array'} and Y={'None' if Y is None else 'array'}"
        )
    if not isinstance(bilinear, bool):
        raise TypeError(f"bilinear must be a bool, got {bilinear!r}")
    if dXdt is not None:
        X, U, V = _snapshots(X, U, dXdt, "dXdt")
    else:
        X, U, V = _snapshots(X, U, Y, "Y")
    reg, dt = _check_reg(reg), _check_dt(dt)
    _check_features(features, X)
    A, B, C = _gedmdc_jit(features, X, U, V, dXdt is None, jnp.asarray(reg, X.dtype), reg > 0,
                          bilinear, jnp.asarray(dt, X.dtype))
    return ControlGeneratorEstimator(features, A, B, C, dt)


@eqx.filter_jit
def _gedmdc_jit(features, X, U, V, finite_difference, reg, use_reg, bilinear, dt):
    Psi_X = jax.vmap(features)(X).astype(X.dtype)
    if finite_difference:
        Psi_Y = jax.vmap(features)(V).astype(X.dtype)
        dPsi = (Psi_Y - Psi_X) / dt
        Psi = 0.5 * (Psi_X + Psi_Y)
    else:
        dPsi = jax.vmap(lambda x, v: jax.jvp(features, (x,), (v,))[1])(X, V).astype(X.dtype)
        Psi = Psi_X
    n, p = Psi.shape
    m = U.shape[1]
    if bilinear:
        regressors = jnp.concatenate([Psi, (U[:, :, None] * Psi[:, None, :]).reshape(n, m * p)], 1)
    else:
        regressors = jnp.concatenate([Psi, U], 1)
    G = _ridge_traced(regressors, dPsi, reg, use_reg).T  # (p, p + m) or (p, p + m p)
    A = G[:, :p]
    B = G[:, p:].reshape(p, m, p).transpose(1, 0, 2) if bilinear else G[:, p:]
    C = _ridge_traced(Psi_X, X, reg, use_reg).T
    return A, B, C


# --------------------------------------------------------------------------- learnable generators


class AbstractControlGenerator(eqx.Module):
    r"""A learnable continuous-time lifted model with inputs, $\dot z = F(z, u)$, linear in $z$.

    Subclasses hold a state generator (any [`AbstractGenerator`][jaxrep.koopman.AbstractGenerator], so
    the spectrum of the unforced part is constrained as there) and supply `input_matrix()`. Calling one
    on **one** state and input returns $\dot z$ (batch with `jax.vmap`). Roll out exactly with
    `propagate_controlled(gen.matrix(), gen.input_matrix(), z0, us, ts)`, train with
    [`jaxrep.train.fit`][] on any loss of those rollouts.
    """

    generator: eqx.AbstractVar[AbstractGenerator]
    dim: eqx.AbstractVar[int]
    n_inputs: eqx.AbstractVar[int]

    @abc.abstractmethod
    def input_matrix(self) -> Union[Float[Array, "dim m"], Float[Array, "m dim dim"]]:
        """The input matrix: `(dim, m)` for $Bu$, or `(m, dim, dim)` for $\\sum_i u_i B_i z$."""

    def matrix(self) -> Float[Array, "dim dim"]:
        """The state generator $A$, shape `(dim, dim)`."""
        return self.generator.matrix()

    def _check_call(self, z, u):
        if jnp.shape(z) != (self.dim,) or jnp.shape(u) != (self.n_inputs,):
            raise ValueError(
                f"{type(self).__name__} expects z of shape ({self.dim},) and u of shape "
                f"({self.n_inputs},) for one sample, got {jnp.shape(z)} and {jnp.shape(u)} "
                "(for batches use jax.vmap)"
            )


def _check_n_inputs(n_inputs) -> None:
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
        raise ValueError(f"n_inputs must be an integer >= 1, got {n_inputs!r}")


class ControlGenerator(AbstractControlGenerator):
    r"""Learnable $\dot z = Az + Bu$: a state generator $A$ (any `param=` of
    [`Generator`][jaxrep.koopman.Generator]) and a dense input matrix $B$.

    **Arguments:**

    - `dim`: latent dimension $d$; `n_inputs`: input dimension $m$.
    - `param`: parametrisation of $A$ (`"dense"`, `"stable"`, `"skew"`, `"eig"`).
    - `input_scale`: $B$ starts with i.i.d. $\mathcal N(0, \text{input\_scale}^2/m)$ entries.
    - `key`: PRNG key (keyword-only).
    - `**kwargs`: forwarded to the state generator (`scale`, `eps`, `basis_noise`).
    """

    generator: AbstractGenerator
    input_weight: Float[Array, "dim m"]
    dim: int = eqx.field(static=True)
    n_inputs: int = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        n_inputs: int,
        param: str = "dense",
        input_scale: float = 1.0,
        *,
        key: PRNGKeyArray,
        **kwargs,
    ):
        _check_dim(dim)
        _check_n_inputs(n_inputs)
        input_scale = _check_scale(input_scale, "input_scale")
        k1, k2 = jr.split(key)
        self.generator = Generator(dim, param, key=k1, **kwargs)
        self.input_weight = input_scale / math.sqrt(n_inputs) * jr.normal(k2, (dim, n_inputs))
        self.dim, self.n_inputs = dim, n_inputs

    def input_matrix(self) -> Float[Array, "dim m"]:
        return self.input_weight

    def __call__(self, z: Float[Array, " dim"], u: Float[Array, " m"]) -> Float[Array, " dim"]:
        self._check_call(z, u)
        return _mm(self.matrix(), z) + _mm(self.input_weight, u)


class BilinearGenerator(AbstractControlGenerator):
    r"""Learnable bilinear $\dot z = Az + \sum_i u_i B_i z$ (the form of the Koopman generator of a
    control-affine system): a state generator $A$ and dense $B_i$.

    **Arguments:**

    - `dim`: latent dimension $d$; `n_inputs`: input dimension $m$.
    - `param`: parametrisation of $A$ (`"dense"`, `"stable"`, `"skew"`, `"eig"`).
    - `input_scale`: the $B_i$ start with i.i.d. $\mathcal N(0, \text{input\_scale}^2/(md))$ entries.
    - `key`: PRNG key (keyword-only).
    - `**kwargs`: forwarded to the state generator.

    **References:** Goswami & Paley, "Global bilinearization and controllability of control-affine
    nonlinear systems: a Koopman spectral approach", IEEE CDC (2017).
    """

    generator: AbstractGenerator
    input_weight: Float[Array, "m dim dim"]
    dim: int = eqx.field(static=True)
    n_inputs: int = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        n_inputs: int,
        param: str = "dense",
        input_scale: float = 1.0,
        *,
        key: PRNGKeyArray,
        **kwargs,
    ):
        _check_dim(dim)
        _check_n_inputs(n_inputs)
        input_scale = _check_scale(input_scale, "input_scale")
        k1, k2 = jr.split(key)
        self.generator = Generator(dim, param, key=k1, **kwargs)
        self.input_weight = (
            input_scale / math.sqrt(n_inputs * dim) * jr.normal(k2, (n_inputs, dim, dim))
        )
        self.dim, self.n_inputs = dim, n_inputs

    def input_matrix(self) -> Float[Array, "m dim dim"]:
        return self.input_weight

    def __call__(self, z: Float[Array, " dim"], u: Float[Array, " m"]) -> Float[Array, " dim"]:
        self._check_call(z, u)
        return _mm(self.matrix() + jnp.einsum("i,ijk->jk", u, self.input_weight, precision=_HI), z)
