r"""Reference solutions stored on a grid: interpolation in $(x, t)$ and an on-disk cache.

A [`GridReference`][] holds the values $u(t_n, x_j)$ of a solution on a time grid times a periodic
spatial grid, together with the time derivatives $\partial_t u(t_n, x_j)$ (which the solvers know
exactly from the equation). Between the grid points it evaluates

- **in space** the trigonometric interpolant (spectrally accurate for a smooth periodic field);
- **in time** the cubic Hermite interpolant through the values and time derivatives of the two
  neighbouring snapshots (fourth-order accurate, error $\le h^4 \max|u_{tttt}|/384$).

[`ODEReference`][] is the same Hermite interpolation without a spatial grid (ODE trajectories).

References are cached on disk by `cached_arrays` (atomic `.npz` files under
`$JAXREP_CACHE_DIR`, default `~/.cache/jaxrep`), so each one is computed once per machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
import zipfile
from typing import Callable, Mapping, Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float

# Bump when an algorithm or a default resolution changes, so old cache files are not reused.
CACHE_VERSION = 3
_HIGHEST = jax.lax.Precision.HIGHEST


# ----------------------------------------------------------------------------------------------
# Cubic Hermite interpolation in time
# ----------------------------------------------------------------------------------------------


def _check_time_grid(ts: np.ndarray, name: str = "ts") -> None:
    if ts.ndim != 1 or ts.shape[0] < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 times, got shape {ts.shape}")
    if not np.all(np.isfinite(ts)) or not np.all(np.diff(ts) > 0):
        raise ValueError(f"{name} must be finite and strictly increasing")


def hermite_weights(
    ts: Float[Array, " n_t"], t: Float[ArrayLike, ""]
) -> tuple[Array, Array, Array, Array, Array, Array]:
    r"""Cubic Hermite weights for evaluating at time `t` from a grid `ts`.

    With $t \in [t_i, t_{i+1}]$, $h = t_{i+1} - t_i$ and $s = (t - t_i)/h$,
    $$u(t) \approx h_{00}(s)\,u_i + h\,h_{10}(s)\,\dot u_i + h_{01}(s)\,u_{i+1} + h\,h_{11}(s)\,\dot u_{i+1},$$
    $h_{00} = (1+2s)(1-s)^2$, $h_{10} = s(1-s)^2$, $h_{01} = s^2(3-2s)$, $h_{11} = s^2(s-1)$.

    **Returns:** `(i, w0, dw0, w1, dw1, inside)`: the left index, the four weights (the derivative
    weights already multiplied by $h$) and whether `t` lies in `[ts[0], ts[-1]]` (up to a relative
    $10^{-6}$ of the window).
    """
    n_t = ts.shape[0]
    t = jnp.asarray(t, ts.dtype)
    i = jnp.clip(jnp.searchsorted(ts, t, side="right") - 1, 0, n_t - 2)
    h = ts[i + 1] - ts[i]
    s = (t - ts[i]) / h
    w0 = (1 + 2 * s) * (1 - s) ** 2
    dw0 = h * s * (1 - s) ** 2
    w1 = s**2 * (3 - 2 * s)
    dw1 = h * s**2 * (s - 1)
    tol = 1e-6 * (ts[-1] - ts[0])
    inside = (t >= ts[0] - tol) & (t <= ts[-1] + tol)
    return i, w0, dw0, w1, dw1, inside


class ODEReference(eqx.Module):
    r"""A trajectory $y(t)\in\mathbb R^n$ stored at times $t_0<\dots<t_{N}$ with its derivatives.

    `ref(t)` evaluates the Hermite interpolant through $(t_i, y_i, \dot y_i)$: cubic (error
    $\le h^4\max|y^{(4)}|/384$), or quintic through $(t_i, y_i, \dot y_i, \ddot y_i)$ when the second
    derivatives are given (error $O(h^6)$). Outside $[t_0, t_N]$ it returns NaN so that a misuse is
    visible. One time per call (a scalar); batch with `jax.vmap`.

    **Arguments:**

    - `ts`: `(n_t,)` strictly increasing times.
    - `ys`: `(n_t, n)` states.
    - `dys`: `(n_t, n)` time derivatives $\dot y = f(t, y)$ at the same times.
    - `ddys`: optional `(n_t, n)` second derivatives $\ddot y$.
    """

    ts: Float[Array, " n_t"]
    ys: Float[Array, "n_t n"]
    dys: Float[Array, "n_t n"]
    ddys: Optional[Float[Array, "n_t n"]]

    def __init__(self, ts: ArrayLike, ys: ArrayLike, dys: ArrayLike,
                 ddys: Optional[ArrayLike] = None):
        ts_np, ys_np, dys_np = np.asarray(ts), np.asarray(ys), np.asarray(dys)
        _check_time_grid(ts_np)
        if ys_np.ndim != 2 or ys_np.shape[0] != ts_np.shape[0]:
            raise ValueError(f"ys must have shape (n_t={ts_np.shape[0]}, n), got {ys_np.shape}")
        if dys_np.shape != ys_np.shape:
            raise ValueError(f"dys must have the shape of ys {ys_np.shape}, got {dys_np.shape}")
        if ddys is not None and np.shape(ddys) != ys_np.shape:
            raise ValueError(f"ddys must have the shape of ys {ys_np.shape}, got {np.shape(ddys)}")
        self.ts = jnp.asarray(ts_np)
        self.ys = jnp.asarray(ys_np)
        self.dys = jnp.asarray(dys_np)
        self.ddys = None if ddys is None else jnp.asarray(np.asarray(ddys))

    def __call__(self, t: Float[ArrayLike, ""]) -> Float[Array, " n"]:
        if jnp.shape(t) != ():
            raise ValueError(f"ODEReference expects a scalar t, got shape {jnp.shape(t)} "
                             "(for batches use jax.vmap)")
        if self.ddys is None:
            i, w0, dw0, w1, dw1, inside = hermite_weights(self.ts, t)
            y = w0 * self.ys[i] + dw0 * self.dys[i] + w1 * self.ys[i + 1] + dw1 * self.dys[i + 1]
        else:
            i, w, inside = _quintic_hermite_weights(self.ts, t)
            y = (w[0] * self.ys[i] + w[1] * self.dys[i] + w[2] * self.ddys[i]
                 + w[3] * self.ys[i + 1] + w[4] * self.dys[i + 1] + w[5] * self.ddys[i + 1])
        return jnp.where(inside, y, jnp.nan)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """`(ts, ys)` as numpy arrays, shapes `(n_t,)` and `(n_t, n)` (for plotting)."""
        return np.asarray(self.ts), np.asarray(self.ys)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays that define this reference (for the disk cache)."""
        out = {"ts": np.asarray(self.ts), "ys": np.asarray(self.ys), "dys": np.asarray(self.dys)}
        if self.ddys is not None:
            out["ddys"] = np.asarray(self.ddys)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "ODEReference":
        """Inverse of [`ODEReference.to_arrays`][]."""
        return cls(arrays["ts"], arrays["ys"], arrays["dys"], arrays.get("ddys"))


