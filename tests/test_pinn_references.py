"""Reference-solution machinery: ETDRK4, grid interpolation, disk cache, Cole-Hopf, ODE references.

Every check is against a closed form (heat, advection, KdV soliton, phi-function series, linear ODE),
an invariant (NLS mass, SEIR population), an independent solver (scipy DOP853, the ETDRK4 solve for
Cole-Hopf), a published benchmark number (Basdevant et al.'s maximal Burgers slope) or the PDE itself
(residual from finite differences in t and numpy spectral derivatives in x).
"""

import math
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.signal import resample

from jaxrep.pde import _cole_hopf as CH
from jaxrep.pde import _named_spectral as NS
from jaxrep.pde import _spectral as S
from jaxrep.pde._ode_reference import ode_reference
from jaxrep.pde._reference import (
    GridReference,
    ODEReference,
    cache_dir,
    cached_arrays,
)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXREP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


# ------------------------------------------------------------------------------------------------
# ETDRK4 kernel
# ------------------------------------------------------------------------------------------------


def _phi_series(z, k, terms=40):
    # phi_k(z) = sum_j z^j / (j + k)!  (entire; the series is exact in float64 for |z| <= 1)
    return sum(z**j / math.factorial(j + k) for j in range(terms))


def _phi_closed(z, k):
    if k == 1:
        return (np.exp(z) - 1) / z
    if k == 2:
        return (np.exp(z) - 1 - z) / z**2
    return (np.exp(z) - 1 - z - z**2 / 2) / z**3


@pytest.mark.parametrize("complex_symbol", [False, True])
def test_etdrk4_coefficients_match_phi_functions(x64, complex_symbol):
    small = np.array([0.0, 1e-8, -1e-4, 0.3, -0.7])
    large = np.array([-2.0, 3.0, -40.0, -700.0, 1.5])
    if complex_symbol:
        small = small + 1j * np.array([1e-6, 0.0, 0.2, -0.5, 0.1])
        large = large + 1j * np.array([5.0, -2.0, 30.0, 1.0, 0.0])
    h = 0.5
    for zs, phi in [(small, _phi_series), (large, _phi_closed)]:
        c = S.etdrk4_coefficients(jnp.asarray(zs / h), h)
        p1, p2, p3 = (phi(zs.astype(complex), k) for k in (1, 2, 3))
        expect = {
            "E": np.exp(zs), "E2": np.exp(zs / 2), "Q": h * 0.5 * phi(zs.astype(complex) / 2, 1),
            "f1": h * (p1 - 3 * p2 + 4 * p3), "f2": h * (p2 - 2 * p3), "f3": h * (-p2 + 4 * p3),
        }
        for name, value in expect.items():
            got = np.asarray(getattr(c, name))
            assert np.iscomplexobj(got) == complex_symbol, name
            np.testing.assert_allclose(got, value if complex_symbol else value.real,
                                       rtol=1e-11, atol=1e-14, err_msg=name)


def test_etdrk4_fourth_order_on_advection_diffusion(x64):
    # u_t = nu u_xx - c u_x with the advection put in N: the scheme's error is then O(h^4).
    nu, c, t1 = 0.1, 1.0, 1.0
    grid = S.SpectralGrid([0.0], [2 * np.pi], [32])
    x = grid.coordinates()[0]
    u0 = np.exp(np.sin(x))
    k = grid.wavenumbers()[0]
    exact_hat = np.fft.rfft(u0) * np.exp((-nu * k**2 - 1j * c * k) * t1)
    errors = []
    dts = [0.2, 0.1, 0.05, 0.025]
    for dt in dts:
        n = round(t1 / dt)
        out = S.etdrk4(-nu * k**2, lambda uh: -c * 1j * k * uh, jnp.fft.rfft(u0), dt=dt,
                       n_steps=n, save_every=n)
        errors.append(np.abs(np.asarray(out[-1]) - exact_hat).max())
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert 3.7 < slope < 4.4, (errors, slope)


def test_etdrk4_linear_part_is_exact(x64):
    # heat equation with N = 0: ETDRK4 reproduces exp(-nu k^2 t) exactly at any step size.
    grid = S.SpectralGrid([0.0, 0.0], [2 * np.pi, 4 * np.pi], [16, 16])
    X, Y = np.moveaxis(grid.points(), -1, 0)
    u0 = np.sin(X) * np.cos(Y) + 0.3 * np.cos(3 * X + 0.5 * Y)
    out = S.etdrk4(0.2 * grid.laplacian_symbol(), lambda uh: jnp.zeros_like(uh),
                   grid.to_spectral(jnp.asarray(u0)), dt=0.5, n_steps=4)
    exact = (np.exp(-0.2 * 2.0 * 2.0) * np.sin(X) * np.cos(Y)
             + 0.3 * np.exp(-0.2 * 9.25 * 2.0) * np.cos(3 * X + 0.5 * Y))
    np.testing.assert_allclose(np.asarray(grid.to_physical(out[-1])), exact, atol=1e-13)


# ------------------------------------------------------------------------------------------------
# spectral_reference + GridReference against exact solutions
# ------------------------------------------------------------------------------------------------


def _advection_reference(shape=(48,), dt=1e-2):
    # u_t + c u_x = 0 (complex symbol on a real field), u0 = exp(sin x): exact u0(x - c t).
    return S.spectral_reference(lambda g: -1j * 1.5 * g.wavenumbers(odd=True)[0],
                                lambda uh, g: jnp.zeros_like(uh),
                                lambda x: jnp.exp(jnp.sin(x[0])),
                                lower=[0.0], upper=[2 * np.pi], shape=shape, t1=2.0, n_t=81, dt=dt)


