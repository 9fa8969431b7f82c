r"""Scores of a solution: relative $L^2$ error, generator sparsity, valid prediction time, and
PDEBench's standard metrics (max error, nRMSE, boundary RMSE, Fourier-band RMSE)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


def relative_l2(pred: Float[ArrayLike, "..."], ref: Float[ArrayLike, "..."]) -> Float[Array, ""]:
    r"""$\|u_\theta - u_{\text{ref}}\|_2 / \|u_{\text{ref}}\|_2$ over all entries."""
    pred = jnp.asarray(pred)
    ref = jnp.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"relative_l2: pred and ref must have equal shapes, got {pred.shape} and {ref.shape}")
    return jnp.linalg.norm((pred - ref).ravel()) / jnp.linalg.norm(ref.ravel())


def sparsity(A: Float[ArrayLike, "dim dim"], tol: float = 1e-3) -> float:
    r"""Fraction of entries with $|A_{ij}| < \text{tol}\cdot\max|A|$ (SPIKE's sparsity measure)."""
    A = np.abs(np.asarray(A))
    top = A.max()
    if top == 0:
        return 1.0
    return float(np.mean(A < tol * top))


def valid_prediction_time(
    pred: Float[ArrayLike, "n_t ..."],
    ref: Float[ArrayLike, "n_t ..."],
    ts: Float[ArrayLike, " n_t"],
    *,
    threshold: float = 0.5,
) -> float:
    r"""First time at which $\|u_\theta(t) - u_{\text{ref}}(t)\| / \|u_{\text{ref}}(t)\|$ exceeds
    `threshold`, measured from `ts[0]`; `ts[-1] - ts[0]` if it never does.

    Divide by the Lyapunov time $1/\lambda_{\max}$ (multiply by $\lambda_{\max}$) for the usual
    chaotic-forecast score.
    """
    pred = np.asarray(pred).reshape(len(ts), -1)
    ref = np.asarray(ref).reshape(len(ts), -1)
    ts = np.asarray(ts)
    err = np.linalg.norm(pred - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-12)
    bad = np.nonzero(err > threshold)[0]
    t_end = ts[bad[0]] if bad.size else ts[-1]
    return float(t_end - ts[0])


# --------------------------------------------------------------------------------------------------
# PDEBench's standard metrics (Takamoto et al. 2022), on host numpy arrays `(n_t, n_points, n_out)`.
#
# PDEBench (`pdebench/models/metrics.py`, `metric_func`) computes every metric per sample, channel
# and time step and then averages over samples, channels and time steps; an evaluation here is one
# sample. The spatial points are a tensor grid (`grid_shape`, "ij" ordering, as `evaluate` builds).

_PDEBENCH_BANDS = (4, 12)


def _check_pair(name: str, pred, ref) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.ndim != 3:
        raise ValueError(f"{name}: pred must have shape (n_t, n_points, n_out), got {pred.shape}")
    if ref.shape != pred.shape:
        raise ValueError(f"{name}: ref must have the shape of pred {pred.shape}, got {ref.shape}")
    return pred, ref


def _on_grid(name: str, a: np.ndarray, grid_shape) -> np.ndarray:
    """`(n_t, n_points, c)` -> `(n_t, *grid_shape, c)`; needs a spatial grid."""
    try:
        grid_shape = tuple(int(n) for n in grid_shape)
    except TypeError:
        raise ValueError(f"{name}: grid_shape must be a tuple of ints, got {grid_shape!r}") from None
    if not grid_shape:
        raise ValueError(f"{name}: grid_shape must have at least one spatial axis (an ODE has no spatial "
                         f"grid), got ()")
    if any(n < 2 for n in grid_shape):
        raise ValueError(f"{name}: grid_shape needs at least 2 points per axis, got {grid_shape}")
    if int(np.prod(grid_shape)) != a.shape[1]:
        raise ValueError(f"{name}: grid_shape {grid_shape} holds {int(np.prod(grid_shape))} points but pred "
                         f"has n_points={a.shape[1]}")
    return a.reshape(a.shape[0], *grid_shape, a.shape[2])


def max_abs_error(
    pred: Float[ArrayLike, "n_t n_points n_out"], ref: Float[ArrayLike, "n_t n_points n_out"]
) -> float:
    r"""PDEBench's maximum error: the spatial maximum of $|u_\theta - u_{\text{ref}}|$, averaged over time
    steps and components,

    $$\text{Max} = \frac{1}{n_t\,n_{out}} \sum_{n, c} \max_j |e(x_j, t_n)_c|,
      \qquad e = u_\theta - u_{\text{ref}}.$$

    (PDEBench's `err_Max` before `if_mean` is this maximum per time step and channel.) The global
    $\sup$ over all entries is `np.abs(pred - ref).max()`.

    **Arguments:**

    - `pred`, `ref`: `(n_t, n_points, n_out)` arrays on the same grid.

    **Returns:** a float.

    **References:** Takamoto et al., *PDEBench: An Extensive Benchmark for Scientific Machine Learning*,
    NeurIPS 2022 Datasets and Benchmarks (`pdebench/models/metrics.py`).
    """
    pred, ref = _check_pair("max_abs_error", pred, ref)
    return float(np.mean(np.max(np.abs(pred - ref), axis=1)))


def nrmse(
    pred: Float[ArrayLike, "n_t n_points n_out"], ref: Float[ArrayLike, "n_t n_points n_out"]
) -> float:
    r"""PDEBench's normalised RMSE: per time step $t_n$ and component $c$ the RMSE over the points
    divided by the RMS of the reference, averaged over time steps and components,

    $$\text{nRMSE} = \frac{1}{|S|} \sum_{(n, c)\in S}
      \frac{\big(\tfrac1{N}\sum_j (u_\theta - u_{\text{ref}})(x_j, t_n)_c^2\big)^{1/2}}
           {\big(\tfrac1{N}\sum_j u_{\text{ref}}(x_j, t_n)_c^2\big)^{1/2}}.$$

    PDEBench averages over all $(n, c)$; where the reference vanishes identically at a time step the
    ratio is undefined, so $S$ here excludes those pairs (NaN if every pair is excluded). Reference
    fields that pass *near* zero still make the ratio large: that is the definition.

    **Arguments:**

    - `pred`, `ref`: `(n_t, n_points, n_out)` arrays on the same grid.

    **Returns:** a float; `pred = (1 + eps) ref` gives `|eps|`.

    **References:** Takamoto et al., *PDEBench*, NeurIPS 2022 Datasets and Benchmarks.
    """
    pred, ref = _check_pair("nrmse", pred, ref)
    err = np.sqrt(np.mean((pred - ref) ** 2, axis=1))  # (n_t, n_out)
    nrm = np.sqrt(np.mean(ref**2, axis=1))
    ok = nrm > 0
    if not ok.any():
        return float("nan")
    return float(np.mean(err[ok] / nrm[ok]))


def boundary_rmse(
    pred: Float[ArrayLike, "n_t n_points n_out"],
    ref: Float[ArrayLike, "n_t n_points n_out"],
    grid_shape: tuple[int, ...],
) -> float:
    r"""PDEBench's boundary RMSE: per time step and component the RMSE over the grid points on the faces
    of the box, averaged over time steps and components,

    $$\text{bRMSE} = \frac{1}{n_t\,n_{out}} \sum_{n, c}
      \Big(\frac{1}{|\partial G|} \sum_{j \in \partial G} (u_\theta - u_{\text{ref}})(x_j, t_n)_c^2\Big)^{1/2},$$

    where $\partial G$ lists, for every axis, its first and last grid slice: in 1-D the two end points,
    in 2-D the four edges ($2n_x + 2n_y$ points, corners counted once per edge they lie on, as in
    PDEBench). Interior points do not enter.

    **Arguments:**

    - `pred`, `ref`: `(n_t, n_points, n_out)` arrays on the tensor grid of the box.
    - `grid_shape`: points per axis, `(n,)` or `(n_x, n_y)` (`ij` ordering); `()` (ODEs) is rejected.

    **Returns:** a float.

    **References:** Takamoto et al., *PDEBench*, NeurIPS 2022 Datasets and Benchmarks.
    """
    pred, ref = _check_pair("boundary_rmse", pred, ref)
    err = _on_grid("boundary_rmse", pred - ref, grid_shape)
    d = err.ndim - 2
    sq_sum, count = 0.0, 0
    for axis in range(1, d + 1):
        for end in (0, -1):
            face = np.take(err, end, axis=axis) ** 2  # (n_t, ..., n_out)
            sq_sum = sq_sum + face.reshape(face.shape[0], -1, face.shape[-1]).sum(axis=1)
            count += face[0, ..., 0].size
    return float(np.mean(np.sqrt(sq_sum / count)))


def frmse(
    pred: Float[ArrayLike, "n_t n_points n_out"],
    ref: Float[ArrayLike, "n_t n_points n_out"],
    grid_shape: tuple[int, ...],
    *,
    lengths: tuple[float, ...] | None = None,
    bands: tuple[int, int] = _PDEBENCH_BANDS,
    periodic: bool = False,
) -> dict[str, float]:
    r"""PDEBench's Fourier-space RMSE in low / mid / high wavenumber bands.

    With $e = u_\theta - u_{\text{ref}}$ on the grid of $N_1\times\dots\times N_d$ points and $\hat e$ its
    DFT over the spatial axes, the error per wavenumber shell $k$ is

    - 1-D: $E_k = |\hat e_k|\, L / N$ for $k = 0, \dots, \lfloor N/2\rfloor$ (the `rfft` modes);
    - 2-D: $E_k = \big(\sum_{(i, j)} |\hat e_{ij}|^2\big)^{1/2} L_x L_y / (N_x N_y)$ over
      $0 \le i < \lfloor N_x/2\rfloor$, $0 \le j < \lfloor N_y/2\rfloor$ with
      $\lfloor\sqrt{i^2 + j^2}\rfloor = k$, for $k < \min(\lfloor N_x/2\rfloor, \lfloor N_y/2\rfloor)$.

    A band's value is the mean of $E_k$ over its shells, averaged over time steps and components.
    With `bands = (i_low, i_high)` (PDEBench's `iLow=4, iHigh=12`) the bands are the slices
    `[:i_low]`, `[i_low:i_high]`, `[i_high:]`: **low** $k \in \{0,\dots,3\}$, **mid**
    $k \in \{4,\dots,11\}$, **high** $k \ge 12$. So a 1-D error $A\sin(2\pi k_0 x/L)$ sampled on a
    periodic grid gives $E_{k_0} = AL/2$ and the band holding $k_0$ scores $AL/(2\,|\text{band}|)$.

    Caveats of the definition, kept as PDEBench has them: the 2-D shells only use the quadrant
    $i, j \ge 0$, so modes with wavevector $(i, -j)$ (e.g. $\sin(x - y)$) are not seen; the FFT assumes
    a periodic field, so for non-periodic problems the boundary jump leaks into every band.

    **Arguments:**

    - `pred`, `ref`: `(n_t, n_points, n_out)` arrays on the tensor grid of the box.
    - `grid_shape`: points per axis, `(n,)` or `(n_x, n_y)` (`ij` ordering). ODEs (`()`) have no
      spatial spectrum and are rejected.
    - `lengths`: the box side per axis ($L$ above); default 1 per axis (PDEBench's default).
    - `bands`: `(i_low, i_high)` with `0 < i_low <= i_high`.
    - `periodic`: drop the last grid point of every axis first (a periodic grid that repeats its
      first point, as `evaluate`'s `np.linspace` grids do), so the DFT sees one period exactly.

    **Returns:** a dict `{"low", "mid", "high"}` of floats; a band that holds no shell on this grid
    (e.g. `high` on a grid with fewer than 12 shells) is left out.

    **References:** Takamoto et al., *PDEBench*, NeurIPS 2022 Datasets and Benchmarks.
    """
    pred, ref = _check_pair("frmse", pred, ref)
    err = _on_grid("frmse", pred - ref, grid_shape)
    d = err.ndim - 2
    if lengths is None:
        lengths = (1.0,) * d
    lengths = tuple(float(x) for x in np.atleast_1d(lengths))
    if len(lengths) != d or not all(np.isfinite(x) and x > 0 for x in lengths):
        raise ValueError(f"frmse: lengths must hold one positive length per spatial axis ({d}), got {lengths}")
    i_low, i_high = (int(b) for b in bands)
    if not 0 < i_low <= i_high:
        raise ValueError(f"frmse: bands must be (i_low, i_high) with 0 < i_low <= i_high, got {bands}")
    if periodic:
        if min(err.shape[1:-1]) < 3:
            raise ValueError(f"frmse: periodic needs at least 3 points per axis, got grid_shape {grid_shape}")
        err = err[(slice(None),) + (slice(0, -1),) * d]
    n = err.shape[1:-1]
    scale = float(np.prod(lengths) / np.prod(n))
    if d == 1:
        shells = np.abs(np.fft.rfft(err, axis=1)) * scale  # (n_t, n // 2 + 1, n_out)
    else:
        power = np.abs(np.fft.fftn(err, axes=tuple(range(1, d + 1)))) ** 2
        half = tuple(k // 2 for k in n)
        power = power[(slice(None),) + tuple(slice(0, h) for h in half)]
        idx = np.meshgrid(*[np.arange(h) for h in half], indexing="ij")
        shell = np.floor(np.sqrt(sum(i**2 for i in idx))).astype(int).ravel()
        n_shells = min(half)
        onehot = (shell[:, None] == np.arange(n_shells)[None, :]).astype(power.dtype)
        binned = np.einsum("tqc,qk->tkc", power.reshape(power.shape[0], -1, power.shape[-1]), onehot)
        shells = np.sqrt(binned) * scale  # (n_t, n_shells, n_out)
    out = {}
    for name, sl in (("low", slice(0, i_low)), ("mid", slice(i_low, i_high)), ("high", slice(i_high, None))):
        band = shells[:, sl]
        if band.shape[1]:
            out[name] = float(np.mean(band))
    return out


def _select(a: np.ndarray, error_components) -> np.ndarray:
    if error_components is None:
        return a
    idx = list(error_components)
    if not idx or any(not (-a.shape[-1] <= int(i) < a.shape[-1]) for i in idx):
        raise ValueError(f"error_components must be a non-empty tuple of indices below n_out={a.shape[-1]}, "
                         f"got {error_components!r}")
    return a[..., idx]


def _windows(name: str, evaluation) -> list:
    wins = evaluation.get("windows") if isinstance(evaluation, dict) else None
    if not wins:
        raise ValueError(f"{name}: evaluation must be an `evaluate` dict with a non-empty 'windows' list")
    return wins


def standard_metrics(evaluation: dict, mode: str = "network", *, error_components=None,
                     periodic: bool = False) -> dict[str, float]:
    r"""PDEBench's metrics of an `evaluate` result: [`max_abs_error`][], [`nrmse`][],
    [`boundary_rmse`][] and the [`frmse`][] bands, on the training window and the first extrapolation
    window.

    Keys are `{metric}_train_window` and `{metric}_extrapolation` for `metric` in `max_abs_error`,
    `nrmse`, `boundary_rmse`, `frmse_low`, `frmse_mid`, `frmse_high`, with `_koopman` appended for
    `mode="koopman"` (e.g. `nrmse_extrapolation_koopman`). Rules: the `_extrapolation` keys need an
    extrapolation window; `boundary_rmse` and `frmse_*` need a spatial grid and are left out for ODEs
    (`grid_shape == ()`); an `frmse` band with no shell on the grid is left out. `frmse` uses the box
    sides from `evaluation["xs"]` as lengths.

    **Arguments:**

    - `evaluation`: the dict of `jaxrep.pinn.evaluate` (`xs`, `grid_shape`, `windows`).
    - `mode`: which prediction to score, the window key `"network"` or `"koopman"`.
    - `error_components`: component indices to score (e.g. `problem.error_components`); `None` for all.
    - `periodic`: the grid repeats its first point on every axis (see [`frmse`][]).

    **Returns:** a dict of JSON-serialisable floats.

    **References:** Takamoto et al., *PDEBench*, NeurIPS 2022 Datasets and Benchmarks.
    """
    wins = _windows("standard_metrics", evaluation)
    if mode not in ("network", "koopman"):
        raise ValueError(f"standard_metrics: mode must be 'network' or 'koopman', got {mode!r}")
    if any(mode not in w for w in wins):
        raise ValueError(f"standard_metrics: mode={mode!r} but the evaluation windows hold no {mode!r} "
                         f"prediction (a PINN has no Koopman rollout)")
    grid_shape = tuple(evaluation.get("grid_shape", ()))
    suffix = "" if mode == "network" else f"_{mode}"
    lengths = None
    if grid_shape:
        xs = np.asarray(evaluation["xs"], dtype=np.float64)
        lengths = tuple(xs.max(axis=0) - xs.min(axis=0))
    m: dict[str, float] = {}
    for tag, w in (("train_window", wins[0]), ("extrapolation", wins[1] if len(wins) > 1 else None)):
        if w is None:
            continue
        pred = _select(np.asarray(w[mode]), error_components)
        ref = _select(np.asarray(w["reference"]), error_components)
        m[f"max_abs_error_{tag}{suffix}"] = max_abs_error(pred, ref)
        m[f"nrmse_{tag}{suffix}"] = nrmse(pred, ref)
        if grid_shape:
            m[f"boundary_rmse_{tag}{suffix}"] = boundary_rmse(pred, ref, grid_shape)
            for band, v in frmse(pred, ref, grid_shape, lengths=lengths, periodic=periodic).items():
                m[f"frmse_{band}_{tag}{suffix}"] = v
    return m
