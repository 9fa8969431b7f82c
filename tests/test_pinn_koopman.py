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


# --------------------------------------------------------------------------------------------------
# the fast SPIKE step (issue 11): shared exponentials, one forward-mode pass for z; same numbers


def _reference_expm_loss(z, A, xs, ts, offsets):
    """The straightforward form: one `propagate` per base point (jax.scipy.linalg.expm per offset)."""

    def one(x, t):
        pred = jrp.koopman.propagate(A, z(x, t), offsets)
        target = jax.vmap(lambda s: z(x, t + s))(offsets)
        return jnp.mean(jnp.sum((target - pred) ** 2, axis=-1))

    return jnp.mean(jax.vmap(one)(xs, ts))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_expm_stack_matches_jax_scipy_expm(dtype, getkey):
    from jaxrep.koopman._propagate import expm_stack

    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", dtype == "float64")
    try:
        dt = jnp.dtype(dtype)
        tol = 1e-12 if dtype == "float64" else 3e-6
        A = jr.normal(getkey(), (6, 6), dtype=dt) / np.sqrt(6)
        A = A / jnp.linalg.norm(A, 1)
        # ||t A||_1 from 0 (zero matrix) through 1e-3 .. 100, negative times included
        ts = jnp.asarray([0.0, 1e-3, -0.05, 0.4, 1.0, -3.0, 17.0, 100.0], dt)
        out = jax.jit(expm_stack)(A, ts)
        ref = jax.vmap(lambda t: jsl.expm(t * A, max_squarings=20))(ts)
        assert out.shape == (8, 6, 6) and out.dtype == dt
        scale = jnp.max(jnp.abs(ref), axis=(1, 2))
        assert float(jnp.max(jnp.max(jnp.abs(out - ref), axis=(1, 2)) / scale)) < tol * 30
        assert bool(jnp.all(out[0] == jnp.eye(6, dtype=dt)))
        # reverse mode agrees with differentiating jax.scipy.linalg.expm (moderate norms)
        ts2 = jnp.asarray([-0.05, 0.4, 3.0], dt)
        G = jr.normal(getkey(), (3, 6, 6), dtype=dt)
        g_new = jax.jit(jax.grad(lambda A: jnp.sum(G * expm_stack(A, ts2))))(A)
        g_ref = jax.jit(jax.grad(lambda A: sum(jnp.sum(G[i] * jsl.expm(ts2[i] * A)) for i in range(3))))(A)
        assert float(jnp.max(jnp.abs(g_new - g_ref)) / jnp.max(jnp.abs(g_ref))) < tol * 10
        # beyond max_squarings: NaN, like jax.scipy.linalg.expm
        assert bool(jnp.all(jnp.isnan(expm_stack(A, jnp.asarray([2.0**12], dt), max_squarings=8))))
    finally:
        jax.config.update("jax_enable_x64", old)


def test_expm_loss_matches_per_point_propagate_values_and_gradients(x64, getkey):
    dim, d = 6, 2
    net = eqx.nn.MLP(d + 1, dim, 16, 2, activation=jnp.tanh, key=getkey())
    net = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, net)
    A = 0.8 * jr.normal(getkey(), (dim, dim), dtype=jnp.float64)
    xs = jr.uniform(getkey(), (9, d), dtype=jnp.float64)
    ts = jr.uniform(getkey(), (9,), dtype=jnp.float64)
    offsets = jr.uniform(getkey(), (4,), dtype=jnp.float64, maxval=0.5)

    def loss(impl):
        def f(params):
            net, A = params
            z = lambda x, t: net(jnp.concatenate([x, t[None]]))
            return impl(z, A, xs, ts, offsets)

        return eqx.filter_jit(eqx.filter_value_and_grad(f))

    v_new, g_new = loss(_expm_loss)((net, A))
    v_ref, g_ref = loss(_reference_expm_loss)((net, A))
    assert float(v_ref) > 1e-3  # a non-trivial value
    assert np.isclose(float(v_new), float(v_ref), rtol=1e-12, atol=0)
    assert eqx.tree_equal(g_new, g_ref, rtol=1e-10, atol=1e-13)
    # float32 too (the training dtype)
    jax.config.update("jax_enable_x64", False)
    to32 = lambda t: jax.tree_util.tree_map(lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a) else a, t)
    net, A, xs, ts, offsets = to32((net, A, xs, ts, offsets))
    v_new, g_new = loss(_expm_loss)((net, A))
    v_ref, g_ref = loss(_reference_expm_loss)((net, A))
    assert np.isclose(float(v_new), float(v_ref), rtol=1e-5)
    assert eqx.tree_equal(g_new, g_ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("problem", ["burgers", "heat2d", "lorenz"])
def test_model_z_matches_jacfwd_reference_values_and_gradients(problem, getkey):
    from jaxrep.config import ModelConfig
    from jaxrep.pinn._config import KoopmanConfig, SolveConfig
    from jaxrep.pinn._solve import make_model

    prob = jrp.pinn.problems.get(problem)
    cfg = SolveConfig(model=ModelConfig(width_size=16, depth=2), koopman=KoopmanConfig(observables=5))
    model = make_model(prob, cfg, koopman=True, key=getkey())
    d = prob.spatial_dim
    xs = jr.uniform(getkey(), (7, d))
    ts = jr.uniform(getkey(), (7,))

    def z_ref(m, x, t):  # the straightforward form: a forward call plus jacfwd
        u = m.field(x, t)
        return m.observable(u, jax.jacfwd(lambda y: m.field(y, t))(x))

    def total(m, zfn):
        zz = jax.vmap(lambda x, t: zfn(m, x, t))(xs, ts)
        zt = jax.vmap(lambda x, t: jax.jvp(lambda s: zfn(m, x, s), (t,), (jnp.ones_like(t),))[1])(xs, ts)
        return jnp.sum(jnp.sin(zz)) + jnp.sum(zt**2), (zz, zt)

    (v1, (z1, zt1)), g1 = eqx.filter_jit(eqx.filter_value_and_grad(total, has_aux=True))(
        model, lambda m, x, t: m.z(x, t))
    (v2, (z2, zt2)), g2 = eqx.filter_jit(eqx.filter_value_and_grad(total, has_aux=True))(model, z_ref)
    assert z1.shape == (7, model.observable.dim)
    assert eqx.tree_equal((z1, zt1), (z2, zt2), rtol=1e-6, atol=1e-6)
    assert eqx.tree_equal(g1, g2, rtol=1e-5, atol=1e-6)
