"""Trainer: convergence, exact resume after a hard kill, NaN stop, corrupted checkpoints, sharding."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import jaxrep

SCRIPT = pathlib.Path(__file__).parent / "scripts" / "train_linear.py"


def _cpu_env():
    """Environment for a subprocess that emulates several devices on the host CPU (also on a GPU machine)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    if os.environ.get("JAXREP_TEST_XLA_FLAGS"):  # the suite's compile-time flags (conftest.py)
        env["XLA_FLAGS"] = os.environ["JAXREP_TEST_XLA_FLAGS"]
    return env


def _run_snippet(code: str, n_devices: int):
    """Run `code` in a fresh interpreter with `n_devices` virtual CPU devices."""
    env = _cpu_env()
    devices = os.environ.get("JAXREP_TEST_XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={n_devices}"
    env["XLA_FLAGS"] = devices.strip()
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def _run(*args, check=True):
    env = _cpu_env()
    proc = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"driver failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _linear_problem(key, n=256):
    kx, kw = jr.split(key)
    X = jr.normal(kx, (n, 3))
    w_true = jnp.array([[1.0], [-2.0], [0.5]])
    Y = X @ w_true + 0.3 + 0.01 * jr.normal(kw, (n, 1))
    return X, Y


def _mse(model, batch, key):
    x, y = batch
    err = jnp.mean((jax.vmap(model)(x) - y) ** 2)
    return err, {"rmse": jnp.sqrt(err)}


def test_fit_converges_to_least_squares(getkey):
    X, Y = _linear_problem(getkey())
    model = jaxrep.nn.MLP(3, 1, 8, 0, key=getkey())  # depth 0: an affine map
    full = lambda key, step: (X, Y)  # noqa: E731 - full-batch sampler
    model, hist = jaxrep.train.fit(model, _mse, full, optax.adam(5e-2), steps=600, key=getkey(),
                                   progress=False, steps_per_call=50)
    A = np.concatenate([np.asarray(X), np.ones((X.shape[0], 1))], 1)
    coef = np.linalg.lstsq(A, np.asarray(Y), rcond=None)[0]
    layer = model.layers[0]
    np.testing.assert_allclose(np.asarray(layer.weight).ravel(), coef[:3, 0], atol=2e-3)
    np.testing.assert_allclose(float(layer.bias[0]), coef[3, 0], atol=2e-3)
    assert hist["step"][-1] == 600 and hist["loss"][-1] < hist["loss"][0]


def test_fused_steps_match_single_steps(getkey):
    X, Y = _linear_problem(getkey())
    model = jaxrep.nn.MLP(3, 1, 16, 1, key=getkey())
    key = getkey()
    data = jaxrep.train.minibatches((X, Y), 32)
    m1, h1 = jaxrep.train.fit(model, _mse, data, optax.adam(1e-2), steps=30, key=key, progress=False)
    m2, h2 = jaxrep.train.fit(model, _mse, data, optax.adam(1e-2), steps=30, key=key, progress=False,
                              steps_per_call=7)
    assert eqx.tree_equal(m1, m2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-5)


# Slow-only (a CI-time cut): test_resume_across_phase_boundary_after_hard_kills kills and resumes a
# sampler run twice in the fast suite, and test_multihost.py::test_checkpoints_are_written_once_and_restore
# [iterable] resumes an iterable-fed run through `fit(resume=True)`.
@pytest.mark.slow
@pytest.mark.parametrize("iterable", [False, True])
def test_resume_after_hard_kill_is_bit_identical(tmp_path, iterable):
    flag = ["--iterable"] if iterable else []
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _run(straight, 16, *flag)
    proc = _run(killed, 16, "--kill-at", 10, *flag, check=False)
    assert proc.returncode == -9, proc.stderr[-2000:]  # really killed, no clean shutdown
    assert not (killed / "final.npy").exists()
    assert 8 in [int(p.name) for p in (killed / "ckpt").iterdir() if p.name.isdigit()]
    _run(killed, 16, "--resume", *flag)
    a, b = np.load(straight / "final.npy"), np.load(killed / "final.npy")
    assert a.shape == b.shape
    assert np.array_equal(a, b), f"max diff {np.max(np.abs(a - b))}"
    # The metrics log reads as one run: every step once, in order.
    steps = [json.loads(l)["step"] for l in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 17))


