"""The `jaxrep` command outside the checkout: bundled configs by name, show, list, --version, --debug,
and the table of headline metrics a run ends with."""

import importlib.metadata
import json
import pathlib

import pytest
import yaml

from jaxrep import config
from jaxrep.cli import main, summary_table

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory outside the checkout (no ./configs)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_configs_are_package_data_not_a_checkout_folder():
    bundled = pathlib.Path(config.__file__).parent / "configs"
    names = config.bundled_names()
    assert {"burgers", "kan_fit", "regression"} <= set(names)
    assert names == sorted(p.stem for p in bundled.glob("*.yaml"))
    assert not (ROOT / "configs").exists()  # one copy only: the package's


def test_bundled_name_resolves_from_any_directory(elsewhere):
    for name in ("burgers", "burgers.yaml", "configs/burgers.yaml"):  # the last: old checkout commands
        assert config.resolve(name) == config.resolve("burgers")
        assert config.load(name).problem.name == "burgers"
    # A file that exists wins over the bundled name ...
    (elsewhere / "burgers.yaml").write_text("task: regression\n")
    assert config.load("burgers.yaml").task == "regression"
    assert config.load("./burgers.yaml").task == "regression"
    # ... but a directory (e.g. a run's --out) cannot be a config, so the name stays the bundled one.
    (elsewhere / "kan_fit").mkdir()
    assert config.load("kan_fit").task == "kan_fit"


def test_list_from_elsewhere_shows_bundled_and_local_configs(elsewhere, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("configs:"))
    assert "burgers" in line and "kan_fit" in line and "interpolant_checkerboard" in line
    assert "local:" not in out
    (elsewhere / "configs").mkdir()
    (elsewhere / "configs" / "mine.yaml").write_text("task: regression\n")
    (elsewhere / "other.yaml").write_text("task: kan_fit\n")
    (elsewhere / "not_a_config.yaml").write_text("repos: []\n")
    assert main(["list"]) == 0
    local = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("local:"))
    assert "configs/mine.yaml" in local and "other.yaml" in local and "not_a_config" not in local


