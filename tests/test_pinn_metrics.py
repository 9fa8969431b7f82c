"""PDEBench metrics and persistence baselines: closed forms, the evaluation-dict wrappers, bad input."""

import json

import numpy as np
import pytest

from jaxrep.pinn._baselines import (
    baseline_metrics,
    damped_persistence,
    fit_damping,
    persistence,
)
from jaxrep.pinn._metrics import (
    boundary_rmse,
    frmse,
    max_abs_error,
    nrmse,
    standard_metrics,
)


def _grid(n, d, L=2 * np.pi):
    """`evaluate`'s grid: np.linspace per axis with the endpoint (a periodic grid repeats it)."""
    axes = [np.linspace(0.0, L, n) for _ in range(d)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], -1), (n,) * d


def _field(rng, n_t=3, n_points=20, n_out=2):
    return rng.standard_normal((n_t, n_points, n_out))


# ---------------------------------------------------------------- max error / nRMSE


def test_max_abs_error_is_mean_over_time_and_channels_of_spatial_max():
    ref = np.zeros((2, 5, 2))
    pred = ref.copy()
    pred[0, 3, 0] = -4.0  # t0, c0: max 4
    pred[1, 1, 1] = 2.0  # t1, c1: max 2 (t0 c1 and t1 c0: 0)
    assert max_abs_error(pred, ref) == pytest.approx((4.0 + 0.0 + 0.0 + 2.0) / 4)


@pytest.mark.parametrize("eps", [1e-3, -0.25, 0.5])
def test_nrmse_of_scaled_reference_is_eps(eps):
    rng = np.random.default_rng(0)
    ref = _field(rng) + 0.1
    assert nrmse((1 + eps) * ref, ref) == pytest.approx(abs(eps), rel=1e-12)


def test_nrmse_is_per_time_step_and_channel():
    # Channel 0 has a small scale: its relative error counts as much as channel 1's.
    rng = np.random.default_rng(1)
    ref = _field(rng, n_out=2)
    ref[..., 0] *= 1e-3
    pred = ref * np.array([1.2, 1.0])
    assert nrmse(pred, ref) == pytest.approx(0.1, rel=1e-12)  # mean of 0.2 and 0.0


def test_nrmse_skips_time_steps_where_the_reference_vanishes():
    rng = np.random.default_rng(2)
    ref = _field(rng, n_t=3, n_out=1)
    ref[1] = 0.0
    assert np.isfinite(nrmse(1.1 * ref, ref))
    assert nrmse(1.1 * ref, ref) == pytest.approx(0.1, rel=1e-12)


# ---------------------------------------------------------------- boundary RMSE


@pytest.mark.parametrize("d", [1, 2])
def test_boundary_rmse_sees_only_face_points(d):
    rng = np.random.default_rng(3)
    xs, shape = _grid(7, d)
    ref = _field(rng, n_points=xs.shape[0])
    on_face = np.any((xs == xs.min(0)) | (xs == xs.max(0)), axis=1)
    pred = ref.copy()
    pred[:, ~on_face] += 10.0  # interior only: boundary RMSE unchanged (zero)
    assert boundary_rmse(pred, ref, shape) == 0.0
    pred[:, on_face] += 0.3  # a constant error on every face point
    assert boundary_rmse(pred, ref, shape) == pytest.approx(0.3, rel=1e-12)


def test_boundary_rmse_2d_counts_edges_like_pdebench():
    # One corner error e: it lies on two edges, of 2 nx + 2 ny face entries in all.
    xs, shape = _grid(5, 2)
    ref = np.zeros((1, xs.shape[0], 1))
    pred = ref.copy()
    pred[0, 0, 0] = 2.0
    assert boundary_rmse(pred, ref, shape) == pytest.approx(np.sqrt(2 * 4.0 / 20), rel=1e-12)


# ---------------------------------------------------------------- fRMSE