def test_resume_across_phase_boundary_after_hard_kills(tmp_path):
    # Adam for 6 steps, then L-BFGS on a fixed batch: killed exactly at the phase boundary (the step-6
    # checkpoint holds Adam's state), resumed into L-BFGS, killed again mid-L-BFGS, resumed to the end.
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _run(straight, 14, "--phases")
    assert _run(killed, 14, "--phases", "--kill-at", 6, check=False).returncode == -9
    assert _run(killed, 14, "--phases", "--resume", "--kill-at", 10, check=False).returncode == -9
    _run(killed, 14, "--phases", "--resume")
    a, b = np.load(straight / "final.npy"), np.load(killed / "final.npy")
    assert np.array_equal(a, b), f"max diff {np.max(np.abs(a - b))}"
    steps = [json.loads(l)["step"] for l in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 15))


def test_lbfgs_phase_reaches_least_squares_optimum(getkey):
    # A quadratic objective: after a few Adam steps, L-BFGS (zoom line search, fixed full batch) must land
    # on the normal-equations solution, far closer than Adam alone in the same number of steps.
    X, Y = _linear_problem(getkey(), 128)
    model = jaxrep.nn.MLP(3, 1, 8, 0, key=getkey())
    full = lambda key, step: (X, Y)  # noqa: E731
    phases = [jaxrep.train.Phase(optax.adam(1e-2), 5), jaxrep.train.Phase(optax.lbfgs(), 30, resample=False)]
    m_lb, h = jaxrep.train.fit(model, _mse, full, phases=phases, key=getkey(), steps_per_call=5, progress=False)
    m_ad, _ = jaxrep.train.fit(model, _mse, full, optax.adam(1e-2), steps=35, key=getkey(), steps_per_call=5,
                               progress=False)
    A = np.concatenate([np.asarray(X), np.ones((X.shape[0], 1))], 1)
    coef = np.linalg.lstsq(A, np.asarray(Y), rcond=None)[0][:, 0]
    got = lambda m: np.concatenate([np.asarray(m.layers[0].weight).ravel(), np.asarray(m.layers[0].bias)])  # noqa: E731
    assert np.max(np.abs(got(m_lb) - coef)) < 1e-4
    assert np.max(np.abs(got(m_ad) - coef)) > 100 * np.max(np.abs(got(m_lb) - coef))
    assert list(h["step"]) == list(range(1, 36))


def test_bfgs_phase_from_config_reaches_least_squares_optimum(getkey):
    # `train.phases: [{optimizer: adam}, {optimizer: bfgs}]` as the config layer builds it: the dense
    # quasi-Newton phase (fixed batch, zoom line search) lands on the normal-equations solution of the
    # quadratic objective, and its state holds the full 4 x 4 inverse-Hessian approximation.
    from jaxrep._tasks._optim import make_phases
    from jaxrep.config import PhaseConfig, TrainConfig

    X, Y = _linear_problem(getkey(), 128)
    model = jaxrep.nn.MLP(3, 1, 8, 0, key=getkey())
    cfg = TrainConfig(phases=(PhaseConfig("adam", 5, learning_rate=1e-2), PhaseConfig("bfgs", 15)))
    phases = [ph for ph, _ in make_phases(cfg)]
    assert phases[1].resample is False
    state = phases[1].optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    assert any(getattr(leaf, "shape", None) == (4, 4) for leaf in jax.tree_util.tree_leaves(state))
    full = lambda key, step: (X, Y)  # noqa: E731
    m, h = jaxrep.train.fit(model, _mse, full, phases=phases, key=getkey(), steps_per_call=5, progress=False)
    A = np.concatenate([np.asarray(X), np.ones((X.shape[0], 1))], 1)
    coef = np.linalg.lstsq(A, np.asarray(Y), rcond=None)[0][:, 0]
    got = np.concatenate([np.asarray(m.layers[0].weight).ravel(), np.asarray(m.layers[0].bias)])
    assert np.max(np.abs(got - coef)) < 1e-4
    assert list(h["step"]) == list(range(1, 21))


