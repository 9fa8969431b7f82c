r"""Trivial forecasts of the extrapolation windows: persistence and damped persistence.

A learned solver's extrapolation error means little on its own: a slowly decaying heat solution is
forecast well by holding the last state constant. These baselines are what the PINN / PIKE / SPIKE
extrapolation scores must beat. They are pure numpy functions, run on host after `evaluate`.
"""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import ArrayLike, Float

from ._metrics import _select, _windows


def _check_state(name: str, u_T, ts, T) -> tuple[np.ndarray, np.ndarray, float]:
    u_T = np.asarray(u_T, dtype=np.float64)
    ts = np.asarray(ts, dtype=np.float64)
    if u_T.ndim != 2:
        raise ValueError(f"{name}: u_T must have shape (n_points, n_out), got {u_T.shape}")
    if ts.ndim != 1:
        raise ValueError(f"{name}: ts must have shape (n_t,), got {ts.shape}")
    T = float(T)
    if not math.isfinite(T):
        raise ValueError(f"{name}: T must be a finite time, got {T}")
    return u_T, ts, T


def persistence(
    u_T: Float[ArrayLike, "n_points n_out"], ts: Float[ArrayLike, " n_t"], T: float
) -> Float[np.ndarray, "n_t n_points n_out"]:
    r"""The persistence forecast $\hat u(x, t) = u(x, T)$ for every $t$ in `ts`.

    **Arguments:**

    - `u_T`: the state $u(x_j, T)$ at the forecast origin, `(n_points, n_out)`.
    - `ts`: the forecast times, `(n_t,)`.
    - `T`: the forecast origin (the forecast does not depend on it; kept so that
      `persistence(u_T, ts, T) == damped_persistence(u_T, ts, T, 0.0)`).

    **Returns:** a `(n_t, n_points, n_out)` float64 array.
    """
    u_T, ts, T = _check_state("persistence", u_T, ts, T)
    return np.broadcast_to(u_T, (ts.shape[0],) + u_T.shape).copy()


def damped_persistence(
    u_T: Float[ArrayLike, "n_points n_out"], ts: Float[ArrayLike, " n_t"], T: float, lam: float
) -> Float[np.ndarray, "n_t n_points n_out"]:
    r"""The damped persistence forecast $\hat u(x, t) = u(x, T)\, e^{-\lambda (t - T)}$.

    **Arguments:**

    - `u_T`: the state $u(x_j, T)$ at the forecast origin, `(n_points, n_out)`.
    - `ts`: the forecast times, `(n_t,)`.
    - `T`: the forecast origin.
    - `lam`: the damping rate $\lambda \ge 0$ (see [`fit_damping`][]); `0` is plain persistence.

    **Returns:** a `(n_t, n_points, n_out)` float64 array.
    """
    u_T, ts, T = _check_state("damped_persistence", u_T, ts, T)
    lam = float(lam)
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"damped_persistence: lam must be a finite rate >= 0, got {lam}")
    return u_T[None] * np.exp(-lam * (ts - T))[:, None, None]


def fit_damping(train_ts: Float[ArrayLike, " n_t"], train_u: Float[ArrayLike, "n_t n_points n_out"]) -> float:
    r"""One global damping rate $\lambda \ge 0$ from a solution on the training window.

    Least squares fit of the log of the norm over all points and components,

    $$\log \|u(\cdot, t_n)\|_2 \approx a - \lambda t_n, \qquad n = 1, \dots, n_t,$$

    clipped to $\lambda \ge 0$: a growing norm gives $\lambda = 0$ (plain persistence), so the damped
    forecast never amplifies. Time steps where $u$ vanishes identically are left out; with fewer than two
    left, $\lambda = 0$. Exact for $u(x, t) = e^{-\lambda t} f(x)$. A single scalar, not one rate per
    component or mode: the baseline is meant to be trivial.

    **Arguments:**

    - `train_ts`: the times of the training window, `(n_t,)`, at least two distinct.
    - `train_u`: the solution there, `(n_t, n_points, n_out)` (restricted to the components to score).

    **Returns:** $\lambda$ as a float.
    """
    ts = np.asarray(train_ts, dtype=np.float64)
    u = np.asarray(train_u, dtype=np.float64)
    if ts.ndim != 1 or np.unique(ts).size < 2:
        raise ValueError(f"fit_damping: train_ts must have shape (n_t,) with at least two distinct times, "
                         f"got shape {ts.shape}")
    if u.ndim != 3 or u.shape[0] != ts.shape[0]:
        raise ValueError(f"fit_damping: train_u must have shape (n_t={ts.shape[0]}, n_points, n_out), "
                         f"got {u.shape}")
    norm = np.linalg.norm(u.reshape(u.shape[0], -1), axis=1)
    ok = norm > 0
    if np.unique(ts[ok]).size < 2:
        return 0.0
    slope = np.polyfit(ts[ok], np.log(norm[ok]), 1)[0]
    return float(max(-slope, 0.0))


def _rel_l2(pred: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm((pred - ref).ravel()) / np.linalg.norm(ref.ravel()))


def baseline_metrics(evaluation: dict, *, error_components=None) -> dict:
    r"""Relative $L^2$ errors of persistence and damped persistence on every extrapolation window.

    Both forecasts start from $u(x, T)$ = the **reference** at the last time of the training window,
    $T$ = `windows[0]["ts"][-1]` (the end of the training window): the exact state, the best start a
    persistence forecast can have, not the solver's own estimate. The damping rate is
    [`fit_damping`][] on the reference over the training window (the solution the solver is trained
    to reproduce there; no data from the extrapolation windows enters). The relative error is
    $\|\hat u - u_{\text{ref}}\|_2 / \|u_{\text{ref}}\|_2$ over the window, as `rel_l2_*` in
    `compute_metrics`.

    **Arguments:**

    - `evaluation`: the dict of `jaxrep.pinn.evaluate` (its `windows`, training window first).
    - `error_components`: component indices to fit and score (e.g. `problem.error_components`);
      `None` for all.

    **Returns:** a dict of JSON-serialisable floats: `damping_rate`, and, when there are extrapolation
    windows, `rel_l2_extrapolation_persistence`, `rel_l2_extrapolation_damped_persistence` (the first
    extrapolation window) and the lists `rel_l2_extrapolation_persistence_windows`,
    `rel_l2_extrapolation_damped_persistence_windows` (one entry per extrapolation window).
    """
    wins = _windows("baseline_metrics", evaluation)
    train = wins[0]
    ref_train = _select(np.asarray(train["reference"], dtype=np.float64), error_components)
    ts_train = np.asarray(train["ts"], dtype=np.float64)
    T = float(ts_train[-1])
    u_T = ref_train[-1]
    lam = fit_damping(ts_train, ref_train)
    m: dict = {"damping_rate": lam}
    pers, damped = [], []
    for w in wins[1:]:
        ref = _select(np.asarray(w["reference"], dtype=np.float64), error_components)
        pers.append(_rel_l2(persistence(u_T, w["ts"], T), ref))
        damped.append(_rel_l2(damped_persistence(u_T, w["ts"], T, lam), ref))
    if pers:
        m["rel_l2_extrapolation_persistence"] = pers[0]
        m["rel_l2_extrapolation_damped_persistence"] = damped[0]
        m["rel_l2_extrapolation_persistence_windows"] = pers
        m["rel_l2_extrapolation_damped_persistence_windows"] = damped
    return m