def _quintic_hermite_weights(ts: Array, t: Float[ArrayLike, ""]):
    r"""Quintic Hermite weights: $y(t) \approx \sum$ of $y_i, \dot y_i, \ddot y_i, y_{i+1}, \dots$ terms.

    With $s = (t - t_i)/h$ the basis is $1 - 10s^3 + 15s^4 - 6s^5$, $h(s - 6s^3 + 8s^4 - 3s^5)$,
    $h^2(s^2 - 3s^3 + 3s^4 - s^5)/2$ on the left node and $10s^3 - 15s^4 + 6s^5$,
    $h(-4s^3 + 7s^4 - 3s^5)$, $h^2(s^3 - 2s^4 + s^5)/2$ on the right one.
    """
    i, *_, inside = hermite_weights(ts, t)
    h = ts[i + 1] - ts[i]
    s = (jnp.asarray(t, ts.dtype) - ts[i]) / h
    s2, s3, s4, s5 = s**2, s**3, s**4, s**5
    w = (1 - 10 * s3 + 15 * s4 - 6 * s5,
         h * (s - 6 * s3 + 8 * s4 - 3 * s5),
         h**2 * (s2 - 3 * s3 + 3 * s4 - s5) / 2,
         10 * s3 - 15 * s4 + 6 * s5,
         h * (-4 * s3 + 7 * s4 - 3 * s5),
         h**2 * (s3 - 2 * s4 + s5) / 2)
    return i, w, inside