def test_stateful_loss_state_is_checkpointed_and_resumed(tmp_path, getkey):
    # loss_state (e.g. adaptive loss weights) lives in the TrainState: a run cut at a checkpoint and
    # resumed equals the uninterrupted one, and the state really evolves (an EMA of the loss here).
    X, Y = _linear_problem(getkey(), 32)

    def loss(m, batch, key, state):
        err, aux = _mse(m, batch, key)
        ema = 0.5 * state["ema"] + 0.5 * jax.lax.stop_gradient(err)
        return err * (1.0 + ema), {**aux, "ema": ema}, {"ema": ema}

    data = jaxrep.train.minibatches((X, Y), 8)
    model = jaxrep.nn.MLP(3, 1, 4, 1, key=getkey())
    key = getkey()
    kw = dict(key=key, progress=False, steps_per_call=3, loss_state={"ema": 0.0})
    m1, h1 = jaxrep.train.fit(model, loss, data, optax.adam(1e-2), steps=12, **kw)
    jaxrep.train.fit(model, loss, data, optax.adam(1e-2), steps=6, checkpoint_dir=tmp_path, **kw)
    m2, h2 = jaxrep.train.fit(model, loss, data, optax.adam(1e-2), steps=12, checkpoint_dir=tmp_path, resume=True, **kw)
    assert list(h2["step"]) == list(range(1, 13))  # the whole run: steps 1-6 read back from the log
    assert eqx.tree_equal(m1, m2)
    np.testing.assert_array_equal(h1["ema"], h2["ema"])
    assert h1["ema"][-1] != h1["ema"][0]


def test_fixed_batch_phase_draws_one_batch(getkey):
    seen = []

    def sampler(key, step):
        return jr.normal(key, (4, 1))

    def loss(m, batch, key):
        jax.debug.callback(lambda b: seen.append(np.asarray(b).copy()), batch)
        return jnp.mean((jax.vmap(m)(batch)) ** 2), {}

    model = jaxrep.nn.MLP(1, 1, 4, 1, key=getkey())
    phases = [jaxrep.train.Phase(optax.sgd(1e-3), 2), jaxrep.train.Phase(optax.sgd(1e-3), 3, resample=False)]
    jaxrep.train.fit(model, loss, sampler, phases=phases, key=getkey(), progress=False)
    assert len(seen) == 5
    assert not np.array_equal(seen[0], seen[1])                      # resampled in phase 0
    assert all(np.array_equal(seen[2], b) for b in seen[3:])         # one fixed batch in phase 1


