"""The import arrows of ARCHITECTURE.md: leaves import nothing of jaxrep, blocks only leaves, families
never the task/CLI layer, `config` no task. Read from the source (ast), so lazy imports inside functions count too."""

import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "jaxrep"

LEAVES = {"_validate", "_rundir"}
ALLOWED = {
    "_validate": set(),
    "_rundir": set(),
    "nn": LEAVES,
    "data": LEAVES,
    "train": LEAVES,
    "koopman": LEAVES | {"nn", "data", "train"},
    "interpolants": LEAVES | {"nn", "data", "train"},
    "pde": LEAVES,
    "pinn": LEAVES | {"nn", "data", "train", "koopman", "pde"},
    "plot": LEAVES | {"nn"},
    # the config schema: validated data only; tasks are found through entry points, never imported
    "config": LEAVES | {"nn"},
}


def _part(path: pathlib.Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_parts(source: str, package: tuple) -> set[str]:
    """The top-level jaxrep parts that `source` (a module of `package`, e.g. `("jaxrep", "pinn")`) imports,
    relative or absolute, at any depth (lazy imports inside functions included)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = [*package[: len(package) - node.level + 1], *(node.module.split(".") if node.module else [])]
            else:
                target = (node.module or "").split(".")
            if target == ["jaxrep"]:  # `from .. import nn, data`
                out.update(alias.name for alias in node.names)
            elif target[0] == "jaxrep":
                out.add(target[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "jaxrep" and len(parts) > 1:
                    out.add(parts[1])
    return out


def _package(path: pathlib.Path) -> tuple:
    return path.relative_to(PKG.parent).with_suffix("").parts[:-1]


FILES = sorted(p for p in PKG.rglob("*.py") if _part(p) in ALLOWED)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_follow_the_layers(path):
    part = _part(path)
    outside = _imported_parts(path.read_text(), _package(path)) - {part} - ALLOWED[part]
    assert not outside, f"jaxrep/{path.relative_to(PKG)} ({part}) imports {sorted(outside)}; allowed: {sorted(ALLOWED[part])}"


def test_the_checker_sees_relative_absolute_and_lazy_imports():
    source = ("import jaxrep.nn\nfrom .. import data, train\nfrom ._x import y\n"
              "def f():\n    from .._tasks import pinn\n    from ..config import TrainConfig\n"
              "    from jaxrep.cli import main\n")
    assert _imported_parts(source, ("jaxrep", "pinn")) == {"nn", "data", "train", "pinn", "_tasks", "config", "cli"}


def test_pinn_re_exports_the_pde_suite_unchanged():
    # the problem suite moved to jaxrep.pde; jaxrep.pinn keeps every name (the same objects)
    import jaxrep.pde
    import jaxrep.pinn
    import jaxrep.pinn.problems

    tree = ast.parse((PKG / "pde" / "__init__.py").read_text())
    public = [a.name for node in tree.body if isinstance(node, ast.ImportFrom) for a in node.names if a.asname == a.name]
    assert len(public) >= 30
    for name in set(public) - {"problems"}:  # the module is re-exported name by name (below)
        assert getattr(jaxrep.pinn, name) is getattr(jaxrep.pde, name), name
    assert jaxrep.pinn.problems.__all__ == jaxrep.pde.problems.__all__
    for name in jaxrep.pde.problems.__all__:
        assert getattr(jaxrep.pinn.problems, name) is getattr(jaxrep.pde.problems, name), name
    assert set(jaxrep.pde.problems.names()) == {getattr(jaxrep.pde.problems, n).name
                                                for n in jaxrep.pde.problems.__all__ if n[0].isupper()}
