"""Interpolant paths: endpoints, autodiff derivatives vs finite differences, stable gamma*gamma', bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxrep.interpolants as ji


GAMMAS = [ji.ZeroGamma(), ji.SqrtGamma(2.0), ji.QuadraticGamma(1.0), ji.SineSquaredGamma(1.0)]

PRESETS = {
    "cond_ot": ji.linear(),
    "linear_sqrt": ji.linear(ji.SqrtGamma(1.0)),
    "linear_quadratic": ji.linear(ji.QuadraticGamma()),
    "trig_sin2": ji.trig(ji.SineSquaredGamma()),
    "trig": ji.trig(),
    "encoder_decoder": ji.encoder_decoder(),
    "one_sided_linear": ji.one_sided("linear"),
    "one_sided_trig": ji.one_sided("trig"),
    "mirror": ji.mirror(),
}


@pytest.mark.parametrize("name", list(PRESETS))
def test_endpoints(name, getkey):
    I = PRESETS[name]
    x1 = jr.normal(getkey(), (3,))
    x0 = x1 if name == "mirror" else jr.normal(getkey(), (3,))
    z = jr.normal(getkey(), (3,))
    np.testing.assert_allclose(I(0.0, x0, x1, z), x0, atol=1e-6)
    np.testing.assert_allclose(I(1.0, x0, x1, z), x1, atol=1e-6)
    # midpoint is a genuine mixture, not one endpoint
    xm = I(0.5, x0, x1, z)
    assert xm.shape == (3,)


@pytest.mark.parametrize("name", list(PRESETS))
def test_derivatives_match_finite_differences(name, x64, getkey):
    I = PRESETS[name]
    x0, x1, z = (jr.normal(getkey(), (4,), dtype=jnp.float64) for _ in range(3))
    h = 1e-6
    for t in [0.1, 0.3, 0.45, 0.55, 0.8, 0.95]:
        fd = (I(t + h, x0, x1, z) - I(t - h, x0, x1, z)) / (2 * h)
        np.testing.assert_allclose(I.time_derivative(t, x0, x1, z), fd, rtol=1e-6, atol=1e-6)
        g = lambda s: I.gamma(s) ** 2
        fd_gg = 0.5 * (g(t + h) - g(t - h)) / (2 * h)
        np.testing.assert_allclose(I.gamma_gamma_dot(t), fd_gg, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("gamma", GAMMAS, ids=lambda g: type(g).__name__)
def test_gamma_gamma_dot_finite_at_endpoints(gamma, x64):
    I = ji.linear(gamma)
    for t in (0.0, 1.0):
        gg = I.gamma_gamma_dot(t)
        assert np.isfinite(gg)
    if isinstance(gamma, ji.SqrtGamma):
        # gamma' itself diverges at 0, gamma*gamma' = a(1 - 2t)/2 does not
        assert not np.isfinite(I.derivatives(0.0)[2])
        np.testing.assert_allclose(I.gamma_gamma_dot(0.0), gamma.a / 2, rtol=1e-12)
        np.testing.assert_allclose(I.gamma_gamma_dot(1.0), -gamma.a / 2, rtol=1e-12)
    assert float(gamma(0.0)) == 0.0 and abs(float(gamma(1.0))) < 1e-12


def test_jit_vmap_grad_and_no_retrace(getkey):
    I = ji.linear(ji.SqrtGamma(1.0))
    x0, x1, z = (jr.normal(getkey(), (16, 2)) for _ in range(3))
    t = jr.uniform(getkey(), (16,))

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def f(I, t, x0, x1, z):
        return jax.vmap(I)(t, x0, x1, z)

    out = f(I, t, x0, x1, z)
    f(I, t + 0.0, x0 * 2, x1, z)
    assert out.shape == (16, 2)
    expected = (1 - t)[:, None] * x0 + t[:, None] * x1 + jnp.sqrt(t * (1 - t))[:, None] * z
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    g = jax.grad(lambda t: jnp.sum(I(t, x0[0], x1[0], z[0])))(0.3)
    np.testing.assert_allclose(g, jnp.sum(I.time_derivative(0.3, x0[0], x1[0], z[0])), rtol=1e-5)


def test_cond_ot_is_linear_with_zero_gamma(getkey):
    I = ji.linear()
    x0, x1, z = (jr.normal(getkey(), (2,)) for _ in range(3))
    np.testing.assert_allclose(I(0.3, x0, x1, z), 0.7 * x0 + 0.3 * x1, rtol=1e-6)
    np.testing.assert_allclose(I.time_derivative(0.3, x0, x1, z), x1 - x0, rtol=1e-6)


def test_bad_input():
    I = ji.linear(ji.SqrtGamma())
    x = jnp.zeros(2)
    with pytest.raises(ValueError, match="x0 and x1"):
        I(0.5, x, jnp.zeros(3))
    with pytest.raises(ValueError, match="t must lie in"):
        I(1.5, x, x)
    with pytest.raises(ValueError, match="t must lie in"):
        I.time_derivative(-0.1, x, x)
    with pytest.raises(ValueError, match="x0 and z"):
        I(0.5, x, x, jnp.zeros(3))
    with pytest.raises(ValueError, match="a > 0"):
        ji.SqrtGamma(-1.0)
    with pytest.raises(ValueError, match="one_sided expects kind"):
        ji.one_sided("cubic")
    with pytest.raises(ValueError, match="gamma=ZeroGamma"):
        ji.Interpolant(ji.Linear(1, 0), ji.Linear(0, 1), ji.SqrtGamma(), gaussian_x0=True)
    with pytest.raises(TypeError, match="alpha"):
        ji.Interpolant(lambda t: 1 - t, ji.Linear(0, 1))