def test_phase_select_chooses_the_batch_once_and_resume_reads_it_back(tmp_path, getkey):
    # A fixed phase with `select`: the phase trains on select(model entering the phase, drawn batch, key),
    # computed once; a run stopped inside the phase and resumed trains on the saved batch (the model at
    # the phase start is no longer there) and equals the uninterrupted run bit for bit.
    seen = []

    def sampler(key, step):
        return {"x": jr.normal(key, (8, 1))}

    def select(m, batch, key):  # the 4 points where the model is largest, moved by it (and noise)
        y = jax.vmap(m)(batch["x"])
        idx = jnp.argsort(-jnp.abs(y[:, 0]))[:4]
        return {"x": batch["x"][idx] + 0.1 * y[idx] + 1e-3 * jr.normal(key, (4, 1))}

    def loss(m, batch, key):
        jax.debug.callback(lambda b: seen.append(np.asarray(b).copy()), batch["x"])
        return jnp.mean((jax.vmap(m)(batch["x"]) - 1.0) ** 2), {}

    model = jaxrep.nn.MLP(1, 1, 4, 1, key=getkey())
    key = getkey()
    phases = [jaxrep.train.Phase(optax.adam(1e-2), 4),
              jaxrep.train.Phase(optax.adam(1e-2), 6, resample=False, select=select)]
    kw = dict(key=key, progress=False, steps_per_call=2)
    m1, _ = jaxrep.train.fit(model, loss, sampler, phases=phases, **kw)
    assert len(seen) == 10 and all(b.shape == (4, 1) for b in seen[4:])
    assert all(np.array_equal(seen[4], b) for b in seen[5:])
    # the chosen batch is select's output on the model after phase 0 and the phase's drawn batch
    m_mid, _ = jaxrep.train.fit(model, loss, sampler, phases=phases[:1], **kw)
    k_batch = jr.split(jr.fold_in(jaxrep.train._state.raw_key(key), 1))[0]
    k_select = jr.split(jr.fold_in(jaxrep.train._state.raw_key(key), 1), 3)[2]
    expected = select(m_mid, sampler(k_batch, 4), k_select)["x"]
    np.testing.assert_allclose(seen[4], expected, rtol=1e-6)

    short = [phases[0], dataclasses.replace(phases[1], steps=2)]  # stop inside phase 1 (step 6 of 10)
    jaxrep.train.fit(model, loss, sampler, phases=short, checkpoint_dir=tmp_path, **kw)
    saved = tmp_path / "phase_1_batch.npz"
    assert saved.exists()
    m2, _ = jaxrep.train.fit(model, loss, sampler, phases=phases, checkpoint_dir=tmp_path, resume=True, **kw)
    assert eqx.tree_equal(m1, m2)  # selecting again with the step-6 model would move the points
    # a damaged saved batch is refused with a one-line error, not trained on
    jaxrep.train.fit(model, loss, sampler, phases=short, checkpoint_dir=tmp_path / "b", **kw)
    saved_b = tmp_path / "b" / "phase_1_batch.npz"
    for damaged in (saved_b.read_bytes()[:100], b"not an npz"):  # truncated (a bad zip), not a zip at all
        saved_b.write_bytes(damaged)
        with pytest.raises(jaxrep.train.CheckpointError, match="phase 1's selected batch"):
            jaxrep.train.fit(model, loss, sampler, phases=phases, checkpoint_dir=tmp_path / "b", resume=True, **kw)
    with pytest.raises(ValueError, match="Phase.select"):
        jaxrep.train.Phase(optax.adam(1e-2), 3, select=select)  # a resampling phase


def test_sharded_matches_single_device(tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    _run(single, 8)
    out = _run(sharded, 8, "--mesh", 4)
    assert "devices 4" in out.stdout
    np.testing.assert_allclose(np.load(single / "final.npy"), np.load(sharded / "final.npy"),
                               rtol=1e-4, atol=1e-6)


def test_sharded_batch_is_distributed():
    code = (
        "import jax.numpy as jnp, jaxrep\n"
        "mesh = jaxrep.train.make_mesh()\n"
        "x = jaxrep.train.shard_batch(jnp.ones((8, 3)), mesh)\n"
        "print(len(x.sharding.device_set), x.addressable_shards[0].data.shape)\n"
    )
    out = _run_snippet(code, n_devices=4)
    assert out.stdout.split() == ["4", "(2,", "3)"], out.stderr[-2000:]


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path, getkey):
    X, Y = _linear_problem(getkey(), 64)

    class Data:
        def __iter__(self):
            for i in range(100):
                yield (X, Y * jnp.nan) if i == 6 else (X, Y)  # step 7 sees a NaN batch

    model = jaxrep.nn.MLP(3, 1, 8, 1, key=getkey())
    ckpt = tmp_path / "ckpt"
    with pytest.raises(jaxrep.train.NonFiniteLossError, match="step 7") as err:
        jaxrep.train.fit(model, _mse, Data(), optax.adam(1e-2), steps=20, key=getkey(),
                         checkpoint_dir=ckpt, checkpoint_every=5, steps_per_call=3, progress=False)
    e = err.value
    assert e.step == 7 and e.metric in ("loss", "rmse") and e.checkpoint_step == 5
    assert "loss" in str(e) or "rmse" in str(e)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(eqx.filter(e.model, eqx.is_array)))
    assert jaxrep.train.Checkpointer(ckpt).all_steps() == [5]
    # The checkpoint left behind is good: resuming from it on clean data works.
    clean = [(X, Y)] * 20
    m, h = jaxrep.train.fit(model, _mse, clean, optax.adam(1e-2), steps=8, key=getkey(),
                            checkpoint_dir=ckpt, resume=True, progress=False)
    assert list(h["step"]) == list(range(1, 9)) and np.all(np.isfinite(h["loss"]))  # steps 6-8 trained now


