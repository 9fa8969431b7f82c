"""Orbax checkpointing of `TrainState`: atomic saves, restore onto a template, fallback on corruption.

Orbax is imported when a `Checkpointer` is first made, not with `jaxrep`.
"""

from __future__ import annotations

import os
import pathlib
import warnings
from typing import Optional

import equinox as eqx
import jax

from ._state import TrainState


class CheckpointError(ValueError):
    """A checkpoint directory cannot be used: every checkpoint in it is unreadable."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint holds a different tree (other leaves, shapes or dtypes) than the state being trained.

    Attributes: `step`, `path` (the first mismatching leaf, e.g. `model.layers[0].weight`), `stored` and
    `expected` (`(shape, dtype)` or `None` where the leaf is absent).
    """

    def __init__(self, message, step=None, path=None, stored=None, expected=None):
        super().__init__(message)
        self.step, self.path, self.stored, self.expected = step, path, stored, expected


class CheckpointSaveError(OSError):
    """Saving a checkpoint failed (disk full, permission denied, ...); earlier checkpoints are intact.

    Keeps the `errno` of the underlying `OSError` when there is one.
    """


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200]}" if lines else type(e).__name__


def _path_str(path) -> str:
    """`model.layers[0].weight` for a key path of the state or of Orbax's metadata tree."""
    out = ""
    for k in path:
        if isinstance(k, jax.tree_util.SequenceKey):
            out += f"[{k.idx}]"
        elif isinstance(k, jax.tree_util.FlattenedIndexKey):
            out += f"[{k.key}]"
        else:
            name = k.name if isinstance(k, jax.tree_util.GetAttrKey) else getattr(k, "key", k)
            out += f".{name}" if out else str(name)
    return out


def _leaves(tree) -> dict[str, tuple[tuple, str]]:
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape") and hasattr(x, "dtype"))[0]
    return {_path_str(p): (tuple(x.shape), str(x.dtype)) for p, x in flat if hasattr(x, "shape")}


def _first_mismatch(stored: dict, expected: dict):
    """`(path, stored, expected)` of the first leaf (in the expected order) that differs, or `None`."""
    for path, want in expected.items():
        have = stored.get(path)
        if have != want:
            return path, have, want
    for path, have in stored.items():
        if path not in expected:
            return path, have, None
    return None


def _describe(leaf) -> str:
    return "absent" if leaf is None else f"shape {leaf[0]} {leaf[1]}"


