"""The cache of compiled training chunks behind `jaxrep.train.fit`, and its public controls.

`fit` compiles one "chunk" function (`steps_per_call` fused steps) per (loss, optimiser, sampler, mesh,
data axis). The cache keeps it across `fit` calls, so training the same loss again (a resume, the next
phase, a sweep over seeds) does not recompile. An entry holds its callables weakly where it can
(functions, bound methods, most objects): it dies with the first of them, e.g. with the loss closure of
one run of a sweep, and its compiled programs with it. What cannot be referenced weakly (an optax
`GradientTransformation` is a NamedTuple, `None`, a mesh) is held; the size bound (`MAX_ENTRIES`,
least recently used first out) covers one loss trained with many optimisers.
"""

from __future__ import annotations

import types
import weakref
from typing import Any, Callable, Sequence

MAX_ENTRIES = 8
_ENTRIES: dict = {}


def clear_cache() -> None:
    """Drop every compiled training chunk that `jaxrep.train.fit` keeps for reuse (their compiled
    programs go with them once nothing else holds them). `jax.clear_caches()` clears JAX's own caches."""
    _ENTRIES.clear()


def cache_info() -> dict:
    """`{"entries": n, "max_entries": MAX_ENTRIES}`: how many compiled chunks `fit` holds now."""
    return {"entries": len(_ENTRIES), "max_entries": MAX_ENTRIES}


def _strong(obj):
    return lambda: obj


def _weak(obj, callback):
    """`(cache-key part, getter, weak references)` for `obj`: identity and a weak reference when it
    can be referenced weakly, else `obj` itself (compared by equality) and a strong getter."""
    if obj is None:
        return None, _strong(None), ()
    if isinstance(obj, types.MethodType):  # a new bound-method object at every attribute access
        try:
            self_ref, func_ref = weakref.ref(obj.__self__, callback), weakref.ref(obj.__func__, callback)
        except TypeError:
            return obj, _strong(obj), ()
        get = lambda: types.MethodType(func_ref(), self_ref())
        return ("method", id(obj.__self__), id(obj.__func__)), get, (self_ref, func_ref)
    try:
        ref = weakref.ref(obj, callback)
    except TypeError:
        return obj, _strong(obj), ()
    return ("id", id(obj)), ref, (ref,)


def cached(objs: Sequence[Any], extra_key: tuple, build: Callable[..., Any]) -> Any:
    """`build(*getters)` for the objects `objs` (and the hashable `extra_key`), reused while every one
    of `objs` is alive. `build` receives one zero-argument getter per object (weak where possible: the
    built value must not hold the objects themselves, or they would never be collected).

    A key part holding the id of an object is only ever looked up while the object is alive: the weak
    reference's callback removes the entry when it dies, before its id can be reused."""
    box = []  # the key, once known; the callbacks must not hold the entry itself

    def drop(_ref):
        if box:
            _ENTRIES.pop(box[0], None)

    parts = [_weak(obj, drop) for obj in objs]
    key = (*(p[0] for p in parts), *extra_key)
    try:
        hash(key)
    except TypeError:
        return build(*(_strong(obj) for obj in objs))
    entry = _ENTRIES.pop(key, None)
    if entry is None:
        value = build(*(p[1] for p in parts))
        entry = (value, tuple(r for p in parts for r in p[2]))
        box.append(key)
        while len(_ENTRIES) >= MAX_ENTRIES:
            _ENTRIES.pop(next(iter(_ENTRIES)))
    _ENTRIES[key] = entry  # most recently used last
    return entry[0]