def test_grid_reference_interpolates_advection_exactly(x64, getkey):
    ref = _advection_reference()
    key1, key2 = jax.random.split(getkey())
    xs = jax.random.uniform(key1, (500, 1), minval=-3.0, maxval=9.0)  # also outside: periodic
    ts = jax.random.uniform(key2, (500,), maxval=2.0)
    got = jax.jit(jax.vmap(ref))(xs, ts)[:, 0]
    exact = jnp.exp(jnp.sin(xs[:, 0] - 1.5 * ts))
    assert got.dtype == jnp.float64
    rel = jnp.max(jnp.abs(got - exact)) / jnp.max(jnp.abs(exact))
    assert rel < 1e-7, rel
    # without stored derivatives (finite-difference estimates in t) it is cruder but still close
    ts_grid, _, values = ref.grid()
    crude = GridReference(ts_grid, ref.lower, ref.upper, values)
    err = jnp.max(jnp.abs(jax.vmap(crude)(xs, ts)[:, 0] - exact)) / jnp.max(jnp.abs(exact))
    assert rel < err < 1e-3, err


def test_grid_reference_float32_accuracy(getkey):
    # Built and evaluated in JAX's default float32: still far below PINN errors (< 1e-5).
    with jax.enable_x64(True):
        arrays = _advection_reference().to_arrays()
    ref = GridReference.from_arrays(arrays)
    assert ref.values.dtype == jnp.float32
    key1, key2 = jax.random.split(getkey())
    xs = jax.random.uniform(key1, (400, 1), maxval=2 * np.pi)
    ts = jax.random.uniform(key2, (400,), maxval=2.0)
    got = np.asarray(jax.vmap(ref)(xs, ts)[:, 0], np.float64)
    exact = np.exp(np.sin(np.asarray(xs[:, 0], np.float64) - 1.5 * np.asarray(ts, np.float64)))
    assert np.max(np.abs(got - exact)) / np.max(np.abs(exact)) < 1e-5


def test_heat_2d_reference_matches_exact(x64, getkey):
    nu = 0.3
    ref = S.spectral_reference(
        lambda g: nu * g.laplacian_symbol(), lambda uh, g: jnp.zeros_like(uh),
        lambda x: jnp.stack([jnp.sin(x[0]) * jnp.cos(2 * x[1]), jnp.cos(x[0] + x[1])]),
        lower=[0.0, -1.0], upper=[2 * np.pi, 2 * np.pi - 1.0], shape=[16, 16], t1=1.0, n_t=41,
        dt=0.1)
    assert (ref.dim, ref.n_out, ref.shape) == (2, 2, (16, 16))
    key1, key2 = jax.random.split(getkey())
    xs = jax.random.uniform(key1, (200, 2), maxval=2 * np.pi)
    ts = jax.random.uniform(key2, (200,))
    got = jax.vmap(ref)(xs, ts)
    x, y = xs[:, 0], xs[:, 1]
    exact = jnp.stack([jnp.exp(-5 * nu * ts) * jnp.sin(x) * jnp.cos(2 * y),
                       jnp.exp(-2 * nu * ts) * jnp.cos(x + y)], axis=-1)
    # time interpolation is the only error: cubic Hermite, h = 0.025
    assert jnp.max(jnp.abs(got - exact)) < 1e-7


def test_complex_2d_nls_plane_wave(x64, getkey):
    # i h_t + (1/2) lap h + |h|^2 h = 0 has the exact plane wave h = A exp(i(k.x - w t)),
    # w = |k|^2/2 - |A|^2: a nonlinear, complex, 2-D check of the solver and the [Re, Im] layout.
    amp, kx, ky = 0.7, 2.0, -1.0
    omega = 0.5 * (kx**2 + ky**2) - amp**2
    ref = S.spectral_reference(
        lambda g: -0.5j * (g.wavenumbers()[0] ** 2 + g.wavenumbers()[1] ** 2),
        lambda hh, g: 1j * g.to_spectral(jnp.abs(g.to_physical(hh)) ** 2 * g.to_physical(hh)),
        lambda x: amp * jnp.exp(1j * (kx * x[0] + ky * x[1])),
        lower=[0.0, 0.0], upper=[2 * np.pi, 2 * np.pi], shape=[8, 8], t1=1.0, n_t=41, dt=0.05,
        is_complex=True)
    assert ref.n_out == 2
    key1, key2 = jax.random.split(getkey())
    xs = jax.random.uniform(key1, (100, 2), maxval=2 * np.pi)
    ts = jax.random.uniform(key2, (100,))
    h = amp * jnp.exp(1j * (kx * xs[:, 0] + ky * xs[:, 1] - omega * ts))
    got = jax.vmap(ref)(xs, ts)
    assert jnp.max(jnp.abs(got[:, 0] + 1j * got[:, 1] - h)) < 1e-7


def _kdv_soliton(x, t, c=1.0, x0=-2.0):
    return 0.5 * c / np.cosh(0.5 * np.sqrt(c) * (x - c * t - x0)) ** 2


def _kdv_reference():
    # u_t + 6 u u_x + u_xxx = 0 -> L = -(ik)^3 = i k^3, N = -3 (u^2)_x
    return S.spectral_reference(
        lambda g: 1j * g.wavenumbers(odd=True)[0] ** 3,
        lambda uh, g: -3.0 * g.derivative(g.to_spectral(g.to_physical(uh) ** 2), (1,)),
        lambda x: 0.5 / jnp.cosh(0.5 * (x[0] + 2.0)) ** 2,
        lower=[-30.0], upper=[30.0], shape=[256], t1=4.0, n_t=161, dt=5e-3)


