r"""Time marching: the training window cut into consecutive windows, one network per window.

Window $k$ covers $[t_k, t_{k+1}]$, $t_k = t_0 + k(T - t_0)/K$. Its network is trained on the PDE in
that window alone, with the previous window's network at $t_k$ as its initial condition
($u^{(k)}(x, t_k) = u^{(k-1)}(x, t_k)$, and $u_t$ too for problems second order in time); window 0
has the problem's own $u_0$. The solution is $u^{(k)}$ on window $k$ (`MarchedModel`). Each window is a
smaller, easier optimisation problem (the causal structure is imposed between windows), at the cost
of training $K$ networks.

**References:** R. Mattey, S. Ghosh, "A novel sequential method to train physics informed neural
networks for Allen Cahn and Cahn Hilliard equations", CMAME 390 (2022); S. Wang, S. Sankaran, H. Wang,
P. Perdikaris, "An expert's guide to training physics-informed neural networks", arXiv:2308.08468
(2023).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._model import PINNModel
from ..pde._problem import AbstractProblem

_WINDOWED: dict[type, type] = {}


def _windowed_class(base: type) -> type:
    """The subclass of a problem class whose initial condition can come from a previous window."""
    if base in _WINDOWED:
        return _WINDOWED[base]

    class Windowed(base):
        previous: Optional[Callable] = eqx.field(default=None, static=True)

        def _t0(self, x):
            return jnp.asarray(self.time_window[0], x.dtype if x.size else jnp.result_type(float))

        def initial_condition(self, x):
            if self.previous is None:
                return super().initial_condition(x)
            return jax.lax.stop_gradient(self.previous(x, self._t0(x)))

        def initial_residual(self, u, x):
            if self.previous is None:
                return super().initial_residual(u, x)
            t0 = self._t0(x)
            value = u(x, t0) - self.initial_condition(x)
            if self.time_order == 1:
                return value
            ut = jax.jvp(lambda t: u(x, t), (t0,), (jnp.ones_like(t0),))[1]
            prev_t = jax.jvp(lambda t: self.previous(x, t), (t0,), (jnp.ones_like(t0),))[1]
            return jnp.concatenate([value, ut - jax.lax.stop_gradient(prev_t)])

    Windowed.__name__ = Windowed.__qualname__ = f"Windowed{base.__name__}"
    _WINDOWED[base] = Windowed
    return Windowed


def window_problem(problem: AbstractProblem, start: float, end: float,
                   previous: Optional[Callable] = None) -> AbstractProblem:
    r"""`problem` restricted to the time window $[$`start`, `end`$]$ (its time and training window,
    no extrapolation windows), with initial condition `previous(x, start)` when `previous` (a solution
    function `u(x, t) -> (n_out,)`, held without gradient) is given, else the problem's own."""
    cls = _windowed_class(type(problem))
    kw = {f.name: getattr(problem, f.name) for f in dataclasses.fields(problem) if f.init}
    kw.update(time_window=(float(start), float(end)), train_window=(float(start), float(end)),
              extrapolation_windows=(), previous=previous)
    return cls(**kw)


def window_edges(problem: AbstractProblem, windows: int) -> np.ndarray:
    """The `windows + 1` equally spaced edges $t_0 < t_1 < \\dots < t_K = T$ of the training window."""
    t0, t1 = problem.train_window
    return np.linspace(t0, t1, windows + 1)


class MarchedModel(eqx.Module):
    r"""The time-marched solution: `models[k].u` on window $k$ (`edges[k] <= t < edges[k+1]`; the first
    window extends below $t_0$, the last beyond $T$), with the `PINNModel` interface. The Koopman parts
    (`z`, `A`, `observable`, `generator`) are the last window's, whose rollout starts at $T$."""

    models: tuple[PINNModel, ...]
    edges: tuple[float, ...] = eqx.field(static=True)

    @property
    def field(self):
        return self.models[-1].field

    @property
    def observable(self):
        return self.models[-1].observable

    @property
    def generator(self):
        return self.models[-1].generator

    @property
    def has_koopman(self) -> bool:
        return self.models[-1].has_koopman

    def window_index(self, t):
        """Index of the window that holds time `t`."""
        inner = jnp.asarray(self.edges[1:-1], jnp.asarray(t).dtype)
        return jnp.sum(jnp.asarray(t) >= inner).astype(jnp.int32)

    def u(self, x, t):
        branches = [lambda ms, x, t, i=i: ms[i].u(x, t) for i in range(len(self.models))]
        return jax.lax.switch(self.window_index(t), branches, self.models, x, t)

    def z(self, x, t):
        return self.models[-1].z(x, t)

    def A(self):
        return self.models[-1].A()
