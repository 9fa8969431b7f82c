"""MkDocs hook: put files that live outside `docs/` into the site without copying them.

- `notebooks/*.ipynb` (each paired with its jupytext script `notebooks/<name>.py`) become `notebooks/<name>/` pages, rendered
  by mkdocs-jupyter as stored (not executed);
- `CHANGELOG.md` becomes the `changelog.md` page;
- every public name of a family (the `X as X` re-exports of `jaxrep/<family>/__init__.py`) must have
  a `::: jaxrep.<family>.X` block on some page, else the (strict) build fails with a warning naming it;
- the table of bundled configs on the CLI page is read from the config files.

The hook runs before mkdocs-jupyter's `on_files` (higher priority), so the notebooks it adds are
picked up as notebook pages.
"""

from __future__ import annotations

import ast
import logging
import pathlib
import re

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parent.parent
FAMILIES = ("koopman", "pde", "pinn", "nn", "interpolants", "train", "data", "plot")
log = logging.getLogger("mkdocs.hooks.jaxrep")


def _home(family: str, node: ast.ImportFrom) -> str:
    """The family that documents a re-export: another family's name when it comes from there
    (`jaxrep.pinn` re-exports `from ..pde._problem import X as X`: documented as `jaxrep.pde.X`)."""
    other = (node.module or "").split(".")[0]
    return other if node.level == 2 and other in FAMILIES else family


def _public_names(family: str) -> list[str]:
    """`jaxrep.<family>.X` for every explicit re-export `from ... import X as X` of the family."""
    tree = ast.parse((ROOT / "jaxrep" / family / "__init__.py").read_text(encoding="utf-8"))
    return [
        f"jaxrep.{_home(family, node)}.{alias.name}"
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name and not alias.name.startswith("_")
    ]


def _check_api_coverage(docs_dir: pathlib.Path) -> None:
    documented = set()
    for page in docs_dir.rglob("*.md"):
        documented.update(re.findall(r"^::: *(\S+)", page.read_text(encoding="utf-8"), flags=re.MULTILINE))
    for family in FAMILIES:
        names = _public_names(family)
        if not names:  # e.g. re-exports turned into a lazy `__getattr__`: the check would see nothing
            log.warning(f"API reference: no `X as X` re-exports found in jaxrep/{family}/__init__.py")
        for name in names:
            if name not in documented:
                log.warning(f"API reference: public name {name} has no '::: {name}' block in docs/")


@event_priority(50)
def on_files(files, config):
    _check_api_coverage(pathlib.Path(config["docs_dir"]))
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        # a real source file (mkdocs-jupyter reads `abs_src_path`), `src_dir` the repository root
        files.append(
            File(f"notebooks/{nb.name}", str(ROOT), config["site_dir"], config["use_directory_urls"])
        )
    files.append(File.generated(config, "changelog.md", abs_src_path=str(ROOT / "CHANGELOG.md")))
    return files


def _bundled_configs_table() -> str:
    import yaml

    paths = sorted((ROOT / "jaxrep" / "configs").glob("*.yaml"))
    if not paths:
        log.warning("CLI page: no bundled configs found in jaxrep/configs/")
    rows = ["| name | task | what it runs |", "|---|---|---|"]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        task = (yaml.safe_load(text) or {}).get("task", "")
        # the first sentence of the file's leading comment block
        comment = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            comment.append(line.lstrip("#").strip())
        sentence = re.match(r"(.*?\.)(\s|$)", " ".join(comment))
        what = sentence.group(1) if sentence else " ".join(comment)
        rows.append(f"| `{path.stem}` | `{task}` | {what.replace('|', '/')} |")
    return "\n".join(rows)


def on_page_markdown(markdown, page, config, files):
    # The table of bundled configs is read from the config files, so it never goes stale.
    if "<!-- bundled-configs -->" in markdown:
        markdown = markdown.replace("<!-- bundled-configs -->", _bundled_configs_table())
    return markdown
