"""Run directories: a status file, a single-writer lock, and the resume check of the resolved config.

A run directory (`jaxrep run CONFIG --out D`) holds `config.yaml` (the resolved config), `metrics.jsonl`,
`summary.json`, `checkpoints/`, `figures/`, and two files written here:

- `status.json`: `{"status": "running" | "failed" | "completed", "pid", "started", ...}`, with the
  error's one-line message when failed. It is replaced atomically (temporary file + `os.replace`), so a
  reader never sees half a file.
- `jaxrep.lock`: the pid of the process writing the directory. A second process is refused while that
  pid is alive; a lock left by a dead process (a `kill -9`, a node that went away) is taken over.

`--resume` continues a run only when the new config trains the same thing: the stored and the new
config may differ only in the keys of `SAFE_TO_CHANGE` (run length, logging and checkpoint cadence,
evaluation settings). Anything else (task, model, problem, method, data, loss, optimiser) is refused
before anything in the directory is touched.

This module is a leaf: it imports only the standard library and PyYAML (the trainer uses its lock).
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import json
import os
import pathlib
import re
from typing import Any, Iterator, Optional

STATUS_FILE = "status.json"
LOCK_FILE = "jaxrep.lock"
CONFIG_FILE = "config.yaml"

# Config keys (dotted, `[*]` for any list index, `*` for any suffix) that a resumed run may change:
# none of them changes the parameter tree or what a step computes. Everything else is refused.
SAFE_TO_CHANGE = (
    "train.steps",
    "train.phases[*].steps",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.steps_per_call",
    "eval.*",
    "sample.*",
)


class RunDirectoryError(ValueError):
    """A run directory cannot be used as asked (a finished run without `--resume`, a refused resume)."""


class ConfigMismatchError(RunDirectoryError):
    """`--resume` with a config that trains something else than the run stored in the directory."""


class RunLockedError(RuntimeError):
    """Another live process is writing the same run directory (or checkpoint directory)."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def one_line(exc: BaseException) -> str:
    """`Type: message` of `exc` on one line (the first line of the message)."""
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0]}" if msg else type(exc).__name__


# --------------------------------------------------------------------------------------------------
# status


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _read_bytes(path: pathlib.Path) -> Optional[bytes]:
    try:
        return path.read_bytes()
    except OSError:
        return None


def write_status(run_dir, status: str, **fields: Any) -> None:
    """Write `run_dir/status.json` atomically (a temporary file, then `os.replace`):
    `{"status": status, **fields}`."""
    text = json.dumps({"status": status, **fields}, indent=2) + "\n"
    _write_atomic(pathlib.Path(run_dir) / STATUS_FILE, text.encode())


