r"""Dynamic mode decomposition family: exact DMD, optimised DMD by variable projection, BOP-DMD,
Hankel (time-delay) DMD and HAVOK.

Conventions (as the other estimators of `jaxrep.koopman`): snapshots are **rows**, a data matrix
`X` has shape `(m, n)` — $m$ snapshots $x(t_k)$ of an $n$-dimensional state. Every DMD result
represents the data as a sum of $r$ exponentials,
$$x(t) \approx \operatorname{Re}\sum_{i=1}^r b_i\, e^{\mu_i (t - t_0)}\, m_i,$$
with continuous-time eigenvalues $\mu_i$, unit-norm modes $m_i \in \mathbb{C}^n$, complex amplitudes
$b_i$ and $t_0$ the first snapshot time; the discrete-time eigenvalues are
$\lambda_i = e^{\mu_i\Delta t}$ for the (mean) sampling step $\Delta t$. Results are sorted by
decreasing $\operatorname{Re}\mu_i$ (slowest first; equal to $\sqrt\epsilon$ counts as equal),
then decreasing $\operatorname{Im}\mu_i$, so conjugate pairs are adjacent, positive frequency first.

Every fit is jitted: exact and Hankel DMD (SVD, eigen-decomposition, amplitudes) and optimised DMD
(projection, initial guess, the whole Levenberg–Marquardt iteration as a `lax.while_loop`, modes)
are one program each; BOP-DMD runs the optimised-DMD program on all snapshots, then one program
that `vmap`s the iteration over the bags. The functions also work under an outer `jax.jit` /
`jax.vmap` (with `rank` given). Argument checks run eagerly on concrete inputs and are skipped for
traced ones.
"""

import math
from typing import Callable, Optional, Sequence, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Complex, Float, Int, PRNGKeyArray

from .._validate import check_int
from ._estimators import _as_data, _check_dt

_HI = jax.lax.Precision.HIGHEST


def _mm(a, b):
    return jnp.matmul(a, b, precision=_HI)


def _cdtype(dtype):
    return jnp.result_type(dtype, jnp.complex64)


def _lstsq(A, B):
    r"""Least squares for a full-column-rank `A` by Householder QR (cheaper to compile than
    `jnp.linalg.lstsq`'s SVD, and as accurate for well-posed problems). $Q$ is never formed: the
    triangular factor of $[A\ B]$ holds $R$ and $Q^HB$."""
    p = A.shape[1]
    vec = B.ndim == 1
    B2 = B[:, None] if vec else B
    Rab = jnp.linalg.qr(jnp.concatenate([A, B2.astype(A.dtype)], 1), mode="r")
    x = jsl.solve_triangular(Rab[:p, :p], Rab[:p, p:], lower=False)
    return x[:, 0] if vec else x


# --------------------------------------------------------------------------- results


class AbstractDMD(eqx.Module):
    r"""A fitted DMD: $x(t) \approx \operatorname{Re}\sum_i b_i e^{\mu_i(t - t_0)} m_i$.

    Subclasses supply `eigenvalues` $\lambda_i = e^{\mu_i\Delta t}$ `(r,)`,
    `continuous_eigenvalues` $\mu_i$ `(r,)`, `modes` $m_i$ `(r, n)` (unit norm, one per row),
    `amplitudes` $b_i$ `(r,)`, the snapshot times `ts` `(m,)` ($t_0$ = `ts[0]`) and the step `dt`.
    """

    eigenvalues: eqx.AbstractVar[Complex[Array, " r"]]
    continuous_eigenvalues: eqx.AbstractVar[Complex[Array, " r"]]
    modes: eqx.AbstractVar[Complex[Array, "r n"]]
    amplitudes: eqx.AbstractVar[Complex[Array, " r"]]
    ts: eqx.AbstractVar[Float[Array, " m"]]
    dt: eqx.AbstractVar[Float[Array, ""]]

    def predict(self, ts: Float[ArrayLike, " k"]) -> Float[Array, "k n"]:
        r"""$\operatorname{Re}\sum_i b_i e^{\mu_i (t - t_0)} m_i$ at every time in `ts` `(k,)` ->
        `(k, n)` (any times: interpolation, extrapolation, uneven)."""
        ts = jnp.asarray(ts)
        if ts.ndim != 1:
            raise ValueError(f"ts must be a 1-D array of times (k,), got shape {ts.shape}")
        return _predict(self.continuous_eigenvalues, self.amplitudes, self.modes, self.ts[0], ts)

    def reconstruct(self) -> Float[Array, "m n"]:
        """The fit at the snapshot times, `predict(self.ts)`, `(m, n)`."""
        return self.predict(self.ts)


@jax.jit
def _predict(mu, b, modes, t0, ts):
    tau = (ts - t0).astype(mu.real.dtype)
    return jnp.real(_mm(jnp.exp(tau[:, None] * mu[None, :]) * b, modes))


class DMDResult(AbstractDMD):
    """Exact or Hankel DMD (see [`dmd`][jaxrep.koopman.dmd], [`hankel_dmd`][jaxrep.koopman.hankel_dmd]).

    Fields as [`AbstractDMD`][jaxrep.koopman.AbstractDMD], plus `singular_values`: all singular
    values of the (Hankel) snapshot matrix of the pairs' first members, for choosing a rank.
    """

    eigenvalues: Complex[Array, " r"]
    continuous_eigenvalues: Complex[Array, " r"]
    modes: Complex[Array, "r n"]
    amplitudes: Complex[Array, " r"]
    ts: Float[Array, " m"]
    dt: Float[Array, ""]
    singular_values: Float[Array, " s"]


class OptDMDResult(AbstractDMD):
    """Optimised DMD (see [`optdmd`][jaxrep.koopman.optdmd]).

    Fields as [`AbstractDMD`][jaxrep.koopman.AbstractDMD] (`dt` is the mean step
    $(t_{m-1} - t_0)/(m-1)$), plus `n_iter` (Levenberg–Marquardt iterations), `converged` (a stopping
    test was met before `max_iter`) and `residual`, the relative fit error
    $\\|X - \\hat X\\|_F / \\|X\\|_F$ on the snapshots.
    """

    eigenvalues: Complex[Array, " r"]
    continuous_eigenvalues: Complex[Array, " r"]
    modes: Complex[Array, "r n"]
    amplitudes: Complex[Array, " r"]
    ts: Float[Array, " m"]
    dt: Float[Array, ""]
    n_iter: Int[Array, ""]
    converged: Bool[Array, ""]
    residual: Float[Array, ""]


