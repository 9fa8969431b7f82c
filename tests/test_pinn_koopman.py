"""PIKE/SPIKE regularisers: zero on an exactly linear latent, positive otherwise; L1 shrinks A."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.scipy.linalg as jsl
import numpy as np
import optax
import pytest

import jaxrep as jrp
from jaxrep.pinn import l1_penalty
from jaxrep.pinn import koopman_expm_loss as _expm_loss
from jaxrep.pinn import koopman_generator_loss as _gen_loss

koopman_generator_loss = jax.jit(_gen_loss, static_argnums=0)
koopman_expm_loss = jax.jit(_expm_loss, static_argnums=0)


@pytest.fixture
def x64():
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


def _linear_latent(getkey, dim=5, d=2):
    A = 0.5 * jr.normal(getkey(), (dim, dim), dtype=jnp.float64)
    W = jr.normal(getkey(), (dim, d), dtype=jnp.float64)
    b = jr.normal(getkey(), (dim,), dtype=jnp.float64)

    def z(x, t):  # z(x, t) = expm(t A) z0(x): exactly linear in time at every x
        return jsl.expm(t * A) @ jnp.tanh(W @ x + b)

    xs = jr.uniform(getkey(), (32, d), dtype=jnp.float64)
    ts = jr.uniform(getkey(), (32,), dtype=jnp.float64)
    offsets = jnp.array([0.05, 0.2, 0.5], dtype=jnp.float64)
    return A, z, xs, ts, offsets


def test_koopman_losses_vanish_on_linear_latent(x64, getkey):
    A, z, xs, ts, offsets = _linear_latent(getkey)
    assert float(koopman_generator_loss(z, A, xs, ts)) < 1e-20
    assert float(koopman_expm_loss(z, A, xs, ts, offsets)) < 1e-20
    # a different generator is penalised by both losses
    B = A + 0.1 * jnp.eye(A.shape[0])
    gen_bad = float(koopman_generator_loss(z, B, xs, ts))
    exp_bad = float(koopman_expm_loss(z, B, xs, ts, offsets))
    assert gen_bad > 1e-4 and exp_bad > 1e-5
    # closed form of the generator loss for B = A + eps I: mean ||eps z||^2
    zz = jax.vmap(z)(xs, ts)
    assert np.isclose(gen_bad, 0.01 * float(jnp.mean(jnp.sum(zz**2, -1))), rtol=1e-10)


def test_generator_residual_uses_exact_time_derivative(x64):
    A = jnp.array([[0.0, 1.0], [-1.0, 0.0]])
    z = lambda x, t: jnp.stack([jnp.sin(t), jnp.cos(t)])
    r = jrp.pinn.generator_residual(z, A, jnp.zeros((0,)), jnp.array(0.7))
    assert float(jnp.max(jnp.abs(r))) < 1e-15
    z2 = lambda x, t: jnp.stack([jnp.sin(2 * t), jnp.cos(t)])
    r2 = jrp.pinn.generator_residual(z2, A, jnp.zeros((0,)), jnp.array(0.7))
    assert np.isclose(float(r2[0]), 2 * np.cos(1.4) - np.cos(0.7))


def test_l1_penalty_and_its_shrinkage(getkey):
    A = jr.normal(getkey(), (6, 6))
    assert np.isclose(float(l1_penalty(A)), float(jnp.sum(jnp.abs(A))), rtol=1e-6)
    g = jax.grad(l1_penalty)(A)
    assert np.allclose(g, jnp.sign(A))
    A2 = A - 0.01 * g
    assert bool(jnp.all(jnp.abs(A2) < jnp.abs(A)))


def test_spike_l1_gives_sparser_generator_than_pike(getkey):
    # Fit A to exactly linear data z(t) = expm(t A*) z0 with a sparse A*, through jaxrep.train.fit,
    # with and without the L1 term: the L1 fit has a smaller ||A||_1 and more near-zero entries.
    dim = 4
    A_true = jnp.array([[-0.5, 1.0, 0, 0], [-1.0, -0.5, 0, 0], [0, 0, -0.2, 0], [0, 0, 0, 0.3]])
    z0s = jr.normal(getkey(), (16, dim))
    offsets = jnp.array([0.1, 0.3, 0.6, 1.0])
    xs = z0s  # the "spatial" input is the initial state itself
    ts = jnp.zeros((16,))
    z = lambda x, t: jsl.expm(t * A_true) @ x

    def fit(l1_weight, key):
        gen = jrp.koopman.Generator(dim, "dense", key=key, scale=0.5)

        def loss_fn(g, batch, key):
            A = g.matrix()
            data = koopman_expm_loss(z, A, xs, ts, offsets)
            return data + l1_weight * l1_penalty(A), {"data": data}

        gen, _ = jrp.train.fit(gen, loss_fn, lambda k, s: None, optax.adam(1e-2), steps=600,
                               key=key, progress=False, steps_per_call=100, log_every=100)
        return gen.matrix()

    key = getkey()
    A_pike = fit(0.0, key)
    A_spike = fit(0.02, key)
    assert float(jnp.max(jnp.abs(A_pike - A_true))) < 0.05  # PIKE recovers A*
    assert float(l1_penalty(A_spike)) < float(l1_penalty(A_pike))
    small = lambda A: int(jnp.sum(jnp.abs(A) < 0.02))
    assert small(A_spike) >= small(A_pike)
    assert small(A_spike) >= 8  # most of the 10 zero entries of A* are (near) zero