# ----------------------------------------------------------------------------------------------
# Periodic grid reference
# ----------------------------------------------------------------------------------------------


class GridReference(eqx.Module):
    r"""A solution $u:\ \Omega\times[t_0,t_1]\to\mathbb R^{n_{out}}$ on a periodic box, stored on a grid.

    $\Omega = \prod_j [a_j, b_j)$ is periodic with periods $P_j = b_j - a_j$, sampled at
    $x_{j,m} = a_j + m P_j / N_j$. Evaluation at an arbitrary point is

    $$u(x, t) = \operatorname{Re}\sum_{\mathbf m} \hat c_{\mathbf m}(t)\,
      \exp\Big(i \sum_j m_j \tfrac{2\pi (x_j - a_j)}{P_j}\Big),$$

    the trigonometric interpolant of the grid values, with the Fourier coefficients
    $\hat c_{\mathbf m}(t)$ given by cubic Hermite interpolation in time of the coefficients of
    $u(t_n)$ and $\partial_t u(t_n)$. It is exact on the grid, spectrally accurate in $x$ and
    fourth-order accurate in $t$. Points outside $[t_0, t_1]$ give NaN; $x$ wraps periodically.

    Acts on **one point**: `ref(x, t)` with `x` of shape `(d,)` and scalar `t` returns `(n_out,)`;
    batch with `jax.vmap`. Build it outside `jit` (the constructor takes FFTs); it is then an
    ordinary pytree and can be closed over or passed into jitted functions.

    **Arguments:**

    - `ts`: `(n_t,)` strictly increasing snapshot times.
    - `lower`, `upper`: `(d,)` box corners ($a_j$, $b_j$); the point $b_j$ is not stored.
    - `values`: `(n_t, N_1, ..., N_d, n_out)` real values on the grid.
    - `derivatives`: same shape, $\partial_t u$ at the grid points; if `None`, they are estimated
      by second-order finite differences in time (less accurate: pass them when known).
    """

    ts: Float[Array, " n_t"]
    lower: Float[Array, " d"]
    upper: Float[Array, " d"]
    values: Float[Array, "n_t *n_x n_out"]
    coefficients: Complex[Array, "n_t n_out *n_hat"]
    dcoefficients: Complex[Array, "n_t n_out *n_hat"]
    derivatives: Float[Array, "n_t *n_x n_out"]

    def __init__(
        self,
        ts: ArrayLike,
        lower: Sequence[float] | ArrayLike,
        upper: Sequence[float] | ArrayLike,
        values: ArrayLike,
        derivatives: Optional[ArrayLike] = None,
    ):
        ts_np = np.asarray(ts, dtype=np.float64)
        _check_time_grid(ts_np)
        lower_np = np.atleast_1d(np.asarray(lower, dtype=np.float64))
        upper_np = np.atleast_1d(np.asarray(upper, dtype=np.float64))
        if lower_np.ndim != 1 or lower_np.shape != upper_np.shape:
            raise ValueError(f"lower and upper must be 1-D of equal length, got shapes "
                             f"{lower_np.shape} and {upper_np.shape}")
        if not np.all(upper_np > lower_np):
            raise ValueError(f"upper must exceed lower componentwise, got lower={lower_np}, "
                             f"upper={upper_np}")
        d = lower_np.shape[0]
        values_np = np.asarray(values, dtype=np.float64)
        if values_np.ndim != d + 2 or values_np.shape[0] != ts_np.shape[0]:
            raise ValueError(f"values must have shape (n_t={ts_np.shape[0]}, N_1..N_{d}, n_out), "
                             f"got {values_np.shape}")
        if derivatives is None:
            derivatives_np = np.gradient(values_np, ts_np, axis=0, edge_order=2)
        else:
            derivatives_np = np.asarray(derivatives, dtype=np.float64)
            if derivatives_np.shape != values_np.shape:
                raise ValueError(f"derivatives must have the shape of values {values_np.shape}, "
                                 f"got {derivatives_np.shape}")
        spatial = tuple(range(1, d + 1))
        n_points = np.prod(values_np.shape[1 : d + 1])

        def coeffs(v):
            # (n_t, *n_x, n_out) -> (n_t, n_out, *n_hat); real FFT on the last spatial axis.
            c = np.fft.rfftn(v, axes=spatial) / n_points
            return np.moveaxis(c, -1, 1)

        # Computed in float64 numpy, then stored in JAX's default precision.
        self.ts = jnp.asarray(ts_np)
        self.lower = jnp.asarray(lower_np)
        self.upper = jnp.asarray(upper_np)
        self.values = jnp.asarray(values_np)
        self.derivatives = jnp.asarray(derivatives_np)
        self.coefficients = jnp.asarray(coeffs(values_np))
        self.dcoefficients = jnp.asarray(coeffs(derivatives_np))

    @property
    def dim(self) -> int:
        """Spatial dimension $d$."""
        return self.lower.shape[0]

    @property
    def n_out(self) -> int:
        """Number of output channels."""
        return self.values.shape[-1]

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial grid shape $(N_1, \\dots, N_d)$."""
        return tuple(self.values.shape[1:-1])

    def __call__(self, x: Float[ArrayLike, " d"], t: Float[ArrayLike, ""]) -> Float[Array, " n_out"]:
        x = jnp.asarray(x)
        if x.shape != (self.dim,):
            hint = " (for batches use jax.vmap)" if x.ndim > 1 else ""
            raise ValueError(f"GridReference expects x of shape ({self.dim},), got {x.shape}{hint}")
        if jnp.shape(t) != ():
            raise ValueError(f"GridReference expects a scalar t, got shape {jnp.shape(t)} "
                             "(for batches use jax.vmap)")
        i, w0, dw0, w1, dw1, inside = hermite_weights(self.ts, t)
        c = (w0 * self.coefficients[i] + dw0 * self.dcoefficients[i]
             + w1 * self.coefficients[i + 1] + dw1 * self.dcoefficients[i + 1])
        theta = 2 * jnp.pi * (x.astype(self.lower.dtype) - self.lower) / (self.upper - self.lower)
        shape = self.shape
        # Contract the last (real-FFT) axis first: modes 0..N/2 with weight 2 for the ones whose
        # conjugate partner is not stored.
        n_last = shape[-1]
        m = jnp.arange(n_last // 2 + 1)
        weight = jnp.where((m == 0) | ((n_last % 2 == 0) & (m == n_last // 2)), 1.0, 2.0)
        # References are the yardstick: full precision even where the backend's default is lower
        # (TF32 for float32 products on NVIDIA GPUs, ~1e-3 relative).
        c = jnp.matmul(c, weight * jnp.exp(1j * m * theta[-1]), precision=_HIGHEST)
        for j in range(self.dim - 2, -1, -1):
            mj = jnp.fft.fftfreq(shape[j], 1.0 / shape[j])
            c = jnp.matmul(c, jnp.exp(1j * mj * theta[j]), precision=_HIGHEST)
        u = jnp.real(c)
        return jnp.where(inside, u, jnp.nan)

    def _phases(self, xs: Array) -> list[Array]:
        """Per-dimension Fourier phase matrices `(n_points, n_modes_j)` for points `xs` `(n, d)`."""
        theta = 2 * jnp.pi * (xs.astype(self.lower.dtype) - self.lower) / (self.upper - self.lower)
        shape = self.shape
        phases = []
        for j in range(self.dim - 1):
            mj = jnp.fft.fftfreq(shape[j], 1.0 / shape[j])
            phases.append(jnp.exp(1j * mj[None, :] * theta[:, j : j + 1]))
        n_last = shape[-1]
        m = jnp.arange(n_last // 2 + 1)
        weight = jnp.where((m == 0) | ((n_last % 2 == 0) & (m == n_last // 2)), 1.0, 2.0)
        phases.append(weight * jnp.exp(1j * m[None, :] * theta[:, -1:]))
        return phases

    def on_grid(
        self, xs: Float[ArrayLike, "n_x d"], ts: Float[ArrayLike, " n_t"]
    ) -> Float[Array, "n_t n_x n_out"]:
        """Evaluate on the tensor product `ts x xs` (the usual evaluation grid), fast and lean.

        Equal to `jax.vmap(jax.vmap(ref, (0, None)), (None, 0))(xs, ts)`, but the time
        interpolation is done once per time and the spatial sum is a matrix product with the
        points' Fourier phases, one time at a time (`jax.lax.map`), so memory stays at
        `O(n_x * modes)`. Jit-able.

        **Arguments:** `xs` `(n_x, d)` points, `ts` `(n_t,)` times.

        **Returns:** `(n_t, n_x, n_out)`; NaN at times outside the stored window.
        """
        xs, ts = jnp.asarray(xs), jnp.asarray(ts)
        if xs.ndim != 2 or xs.shape[1] != self.dim or ts.ndim != 1:
            raise ValueError(f"on_grid expects xs of shape (n_x, {self.dim}) and ts of shape "
                             f"(n_t,), got {xs.shape} and {ts.shape}")
        phases = self._phases(xs)

        def at_time(t):
            i, w0, dw0, w1, dw1, inside = hermite_weights(self.ts, t)
            c = (w0 * self.coefficients[i] + dw0 * self.dcoefficients[i]
                 + w1 * self.coefficients[i + 1] + dw1 * self.dcoefficients[i + 1])
            out = jnp.einsum("...m,pm->...p", c, phases[-1], precision=_HIGHEST)  # (n_out, M_1.., n_x)
            for p in reversed(phases[:-1]):
                out = jnp.einsum("...mp,pm->...p", out, p, precision=_HIGHEST)
            return jnp.where(inside, jnp.real(out).T, jnp.nan)

        return jax.lax.map(at_time, ts)

    def evaluate(
        self,
        xs: Float[ArrayLike, "n d"],
        ts: Float[ArrayLike, " n"],
        *,
        batch_size: int = 512,
    ) -> Float[Array, "n n_out"]:
        """Evaluate at many points with bounded memory: `jax.lax.map` over chunks of `vmap`.

        `jax.vmap(ref)(xs, ts)` gives the same numbers but holds `(n, n_out, *modes)` intermediates
        at once (hundreds of MB for tens of thousands of points on a 2048-point or 64x64 grid);
        here only `batch_size` points are in flight. Jit-able.

        **Arguments:** `xs` `(n, d)`, `ts` `(n,)`, `batch_size` points per chunk.

        **Returns:** `(n, n_out)`.
        """
        xs, ts = jnp.asarray(xs), jnp.asarray(ts)
        if xs.ndim != 2 or xs.shape[1] != self.dim or ts.shape != xs.shape[:1]:
            raise ValueError(f"evaluate expects xs of shape (n, {self.dim}) and ts of shape (n,), "
                             f"got {xs.shape} and {ts.shape}")
        return jax.lax.map(lambda xt: self(xt[0], xt[1]), (xs, ts), batch_size=batch_size)

    def grid(self) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray]:
        """`(ts, xs, values)` as numpy arrays for plotting.

        `ts` is `(n_t,)`, `xs` a tuple of `d` 1-D coordinate arrays `(N_j,)` and `values` has shape
        `(n_t, N_1, ..., N_d, n_out)`.
        """
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        xs = tuple(lower[j] + (upper[j] - lower[j]) * np.arange(n) / n
                   for j, n in enumerate(self.shape))
        return np.asarray(self.ts), xs, np.asarray(self.values)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays that define this reference (for the disk cache)."""
        return {"ts": np.asarray(self.ts), "lower": np.asarray(self.lower),
                "upper": np.asarray(self.upper), "values": np.asarray(self.values),
                "derivatives": np.asarray(self.derivatives)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "GridReference":
        """Inverse of [`GridReference.to_arrays`][]."""
        return cls(arrays["ts"], arrays["lower"], arrays["upper"], arrays["values"],
                   arrays["derivatives"])


# ----------------------------------------------------------------------------------------------
# Disk cache
# ----------------------------------------------------------------------------------------------


def cache_dir() -> pathlib.Path:
    """The cache folder: `$JAXREP_CACHE_DIR` if set, else `~/.cache/jaxrep`."""
    env = os.environ.get("JAXREP_CACHE_DIR")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "jaxrep"


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, jax.Array)):
        arr = np.asarray(value)
        return {"dtype": str(arr.dtype), "shape": list(arr.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()}
    if isinstance(value, (np.floating, float)):
        return repr(float(value))  # repr keeps every bit of a float64
    if isinstance(value, (np.integer, int, bool, str)) or value is None:
        return value if not isinstance(value, np.integer) else int(value)
    raise TypeError(f"cache parameters must be numbers, strings, arrays or nested lists/dicts of "
                    f"them, got {type(value).__name__}")


def cache_key(name: str, params: Mapping) -> str:
    """A stable hash of `name`, every parameter and the cache version."""
    payload = json.dumps({"name": name, "params": _jsonable(params), "version": CACHE_VERSION},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def cached_arrays(
    name: str,
    params: Mapping,
    compute: Callable[[], Mapping[str, np.ndarray]],
    *,
    cache: bool = True,
) -> dict[str, np.ndarray]:
    """Return `compute()` (a dict of arrays), stored in / loaded from the disk cache.

    The file is `cache_dir()/<name>-<hash>.npz`, where the hash covers `name`, all `params`
    (physical parameters *and* resolution) and [`CACHE_VERSION`][]. Writes are atomic (temporary
    file in the same folder, then `os.replace`), so concurrent processes never see a partial file;
    an unreadable or corrupt file is recomputed and overwritten. An unwritable cache folder only
    costs the recomputation next time.

    **Arguments:**

    - `name`: a short label (also the file-name prefix).
    - `params`: everything the result depends on (numbers, strings, arrays, nested lists/dicts).
    - `compute`: zero-argument function returning a dict `str -> array`.
    - `cache`: `False` skips the disk entirely.

    **Returns:** the dict of numpy arrays.
    """
    if not cache:
        return {k: np.asarray(v) for k, v in compute().items()}
    path = cache_dir() / f"{name}-{cache_key(name, params)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                out = {k: np.array(f[k]) for k in f.files}
            if out and all(np.all(np.isfinite(v)) for v in out.values() if v.dtype.kind in "fc"):
                return out
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            pass  # corrupt or truncated: recompute below
    out = {k: np.asarray(v) for k, v in compute().items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **out)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; a shared cache should be readable
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except OSError:
        pass
    return out