def test_kdv_soliton(x64, getkey):
    ref = _kdv_reference()
    ts, (x,), values = ref.grid()
    np.testing.assert_allclose(values[:, :, 0], _kdv_soliton(x[None], ts[:, None]), atol=1e-9)
    key1, key2 = jax.random.split(getkey())
    xq = jax.random.uniform(key1, (300,), minval=-30.0, maxval=30.0)
    tq = jax.random.uniform(key2, (300,), maxval=4.0)
    got = jax.vmap(lambda a, b: ref(a[None], b)[0])(xq, tq)
    exact = _kdv_soliton(np.asarray(xq), np.asarray(tq))
    assert np.max(np.abs(np.asarray(got) - exact)) / 0.5 < 1e-7
    # d/dx through the trigonometric interpolant equals the soliton's derivative
    du = jax.vmap(jax.grad(lambda a, b: ref(a[None], b)[0]))(xq, tq)
    s = 0.5 * (np.asarray(xq) - np.asarray(tq) + 2.0)
    exact_du = -0.5 / np.cosh(s) ** 2 * np.tanh(s)
    assert np.max(np.abs(np.asarray(du) - exact_du)) < 1e-6


def test_grid_reference_jit_vmap_no_retrace_and_window(x64):
    ref = _advection_reference(shape=(16,), dt=0.05)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def evaluate(r, xs, ts):
        return jax.vmap(r)(xs, ts)

    xs, ts = jnp.linspace(0, 6, 7)[:, None], jnp.linspace(0, 2, 7)
    evaluate(ref, xs, ts)
    evaluate(ref, xs + 0.1, ts * 0.9)
    # chunked evaluation (batch not a multiple of the chunk) equals the plain vmap
    chunked = jax.jit(lambda a, b: ref.evaluate(a, b, batch_size=3))(xs, ts)
    np.testing.assert_allclose(chunked, jax.vmap(ref)(xs, ts), rtol=1e-13, atol=1e-15)
    # outside the stored time window the reference is NaN, never a silent extrapolation
    assert jnp.all(jnp.isnan(ref(jnp.array([1.0]), 2.5)))
    assert jnp.all(jnp.isnan(ref(jnp.array([1.0]), -0.1)))
    assert jnp.all(jnp.isfinite(ref(jnp.array([1.0]), 2.0)))
    with pytest.raises(ValueError, match="vmap"):
        ref(jnp.ones((4, 1)), 0.5)
    with pytest.raises(ValueError, match=r"shape \(1,\)"):
        ref(jnp.ones(2), 0.5)


@pytest.mark.parametrize("two_d", [False, True])
def test_grid_reference_on_grid_equals_pointwise(x64, getkey, two_d):
    if two_d:
        ref = S.spectral_reference(
            lambda g: 0.1 * g.laplacian_symbol(), lambda uh, g: jnp.zeros_like(uh),
            lambda x: jnp.stack([jnp.exp(jnp.sin(x[0]) * jnp.cos(x[1])), jnp.cos(x[0] - 2 * x[1])]),
            lower=[0.0, 1.0], upper=[2 * np.pi, 3.0], shape=[12, 10], t1=1.0, n_t=6, dt=0.2)
    else:
        ref = _advection_reference(shape=(16,), dt=0.05)
    xs = jax.random.uniform(getkey(), (9, ref.dim), minval=-1.0, maxval=4.0)
    ts = jnp.array([0.0, 0.13, 0.5, 1.0, 1.7])
    pointwise = jax.vmap(jax.vmap(ref, (0, None)), (None, 0))(xs, ts)
    got = eqx.filter_jit(ref.on_grid)(xs, ts)
    np.testing.assert_allclose(got, pointwise, rtol=1e-12, atol=1e-13, equal_nan=True)
    assert bool(jnp.all(jnp.isnan(got[-1]))) == two_d  # t = 1.7 is outside the 2-D window [0, 1]


def test_bad_input_errors():
    with pytest.raises(ValueError, match="shape"):
        S.SpectralGrid([0.0], [1.0], [15])
    with pytest.raises(ValueError, match="upper"):
        S.SpectralGrid([0.0], [0.0], [16])
    with pytest.raises(ValueError, match="dt"):
        S.etdrk4_coefficients(jnp.ones(3), -0.1)
    with pytest.raises(ValueError, match="save_every"):
        S.etdrk4(jnp.ones(3), lambda u: u, jnp.ones(3), dt=0.1, n_steps=10, save_every=3)
    with pytest.raises(ValueError, match="d must be > 0"):
        NS.allen_cahn_reference(d=-1.0)
    with pytest.raises(ValueError, match="nu must be > 0"):
        CH.burgers_cole_hopf(0.0, 0.5, nu=-0.1)
    with pytest.raises(ValueError, match="values must have shape"):
        GridReference(np.linspace(0, 1, 3), [0.0], [1.0], np.zeros((3, 4)))
    with pytest.raises(ValueError, match="strictly increasing"):
        GridReference(np.array([0.0, 0.0, 1.0]), [0.0], [1.0], np.zeros((3, 4, 1)))


# ------------------------------------------------------------------------------------------------
# Named references: conservation, PDE residual, self-convergence
# ------------------------------------------------------------------------------------------------


