"""PIKE/SPIKE regularisers: zero on an exactly linear latent, positive otherwise; L1 shrinks A."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
import scipy.linalg

import jaxrep as jrp
from jaxrep.pinn import l1_penalty
from jaxrep.pinn import koopman_expm_loss as _expm_loss
from jaxrep.pinn import koopman_generator_loss as _gen_loss
from jaxrep.pinn import koopman_losses as _losses

koopman_expm_loss = jax.jit(_expm_loss, static_argnums=0)


def _linear_latent(seed=0, dim=5, d=2):
    # z(x, t) = expm(t A) z0(x) with A = V diag(lam) V^-1 in closed form (no expm to compile):
    # exactly linear in time at every x. numpy draws: no PRNG programs to compile.
    rng = np.random.default_rng(seed)
    lam = np.linspace(-1.0, 0.8, dim)
    V = np.eye(dim) + 0.3 * rng.standard_normal((dim, dim))
    Vinv = np.linalg.inv(V)
    A = V @ np.diag(lam) @ Vinv
    W, b = rng.standard_normal((dim, d)), rng.standard_normal(dim)

    def z(x, t):
        return V @ (jnp.exp(t * lam) * (Vinv @ jnp.tanh(W @ x + b)))

    xs, ts = rng.uniform(size=(32, d)), rng.uniform(size=32)
    offsets = np.array([0.05, 0.2, 0.5])
    return jnp.asarray(A), z, jnp.asarray(xs), jnp.asarray(ts), jnp.asarray(offsets)


def test_koopman_losses_vanish_on_linear_latent(x64):
    A, z, xs, ts, offsets = _linear_latent()

    @jax.jit
    def everything(A, xs, ts, offsets):
        B = A + 0.1 * jnp.eye(A.shape[0])  # a different generator
        fused = jax.vmap(lambda M: jnp.stack(_losses(z, M, xs, ts, offsets)))(jnp.stack([A, B]))
        separate = jnp.stack([_gen_loss(z, B, xs, ts), _expm_loss(z, B, xs, ts, offsets)])
        # closed forms for B = A + eps I: the generator loss is mean ||eps z||^2, and e^{sB} = e^{eps s}
        # e^{sA}, so the exponential loss is mean_{i,j} (1 - e^{eps s_j})^2 ||z(x_i, t_i + s_j)||^2
        zz = jax.vmap(z)(xs, ts)
        zs = jax.vmap(lambda s: jax.vmap(z)(xs, ts + s))(offsets)  # (m, n, dim)
        closed = jnp.stack([0.01 * jnp.mean(jnp.sum(zz**2, -1)),
                            jnp.mean((1 - jnp.exp(0.1 * offsets))[:, None] ** 2 * jnp.sum(zs**2, -1))])
        return fused, separate, closed

    fused, separate, closed = map(np.asarray, everything(A, xs, ts, offsets))
    (gen, exp), bad = fused
    assert gen < 1e-20 and exp < 1e-20
    assert bad[0] > 1e-4 and bad[1] > 1e-5  # both losses penalise the wrong generator
    assert np.allclose(bad, closed, rtol=1e-10, atol=0)
    assert np.allclose(separate, bad, rtol=1e-12, atol=0)  # fused = the two separate public losses


def test_generator_residual_uses_exact_time_derivative(x64):
    A = jnp.array([[0.0, 1.0], [-1.0, 0.0]])
    z = lambda x, t: jnp.stack([jnp.sin(t), jnp.cos(t)])
    r = jrp.pinn.generator_residual(z, A, jnp.zeros((0,)), jnp.array(0.7))
    assert float(jnp.max(jnp.abs(r))) < 1e-15
    z2 = lambda x, t: jnp.stack([jnp.sin(2 * t), jnp.cos(t)])
    r2 = jrp.pinn.generator_residual(z2, A, jnp.zeros((0,)), jnp.array(0.7))
    assert np.isclose(float(r2[0]), 2 * np.cos(1.4) - np.cos(0.7))


def test_l1_penalty_and_its_shrinkage():
    A = np.random.default_rng(1).standard_normal((6, 6)).astype(np.float32)
    assert np.isclose(float(l1_penalty(A)), np.sum(np.abs(A)), rtol=1e-6)
    g = np.asarray(jax.grad(l1_penalty)(jnp.asarray(A)))
    assert np.array_equal(g, np.sign(A))
    assert np.all(np.abs(A - 0.01 * g) < np.abs(A))


def test_spike_l1_gives_sparser_generator_than_pike(getkey):
    # Fit A to exactly linear data z(t) = expm(t A*) z0 with a sparse A*, through jaxrep.train.fit,
    # with and without the L1 term: the L1 fit has a smaller ||A||_1 and more near-zero entries.
    dim = 4
    A_true = jnp.array([[-0.5, 1.0, 0, 0], [-1.0, -0.5, 0, 0], [0, 0, -0.2, 0], [0, 0, 0, 0.3]])
    z0s = jr.normal(getkey(), (16, dim))
    offsets = jnp.array([0.1, 0.3, 0.6, 1.0])
    xs = z0s  # the "spatial" input is the initial state itself
    ts = jnp.zeros((16,))

    def z(x, t):  # expm(t A*) x in closed form: a damped rotation block and two scalar modes
        c, s = jnp.cos(t), jnp.sin(t)
        rot = jnp.exp(-0.5 * t) * jnp.stack([c * x[0] + s * x[1], -s * x[0] + c * x[1]])
        return jnp.concatenate([rot, jnp.exp(jnp.stack([-0.2 * t, 0.3 * t])) * x[2:]])

    assert np.allclose(z(z0s[0], jnp.array(0.7)), scipy.linalg.expm(0.7 * np.asarray(A_true)) @ z0s[0], atol=1e-6)

    def loss_fn(g, batch, key, state):  # the L1 weight is state, so both fits share one compiled step
        A = g.matrix()
        data = koopman_expm_loss(z, A, xs, ts, offsets)
        return data + state["l1"] * l1_penalty(A), {"data": data}, state

    def fit(l1_weight, key):
        gen = jrp.koopman.Generator(dim, "dense", key=key, scale=0.5)
        gen, _ = jrp.train.fit(gen, loss_fn, lambda k, s: None, optax.adam(1e-2), steps=600, key=key,
                               loss_state={"l1": jnp.asarray(l1_weight, jnp.float32)}, progress=False,
                               steps_per_call=300, log_every=300)
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


def _expm_frechet_adjoint(X, G):
    """$L_{\\exp}(X^T, G)$, the adjoint of the Frechet derivative of expm at X applied to G (float64,
    scipy): the upper-right block of expm([[X^T, G], [0, X^T]]) (Higham 2008, thm 3.6)."""
    k = X.shape[0]
    big = np.zeros((2 * k, 2 * k))
    big[:k, :k] = big[k:, k:] = X.T
    big[:k, k:] = G
    return scipy.linalg.expm(big)[:k, k:]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_expm_stack_matches_scipy_expm(dtype):
    from jaxrep.koopman._propagate import expm_stack

    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", dtype == "float64")
    try:
        dt = np.dtype(dtype)
        tol = 1e-12 if dtype == "float64" else 3e-6
        rng = np.random.default_rng(2)
        A = rng.standard_normal((6, 6)) / np.sqrt(6)
        A = (A / np.linalg.norm(A, 1)).astype(dt)
        # ||t A||_1 from 0 (zero matrix) through 1e-3 .. 100, negative times included
        ts = np.asarray([0.0, 1e-3, -0.05, 0.4, 1.0, -3.0, 17.0, 100.0], dt)
        out = np.asarray(jax.jit(expm_stack)(A, ts))
        ref = np.stack([scipy.linalg.expm(t * A.astype(np.float64)) for t in ts])
        assert out.shape == (8, 6, 6) and out.dtype == dt
        scale = np.max(np.abs(ref), axis=(1, 2))
        assert np.max(np.max(np.abs(out - ref), axis=(1, 2)) / scale) < tol * 30
        assert np.array_equal(out[0], np.eye(6, dtype=dt))
        # reverse mode: d/dA sum_i <G_i, e^{t_i A}> = sum_i t_i L_exp(t_i A^T, G_i), by scipy in float64
        ts2 = np.asarray([-0.05, 0.4, 3.0], dt)
        G = rng.standard_normal((3, 6, 6)).astype(dt)
        g_new = np.asarray(jax.jit(jax.grad(lambda A: jnp.sum(G * expm_stack(A, ts2))))(A))
        g_ref = sum(float(t) * _expm_frechet_adjoint(float(t) * A.astype(np.float64), G[i].astype(np.float64))
                    for i, t in enumerate(ts2))
        assert np.max(np.abs(g_new - g_ref)) / np.max(np.abs(g_ref)) < tol * 10
        # beyond max_squarings: NaN, like jax.scipy.linalg.expm
        assert bool(jnp.all(jnp.isnan(expm_stack(A, np.asarray([2.0**12], dt), max_squarings=8))))
    finally:
        jax.config.update("jax_enable_x64", old)


def _taylor_expm(X, terms=30):
    """e^X by its plain Taylor series (no scaling, no squaring): independent of `expm_stack`, exact to
    float64 rounding for ||X|| <= 3 (the tail is below 3^30/30! ~ 8e-19)."""
    out = term = jnp.eye(X.shape[-1], dtype=X.dtype)
    for k in range(1, terms):
        term = term @ X / k
        out = out + term
    return out


def _straightforward_loss(problem, weights, model, batch):
    """The SPIKE loss written out directly: z from a forward call plus `jax.jacfwd`, its time derivative
    by `jax.jacfwd`, every (point, offset) pair with its own Taylor-series exponential, one vmap per term."""
    u = model.field

    def z(x, t):
        return model.observable(u(x, t), jax.jacfwd(lambda y: u(y, t))(x))

    A = model.generator.matrix()
    mean_sq = lambda r: jnp.mean(r**2)
    physics = mean_sq(jax.vmap(lambda x, t: problem.residual(u, x, t))(batch["x_r"], batch["t_r"]))
    initial = mean_sq(jax.vmap(lambda x: u(x, jnp.zeros((), x.dtype)) - problem.initial_condition(x))(batch["x_0"]))
    boundary = mean_sq(jax.vmap(lambda x, t, d, s: problem.boundary_residual(u, x, t, d, s))(
        batch["x_b"], batch["t_b"], batch["dim_b"], batch["side_b"]))

    def gen_point(x, t):
        return jnp.sum((jax.jacfwd(lambda s: z(x, s))(t) - A @ z(x, t)) ** 2)

    def expm_offset(s):  # the mean over base points for one offset, with its own exponential
        E = _taylor_expm(s * A)
        return jnp.mean(jax.vmap(lambda x, t: jnp.sum((z(x, t + s) - E @ z(x, t)) ** 2))(batch["x_k"], batch["t_k"]))

    gen = jnp.mean(jax.vmap(gen_point)(batch["x_k"], batch["t_k"]))
    expm = sum(expm_offset(s) for s in batch["s_k"]) / batch["s_k"].shape[0]
    total = (weights.physics * physics + weights.initial * initial + weights.boundary * boundary
             + weights.koopman * (gen + expm) + weights.l1 * jnp.sum(jnp.abs(A)))
    return total, (gen, expm)


def _random_model(prob, cfg, dtype, seed):
    """`make_model`'s PINN/SPIKE model with its arrays drawn by numpy (weights ~ N(0, 1/fan_in), biases
    ~ N(0, 0.1^2)): the structure without compiling the initialisers, which dominate a small test."""
    from jaxrep.pinn._solve import make_model

    shapes = eqx.filter_eval_shape(lambda k: make_model(prob, cfg, koopman=True, key=k), jr.PRNGKey(0))
    rng = np.random.default_rng(seed)

    def draw(leaf):
        if not isinstance(leaf, jax.ShapeDtypeStruct):
            return leaf
        scale = 1 / np.sqrt(leaf.shape[-1]) if len(leaf.shape) >= 2 else 0.1
        return jnp.asarray(scale * rng.standard_normal(leaf.shape), dtype)

    return jax.tree_util.tree_map(draw, shapes)


def test_spike_loss_matches_straightforward_implementation(x64):
    # make_loss_fn's SPIKE loss (shared z at the base points, one expm_stack, a plain jvp for z at d = 1)
    # against the loss written out directly, on a tiny Burgers model in float64: value and gradient
    from jaxrep.config import ModelConfig
    from jaxrep.pinn._config import KoopmanConfig, SolveConfig

    prob = jrp.pinn.problems.get("burgers")
    cfg = SolveConfig(model=ModelConfig(width_size=8, depth=2),
                      koopman=KoopmanConfig(observables=4, width_size=8, depth=1))
    model = _random_model(prob, cfg, jnp.float64, seed=4)  # A ~ N(0, 1/5): spectral radius ~1
    rng = np.random.default_rng(5)
    uni = lambda n, lo, hi: jnp.asarray(rng.uniform(lo, hi, n))
    batch = {"x_r": uni((12, 1), -1, 1), "t_r": uni(12, 0, 0.5), "x_0": uni((5, 1), -1, 1),
             "x_b": jnp.asarray([[-1.0], [1.0], [1.0], [-1.0], [1.0]]), "t_b": uni(5, 0, 0.5),
             "dim_b": jnp.zeros(5, jnp.int32), "side_b": jnp.asarray([0, 1, 1, 0, 1], jnp.int32),
             "x_k": uni((7, 1), -1, 1), "t_k": uni(7, 0, 0.4),
             "s_k": jnp.asarray([0.15, 0.5, 0.9])}  # long offsets: expm_stack squares
    loss_fn = jrp.pinn.make_loss_fn(prob, cfg.weights, koopman=True, sparse=True)

    @jax.jit
    def both(model, batch):
        fast = eqx.filter_value_and_grad(lambda m: loss_fn(m, batch, None), has_aux=True)(model)
        ref = eqx.filter_value_and_grad(lambda m: _straightforward_loss(prob, cfg.weights, m, batch), has_aux=True)(model)
        return fast, ref

    ((v_fast, aux), g_fast), ((v_ref, (gen, expm)), g_ref) = both(model, batch)
    assert float(gen) > 1e-3 and float(expm) > 1e-3  # non-trivial Koopman terms
    norms = np.abs(np.asarray(batch["s_k"])[:, None, None] * np.asarray(model.generator.matrix())).sum(-2).max(-1)
    assert 1.0 < norms.max() < 3.0  # expm_stack squares; the Taylor reference is exact
    assert np.isclose(float(aux["koopman_gen"]), float(gen), rtol=1e-12, atol=0)
    assert np.isclose(float(aux["koopman_expm"]), float(expm), rtol=1e-12, atol=0)
    assert np.isclose(float(v_fast), float(v_ref), rtol=1e-12, atol=0)
    assert eqx.tree_equal(g_fast, g_ref, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("problem", ["heat2d", "lorenz"])
def test_model_z_matches_jacfwd_reference_values_and_gradients(problem):
    # the d > 1 path of PINNModel.z (a vmap of jvps over the spatial basis) and the ODE path (d = 0); the
    # d = 1 path is covered by the straightforward-loss test above
    from jaxrep.config import ModelConfig
    from jaxrep.pinn._config import KoopmanConfig, SolveConfig

    prob = jrp.pinn.problems.get(problem)
    cfg = SolveConfig(model=ModelConfig(width_size=16, depth=2), koopman=KoopmanConfig(observables=5))
    model = _random_model(prob, cfg, jnp.float32, seed=2)
    d = prob.spatial_dim
    rng = np.random.default_rng(3)
    xs, ts = jnp.asarray(rng.uniform(size=(7, d)), jnp.float32), jnp.asarray(rng.uniform(size=7), jnp.float32)

    def z_ref(m, x, t):  # the straightforward form: a forward call plus jacfwd
        u = m.field(x, t)
        return m.observable(u, jax.jacfwd(lambda y: m.field(y, t))(x))

    def total(m, zfn):
        zz = jax.vmap(lambda x, t: zfn(m, x, t))(xs, ts)
        zt = jax.vmap(lambda x, t: jax.jvp(lambda s: zfn(m, x, s), (t,), (jnp.ones_like(t),))[1])(xs, ts)
        return jnp.sum(jnp.sin(zz)) + jnp.sum(zt**2), (zz, zt)

    @eqx.filter_jit
    def both(model):
        vg = lambda zfn: eqx.filter_value_and_grad(total, has_aux=True)(model, zfn)
        return vg(lambda m, x, t: m.z(x, t)), vg(z_ref)

    ((_, (z1, zt1)), g1), ((_, (z2, zt2)), g2) = both(model)
    assert z1.shape == (7, model.observable.dim)
    assert eqx.tree_equal((z1, zt1), (z2, zt2), rtol=1e-6, atol=1e-6)
    assert eqx.tree_equal(g1, g2, rtol=1e-5, atol=1e-6)

