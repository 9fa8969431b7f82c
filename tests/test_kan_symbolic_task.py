"""`task: kan_symbolic` end to end on a user's data file, and its refusal of bad files."""

import json
import pathlib

import numpy as np
import pytest

import jaxrep as jr
from jaxrep._tasks import kan_symbolic

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "jaxrep" / "configs"
SMALL = [
    "kan.grid_schedule=[3]", "train.steps=150", "train.steps_per_call=150", "train.checkpoint_every=150",
    "symbolic.library=[x, x^2, sin]", "symbolic.r2_threshold=0.0",
    "symbolic.train.phases=[{optimizer: adam, steps: 60, learning_rate: 1.0e-3}, {optimizer: bfgs, steps: 20}]",
    "symbolic.train.steps_per_call=20", "symbolic.train.checkpoint_every=1000",
]


def _write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_kan_symbolic_turns_a_file_into_a_formula_that_computes_the_model(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (250, 2))
    path = _write(tmp_path / "samples.npz", x=x, y=x[:, 0] * x[:, 1] + 0.5)
    # one multiplication node: [2, [0, 1], 1]; nothing pruned (thresholds 0)
    cfg = jr.config.load(CONFIGS / "kan_symbolic.yaml", overrides=SMALL + [
        f"data.path={path}", "kan.hidden=[0]", "kan.mult=[1]", "kan.regularization=0.0",
        "prune.node_threshold=0.0", "prune.edge_threshold=null"])
    out = tmp_path / "run"
    summary = kan_symbolic.run(cfg, out, resume=False, progress=False)
    assert summary["precision"] == "float64"
    assert summary["widths"] == [2, [0, 1], 1] and summary["unfixed_edges"] == []
    assert summary["n_train"] + summary["n_test"] == 250 and summary["n_test"] == 50
    assert len(summary["edges"]) == 5  # 4 edges into the product's two factors, 1 out
    assert isinstance(summary["formula"], str) and "x" in summary["formula"] and "y" in summary["formula"]
    # the printed formula (constants rounded to 6 digits) computes what the symbolic model computes
    assert np.isfinite(summary["formula_test_rmse"])
    assert abs(summary["formula_test_rmse"] - summary["test_rmse_symbolic"]) <= 1e-4 + 1e-3 * summary["test_rmse_symbolic"]
    # the affine stage trains the symbolic model: the error drops below the freshly fixed one
    assert summary["test_rmse_symbolic"] < summary["test_rmse_symbolic_before_affine"]
    for name in ("activations", "residuals"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in rows} == {0, 1, 2}


@pytest.mark.parametrize("arrays, match", [
    (dict(x=np.zeros((10, 2))), "lacks array"),
    (dict(x=np.zeros((10, 2)), y=np.zeros(9)), "10 rows but y has 9"),
    (dict(x=np.full((10, 2), np.nan), y=np.zeros(10)), "finite"),
    (dict(x=np.zeros((10, 2, 2)), y=np.zeros(10)), r"x must be \(n, d\)"),
    (dict(x=np.array([{"a": 1}] * 10, dtype=object), y=np.zeros(10)), "not a readable .npz"),
])
def test_bad_data_files_are_refused_in_one_line(tmp_path, arrays, match):
    import jax.random as jrandom

    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match) as err:
        kan_symbolic.load_samples(path, 0.2, jrandom.PRNGKey(0))
    assert "\n" not in str(err.value) and str(err.value).startswith("data.path")


def test_kan_symbolic_config_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="kan.mult"):
        jr.config.load(CONFIGS / "kan_symbolic.yaml", overrides=["kan.mult=[1, 1]"])
    with pytest.raises(ValueError, match="symbolic.r2_threshold"):
        jr.config.load(CONFIGS / "kan_symbolic.yaml", overrides=["symbolic.r2_threshold=2"])
    with pytest.raises(ValueError, match="data.path: no such file"):
        kan_symbolic.load_samples(tmp_path / "missing.npz", 0.2, None)
