"""`fit`: the one training loop of jaxrep."""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import json
import math
import pathlib
import sys
import time
import warnings
import zipfile
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import PRNGKeyArray, PyTree

from .._rundir import RunLock
from . import _cache
from ._checkpoint import Checkpointer
from ._sharding import replicate, shard_batch, shard_batch_constraint
from ._state import TrainState, raw_key

Sampler = Callable[[PRNGKeyArray, Any], PyTree]


class NonFiniteLossError(FloatingPointError):
    """Raised by `fit` when the loss or a metric becomes NaN/inf.

    Attributes: `step` (the step whose loss was non-finite), `metric`, `value`, `model` (the last good
    model, before that step) and `checkpoint_step` (newest checkpoint on disk, untouched, or `None`).
    """

    def __init__(self, step, metric, value, model, checkpoint_step, checkpoint_dir):
        self.step, self.metric, self.value = step, metric, value
        self.model, self.checkpoint_step = model, checkpoint_step
        where = (
            f"; the last good checkpoint (step {checkpoint_step}) in {checkpoint_dir} is intact"
            if checkpoint_step is not None
            else ""
        )
        super().__init__(f"non-finite {metric} = {value} at step {step}; training stopped{where}")


def _tree_where(pred, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), new, old)


def _make_chunk(get_loss, get_optimizer, get_sampler, mesh, data_axis, extra_args: bool):
    """Build the compiled function that advances the state by `n` steps with `lax.scan`.

    The loss, optimiser and sampler are reached through the getters (weak references where possible,
    see `_get_chunk`), looked up while tracing, which only happens inside `fit` while the caller holds
    them. A plain `jax.jit` of a closure made here is used, not `eqx.filter_jit`: JAX's tracing caches
    key weakly on the jitted function, so everything this chunk compiled is freed with it. (With
    `eqx.filter_jit` the function itself is part of the static argument, which JAX's caches hold
    strongly, so the closure, the loss it calls and its executables were never freed.)

    With `extra_args` the optimiser's `update` also receives `value`, `grad` and `value_fn` (the loss
    as a function of the trainable parameters on this step's batch and key), which optax's line
    searches (`optax.lbfgs`, `optax.scale_by_zoom_linesearch`) need; update and apply stay in the one
    compiled step, so the line search never retraces.
    """

    def one_step(state: TrainState, batch, fixed_key=None):
        loss_fn, optimizer, sampler = get_loss(), get_optimizer(), get_sampler()
        key, data_key, step_key = jr.split(state.key, 3)
        if fixed_key is not None:  # a fixed-batch phase: one deterministic objective throughout
            step_key = fixed_key
        if sampler is not None:
            batch = sampler(data_key, state.step)
            if mesh is not None:
                batch = shard_batch_constraint(batch, mesh, data_axis)
        # The output checks run while tracing, once per compilation: no per-step cost.
        if state.loss_state is None:
            def fn(model, batch, key):
                return _check_loss_output(loss_fn(model, batch, key), stateful=False)
        else:  # a stateful loss: loss_fn(model, batch, key, loss_state) -> (loss, aux, new_loss_state)
            def fn(model, batch, key):
                loss, aux, new = _check_loss_output(loss_fn(model, batch, key, state.loss_state), stateful=True)
                return loss, (aux, new)
        params, static = eqx.partition(state.model, eqx.is_inexact_array)
        value_fn = lambda p: fn(eqx.combine(p, static), batch, step_key)[0]  # noqa: E731
        if extra_args and fixed_key is not None and _stores_value(state.opt_state):
            # On a fixed objective a line search has already evaluated the loss and its gradient at the
            # accepted point: reuse them (optax.value_and_grad_from_state), computing only the metrics.
            loss, grads = optax.value_and_grad_from_state(value_fn)(params, state=state.opt_state)
            aux = jax.lax.stop_gradient(fn(state.model, batch, step_key)[1])
        else:
            (loss, aux), grads = eqx.filter_value_and_grad(fn, has_aux=True)(state.model, batch, step_key)
        loss_state = None
        if state.loss_state is not None:
            aux, loss_state = aux
        if extra_args:
            updates, opt_state = optimizer.update(grads, state.opt_state, params, value=loss, grad=grads,
                                                  value_fn=value_fn)
        else:
            updates, opt_state = optimizer.update(grads, state.opt_state, params)
        model = eqx.apply_updates(state.model, updates)
        metrics = {"loss": loss, **aux}
        return TrainState(model, opt_state, state.step + 1, key, loss_state), metrics

    def scan(dynamic, static, batches, fixed, n: int):
        static = jax.tree_util.tree_unflatten(static[1], static[0])

        def body(carry, batch):
            dyn, ok = carry
            if fixed is None:
                new_state, metrics = one_step(eqx.combine(dyn, static), batch)
            else:
                new_state, metrics = one_step(eqx.combine(dyn, static), fixed[0], fixed[1])
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(m)) for m in jax.tree_util.tree_leaves(metrics)]))
            ok_after = ok & finite
            new_dyn = eqx.filter(new_state, eqx.is_array)
            # A non-finite step is not applied: the carried state stays the last good one.
            dyn = _tree_where(ok_after, new_dyn, dyn)
            return (dyn, ok_after), metrics

        (dynamic, ok), metrics = jax.lax.scan(body, (dynamic, jnp.array(True)), batches, length=n)
        return dynamic, metrics, ok

    # As before (`filter_jit(donate="all-except-first")`): the batches are donated, the state and a
    # fixed batch (reused by every call of a phase) are not.
    jitted = jax.jit(scan, static_argnums=(1, 4), donate_argnums=(2,))

    def chunk(state: TrainState, batches, n: int, fixed=None):
        dynamic, static = eqx.partition(state, eqx.is_array)
        leaves, treedef = jax.tree_util.tree_flatten(static)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            dynamic, metrics, ok = jitted(dynamic, (tuple(leaves), treedef), batches, fixed, n)
        return eqx.combine(dynamic, static), metrics, ok

    return chunk