def _spectral_x_derivative(u, period, order):
    # u: (..., N) real; independent numpy implementation (full FFT, Nyquist zeroed for odd orders)
    n = u.shape[-1]
    m = np.fft.fftfreq(n, 1.0 / n)
    if order % 2:
        m = np.where(np.abs(m) == n // 2, 0.0, m)
    k = 2 * np.pi * m / period
    return np.real(np.fft.ifft((1j * k) ** order * np.fft.fft(u, axis=-1), axis=-1))


def _rhs_1d(name, u, period):
    D = lambda f, o: _spectral_x_derivative(f, period, o)  # noqa: E731
    if name == "allen_cahn":
        p = NS.SPECTRAL_SETUPS["allen_cahn"].params
        return p["d"] * D(u, 2) + p["a"] * (u - u**3)
    if name == "kuramoto_sivashinsky":
        p = NS.SPECTRAL_SETUPS["kuramoto_sivashinsky"].params
        return -p["alpha"] * u * D(u, 1) - p["beta"] * D(u, 2) - p["gamma"] * D(u, 4)
    if name == "cahn_hilliard":
        p = NS.SPECTRAL_SETUPS["cahn_hilliard"].params
        return D(p["gamma2"] * (u**3 - u) - p["gamma1"] * D(u, 2), 2)
    if name == "fisher_kpp":
        p = NS.SPECTRAL_SETUPS["fisher_kpp"].params
        return p["D"] * D(u, 2) + p["r"] * u * (1 - u)
    raise AssertionError(name)


def _time_derivative(values, dt):
    # sixth-order central differences on interior snapshots (independent of the stored derivatives)
    v = values
    d = (-v[:-6] + 9 * v[1:-5] - 45 * v[2:-4] + 45 * v[4:-2] - 9 * v[5:-1] + v[6:]) / (60 * dt)
    return d, slice(3, -3)


@pytest.fixture(scope="module")
def named_references(tmp_path_factory):
    """The six named references, computed once (fresh cache) at the CI resolution.

    That is the default one except where the default takes more than a few seconds (`CI_RESOLUTION`:
    the same code path, coarser); `test_named_references_default_accuracy` (slow) covers the
    defaults.
    """
    old_env = os.environ.get("JAXREP_CACHE_DIR")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # one cache per test session shared by the xdist workers (each worker's base temp lives in
        # the session's): a second worker loads what the first computed (writes are atomic)
        path = tmp_path_factory.getbasetemp().parent / "jaxrep-refcache"
    else:
        path = tmp_path_factory.mktemp("refcache")
    os.environ["JAXREP_CACHE_DIR"] = str(path)
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        refs = {name: CONVERGENCE[name][0](**CI_RESOLUTION.get(name, {})) for name in CONVERGENCE}
        files = sorted(p.name.split("-")[0] for p in cache_dir().glob("*.npz"))
    finally:
        jax.config.update("jax_enable_x64", old)
        if old_env is None:
            os.environ.pop("JAXREP_CACHE_DIR")
        else:
            os.environ["JAXREP_CACHE_DIR"] = old_env
    assert files == sorted(refs), files
    return refs


@pytest.mark.parametrize("name", ["allen_cahn", "kuramoto_sivashinsky", "cahn_hilliard",
                                  "fisher_kpp"])
def test_named_1d_references_satisfy_their_pde(x64, named_references, name):
    ref = named_references[name]
    ts, (x,), values = ref.grid()
    u = values[..., 0]
    period = float(ref.upper[0] - ref.lower[0])
    ut, interior = _time_derivative(u, ts[1] - ts[0])
    rhs = _rhs_1d(name, u[interior], period)
    scale = np.abs(ut).max()
    # start after the fast initial transient where 4th-order FD in t is least accurate
    res = np.abs(ut - rhs)[5:].max() / scale
    assert res < 2e-3, res
    # the stored derivatives are the equation's right-hand side on the grid. The solver de-aliases
    # the nonlinear term (2/3 rule), so compare the modes below N/3, which de-aliasing leaves alone.
    m = np.fft.fftfreq(x.shape[0], 1.0 / x.shape[0])
    low = lambda f: np.fft.ifft(np.where(np.abs(m) < x.shape[0] / 3, np.fft.fft(f), 0)).real  # noqa: E731
    stored = np.asarray(ref.derivatives)[interior, :, 0]
    assert np.abs(low(stored) - low(rhs)).max() < 1e-9 * scale
    if name == "cahn_hilliard":  # a conservation law: the mean of u is invariant
        np.testing.assert_allclose(u.mean(axis=1), u[0].mean(), atol=1e-12)


def test_schrodinger_satisfies_nls_and_conserves_mass(x64, named_references):
    ref = named_references["schrodinger"]
    ts, (x,), values = ref.grid()
    h = values[..., 0] + 1j * values[..., 1]
    period = float(ref.upper[0] - ref.lower[0])
    dx = period / x.shape[0]
    mass = np.sum(np.abs(h) ** 2, axis=1) * dx
    assert np.max(np.abs(mass - mass[0])) / mass[0] < 1e-9
    assert abs(mass[0] - 8 * np.tanh(5.0)) < 1e-3  # int_{-5}^{5} 4 sech^2 = 8 tanh 5
    hxx = (_spectral_x_derivative(h.real, period, 2)
           + 1j * _spectral_x_derivative(h.imag, period, 2))
    ht, interior = _time_derivative(h, ts[1] - ts[0])
    residual = 1j * ht + 0.5 * hxx[interior] + np.abs(h[interior]) ** 2 * h[interior]
    # The kink of the periodic h0 at +-5 radiates small high-wavenumber waves whose frequency
    # k^2/2 the snapshot spacing cannot resolve for finite differences in t: compare the modes
    # |k| <= 15 (|omega| dt < 0.9), which carry the solution.
    m = np.fft.fftfreq(x.shape[0], 1.0 / x.shape[0])
    low = lambda f: np.fft.ifft(np.where(np.abs(m) <= 24, np.fft.fft(f, axis=-1), 0), axis=-1)  # noqa: E731
    assert np.abs(low(residual)).max() / np.abs(ht).max() < 1e-3
    stored = np.asarray(ref.derivatives)
    rhs = 1j * (0.5 * hxx + np.abs(h) ** 2 * h)
    assert np.abs(stored[..., 0] + 1j * stored[..., 1] - rhs).max() / np.abs(rhs).max() < 1e-4


def test_burgers2d_satisfies_pde(x64, named_references):
    ref = named_references["burgers2d"]
    ts, xs, values = ref.grid()
    period = float(ref.upper[0] - ref.lower[0])
    nu = NS.SPECTRAL_SETUPS["burgers2d"].params["nu"]
    vel = np.moveaxis(values, -1, 1)  # (n_t, 2, N, N)

    def d(f, axis, order):
        return np.moveaxis(_spectral_x_derivative(np.moveaxis(f, axis, -1), period, order), -1, axis)

    rhs = np.stack([-vel[:, 0] * d(c, -2, 1) - vel[:, 1] * d(c, -1, 1)
                    + nu * (d(c, -2, 2) + d(c, -1, 2)) for c in (vel[:, 0], vel[:, 1])], axis=1)
    vt, interior = _time_derivative(vel, ts[1] - ts[0])
    assert np.abs(vt - rhs[interior]).max() / np.abs(vt).max() < 2e-3
    # reflection symmetry x -> -x of the initial data, kept by the equation: u odd, v even in x
    flip = (-np.arange(vel.shape[-2])) % vel.shape[-2]
    np.testing.assert_allclose(vel[:, 0][:, flip], -vel[:, 0], atol=1e-12)
    np.testing.assert_allclose(vel[:, 1][:, flip], vel[:, 1], atol=1e-12)


def _max_rel_diff(coarse, fine):
    """Max-norm difference on the fine grid, relative to max|fine|.

    The coarse solution is carried to the fine grid by scipy's Fourier resampling (its own
    trigonometric interpolant), so any pair of resolutions can be compared.
    """
    vc, vf = coarse.grid()[2], fine.grid()[2]
    for j, n in enumerate(vf.shape[1:-1]):
        if vc.shape[1 + j] != n:
            vc = resample(vc, n, axis=1 + j)
    return float(np.abs(vc - vf).max() / np.abs(vf).max())


CONVERGENCE = {
    # name: (function, CI n, grid levels, grid tol, dt levels, dt tol). Every level is compared
    # with the CI-resolution reference; dt levels must not exceed the snapshot spacing.
    "allen_cahn": (NS.allen_cahn_reference, 2048, (512, 1024), 2e-3, (2e-3, 1e-3), 1e-9),
    "schrodinger": (NS.schrodinger_reference, 512, (192, 320), 1e-4, (2e-3, 1e-3), 1e-5),
    "kuramoto_sivashinsky": (NS.kuramoto_sivashinsky_reference, 256, (128, 192), 1e-3,
                             (1e-3, 5e-4), 1e-3),
    "cahn_hilliard": (NS.cahn_hilliard_reference, 256, (32, 48), 1e-4, (5e-3, 2.5e-3), 2e-6),
    "fisher_kpp": (NS.fisher_kpp_reference, 256, (32, 64), 2e-4, (5e-3, 2.5e-3), 1e-10),
    "burgers2d": (NS.burgers2d_reference, 64, (24, 40), 3e-3, (1e-2, 5e-3), 1e-9),
}
# Coarser than the defaults where those take more than a few seconds (same code path).
CI_RESOLUTION = {
    "allen_cahn": dict(n=4096, n_store=2048),
    "schrodinger": dict(n=1024, n_store=512, dt=5e-4),
    "kuramoto_sivashinsky": dict(n=256, dt=1e-4),
    "burgers2d": dict(n=64),
}


@pytest.mark.parametrize("name", sorted(CONVERGENCE))
def test_named_references_self_convergence(x64, named_references, name):
    fn, n, grid_levels, grid_tol, dt_levels, dt_tol = CONVERGENCE[name]
    fine = named_references[name]
    assert fine.shape[0] == n
    ci = CI_RESOLUTION.get(name, {})
    grid_err = [_max_rel_diff(fn(**{**ci, "n": m, "cache": False}), fine) for m in grid_levels]
    dt_err = [_max_rel_diff(fn(**{**ci, "dt": h, "cache": False}), fine) for h in dt_levels]
    # refining the grid reduces the difference (spectrally, or algebraically where the periodic
    # initial datum has a kink: Allen-Cahn, Schrodinger, Fisher-KPP)
    assert grid_err[1] < 0.7 * grid_err[0] and grid_err[1] < grid_tol, grid_err
    # halving dt reduces it by a factor >= 3 (ETDRK4 is fourth order: 16 in the asymptotic
    # regime, less where stiff high modes are pre-asymptotic: >= 2 for Schrodinger, whose kinked
    # periodic datum keeps fast-rotating high modes excited)
    factor = 2 if name == "schrodinger" else 3
    assert dt_err[1] < dt_err[0] / factor and dt_err[1] < dt_tol, dt_err


# ------------------------------------------------------------------------------------------------
# Cole-Hopf Burgers
# ------------------------------------------------------------------------------------------------


def test_cole_hopf_quadrature_converged_and_boundary(x64):
    xs = jnp.linspace(-1.0, 1.0, 801)
    for t in (0.1, 0.5, 1.0):
        u = {n: jax.vmap(lambda x: CH.burgers_cole_hopf(x, t, n_quadrature=n))(xs)
             for n in (64, 256, 1024)}
        assert jnp.max(jnp.abs(u[256] - u[1024])) < 1e-12
        assert jnp.max(jnp.abs(u[64] - u[1024])) < 1e-2  # sanity: lower orders approach it
        assert jnp.abs(u[1024][0]) < 1e-12 and jnp.abs(u[1024][-1]) < 1e-12  # u(+-1, t) = 0
    np.testing.assert_allclose(jax.vmap(lambda x: CH.burgers_cole_hopf(x, 0.0))(xs),
                               -np.sin(np.pi * xs), atol=1e-14)


def test_cole_hopf_basdevant_max_slope(x64):
    # Basdevant et al. (1986): at t = 1.6037/pi the slope at x = 0 peaks at |u_x| = 152.00516.
    slope = jax.grad(CH.burgers_cole_hopf)(0.0, 1.6037 / np.pi)
    assert abs(abs(float(slope)) - 152.00516) < 1e-5


def test_cole_hopf_satisfies_burgers(x64, getkey):
    nu = CH.BURGERS_NU
    u = CH.burgers_cole_hopf
    key1, key2 = jax.random.split(getkey())
    xs = jax.random.uniform(key1, (200,), minval=-1.0, maxval=1.0)
    ts = jax.random.uniform(key2, (200,), minval=0.05, maxval=1.0)

    def residual(x, t):
        ux = jax.grad(u, 0)(x, t)
        return jax.grad(u, 1)(x, t) + u(x, t) * ux - nu * jax.grad(jax.grad(u, 0), 0)(x, t), ux

    res, ux = jax.vmap(residual)(xs, ts)
    assert jnp.max(jnp.abs(res) / (1 + jnp.abs(ux))) < 1e-9


def test_cole_hopf_matches_independent_spectral_solve(x64):
    # The odd, 2-periodic datum makes the periodic problem equal the Dirichlet one: an ETDRK4
    # Fourier solve on [-1, 1) is an independent reference before the shock sharpens.
    nu = CH.BURGERS_NU
    ref = S.spectral_reference(
        lambda g: -nu * g.wavenumbers()[0] ** 2,
        lambda uh, g: -0.5 * g.derivative(g.to_spectral(g.to_physical(uh) ** 2), (1,)),
        lambda x: -jnp.sin(jnp.pi * x[0]),
        lower=[-1.0], upper=[1.0], shape=[512], t1=0.25, n_t=6, dt=5e-4)
    ts, (x,), values = ref.grid()
    exact = jax.vmap(jax.vmap(CH.burgers_cole_hopf, (0, None)), (None, 0))(x, ts)
    assert np.abs(values[..., 0] - exact).max() < 1e-8
    model = CH.ColeHopfBurgers()
    got = jax.vmap(model, (0, None))(jnp.asarray(x)[:, None], ts[-1])
    np.testing.assert_allclose(got[:, 0], exact[-1], rtol=1e-14, atol=1e-15)


# ------------------------------------------------------------------------------------------------
# ODE references
# ------------------------------------------------------------------------------------------------


def _lorenz(t, y, args):
    sigma, rho, beta = args
    return jnp.stack([sigma * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - beta * y[2]])


def test_ode_reference_lorenz_matches_scipy(x64, getkey):
    args = (10.0, 28.0, 8.0 / 3.0)
    ts = np.linspace(0.0, 5.0, 2001)
    ref = ode_reference(_lorenz, [1.0, 1.0, 1.0], ts, args=args)
    sol = solve_ivp(lambda t, y: np.asarray(_lorenz(t, y, args)), (0.0, 5.0), [1.0, 1.0, 1.0],
                    method="DOP853", rtol=1e-13, atol=1e-13, dense_output=True)
    ts_ref, ys = ref.grid()
    assert np.abs(ys - sol.sol(ts_ref).T).max() < 1e-7
    tq = jax.random.uniform(getkey(), (100,), maxval=5.0)
    got = jax.vmap(ref)(tq)
    # quintic Hermite through y, f(y) and f_t + f_y f between the saved times
    assert np.abs(np.asarray(got) - sol.sol(np.asarray(tq)).T).max() < 1e-6
    assert jnp.all(jnp.isnan(ref(jnp.array(5.5))))


def test_hermite_interpolants_exact_on_polynomials(x64):
    # cubic Hermite (no second derivatives) reproduces cubics, quintic Hermite reproduces quintics,
    # on a non-uniform time grid
    rng = np.random.default_rng(0)
    ts = np.array([0.0, 0.3, 1.1, 1.25, 2.0])
    tq = jnp.linspace(0.0, 2.0, 41)
    for degree, use_second in [(3, False), (5, True)]:
        p = np.polynomial.Polynomial(rng.normal(size=degree + 1))
        ref = ODEReference(ts, p(ts)[:, None], p.deriv()(ts)[:, None],
                           p.deriv(2)(ts)[:, None] if use_second else None)
        np.testing.assert_allclose(jax.vmap(ref)(tq)[:, 0], p(np.asarray(tq)), atol=1e-12)
        # and one degree more is not reproduced: the check can fail
        q = np.polynomial.Polynomial(np.r_[np.zeros(degree + 1), 1.0])
        bad = ODEReference(ts, q(ts)[:, None], q.deriv()(ts)[:, None],
                           q.deriv(2)(ts)[:, None] if use_second else None)
        assert np.abs(jax.vmap(bad)(tq)[:, 0] - q(np.asarray(tq))).max() > 1e-6


def test_ode_reference_seir_population_and_linear_exact(x64, tmp_cache):
    def seir(t, y, args):
        beta, sigma, gamma = args
        s, e, i, r = y
        n = jnp.sum(y)
        return jnp.stack([-beta * s * i / n, beta * s * i / n - sigma * e, sigma * e - gamma * i,
                          gamma * i])

    ts = np.linspace(0.0, 20.0, 201)
    ref = ode_reference(seir, [0.99, 0.0, 0.01, 0.0], ts, args=(1.0, 0.5, 0.2), cache_name="seir")
    ys = ref.grid()[1]
    np.testing.assert_allclose(ys.sum(axis=1), 1.0, atol=1e-12)
    assert len(list(tmp_cache.glob("ode-seir-*.npz"))) == 1
    again = ode_reference(seir, [0.99, 0.0, 0.01, 0.0], ts, args=(1.0, 0.5, 0.2), cache_name="seir")
    np.testing.assert_array_equal(again.grid()[1], ys)
    # linear ODE with a closed form: y(t) = expm(tA) y0
    A = np.array([[-0.1, 1.0], [-1.0, -0.1]])
    ts = np.linspace(0.0, 10.0, 101)
    lin = ode_reference(lambda t, y, a: a @ y, [1.0, 0.0], ts, args=jnp.asarray(A))
    exact = np.stack([np.exp(-0.1 * ts) * np.cos(ts), -np.exp(-0.1 * ts) * np.sin(ts)], axis=1)
    np.testing.assert_allclose(lin.grid()[1], exact, atol=1e-9)
    with pytest.raises(ValueError, match="ts must be"):
        ode_reference(seir, [1.0, 0, 0, 0], [0.0, 0.0])


# ------------------------------------------------------------------------------------------------
# Disk cache
# ------------------------------------------------------------------------------------------------


def test_cache_hit_miss_corrupt_and_atomic(tmp_cache):
    calls = []

    def compute():
        calls.append(1)
        return {"a": np.arange(5.0), "b": np.ones((2, 2))}

    params = {"nu": 0.1, "n": 64}
    first = cached_arrays("demo", params, compute)
    second = cached_arrays("demo", params, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["a"], second["a"])
    files = list(tmp_cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # no temporary files left behind
    cached_arrays("demo", {"nu": 0.1, "n": 128}, compute)  # resolution is part of the key
    cached_arrays("demo", {"nu": 0.1 + 1e-15, "n": 64}, compute)  # so is every bit of a float
    assert len(calls) == 3
    files[0].write_bytes(b"not a zip file")  # corrupt: recomputed and rewritten
    third = cached_arrays("demo", params, compute)
    assert len(calls) == 4
    np.testing.assert_array_equal(third["b"], np.ones((2, 2)))
    cached_arrays("demo", params, compute)
    assert len(calls) == 4
    cached_arrays("demo", params, compute, cache=False)
    assert len(calls) == 5


def test_named_reference_cache_roundtrip(tmp_cache):
    ref = NS.cahn_hilliard_reference(n=32, dt=1e-2)
    (path,) = tmp_cache.glob("cahn_hilliard-*.npz")
    mtime = path.stat().st_mtime_ns
    again = NS.cahn_hilliard_reference(n=32, dt=1e-2)
    assert path.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(np.asarray(again.values), np.asarray(ref.values))
    assert isinstance(ODEReference.from_arrays(
        {"ts": np.arange(3.0), "ys": np.ones((3, 2)), "dys": np.zeros((3, 2))}), ODEReference)


# ------------------------------------------------------------------------------------------------
# Non-smooth periodic initial data: projection, exact Galerkin truncation, the value at t0
# ------------------------------------------------------------------------------------------------


def _triangle_series(x, t, nu, n_modes):
    # |x| on [-1, 1), 2-periodic: 1/2 - (4/pi^2) sum_{m odd} cos(m pi x)/m^2; heat flow damps mode m
    # by exp(-nu (m pi)^2 t)
    m = np.arange(1, n_modes, 2)[:, None, None]
    return 0.5 - 4 / np.pi**2 * np.sum(np.cos(m * np.pi * x) / m**2
                                       * np.exp(-nu * (m * np.pi) ** 2 * t), axis=0)


def test_oversampled_projection_and_store_shape_match_fourier_series(x64):
    # heat flow of a kinked periodic datum: the exact solution is a Fourier series in closed form
    nu, n = 1e-3, 64
    kw = dict(lower=[-1.0], upper=[1.0], t1=0.5, n_t=3, dt=0.25)
    heat = lambda g: -nu * g.wavenumbers()[0] ** 2  # noqa: E731
    zero = lambda uh, g: jnp.zeros_like(uh)  # noqa: E731
    tri = lambda x: jnp.abs(x[0])  # noqa: E731
    errs = {}
    for over in (1, 16):
        out = S.spectral_solve(heat, zero, tri, shape=[n], oversample=over, **kw)
        x = np.linspace(-1.0, 1.0, n, endpoint=False)
        # the projection onto |m| < n/2 (the Nyquist mode m = n/2 is even, absent in |x|)
        exact = _triangle_series(x[None], out["ts"][:, None], nu, n // 2)
        errs[over] = np.abs(out["values"][..., 0] - exact).max()
    # interpolation aliases O(n^-2) into every mode; 16x oversampling cuts that by 16^2
    assert errs[16] < 5e-5 and errs[1] > 200 * errs[16], errs
    # a fine solve stored on a coarser grid is the truncated series there
    out = S.spectral_solve(heat, zero, tri, shape=[4 * n], oversample=16, store_shape=[n], **kw)
    assert out["values"].shape == (3, n, 1)
    x = np.linspace(-1.0, 1.0, n, endpoint=False)
    exact = _triangle_series(x[None], out["ts"][:, None], nu, n // 2)
    assert np.abs(out["values"][..., 0] - exact).max() < 5e-6
    with pytest.raises(ValueError, match="store_shape"):
        S.spectral_solve(heat, zero, tri, shape=[n], store_shape=[2 * n], **kw)


@pytest.mark.parametrize("fraction, alias_free", [(0.5, True), (2 / 3, False)])
def test_half_rule_makes_cubic_term_alias_free(x64, fraction, alias_free):
    # u band-limited to the kept modes: the 1/2 rule gives the exact projection of u^3, the 2/3 rule
    # does not (so this check can fail)
    n = 32
    grid, fine = S.SpectralGrid([0.0], [2 * np.pi], [n]), S.SpectralGrid([0.0], [2 * np.pi], [8 * n])
    rng = np.random.default_rng(1)
    mask = grid.dealias_mask(fraction)
    u_hat = mask * (rng.normal(size=grid.spectral_shape) + 1j * rng.normal(size=grid.spectral_shape))
    u_hat[0] = u_hat[0].real
    coarse = mask * np.asarray(grid.to_spectral(grid.to_physical(jnp.asarray(u_hat)) ** 3))
    u_fine = np.zeros(fine.spectral_shape, complex)
    u_fine[: n // 2 + 1] = u_hat * 8
    exact = np.asarray(fine.to_spectral(fine.to_physical(jnp.asarray(u_fine)) ** 3))[: n // 2 + 1] / 8
    err = np.abs(coarse - mask * exact).max() / np.abs(exact).max()
    assert (err < 1e-13) == alias_free, err


def test_allen_cahn_corner_layer_converges(x64):
    # Allen-Cahn's u0 = x^2 cos(pi x) has a corner at x = +-1 (u0' = -+2). With the projected datum
    # and the exact Galerkin truncation, doubling the modes changes u(t = 0.01) by < 2e-7 on the
    # evaluation grid (the corner layer sqrt(d t) = 1e-3 is resolved); the plain 2/3-rule solve
    # with an interpolated datum on the same grid is off by > 2e-6.
    p = NS.SPECTRAL_SETUPS["allen_cahn"].params
    d, a = p["d"], p["a"]

    def solve(n, **kw):
        out = S.spectral_solve(
            lambda g: a - d * g.wavenumbers()[0] ** 2,
            lambda uh, g: -a * g.to_spectral(g.to_physical(uh) ** 3),
            lambda x: x[0] ** 2 * jnp.cos(jnp.pi * x[0]),
            lower=[-1.0], upper=[1.0], shape=[n], t1=0.01, n_t=2, dt=2.5e-4, **kw)
        return GridReference.from_arrays(out)

    xs = np.linspace(-1.0, 1.0, 256)[:, None]
    ev = lambda r: np.asarray(r.on_grid(xs, jnp.array([0.01])))  # noqa: E731
    galerkin = dict(dealias=0.5, galerkin=True, oversample=16, store_shape=[2048])
    fine, mid = ev(solve(8192, **galerkin)), ev(solve(4096, **galerkin))
    plain = ev(solve(4096, store_shape=[2048]))
    assert np.abs(mid - fine).max() < 2e-7
    assert np.abs(plain - fine).max() > 2e-6


def test_grid_referenced_problems_return_u0_at_start(x64, tmp_cache, monkeypatch):
    # At t0 the reference is u0 itself, also between grid points next to Allen-Cahn's corner
    import jaxrep.pde._reference_problems as RP
    from jaxrep.pinn import problems

    ref = NS.allen_cahn_reference(n=1024, n_store=1024, dt=1e-3)
    monkeypatch.setattr(RP, "_spectral_ref", lambda solver, **kw: ref)  # a cheap reference
    prob = problems.get("allen_cahn")
    xs = jnp.linspace(-1.0, 1.0, 255)[:, None]
    ts = jnp.array([0.0, 0.5])
    got = prob.reference_grid(xs, ts)
    u0 = xs[:, 0] ** 2 * jnp.cos(jnp.pi * xs[:, 0])
    np.testing.assert_allclose(got[0, :, 0], u0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got[1], ref.on_grid(xs, ts[1:])[0], rtol=1e-14)
    np.testing.assert_allclose(prob.reference(xs[3], jnp.asarray(0.0)), u0[3:4], atol=1e-15)
    # the stored trigonometric interpolant alone is visibly off there (the corner)
    assert np.abs(np.asarray(ref.on_grid(xs, ts[:1]))[0, :, 0] - u0).max() > 1e-6


# name: (refined keywords, max-norm tolerance on the evaluation grid); measured numbers in
# benchmarks/reference_accuracy.md
DEFAULT_ACCURACY = {
    "allen_cahn": (dict(n=16384, n_store=4096, dt=1.25e-4), 1e-7),
    "schrodinger": (dict(n=8192, n_store=4096, dt=6.25e-5), 1e-5),
    "kuramoto_sivashinsky": (dict(n=1024, dt=2.5e-5), 1e-7),
    "cahn_hilliard": (dict(n=512, dt=5e-4), 1e-7),
    "fisher_kpp": (dict(n=512, dt=5e-4), 1e-7),
    "burgers2d": (dict(n=192, dt=5e-4), 1e-7),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DEFAULT_ACCURACY))
def test_named_references_default_accuracy(x64, tmp_cache, name):
    # the defaults against a twice-refined solve, on the PINN evaluation grid (minutes for all six;
    # the fast tests above run the same code at coarser resolution)
    from jaxrep.pinn import problems

    fn = CONVERGENCE[name][0]
    refined, tol = DEFAULT_ACCURACY[name]
    prob = problems.get(name)
    n = 256 if len(prob.lower) == 1 else 32
    axes = [np.linspace(lo, hi, n) for lo, hi in zip(prob.lower, prob.upper)]
    xs = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], -1)
    ts = np.concatenate([np.linspace(w[0], w[1], 51)
                         for w in (prob.train_window, *prob.extrapolation_windows)])
    a = np.asarray(fn(cache=False).on_grid(xs, ts))[ts > 0]
    b = np.asarray(fn(cache=False, **refined).on_grid(xs, ts))[ts > 0]
    assert np.abs(a - b).max() / np.abs(b).max() < tol
