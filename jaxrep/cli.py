"""The `jaxrep` command line.

```
jaxrep run   CONFIG [--set key=value ...] [--out DIR] [--resume] [--no-progress] [--debug]
jaxrep solve CONFIG [...]      # the same, for PDE configs (`task: pinn`)
jaxrep list                    # tasks, configs, problems, bases, interpolants
```
A run directory holds `config.yaml` (resolved), `metrics.jsonl`, `summary.json`, `checkpoints/` (Orbax)
and `figures/*.png`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxrep", description="Functional scientific ML in JAX.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on error")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in [
        ("run", "train the task a config describes (dispatch on its `task:`)"),
        ("solve", "solve a PDE config (`task: pinn`)"),
    ]:
        r = sub.add_parser(name, help=help_)
        r.add_argument("config", help="YAML config file")
        r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="dotted override, e.g. --set train.steps=2000 (repeatable)")
        r.add_argument("--out", default=None, help="run directory (default: runs/<config name>)")
        r.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
        r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        r.add_argument("--debug", action="store_true", help="show full tracebacks on error")
    sub.add_parser("list", help="list tasks, configs, problems, bases and interpolants")
    return p


def run_config(cfg, out, *, resume: bool = False, progress: bool = True) -> dict:
    """Run a loaded config into the run directory `out`; returns the summary (also in summary.json)."""
    from . import config as config_mod
    from ._tasks import get_task
    from .plot import loss_curve, save

    out = pathlib.Path(out)
    if out.exists() and any(out.iterdir()) and not resume and (out / "checkpoints").exists():
        raise ValueError(
            f"run directory {str(out)!r} already holds a run; pass --resume to continue it or choose --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    config_mod.dump(cfg, out / "config.yaml")
    task = get_task(cfg.task)
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
    out = args.out or str(pathlib.Path("runs") / pathlib.Path(args.config).stem)
    summary = run_config(cfg, out, resume=args.resume, progress=not args.no_progress)
    print(json.dumps(summary, indent=2, default=_jsonable))
    print(f"run directory: {out}")
    return 0


def _cmd_list() -> int:
    from ._tasks import task_names

    print("tasks:        " + ", ".join(task_names()))
    configs = sorted(pathlib.Path("configs").glob("*.yaml")) if pathlib.Path("configs").is_dir() else []
    print("configs:      " + (", ".join(str(c) for c in configs) or "(none in ./configs)"))
    for label, fn in [("problems", _problems), ("methods", _methods), ("bases", _bases),
                      ("generators", _generators), ("interpolants", _interpolants)]:
        names = fn()
        if names:
            print(f"{label + ':':<14}" + ", ".join(names))
    return 0


def _methods():
    try:
        from .pinn import method_names

        return list(method_names())
    except ImportError:
        return []


def _problems():
    try:
        from .pinn import problems

        return list(problems.names())
    except (ImportError, AttributeError):
        return []


def _bases():
    try:
        from .nn._kan_basis import BASES

        return list(BASES)
    except ImportError:
        return []


def _interpolants():
    try:
        from .interpolants import GAMMAS

        presets = ["linear", "trig", "encoder_decoder", "one_sided", "mirror"]
        return presets + [f"gamma={g}" for g in GAMMAS]
    except ImportError:
        return []


def _generators():
    try:
        from .koopman import generator_names

        return list(generator_names())
    except ImportError:
        return []


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list()
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
