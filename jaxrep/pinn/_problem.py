r"""The `Problem` spec: a PDE (or ODE) on a space-time box, its conditions, windows and reference.

A problem is an Equinox module holding its physical parameters (viscosity, wave speed, ...) as fields
validated on construction, plus the time windows a solver uses:

- `time_window` $[t_0, t_1]$: where the reference is known;
- `train_window` $[t_0, T]$: where collocation points are drawn (it must start at $t_0$, where the
  initial condition holds);
- `extrapolation_windows`: later intervals on which a trained solution is scored but never trained.

The residual is a pure function of the solution function $u(x, t)$,
`problem.residual(u, x, t) -> (n_res,)`, evaluated at **one** point; derivatives come from
[`jaxrep.pinn`][]'s forward-mode helpers (`jax.jvp`), never from finite differences. Boundary
conditions are small modules (`Dirichlet`, `Neumann`, `Periodic`, `NoBoundary`) that turn a
boundary point into a residual vector.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from ._derivatives import SolutionFn, dx

Window = tuple[float, float]


# --------------------------------------------------------------------------------------------------
# validation helpers


def _to_window(value) -> Window:
    try:
        a, b = value
        return (float(a), float(b))
    except (TypeError, ValueError):
        raise ValueError(f"a time window must be a pair (start, end), got {value!r}") from None


def _to_windows(value) -> tuple[Window, ...]:
    if value is None:
        return ()
    return tuple(_to_window(w) for w in value)


def window_field(default: Window):
    """An `eqx.field` for one time window `(start, end)` (static, converted to floats)."""
    return eqx.field(default=default, static=True, converter=_to_window)


def windows_field(default: tuple[Window, ...]):
    """An `eqx.field` for a tuple of time windows (static, converted to float pairs)."""
    return eqx.field(default=default, static=True, converter=_to_windows)


def check_positive(owner: str, name: str, value, *, allow_zero: bool = False) -> None:
    """Raise a `ValueError` naming `owner.name` unless `value` is a finite number > 0 (or >= 0)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")


# --------------------------------------------------------------------------------------------------
# boundary conditions


class AbstractBoundary(eqx.Module):
    r"""A boundary condition on the faces of the spatial box.

    `residual(problem, u, x, t, dim, side)` is the vector that must vanish at the boundary point
    `x` lying on face `dim` (`side` 0: $x_{dim} = $ lower, 1: upper).
    """

    @abc.abstractmethod
    def residual(
        self,
        problem: "AbstractProblem",
        u: SolutionFn,
        x: Float[Array, " d"],
        t: Float[Array, ""],
        dim: Int[Array, ""],
        side: Int[Array, ""],
    ) -> Float[Array, " n_b"]:
        """Residual at one boundary point."""


class Dirichlet(AbstractBoundary):
    r"""$u(x, t) = g(x, t)$ on the boundary, with $g$ = `problem.boundary_value` (zero by default)."""

    def residual(self, problem, u, x, t, dim, side):
        return u(x, t) - problem.boundary_value(x, t)


class Neumann(AbstractBoundary):
    r"""Homogeneous Neumann condition $\partial u/\partial n = 0$ on every face."""

    def residual(self, problem, u, x, t, dim, side):
        return dx(u, x, t, dim, 1)


class Periodic(AbstractBoundary):
    r"""Periodicity: $\partial_{x_i}^k u$ agrees on opposite faces for $k = 0, \dots,$ `derivatives`.

    The sampled point is moved to the lower and the upper face of dimension `dim`; `side` is ignored.
    """

    derivatives: int = eqx.field(default=1, static=True)

    def __check_init__(self):
        if not isinstance(self.derivatives, int) or self.derivatives < 0:
            raise ValueError(f"Periodic: derivatives must be an int >= 0, got {self.derivatives!r}")

    def residual(self, problem, u, x, t, dim, side):
        lower = jnp.asarray(problem.lower, x.dtype)
        upper = jnp.asarray(problem.upper, x.dtype)
        on_dim = jax.nn.one_hot(dim, x.shape[0], dtype=bool)
        x_lo = jnp.where(on_dim, lower, x)
        x_hi = jnp.where(on_dim, upper, x)
        parts = [u(x_lo, t) - u(x_hi, t)]
        for k in range(1, self.derivatives + 1):
            parts.append(dx(u, x_lo, t, dim, k) - dx(u, x_hi, t, dim, k))
        return jnp.concatenate(parts)


class NoBoundary(AbstractBoundary):
    """No spatial boundary (ODE problems, spatial dimension 0)."""

    def residual(self, problem, u, x, t, dim, side):
        return jnp.zeros((0,), dtype=x.dtype)


# --------------------------------------------------------------------------------------------------
# the problem spec


