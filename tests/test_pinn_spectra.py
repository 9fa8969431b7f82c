"""ResDMD residuals of a learned PIKE/SPIKE generator (`koopman_estimator`, `generator_residuals`)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxrep.nn import ModelConfig
from jaxrep.pinn import SamplingConfig, SolveConfig, generator_residuals, koopman_estimator, problems
from jaxrep.pinn._solve import make_model


@pytest.fixture(scope="module")
def spike_model():
    p = problems.get("heat")
    cfg = SolveConfig(model=ModelConfig(width_size=8, depth=2), sampling=SamplingConfig(n_residual=32))
    return p, make_model(p, cfg, koopman=True, key=jr.PRNGKey(0))


def test_residuals_match_their_definition(spike_model):
    # res_k = |d/dt phi_k - mu_k phi_k| / |phi_k| over the points, phi_k = w_k^T z with w_k a left
    # eigenvector of A: computed here with jax.jvp in t and numpy's eig, independently of jaxrep.koopman
    p, model = spike_model
    xs = jr.uniform(jr.PRNGKey(1), (200, 1), minval=-1.0, maxval=1.0)
    ts = jr.uniform(jr.PRNGKey(2), (200,), minval=0.0, maxval=0.5)
    mu, res = generator_residuals(model, p, xs, ts)
    A = np.asarray(model.A(), np.float64)
    w, V = np.linalg.eig(A.T)
    Z = np.asarray(jax.vmap(model.z)(xs, ts), np.float64)
    Zt = np.asarray(jax.vmap(lambda x, t: jax.jvp(lambda s: model.z(x, s), (t,), (jnp.ones_like(t),))[1])(xs, ts),
                    np.float64)
    want = {}
    for k in range(len(w)):
        phi, dphi = Z @ V[:, k], Zt @ V[:, k]
        want[k] = (w[k], np.linalg.norm(dphi - w[k] * phi) / np.linalg.norm(phi))
    got = sorted(zip(np.asarray(mu), np.asarray(res)), key=lambda p: (p[0].real, p[0].imag))
    ref = sorted(want.values(), key=lambda p: (p[0].real, p[0].imag))
    np.testing.assert_allclose([g[0] for g in got], [r[0] for r in ref], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose([g[1] for g in got], [r[1] for r in ref], rtol=2e-3, atol=1e-5)


def test_an_exact_koopman_pair_has_zero_residual(spike_model):
    # A field that does not depend on t has dz/dt = 0 exactly: with A = 0 every eigenpair is exact
    # (residual 0), with A = -I every one is off by exactly |0 - (-1) phi| / |phi| = 1.
    p, model = spike_model
    static = eqx.tree_at(lambda m: m.field, model, replace_fn=lambda f: _TimeFrozen(f))
    xs = jr.uniform(jr.PRNGKey(3), (64, 1), minval=-1.0, maxval=1.0)
    ts = jnp.linspace(0.0, 0.5, 64)
    dim = model.A().shape[0]
    for scale, expected in ((0.0, 0.0), (-1.0, 1.0)):
        m = eqx.tree_at(lambda m: m.generator, static, _Fixed(scale * jnp.eye(dim)))
        _, res = generator_residuals(m, p, xs, ts)
        np.testing.assert_allclose(res, expected, atol=1e-5)
    assert koopman_estimator(model, p).generator.shape == (dim, dim)


class _TimeFrozen(eqx.Module):
    inner: eqx.Module
    n_out: int = eqx.field(static=True, default=1)

    def __call__(self, x, t):
        return self.inner(x, jnp.zeros_like(t))


class _Fixed(eqx.Module):
    A: jax.Array

    def matrix(self):
        return self.A


def test_a_pinn_model_is_refused():
    p = problems.get("heat")
    pinn = make_model(p, SolveConfig(model=ModelConfig(width_size=8, depth=2)), koopman=False, key=jr.PRNGKey(0))
    with pytest.raises(ValueError, match="PIKE or SPIKE"):
        koopman_estimator(pinn, p)