def test_show_prints_resolved_config_with_defaults(elsewhere, capsys):
    assert main(["show", "burgers", "--set", "method=pinn", "--set", "train.seed=3"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    want = config.to_dict(config.load("burgers", overrides=["method=pinn", "train.seed=3"]))
    assert shown == want
    assert shown["method"] == "pinn" and shown["train"]["seed"] == 3
    raw = yaml.safe_load(config.resolve("burgers").read_text())
    assert "keep_checkpoints" not in raw.get("train", {}) and "keep_checkpoints" in shown["train"]  # defaults
    # what `show` prints is itself a valid config
    (elsewhere / "copy.yaml").write_text(yaml.safe_dump(shown))
    assert config.load("copy.yaml") == config.load("burgers", overrides=["method=pinn", "train.seed=3"])


def test_unknown_name_is_one_line_with_close_matches(elsewhere, capsys):
    assert main(["run", "burgrs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'burgers'" in err[0] and "jaxrep list" in err[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"jaxrep {importlib.metadata.version('jaxrep')}"


@pytest.mark.parametrize("argv", [
    ["--debug", "show", "no_such_config"],
    ["show", "no_such_config", "--debug"],
    ["--debug", "run", "no_such_config"],
    ["solve", "--debug", "no_such_config"],
])
def test_debug_before_or_after_the_command_reraises(elsewhere, argv):
    with pytest.raises(FileNotFoundError, match="no_such_config"):
        main(argv)


def test_without_debug_errors_are_one_line(elsewhere, capsys):
    assert main(["show", "no_such_config"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_solve_refuses_a_non_pde_config(elsewhere, capsys):
    assert main(["solve", "regression"]) == 2
    assert "expects a PDE config" in capsys.readouterr().err


def test_summary_table():
    summary = {"task": "pinn", "problem": "burgers", "method": "spike", "figures": ["a.png"],
               "rel_l2_train_window": 0.0123456, "rel_l2_extrapolation_windows": [0.1, 0.2],
               "A_sparsity": 0.99, "final_loss": 1.5e-5, "residual_mse": 2e-6, "num_parameters": 1234,
               "siren": {"psnr": 31.25, "image": [1, 2]}, "beats": True, "note": None, "wall_time_s": 12.345}
    lines = summary_table(summary, max_rows=12).splitlines()
    assert lines[-1] == "(4 more entries)"  # figures, the two lists, note
    lines = lines[:-1]
    rows = dict(l.split(None, 1) for l in lines)
    assert list(rows)[:4] == ["task", "problem", "method", "rel_l2_train_window"]
    assert rows["rel_l2_train_window"] == "0.01235" and rows["final_loss"] == "1.5e-05"
    assert rows["num_parameters"] == "1234" and rows["siren.psnr"] == "31.25" and rows["beats"] == "True"
    assert lines[-1].split() == ["wall_time_s", "12.3", "s"]
    assert "figures" not in rows and "note" not in rows and "siren.image" not in rows
    assert len({l.index(l.split()[1]) for l in lines}) == 1  # one aligned value column
    # at most max_rows rows: the headline errors and the wall time stay, the rest is counted
    lines = summary_table(summary, max_rows=5, more="see summary.json").splitlines()
    assert [l.split()[0] for l in lines[:5]] == ["task", "problem", "method", "rel_l2_train_window",
                                                 "wall_time_s"]
    assert lines[5] == "(10 more entries; see summary.json)" and len(lines) == 6


def _check_run_output(out_lines, run_dir):
    assert out_lines[-1] == f"run directory: {pathlib.Path('runs') / 'regression'}"  # default --out for a name
    summary = json.loads((run_dir / "summary.json").read_text())
    table = [l for l in out_lines[:-1] if not l.startswith("(")]
    assert 3 <= len(table) <= 10 and not any("{" in l for l in out_lines)  # a table, not the JSON
    rows = dict(l.split(None, 1) for l in table)
    assert rows["task"] == "regression"
    assert float(rows["test_rmse"]) == pytest.approx(summary["test_rmse"], rel=1e-3)
    assert rows["wall_time_s"].endswith(" s") and "final_loss" in rows
    return rows


def test_run_by_name_ends_with_table_and_run_directory(elsewhere, capsys, monkeypatch):
    # The CLI's own part (name -> runs/<name>, the table, the last line); training is stubbed because
    # test_config_cli.py already trains through this path and a real run costs ~50 XLA compilations.
    import jaxrep.cli

    def fake_run_config(cfg, out, *, resume=False, progress=True):
        summary = {"task": cfg.task, "test_rmse": 0.0123456, "test_rel_l2": 0.05, "final_loss": 1.5e-4,
                   "curve": [1.0, 0.5], "wall_time_s": 1.25}
        out = pathlib.Path(out)
        out.mkdir(parents=True)
        (out / "summary.json").write_text(json.dumps(summary))
        return summary

    monkeypatch.setattr(jaxrep.cli, "run_config", fake_run_config)
    assert main(["run", "regression.yaml", "--no-progress"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    rows = _check_run_output(out, elsewhere / "runs" / "regression")
    assert list(rows) == ["task", "test_rel_l2", "test_rmse", "final_loss", "wall_time_s"]
    assert out[-2] == f"(1 more entries; the full summary: {pathlib.Path('runs/regression/summary.json')})"


@pytest.mark.slow
def test_real_run_by_name_ends_with_table(elsewhere, capsys):
    rc = main(["run", "regression", "--no-progress", "--set", "train.steps=10", "--set", "train.log_every=10",
               "--set", "train.steps_per_call=10", "--set", "model.hidden=[8]",
               "--set", "data.n_train=64", "--set", "data.n_test=64"])
    assert rc == 0
    _check_run_output(capsys.readouterr().out.strip().splitlines(), elsewhere / "runs" / "regression")
