"""Parameter EMA (`jaxrep.train.ema`): same trajectory, the closed-form weighted mean, through `fit`."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrep as jrp

pytestmark = pytest.mark.usefixtures("x64_module")


class Quad(eqx.Module):
    w: jax.Array
    name: str = eqx.field(static=True, default="quad")


def _loss(model, batch, key):
    return 0.5 * jnp.sum((model.w - batch) ** 2), {}


TARGET = jnp.array([1.0, -2.0, 3.0])
M0 = Quad(jnp.zeros(3))


def _noisy_target(key, step):
    return TARGET + 0.5 * jax.random.normal(key, (3,))


def test_ema_leaves_the_trajectory_unchanged_and_equals_the_weighted_mean_of_the_iterates():
    target = jnp.array([1.0, -2.0, 3.0])
    rho, steps = 0.9, 7
    base = optax.sgd(0.3)
    wrapped = jrp.train.ema(base, rho)
    m0 = Quad(jnp.zeros(3))

    def run(opt):
        params = eqx.filter(m0, eqx.is_inexact_array)
        state = opt.init(params)
        iterates = []
        for _ in range(steps):
            grads = jax.grad(lambda p: _loss(eqx.combine(p, m0), target, None)[0])(params)
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            iterates.append(np.asarray(params.w))
        return params, state, np.stack(iterates)

    p_plain, _, it_plain = run(base)
    p_ema, state, it_ema = run(wrapped)
    np.testing.assert_array_equal(it_plain, it_ema)
    # closed form: sum_s (1 - rho) rho^(k - s) theta_s / (1 - rho^k), s = 1..k
    weights = (1 - rho) * rho ** np.arange(steps - 1, -1, -1)
    expected = weights @ it_plain / (1 - rho**steps)
    averaged = jrp.train.ema_model(eqx.combine(p_ema, m0), state)
    np.testing.assert_allclose(np.asarray(averaged.w), expected, rtol=1e-12)
    assert averaged.name == "quad"
    assert int(state.count) == steps


def test_ema_through_fit_and_a_resumed_run_matches_an_uninterrupted_one(tmp_path):
    key, m0, target, data = jax.random.PRNGKey(0), M0, TARGET, _noisy_target
    opt = jrp.train.ema(optax.adam(0.05), 0.95)
    full, _, state = jrp.train.fit(m0, _loss, data, opt, steps=300, key=key, progress=False,
                                   return_opt_state=True)
    avg_full = jrp.train.ema_model(full, state)
    # the average of noisy iterates is closer to the optimum than the last iterate
    assert float(jnp.linalg.norm(avg_full.w - target)) < float(jnp.linalg.norm(full.w - target))

    ck = tmp_path / "ck"
    jrp.train.fit(m0, _loss, data, opt, steps=150, key=key, progress=False, checkpoint_dir=ck,
                  checkpoint_every=150)
    resumed, _, state_r = jrp.train.fit(m0, _loss, data, opt, steps=300, key=key, progress=False,
                                        checkpoint_dir=ck, checkpoint_every=150, resume=True,
                                        return_opt_state=True)
    np.testing.assert_allclose(np.asarray(jrp.train.ema_model(resumed, state_r).w), np.asarray(avg_full.w),
                               rtol=1e-12)


def test_ema_bad_input():
    with pytest.raises(ValueError, match="decay must be a float in"):
        jrp.train.ema(optax.sgd(0.1), 1.0)
    with pytest.raises(ValueError, match="decay must be a float in"):
        jrp.train.ema(optax.sgd(0.1), -0.1)
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation"):
        jrp.train.ema("adam")
    m = Quad(jnp.zeros(3))
    plain_state = optax.sgd(0.1).init(eqx.filter(m, eqx.is_inexact_array))
    with pytest.raises(ValueError, match="exactly one EmaState"):
        jrp.train.ema_model(m, plain_state)
    state = jrp.train.ema(optax.sgd(0.1)).init(eqx.filter(m, eqx.is_inexact_array))
    assert jrp.train.ema_model(m, state) is m
    with pytest.raises(ValueError, match="does not match the model"):
        jrp.train.ema_model((m, m), state)
    with pytest.raises(ValueError, match="does not match the model"):
        jrp.train.ema_model(Quad(jnp.zeros(4)), state)


def test_train_ema_in_a_task_config_returns_the_averaged_model(tmp_path):
    from jaxrep._tasks._common import train
    from jaxrep.config import TrainConfig

    key, m0, data = jax.random.PRNGKey(1), M0, _noisy_target
    cfg = TrainConfig(steps=60, learning_rate=0.05, ema=0.9, log_every=10, steps_per_call=10, checkpoint_every=60)
    model, history = train(m0, _loss, data, cfg, tmp_path / "run", key=key, resume=False, progress=False)
    ref, _, state = jrp.train.fit(m0, _loss, data, jrp.train.ema(optax.adam(0.05), 0.9), steps=60, key=key,
                                  progress=False, steps_per_call=10, log_every=10, return_opt_state=True)
    np.testing.assert_allclose(np.asarray(model.w), np.asarray(jrp.train.ema_model(ref, state).w), rtol=1e-12)
    assert not np.allclose(np.asarray(model.w), np.asarray(ref.w))  # the average, not the last iterate
    assert list(history["step"])[-1] == 60


def test_train_ema_config_errors():
    from jaxrep import config

    with pytest.raises(ValueError, match=r"train.ema must be a decay in \(0, 1\)"):
        config.load("interpolant_moons", overrides=["train.ema=1.0"])
    with pytest.raises(ValueError, match="train.ema averages one optimiser's iterates"):
        config.load("burgers", overrides=["train.ema=0.999"])
    with pytest.raises(ValueError, match="train.ema is not read by task: pinn"):
        config.load("burgers", overrides=["train.phases=[]", "train.ema=0.999"])
    assert config.load("interpolant_moons", overrides=["train.ema=0.999"]).train.ema == 0.999