@pytest.mark.parametrize("k0, band", [(2, "low"), (7, "mid"), (13, "high")])
def test_frmse_1d_pure_sine_lands_in_its_band_with_its_amplitude(k0, band):
    n, L, A = 64, 2 * np.pi, 0.7
    xs, shape = _grid(n + 1, 1, L)  # periodic grid repeating its endpoint
    err = A * np.sin(k0 * xs[:, 0])
    ref = np.ones((4, n + 1, 1))
    pred = ref + err[None, :, None]
    out = frmse(pred, ref, shape, lengths=(L,), periodic=True)
    n_shells = {"low": 4, "mid": 8, "high": n // 2 + 1 - 12}
    for b, v in out.items():
        expected = A * L / 2 / n_shells[b] if b == band else 0.0
        assert v == pytest.approx(expected, abs=1e-12), b


def test_frmse_2d_pure_sines_land_in_their_bands():
    n, L, A, B = 32, 2 * np.pi, 0.5, 0.2
    xs, shape = _grid(n + 1, 2, L)
    err = A * np.sin(2 * xs[:, 0]) + B * np.cos(13 * xs[:, 1])
    ref = np.zeros((2, xs.shape[0], 1))
    out = frmse(ref + err[None, :, None], ref, shape, lengths=(L, L), periodic=True)
    # |DFT| = amplitude * n^2 / 2 at (2, 0) and (0, 13); shells 0..15: low 4, mid 8, high 4.
    assert out["low"] == pytest.approx(A * L * L / 2 / 4, rel=1e-10)
    assert out["mid"] == pytest.approx(0.0, abs=1e-12)
    assert out["high"] == pytest.approx(B * L * L / 2 / 4, rel=1e-10)


def test_frmse_leaves_out_bands_without_shells():
    xs, shape = _grid(10, 1)  # rfft shells 0..5: low and mid only
    ref = np.zeros((1, 10, 1))
    assert set(frmse(ref + 1.0, ref, shape)) == {"low", "mid"}


def test_frmse_has_no_spectrum_for_odes():
    ref = np.zeros((3, 1, 2))
    with pytest.raises(ValueError, match="grid_shape"):
        frmse(ref, ref, ())
    with pytest.raises(ValueError, match="grid_shape"):
        boundary_rmse(ref, ref, ())


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "fn", [max_abs_error, nrmse, lambda p, r: boundary_rmse(p, r, (4,)), lambda p, r: frmse(p, r, (4,))]
)
def test_bad_shapes_raise_naming_the_argument(fn):
    good = np.zeros((2, 4, 1))
    with pytest.raises(ValueError, match="pred"):
        fn(np.zeros((4, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="ref"):
        fn(good, np.zeros((2, 4, 2)))


def test_bad_grid_shape_lengths_bands_raise():
    good = np.zeros((2, 12, 1))
    with pytest.raises(ValueError, match="grid_shape"):
        boundary_rmse(good, good, (5,))
    with pytest.raises(ValueError, match="grid_shape"):
        frmse(good, good, (3, 5))
    with pytest.raises(ValueError, match="lengths"):
        frmse(good, good, (12,), lengths=(1.0, 2.0))
    with pytest.raises(ValueError, match="bands"):
        frmse(good, good, (12,), bands=(6, 3))


def test_baseline_bad_input_raises_naming_the_argument():
    with pytest.raises(ValueError, match="u_T"):
        persistence(np.zeros(4), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="ts"):
        damped_persistence(np.zeros((4, 1)), np.zeros((3, 1)), 0.0, 1.0)
    with pytest.raises(ValueError, match="lam"):
        damped_persistence(np.zeros((4, 1)), np.zeros(3), 0.0, -1.0)
    with pytest.raises(ValueError, match="train_u"):
        fit_damping(np.linspace(0, 1, 3), np.zeros((4, 2, 1)))
    with pytest.raises(ValueError, match="train_ts"):
        fit_damping(np.zeros(3), np.zeros((3, 2, 1)))
    with pytest.raises(ValueError, match="evaluation"):
        baseline_metrics({"windows": []})


# ---------------------------------------------------------------- baselines


def _evaluation(u, xs, shape, windows, *, network=None):
    """An `evaluate`-shaped dict for the solution function `u(xs, ts) -> (n_t, n_points, n_out)`."""
    out = {"xs": xs, "grid_shape": shape, "windows": []}
    for w in windows:
        ts = np.linspace(w[0], w[1], 9)
        ref = u(xs, ts)
        out["windows"].append({"window": w, "ts": ts, "reference": ref,
                               "network": ref if network is None else network(xs, ts)})
    return out


def test_persistence_of_a_steady_solution_is_exact():
    xs, shape = _grid(16, 1)
    steady = lambda xs, ts: np.broadcast_to(np.sin(xs)[None], (ts.size, xs.shape[0], 1)).copy()
    ev = _evaluation(steady, xs, shape, [(0.0, 1.0), (1.0, 2.0), (2.0, 4.0)])
    m = baseline_metrics(ev)
    assert m["damping_rate"] == pytest.approx(0.0, abs=1e-12)
    assert m["rel_l2_extrapolation_persistence_windows"] == pytest.approx([0.0, 0.0], abs=1e-14)
    assert m["rel_l2_extrapolation_damped_persistence"] == pytest.approx(0.0, abs=1e-12)


def test_damped_persistence_recovers_the_decay_rate_and_is_exact():
    lam = 0.8
    xs, shape = _grid(12, 2)
    f = np.stack([np.sin(xs[:, 0]) * np.cos(xs[:, 1]), 0.5 * np.cos(xs[:, 0])], -1)  # (n_points, 2)
    u = lambda xs, ts: np.exp(-lam * ts)[:, None, None] * f[None]
    ev = _evaluation(u, xs, shape, [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)])
    assert fit_damping(ev["windows"][0]["ts"], ev["windows"][0]["reference"]) == pytest.approx(lam, rel=1e-12)
    m = baseline_metrics(ev)
    assert m["damping_rate"] == pytest.approx(lam, rel=1e-12)
    assert max(m["rel_l2_extrapolation_damped_persistence_windows"]) < 1e-12
    # plain persistence is off by e^{lam (t - T)} - 1 and gets worse window by window
    p = m["rel_l2_extrapolation_persistence_windows"]
    assert 0.1 < p[0] < p[1]
    json.dumps(m)


def test_damping_rate_is_clipped_at_zero_for_growth():
    ts = np.linspace(0, 1, 5)
    u = np.exp(0.5 * ts)[:, None, None] * np.ones((1, 3, 1))
    assert fit_damping(ts, u) == 0.0
    u_T = np.arange(6.0).reshape(3, 2)
    assert np.array_equal(damped_persistence(u_T, ts, 1.0, 0.0), persistence(u_T, ts, 1.0))


def test_baselines_restrict_to_error_components():
    # Component 1 grows wildly; scored on component 0 (decaying at rate 1) the fit ignores it.
    xs, shape = _grid(8, 1)
    u = lambda xs, ts: np.stack([np.exp(-ts)[:, None] * np.sin(xs[None, :, 0]),
                                 np.exp(3 * ts)[:, None] * np.ones((1, xs.shape[0]))], -1)
    ev = _evaluation(u, xs, shape, [(0.0, 1.0), (1.0, 2.0)])
    m = baseline_metrics(ev, error_components=(0,))
    assert m["damping_rate"] == pytest.approx(1.0, rel=1e-12)
    assert m["rel_l2_extrapolation_damped_persistence"] < 1e-12
    with pytest.raises(ValueError, match="error_components"):
        baseline_metrics(ev, error_components=(2,))


# ---------------------------------------------------------------- standard_metrics on an evaluation


def test_standard_metrics_keys_and_values():
    xs, shape = _grid(33, 1)
    u = lambda xs, ts: np.exp(-ts)[:, None, None] * (2.0 + np.sin(xs))[None]
    net = lambda xs, ts: 1.01 * u(xs, ts)
    ev = _evaluation(u, xs, shape, [(0.0, 1.0), (1.0, 2.0)], network=net)
    m = standard_metrics(ev, error_components=(0,), periodic=True)
    names = ["max_abs_error", "nrmse", "boundary_rmse", "frmse_low", "frmse_mid", "frmse_high"]
    assert set(m) == {f"{k}_{w}" for k in names for w in ("train_window", "extrapolation")}
    assert m["nrmse_train_window"] == pytest.approx(0.01, rel=1e-10)
    assert m["frmse_high_extrapolation"] == pytest.approx(0.0, abs=1e-12)  # error is 0.01 (2 + sin x)
    assert all(isinstance(v, float) for v in m.values())
    json.dumps(m)


def test_standard_metrics_koopman_suffix_and_odes():
    ts_u = lambda xs, ts: np.stack([np.cos(ts), np.sin(ts) + 2.0], -1)[:, None, :]
    ev = _evaluation(ts_u, np.zeros((1, 0)), (), [(0.0, 1.0), (1.0, 2.0)])
    for w in ev["windows"]:
        w["koopman"] = w["reference"] + 0.1
    m = standard_metrics(ev, mode="koopman")
    # ODEs: no spatial grid, so no boundary or Fourier metrics
    assert set(m) == {f"{k}_{w}_koopman" for k in ("max_abs_error", "nrmse")
                      for w in ("train_window", "extrapolation")}
    assert m["max_abs_error_extrapolation_koopman"] == pytest.approx(0.1, rel=1e-12)
    del ev["windows"][1]["koopman"]
    with pytest.raises(ValueError, match="mode"):
        standard_metrics(ev, mode="koopman")
    with pytest.raises(ValueError, match="mode"):
        standard_metrics(ev, mode="reference")
