"""The `jaxrep` command line.

```
jaxrep run   CONFIG [--set key=value ...] [--out DIR] [--resume] [--no-progress] [--debug]
jaxrep solve CONFIG [...]      # the same, for PDE configs (`task: pinn`)
jaxrep show  CONFIG [--set key=value ...]   # the resolved config, defaults included (YAML)
jaxrep list                    # tasks, bundled configs, problems, bases, interpolants
jaxrep --version
```
CONFIG is a YAML file or the name of a bundled config (`burgers`, `kan_fit.yaml`; package data, so it
works from any directory); a file that exists wins. A run ends with a table of the headline metrics and
the run directory, which holds `config.yaml` (resolved), `metrics.jsonl`, `summary.json`,
`checkpoints/` (Orbax) and `figures/*.png`.
"""

from __future__ import annotations

import argparse
import json
import numbers
import pathlib
import sys
import time


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("jaxrep")
    except importlib.metadata.PackageNotFoundError:  # a source checkout on PYTHONPATH, not installed
        return "0+unknown"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxrep", description="Functional scientific ML in JAX.")
    p.add_argument("--version", action="version", version=f"jaxrep {_version()}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on error")
    # After the command too; SUPPRESS: an absent sub-command flag leaves the top-level value alone
    # (a plain store_true default would reset `jaxrep --debug run ...` to False).
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show full tracebacks on error")
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("config", help="YAML config file, or a bundled config name (see `jaxrep list`)")
    config.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted override, e.g. --set train.steps=2000 (repeatable)")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in [
        ("run", "train the task a config describes (dispatch on its `task:`)"),
        ("solve", "solve a PDE config (`task: pinn`)"),
    ]:
        r = sub.add_parser(name, help=help_, parents=[config, debug])
        r.add_argument("--out", default=None, help="run directory (default: runs/<config name>)")
        r.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
        r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sub.add_parser("show", parents=[config, debug],
                   help="print the resolved config (defaults and --set overrides applied) as YAML")
    sub.add_parser("list", parents=[debug],
                   help="list tasks, bundled configs, problems, bases and interpolants")
    return p


def run_config(cfg, out, *, resume: bool = False, progress: bool = True) -> dict:
    """Run a loaded config into the run directory `out`; returns the summary (also in summary.json).

    The directory is claimed first (`jaxrep._rundir.open_run`): a second live writer, a `resume` whose
    config differs from the stored `config.yaml` in anything but run length, logging, checkpoint or
    evaluation settings, and a rerun without `resume` into a directory holding checkpoints or a completed
    run are refused with one line, before anything in `out` changes. A failed or killed run without a
    checkpoint may be rerun. `out/status.json` then tracks the run: running, failed (with the error) or
    completed.
    """
    from . import config as config_mod
    from ._rundir import open_run
    from ._tasks import get_task
    from .plot import loss_curve, save
    from .train import CheckpointError

    out = pathlib.Path(out)
    task = get_task(cfg.task)
    # A checkpoint that does not fit the model (or none readable) is a refusal: the directory stays as it was.
    with open_run(out, config_mod.to_dict(cfg), resume=resume, untouched_on=(CheckpointError,)):
        config_mod.dump(cfg, out / "config.yaml")
        t0 = time.perf_counter()
        summary = task.run(cfg, out, resume=resume, progress=progress)
        summary = {"task": cfg.task, **(summary or {}), "wall_time_s": time.perf_counter() - t0}
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_jsonable))
        metrics = out / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().strip():
            save(loss_curve(metrics, title=f"{cfg.task}: training"), out / "figures" / "loss.png")
    return summary


def _jsonable(x):
    try:
        import numpy as np

        arr = np.asarray(x)
        if np.iscomplexobj(arr):
            return {"real": arr.real.tolist(), "imag": arr.imag.tolist()}
        return arr.tolist()
    except Exception:  # noqa: BLE001
        return str(x)


def _cmd_run(args, require_task=None) -> int:
    from . import config as config_mod

    cfg = config_mod.load(args.config, overrides=args.overrides)
    if require_task is not None and cfg.task != require_task:
        raise ValueError(
            f"`jaxrep solve` expects a PDE config (task: {require_task}), got task: {cfg.task}; "
            f"use `jaxrep run {args.config}`"
        )
    out = args.out or str(pathlib.Path("runs") / _config_stem(args.config))
    summary = run_config(cfg, out, resume=args.resume, progress=not args.no_progress)
    print(summary_table(summary, more=f"the full summary: {pathlib.Path(out) / 'summary.json'}"))
    print(f"run directory: {out}")
    return 0