def _get_chunk(loss_fn, optimizer, sampler, mesh, data_axis):
    """The compiled chunk function for these callables, reused across `fit` calls (no recompilation
    when the same loss, optimiser and sampler objects are trained again, e.g. on resume or in sweeps)
    and freed, with its compiled programs, when one of them is garbage collected (`_cache.cached`)."""
    extra = _wants_extra_args(optimizer)
    return _cache.cached((loss_fn, optimizer, sampler), (mesh, data_axis),
                         lambda lf, opt, smp: _make_chunk(lf, opt, smp, mesh, data_axis, extra))


def _stack(batches):
    spec = _batch_spec(batches[0], "data")
    for b in batches[1:]:
        other = _batch_spec(b, "data")
        if other != spec:
            raise TypeError(f"data must yield batches of one structure and shape; {_spec_difference(spec, other)}")
    return jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *batches)


def _describe_value(x) -> str:
    if isinstance(x, (tuple, list)):
        return f"a {len(x)}-{type(x).__name__}"
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"an array of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"a {type(x).__name__}"


def _check_loss_output(out, *, stateful: bool):
    """Check what `loss_fn` returned against fit's contract (while tracing); returns `out`.

    **Raises:** `TypeError` naming `loss_fn` and the expected form, instead of JAX's message from deep
    inside `value_and_grad` or the metrics code."""
    args, form = ("model, batch, key, loss_state", "(loss, aux, new_loss_state)") if stateful else (
        "model, batch, key", "(loss, aux)")
    expected = (f"loss_fn({args}) must return a tuple {form} with `loss` a scalar float array and `aux` a "
                f"dict of scalar metrics")
    n = 3 if stateful else 2
    if not isinstance(out, tuple) or len(out) != n:
        raise TypeError(f"{expected}; it returned {_describe_value(out)}")
    loss, aux = out[0], out[1]
    shape = getattr(loss, "shape", None) if hasattr(loss, "shape") else np.shape(loss)
    if isinstance(loss, (str, bytes)) or shape is None or tuple(shape) != ():
        raise TypeError(f"{expected}; its loss is {_describe_value(loss)}")
    if not jnp.issubdtype(jnp.result_type(loss), jnp.floating):
        raise TypeError(f"{expected}; its loss has dtype {jnp.result_type(loss)}")
    if not isinstance(aux, collections.abc.Mapping):
        raise TypeError(f"{expected}; its aux is {_describe_value(aux)} (use {{}} for no metrics)")
    for k, v in aux.items():
        if isinstance(v, (str, bytes)) or np.shape(v) != ():
            raise TypeError(f"{expected}; its aux[{k!r}] is {_describe_value(v)}")
    return out


_ARRAY_TYPES = (jax.Array, np.ndarray, np.generic, bool, int, float, complex)


