"""Registry of config tasks: `task:` name -> module with a `Config` dataclass and a `run` function.

Each task module defines

- `Config`: a frozen dataclass with `task: str` and `train: jaxrep.config.TrainConfig` plus its own
  sections;
- `run(cfg, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict`: trains through
  `jaxrep.train.fit` (checkpoints under `run_dir/"checkpoints"`, metrics in `run_dir/"metrics.jsonl"`),
  writes its figures under `run_dir/"figures"` and returns the summary written to `summary.json`.

Names map to modules here, once; modules are imported lazily so that `jaxrep list` stays fast.
"""

import importlib
import importlib.util
from types import ModuleType

from .._validate import did_you_mean

_TASKS = {
    "regression": "jaxrep._tasks.regression",
    "kan_fit": "jaxrep._tasks.kan_fit",
    "kan_symbolic": "jaxrep._tasks.kan_symbolic",
    "inr": "jaxrep._tasks.inr",
    "koopman": "jaxrep._tasks.koopman",
    "pinn": "jaxrep._tasks.pinn",
    "interpolant": "jaxrep._tasks.interpolant",
    "koopman_control": "jaxrep._tasks.koopman_control",
    "interpolant_image": "jaxrep._tasks.interpolant_image",
}


def _available() -> list[str]:
    names = []
    for name, module in _TASKS.items():
        if importlib.util.find_spec(module) is not None:
            names.append(name)
    return names


def task_names() -> list[str]:
    """Names of the tasks that this installation provides."""
    return _available()


def get_task(name) -> ModuleType:
    """The task module for `name`, or a `ValueError` naming the valid tasks."""
    valid = _available()
    if name not in valid:
        raise ValueError(f"task={name!r} is unknown{did_you_mean(name, valid)} (valid tasks: {', '.join(valid)})")
    return importlib.import_module(_TASKS[name])