class AbstractProblem(eqx.Module):
    r"""A differential equation $\mathcal N[u](x, t) = 0$ on $\Omega\times[t_0, t_1]$, $\Omega$ a box.

    Concrete problems are final classes with their parameters and windows as fields (validated in
    `__check_init__`) and these methods, each for **one** point:

    - `residual(u, x, t) -> (n_res,)`: the PDE residual of the solution function `u(x, t) -> (n_out,)`;
    - `initial_condition(x) -> (n_out,)`: $u(x, t_0)$;
    - `initial_residual(u, x)`: what must vanish at $t_0$ (value, and velocity for second-order-in-time
      problems);
    - `reference(x, t) -> (n_out,)`: the exact or independently computed solution;
    - `boundary_value(x, t)`: Dirichlet data (zero unless overridden).

    Class-level metadata: `name`, `n_out`, the box `lower`/`upper` (empty tuples for ODEs),
    `boundary` (a boundary-condition module), `component_names`, `error_components` (the outputs the
    relative error is measured on; e.g. velocity only for Navier-Stokes, whose pressure is defined up
    to a constant), `has_exact` and `kind` (`"parabolic"`, `"hyperbolic"`, `"dispersive"`, `"stiff"`,
    `"fluid"`, `"chaotic"`, `"ode"`).
    """

    name: eqx.AbstractClassVar[str]
    n_out: eqx.AbstractClassVar[int]
    lower: eqx.AbstractClassVar[tuple[float, ...]]
    upper: eqx.AbstractClassVar[tuple[float, ...]]
    boundary: eqx.AbstractClassVar[AbstractBoundary]
    component_names: eqx.AbstractClassVar[tuple[str, ...]]
    has_exact: eqx.AbstractClassVar[bool]
    kind: eqx.AbstractClassVar[str]
    error_components: ClassVar[Optional[tuple[int, ...]]] = None

    time_window: eqx.AbstractVar[Window]
    train_window: eqx.AbstractVar[Window]
    extrapolation_windows: eqx.AbstractVar[tuple[Window, ...]]

    def __check_init__(self):
        owner = type(self).__name__
        t0, t1 = self.time_window
        if not (math.isfinite(t0) and math.isfinite(t1) and t0 < t1):
            raise ValueError(f"{owner}: time_window must satisfy start < end, got {self.time_window}")
        a, b = self.train_window
        if not a < b:
            raise ValueError(f"{owner}: train_window must be non-empty (start < end), got {self.train_window}")
        if a != t0 or b > t1:
            raise ValueError(
                f"{owner}: train_window must start at time_window[0]={t0} (where the initial condition "
                f"holds) and end by time_window[1]={t1}, got {self.train_window}"
            )
        for w in self.extrapolation_windows:
            if not w[0] < w[1]:
                raise ValueError(f"{owner}: extrapolation_windows must be non-empty (start < end), got {w}")
            if w[0] < t0 or w[1] > t1:
                raise ValueError(
                    f"{owner}: extrapolation_windows must lie inside time_window={self.time_window}, got {w}"
                )

    # --- geometry ----------------------------------------------------------------------------------

    @property
    def spatial_dim(self) -> int:
        """Number of spatial dimensions $d$ (0 for an ODE)."""
        return len(self.lower)

    @property
    def t0(self) -> float:
        return self.time_window[0]

    @property
    def train_end(self) -> float:
        return self.train_window[1]

    # --- the equation --------------------------------------------------------------------------------

    @abc.abstractmethod
    def residual(self, u: SolutionFn, x: Float[Array, " d"], t: Float[Array, ""]) -> Float[Array, " n_res"]:
        """PDE residual $\\mathcal N[u](x, t)$ at one point."""

    @abc.abstractmethod
    def initial_condition(self, x: Float[Array, " d"]) -> Float[Array, " n_out"]:
        """$u(x, t_0)$ at one point."""

    @abc.abstractmethod
    def reference(self, x: Float[Array, " d"], t: Float[Array, ""]) -> Float[Array, " n_out"]:
        """Exact or independently computed reference solution at one point."""

    def initial_residual(self, u: SolutionFn, x: Float[Array, " d"]) -> Float[Array, " n_init"]:
        """What must vanish at $t = t_0$: $u(x, t_0) - u_0(x)$ (overridden for $u_{tt}$ problems)."""
        t0 = jnp.asarray(self.t0, dtype=x.dtype if x.size else jnp.result_type(float))
        return u(x, t0) - self.initial_condition(x)

    def boundary_value(self, x: Float[Array, " d"], t: Float[Array, ""]) -> Float[Array, " n_out"]:
        """Dirichlet data $g(x, t)$ (zero unless a problem overrides it)."""
        return jnp.zeros((self.n_out,), dtype=jnp.result_type(x.dtype, jnp.asarray(t).dtype))

    def boundary_residual(self, u, x, t, dim, side) -> Float[Array, " n_b"]:
        """The residual of this problem's boundary condition at one boundary point."""
        return self.boundary.residual(self, u, x, t, dim, side)

    def reference_grid(
        self, xs: Float[Array, "n_x d"], ts: Float[Array, " n_t"]
    ) -> Float[Array, "n_t n_x n_out"]:
        """The reference on the tensor grid `ts x xs` (vmapped `reference`; cached solvers override)."""
        xs = jnp.asarray(xs)
        ts = jnp.asarray(ts)
        f = jax.vmap(jax.vmap(self.reference, in_axes=(0, None)), in_axes=(None, 0))
        return f(xs, ts)