def _config_stem(config: str) -> str:
    name = pathlib.Path(config).name
    return name.rsplit(".", 1)[0] if name.endswith((".yaml", ".yml")) else name


# The table puts identity keys on top, then errors against references, then scores and losses.
_IDENTITY = ("task", "problem", "method")
_HEADLINE = ("rel_l2", "rmse", "error", "nll", "w2", "psnr", "ssim", "loss")


def summary_table(summary: dict, *, max_rows: int = 10, more: str = "") -> str:
    """The headline (scalar) entries of a run summary as an aligned table of at most `max_rows` rows.

    Nested mappings are flattened one level (`siren.psnr`); lists, paths and `None` stay in
    `summary.json`. When entries are left out, a last line says how many, followed by `more`.
    """
    flat = {}
    for k, v in summary.items():
        if isinstance(v, dict):
            flat.update({f"{k}.{k2}": v2 for k2, v2 in v.items()})
        else:
            flat[k] = v
    rows = {}
    for k, v in flat.items():
        if isinstance(v, bool) or (isinstance(v, str) and k in _IDENTITY):
            rows[k] = str(v)
        elif _is_real(v):
            rows[k] = _fmt(k, v)

    def rank(k):
        if k in _IDENTITY:
            return (0, _IDENTITY.index(k))
        if k == "wall_time_s":
            return (3, 0)
        hits = [i for i, word in enumerate(_HEADLINE) if word in k]
        return (1, hits[0]) if hits else (2, 0)

    keys = sorted(rows, key=rank)  # stable: the task's own order within a rank
    if len(keys) > max_rows:
        tail = ["wall_time_s"] if "wall_time_s" in rows else []
        keys = keys[: max_rows - len(tail)] + tail
    width = max((len(k) for k in keys), default=0)
    lines = [f"{k:<{width}}  {rows[k]}" for k in keys]
    left = len(flat) - len(keys)
    if left:
        lines.append(f"({left} more entries{'; ' + more if more else ''})")
    return "\n".join(lines)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)  # numpy scalars register too


def _fmt(key: str, v) -> str:
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if key == "wall_time_s":
        return f"{float(v):.1f} s"
    return f"{float(v):.4g}"


def _cmd_show(args) -> int:
    import yaml

    from . import config as config_mod

    cfg = config_mod.load(args.config, overrides=args.overrides)
    print(yaml.safe_dump(config_mod.to_dict(cfg), sort_keys=False), end="")
    return 0


def _local_configs() -> list[str]:
    """YAML files with a `task:` key in ./configs and the current directory (a user's own configs)."""
    import yaml

    found = []
    for folder in (pathlib.Path("configs"), pathlib.Path(".")):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            try:  # a user's file: data, read with safe_load
                data = yaml.safe_load(path.read_text()) if path.stat().st_size < 1_000_000 else None
            except (OSError, ValueError, yaml.YAMLError):
                continue
            if isinstance(data, dict) and "task" in data:
                found.append(str(path))
    return found


def _cmd_list() -> int:
    from ._tasks import task_names
    from .config import bundled_names

    print("tasks:        " + ", ".join(task_names()))
    print("configs:      " + (", ".join(bundled_names()) or "(none bundled)") + "  (jaxrep run NAME)")
    local = _local_configs()
    if local:
        print("local:        " + ", ".join(local))
    from . import interpolants, koopman, nn, pinn

    for label, names in [("problems", pinn.problems.names()), ("methods", pinn.method_names()),
                         ("bases", nn.basis_names()), ("generators", koopman.generator_names()),
                         ("interpolants", interpolants.interpolant_names())]:
        print(f"{label + ':':<14}" + ", ".join(names))
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list()
        if args.command == "show":
            return _cmd_show(args)
        return _cmd_run(args, require_task="pinn" if args.command == "solve" else None)
    except KeyboardInterrupt:
        print("jaxrep: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line unless --debug
        if args.debug:
            raise
        print(f"jaxrep: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
