"""Typed, validated YAML configs.

A config file is a YAML mapping with a `task:` key (`regression`, `kan_fit`, `kan_symbolic`, `inr`,
`koopman`, `koopman_control`, `pinn`, `interpolant`, `interpolant_image`). The task selects a frozen
dataclass, its schema, and every section of the file is checked against it:

- an unknown key raises `ValueError` naming the key and the closest valid key;
- a value of the wrong type raises `TypeError` naming the field, the expected and the given type;
- `Literal[...]` fields accept only their listed choices.

`load` takes a file or the name of a bundled config (`load("burgers")`; the YAML files in
`jaxrep/configs/`, package data, so names work from any directory); a file that exists wins.

Overrides use dotted paths, `load(path, overrides=["train.steps=2000", "model.width_size=128"])`;
the value is parsed with `yaml.safe_load`, so `1e-3`, `true`, `[2, 5, 1]` work as expected.

This module is a leaf of the package: it imports no task. Tasks are plug-ins registered under the
entry-point group `jaxrep.tasks` (module with `Config` and `run`; jaxrep's own in its `pyproject.toml`,
defined in `jaxrep/_tasks/`); `task_schema(name)` finds a task's schema there, and `parse` / `load`
also take the schema directly (`schema=`). Turning a `TrainConfig` into optimisers is the task layer's.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.resources
import pathlib
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import yaml

from ._validate import check_positive, did_you_mean
from .nn._model_config import ModelConfig as ModelConfig

#: Entry-point group under which packages register tasks (a module with `Config` and `run`).
TASK_GROUP = "jaxrep.tasks"

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "ModelConfig",
    "PhaseConfig",
    "TrainConfig",
    "bundled_names",
    "dump",
    "from_dict",
    "load",
    "parse",
    "read",
    "resolve",
    "task_module",
    "task_names",
    "task_schema",
    "to_dict",
]


@dataclass(frozen=True)
class PhaseConfig:
    """One optimiser phase of `train.phases` (a `jaxrep.train.Phase` once translated).

    Unset (`null`) fields take the value of the enclosing `train` section. `lbfgs` is `optax.lbfgs`
    with its zoom line search (at most `linesearch_steps` evaluations a step, `memory_size` pairs; no
    learning rate). `bfgs` is `jaxrep.train.bfgs`: dense quasi-Newton (an $n\times n$ inverse Hessian, so
    for networks of a few thousand parameters) with the same line search and the update `scaling`
    (`ssbroyden`, `ssbfgs` or `none`). `resample`: fresh collocation points every step (default) or one
    fixed set drawn at the phase start (the default for `lbfgs` and `bfgs`, whose line search needs a
    deterministic objective).
    `n_residual`: PDE tasks only, the number of residual points of this phase (default
    `sampling.n_residual`).
    """

    optimizer: Literal["adam", "adamw", "sgd", "lion", "soap", "lbfgs", "bfgs"] = "adam"
    steps: int = 1000
    learning_rate: Optional[float] = None
    schedule: Optional[Literal["constant", "cosine", "exponential"]] = None
    warmup_steps: Optional[int] = None
    decay_rate: Optional[float] = None
    resample: Optional[bool] = None
    n_residual: Optional[int] = None
    memory_size: int = 50  # optax default is 10; 50 reached 3.4x lower error on Burgers (BENCHMARKS.md)
    linesearch_steps: int = 20
    scaling: Literal["ssbroyden", "ssbfgs", "none"] = "ssbroyden"  # bfgs only

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"train.phases[].steps must be >= 1, got {self.steps}")
        if self.learning_rate is not None:
            check_positive(self.learning_rate, "train.phases[].learning_rate")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ValueError(f"train.phases[].warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.n_residual is not None and self.n_residual < 1:
            raise ValueError(f"train.phases[].n_residual must be >= 1, got {self.n_residual}")
        if self.memory_size < 1 or self.linesearch_steps < 1:
            raise ValueError(
                f"train.phases[].memory_size and linesearch_steps must be >= 1, got {self.memory_size}, "
                f"{self.linesearch_steps}"
            )


@dataclass(frozen=True)
class TrainConfig:
    """Options of `jaxrep.train.fit` and of the optimiser it is given.

    `phases` (a list of `PhaseConfig`), when given, replaces the single optimiser described by
    `steps`/`optimizer`/...: the run is then the phases one after the other (their `steps` add up),
    e.g. `phases: [{optimizer: adam, steps: 20000}, {optimizer: lbfgs, steps: 2000}]`.
    `ema: 0.999` returns (and evaluates) an exponential moving average of the weights instead of the last
    iterate ([`jaxrep.train.ema`][jaxrep.train.ema]); it needs the single optimiser.
    """

    steps: int = 1000
    learning_rate: float = 1e-3
    optimizer: Literal["adam", "adamw", "sgd", "lion", "soap"] = "adam"
    schedule: Literal["constant", "cosine", "exponential"] = "constant"
    warmup_steps: int = 0
    decay_rate: float = 0.1  # final/initial learning-rate ratio for the exponential schedule
    weight_decay: float = 0.0
    grad_clip: Optional[float] = None
    batch_size: int = 256
    seed: int = 0
    steps_per_call: int = 1
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    phases: tuple[PhaseConfig, ...] = ()
    # Evaluate with an exponential moving average of the weights (`jaxrep.train.ema`, decay `ema`);
    # null: the last iterate. Needs the single optimiser (no `phases`).
    ema: Optional[float] = None

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"train.steps must be >= 1, got {self.steps}")
        check_positive(self.learning_rate, "train.learning_rate")
        for name in ("batch_size", "steps_per_call", "checkpoint_every", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise ValueError(f"train.warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"train.grad_clip must be > 0 or null, got {self.grad_clip}")
        if self.ema is not None:
            if not 0 < self.ema < 1:
                raise ValueError(f"train.ema must be a decay in (0, 1) or null, got {self.ema}")
            if self.phases:
                raise ValueError("train.ema averages one optimiser's iterates: use it without train.phases")


# --------------------------------------------------------------------------------------------------
# dict <-> dataclass


def _type_name(tp) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp, where: str) -> Any:
    """Check `value` against the annotation `tp` and convert YAML lists to tuples."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except (TypeError, ValueError) as e:
                errors.append(e)
        raise TypeError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if origin is Literal:
        if value not in args:
            hint = did_you_mean(value, args, paren=True)
            raise ValueError(f"{where}: expected one of {list(args)}, got {value!r}{hint}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected a mapping for section {tp.__name__}, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise ValueError(f"{where}: expected {len(args)} items, got {len(value)}")
            items = [_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            items = [_convert(v, args[0], f"{where}[{i}]") if args else v for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else list(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-3` (no dot) as a string; accept what Python reads as a number.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where}: expected float, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where}: expected int, got {type(value).__name__} {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where}: expected bool, got {type(value).__name__} {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected str, got {type(value).__name__} {value!r}")
        return value
    return value


def from_dict(cls, data: dict, where: str = ""):
    """Build the frozen dataclass `cls` from a (YAML) mapping, validating every key and type."""
    if not isinstance(data, dict):
        raise TypeError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in fields:
            hint = did_you_mean(key, fields, cutoff=0.4)
            raise ValueError(
                f"unknown config key {name!r}{hint} (valid keys{' of ' + where if where else ''}: "
                f"{', '.join(fields)})"
            )
        kwargs[key] = _convert(value, hints[key], name)
    return cls(**kwargs)


def to_dict(cfg) -> dict:
    """The plain-dict (YAML-ready) form of a config dataclass; tuples become lists."""

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return clean(dataclasses.asdict(cfg))


def dump(cfg, path) -> None:
    """Write the resolved config `cfg` to `path` as YAML."""
    pathlib.Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def _apply_override(data: dict, override: str) -> None:
    if "=" not in override:
        raise ValueError(f"override {override!r} must look like 'section.key=value'")
    path, raw = override.split("=", 1)
    keys = path.strip().split(".")
    if not all(keys):
        raise ValueError(f"override {override!r} has an empty key")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or e
        raise ValueError(f"override {override!r}: the value is not valid YAML ({problem})") from e
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ValueError(f"override {override!r}: {k!r} is not a section")
    node[keys[-1]] = value


def task_names() -> list[str]:
    """Names of the tasks that the installed packages register (the `jaxrep.tasks` entry points)."""
    return sorted(_task_entry_points())


def _task_entry_points() -> dict:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=TASK_GROUP)}


def task_module(task: str) -> types.ModuleType:
    """The module of the task named `task` (its `Config` dataclass and `run` function).

    Tasks are plug-ins: a package registers a module holding a `Config` dataclass and a `run` function
    under the entry-point group `jaxrep.tasks` (jaxrep's own tasks in its `pyproject.toml`), so this
    module knows no task and imports none by name; the task's module is imported here, on first use.

    **Raises:** `ValueError` naming the registered tasks when `task` is not one of them.
    """
    eps = _task_entry_points()
    if task not in eps:
        if not eps:
            raise ValueError(f"task={task!r}: no tasks are registered (entry points {TASK_GROUP!r}); "
                             "install jaxrep (`pip install -e .` in a checkout) so that its tasks are found")
        valid = sorted(eps)
        raise ValueError(f"task={task!r} is unknown{did_you_mean(task, valid)} (valid tasks: {', '.join(valid)})")
    return eps[task].load()


def task_schema(task: str) -> type:
    """The config dataclass (`Config`) of the task named `task` (see `task_module`)."""
    return task_module(task).Config


def parse(data: dict, schema: Optional[type] = None, overrides: Optional[list[str]] = None):
    """Validate a config mapping (plus dotted `overrides`) into the dataclass `schema`.

    `schema=None` takes the dataclass of the mapping's `task:` (`task_schema`); a given `schema` is
    filled as it is (the mapping's `task:`, if any, must then be one of its fields like any other key).
    """
    data = dict(data or {})
    for o in overrides or []:
        _apply_override(data, o)
    if schema is None:
        if "task" not in data:
            raise ValueError(f"config has no 'task:' key; valid tasks: {', '.join(task_names())}")
        schema = task_schema(data["task"])
    return from_dict(schema, data)


# --------------------------------------------------------------------------------------------------
# config files: bundled names, paths, and errors that name the file


def _bundled() -> dict:
    """Bundled configs (package data in `jaxrep/configs/`): name -> `Traversable`."""
    root = importlib.resources.files("jaxrep") / "configs"
    if not root.is_dir():
        return {}
    return {f.name.rsplit(".", 1)[0]: f for f in root.iterdir() if f.name.endswith(".yaml") and f.is_file()}


def bundled_names() -> list[str]:
    """Names of the configs shipped with the package, runnable from anywhere as `jaxrep run NAME`."""
    return sorted(_bundled())


def resolve(config) -> pathlib.Path | Traversable:
    """The config file that `config` names: an existing file, else the bundled config of that name.

    A file that exists wins; otherwise `burgers`, `burgers.yaml` and the old checkout path
    `configs/burgers.yaml` all name the bundled `burgers` config.

    **Raises:** `FileNotFoundError` naming the close bundled names when there is no such file or
    config; `IsADirectoryError` for a directory that is not a bundled name.
    """
    path = pathlib.Path(config)
    if path.is_file():
        return path
    stem = path.name[: -len(path.suffix)] if path.suffix in (".yaml", ".yml") else path.name
    bundled = _bundled()
    # A bare name, or `configs/NAME.yaml` from a checkout before the configs moved into the package.
    if stem in bundled and path.parent in (pathlib.Path("."), pathlib.Path("configs")):
        return bundled[stem]
    if path.is_dir():
        found = sorted(str(p) for p in path.glob("*.yaml"))[:3]
        hint = f"; pass one of its YAML files, e.g. {', '.join(found)}" if found else ""
        raise IsADirectoryError(f"config {str(path)!r} is a directory, not a YAML file{hint}")
    hint = did_you_mean(stem, bundled, n=3)
    if path.parent == pathlib.Path(".") and path.suffix not in (".yaml", ".yml"):
        raise FileNotFoundError(
            f"no config file or bundled config named {str(config)!r}{hint} "
            "(`jaxrep list` shows the bundled ones)"
        )
    raise FileNotFoundError(f"config file {str(path)!r} does not exist{hint}")


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _read(source, shown: str) -> dict:
    """Parse the config file `source` (a path or `Traversable`) with `yaml.safe_load`: files are data."""
    raw = source.read_bytes()
    if b"\x00" in raw[:8192]:
        raise ValueError(f"config file {shown!r} is a binary file (it holds NUL bytes), not YAML text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = _line_col(raw.decode("latin-1"), e.start)
        raise ValueError(
            f"{shown}:{line}:{col}: config file is not UTF-8 text (byte 0x{raw[e.start]:02x}); "
            "save it as UTF-8"
        ) from e
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark is not None else shown
        what = e.problem or e.context or "invalid YAML"
        context = ""
        if e.problem and e.context:
            started = e.context_mark
            at = f" started at line {started.line + 1}" if started is not None and started is not mark else ""
            context = f" ({e.context}{at})"
        raise ValueError(f"{where}: invalid YAML: {what}{context}") from e
    except yaml.reader.ReaderError as e:  # a control character yaml does not accept
        line, col = _line_col(text, e.position)
        char = chr(e.character) if isinstance(e.character, int) else e.character
        raise ValueError(f"{shown}:{line}:{col}: invalid YAML: {e.reason}: {char!r}") from e
    except yaml.YAMLError as e:
        raise ValueError(f"{shown}: invalid YAML: {e}") from e
    if data is None:
        raise ValueError(f"config file {shown!r} is empty")
    if not isinstance(data, dict):
        raise ValueError(f"config file {shown!r} must hold a YAML mapping, got {type(data).__name__}")
    return data


def read(config) -> dict:
    """The raw mapping of the config file (or bundled config name) `config`, not yet validated."""
    source = resolve(config)
    return _read(source, str(config) if isinstance(source, pathlib.Path) else str(source))


def load(config, overrides: Optional[list[str]] = None, *, schema: Optional[type] = None):
    """Load a YAML config into its typed, frozen dataclass.

    **Arguments:**

    - `config`: a YAML file, or the name of a bundled config (`"burgers"`, `"kan_fit"`; see
      `bundled_names()`); a file that exists wins. Read with `yaml.safe_load`.
    - `overrides`: dotted `key=value` strings applied before validation, e.g. `["train.steps=2000"]`.
    - `schema`: the dataclass to fill; default: the one of the file's `task:` (`task_schema`).

    **Returns:** the filled config dataclass.

    **Raises:** `FileNotFoundError` / `IsADirectoryError` for a missing file or a directory, `ValueError`
    naming `file:line:column` for a YAML syntax error and the file for a binary or non-UTF-8 one, and the
    validation errors of `parse`.
    """
    return parse(read(config), schema, overrides)