def _batch_spec(batch, where: str):
    """`(treedef, ((path, shape, dtype), ...))` of a batch; `TypeError` naming `where` for a leaf that
    is not an array."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(batch)
    spec = []
    for path, x in leaves:
        if not isinstance(x, _ARRAY_TYPES) and not isinstance(x, jax.core.Tracer):
            raise TypeError(
                f"{where} must give a batch that is a pytree of arrays; its leaf "
                f"{jax.tree_util.keystr(path) or '(root)'} is {_describe_value(x)}"
            )
        spec.append((jax.tree_util.keystr(path), tuple(np.shape(x)), str(jnp.result_type(x))))
    return treedef, tuple(spec)


def _spec_difference(a, b) -> str:
    if a[0] != b[0]:
        return f"the structure changed from {a[0]} to {b[0]}"
    for (path, sa, da), (_, sb, db) in zip(a[1], b[1]):
        if (sa, da) != (sb, db):
            return f"leaf {path or '(root)'} changed from shape {sa} {da} to {sb} {db}"
    return "the batches differ"


def _check_sampler(sampler, where: str, key_like) -> None:
    """Trace `sampler(key, step)` twice (abstractly: no computation) and check that it gives a pytree of
    arrays of one structure and shape both times; `TypeError` naming `where` otherwise."""
    specs = []

    def make_probe():  # a fresh function each time, so that JAX's trace cache does not answer the second
        def probe(key, step):
            specs.append(_batch_spec(sampler(key, step), f"the sampler {where} `sample(key, step) -> batch`"))
        return probe

    for _ in range(2):
        jax.eval_shape(make_probe(), jax.ShapeDtypeStruct(key_like.shape, key_like.dtype),
                       jax.ShapeDtypeStruct((), jnp.int32))
    if specs[0] != specs[1]:
        raise TypeError(
            f"the sampler {where} `sample(key, step) -> batch` must return the same structure and shapes "
            f"at every call (a pure function of key and step); {_spec_difference(specs[0], specs[1])}"
        )


def _data_name(phases, i: int) -> str:
    return "data" if phases[i].data is None else f"phases[{i}].data"


def _say(message: str) -> None:
    """One line to stderr that does not break a progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def _read_history(path: pathlib.Path, upto: int) -> tuple[list[str], dict[str, list]]:
    """The rows of the metrics log `path` with `step <= upto` (as lines, and as history columns)."""
    lines, rows = [], []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            if row["step"] <= upto:
                lines.append(line)
                rows.append(row)
        except (ValueError, KeyError, TypeError):
            continue
    history: dict[str, list] = {}
    keys = list(dict.fromkeys(k for r in rows for k in r))
    for k in keys:
        history[k] = [r.get(k, math.nan) for r in rows]
    return lines, history


def _stores_value(opt_state) -> bool:
    """Whether `opt_state` holds exactly one `value` and one `grad` (a line search that keeps them)."""
    try:
        value = optax.tree_utils.tree_get(opt_state, "value")
        grad = optax.tree_utils.tree_get(opt_state, "grad")
    except (KeyError, ValueError):  # more than one found
        return False
    return value is not None and grad is not None


def _wants_extra_args(optimizer) -> bool:
    return isinstance(optimizer, optax.GradientTransformationExtraArgs)


def _strong_types(tree):
    """Strip weak types from the array leaves of `tree` (`optax.lbfgs().init` returns weak-typed scalars,
    whose strong-typed updates would otherwise make the carried state change type and retrace)."""
    return jax.tree_util.tree_map(
        lambda x: jnp.array(x, dtype=x.dtype) if isinstance(x, jax.Array) and x.weak_type else x, tree
    )