def read_status(run_dir) -> Optional[dict]:
    """The status of `run_dir` (`None` without a readable `status.json`). A `running` status whose
    process is no longer alive is reported as `failed` with error `"process PID died"`."""
    try:
        status = json.loads((pathlib.Path(run_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    if status.get("status") == "running" and not _pid_alive(status.get("pid")):
        status = {**status, "status": "failed", "error": f"process {status.get('pid')} died"}
    return status


# --------------------------------------------------------------------------------------------------
# lock


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    # A zombie (exited, not yet reaped by its parent) holds nothing.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


_HELD: set[str] = set()  # lock files this process holds


class RunLock:
    """An exclusive, pid-stamped lock on a directory (`DIR/jaxrep.lock`), for `with` or acquire/release.

    Acquiring creates the lock file exclusively (`O_CREAT | O_EXCL`) with this process's pid. If the file
    exists and names a live process (another one, or this one through another `RunLock`), acquiring
    raises `RunLockedError`; if that process is dead, the stale lock is taken over.

    **Arguments:**

    - `directory`: the directory to lock (created if missing).
    - `what`: how the directory is named in the error, e.g. `"run directory"`.
    """

    def __init__(self, directory, what: str = "directory"):
        self.directory = pathlib.Path(directory)
        self.path = self.directory / LOCK_FILE
        self.what = what
        self._held = False

    def holder(self) -> Optional[int]:
        """The pid in the lock file if that process is alive (and the lock is not this object's)."""
        if self._held:
            return None
        try:
            pid = int(self.path.read_text().strip() or -1)
        except (OSError, ValueError):
            return None
        if pid == os.getpid():
            return pid if str(self.path.absolute()) in _HELD else None
        return pid if _pid_alive(pid) else None

    def check(self) -> None:
        """Raise `RunLockedError` if another live holder has the lock (nothing is written)."""
        pid = self.holder()
        if pid is not None:
            raise RunLockedError(
                f"{self.what} {str(self.directory)!r} is being written by process {pid} "
                f"(lock {self.path}); wait for it to finish or write elsewhere"
            )

    def acquire(self) -> "RunLock":
        self.directory.mkdir(parents=True, exist_ok=True)
        # The lock appears with its pid already in it (a hard link of a written file), so a reader never
        # sees an empty lock and takes it for a stale one.
        tmp = self.directory / f".{LOCK_FILE}.{os.getpid()}.tmp"
        tmp.write_text(f"{os.getpid()}\n")
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)
                except FileExistsError:
                    self.check()  # a live holder: refused
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()  # stale: take it over
                    continue
                self._held = True
                _HELD.add(str(self.path.absolute()))
                return self
        finally:
            tmp.unlink(missing_ok=True)
        self.check()
        raise RunLockedError(f"could not take the lock {self.path} of {self.what} {str(self.directory)!r}")

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        _HELD.discard(str(self.path.absolute()))
        with contextlib.suppress(FileNotFoundError):
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# --------------------------------------------------------------------------------------------------
# checkpoints and configs


def checkpoint_steps(run_dir) -> list[int]:
    """Steps of the checkpoints anywhere under `run_dir` (every `checkpoints/<step>` directory; a task
    may train several models, each in its own sub-directory)."""
    run_dir = pathlib.Path(run_dir)
    steps = []
    if not run_dir.is_dir():
        return steps
    for ckpt in [run_dir / "checkpoints", *run_dir.glob("*/checkpoints")]:
        if ckpt.is_dir():
            steps += [int(p.name) for p in ckpt.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(steps)


def _flatten(tree, prefix: str = "") -> dict[str, Any]:
    """Dotted-key leaves of a config mapping; lists of mappings are indexed `key[i]`."""
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(tree, (list, tuple)) and tree and all(isinstance(v, dict) for v in tree):
        out[f"{prefix}.__len__"] = len(tree)
        for i, v in enumerate(tree):
            out.update(_flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = list(tree) if isinstance(tree, tuple) else tree
    return out


def _same(x, y) -> bool:
    return x == y or (isinstance(x, float) and isinstance(y, float) and x != x and y != y)  # NaN == NaN


def config_differences(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """`(key, old value, new value)` for every dotted key whose value differs (missing: `None`)."""
    a, b = _flatten(old), _flatten(new)
    keys = list(a) + [k for k in b if k not in a]
    out, seen = [], set()
    for k in keys:
        name = k.replace(".__len__", "")
        if not _same(a.get(k), b.get(k)) and name not in seen:
            seen.add(name)
            out.append((name, a.get(k), b.get(k)))
    return out


def is_safe_to_change(key: str) -> bool:
    """Whether a resumed run may change config `key` (see `SAFE_TO_CHANGE`)."""
    pattern_key = re.sub(r"\[\d+\]", "[*]", key)
    return any(fnmatch.fnmatchcase(pattern_key, p.replace("[*]", "[[]*[]]")) for p in SAFE_TO_CHANGE)


def check_resume_config(run_dir, new: dict) -> None:
    """Raise `ConfigMismatchError` (one line naming the keys) if `new` differs from the stored
    `run_dir/config.yaml` in any key outside `SAFE_TO_CHANGE`. Without a stored config: no check."""
    import yaml

    path = pathlib.Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return
    try:
        old = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigMismatchError(
            f"cannot resume {str(run_dir)!r}: its stored {CONFIG_FILE} is unreadable ({one_line(e)})"
        ) from None
    if not isinstance(old, dict):
        raise ConfigMismatchError(f"cannot resume {str(run_dir)!r}: its stored {CONFIG_FILE} is not a mapping")
    unsafe = [d for d in config_differences(old, new) if not is_safe_to_change(d[0])]
    if not unsafe:
        return
    shown = ", ".join(f"{k} ({a!r} -> {b!r})" for k, a, b in unsafe[:4])
    more = f" and {len(unsafe) - 4} more" if len(unsafe) > 4 else ""
    raise ConfigMismatchError(
        f"cannot resume {str(run_dir)!r}: the config differs from the stored {CONFIG_FILE} in "
        f"{shown}{more}; only run length, logging, checkpoint and evaluation settings may change on "
        f"resume (use another --out for a different run); nothing was changed"
    )


# --------------------------------------------------------------------------------------------------
# a run


@contextlib.contextmanager
def open_run(run_dir, config: Optional[dict], *, resume: bool,
             untouched_on: tuple[type[BaseException], ...] = ()) -> Iterator[pathlib.Path]:
    """Claim `run_dir` for one run; yields it as a `pathlib.Path`.

    Checks first, writing nothing when refused:

    1. another live process holds the lock -> `RunLockedError`;
    2. with `resume`, the stored config differs in an unsafe key -> `ConfigMismatchError`;
    3. without `resume`, the directory already holds checkpoints or a completed run ->
       `RunDirectoryError` (a failed or killed run without a checkpoint may be rerun).

    Then takes the lock, writes `status.json` as `running` (pid, start time), and on exit marks it
    `completed`, or `failed` with the error's one-line message (the exception propagates). An exception
    of a type in `untouched_on` (e.g. a checkpoint that does not fit the model: a refusal found only once
    the run started) instead puts `config.yaml` and `status.json` back as they were.
    """
    run_dir = pathlib.Path(run_dir)
    lock = RunLock(run_dir, "run directory")
    lock.check()
    if resume and config is not None:
        check_resume_config(run_dir, config)
    if not resume:
        steps, status = checkpoint_steps(run_dir), read_status(run_dir)
        if steps or (status or {}).get("status") == "completed":
            what = f"checkpoints up to step {max(steps)}" if steps else "a completed run"
            state = f", status {status['status']}" if status else ""
            raise RunDirectoryError(
                f"run directory {str(run_dir)!r} already holds a run ({what}{state}); "
                f"pass --resume to continue it, or choose another --out"
            )
    with lock:
        before = {name: _read_bytes(run_dir / name) for name in (CONFIG_FILE, STATUS_FILE)}
        started = _now()
        base = {"pid": os.getpid(), "started": started, "resumed": bool(resume)}
        write_status(run_dir, "running", **base)
        try:
            yield run_dir
        except untouched_on:
            for name, data in before.items():
                with contextlib.suppress(OSError):
                    if data is None:
                        (run_dir / name).unlink(missing_ok=True)
                    else:
                        _write_atomic(run_dir / name, data)
            raise
        except BaseException as e:
            with contextlib.suppress(OSError):
                write_status(run_dir, "failed", **base, ended=_now(), error=one_line(e))
            raise
        write_status(run_dir, "completed", **base, ended=_now())
