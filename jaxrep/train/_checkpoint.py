"""Orbax checkpointing of `TrainState`: atomic saves, restore onto a template, fallback on corruption."""

from __future__ import annotations

import pathlib
import warnings
from typing import Optional

import equinox as eqx
import jax
import orbax.checkpoint as ocp

from ._state import TrainState


class Checkpointer:
    """Saves and restores the array part of a `TrainState` with an Orbax `CheckpointManager`.

    Saves are synchronous and atomic (Orbax writes to a temporary directory and renames it on success),
    so a run killed mid-save leaves the previous checkpoints intact. `restore_latest` walks the steps from
    newest to oldest and skips (with a warning) any checkpoint that cannot be read, so a truncated or
    corrupted newest checkpoint falls back to the previous one.
    """

    def __init__(self, directory, keep: int = 3):
        self.directory = pathlib.Path(directory).absolute()
        self.directory.mkdir(parents=True, exist_ok=True)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=False
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def all_steps(self) -> list[int]:
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def save(self, state: TrainState, step: int) -> None:
        arrays = eqx.filter(state, eqx.is_array)
        if int(step) in self.all_steps():
            # Only an unreadable checkpoint that `restore_latest` skipped can be in the way: replace it.
            self._manager.delete(int(step))
        self._manager.save(int(step), args=ocp.args.StandardSave(arrays), force=True)
        self._manager.wait_until_finished()

    def restore_latest(self, template) -> Optional[TrainState]:
        """Restore the newest readable checkpoint onto `template` (shapes, dtypes, shardings, static parts).

        `template` is a `TrainState`, or a function `step -> TrainState` when the structure depends on
        the step (e.g. the optimiser state of a multi-phase run).

        **Returns:** the restored state, or `None` if there is no readable checkpoint.
        """
        for step in reversed(self.all_steps()):
            tmpl = template(step) if callable(template) else template
            arrays, static = eqx.partition(tmpl, eqx.is_array)
            abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, arrays)
            try:
                restored = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
                _check_matches(restored, abstract)
            except Exception as e:  # noqa: BLE001 - any unreadable checkpoint falls back
                warnings.warn(
                    f"checkpoint at step {step} in {self.directory} could not be restored "
                    f"({type(e).__name__}: {str(e)[:200]}); falling back to an earlier one",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            return eqx.combine(restored, static)
        return None

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


def _check_matches(restored, abstract) -> None:
    leaves_r, tree_r = jax.tree_util.tree_flatten(restored)
    leaves_a, tree_a = jax.tree_util.tree_flatten(abstract)
    if tree_r != tree_a:
        raise ValueError("checkpoint tree structure differs from the model/optimiser being trained")
    for r, a in zip(leaves_r, leaves_a):
        if r.shape != a.shape or r.dtype != a.dtype:
            raise ValueError(f"checkpoint leaf {r.shape}/{r.dtype} differs from expected {a.shape}/{a.dtype}")
