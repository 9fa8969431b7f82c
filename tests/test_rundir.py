"""Run directories never lose work: refused resumes change nothing, one writer at a time, status files,
save errors and corrupted checkpoints (the reliability table of the README)."""

import errno
import hashlib
import json
import os
import pathlib
import subprocess
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import pytest

import jaxrep
from jaxrep import _rundir, config
from jaxrep._tasks import regression
from jaxrep.cli import main, run_config

CONFIG = """\
task: regression
data: {target: sine, n_train: 64, n_test: 64}
model: {kind: mlp, width_size: 8, depth: 1, activation: tanh}
train: {steps: 20, batch_size: 16, steps_per_call: 10, checkpoint_every: 10, log_every: 10}
"""


def _config(tmp_path, text=CONFIG, name="small.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _hash(directory: pathlib.Path) -> dict:
    """Every file (and directory) under `directory` with the SHA-256 of its bytes."""
    out = {}
    for p in sorted(directory.rglob("*")):
        rel = str(p.relative_to(directory))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def _status(out) -> dict:
    return json.loads((pathlib.Path(out) / "status.json").read_text())


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _tiny_regression(cfg, run_dir, *, resume, progress):
    """A stand-in for the regression task's runner: the same run directory layout, trained through `fit`
    with this module's loss and optimiser (compiled once for all the tests here, so they stay fast)."""
    model = jaxrep.nn.MLP(2, 1, cfg.model.width_size, 1, key=jax.random.PRNGKey(0))
    _, hist = jaxrep.train.fit(model, _loss, _sampler, _ADAM, steps=cfg.train.steps, key=jax.random.PRNGKey(1),
                               checkpoint_dir=run_dir / "checkpoints", resume=resume, steps_per_call=5,
                               checkpoint_every=cfg.train.checkpoint_every, log_every=cfg.train.log_every,
                               metrics_path=run_dir / "metrics.jsonl", progress=False)
    return {"final_loss": float(hist["loss"][-1]), "steps": [int(s) for s in hist["step"]]}


def test_cli_resume_refuses_a_changed_run_and_changes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(regression, "run", _tiny_regression)
    cfg, out = _config(tmp_path), tmp_path / "run"
    base = ["run", cfg, "--out", str(out), "--no-progress"]
    # --resume where there is no checkpoint yet: says so and starts (what a preemptible job relies on).
    assert main(base + ["--resume"]) == 0
    err = capsys.readouterr().err
    assert f"no checkpoint in {out.absolute() / 'checkpoints'}; starting at step 0" in err
    assert _status(out)["status"] == "completed"
    before = _hash(out)
    assert {"config.yaml", "metrics.jsonl", "summary.json", "status.json", "figures/loss.png",
            "checkpoints/10", "checkpoints/20"} <= set(before)

    kan = _config(tmp_path, "task: kan_fit\n", "kan.yaml")
    for args, words in [
        (["--set", "model.width_size=16"], ["model.width_size (8 -> 16)"]),
        (["--set", "model.width_size=16", "--set", "train.steps=40"], ["model.width_size"]),
        (["--set", "train.learning_rate=0.1"], ["train.learning_rate"]),
        (["--set", "train.phases=[{steps: 5}, {steps: 5}]"], ["train.phases"]),
    ]:
        assert main(base + args + ["--resume"]) == 2
        line = _error_line(capsys)
        assert "ConfigMismatchError" in line and all(w in line for w in words), line
        assert "train.steps" not in line  # a safe difference is not reported
        assert _hash(out) == before
    assert main(["run", kan, "--out", str(out), "--no-progress", "--resume"]) == 2
    line = _error_line(capsys)
    assert "task ('regression' -> 'kan_fit')" in line
    assert _hash(out) == before
    # Without a stored config (a directory from elsewhere), the checkpoint itself refuses the other model.
    stored = (out / "config.yaml").read_bytes()
    (out / "config.yaml").unlink()
    assert main(base + ["--set", "model.width_size=16", "--resume"]) == 2
    line = _error_line(capsys)
    assert "CheckpointMismatchError" in line and "model.layers[0].weight" in line, line
    assert _hash(out) == {k: v for k, v in before.items() if k != "config.yaml"}
    (out / "config.yaml").write_bytes(stored)

    # Safe differences continue: more steps, other logging and checkpoint cadences.
    assert main(base + ["--set", "train.steps=30", "--set", "train.log_every=5",
                        "--set", "train.checkpoint_every=5", "--resume"]) == 0
    assert "resumed from the checkpoint at step 20" in capsys.readouterr().err
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 25, 30]
    assert json.loads((out / "summary.json").read_text())["steps"] == [10, 20, 25, 30]  # the whole history
    assert config.load(out / "config.yaml").train.steps == 30
    assert _status(out)["status"] == "completed" and _status(out)["resumed"] is True


