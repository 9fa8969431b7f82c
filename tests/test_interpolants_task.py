"""`task: interpolant` end to end (tiny), config validation, and the checkerboard NLL run (slow)."""

import json
import math
import pathlib

import pytest

from jaxrep import config as jconfig

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "jaxrep" / "configs" / "interpolant_checkerboard.yaml"


def _run(cfg, out):
    from jaxrep._tasks import interpolant

    return interpolant.run(cfg, out, resume=False, progress=False)


def test_task_runs_and_writes_figures(tmp_path):
    cfg = jconfig.load(CONFIG, overrides=[
        "train.steps=40", "train.steps_per_call=20", "train.batch_size=64", "train.checkpoint_every=20",
        "train.log_every=20", "model.width_size=16", "model.depth=1", "data.n_eval=64",
        "sample.density_grid=4", "sample.rtol=1e-3", "sample.atol=1e-3",
    ])
    summary = _run(cfg, tmp_path)
    json.dumps(summary)  # JSON-serialisable
    # every evaluation point lies in the support, so the exact NLL is the entropy ln 32
    assert summary["nll_exact"] == pytest.approx(math.log(32.0), rel=1e-6)
    assert summary["nll"] > summary["nll_exact"] - 0.5  # a model cannot beat the entropy by much on 64 points
    assert summary["w2"] > 0 and math.isfinite(summary["mmd"])
    for name in ("samples", "trajectories", "density"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    assert (tmp_path / "metrics.jsonl").exists() and (tmp_path / "checkpoints").exists()


def test_task_sde_with_denoiser(tmp_path):
    cfg = jconfig.load(CONFIG, overrides=[
        "interpolant.kind=linear", "interpolant.gamma=sqrt", "data.source=8gaussians", "data.target=moons",
        "fields.learn=velocity_denoiser", "sample.method=sde", "sample.steps=10", "sample.eps=0.5",
        "train.steps=20", "train.steps_per_call=20", "train.batch_size=64", "train.checkpoint_every=20",
        "model.width_size=16", "model.depth=1", "data.n_eval=64", "sample.density_grid=0",
    ])
    summary = _run(cfg, tmp_path)
    assert "nll" not in summary  # moons has no closed-form density
    assert summary["solver_steps_mean"] == 10
    assert (tmp_path / "figures" / "samples.png").exists()


def test_task_multimarginal(tmp_path):
    cfg = jconfig.load(CONFIG.parent / "interpolant_multimarginal.yaml", overrides=[
        "data.marginals=[gaussian, 8gaussians, moons]", "train.steps=20", "train.steps_per_call=20",
        "train.batch_size=64", "train.checkpoint_every=20", "model.width_size=16", "model.depth=1",
        "data.n_eval=64", "sample.rtol=1e-3", "sample.atol=1e-3",
    ])
    summary = _run(cfg, tmp_path)
    assert set(summary) >= {"w2_8gaussians", "w2_moons", "transport_cost_edge_1_2", "transport_cost_optimised_1_2"}
    # the optimised path starts at the centroid and descends; it must end on the simplex
    assert sum(summary["optimised_control_point"]) == pytest.approx(1.0, abs=1e-5)
    assert (tmp_path / "figures" / "correspondence.png").stat().st_size > 1000


def test_coupled_loss_equals_the_loss_on_ot_matched_pairs(getkey):
    # coupling.kind=exact: the task's loss is the velocity loss on pairs re-matched by an optimal
    # assignment, here computed independently with scipy on the same minibatch.
    import jax.random as jr
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    import jaxrep.interpolants as ji
    from jaxrep._tasks import interpolant

    cfg = jconfig.load(CONFIG, overrides=["coupling.kind=exact", "model.width_size=8", "model.depth=1"])
    I = interpolant.make_interpolant(cfg.interpolant)
    fields = interpolant.build_fields(cfg, key=getkey())
    x0, x1 = jr.normal(getkey(), (32, 2)), 2.0 + jr.normal(getkey(), (32, 2))
    key = getkey()
    got, _ = interpolant.make_loss(cfg, I)(fields, (x0, x1), key)
    cost = np.sum((np.asarray(x0)[:, None] - np.asarray(x1)[None]) ** 2, -1)
    rows, cols = linear_sum_assignment(cost)
    key_loss, _ = jr.split(key)
    want = ji.velocity_loss(fields.b, I, x0, x1[cols[np.argsort(rows)]], key=jr.split(key_loss)[0],
                            antithetic=cfg.fields.antithetic)
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    unmatched = ji.velocity_loss(fields.b, I, x0, x1, key=jr.split(key_loss)[0], antithetic=cfg.fields.antithetic)
    assert abs(float(unmatched) - float(want)) > 1e-3  # the matching changed the pairs


def test_adaptive_sde_and_denoising_step(getkey):
    # sample.steps=null with the SDE: an adaptive solve whose step count depends on the tolerance; the
    # Tweedie step equals x - sigma(t1) * eta(t1, x) applied to the same (same-key) samples.
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrep._tasks import interpolant

    base = ["interpolant.kind=linear", "interpolant.gamma=sqrt", "fields.learn=velocity_denoiser",
            "sample.method=sde", "sample.eps=0.5", "sample.t_min=0.05", "model.width_size=8", "model.depth=1"]
    cfg = jconfig.load(CONFIG, overrides=base + ["sample.rtol=1e-1", "sample.atol=1e-1"])
    I = interpolant.make_interpolant(cfg.interpolant)
    fields = interpolant.build_fields(cfg, key=getkey())
    x0, key = jax.random.normal(getkey(), (16, 2)), getkey()
    x_loose, n_loose = interpolant.generate(cfg, fields, I, x0, key=key, return_stats=True)
    tight = jconfig.load(CONFIG, overrides=base + ["sample.rtol=1e-3", "sample.atol=1e-3"])
    _, n_tight = interpolant.generate(tight, fields, I, x0, key=key, return_stats=True)
    assert np.all(np.isfinite(np.asarray(x_loose)))
    assert float(jnp.mean(n_tight)) > 1.5 * float(jnp.mean(n_loose))
    den = jconfig.load(CONFIG, overrides=base + ["sample.rtol=1e-1", "sample.atol=1e-1", "sample.denoise=true"])
    x_den = interpolant.generate(den, fields, I, x0, key=key)
    t1 = 1.0 - cfg.sample.t_min
    sigma = jnp.sqrt(I.gamma.squared(t1))
    want = x_loose - sigma * jax.vmap(lambda x: fields.eta(t1, x))(x_loose)
    np.testing.assert_allclose(np.asarray(x_den), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_config_validation():
    with pytest.raises(ValueError, match="did you mean 'source'"):
        jconfig.load(CONFIG, overrides=["data.sorce=gaussian"])
    with pytest.raises(ValueError, match="must be 'zero' for a one-sided"):
        jconfig.load(CONFIG, overrides=["interpolant.gamma=sqrt"])
    with pytest.raises(ValueError, match="expected one of"):
        jconfig.load(CONFIG, overrides=["data.target=swissroll"])
    with pytest.raises(ValueError, match="at least 2 entries"):
        jconfig.load(CONFIG, overrides=["data.marginals=[gaussian]"])
    with pytest.raises(ValueError, match="coupling.epsilon applies to kind 'sinkhorn'"):
        jconfig.load(CONFIG, overrides=["coupling.kind=exact", "coupling.epsilon=0.1"])
    with pytest.raises(ValueError, match="coupling.epsilon must be > 0"):
        jconfig.load(CONFIG, overrides=["coupling.kind=sinkhorn", "coupling.epsilon=0"])
    with pytest.raises(ValueError, match="sample.denoise needs"):
        jconfig.load(CONFIG, overrides=["sample.denoise=true"])
    with pytest.raises(ValueError, match="sample.steps must be >= 1"):
        jconfig.load(CONFIG, overrides=["sample.steps=0"])


@pytest.mark.slow
def test_checkerboard_nll_within_015_nats_of_ln32(tmp_path):
    """The full config (20k steps; ~30 min on 2 shared CPU cores): NLL within 0.15 nats of ln 32.

    The fast tests above (and `test_trained_velocity_gaussian`) cover the same code path: training
    through `fit`, ODE sampling and `log_likelihood` against the exact density.
    """
    cfg = jconfig.load(CONFIG, overrides=["sample.density_grid=0"])
    summary = _run(cfg, tmp_path)
    assert summary["nll_exact"] == pytest.approx(math.log(32.0), rel=1e-6)
    assert abs(summary["nll"] - math.log(32.0)) < 0.15, summary