@dataclasses.dataclass(frozen=True)
class Phase:
    r"""One stage of a training run: an optimiser for a number of steps.

    `fit(..., phases=[Phase(optax.adam(1e-3), 20000), Phase(optax.lbfgs(), 2000, resample=False)])`
    runs Adam, then L-BFGS from where Adam stopped; the optimiser state is initialised afresh at each
    phase boundary and the step count runs on across phases (checkpoints and the metrics log number
    steps of the whole run).

    **Arguments:**

    - `optimizer`: an optax `GradientTransformation`. A `GradientTransformationExtraArgs` (such as
      `optax.lbfgs()`, whose zoom line search evaluates the loss) also receives `value`, `grad` and
      `value_fn` in its `update`.
    - `steps`: number of steps of this phase (> 0).
    - `data`: the data of this phase (a sampler or an iterable, as `fit`'s `data`); `None` uses `fit`'s.
    - `resample`: `False` draws one batch when the phase starts and trains on it throughout (a
      deterministic full-batch objective, as quasi-Newton line searches need): the batch is
      `sampler(k_batch, start)` and the loss key `k_loss` for every step, with `k_batch, k_loss =
      split(fold_in(key, i))` for phase `i` starting at step `start` and `key` the key given to `fit`,
      so a resumed run draws the same ones. Needs a sampler. A line search that stores the loss and
      gradient at its accepted point (`optax.lbfgs`) then has them reused by the next step instead of
      recomputed.
    - `name`: shown in the progress bar.
    - `select`: with `resample=False`, a function `select(model, batch, key) -> batch` that turns the
      drawn batch into the one the phase trains on, called once when the phase starts with the model
      as it enters the phase (e.g. the residual-based choice of a quasi-Newton phase's collocation
      points, `jaxrep.pinn.rad_fixed_points`); `key` is a third key split from `fold_in(key, i)`. The
      chosen batch is written (atomically) beside the checkpoints, `checkpoint_dir/phase_<i>_batch.npz`,
      so that a run resumed inside the phase trains on the same batch.
    """

    optimizer: optax.GradientTransformation
    steps: int
    data: Any = None
    resample: bool = True
    name: str = ""
    select: Optional[Callable] = None

    def __post_init__(self):
        if not hasattr(self.optimizer, "update") or not hasattr(self.optimizer, "init"):
            raise TypeError(
                f"Phase.optimizer must be an optax GradientTransformation, got {type(self.optimizer).__name__}"
            )
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)) or self.steps < 1:
            raise ValueError(f"Phase.steps must be a positive int, got {self.steps!r}")
        if not isinstance(self.resample, bool):
            raise TypeError(f"Phase.resample must be a bool, got {self.resample!r}")
        if self.select is not None and (self.resample or not callable(self.select)):
            raise ValueError("Phase.select must be a function select(model, batch, key) -> batch, on a phase "
                             "with resample=False")


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """How `fit` runs a training (not what it optimises), for callers that pass it along, e.g.
    `fit(model, loss, data, phases=..., key=key, **options.kwargs())`.

    `steps_per_call` steps fused per compiled call; a checkpoint every `checkpoint_every` steps (`None`:
    only at the end of each phase) keeping the newest `keep`; a metrics row every `log_every` steps.
    """

    steps_per_call: int = 1
    checkpoint_every: Optional[int] = None
    keep: int = 3
    log_every: int = 1

    def __post_init__(self):
        for name in ("steps_per_call", "keep", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"FitOptions.{name} must be an int >= 1, got {v!r}")
        c = self.checkpoint_every
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1):
            raise ValueError(f"FitOptions.checkpoint_every must be an int >= 1 or None, got {c!r}")

    def kwargs(self) -> dict:
        """The keyword arguments of `fit` these options set."""
        return dataclasses.asdict(self)


def _as_sampler(data, where: str):
    sampler = data if callable(data) and not hasattr(data, "__iter__") else None
    if sampler is None and not hasattr(data, "__iter__"):
        raise TypeError(
            f"{where} must be a sampler `sample(key, step) -> batch` or an iterable of batches, "
            f"got {type(data).__name__}"
        )
    return sampler


def _as_phases(optimizer, steps, phases) -> tuple:
    """`fit`'s two call forms as one tuple of `Phase`s: `(optimizer, steps)` is one phase."""
    if phases is None:
        if optimizer is None or steps is None:
            raise ValueError("fit needs either optimizer= and steps=, or phases=")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        if not hasattr(optimizer, "update"):
            raise TypeError(f"optimizer must be an optax GradientTransformation, got {type(optimizer).__name__}")
        return (Phase(optimizer, int(steps)),)
    if optimizer is not None or steps is not None:
        raise ValueError("fit takes either optimizer= and steps=, or phases=, not both")
    phases = tuple(phases)
    if not phases or not all(isinstance(p, Phase) for p in phases):
        raise TypeError("phases must be a non-empty sequence of jaxrep.train.Phase")
    return phases


