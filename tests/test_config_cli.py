"""Config validation and the `jaxrep` command line."""

import json
import pathlib
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest
import yaml

import jaxrep
from jaxrep import config
from jaxrep.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Inner:
    width: int = 3
    rate: float = 0.5
    kind: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)
    clip: Optional[float] = None


@dataclass(frozen=True)
class Outer:
    task: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_from_dict_types_and_defaults():
    cfg = config.from_dict(Outer, {"inner": {"width": 5, "rate": 1, "sizes": [4, 5, 6], "clip": 2}})
    assert cfg.inner == Inner(width=5, rate=1.0, sizes=(4, 5, 6), clip=2.0)
    assert isinstance(cfg.inner.rate, float) and isinstance(cfg.inner.sizes, tuple)
    with pytest.raises(Exception):
        cfg.inner.width = 3  # frozen


@pytest.mark.parametrize(
    "data, exc, words",
    [
        ({"inner": {"widht": 5}}, ValueError, ["inner.widht", "'width'"]),
        ({"innr": {}}, ValueError, ["innr", "'inner'"]),
        ({"inner": {"width": "5"}}, TypeError, ["inner.width", "int", "str"]),
        ({"inner": {"width": 2.5}}, TypeError, ["inner.width", "int", "float"]),
        ({"inner": {"rate": True}}, TypeError, ["inner.rate", "float", "bool"]),
        ({"inner": {"kind": "c"}}, ValueError, ["inner.kind", "'a'", "'b'"]),
        ({"inner": {"sizes": [1, "x"]}}, TypeError, ["inner.sizes[1]"]),
        ({"inner": 3}, TypeError, ["inner", "mapping"]),
    ],
)
def test_from_dict_errors_name_the_field(data, exc, words):
    with pytest.raises(exc) as err:
        config.from_dict(Outer, data)
    for w in words:
        assert w in str(err.value)


def test_load_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"task": "regression", "train": {"steps": 10}}))
    cfg = config.load(path, overrides=["train.steps=20", "train.learning_rate=1e-2",
                                       "model.width_size=8", "data.target=exp_sin"])
    assert cfg.train.steps == 20 and cfg.train.learning_rate == 0.01
    assert cfg.model.width_size == 8 and cfg.data.target == "exp_sin"
    with pytest.raises(ValueError, match="train.stepz.*'steps'"):
        config.load(path, overrides=["train.stepz=3"])
    with pytest.raises(ValueError, match="key=value|section.key=value"):
        config.load(path, overrides=["train.steps"])
    with pytest.raises(FileNotFoundError):
        config.load(tmp_path / "missing.yaml")


def test_unknown_task_and_validation(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: regresion\n")
    with pytest.raises(ValueError, match="did you mean 'regression'"):
        config.load(path)
    with pytest.raises(ValueError, match="train.steps must be >= 1"):
        config.parse({"task": "regression", "train": {"steps": 0}})


def test_tasks_are_found_through_entry_points_and_schemas_can_be_given():
    # every task module in jaxrep/_tasks/ is registered (pyproject's `jaxrep.tasks` entry points), and
    # its schema is that module's Config; `config` itself names no task
    modules = sorted(p.stem for p in (ROOT / "jaxrep" / "_tasks").glob("*.py") if not p.stem.startswith("_"))
    assert config.task_names() == modules
    for name in modules:
        module = config.task_module(name)
        assert module.__name__ == f"jaxrep._tasks.{name}" and callable(module.run)
        assert config.task_schema(name) is module.Config
    # a schema handed in is filled as it is, without a task lookup
    schema = config.task_schema("regression")
    cfg = config.parse({"task": "regression", "train": {"steps": 7}}, schema)
    assert isinstance(cfg, schema) and cfg.train.steps == 7
    assert config.parse({"steps": 3}, config.TrainConfig, ["learning_rate=0.5"]) == config.TrainConfig(
        steps=3, learning_rate=0.5)
    with pytest.raises(ValueError, match="unknown config key 'stpes'.*did you mean 'steps'"):
        config.parse({"stpes": 3}, config.TrainConfig)
    with pytest.raises(ValueError, match="task='pinns' is unknown.*did you mean 'pinn'"):
        config.task_schema("pinns")


def test_round_trip_dump(tmp_path):
    cfg = config.parse({"task": "regression", "model": {"hidden": [3, 4]}})
    config.dump(cfg, tmp_path / "c.yaml")
    assert config.load(tmp_path / "c.yaml") == cfg


def test_every_bundled_config_validates():
    paths = sorted((ROOT / "jaxrep" / "configs").glob("*.yaml"))
    assert paths
    for path in paths:
        cfg = config.load(path)
        assert cfg.task == yaml.safe_load(path.read_text())["task"]


def test_make_optimizer_schedules():
    import jax.numpy as jnp

    from jaxrep._tasks._optim import make_optimizer

    for opt in ["adam", "adamw", "sgd", "lion"]:
        for sched in ["constant", "cosine", "exponential"]:
            cfg = config.TrainConfig(optimizer=opt, schedule=sched, warmup_steps=2, grad_clip=1.0)
            tx = make_optimizer(cfg)
            state = tx.init({"w": jnp.ones(2)})
            updates, _ = tx.update({"w": jnp.ones(2)}, state, {"w": jnp.ones(2)})
            assert updates["w"].shape == (2,)


def test_cli_run_writes_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", "regression", "--out", str(out), "--no-progress",
               "--set", "train.steps=40", "--set", "train.checkpoint_every=20",
               "--set", "train.log_every=10", "--set", "train.steps_per_call=10"])
    assert rc == 0
    for name in ["config.yaml", "metrics.jsonl", "summary.json", "figures/loss.png", "figures/fit.png"]:
        assert (out / name).is_file(), name
    assert sorted(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit()) == [20, 40]
    resolved = config.load(out / "config.yaml")
    assert resolved.train.steps == 40
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "regression" and summary["test_rmse"] > 0
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    # A second run into the same directory needs --resume; with it, nothing is lost.
    assert main(["run", "regression", "--out", str(out), "--no-progress",
                 "--set", "train.steps=40"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["run", "regression", "--out", str(out), "--no-progress",
                 "--set", "train.steps=60", "--set", "train.checkpoint_every=20", "--resume"]) == 0
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30, 40, 50, 60]


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: regression\ntrain:\n  stepz: 3\n")
    proc = subprocess.run([sys.executable, "-m", "jaxrep.cli", "run", str(bad)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "train.stepz" in lines[0] and "'steps'" in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "regression" in out


def test_version():
    assert isinstance(jaxrep.__version__, str) and jaxrep.__version__