class BOPDMDResult(AbstractDMD):
    r"""Bagging, optimised DMD (see [`bopdmd`][jaxrep.koopman.bopdmd]).

    `continuous_eigenvalues` are the means over the bags (after matching each bag's eigenvalues to
    the full-data fit); `continuous_eigenvalues_std` is their spread,
    $\operatorname{std}(\operatorname{Re}\mu_i) + i\,\operatorname{std}(\operatorname{Im}\mu_i)$;
    `bag_eigenvalues` `(n_bags, r)` are the matched per-bag eigenvalues and `bag_converged`
    `(n_bags,)` says which bag fits met a stopping test. Modes and amplitudes are the least-squares
    fit of all snapshots with the mean eigenvalues. `dt` is the mean step.
    """

    eigenvalues: Complex[Array, " r"]
    continuous_eigenvalues: Complex[Array, " r"]
    continuous_eigenvalues_std: Complex[Array, " r"]
    modes: Complex[Array, "r n"]
    amplitudes: Complex[Array, " r"]
    ts: Float[Array, " m"]
    dt: Float[Array, ""]
    bag_eigenvalues: Complex[Array, "n_bags r"]
    bag_converged: Bool[Array, " n_bags"]


class HAVOKResult(eqx.Module):
    r"""Hankel alternative view of Koopman (see [`havok`][jaxrep.koopman.havok]).

    The delay coordinates $v(t) \in \mathbb{R}^r$ (right singular vectors of the Hankel matrix) obey
    the forced linear model
    $$\tfrac{d}{dt} v_{1:r-1} = A\, v_{1:r-1} + B\, v_r(t),$$
    with the last coordinate $v_r$ (`forcing`) as the input.

    - `A` `(r-1, r-1)`, `B` `(r-1,)`;
    - `forcing` `(m',)`: $v_r(t_k)$; `delay_coordinates` `(m', r)`: $v(t_k)$;
    - `singular_values` `(r,)` and `delay_modes` `(r, q n)` with
      $H \approx V\,\operatorname{diag}(\sigma)\,U^\top$ (row $k$ of the Hankel matrix is
      $[x_k, x_{k+1}, \dots, x_{k+q-1}]$), so $x_k \approx \sum_j v_j(t_k)\sigma_j U_{1:n, j}$;
    - `ts` `(m',)`: the times of the Hankel rows, `dt` the step.
    """

    A: Float[Array, "r1 r1"]
    B: Float[Array, " r1"]
    forcing: Float[Array, " mp"]
    delay_coordinates: Float[Array, "mp r"]
    singular_values: Float[Array, " r"]
    delay_modes: Float[Array, "r qn"]
    ts: Float[Array, " mp"]
    dt: Float[Array, ""]

    def simulate(
        self, v0: Float[ArrayLike, " r1"], forcing: Optional[Float[ArrayLike, " k"]] = None
    ) -> Float[Array, "k r1"]:
        r"""Integrate $\dot v = Av + Bu(t)$ from `v0` on the grid $t_0 + k\Delta t$ with the input
        `forcing` $u$ `(k,)` taken piecewise linear between samples (exact first-order-hold
        discretisation by one matrix exponential). `forcing=None` uses the fitted `self.forcing`.

        **Returns:** `(k, r - 1)`, row 0 is `v0`.
        """
        u = self.forcing if forcing is None else jnp.asarray(forcing, self.A.dtype)
        v0 = jnp.asarray(v0, self.A.dtype)
        if v0.shape != self.B.shape:
            raise ValueError(f"v0 must have shape {self.B.shape}, got {v0.shape}")
        if u.ndim != 1 or u.shape[0] < 1:
            raise ValueError(f"forcing must be a 1-D signal (k,), got shape {u.shape}")
        return _lsim_foh(self.A, self.B, v0, u, self.dt)

    def reconstruct(self, forced: bool = True) -> Float[Array, "mp r1"]:
        """The model's run over the training window from the first delay coordinates, with the
        measured forcing (`forced=True`) or without it (`False`, $u = 0$), `(m', r - 1)`; compare
        with `delay_coordinates[:, :-1]`."""
        u = self.forcing if forced else jnp.zeros_like(self.forcing)
        return _lsim_foh(self.A, self.B, self.delay_coordinates[0, :-1], u, self.dt)


@jax.jit
def _lsim_foh(A, B, v0, u, dt):
    r"""Exact solution of $\dot v = Av + Bu$ for piecewise-linear $u$: with
    $M = \begin{pmatrix}A & B & 0\\ 0 & 0 & 1/\Delta t\\ 0&0&0\end{pmatrix}$,
    $e^{M\Delta t} = \begin{pmatrix}\Phi & \Gamma_0 & \Gamma_1\\ \cdot\end{pmatrix}$ and
    $v_{k+1} = \Phi v_k + \Gamma_0 u_k + \Gamma_1 (u_{k+1} - u_k)$."""
    p = A.shape[0]
    M = jnp.zeros((p + 2, p + 2), A.dtype)
    M = M.at[:p, :p].set(A).at[:p, p].set(B).at[p, p + 1].set(1.0 / dt)
    E = jsl.expm(M * dt)
    Phi, G0, G1 = E[:p, :p], E[:p, p], E[:p, p + 1]

    def step(v, uu):
        u0, u1 = uu
        v1 = _mm(Phi, v) + G0 * u0 + G1 * (u1 - u0)
        return v1, v1

    _, vs = jax.lax.scan(step, v0, (u[:-1], u[1:]))
    return jnp.concatenate([v0[None], vs], 0)


# --------------------------------------------------------------------------- validation


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


_check_int = check_int


