"""Every notebook under `notebooks/` runs top to bottom in smoke mode and draws the figures it promises.

Each notebook is executed with nbclient in a fresh kernel that runs *this* interpreter (a temporary
`python3` kernelspec pointing at `sys.executable`, so the kernel sees the same virtualenv and the same
editable jaxrep), with `JAXREP_SMOKE=1`, `MPLBACKEND=Agg` and two virtual CPU devices (so the
data-parallel cells take their multi-device branch). In smoke mode every figure is saved as
`notebooks/_smoke/<notebook>/<name>.png`; the expected names are in the notebook metadata
(`metadata.jaxrep.smoke_figures`, written by `notebooks/_build.py`).
"""

import json
import os
import pathlib
import shutil
import sys

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    for expected in ("00_quickstart", "01_kan", "02_koopman", "03_pinn_spike", "04_interpolants"):
        assert expected in names, f"notebooks/{expected}.ipynb is missing (found {sorted(names)})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: cell {i} has outputs"
    assert "JAXREP_PIP" in nb.cells[1].source and "jax.devices()" in nb.cells[1].source
    assert 'os.environ.get("JAXREP_SMOKE"' in nb.cells[2].source


@pytest.fixture
def python3_kernel(tmp_path, monkeypatch):
    """A `python3` kernelspec that runs this interpreter, found first through JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(path, python3_kernel, monkeypatch):
    monkeypatch.setenv("JAXREP_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    devices = os.environ.get("JAXREP_TEST_XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    monkeypatch.setenv("XLA_FLAGS", devices.strip())
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    figures = NOTEBOOK_DIR / "_smoke" / path.stem
    shutil.rmtree(figures, ignore_errors=True)

    nb = nbformat.read(path, as_version=4)
    expected = nb.metadata["jaxrep"]["smoke_figures"]
    assert expected, f"{path.name} promises no figures"
    client = NotebookClient(nb, timeout=900, kernel_name=python3_kernel,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError (with the traceback) if any cell fails

    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert not errors, f"{path.name}: cell {i} raised {errors[0].ename}: {errors[0].evalue}"
    devices = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.output_type == "stream")
    assert "CpuDevice" in devices, f"the first cell must print jax.devices(), printed {devices!r}"
    for name in expected:
        png = figures / f"{name}.png"
        assert png.is_file(), f"{path.name} did not save the figure {png}"
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 2000, f"{png} is not a drawn PNG"
    extra = sorted(p.stem for p in figures.glob("*.png") if p.stem not in expected)
    assert not extra, f"{path.name} saved figures not listed in its metadata: {extra}"
