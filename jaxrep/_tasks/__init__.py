"""Registry of config tasks: `task:` name -> module with a `Config` dataclass and a `run` function.

Each task module defines

- `Config`: a frozen dataclass with `task: str` and `train: jaxrep.config.TrainConfig` plus its own
  sections;
- `run(cfg, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict`: trains through
  `jaxrep.train.fit` (checkpoints under `run_dir/"checkpoints"`, metrics in `run_dir/"metrics.jsonl"`),
  writes its figures under `run_dir/"figures"` and returns the summary written to `summary.json`.

Names map to modules once, in `pyproject.toml` (entry-point group `jaxrep.tasks`, read by
`jaxrep.config.task_module`); modules are imported on first use so that `jaxrep list` stays fast.
"""

from types import ModuleType

from .. import config


def task_names() -> list[str]:
    """Names of the tasks that this installation provides (the `jaxrep.tasks` entry points)."""
    return config.task_names()


def get_task(name) -> ModuleType:
    """The task module for `name`, or a `ValueError` naming the valid tasks."""
    return config.task_module(name)