def test_failed_run_without_checkpoint_can_be_rerun(tmp_path, monkeypatch):
    cfg, out = config.load(_config(tmp_path)), tmp_path / "run"

    def out_of_memory(cfg, run_dir, *, resume, progress):
        raise MemoryError("RESOURCE_EXHAUSTED: out of memory\nallocating 12 GiB")

    monkeypatch.setattr(regression, "run", out_of_memory)
    with pytest.raises(MemoryError):
        run_config(cfg, out, progress=False)
    status = _status(out)
    assert status["status"] == "failed" and status["error"] == "MemoryError: RESOURCE_EXHAUSTED: out of memory"
    assert status["pid"] == os.getpid() and not (out / _rundir.LOCK_FILE).exists()

    monkeypatch.setattr(regression, "run", lambda cfg, run_dir, *, resume, progress: {"ok": 1})
    assert run_config(cfg, out, progress=False)["ok"] == 1  # allowed: failed, no checkpoint
    assert _status(out)["status"] == "completed"
    with pytest.raises(_rundir.RunDirectoryError, match="completed run.*--resume"):
        run_config(cfg, out, progress=False)

    # A run killed outright (status still `running`, its process gone) counts as failed ...
    dead = subprocess.Popen(["true"])
    dead.wait()
    _rundir.write_status(out, "running", pid=dead.pid)
    assert _rundir.read_status(out)["status"] == "failed"
    assert run_config(cfg, out, progress=False)["ok"] == 1
    # ... but once it holds a checkpoint, only --resume continues it.
    _rundir.write_status(out, "failed", pid=dead.pid, error="MemoryError")
    (out / "checkpoints" / "10").mkdir(parents=True)
    before = _hash(out)
    with pytest.raises(_rundir.RunDirectoryError, match=r"checkpoints up to step 10, status failed.*--resume"):
        run_config(cfg, out, progress=False)
    assert _hash(out) == before


def test_concurrent_writer_is_refused_and_a_stale_lock_taken_over(tmp_path, monkeypatch, capsys, getkey):
    cfg, out = _config(tmp_path), tmp_path / "run"
    monkeypatch.setattr(regression, "run", lambda cfg, run_dir, *, resume, progress: {"ok": 1})
    writer = subprocess.Popen(["sleep", "60"])  # a live process holding the run directory
    try:
        out.mkdir()
        (out / _rundir.LOCK_FILE).write_text(f"{writer.pid}\n")
        before = _hash(out)
        for extra in [[], ["--resume"]]:
            assert main(["run", cfg, "--out", str(out), "--no-progress", *extra]) == 2
            line = _error_line(capsys)
            assert f"being written by process {writer.pid}" in line and "RunLockedError" in line, line
            assert _hash(out) == before
        # The trainer's own lock on a checkpoint directory.
        ckpt = tmp_path / "ckpt"
        ckpt.mkdir()
        (ckpt / _rundir.LOCK_FILE).write_text(f"{writer.pid}\n")
        model = jaxrep.nn.MLP(2, 1, 4, 1, key=getkey())
        with pytest.raises(jaxrep.train.RunLockedError, match=f"checkpoint_dir .* process {writer.pid}"):
            jaxrep.train.fit(model, _loss, _sampler, optax.sgd(0.1), steps=1, key=getkey(),
                             checkpoint_dir=ckpt, progress=False)
    finally:
        writer.kill()
        writer.wait()
    # The writer died without cleaning up: its lock is stale and is taken over.
    assert main(["run", cfg, "--out", str(out), "--no-progress"]) == 0
    assert _status(out)["status"] == "completed" and not (out / _rundir.LOCK_FILE).exists()
    # Within one process, a second writer on a held directory is refused too.
    with _rundir.RunLock(out):
        with pytest.raises(_rundir.RunLockedError):
            _rundir.RunLock(out).acquire()


def _sampler(key, step):
    x = jnp.linspace(-1, 1, 8)[:, None] * jnp.ones((1, 2))
    return x, jnp.sin(x[:, :1])


def _loss(model, batch, key):
    x, y = batch
    return jnp.mean((jax.vmap(model)(x) - y) ** 2), {}


_ADAM = optax.adam(1e-2)  # one optimiser object: the compiled step is reused by every fit below


