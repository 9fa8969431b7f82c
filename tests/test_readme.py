"""The README's API tour runs as written (with step counts shrunk for CI)."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _tour_code() -> str:
    text = (ROOT / "README.md").read_text()
    tour = text[text.index("## API tour"): text.index("Command line:")]
    blocks = re.findall(r"```python\n(.*?)```", tour, flags=re.S)
    assert len(blocks) >= 5, "the API tour should show every family"
    code = "\n".join(blocks)
    code = re.sub(r"steps=\d+", "steps=4", code)
    code = code.replace(
        "jrp.pinn.SolveConfig()",
        "dataclasses.replace(jrp.pinn.SolveConfig(), fit=jrp.train.FitOptions(steps_per_call=2))",
    )
    return "import dataclasses\n" + code


# Every call in the tour is covered by the fast tests of its family; this end-to-end docs check
# compiles all families at once (minutes on 2 cores), so it runs with `make test-all`.
@pytest.mark.slow
def test_readme_api_tour_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # checkpoint_dir="runs/ckpt" lands here
    code = _tour_code()
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["u"].shape == (64, 1)
    assert namespace["u_ref"].shape == (64, 1)
    assert namespace["zt"].shape == (100, 8)
    assert namespace["x1"].shape == (1000, 2)
    assert namespace["logp"].shape == (100,)