def _corrupt(step_dir: pathlib.Path):
    files = [p for p in step_dir.rglob("*") if p.is_file() and p.stat().st_size > 0]
    for p in files:
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])


def test_truncated_newest_checkpoint_falls_back(tmp_path, getkey, capsys):
    X, Y = _linear_problem(getkey(), 64)
    model = jaxrep.nn.MLP(3, 1, 8, 1, key=getkey())
    key = getkey()
    data = jaxrep.train.minibatches((X, Y), 16)
    kw = dict(key=key, checkpoint_every=5, progress=False)
    straight, _ = jaxrep.train.fit(model, _mse, data, optax.adam(1e-2), steps=10, **kw)
    ckpt = tmp_path / "ckpt"
    jaxrep.train.fit(model, _mse, data, optax.adam(1e-2), steps=10, checkpoint_dir=ckpt, **kw)
    _corrupt(ckpt / "10")
    with pytest.warns(RuntimeWarning, match="step 10"):
        resumed, hist = jaxrep.train.fit(model, _mse, data, optax.adam(1e-2), steps=10,
                                         checkpoint_dir=ckpt, resume=True, **kw)
    assert list(hist["step"]) == list(range(1, 11))  # restarted from step 5, steps 1-5 from the log
    assert "resumed from the checkpoint at step 5" in capsys.readouterr().err
    assert eqx.tree_equal(straight, resumed)


def test_resume_without_checkpoint_starts_fresh(tmp_path, getkey):
    X, Y = _linear_problem(getkey(), 32)
    model = jaxrep.nn.MLP(3, 1, 4, 1, key=getkey())
    _, hist = jaxrep.train.fit(model, _mse, [(X, Y)] * 3, optax.sgd(1e-2), steps=3, key=getkey(),
                               checkpoint_dir=tmp_path / "c", resume=True, progress=False)
    assert list(hist["step"]) == [1, 2, 3]


def test_bad_arguments(getkey):
    model = jaxrep.nn.MLP(1, 1, 4, 1, key=getkey())
    data = lambda key, step: jnp.zeros((2, 1))  # noqa: E731
    loss = lambda m, b, k: (jnp.sum(b), {})  # noqa: E731
    with pytest.raises(ValueError, match="steps"):
        jaxrep.train.fit(model, loss, data, optax.sgd(0.1), steps=0, key=getkey())
    with pytest.raises(ValueError, match="checkpoint_dir"):
        jaxrep.train.fit(model, loss, data, optax.sgd(0.1), steps=1, key=getkey(), resume=True)
    with pytest.raises(TypeError, match="data"):
        jaxrep.train.fit(model, loss, 3, optax.sgd(0.1), steps=1, key=getkey())
    with pytest.raises(ValueError, match="phases"):
        jaxrep.train.fit(model, loss, data, optax.sgd(0.1), steps=1, key=getkey(),
                         phases=[jaxrep.train.Phase(optax.sgd(0.1), 1)])
    with pytest.raises(ValueError, match="Phase.steps"):
        jaxrep.train.Phase(optax.sgd(0.1), 0)
    with pytest.raises(TypeError, match="Phase.optimizer"):
        jaxrep.train.Phase("adam", 10)
    with pytest.raises(ValueError, match="resample=False"):
        jaxrep.train.fit(model, loss, [jnp.zeros((2, 1))], phases=[jaxrep.train.Phase(optax.sgd(0.1), 1, resample=False)],
                         key=getkey(), progress=False)
    with pytest.raises(ValueError, match="ran out"):
        jaxrep.train.fit(model, loss, [jnp.zeros((2, 1))], optax.sgd(0.1), steps=2, key=getkey(),
                         progress=False)