def _fit(model, key, ckpt=None, steps=10, **kw):
    return jaxrep.train.fit(model, _loss, kw.pop("data", _sampler), _ADAM, steps=steps, key=key,
                            checkpoint_dir=ckpt, checkpoint_every=5, steps_per_call=5, progress=False, **kw)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_save_error_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, getkey, monkeypatch, code):
    import orbax.checkpoint as ocp

    model, key, ckpt = jaxrep.nn.MLP(2, 1, 4, 1, key=getkey()), getkey(), tmp_path / "ckpt"
    real_save = ocp.CheckpointManager.save

    def failing_save(self, step, *args, **kwargs):
        if step >= 10:  # the disk fills up (or turns read-only) after the first checkpoint
            raise OSError(code, os.strerror(code), str(self.directory / str(step)))
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", failing_save)
    with pytest.raises(jaxrep.train.CheckpointSaveError) as err:
        _fit(model, key, ckpt)
    msg = str(err.value)
    assert err.value.errno == code and isinstance(err.value, OSError)
    assert "\n" not in msg and "step 10" in msg and os.strerror(code) in msg
    assert "previous checkpoint (step 5) is intact" in msg
    monkeypatch.undo()
    # The previous checkpoint is intact and restorable.
    checkpointer = jaxrep.train.Checkpointer(ckpt)
    assert checkpointer.all_steps() == [5]
    template = jaxrep.train.TrainState(model, _ADAM.init(eqx.filter(model, eqx.is_inexact_array)),
                                       jnp.int32(0), jnp.zeros(2, jnp.uint32))
    restored = checkpointer.restore_latest(template)
    checkpointer.close()
    assert int(restored.step) == 5 and not eqx.tree_equal(restored.model, model)


def _garble(step_dir: pathlib.Path):
    for p in step_dir.rglob("*"):
        if p.is_file() and p.stat().st_size > 0:
            p.write_bytes(bytes((b + 101) % 256 for b in p.read_bytes()))


def test_corrupted_newest_checkpoint_falls_back_then_refuses(tmp_path, getkey, capsys):
    # Choice: a garbled newest checkpoint is skipped with one warning line for the previous intact one;
    # when none is readable, fit refuses (one line) rather than silently training from scratch over them.
    model, key, ckpt = jaxrep.nn.MLP(2, 1, 4, 1, key=getkey()), getkey(), tmp_path / "ckpt"
    straight, _ = _fit(model, key, ckpt)
    _garble(ckpt / "10")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed, hist = _fit(model, key, ckpt, resume=True)
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and "step 10" in msgs[0] and "unreadable" in msgs[0] and "\n" not in msgs[0]
    assert "resumed from the checkpoint at step 5" in capsys.readouterr().err
    assert eqx.tree_equal(straight, resumed) and list(hist["step"]) == list(range(1, 11))
    for step in jaxrep.train.Checkpointer(ckpt).all_steps():
        _garble(ckpt / str(step))
    before = _hash(ckpt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(jaxrep.train.CheckpointError, match=r"no readable checkpoint .*steps 5, 10") as err:
            _fit(model, key, ckpt, resume=True)
    assert "\n" not in str(err.value)
    assert _hash(ckpt) == before


def test_checkpoint_of_another_model_is_refused_naming_the_leaf(tmp_path, getkey):
    key, ckpt = getkey(), tmp_path / "ckpt"
    _fit(jaxrep.nn.MLP(2, 1, 4, 1, key=getkey()), key, ckpt)
    before = _hash(ckpt)
    with pytest.raises(jaxrep.train.CheckpointMismatchError) as err:
        _fit(jaxrep.nn.MLP(2, 1, 16, 1, key=getkey()), key, ckpt, resume=True)
    msg = str(err.value)
    assert "\n" not in msg and "step 10" in msg
    assert "leaf model.layers[0].weight is shape (4, 2) float32 in the checkpoint but shape (16, 2) float32 here" in msg
    assert err.value.path == "model.layers[0].weight"
    assert _hash(ckpt) == before  # no fresh start over the old run, no truncated metrics log


def test_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path, getkey):
    model, key, ckpt = jaxrep.nn.MLP(2, 1, 4, 1, key=getkey()), getkey(), tmp_path / "ckpt"
    _fit(model, key, ckpt, steps=5)
    good = _hash(ckpt / "5")

    def poisoned(key, step):
        x, y = _sampler(key, step)
        return x, jnp.where(step >= 7, jnp.nan, y)

    with pytest.raises(jaxrep.train.NonFiniteLossError, match="step 8.*checkpoint \\(step 5\\).*intact") as err:
        _fit(model, key, ckpt, resume=True, data=poisoned)
    assert err.value.checkpoint_step == 5
    assert jaxrep.train.Checkpointer(ckpt).all_steps() == [5] and _hash(ckpt / "5") == good
