r"""Exact rollout of a linear latent flow $\dot z = Az$ by matrix exponentials.

Two paths, both differentiable in `A` and `z0`:

- arbitrary (non-uniform, traced) times: one scaling-and-squaring `expm(t_k A)` per time, vmapped;
- uniform times $t_k = t_0 + k\,\Delta t$: a single `expm(Δt A)` and its powers. The powers
  $M^k$, $k = qb + r$, are assembled as $M^r (M^b)^q$ from two log-depth `lax.associative_scan`
  prefix products of length $b \approx \sqrt{n}$, so the work is
  $O(\sqrt n\, d^3 + n d^2)$, the depth $O(\log n)$, and the rounding error grows like
  $\log n$ rather than $n$ (a sequential `lax.scan` of mat-vecs grows like $n$ and serialises
  $n$ tiny kernels on an accelerator).

`propagate` picks the uniform path automatically when `ts` is a concrete (non-traced) array with
equal steps, e.g. a time grid closed over by a jitted loss.
"""

import math

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, ArrayLike, Float

_HIGHEST = jax.lax.Precision.HIGHEST


def _mm(a, b):
    return jnp.matmul(a, b, precision=_HIGHEST)


def _check(A, z0, name_fn: str):
    A = jnp.asarray(A)
    z0 = jnp.asarray(z0)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name_fn}: A must be a square matrix (dim, dim), got shape {A.shape}")
    if z0.shape != (A.shape[0],):
        hint = " (for batches of initial states use jax.vmap over z0)" if z0.ndim > 1 else ""
        raise ValueError(
            f"{name_fn}: z0 must have shape ({A.shape[0]},) to match A {A.shape}, got "
            f"{z0.shape}{hint}"
        )
    dtype = jnp.result_type(A.dtype, z0.dtype, jnp.float32)
    return A.astype(dtype), z0.astype(dtype)


def _concrete_uniform(ts) -> tuple[float, float] | None:
    """`(t0, dt)` if `ts` is concrete and equally spaced to rounding, else `None`."""
    if isinstance(ts, jax.core.Tracer):
        return None
    try:
        t = np.asarray(ts, dtype=np.float64)
    except Exception:  # noqa: BLE001 - anything not convertible is treated as traced
        return None
    if t.ndim != 1 or t.shape[0] < 3 or not np.all(np.isfinite(t)):
        return None
    n = t.shape[0]
    dt = (t[-1] - t[0]) / (n - 1)
    if dt == 0.0:
        return None
    eps = np.finfo(np.asarray(ts).dtype if np.asarray(ts).dtype.kind == "f" else np.float64).eps
    dev = np.max(np.abs(t - (t[0] + dt * np.arange(n))))
    if dev > 8 * eps * max(np.max(np.abs(t)), abs(dt)):
        return None
    return float(t[0]), float(dt)


def _prefix_powers(m: Float[Array, "d d"], n: int) -> Float[Array, "n d d"]:
    """$[I, M, M^2, \\dots, M^{n-1}]$ by a log-depth associative scan."""
    if n == 1:
        return jnp.eye(m.shape[0], dtype=m.dtype)[None]
    stack = jnp.broadcast_to(m, (n - 1,) + m.shape)
    # Powers of one matrix commute, so the operand order inside the scan does not matter.
    powers = jax.lax.associative_scan(_mm, stack)
    return jnp.concatenate([jnp.eye(m.shape[0], dtype=m.dtype)[None], powers], axis=0)


