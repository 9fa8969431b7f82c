"""Every notebook under `notebooks/` runs top to bottom in smoke mode and draws the figures it promises.

Each notebook is executed with nbclient in a fresh kernel that runs *this* interpreter (a temporary
`python3` kernelspec pointing at `sys.executable`, so the kernel sees the same virtualenv and the same
editable jaxrep), with `JAXREP_SMOKE=1`, `MPLBACKEND=Agg` and two virtual CPU devices (so the
data-parallel cells take their multi-device branch). In smoke mode every figure is saved as
`notebooks/_smoke/<notebook>/<name>.png`; the expected names are the literal names of the notebook's
`show(fig, "name")` calls.

Each notebook's source is a jupytext percent script next to it (`notebooks/<name>.py`, paired with the
`.ipynb`): the two must hold the same cells, and the cells every notebook shares (install, parameters
head, figure helper) must be the same in all of them.
"""

import json
import os
import pathlib
import re
import shutil
import sys

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _figure_names(nb) -> list[str]:
    """The literal names passed as the last argument of the `show(...)` calls of the code cells."""
    names = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = cell.source
        for m in re.finditer(r"\bshow\(", source):
            depth, i = 1, m.end()
            while depth and i < len(source):
                depth += {"(": 1, ")": -1}.get(source[i], 0)
                i += 1
            lit = re.search(r"""["']([A-Za-z0-9_\-]+)["']\s*$""", source[m.end(): i - 1])
            if lit:
                names.add(lit.group(1))
    return sorted(names)


def test_figure_names_are_read_from_show_calls():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('show(fig, "a")\nshow(plot(x, f(y)), name="b-2")\nx = show  # show(\n'),
        nbformat.v4.new_markdown_cell('show(fig, "not_code")'),
        nbformat.v4.new_code_cell("show(fig, NAME)"),
    ])
    assert _figure_names(nb) == ["a", "b-2"]


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_and_its_percent_script_are_in_sync(path):
    script = path.with_suffix(".py")
    assert script.is_file(), f"{path.name} has no source script {script.name} (jupytext --set-formats ipynb,py:percent)"
    nb, src = nbformat.read(path, as_version=4), jupytext.read(script)
    assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent", f"{path.name} is not paired"
    cells = [(c.cell_type, c.source) for c in nb.cells]
    expected = [(c.cell_type, c.source) for c in src.cells]
    assert len(cells) == len(expected), (f"{path.name} has {len(cells)} cells, {script.name} {len(expected)}: "
                                         f"run `jupytext --sync notebooks/{script.name}`")
    for i, (got, want) in enumerate(zip(cells, expected)):
        assert got == want, f"cell {i} of {path.name} differs from {script.name}: run `jupytext --sync notebooks/{script.name}`"


def test_shared_cells_are_the_same_in_every_notebook():
    nbs = {p.stem: nbformat.read(p, as_version=4) for p in NOTEBOOKS}
    install = {name: nb.cells[1].source for name, nb in nbs.items()}
    assert len(set(install.values())) == 1, "the install cell (cell 1) differs between notebooks"
    # the parameters cell: the same head (up to the notebook's own name), then the notebook's sizes
    heads = {nb.cells[2].source.split("SEED = 0")[0].replace(f'"{name}"', '"NAME"') for name, nb in nbs.items()}
    assert len(heads) == 1 and all("SEED = 0" in nb.cells[2].source for nb in nbs.values())
    helpers = {nb.cells[i].source for nb in nbs.values() for i in range(len(nb.cells))
               if nb.cells[i].cell_type == "code" and "def show(" in nb.cells[i].source}
    assert len(helpers) == 1, f"the figure helper `show` has {len(helpers)} different versions"


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
    expected = _figure_names(nb)
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
    assert not extra, f"{path.name} saved figures that no literal show(..., NAME) call names: {extra}"
