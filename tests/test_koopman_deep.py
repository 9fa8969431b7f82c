"""Deep Koopman: autoencoder, losses (closed-form values and invariants), training through fit, the
`koopman` task and its figures."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import jaxrep as jr

L = jr.koopman.losses


def _identity_ae(A):
    gen = jr.koopman.Generator(A.shape[0], "dense", key=jax.random.PRNGKey(0))
    gen = eqx.tree_at(lambda g: g.weight, gen, jnp.asarray(A, jnp.float32))
    ident = lambda x: x  # noqa: E731
    return jr.koopman.KoopmanAutoencoder(ident, gen, ident)


def _linear_traj(A, n=8, n_t=6, dt=0.2, seed=0):
    rng = np.random.default_rng(seed)
    X0 = rng.standard_normal((n, A.shape[0]))
    return np.stack([[scipy.linalg.expm(k * dt * A) @ x for k in range(n_t)] for x in X0]).astype(
        np.float32
    )


def test_losses_vanish_on_exact_linear_model():
    A = np.array([[-0.2, 1.0], [-1.0, -0.2]])
    ae = _identity_ae(A)
    traj = jnp.asarray(_linear_traj(A))
    assert float(L.reconstruction(ae, traj)) == 0.0
    assert float(L.linearity(ae, traj, 0.2)) < 1e-10
    assert float(L.prediction(ae, traj, 0.2)) < 1e-10
    # a wrong generator gives the exact (closed-form) latent error
    wrong = _identity_ae(A + np.eye(2) * 0.5)
    x0 = traj[:, 0]
    ts = 0.2 * np.arange(6)
    ref = np.mean([
        np.mean([np.sum((traj[b, k] - scipy.linalg.expm(ts[k] * (A + 0.5 * np.eye(2))) @ x0[b]) ** 2)
                 for k in range(1, 6)])
        for b in range(8)
    ])
    np.testing.assert_allclose(L.linearity(wrong, traj, 0.2), ref, rtol=1e-4)
    np.testing.assert_allclose(L.l1(wrong.generator), np.abs(A + 0.5 * np.eye(2)).sum(), rtol=1e-6)


def test_von_neumann_entropy_values_and_sign(getkey):
    k = 4
    iso = jax.random.normal(getkey(), (4000, k))
    np.testing.assert_allclose(L.von_neumann_entropy(iso), np.log(k), rtol=2e-3)
    collapsed = jax.random.normal(getkey(), (500, 1)) * jnp.array([[1.0, 2.0, -1.0, 0.5]])
    # rank one: S = 0 up to the eigensolver's rounding, which float32 puts near 1e-6 (eigenvalues of
    # order eps_32 ~ 1e-7 enter as -w log w); in float64 the k - 1 zero eigenvalues sit at the 1e-12
    # floor, so S <= 3 * 1e-12 * log(1e12) < 1e-10
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        assert float(L.von_neumann_entropy(jnp.asarray(collapsed, jnp.float64))) < 1e-10
    finally:
        jax.config.update("jax_enable_x64", old)
    # maximising S (descending -S) spreads a nearly collapsed code over more directions
    Z = collapsed + 0.05 * jax.random.normal(getkey(), (500, k))
    S0 = float(L.von_neumann_entropy(Z))
    g = jax.grad(lambda z: -L.von_neumann_entropy(z))(Z)
    assert float(L.von_neumann_entropy(Z - 0.5 * g)) > S0


def test_vamp_score_closed_forms(getkey):
    X = jax.random.normal(getkey(), (2000, 3))
    M = jnp.array([[1.0, 0.5, 0.0], [0.0, 2.0, 1.0], [0.3, 0.0, 1.0]])
    # deterministic invertible linear dynamics: every whitened singular value is 1
    np.testing.assert_allclose(L.vamp(X, X @ M.T, reg=0.0), 3.0, rtol=1e-4)
    # independent features: score ~ k^2 / n (chance level)
    assert float(L.vamp(X, jax.random.normal(getkey(), (2000, 3)), reg=0.0)) < 0.03
    # AR(1) with correlation rho in 1-D: score = rho^2
    rho = 0.6
    x = jax.random.normal(getkey(), (20000, 1))
    y = rho * x + np.sqrt(1 - rho**2) * jax.random.normal(getkey(), (20000, 1))
    np.testing.assert_allclose(L.vamp(x, y, reg=0.0), rho**2, atol=0.02)


def test_autoencoder_shapes_grad_and_estimator(getkey):
    ae = jr.koopman.KoopmanAutoencoder(
        jr.koopman.SkipLinear(jr.nn.MLP(2, 3, 16, 1, key=getkey()), 2, 3, key=getkey()),
        jr.koopman.Generator(3, "stable", key=getkey()),
        jr.nn.MLP(3, 2, 16, 1, key=getkey()),
    )
    ts = jnp.linspace(0.0, 1.0, 5)
    x = jnp.array([0.3, -0.2])

    # one compiled program for every shape/identity check (eager calls would compile op by op)
    @eqx.filter_jit
    def calls(ae, x, batch):
        return ae(x, ts), jax.vmap(lambda x: ae(x, ts))(batch), ae.latent_rollout(x, ts)[0], ae.encode(x)

    out, out_b, z0, enc = calls(ae, x, jnp.ones((4, 2)))
    assert out.shape == (5, 2) and out_b.shape == (4, 5, 2)
    np.testing.assert_allclose(z0, enc, rtol=1e-6)
    traj = jax.random.normal(getkey(), (4, 5, 2))
    grads = eqx.filter_jit(eqx.filter_grad(
        lambda m: L.prediction(m, traj, 0.25) + L.linearity(m, traj, 0.25)))(ae)
    gA = grads.generator.skew_weight
    assert bool(jnp.all(jnp.isfinite(gA))) and float(jnp.abs(gA).max()) > 0
    eigA = np.sort_complex(np.linalg.eigvals(ae.generator.matrix()))
    for generator in (False, True):
        est = ae.as_estimator(traj.reshape(-1, 2), 0.25, generator=generator)
        mu = np.sort_complex(np.asarray(jr.koopman.eig(est).continuous_eigenvalues))
        np.testing.assert_allclose(mu, eigA, atol=1e-4)
    # an anchored SkipLinear maps its anchor to 0 and differs from the plain map by a constant
    a = jnp.array([0.5, -1.0])
    plain = jr.koopman.SkipLinear(jr.nn.MLP(2, 3, 8, 1, key=getkey()), 2, 3, key=getkey())
    anchored = jr.koopman.SkipLinear(plain.backbone, 2, 3, key=getkey(), anchor=a)
    anchored = eqx.tree_at(lambda m: m.linear, anchored, plain.linear)
    at_a, odd_anchored, odd_plain = eqx.filter_jit(
        lambda p, q: (q(a), q(x) - q(-x), p(x) - p(-x)))(plain, anchored)
    np.testing.assert_allclose(at_a, 0.0, atol=1e-6)
    np.testing.assert_allclose(odd_anchored, odd_plain, atol=1e-6)
    with pytest.raises(ValueError, match="anchor must be finite with shape"):
        jr.koopman.SkipLinear(plain.backbone, 2, 3, key=getkey(), anchor=jnp.zeros(3))
    with pytest.raises(TypeError, match="AbstractGenerator"):
        jr.koopman.KoopmanAutoencoder(lambda x: x, jnp.eye(2), lambda z: z)
    with pytest.raises(ValueError, match=r"traj must have shape \(batch, n_t, d\)"):
        L.prediction(ae, jnp.ones((5, 2)), 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_autoencoder_slow_manifold_eigenvalues_few_percent(tmp_path, seed):
    # the shipped config (3000 steps): the 2-D latent must find mu = -0.1 and lam = -1 on every seed
    from jaxrep._tasks import get_task

    cfg = jr.config.load("koopman_slow_manifold", overrides=[f"train.seed={seed}"])
    summary = get_task("koopman").run(cfg, tmp_path, resume=False, progress=False)
    mu = np.sort(summary["eigenvalues_real"])
    np.testing.assert_allclose(mu, [-1.0, -0.1], rtol=0.05)
    assert summary["eigenvalue_rel_error"] < 0.05 and summary["forecast_rel_l2"] < 0.1


def test_task_runs_and_writes_figures(tmp_path):
    from jaxrep._tasks import get_task

    cfg = jr.config.load(
        "koopman_slow_manifold",
        overrides=["train.steps=40", "train.steps_per_call=20", "train.log_every=20", "train.batch_size=8",
                   "system.n_traj=8", "system.n_test=4", "system.n_steps=8", "koopman.horizon=4",
                   "koopman.entropy=0.01", "koopman.l1=0.001"],
    )
    summary = get_task("koopman").run(cfg, tmp_path, resume=False, progress=False)
    json.dumps(summary)
    for name in ("spectrum", "forecast", "eigenfunctions"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 0
    assert len(summary["eigenvalues_real"]) == 2 and len(summary["residuals"]) == 2
    assert np.isfinite(summary["forecast_rel_l2"])
    # the eigenvalue error: both pairings of the learned (mu_1, mu_2) with (-0.1, -1), the one with the
    # smaller total relative error, its larger entry
    got = np.array(summary["eigenvalues_real"]) + 1j * np.array(summary["eigenvalues_imag"])
    want = np.array([-0.1, -1.0])
    pairings = [np.abs(got[list(p)] - want) / np.abs(want) for p in ((0, 1), (1, 0))]
    best = min(pairings, key=np.sum)
    np.testing.assert_allclose(summary["eigenvalue_rel_error"], best.max(), rtol=1e-6)
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines() if r]
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert {"reconstruction", "linearity", "prediction", "l1", "entropy"} <= set(rows[-1])
    with pytest.raises(ValueError, match="koopman.latent_dim"):
        jr.config.load("koopman_slow_manifold", overrides=["koopman.latent_dim=0"])


def test_plots_return_figures():
    import matplotlib.figure

    ev = np.array([-0.1 + 1j, -0.1 - 1j, -1.0])
    re, im = np.meshgrid(np.linspace(-2, 1, 5), np.linspace(-2, 2, 5))
    figs = [
        jr.plot.koopman_spectrum(ev, [1e-3, 1e-3, 0.2], reference=[-1.0],
                                 pseudospectrum=(re, im, np.abs(re + 1j * im) + 0.1)),
        jr.plot.koopman_spectrum(np.exp(ev), continuous=False),
        jr.plot.koopman_eigenfunctions(lambda x: jnp.stack([x[0], x[1] ** 2]), (-1, 1), (-1, 1), n=10),
        jr.plot.koopman_forecast(np.arange(5), np.ones((5, 2)), np.zeros((5, 2))),
    ]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