def _uniform(A, z0, t0, dt, n_steps: int, max_squarings: int):
    dtype = A.dtype
    m = jsl.expm(jnp.asarray(dt, dtype) * A, max_squarings=max_squarings)
    z_start = z0
    if not (isinstance(t0, (int, float)) and t0 == 0.0):
        z_start = _mm(jsl.expm(jnp.asarray(t0, dtype) * A, max_squarings=max_squarings), z0)
    b = max(1, math.isqrt(n_steps - 1) + 1) if n_steps > 1 else 1  # b >= sqrt(n)
    q = -(-n_steps // b)  # ceil(n / b)
    small = _prefix_powers(m, b + 1)  # M^0 .. M^b
    big = _prefix_powers(small[-1], q)  # (M^b)^0 .. (M^b)^(q-1)
    w = _mm(big, z_start)  # (q, d): z at t0 + j b dt
    z = jnp.einsum("rde,qe->qrd", small[:b], w, precision=_HIGHEST)  # (q, b, d)
    return z.reshape(q * b, -1)[:n_steps]


# Truncated Taylor series for `expm_stack`: (degree K, Paterson-Stockmeyer block s, scaled-norm bound).
# With ||Y||_1 <= 1 the relative truncation error of T_K(Y) is below
# sum_{k>K} 1/k! * e^{||Y||} < 2.2/(K+1)! * e: 1e-9 for K = 12 (float32 eps 6e-8) and 2e-19 for
# K = 20 (float64 eps 1.1e-16).
_TAYLOR = {False: (12, 4), True: (20, 5)}


def _taylor(y: Float[Array, "m d d"], degree: int, block: int) -> Float[Array, "m d d"]:
    """$\\sum_{k\\le K} Y^k/k!$ by Paterson-Stockmeyer: $s-1$ products for $Y^2..Y^s$, then Horner in
    $Y^s$ (about $K/s$ more), so 5 products for $K=12$ and 7 for $K=20$, and no linear solve."""
    eye = jnp.broadcast_to(jnp.eye(y.shape[-1], dtype=y.dtype), y.shape)
    powers = [eye, y]
    for _ in range(block - 1):
        powers.append(_mm(powers[-1], y))
    coef = [1.0 / math.factorial(k) for k in range(degree + 1)]
    n_chunks = -(-(degree + 1) // block)  # chunk i holds the coefficients of Y^{is} .. Y^{is+s-1}

    def chunk(i, last):
        hi = degree + 1 if last else (i + 1) * block
        return sum(coef[k] * powers[k - i * block] for k in range(i * block, hi))

    # the last chunk may use Y^s itself (its degree can reach s)
    last_start = (n_chunks - 1) * block
    if degree - last_start >= block:
        n_chunks -= 1
    out = chunk(n_chunks - 1, True)
    for i in range(n_chunks - 2, -1, -1):
        out = chunk(i, False) + _mm(powers[block], out)
    return out


def expm_stack(
    A: Float[ArrayLike, "dim dim"], ts: Float[ArrayLike, " n_t"], *, max_squarings: int = 20
) -> Float[Array, "n_t dim dim"]:
    r"""The transition matrices $e^{t_k A}$ for every $t_k$ in `ts`, shape `(n_t, dim, dim)`.

    For losses that apply the same few exponentials to many states (the PIKE/SPIKE matrix-exponential
    loss): compute them once with this and contract with `einsum`, instead of calling `propagate` per
    state, whose reverse pass would otherwise be batched over the states.

    Scaling and squaring with a truncated Taylor series (matrix products only, no linear solve, so it
    is cheap to differentiate and batches over `ts` without branching): $e^{X} =
    (T_K(X/2^{n}))^{2^{n}}$ with $n = \max(0, \lceil\log_2\|X\|_1\rceil)$ per time, $K = 12$ in float32
    and $K = 20$ in float64 (truncation error below the unit roundoff). The squarings run only as
    many times as the largest $n$ needs. Agrees with `jax.scipy.linalg.expm` to rounding (tested in
    float32 and float64 over $\|tA\|_1$ from $10^{-3}$ to $10^3$); NaN where $n >$ `max_squarings`.

    **Arguments:** `A (dim, dim)`, `ts (n_t,)` (may be traced), `max_squarings`.

    **Returns:** `(n_t, dim, dim)`.

    **References:** Paterson & Stockmeyer, SIAM J. Comput. 2 (1973); Higham, "Functions of
    Matrices" (SIAM 2008), ch. 10.
    """
    A = jnp.asarray(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"expm_stack: A must be a square matrix (dim, dim), got shape {A.shape}")
    if jnp.ndim(ts) != 1:
        raise ValueError(f"expm_stack: ts must have shape (n_t,), got {jnp.shape(ts)}")
    A = A.astype(jnp.result_type(A.dtype, jnp.float32))
    return _expm_batch(jnp.asarray(ts, A.dtype)[:, None, None] * A, max_squarings)


def _expm_batch(x: Float[Array, "n k k"], max_squarings: int = 20) -> Float[Array, "n k k"]:
    r"""$e^{X_i}$ for a stack of matrices by the scaling and squaring of `expm_stack`."""
    degree, block = _TAYLOR[jnp.finfo(x.dtype).bits == 64]
    norm = jax.lax.stop_gradient(jnp.max(jnp.sum(jnp.abs(x), axis=-2), axis=-1))
    n_sq = jnp.maximum(0.0, jnp.ceil(jnp.log2(norm)))  # 0 for a zero matrix (log2 0 = -inf)
    r = _taylor(x / (2.0**n_sq).astype(x.real.dtype)[:, None, None], degree, block)
    n_max = jnp.max(n_sq)

    def square(r, k):
        # one cond on the largest count: the loop stops costing anything once every time is done
        sq = lambda r: jnp.where((k < n_sq)[:, None, None], _mm(r, r), r)
        return jax.lax.cond(k < n_max, sq, lambda r: r, r), None

    r, _ = jax.lax.scan(square, r, jnp.arange(max_squarings, dtype=n_sq.dtype))
    return jnp.where((n_sq > max_squarings)[:, None, None], jnp.nan, r)


def propagate_uniform(
    A: Float[ArrayLike, "dim dim"],
    z0: Float[ArrayLike, " dim"],
    dt: float | Float[ArrayLike, ""],
    n_steps: int,
    *,
    t0: float | Float[ArrayLike, ""] = 0.0,
    max_squarings: int = 20,
) -> Float[Array, "n_steps dim"]:
    r"""Rollout on a uniform grid: $z_k = e^{(t_0 + k\Delta t)A} z_0$, $k = 0, \dots, n-1$.

    Computes $M = e^{\Delta t A}$ once and its powers by log-depth prefix products (see the module
    docstring). Equals `propagate(A, z0, t0 + dt * jnp.arange(n_steps))`.

    **Arguments:**

    - `A`: generator, shape `(dim, dim)`.
    - `z0`: **one** initial state, shape `(dim,)`; vmap over it for batches.
    - `dt`: step (may be traced, negative allowed); `n_steps`: number of output times (static int).
    - `t0`: first output time (default `0.0`, so `z_0 = z0` exactly).
    - `max_squarings`: cap of the scaling and squaring in `jax.scipy.linalg.expm`; the rollout is
      valid for $\|\Delta t A\|_1 \lesssim 5.4\cdot 2^{\text{max\_squarings}}$ (NaN beyond).

    **Returns:** `(n_steps, dim)`.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"propagate_uniform: n_steps must be a Python int >= 1, got {n_steps!r}")
    A, z0 = _check(A, z0, "propagate_uniform")
    if jnp.ndim(dt) != 0 or jnp.ndim(t0) != 0:
        raise ValueError(
            f"propagate_uniform: dt and t0 must be scalars, got shapes {jnp.shape(dt)} and "
            f"{jnp.shape(t0)}"
        )
    return _uniform(A, z0, t0, dt, n_steps, max_squarings)


def propagate(
    A: Float[ArrayLike, "dim dim"],
    z0: Float[ArrayLike, " dim"],
    ts: Float[ArrayLike, " n_t"],
    *,
    max_squarings: int = 20,
) -> Float[Array, "n_t dim"]:
    r"""Solve $\dot z = Az$, $z(0) = z_0$ exactly: $z(t_k) = e^{t_k A} z_0$ for every $t_k$ in `ts`.

    Pure, jittable and differentiable in `A`, `z0` and `ts`. Accurate to rounding for stiff
    ($\|A\|\sim 10^4$) and defective (non-diagonalisable) generators alike, because it never
    diagonalises $A$: each exponential is a Padé approximant with scaling and squaring
    (`jax.scipy.linalg.expm`, Higham 2005).

    `ts` may be non-uniform, unsorted or negative. When `ts` is a concrete array with equal steps
    the fast path [`propagate_uniform`][jaxrep.koopman.propagate_uniform] is used (one `expm`
    instead of `n_t`).

    **Arguments:**

    - `A`: generator, shape `(dim, dim)`.
    - `z0`: **one** initial state, shape `(dim,)`; for a batch use `jax.vmap(propagate,
      in_axes=(None, 0, None))`.
    - `ts`: times, shape `(n_t,)`.
    - `max_squarings`: see `propagate_uniform`.

    **Returns:** `(n_t, dim)`, row $k$ is $z(t_k)$.

    **References:** Higham, "The scaling and squaring method for the matrix exponential revisited",
    SIAM J. Matrix Anal. Appl. 26 (2005).
    """
    A, z0 = _check(A, z0, "propagate")
    if jnp.ndim(ts) != 1:
        raise ValueError(f"propagate: ts must have shape (n_t,), got {jnp.shape(ts)}")
    uniform = _concrete_uniform(ts)
    if uniform is not None:
        t0, dt = uniform
        return _uniform(A, z0, t0, dt, int(jnp.shape(ts)[0]), max_squarings)
    ts = jnp.asarray(ts, dtype=A.dtype)

    def one(t):
        return _mm(jsl.expm(t * A, max_squarings=max_squarings), z0)

    return jax.vmap(one)(ts)