def _check_options(steps_per_call, log_every, checkpoint_every, resume, checkpoint_dir) -> None:
    if not isinstance(steps_per_call, int) or steps_per_call < 1:
        raise ValueError(f"steps_per_call must be a positive int, got {steps_per_call!r}")
    if log_every < 1:
        raise ValueError(f"log_every must be >= 1, got {log_every!r}")
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1 or None, got {checkpoint_every!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")


def _phase_data(phases, data) -> list:
    """`(data, sampler)` of each phase: its own data or `fit`'s; `sampler` is `None` for an iterable."""
    datas = []
    for i, ph in enumerate(phases):
        d = ph.data if ph.data is not None else data
        if d is None:
            raise TypeError(f"phase {i} has no data: pass fit(data=...) or Phase(data=...)")
        sampler = _as_sampler(d, "data" if ph.data is None else f"phases[{i}].data")
        if not ph.resample and sampler is None:
            raise ValueError(f"phases[{i}]: resample=False needs a sampler `sample(key, step)`, not an iterable")
        datas.append((d, sampler))
    return datas


def _open_metrics(metrics_path, start: int):
    """The history up to `start` and the open metrics log (rows after `start` dropped), or `({}, None)`."""
    history: dict[str, list] = {}
    if metrics_path is None:
        return history, None
    metrics_path = pathlib.Path(metrics_path)
    # Keep the rows up to the resumed step (dropping any beyond it) so that the log, and the history
    # returned, read as one uninterrupted run.
    kept: list[str] = []
    if start > 0 and metrics_path.exists():
        kept, history = _read_history(metrics_path, start)
    if jax.process_index() != 0:  # one writer of the log in a multi-process run
        return history, None
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text("".join(k + "\n" for k in kept))
    return history, open(metrics_path, "a")


def _log_rows(history, metrics_file, metrics, step: int, n: int, log_every: int, ends: tuple, elapsed) -> None:
    """Append the rows of steps `step+1 .. step+n` that are logged: every `log_every`-th and phase ends."""
    for j in range(n):
        s = step + j + 1
        if s % log_every == 0 or s in ends:
            row = {"step": s, **{k: float(np.asarray(v[j])) for k, v in metrics.items()}, "time": elapsed}
            for k, v in row.items():
                history.setdefault(k, []).append(v)
            if metrics_file is not None:
                metrics_file.write(json.dumps(row) + "\n")
    if metrics_file is not None:
        metrics_file.flush()


def _check_samplers(phases, datas, key) -> None:
    """Trace each sampler a phase draws from inside the step (no computation), once per sampler; one
    that draws a phase's fixed batch is called as it is, on the host, and its batch checked then."""
    checked = set()
    for i, (_, sampler) in enumerate(datas):
        if sampler is not None and phases[i].resample and id(sampler) not in checked:
            _check_sampler(sampler, _data_name(phases, i), key)
            checked.add(id(sampler))


def _fixed_batch(phases, i: int, sampler, base_key, start: int, mesh, data_axis, model, saved: Optional[pathlib.Path],
                 inside: bool):
    """`(batch, loss_key)` of a phase with `resample=False`, drawn from `fold_in(key, i)` (so a resumed
    run draws the same ones). With `Phase.select` the batch is `select(model, batch, k_select)`, saved
    to `saved` (when given); a run resumed `inside` the phase reads it back from there instead."""
    k_phase = jr.fold_in(base_key, i)
    k_batch, k_loss = jr.split(k_phase)
    batch = sampler(k_batch, jnp.asarray(start, jnp.int32))
    _batch_spec(batch, f"the sampler {_data_name(phases, i)} `sample(key, step) -> batch`")
    select = phases[i].select
    if select is not None:
        k_select = jr.split(k_phase, 3)[2]
        if inside:
            if saved is None:
                raise ValueError(f"phases[{i}].select: resuming inside the phase needs its saved batch")
            expected = jax.eval_shape(select, model, batch, k_select)
            batch = _read_batch(saved, expected, i)
        else:
            batch = eqx.filter_jit(select)(model, batch, k_select)
            _batch_spec(batch, f"phases[{i}].select(model, batch, key)")
            if saved is not None and jax.process_index() == 0:
                _write_batch(saved, batch)
    if mesh is not None:
        batch = shard_batch(batch, mesh, data_axis)
    return batch, k_loss


def _write_batch(path: pathlib.Path, batch) -> None:
    """The leaves of `batch` as `path` (an `.npz`), written to a temporary file and renamed."""
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(batch)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, *leaves)
    tmp.replace(path)


def _read_batch(path: pathlib.Path, expected, i: int):
    """The batch saved by `_write_batch`, checked against `expected` (its `jax.eval_shape`)."""
    from ._checkpoint import CheckpointError

    leaves, treedef = jax.tree_util.tree_flatten(expected)
    try:
        with np.load(path, allow_pickle=False) as z:
            stored = [z[f"arr_{j}"] for j in range(len(z.files))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"phase {i}'s selected batch {path} cannot be read ({type(e).__name__}); "
                              "the run cannot resume inside that phase") from None
    ok = len(stored) == len(leaves) and all(
        a.shape == tuple(e.shape) and a.dtype == e.dtype for a, e in zip(stored, leaves))
    if not ok:
        raise CheckpointError(f"phase {i}'s selected batch {path} does not match the phase's batch "
                              "(other arrays, shapes or dtypes)")
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in stored])


def _next_batches(iterator, n: int, step: int, steps: int, mesh, data_axis):
    """The next `n` batches of an iterable, stacked along a leading scan axis."""
    try:
        batches = _stack([next(iterator) for _ in range(n)])
    except StopIteration:
        raise ValueError(f"data ran out of batches at step {step}; it must provide `steps`={steps} batches") from None
    if mesh is not None:
        batches = shard_batch(batches, mesh, data_axis, scan_axis=True)
    return batches