def test_minibatches_is_pure(getkey):
    X = jnp.arange(20.0)[:, None]
    sample = jaxrep.train.minibatches((X, 2 * X), 5)
    k = getkey()
    a, b = sample(k, 0), sample(k, 0)
    assert jnp.array_equal(a[0], b[0]) and jnp.array_equal(a[1], 2 * a[0])
    with pytest.raises(ValueError, match="leading size"):
        jaxrep.train.minibatches((X, X[:3]), 2)


def test_second_fit_call_does_not_retrace(getkey):
    X, Y = _linear_problem(getkey(), 32)
    traces = []

    def loss(m, batch, key):
        traces.append(1)  # runs only while tracing
        return _mse(m, batch, key)

    data = jaxrep.train.minibatches((X, Y), 8)
    opt = optax.adam(1e-2)
    model = jaxrep.nn.MLP(3, 1, 4, 1, key=getkey())
    jaxrep.train.fit(model, loss, data, opt, steps=4, key=getkey(), steps_per_call=2, progress=False)
    n = len(traces)
    assert n >= 1
    jaxrep.train.fit(model, loss, data, opt, steps=6, key=getkey(), steps_per_call=2, progress=False)
    assert len(traces) == n


@pytest.mark.parametrize("iterable", [False, True])
def test_fit_releases_its_loss_and_compiled_program(getkey, iterable):
    # A sweep in one process builds a fresh loss closure per run. Nothing may keep it (and the compiled
    # program traced from it) alive once `fit` returns and the caller drops it: otherwise every run pins
    # its executable and a long sweep runs out of memory mappings ("Unable to allocate section memory").
    import gc
    import weakref

    X, Y = _linear_problem(getkey(), 16)
    refs = []
    for i in range(2):
        scale = float(i + 1)

        def loss(m, batch, key):
            l, aux = _mse(m, batch, key)
            return scale * l, aux

        data = jaxrep.train.minibatches((X, Y), 8) if iterable else (lambda k, s: (X, Y))
        model = jaxrep.nn.MLP(3, 1, 4, 1, key=getkey())
        jaxrep.train.fit(model, loss, data, optax.adam(1e-2), steps=2, key=getkey(), steps_per_call=2,
                         progress=False)
        refs.append(weakref.ref(loss))
        del loss, data
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_fit_accepts_model_committed_to_one_device(tmp_path):
    code = (
        "import jax, jax.numpy as jnp, jax.random as jr, optax, jaxrep\n"
        "m = jax.device_put(jaxrep.nn.MLP(2, 1, 4, 1, key=jr.PRNGKey(0)), jax.devices()[1])\n"
        "X = jnp.ones((8, 2))\n"
        "loss = lambda m, b, k: (jnp.mean(jax.vmap(m)(b) ** 2), {})\n"
        "m, h = jaxrep.train.fit(m, loss, lambda k, s: X, optax.sgd(0.1), steps=2, key=jr.PRNGKey(1),\n"
        "                        mesh=jaxrep.train.make_mesh(), progress=False)\n"
        "print('ok', len(h['loss']))\n"
    )
    out = _run_snippet(code, n_devices=2)
    assert out.stdout.split() == ["ok", "2"], out.stderr[-2000:]