def _check_times(ts, m: int, dtype) -> Array:
    if _concrete(ts):
        arr = np.asarray(ts)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"ts must be a real array of times, got dtype {arr.dtype}")
        if arr.ndim != 1 or arr.shape[0] != m:
            raise ValueError(f"ts must have shape ({m},) (one time per snapshot), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"ts contains {int(np.sum(~np.isfinite(arr)))} non-finite values")
        steps = np.diff(arr.astype(np.float64))
        if np.any(steps <= 0):
            k = int(np.argmax(steps <= 0))
            raise ValueError(
                f"ts must be strictly increasing, got ts[{k + 1}]={arr[k + 1]!r} <= ts[{k}]={arr[k]!r}"
            )
    ts = jnp.asarray(ts)
    if ts.shape != (m,):
        raise ValueError(f"ts must have shape ({m},) (one time per snapshot), got {ts.shape}")
    return ts.astype(dtype)


def _check_signal(x, name: str) -> Array:
    if _concrete(x):
        arr = np.asarray(x)
        if arr.ndim == 1:
            x = arr[:, None]
    elif jnp.ndim(x) == 1:
        x = x[:, None]
    return _as_data(x, name)


def _max_rank_exact(m_pairs: int, n: int) -> int:
    return min(m_pairs, n)


def _check_rank_int(rank, max_rank: int, what: str) -> int:
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"rank must be an integer >= 1, got {rank!r}")
    if rank > max_rank:
        raise ValueError(f"rank={rank} is larger than the data allows ({max_rank}: {what})")
    return int(rank)


def _numerical_rank(s: np.ndarray, shape) -> int:
    if s.size == 0 or s[0] == 0:
        return 0
    tol = max(shape) * np.finfo(s.dtype).eps * s[0]
    return int(np.sum(s > tol))


def _check_numerical_rank(s, rank: int, shape, name: str):
    """Raise when the requested rank exceeds the numerical rank of concrete data."""
    if not _concrete(s):
        return
    s = np.asarray(s)
    nr = _numerical_rank(s, shape)
    if rank > nr:
        sv = ", ".join(f"{v:.3g}" for v in s[: rank + 1])
        raise ValueError(
            f"rank={rank} is larger than the data allows: {name} has numerical rank {nr} "
            f"(leading singular values {sv})"
        )


# --------------------------------------------------------------------------- exact DMD


def _order(mu):
    r"""Decreasing real part (to $\sqrt\epsilon$ relative, so that conjugate pairs stay adjacent),
    then decreasing imaginary part."""
    re = jnp.real(mu)
    tol = jnp.sqrt(jnp.finfo(re.dtype).eps) * jnp.maximum(jnp.max(jnp.abs(mu)), 1.0)
    return jnp.lexsort((-jnp.imag(mu), -jnp.round(re / tol)))


def _sort(mu, *arrays):
    order = _order(mu)
    return (mu[order],) + tuple(a[order] for a in arrays)


def _exact_core(X, Y, rank: int):
    r"""Exact DMD (Tu et al. 2014) of the pairs $y_k = A x_k$ (rows). Returns the discrete eigenvalues
    `(r,)`, the exact modes as columns `(n, r)` (unnormalised) and all singular values of $X$."""
    U, s, Vh = jnp.linalg.svd(X.T, full_matrices=False)  # X^T = U S V^H, X^T is (n, p)
    U, sr, Vh = U[:, :rank], s[:rank], Vh[:rank]
    YVS = _mm(Y.T, Vh.T) / sr  # (n, r): Y^T V S^{-1}
    Atil = _mm(U.T, YVS)
    lam, W = jnp.linalg.eig(Atil)
    Phi = _mm(YVS.astype(W.dtype), W)  # exact modes: eigenvectors of Y^T X^{T+} for lambda != 0
    return lam, Phi, s


def _finish(lam, Phi, x0, dt, ts, s):
    """Normalise modes, fit amplitudes to `x0`, continuous eigenvalues, sort."""
    cdt = Phi.dtype
    nrm = jnp.linalg.norm(Phi, axis=0)
    Phi = Phi / jnp.where(nrm > 0, nrm, 1.0)
    b = _lstsq(Phi, x0.astype(cdt))
    mu = jnp.log(lam.astype(cdt)) / dt
    mu, lam, modes, b = _sort(mu, lam.astype(cdt), Phi.T, b)
    return DMDResult(lam, mu, modes, b, ts, jnp.asarray(dt, ts.dtype), s)


@eqx.filter_jit
def _dmd_jit(X, Y, rank, dt, ts):
    lam, Phi, s = _exact_core(X, Y, rank)
    return _finish(lam, Phi, X[0], dt, ts, s)


def dmd(
    X: Float[ArrayLike, "m n"],
    Y: Optional[Float[ArrayLike, "m n"]] = None,
    rank: Optional[int] = None,
    dt: float = 1.0,
) -> DMDResult:
    r"""Exact dynamic mode decomposition with rank truncation (Schmid 2010; Tu et al. 2014).

    With snapshot pairs $y_k = A x_k$ stacked as columns $X, Y \in \mathbb{R}^{n\times p}$ and the
    rank-$r$ SVD $X \approx U_r\Sigma_rV_r^H$: $\tilde A = U_r^H Y V_r\Sigma_r^{-1}$,
    $\tilde A W = W\Lambda$, exact modes $\Phi = YV_r\Sigma_r^{-1}W$ (eigenvectors of
    $YX^+$ with eigenvalues $\lambda_i \neq 0$), continuous-time eigenvalues
    $\mu_i = \log(\lambda_i)/\Delta t$ and amplitudes $b = \Phi^+ x_0$ (unit-norm modes).

    **Arguments:**

    - `X`: a snapshot sequence `(m, n)` at times $k\Delta t$ (then the pairs are consecutive rows), or,
      with `Y`, the first members of snapshot pairs `(p, n)`.
    - `Y`: `None`, or the successors `(p, n)` of the rows of `X` after one step `dt`.
    - `rank`: truncation $r \le \min(p, n)$; `None` keeps the numerical rank of $X$ (needs concrete
      data). A rank above the numerical rank of concrete data is an error.
    - `dt`: time step $\Delta t > 0$.

    **Returns:** a [`DMDResult`][jaxrep.koopman.DMDResult]; `predict(ts)` evaluates
    $\operatorname{Re}\sum_i b_i e^{\mu_i t} m_i$ with $t_0 = 0$ at `X[0]`.

    **References:** Tu, Rowley, Luchtenburg, Brunton & Kutz, "On dynamic mode decomposition: theory
    and applications", J. Comput. Dyn. 1 (2014).
    """
    dt = _check_dt(dt)
    X = _as_data(X, "X")
    if Y is None:
        if X.shape[0] < 2:
            raise ValueError(f"X must hold at least 2 snapshots (m, n), got shape {X.shape}")
        m_ts = X.shape[0]
        X, Y = X[:-1], X[1:]
    else:
        Y = _as_data(Y, "Y")
        if X.shape != Y.shape:
            raise ValueError(
                f"X and Y must have the same shape (one successor per snapshot), got {X.shape} and {Y.shape}"
            )
        m_ts = X.shape[0]
    p, n = X.shape
    max_rank = _max_rank_exact(p, n)
    what = f"min(snapshot pairs, dimension) = min({p}, {n})"
    if rank is None:
        if not _concrete(X):
            raise ValueError("rank=None needs concrete data to find the numerical rank; pass rank=")
        rank = max(1, _numerical_rank(np.linalg.svd(np.asarray(X), compute_uv=False), X.shape))
    rank = _check_rank_int(rank, max_rank, what)
    ts = dt * jnp.arange(m_ts, dtype=X.dtype)  # outside the jit: one program for both layouts
    out = _dmd_jit(X, Y, rank, jnp.asarray(dt, X.dtype), ts)
    _check_numerical_rank(out.singular_values, rank, X.shape, "X")
    return out


