"""Project basics: LICENSE, CITATION.cff, CHANGELOG.md and py.typed agree with pyproject.toml."""

import datetime
import hashlib
import importlib.resources
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = pathlib.Path(__file__).resolve().parents[1]

# sha256 of the canonical https://www.apache.org/licenses/LICENSE-2.0.txt (the file every Apache-2.0
# project ships, appendix included).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _license_id(project) -> str:
    lic = project["license"]
    return lic["text"] if isinstance(lic, dict) else lic


def test_license_is_the_apache_2_text(project):
    assert _license_id(project) == "Apache-2.0"
    raw = (ROOT / "LICENSE").read_bytes()
    text = raw.decode("utf-8")
    for marker in (
        "Apache License",
        "Version 2.0, January 2004",
        "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
        "9. Accepting Warranty or Additional Liability.",
        "END OF TERMS AND CONDITIONS",
    ):
        assert marker in text, f"LICENSE lacks {marker!r}"
    assert hashlib.sha256(raw).hexdigest() == APACHE_2_SHA256, (
        "LICENSE differs from the canonical Apache-2.0 text (apache.org/licenses/LICENSE-2.0.txt)"
    )


def test_citation_cff_is_valid_and_current(project):
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    # The keys CFF 1.2.0 requires, and the ones that must track the package.
    for key in ("cff-version", "message", "title", "authors"):
        assert cff.get(key), f"CITATION.cff lacks the required key {key!r}"
    assert str(cff["cff-version"]) == "1.2.0"
    assert isinstance(cff["authors"], list) and cff["authors"]
    for author in cff["authors"]:
        assert author.get("name") or author.get("family-names"), f"author without a name: {author}"
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == _license_id(project)
    datetime.date.fromisoformat(str(cff["date-released"]))
    assert cff["repository-code"].startswith("https://")


def test_changelog_lists_the_package_version(project):
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    version = re.escape(project["version"])
    assert re.search(rf"^## \[{version}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, flags=re.MULTILINE), (
        f"CHANGELOG.md has no '## [{project['version']}] - YYYY-MM-DD' section"
    )
    assert re.search(r"^## \[Unreleased\]$", text, flags=re.MULTILINE)


def test_project_urls(project):
    urls = project["urls"]
    for key in ("Homepage", "Documentation", "Repository", "Changelog"):
        assert urls.get(key, "").startswith("https://"), f"[project.urls] lacks {key}"


def test_py_typed_ships_with_the_package():
    # In the source tree, not git-ignored (hatch packs every file of jaxrep/ that git does not ignore) ...
    assert (ROOT / "jaxrep" / "py.typed").is_file()
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", "jaxrep/py.typed"], cwd=ROOT, check=False)
        assert ignored.returncode == 1, "jaxrep/py.typed is git-ignored, so hatch would leave it out"
    # ... and present in the installed package.
    assert importlib.resources.files("jaxrep").joinpath("py.typed").is_file()
