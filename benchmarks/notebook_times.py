"""Wall-clock runtime of the notebooks, top to bottom, without a Jupyter kernel.

Each notebook runs in a fresh Python process (working directory `notebooks/`, `MPLBACKEND=Agg`): its code
cells are executed in order in one namespace, exactly as a kernel would, and the per-cell and total wall
times are printed (process start and `import jax` included, as a user would see them on a fresh runtime).
The notebooks contain no IPython magics, so plain `exec` is faithful; where IPython is not installed,
`IPython.display.display` is replaced by a no-op (the figures are still drawn).

    python benchmarks/notebook_times.py                     # default sizes, every notebook
    python benchmarks/notebook_times.py --smoke 04          # JAXREP_SMOKE=1, notebooks whose name starts with 04

Used for the runtimes in the README's notebook table (CPU here; GPU on a lent accelerator machine, where
nbclient/ipykernel are not installed). Run by hand, never in CI (CI executes the notebooks through
`tests/test_notebooks.py`).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def run_cells(path: pathlib.Path) -> None:
    """Execute the code cells of one notebook in this process, printing each cell's wall time."""
    try:
        import IPython.display  # noqa: F401
        have_ipython = True
    except ImportError:  # e.g. a bare GPU image: the notebooks only use IPython.display.display
        have_ipython = False
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    namespace = {"__name__": "__main__"}
    for i, cell in enumerate(cells):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if not have_ipython:
            source = source.replace("from IPython.display import display", "display = lambda *a, **k: None")
        t0 = time.perf_counter()
        exec(compile(source, f"{path.name}[cell {i}]", "exec"), namespace)
        print(json.dumps({"cell": i, "wall_s": round(time.perf_counter() - t0, 2)}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefixes", nargs="*", help="notebook name prefixes (default: all)")
    ap.add_argument("--smoke", action="store_true", help="JAXREP_SMOKE=1 (the CI sizes)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_cells(pathlib.Path(args.one))
        return

    paths = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    if args.prefixes:
        paths = [p for p in paths if any(p.name.startswith(x) for x in args.prefixes)]
    if not paths:
        ap.error(f"no notebook matches {args.prefixes}; have {[p.name for p in NOTEBOOKS.glob('*.ipynb')]}")
    env = dict(os.environ, MPLBACKEND="Agg", JAXREP_SMOKE="1" if args.smoke else "0", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    results = {}
    for path in paths:
        print(f"# {path.name} ({'smoke' if args.smoke else 'default'} sizes)", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--one", str(path)], cwd=NOTEBOOKS, env=env)
        wall = time.perf_counter() - t0
        results[path.name] = {"wall_s": round(wall, 1), "ok": proc.returncode == 0}
        print(json.dumps({"notebook": path.name, **results[path.name]}), flush=True)
    print("\n| notebook | wall s | ok |\n|---|---:|---|")
    for name, r in results.items():
        print(f"| {name} | {r['wall_s']:.0f} | {'yes' if r['ok'] else 'FAILED'} |")
    sys.exit(0 if all(r["ok"] for r in results.values()) else 1)


if __name__ == "__main__":
    main()