# --------------------------------------------------------------------------- Hankel DMD


def _hankel(X: Array, q: int) -> Array:
    """Rows $[x_k, x_{k+1}, \\dots, x_{k+q-1}]$, $k = 0..m-q$: `(m - q + 1, q n)`."""
    m, n = X.shape
    idx = jnp.arange(m - q + 1)[:, None] + jnp.arange(q)[None, :]
    return X[idx].reshape(m - q + 1, q * n)


@eqx.filter_jit
def _hankel_dmd_jit(X, q, rank, dt):
    n = X.shape[1]
    H = _hankel(X, q)
    lam, Phi, s = _exact_core(H[:-1], H[1:], rank)
    cdt = Phi.dtype
    nrm = jnp.linalg.norm(Phi, axis=0)
    Phi = Phi / jnp.where(nrm > 0, nrm, 1.0)
    # Amplitudes from the whole first Hankel row (q snapshots), then modes restricted to x_k.
    b = _lstsq(Phi, H[0].astype(cdt))
    P0 = Phi[:n]
    n0 = jnp.linalg.norm(P0, axis=0)
    P0 = P0 / jnp.where(n0 > 0, n0, 1.0)
    b = b * n0
    mu = jnp.log(lam.astype(cdt)) / dt
    mu, lam, modes, b = _sort(mu, lam.astype(cdt), P0.T, b)
    ts = dt * jnp.arange(H.shape[0], dtype=X.dtype)
    return DMDResult(lam, mu, modes, b, ts, jnp.asarray(dt, X.dtype), s)


def hankel_dmd(
    x: Float[ArrayLike, "m n"],
    delays: int,
    rank: Optional[int] = None,
    dt: float = 1.0,
) -> DMDResult:
    r"""Hankel (time-delay) DMD: exact DMD of the delay-embedded states
    $h_k = [x_k, x_{k+1}, \dots, x_{k+q-1}] \in \mathbb{R}^{qn}$ (Arbabi & Mezić 2017; Brunton et
    al. 2017). A scalar signal that is a sum of $r$ (damped) exponentials has a rank-$r$ Hankel
    matrix, so $q \ge r$ delays recover all $r$ eigenvalues from one observable.

    **Arguments:**

    - `x`: a uniformly sampled signal `(m,)` or `(m, n)`.
    - `delays`: number of delays $q \ge 1$ (embedding dimension $qn$); $q < m$.
    - `rank`: truncation $r \le \min(m - q, qn)$, or `None` for the numerical rank.
    - `dt`: sampling step $\Delta t > 0$.

    **Returns:** a [`DMDResult`][jaxrep.koopman.DMDResult] whose modes are restricted to the current
    state $x_k$ (the first block of $h_k$) and renormalised, so `predict(ts)` forecasts $x(t)$;
    amplitudes are fitted to the whole first delay vector, `ts` are the times of the $m - q + 1$
    Hankel rows.

    **References:** Arbabi & Mezić, "Ergodic theory, dynamic mode decomposition, and computation of
    spectral properties of the Koopman operator", SIAM J. Appl. Dyn. Syst. 16 (2017).
    """
    dt = _check_dt(dt)
    X = _check_signal(x, "x")
    m, n = X.shape
    delays = _check_int(delays, "delays", 1)
    if delays >= m:
        raise ValueError(f"delays must be smaller than the number of snapshots ({m}), got {delays}")
    p = m - delays  # Hankel pairs
    max_rank = _max_rank_exact(p, delays * n)
    what = f"min(m - delays, delays * n) = min({p}, {delays * n})"
    if rank is None:
        if not _concrete(X):
            raise ValueError("rank=None needs concrete data to find the numerical rank; pass rank=")
        H = np.asarray(_hankel(X, delays))[:-1]
        rank = max(1, _numerical_rank(np.linalg.svd(H, compute_uv=False), H.shape))
    rank = _check_rank_int(rank, max_rank, what)
    out = _hankel_dmd_jit(X, delays, rank, jnp.asarray(dt, X.dtype))
    _check_numerical_rank(out.singular_values, rank, (p, delays * n), "the Hankel matrix of x")
    return out


# --------------------------------------------------------------------------- eigenvalue constraints


def _prox_conjugate(alpha, n_pairs):
    r"""Nearest set closed under conjugation with `n_pairs` pairs: sort by imaginary part, pair the
    $k$-th smallest with the $k$-th largest ($k <$ `n_pairs`) by averaging $a$ and $\bar c$, and
    make the middle ones real."""
    r = alpha.shape[0]
    order = jnp.argsort(jnp.imag(alpha))
    a = alpha[order]
    partner = a[::-1]
    k = jnp.arange(r)
    paired = (k < n_pairs) | (k >= r - n_pairs)
    re = jnp.where(paired, 0.5 * (jnp.real(a) + jnp.real(partner)), jnp.real(a))
    im = jnp.where(paired, 0.5 * (jnp.imag(a) - jnp.imag(partner)), 0.0)
    new = jax.lax.complex(re, im)
    return jnp.zeros_like(alpha).at[order].set(new)


_CONSTRAINTS = ("stable", "imaginary", "conjugate_pairs")


def _check_constraints(constraints) -> np.ndarray:
    """Constraint names -> flags `[stable, imaginary, conjugate_pairs]` (traced in the numerics, so
    every combination shares one compiled program)."""
    if constraints is None:
        return np.zeros(3, bool)
    if isinstance(constraints, str):
        constraints = (constraints,)
    try:
        cons = tuple(constraints)
    except TypeError:
        raise TypeError(
            f"constraints must be None, a string or a sequence of strings, got {constraints!r}"
        ) from None
    for c in cons:
        if c not in _CONSTRAINTS:
            raise ValueError(f"constraints: unknown constraint {c!r}, expected one of {_CONSTRAINTS}")
    return np.array([c in cons for c in _CONSTRAINTS])