class _Progress:
    """The tqdm bar of a run; a phase's first call (compilation) is kept out of its rate and ETA."""

    def __init__(self, enabled: bool, total: int, start: int, desc: str):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=min(start, total), desc=desc, dynamic_ncols=True, leave=True)

    def new_phase(self, label) -> None:
        self.compiled, self.t_phase = False, time.perf_counter()
        if self.bar is not None and label is not None:
            self.bar.set_description(label)

    def advance(self, step: int, n: int, loss: float) -> None:
        bar = self.bar
        if bar is None:
            return
        if not self.compiled:  # restart the bar's clock after compilation: the ETA is the true speed
            bar.n = bar.last_print_n = bar.initial = step
            bar.start_t = bar.last_print_t = time.time()  # tqdm's clock
            bar.refresh()
            self.t_rate, self.s_rate, self.compiled = time.perf_counter(), step, True
            rate = n / max(self.t_rate - self.t_phase, 1e-9)  # compilation included, until the next call
        else:
            bar.update(n)
            rate = (step - self.s_rate) / max(time.perf_counter() - self.t_rate, 1e-9)
        bar.set_postfix(loss=f"{loss:.3e}", steps_per_s=f"{rate:.1f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fit(
    model: PyTree,
    loss_fn: Callable,
    data: Union[Sampler, Iterable[PyTree], None],
    optimizer: Optional[optax.GradientTransformation] = None,
    *,
    steps: Optional[int] = None,
    key: PRNGKeyArray,
    phases: Optional[Sequence[Phase]] = None,
    loss_state: Optional[PyTree] = None,
    checkpoint_dir: Union[None, str, pathlib.Path] = None,
    resume: bool = False,
    checkpoint_every: Optional[int] = None,
    keep: int = 3,
    steps_per_call: int = 1,
    mesh: Optional[jax.sharding.Mesh] = None,
    data_axis: str = "data",
    progress: bool = True,
    desc: str = "fit",
    metrics_path: Union[None, str, pathlib.Path] = None,
    log_every: int = 1,
    callback: Optional[Callable[[int, PyTree, dict], None]] = None,
    opt_state: Optional[PyTree] = None,
    return_opt_state: bool = False,
):
    r"""Train `model` by minimising `loss_fn` with an optax `optimizer` (or a sequence of `phases`).

    Each step draws `key, data_key, step_key = split(state.key, 3)`, builds the batch, computes
    $(\ell, \text{aux}), \nabla_\theta \ell$ with `eqx.filter_value_and_grad`, and applies the optax update.
    `steps_per_call` steps are fused into one compiled `lax.scan`, so the host is visited once per
    `steps_per_call` steps (this matters on GPU/TPU).

    **Arguments:**

    - `model`: an Equinox module (any pytree); its inexact arrays are trained.
    - `loss_fn`: `loss_fn(model, batch, key) -> (loss, aux)` with `loss` a scalar float array and `aux` a
      dict of scalar metrics (`{}` for none). Checked once, while the step is traced.
    - `data`: either a pure sampler `sample(key, step) -> batch` (traced inside the compiled step, so
      e.g. PINN collocation points are resampled each step at no host cost; it must return a pytree of
      arrays of one structure and shape, checked by tracing it when `fit` starts), or an iterable of
      batches (pytrees of arrays of a fixed shape). For exact resume an iterable must be re-iterable and give
      the same batches each time; `fit` skips the batches already consumed. May be `None` when every
      phase brings its own `data`.
    - `optimizer`, `steps`: one optax `GradientTransformation` for `steps` steps; or instead
    - `phases`: a sequence of `Phase` (optimiser, steps, optional data, `resample`), run one after the
      other (e.g. Adam, then L-BFGS on a fixed batch). A run resumed inside any phase, or at a phase
      boundary, continues exactly as the uninterrupted run.
    - `loss_state`: the initial state of a *stateful* loss (a pytree of arrays, e.g. adaptive loss
      weights). With it, `loss_fn(model, batch, key, loss_state) -> (loss, aux, new_loss_state)`; the
      state lives in the `TrainState` (checkpointed, carried across phases, restored on resume) and
      carries no gradient.
    - `key`: PRNG key (typed or legacy).
    - `checkpoint_dir`: where Orbax checkpoints go (none are written if `None`). While `fit` runs, the
      directory is locked (`jaxrep.lock`, holding the pid): a second process training into it is refused
      with `RunLockedError`; the lock of a process that died is taken over.
    - `resume`: continue from the newest readable checkpoint in `checkpoint_dir`, if there is one, and
      say so on stderr in one line (`resumed from the checkpoint at step N in DIR`, or `no checkpoint in
      DIR; starting at step 0`). The result is bit-identical to an uninterrupted run on the same device.
      A checkpoint of another model or optimiser (other leaves or shapes) raises
      `CheckpointMismatchError` naming the first mismatching leaf; an unreadable (truncated, corrupted)
      newest checkpoint is skipped with a one-line `RuntimeWarning` for the previous one.
    - `checkpoint_every`: save every this many steps (default: only at the end, and at the end of each
      phase); `keep`: how many to keep.
    - `steps_per_call`: steps fused per compiled call.
    - `mesh`: a `jax.sharding.Mesh`; when given, the batch's leading axis is sharded over `data_axis`
      and the state is replicated (data parallelism). Works unchanged multi-host after
      `jax.distributed.initialize()` with a mesh over `jax.devices()`.
    - `progress`: show a tqdm bar with the loss and steps/s, labelled `desc` (and the phase's name).
    - `metrics_path`: JSON-lines file receiving one row of metrics every `log_every` steps (default with
      a `checkpoint_dir`: `checkpoint_dir/metrics.jsonl`, so that a resumed run knows its history).
    - `callback`: `callback(step, model, metrics)` called on the host after each compiled call.
    - `opt_state`: the optimiser state to start the first phase from, instead of `optimizer.init`
      (e.g. Adam's moments carried across a KAN grid change by `jaxrep.nn.refine_grid(...,
      opt_state=...)`); it must have the structure and shapes of `optimizer.init(params)`. A run that
      resumes from a checkpoint uses the checkpoint's state.
    - `return_opt_state`: also return the final optimiser state (of the last phase).

    The compiled step is kept for the next call with the same `loss_fn`, `optimizer` and `data` sampler
    objects (no recompilation) and freed, with its compiled programs, once one of them is garbage
    collected, so a sweep that builds a fresh loss per run in one process does not accumulate them.

    **Returns:** `(model, history)` (`(model, history, opt_state)` with `return_opt_state`) where `history` maps `"step"`, `"loss"`, each aux metric and
    `"time"` (seconds since the `fit` call that logged the row started) to numpy arrays, one entry every
    `log_every` steps, for the whole run: after a resume, the rows up to the restored step are read back
    from the metrics log.

    **Raises:**

    - `NonFiniteLossError` when the loss or a metric is NaN/inf: it names the step and the metric, keeps
      the newest checkpoint intact and carries the last good model.
    - `TypeError` naming `loss_fn` or the sampler when either breaks the contract above.
    - `CheckpointMismatchError`, `CheckpointError` (no readable checkpoint), `CheckpointSaveError` (an
      `OSError` such as a full disk while saving; the previous checkpoint stays intact) and
      `RunLockedError`, each with a one-line message.
    """
    phases = _as_phases(optimizer, steps, phases)
    _check_options(steps_per_call, log_every, checkpoint_every, resume, checkpoint_dir)
    datas = _phase_data(phases, data)
    ends = np.cumsum([p.steps for p in phases]).tolist()
    steps = int(ends[-1])
    starts = [0] + ends[:-1]

    base_key = raw_key(key)
    _check_samplers(phases, datas, base_key)

    def initial_state(i: int, m, step, k, ls) -> TrainState:
        opt_state = _strong_types(phases[i].optimizer.init(eqx.filter(m, eqx.is_inexact_array)))
        return TrainState(m, opt_state, jnp.asarray(step, dtype=jnp.int32), k, ls)

    ls0 = None if loss_state is None else _strong_types(jax.tree_util.tree_map(jnp.asarray, loss_state))
    state = initial_state(0, model, 0, base_key, ls0)
    if opt_state is not None:
        state = TrainState(state.model, _given_opt_state(opt_state, state.opt_state), state.step, state.key,
                           state.loss_state)
    if mesh is not None:
        state = replicate(state, mesh)

    if checkpoint_dir is not None:
        checkpoint_dir = pathlib.Path(checkpoint_dir)
        if metrics_path is None:
            metrics_path = checkpoint_dir / "metrics.jsonl"
    # One writer per checkpoint directory: a second live process is refused, a dead one's lock is taken over.
    # In a multi-process (multi-host) run all processes save together (Orbax); the first one holds the lock.
    lock = None
    if checkpoint_dir is not None and jax.process_index() == 0:
        lock = RunLock(checkpoint_dir, "checkpoint_dir").acquire()
    ckpt = bar = metrics_file = None
    finished = False
    try:
        ckpt = Checkpointer(checkpoint_dir, keep=keep) if checkpoint_dir is not None else None
        last_saved = None
        if resume and ckpt is not None:

            def template(step: int) -> TrainState:
                # Saved at step s: the optimiser state of the phase that ran step s.
                i = next(i for i, e in enumerate(ends) if step <= e) if step <= steps else len(phases) - 1
                tmpl = initial_state(i, model, 0, base_key, ls0)
                return tmpl if mesh is None else replicate(tmpl, mesh)

            restored = ckpt.restore_latest(template)
            if restored is not None:
                state = restored if mesh is None else replicate(restored, mesh)
                last_saved = int(state.step)
                _say(f"{desc}: resumed from the checkpoint at step {last_saved} in {ckpt.directory}")
            else:
                _say(f"no checkpoint in {ckpt.directory}; starting at step 0")
        start = int(state.step)

        history, metrics_file = _open_metrics(metrics_path, start)
        bar = _Progress(progress, steps, start, desc)

        t0 = time.perf_counter()
        step = start
        for i, ph in enumerate(phases):
            if step >= ends[i]:
                continue
            d, sampler = datas[i]
            if step == starts[i] and i > 0:
                # A new phase: fresh optimiser state, same model, step, key and loss state.
                state = initial_state(i, state.model, step, state.key, state.loss_state)
                if mesh is not None:
                    state = replicate(state, mesh)
            fixed = None
            if not ph.resample:
                saved = None if checkpoint_dir is None else checkpoint_dir / f"phase_{i}_batch.npz"
                fixed = _fixed_batch(phases, i, sampler, base_key, starts[i], mesh, data_axis, state.model, saved,
                                     inside=step > starts[i])
            iterator = None
            if sampler is None:
                iterator = iter(d)
                for _ in range(step - starts[i]):  # skip what the resumed run already consumed
                    next(iterator)
            chunk = _get_chunk(loss_fn, ph.optimizer, sampler if ph.resample else None, mesh, data_axis)
            bar.new_phase(f"{desc} [{ph.name or f'phase {i}'}]" if len(phases) > 1 else None)
            while step < ends[i]:
                n = min(steps_per_call, ends[i] - step)
                if checkpoint_every is not None and ckpt is not None:
                    n = min(n, checkpoint_every - step % checkpoint_every)
                batches = _next_batches(iterator, n, step, steps, mesh, data_axis) if sampler is None else None
                new_state, metrics, ok = chunk(state, batches, n, fixed)
                metrics = jax.device_get(metrics)
                if not bool(ok):
                    bad = _first_non_finite(metrics)
                    raise NonFiniteLossError(
                        step + bad[0] + 1, bad[1], bad[2], new_state.model, last_saved,
                        ckpt.directory if ckpt is not None else None,
                    )
                state = new_state
                _log_rows(history, metrics_file, metrics, step, n, log_every, (steps, ends[i]),
                          time.perf_counter() - t0)
                step += n
                bar.advance(step, n, float(metrics["loss"][-1]))
                if ckpt is not None and (
                    step == ends[i] or (checkpoint_every is not None and step % checkpoint_every == 0)
                ):
                    ckpt.save(state, step)
                    last_saved = step
                if callback is not None:
                    callback(step, state.model, {k: v[-1] for k, v in metrics.items()})
        finished = True
    finally:
        if bar is not None:
            bar.close()
        if metrics_file is not None:
            metrics_file.close()
        if ckpt is not None:
            # While an error propagates, a failure to close must not replace it.
            with contextlib.nullcontext() if finished else contextlib.suppress(Exception):
                ckpt.close()
        if lock is not None:
            lock.release()

    history = {k: np.asarray(v) for k, v in history.items()}
    if return_opt_state:
        return state.model, history, state.opt_state
    return state.model, history


def _given_opt_state(given, expected):
    """`given` cast to the dtypes of `expected` (a fresh `init`), or a one-line error on another structure."""
    g_leaves, g_def = jax.tree_util.tree_flatten(given)
    e_leaves, e_def = jax.tree_util.tree_flatten(expected)
    if g_def != e_def:
        raise ValueError("opt_state does not have the structure of optimizer.init(params) for this model "
                         f"({len(g_leaves)} leaves given, {len(e_leaves)} expected)")
    out = []
    for i, (g, e) in enumerate(zip(g_leaves, e_leaves)):
        g = jnp.asarray(g)
        if g.shape != jnp.shape(e):
            raise ValueError(f"opt_state leaf {i} has shape {g.shape}, optimizer.init(params) gives {jnp.shape(e)}")
        out.append(g.astype(jnp.asarray(e).dtype))
    return jax.tree_util.tree_unflatten(e_def, out)


def _first_non_finite(metrics) -> tuple[int, str, float]:
    n = len(metrics["loss"])
    for i in range(n):
        for k, v in metrics.items():
            x = np.asarray(v[i])
            if not np.all(np.isfinite(x)):
                return i, k, float(x) if x.ndim == 0 else float("nan")
    return n - 1, "loss", math.nan