class Checkpointer:
    """Saves and restores the array part of a `TrainState` with an Orbax `CheckpointManager`.

    Saves are synchronous and atomic (Orbax writes to a temporary directory and renames it on success),
    so a run killed mid-save, or a save that fails (disk full, permission denied: `CheckpointSaveError`),
    leaves the previous checkpoints intact. `restore_latest` walks the steps from newest to oldest:

    - a checkpoint whose stored tree differs from the template (other leaves, shapes or dtypes, e.g. a
      wider model) raises `CheckpointMismatchError` naming the first mismatching leaf;
    - a checkpoint that cannot be read (truncated or corrupted files) is skipped with a one-line
      `RuntimeWarning`, falling back to the previous one; if none is readable, `CheckpointError`.
    """

    def __init__(self, directory, keep: int = 3):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = pathlib.Path(directory).absolute()
        self.directory.mkdir(parents=True, exist_ok=True)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=False
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
        )

    def all_steps(self) -> list[int]:
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def save(self, state: TrainState, step: int) -> None:
        """Save the arrays of `state` as checkpoint `step`. An `OSError` while writing (e.g. `ENOSPC`,
        `EACCES`) becomes one `CheckpointSaveError` line naming the step and the directory."""
        ocp = self._ocp
        arrays = eqx.filter(state, eqx.is_array)
        try:
            if int(step) in self.all_steps():
                # Only an unreadable checkpoint that `restore_latest` skipped can be in the way: replace it.
                self._manager.delete(int(step))
            self._manager.save(int(step), args=ocp.args.StandardSave(arrays), force=True)
            self._manager.wait_until_finished()
        except Exception as e:  # noqa: BLE001 - Orbax may wrap the OS error
            os_error = _find_os_error(e)
            if os_error is None:
                raise
            reason = os.strerror(os_error.errno) if os_error.errno else str(os_error)
            kept = [s for s in self._safe_steps() if s != int(step)]
            intact = f"; the previous checkpoint (step {kept[-1]}) is intact" if kept else ""
            error = CheckpointSaveError(
                f"could not save the checkpoint at step {int(step)} in {self.directory}: {reason}{intact}"
            )
            error.errno = os_error.errno  # set after, so that the message is not prefixed with "[Errno N]"
            raise error from e

    def _safe_steps(self) -> list[int]:
        try:
            return self.all_steps()
        except Exception:  # noqa: BLE001
            return []

    def stored_leaves(self, step: int) -> Optional[dict[str, tuple[tuple, str]]]:
        """`{leaf path: (shape, dtype)}` of checkpoint `step` from its metadata; `None` if unreadable."""
        try:
            meta = self._manager.item_metadata(step)
        except Exception:  # noqa: BLE001 - unreadable metadata: treated as a corrupted checkpoint
            return None
        tree = getattr(meta, "tree", meta)
        if tree is None:
            return None
        return _leaves(tree)

    def restore_latest(self, template) -> Optional[TrainState]:
        """Restore the newest readable checkpoint onto `template` (shapes, dtypes, shardings, static parts).

        `template` is a `TrainState`, or a function `step -> TrainState` when the structure depends on
        the step (e.g. the optimiser state of a multi-phase run).

        **Returns:** the restored state, or `None` if the directory holds no checkpoint.

        **Raises:** `CheckpointMismatchError` when the newest readable checkpoint holds another tree;
        `CheckpointError` when there are checkpoints but none is readable.
        """
        ocp = self._ocp
        steps = self.all_steps()
        unreadable = []
        for step in reversed(steps):
            tmpl = template(step) if callable(template) else template
            arrays, static = eqx.partition(tmpl, eqx.is_array)
            abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, arrays)
            stored = self.stored_leaves(step)
            if stored is not None:
                bad = _first_mismatch(stored, _leaves(abstract))
                if bad is not None:
                    path, have, want = bad
                    raise CheckpointMismatchError(
                        f"checkpoint at step {step} in {self.directory} does not fit the state being trained: "
                        f"leaf {path} is {_describe(have)} in the checkpoint but {_describe(want)} here "
                        f"(a different model or optimiser; train it into another directory)",
                        step, path, have, want,
                    )
            try:
                if stored is None:
                    raise ValueError("its metadata cannot be read")
                restored = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
                _check_matches(restored, abstract)
            except Exception as e:  # noqa: BLE001 - any unreadable checkpoint falls back
                unreadable.append(step)
                warnings.warn(
                    f"checkpoint at step {step} in {self.directory} is unreadable ({_one_line(e)}); "
                    f"falling back to an earlier one",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            return eqx.combine(restored, static)
        if unreadable:
            raise CheckpointError(
                f"no readable checkpoint in {self.directory}: steps {', '.join(map(str, sorted(unreadable)))} "
                f"are unreadable (truncated or corrupted); move them away to start afresh"
            )
        return None

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


def _find_os_error(e: BaseException) -> Optional[OSError]:
    """The `OSError` (with an errno) that `e` is, or was raised from, if any."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno is not None:
            return e
        e = e.__cause__ or e.__context__
    return None


def _check_matches(restored, abstract) -> None:
    bad = _first_mismatch(_leaves(restored), _leaves(abstract))
    if bad is not None:
        path, have, want = bad
        raise ValueError(f"restored leaf {path} is {_describe(have)}, expected {_describe(want)}")