def _make_prox(flags, n_pairs) -> Callable:
    r"""Projection on the constraint set: conjugate pairs first, then the real part clipped
    (`stable`: $\min(\operatorname{Re}\mu, 0)$) or zeroed (`imaginary`), which keeps pairs paired."""
    stable, imaginary, conj = flags[0], flags[1], flags[2]

    def prox(alpha):
        alpha = jnp.where(conj, _prox_conjugate(alpha, n_pairs), alpha)
        re = jnp.real(alpha)
        re = jnp.where(imaginary, jnp.zeros_like(re), jnp.where(stable, jnp.minimum(re, 0.0), re))
        return jax.lax.complex(re, jnp.imag(alpha))

    return prox


def _n_pairs(alpha):
    """Number of conjugate pairs fixed by a guess: the larger count of Im > 0 and Im < 0, <= r/2."""
    pos = jnp.sum(jnp.imag(alpha) > 0)
    neg = jnp.sum(jnp.imag(alpha) < 0)
    return jnp.minimum(jnp.maximum(pos, neg), alpha.shape[0] // 2)


# --------------------------------------------------------------------------- variable projection


def _varpro(alpha, t, X):
    r"""Residual and Jacobian of the variable-projection functional
    $\rho(\alpha) = (I - \Phi\Phi^+)X$, $\Phi_{kj} = e^{\alpha_j t_k}$, as real vectors.

    With $P = \Phi\Phi^+$ and a perturbation $E = \partial\Phi$,
    $\partial\rho = -(I-P)E\Phi^+X - (\Phi^+)^H E^H \rho$ (Golub & Pereyra 1973, both terms). For
    $\alpha_j$ only column $j$ of $\Phi$ moves: $E = \epsilon\, (t\circ\phi_j)e_j^\top$ along
    $\operatorname{Re}\alpha_j$, and $i$ times that along $\operatorname{Im}\alpha_j$.

    Returns the real residual `(2 m n,)` (real then imaginary parts), the real Jacobian
    `(2 m n, 2 r)` with respect to $(\operatorname{Re}\alpha, \operatorname{Im}\alpha)$ and
    $B = \Phi^+X$ `(r, n)`.
    """
    Phi = jnp.exp(t[:, None] * alpha[None, :])
    Q, R = jnp.linalg.qr(Phi)
    QhX = _mm(Q.conj().T, X)
    B = jsl.solve_triangular(R, QhX, lower=False)
    rho = X - _mm(Q, QhX)
    TPhi = t[:, None] * Phi
    W = TPhi - _mm(Q, _mm(Q.conj().T, TPhi))  # (I - P) T Phi
    Pinv = jsl.solve_triangular(R, Q.conj().T, lower=False)  # Phi^+ (r, m)
    g = _mm(TPhi.conj().T, rho)  # (r, n): (t o phi_j)^H rho
    a = W.T[:, :, None] * B[:, None, :]  # (r, m, n)
    c = Pinv.conj()[:, :, None] * g[:, None, :]  # (r, m, n): (Phi^+)^H e_j g_j
    r = alpha.shape[0]
    J_re = -(a + c).reshape(r, -1)
    J_im = (-1j * (a - c)).reshape(r, -1)
    Jc = jnp.concatenate([J_re, J_im], 0)  # (2r, m n)
    J = jnp.concatenate([jnp.real(Jc), jnp.imag(Jc)], 1).T
    res = jnp.concatenate([jnp.real(rho).ravel(), jnp.imag(rho).ravel()])
    return res, J, B


def _lm(alpha0, t, X, flags, n_pairs, max_iter, tol):
    r"""Levenberg–Marquardt on the varpro functional (Askham & Kutz 2018), a `lax.while_loop`.

    Step: $\min_\delta \|J\delta + \rho\|^2 + \lambda\|D\delta\|^2$ with Marquardt's scaling
    $D = \operatorname{diag}(\|J_{:,j}\|)$, solved as the augmented least-squares problem
    $[J; \sqrt\lambda D]\delta \approx [-\rho; 0]$ by QR (no normal equations). Constraints: real
    parts held by `imaginary`, or by `stable` where $\operatorname{Re}\alpha_j = 0$ and the gradient
    points outward (an active set: their Jacobian columns are zeroed, so the step is the
    Levenberg–Marquardt step of the constrained problem), and every trial point projected by the
    constraint projection. Accept if the residual drops ($\lambda \leftarrow \lambda/3$), else
    $\lambda \leftarrow 4\lambda$. Stop on a relative step or cost change below `tol`, on a zero
    residual, on $\lambda > 10^{16}$, or after `max_iter` trials.
    """
    prox = _make_prox(flags, n_pairs)
    r = alpha0.shape[0]
    rdt = t.dtype

    def to_theta(a):
        return jnp.concatenate([jnp.real(a), jnp.imag(a)])

    def to_alpha(th):
        return jax.lax.complex(th[:r], th[r:])

    def evaluate(th):
        res, J, _ = _varpro(to_alpha(th), t, X)
        cost = 0.5 * jnp.sum(res**2)
        cost = jnp.where(jnp.isfinite(cost), cost, jnp.inf)
        return res, J, cost

    th0 = to_theta(prox(alpha0))
    m_res = 2 * X.shape[0] * X.shape[1]
    tiny = jnp.finfo(rdt).tiny

    def cond(state):
        *_, it, done = state
        return (~done) & (it < max_iter + 1)

    def body(state):
        th, res, J, cost, lam, it, done = state
        dscale = jnp.linalg.norm(J, axis=0)
        dscale = jnp.maximum(dscale, jnp.maximum(jnp.max(dscale), tiny) * 1e-12)
        grad = _mm(J.T, res)
        held = flags[1] | (flags[0] & (th[:r] >= 0) & (grad[:r] < 0))
        Jf = jnp.where(jnp.concatenate([held, jnp.zeros(r, bool)])[None, :], 0.0, J)
        A = jnp.concatenate([Jf, jnp.sqrt(lam) * jnp.diag(dscale)], 0)
        rhs = jnp.concatenate([-res, jnp.zeros(2 * r, rdt)])
        delta = _lstsq(A, rhs)
        # Trial 0 evaluates the starting point (one traced copy of the varpro evaluation).
        first = it == 0
        th_new = jnp.where(first, th, to_theta(prox(to_alpha(th + delta))))
        res_n, J_n, cost_n = evaluate(th_new)
        accept = first | (cost_n < cost)
        step = jnp.linalg.norm(th_new - th)
        small_step = ~first & (step <= tol * (jnp.linalg.norm(th) + tol))
        small_dec = ~first & accept & (cost - cost_n <= tol * cost)
        th = jnp.where(accept, th_new, th)
        res = jnp.where(accept, res_n, res)
        J = jnp.where(accept, J_n, J)
        cost = jnp.where(accept, cost_n, cost)
        lam = jnp.where(first, lam, jnp.where(accept, jnp.maximum(lam / 3.0, 1e-12), lam * 4.0))
        done = small_step | small_dec | (cost == 0) | (lam > 1e16)
        return th, res, J, cost, lam, it + 1, done

    init = (
        th0,
        jnp.zeros(m_res, rdt),
        jnp.eye(m_res, 2 * r, dtype=rdt),
        jnp.asarray(jnp.inf, rdt),
        jnp.asarray(1e-2, rdt),
        jnp.asarray(0),
        jnp.asarray(False),
    )
    th, *_, it, done = jax.lax.while_loop(cond, body, init)
    return to_alpha(th), it - 1, done


def _interp_uniform(ts, X):
    """Linear interpolation of the rows of `X` onto $m$ equispaced times spanning `ts`."""
    m = ts.shape[0]
    tu = jnp.linspace(ts[0], ts[-1], m)
    j = jnp.clip(jnp.searchsorted(ts, tu, side="right") - 1, 0, m - 2)
    w = ((tu - ts[j]) / (ts[j + 1] - ts[j]))[:, None]
    return tu, (1 - w) * X[j] + w * X[j + 1]


def _exact_init(ts, X, rank: int):
    r"""Continuous eigenvalues of exact DMD on the data interpolated to a uniform grid (delay-embedded
    when the dimension is below the rank)."""
    m, n = X.shape
    tu, Xu = _interp_uniform(ts, jnp.real(X))
    if n == rank:  # projected data: DMD of rank r is the r x r least-squares operator
        lam = jnp.linalg.eigvals(_lstsq(Xu[:-1], Xu[1:]))
    else:
        # n < r: Hankel DMD; a window of m/4 delays, which a few delays would make ill-conditioned
        q = min(max(-(-rank // n), m // 4), m - rank)
        H = _hankel(Xu, q)
        lam, _, _ = _exact_core(H[:-1], H[1:], rank)
    dtu = (tu[-1] - tu[0]) / (m - 1)
    mu = jnp.log(lam.astype(_cdtype(X.dtype))) / dtu
    # lambda = 0 (mu = -inf) would poison the iteration: start such a mode as a fast decay instead
    return jnp.where(jnp.isfinite(mu), mu, -1.0 / dtu)


def _project(X, rank: int):
    """Data projected on its top-`rank` right singular vectors when the dimension exceeds `rank`."""
    n = X.shape[1]
    _, s, Vh = jnp.linalg.svd(X, full_matrices=False)
    if n <= rank:
        return X, s
    return _mm(X, Vh[:rank].T), s


def _amplitudes_modes(alpha, t, X):
    Phi = jnp.exp(t[:, None] * alpha[None, :])
    Bm = _lstsq(Phi, X.astype(Phi.dtype))  # (r, n)
    b = jnp.linalg.norm(Bm, axis=1)
    modes = Bm / jnp.where(b > 0, b, 1.0)[:, None]
    resid = jnp.linalg.norm(X - jnp.real(_mm(Phi, Bm))) / jnp.linalg.norm(X)
    return b.astype(Phi.dtype), modes, resid


def _opt_rank_ok(r: int, m: int, n: int) -> bool:
    """Identifiable: r eigenvalues and r k amplitudes (k = min(n, r) after projection) need at most
    m k real data; below the dimension the initial Hankel DMD needs ceil(r/n) + r <= m."""
    k = min(n, r)
    return r * (k + 1) <= m * k and (n >= r or -(-r // n) + r <= m)


def _check_opt_inputs(X, ts, rank, init, max_iter, tol, constraints):
    X = _as_data(X, "X")
    m, n = X.shape
    if m < 2:
        raise ValueError(f"X must hold at least 2 snapshots (m, n), got shape {X.shape}")
    ts = _check_times(ts, m, X.dtype)
    max_rank = max([r for r in range(1, m + 1) if _opt_rank_ok(r, m, n)], default=0)
    rank = _check_rank_int(
        rank, max_rank, f"r (k + 1) <= m k with k = min(n, r), m={m} snapshots of dimension n={n}"
    )
    max_iter = _check_int(max_iter, "max_iter", 1)
    if tol is None:
        tol = max(1e-10, 100 * float(jnp.finfo(X.dtype).eps))
    if not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol <= 0:
        raise ValueError(f"tol must be a finite float > 0, got {tol!r}")
    if init is not None:
        if _concrete(init):
            arr = np.asarray(init)
            if arr.shape != (rank,):
                raise ValueError(f"init must have shape ({rank},) (one eigenvalue per rank), got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError("init contains non-finite values")
        init = jnp.asarray(init).astype(_cdtype(X.dtype))
        if init.shape != (rank,):
            raise ValueError(f"init must have shape ({rank},), got {init.shape}")
    flags = jnp.asarray(_check_constraints(constraints))
    return X, ts, rank, init, jnp.asarray(max_iter), jnp.asarray(tol, X.dtype), flags


def _initial(ts, Xp, rank, init):
    tau = ts - ts[0]
    return _exact_init(tau, Xp, rank) if init is None else init


@eqx.filter_jit
def _optdmd_jit(X, ts, rank, init, max_iter, tol, flags):
    """Returns the result, the singular values of X, the projected data and the number of
    conjugate pairs (the last two for BOP-DMD, which reuses this compiled program)."""
    tau = ts - ts[0]
    Xp, s = _project(X, rank)
    Xp = Xp.astype(_cdtype(X.dtype))
    alpha0 = _initial(ts, Xp, rank, init)
    n_pairs = _n_pairs(alpha0)
    alpha, it, done = _lm(alpha0, tau, Xp, flags, n_pairs, max_iter, tol)
    b, modes, resid = _amplitudes_modes(alpha, tau, X)
    dt = (ts[-1] - ts[0]) / (ts.shape[0] - 1)
    mu, b, modes = _sort(alpha, b, modes)
    out = OptDMDResult(jnp.exp(mu * dt), mu, modes, b, ts, dt, it, done, resid)
    return out, s, Xp, n_pairs


def optdmd(
    X: Float[ArrayLike, "m n"],
    ts: Float[ArrayLike, " m"],
    rank: int,
    *,
    init: Optional[Complex[ArrayLike, " r"]] = None,
    constraints: Union[None, str, Sequence[str]] = None,
    max_iter: int = 100,
    tol: Optional[float] = None,
) -> OptDMDResult:
    r"""Optimised DMD by variable projection (Askham & Kutz 2018): continuous-time eigenvalues from
    snapshots at arbitrary (uneven) times.

    Solves the exponential fitting problem
    $$\min_{\alpha\in\mathbb{C}^r,\ B\in\mathbb{C}^{r\times n}} \|X - \Phi(\alpha)B\|_F,\qquad
      \Phi(\alpha)_{kj} = e^{\alpha_j (t_k - t_0)},$$
    by eliminating $B = \Phi^+X$ (variable projection, Golub & Pereyra 1973) and minimising
    $\|(I - \Phi\Phi^+)X\|_F$ over $\alpha$ with Levenberg–Marquardt (exact Golub–Pereyra
    Jacobian, one `lax.while_loop`). When $n > r$ the data are first projected on their top-$r$
    right singular vectors; modes and amplitudes are then the least-squares fit of the full data.
    Unlike exact DMD it has no bias from noise in the "$X$" snapshots and needs no uniform grid.

    **Arguments:**

    - `X`: snapshots `(m, n)`; `ts`: their strictly increasing times `(m,)`.
    - `rank`: number of exponentials $r$ (at most $mk/(k+1)$ with $k = \min(n, r)$: more real
      unknowns than data otherwise).
    - `init`: initial continuous eigenvalues `(r,)`; `None` uses exact DMD of the data linearly
      interpolated to a uniform grid (delay-embedded when $n < r$).
    - `constraints`: `None` or any of `"stable"` ($\operatorname{Re}\mu \le 0$), `"imaginary"`
      ($\operatorname{Re}\mu = 0$), `"conjugate_pairs"` (a set closed under conjugation; the number
      of pairs is fixed by the initial guess). Enforced exactly: the real parts that `imaginary`, or
      an active `stable` bound, hold are left out of each Levenberg–Marquardt step, and every
      iterate is projected on the constraint set.
    - `max_iter`: Levenberg–Marquardt trials; `tol`: relative step / cost-change tolerance
      (default $\max(10^{-10}, 100\epsilon)$).

    **Returns:** an [`OptDMDResult`][jaxrep.koopman.OptDMDResult].

    **References:** Askham & Kutz, "Variable projection methods for an optimized dynamic mode
    decomposition", SIAM J. Appl. Dyn. Syst. 17 (2018).
    """
    X, ts, rank, init, max_iter, tol, cons = _check_opt_inputs(
        X, ts, rank, init, max_iter, tol, constraints
    )
    out, s, _, _ = _optdmd_jit(X, ts, rank, init, max_iter, tol, cons)
    if X.shape[1] >= rank:
        _check_numerical_rank(s, rank, X.shape, "X")
    return out


# --------------------------------------------------------------------------- BOP-DMD


def _match(alpha_bag, alpha_ref):
    """Greedy matching: repeatedly pair the closest remaining (reference, bag) eigenvalues; returns
    the bag's eigenvalues reordered to the reference order."""
    r = alpha_ref.shape[0]
    D = jnp.abs(alpha_ref[:, None] - alpha_bag[None, :])
    D = jnp.where(jnp.isfinite(D), D, jnp.finfo(D.dtype).max)
    big = jnp.asarray(jnp.inf, D.dtype)

    def body(_, carry):
        D, perm = carry
        idx = jnp.argmin(D)
        i, j = idx // r, idx % r
        perm = perm.at[i].set(j)
        D = D.at[i, :].set(big).at[:, j].set(big)
        return D, perm

    _, perm = jax.lax.fori_loop(0, r, body, (D, jnp.zeros(r, jnp.argmin(D).dtype)))
    return alpha_bag[perm]


@eqx.filter_jit
def _bags_jit(X, ts, Xp, alpha0, n_pairs, flags, max_iter, tol, bag_size, n_bags, key):
    m = ts.shape[0]
    tau = ts - ts[0]
    prox = _make_prox(flags, n_pairs)
    # A uniformly random subset per bag: the indices of the `bag_size` largest of m iid uniforms.
    idx = jnp.sort(jax.lax.top_k(jr.uniform(key, (n_bags, m), tau.dtype), bag_size)[1], axis=1)

    def one_bag(i):
        a, _, done = _lm(alpha0, tau[i], Xp[i], flags, n_pairs, max_iter, tol)
        return _match(a, alpha0), done

    bags, done = jax.vmap(one_bag)(idx)
    mean = prox(jnp.mean(bags, axis=0))
    std = jax.lax.complex(jnp.std(jnp.real(bags), axis=0), jnp.std(jnp.imag(bags), axis=0))
    b, modes, _ = _amplitudes_modes(mean, tau, X)
    dt = (ts[-1] - ts[0]) / (m - 1)
    order = _order(mean)
    mean, std, b, modes, bags = mean[order], std[order], b[order], modes[order], bags[:, order]
    return BOPDMDResult(jnp.exp(mean * dt), mean, std, modes, b, ts, dt, bags, done)


def bopdmd(
    X: Float[ArrayLike, "m n"],
    ts: Float[ArrayLike, " m"],
    rank: int,
    *,
    key: PRNGKeyArray,
    n_bags: int = 32,
    bag_size: Union[int, float] = 0.6,
    constraints: Union[None, str, Sequence[str]] = None,
    init: Optional[Complex[ArrayLike, " r"]] = None,
    max_iter: int = 100,
    tol: Optional[float] = None,
) -> BOPDMDResult:
    r"""Bagging, optimised DMD (Sashidhar & Kutz 2022): optimised DMD with eigenvalue uncertainty.

    1. Fit [`optdmd`][jaxrep.koopman.optdmd] to all snapshots: $\alpha^{(0)}$.
    2. For each of `n_bags` bags, draw `bag_size` snapshots at random without replacement (keeping
       their times, so the bag is unevenly sampled) and refit from $\alpha^{(0)}$; every bag runs the
       same jitted Levenberg–Marquardt loop, `vmap`ped.
    3. Match each bag's eigenvalues to $\alpha^{(0)}$ (greedy nearest pairs) and report their mean
       $\bar\mu_i$ and spread $\operatorname{std}(\operatorname{Re}\mu_i) +
       i\operatorname{std}(\operatorname{Im}\mu_i)$.

    Constraints (`"stable"`, `"imaginary"`, `"conjugate_pairs"`) are enforced in every fit as in
    [`optdmd`][jaxrep.koopman.optdmd] (held coordinates and a projection of every iterate) and the
    mean is projected too, so they hold exactly for the result and for every bag.

    **Arguments:**

    - `X`, `ts`, `rank`, `init`, `constraints`, `max_iter`, `tol`: as [`optdmd`][jaxrep.koopman.optdmd].
    - `key`: PRNG key for the bags (keyword-only).
    - `n_bags`: number of bags $\ge 2$.
    - `bag_size`: snapshots per bag, an int, or a fraction of $m$ in $(0, 1]$; each bag must still
      allow the rank.

    **Returns:** a [`BOPDMDResult`][jaxrep.koopman.BOPDMDResult].

    **References:** Sashidhar & Kutz, "Bagging, optimized dynamic mode decomposition for robust,
    stable forecasting with spatial and temporal uncertainty quantification", Phil. Trans. R. Soc. A
    380 (2022).
    """
    X, ts, rank, init, max_iter, tol, cons = _check_opt_inputs(
        X, ts, rank, init, max_iter, tol, constraints
    )
    m, n = X.shape
    if key is None:
        raise ValueError("key must be a PRNG key (jax.random.PRNGKey / jax.random.key), got None")
    n_bags = _check_int(n_bags, "n_bags", 2)
    if isinstance(bag_size, float):
        if not 0 < bag_size <= 1:
            raise ValueError(f"bag_size must be an int or a fraction in (0, 1], got {bag_size!r}")
        bag_size = max(1, round(bag_size * m))
    bag_size = _check_int(bag_size, "bag_size", 2)
    if bag_size > m:
        raise ValueError(f"bag_size must be at most the number of snapshots ({m}), got {bag_size}")
    if not _opt_rank_ok(rank, bag_size, n):
        raise ValueError(
            f"bag_size={bag_size} is too small for rank={rank} (each bag must allow the rank: "
            f"r (k + 1) <= bag_size k with k = min(n, r) = {min(n, rank)})"
        )
    full, s, Xp, n_pairs = _optdmd_jit(X, ts, rank, init, max_iter, tol, cons)
    if n >= rank:
        _check_numerical_rank(s, rank, X.shape, "X")
    alpha0 = full.continuous_eigenvalues
    return _bags_jit(X, ts, Xp, alpha0, n_pairs, cons, max_iter, tol, bag_size, n_bags, key)


# --------------------------------------------------------------------------- HAVOK


@eqx.filter_jit
def _havok_jit(X, q, rank, dt):
    H = _hankel(X, q)  # (m', q n)
    V, s, Uh = jnp.linalg.svd(H, full_matrices=False)  # H = V S U^T (rows: time)
    V, s, Uh = V[:, :rank], s[:rank], Uh[:rank]
    # Fourth-order central differences on the interior rows.
    dV = (-V[4:] + 8 * V[3:-1] - 8 * V[1:-3] + V[:-4]) / (12 * dt)
    Xi = _lstsq(V[2:-2], dV)  # dV ~ V Xi (rows), i.e. dv/dt = Xi^T v
    L = Xi.T
    A, B = L[:-1, :-1], L[:-1, -1]
    ts = dt * jnp.arange(H.shape[0], dtype=X.dtype)
    return HAVOKResult(A, B, V[:, -1], V, s, Uh, ts, jnp.asarray(dt, X.dtype))


def havok(
    x: Float[ArrayLike, " m"],
    delays: int,
    rank: int,
    dt: float = 1.0,
) -> HAVOKResult:
    r"""HAVOK, the Hankel alternative view of Koopman (Brunton, Brunton, Proctor, Kaiser & Kutz 2017).

    Builds the Hankel matrix $H$ of `delays` $= q$ delays of the signal, takes its rank-$r$ SVD
    $H \approx V\Sigma U^\top$ (the columns of $V$ are the delay coordinates $v_j(t)$), estimates
    $\dot v$ by fourth-order central differences, and regresses $\dot v \approx \Xi^\top v$ by least
    squares. The first $r - 1$ rows give the forced linear model
    $$\dot v_{1:r-1} = A v_{1:r-1} + B v_r,$$
    in which the last coordinate $v_r$ acts as an intermittent forcing (its bursts precede lobe
    switches of the Lorenz attractor).

    **Arguments:**

    - `x`: a uniformly sampled signal `(m,)` (or `(m, n)`).
    - `delays`: $q \ge 2$, with $m - q + 1 \ge 5$ Hankel rows.
    - `rank`: $r \ge 2$, at most $\min(m - q - 3, qn)$ (the interior rows of the derivative
      stencil), and at most the numerical rank of the Hankel matrix.
    - `dt`: sampling step.

    **Returns:** a [`HAVOKResult`][jaxrep.koopman.HAVOKResult] (`A`, `B`, `forcing`, `simulate`,
    `reconstruct`).

    **References:** Brunton, Brunton, Proctor, Kaiser & Kutz, "Chaos as an intermittently forced
    linear system", Nat. Commun. 8, 19 (2017).
    """
    dt = _check_dt(dt)
    X = _check_signal(x, "x")
    m, n = X.shape
    delays = _check_int(delays, "delays", 2)
    if m - delays + 1 < 5:
        raise ValueError(
            f"delays={delays} leaves {m - delays + 1} Hankel rows from {m} snapshots; need at least 5"
        )
    rows = m - delays + 1
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 2:
        raise ValueError(f"rank must be an integer >= 2 (coordinates plus forcing), got {rank!r}")
    rank = _check_rank_int(rank, min(rows - 4, delays * n), f"min(m - delays - 3, delays * n) = "
                           f"min({rows - 4}, {delays * n})")
    out = _havok_jit(X, delays, rank, jnp.asarray(dt, X.dtype))
    _check_numerical_rank(out.singular_values, rank, (rows, delays * n), "the Hankel matrix of x")
    return out
