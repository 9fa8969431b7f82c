r"""The `Problem` spec: a PDE (or ODE) on a space-time box, its conditions, windows and reference.

A problem is an Equinox module holding its physical parameters (viscosity, wave speed, ...) as fields
validated on construction, plus the time windows a solver uses:

- `time_window` $[t_0, t_1]$: where the reference is known;
- `train_window` $[t_0, T]$: where collocation points are drawn (it must start at $t_0$, where the
  initial condition holds);
- `extrapolation_windows`: later intervals on which a trained solution is scored but never trained;
- `train_box` (optional, spatial problems only): a sub-box $\Omega_{\text{train}}\subseteq\Omega$,
  one `(lo, hi)` pair per spatial dimension, to which training is restricted (collocation, initial and
  Koopman points, and the boundary faces it touches); the rest of the box,
  $\Omega\setminus\Omega_{\text{train}}$, is held out and scored on the training window (spatial
  extrapolation). `None` (the default) trains on the whole box.

The residual is a pure function of the solution function $u(x, t)$,
`problem.residual(u, x, t) -> (n_res,)`, evaluated at **one** point; derivatives come from
[`jaxrep.pde`][]'s forward-mode helpers (`jax.jvp`), never from finite differences (`dx_upto` and
`value_and_dt` return several derivatives from one pass, which matters for speed). Boundary
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
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ._derivatives import SolutionFn, dx, dx_upto

Window = tuple[float, float]
Box = tuple[tuple[float, float], ...]


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


class _FromTDomain:
    """The default of a window field: derived from the class's `t_domain` on construction."""

    def __repr__(self):
        return "<from t_domain>"


_FROM_T_DOMAIN = _FromTDomain()


def _halves(t_domain: Window) -> tuple[Window, Window, tuple[Window, ...]]:
    """The default windows of a problem whose reference covers `t_domain = (t0, t1)`: the whole window,
    its first half (trained) and its second half (extrapolation)."""
    t0, t1 = t_domain
    mid = 0.5 * (t0 + t1)
    return (t0, t1), (t0, mid), ((mid, t1),)


def _to_box(value) -> Optional[Box]:
    if value is None:
        return None
    try:
        return tuple((float(lo), float(hi)) for lo, hi in value)
    except (TypeError, ValueError):
        raise ValueError(
            "train_box must be None or a sequence of (lo, hi) pairs, one per spatial dimension "
            f"(e.g. [[0.0, 0.5]] in 1-D), got {value!r}"
        ) from None


def _touches(a: float, b: float, scale: float) -> bool:
    # Bounds typed by hand (2*pi to 10 digits, say) count as the face within a relative 1e-9.
    return abs(a - b) <= 1e-9 * scale


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
    `x` lying on face `dim` (`side` 0: $x_{\text{dim}}$ at the lower end, 1: at the upper end).

    `pairs_faces` (class-level): whether the residual couples the two opposite faces of `dim` (as
    periodicity does) rather than constraining one face alone.
    """

    pairs_faces: ClassVar[bool] = False

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
    The condition pairs both faces (`pairs_faces = True`), so a training sub-box enforces it only along
    the dimensions it spans in full.
    """

    pairs_faces: ClassVar[bool] = True
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
        lo, hi = dx_upto(u, x_lo, t, dim, self.derivatives), dx_upto(u, x_hi, t, dim, self.derivatives)
        return jnp.concatenate([a - b for a, b in zip(lo, hi)])


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
    to a constant) and `has_exact`.

    Every problem also declares `t_domain` (class-level): the time window of its reference. The window
    fields are keyword-only and shared by all problems: `time_window` (default `t_domain`),
    `train_window` (default its first half), `extrapolation_windows` (default its second half) and
    `train_box` (default `None`; a `((lo, hi), ...)` sub-box of `lower`/`upper`, one pair per spatial
    dimension, rejected for ODEs). All are checked here, on construction. A concrete problem declares
    only its physical parameters as fields (positional, in order, each with its default).
    """

    name: eqx.AbstractClassVar[str]
    n_out: eqx.AbstractClassVar[int]
    lower: eqx.AbstractClassVar[tuple[float, ...]]
    upper: eqx.AbstractClassVar[tuple[float, ...]]
    boundary: eqx.AbstractClassVar[AbstractBoundary]
    component_names: eqx.AbstractClassVar[tuple[str, ...]]
    has_exact: eqx.AbstractClassVar[bool]
    error_components: ClassVar[Optional[tuple[int, ...]]] = None
    # Order in time: 2 for u_tt problems (their `initial_residual` also prescribes u_t at t0).
    time_order: ClassVar[int] = 1

    t_domain: eqx.AbstractClassVar[Window]

    # Unset windows are derived from `t_domain` (in `__post_init__`, before the converters run).
    time_window: Window = eqx.field(default=_FROM_T_DOMAIN, static=True, converter=_to_window, kw_only=True)
    train_window: Window = eqx.field(default=_FROM_T_DOMAIN, static=True, converter=_to_window, kw_only=True)
    extrapolation_windows: tuple[Window, ...] = eqx.field(default=_FROM_T_DOMAIN, static=True,
                                                         converter=_to_windows, kw_only=True)
    train_box: Optional[Box] = eqx.field(default=None, static=True, converter=_to_box, kw_only=True)

    def __post_init__(self):
        defaults = _halves(self.t_domain)
        for name, default in zip(("time_window", "train_window", "extrapolation_windows"), defaults):
            if getattr(self, name) is _FROM_T_DOMAIN:
                setattr(self, name, default)

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
        self._check_train_box(owner)

    def _check_train_box(self, owner: str) -> None:
        box = self.train_box
        if box is None:
            return
        d = self.spatial_dim
        if d == 0:
            raise ValueError(f"{owner}: train_box must be None for an ODE problem (no spatial dimension), got {box}")
        if len(box) != d:
            raise ValueError(
                f"{owner}: train_box must hold one (lo, hi) pair per spatial dimension ({d}), "
                f"got {len(box)} pair(s): {box}"
            )
        for i, ((lo, hi), a, b) in enumerate(zip(box, self.lower, self.upper)):
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"{owner}: train_box[{i}] must satisfy lo < hi, got {(lo, hi)}")
            scale = b - a
            if (lo < a and not _touches(lo, a, scale)) or (hi > b and not _touches(hi, b, scale)):
                raise ValueError(
                    f"{owner}: train_box[{i}]={(lo, hi)} must lie inside the box [{a!r}, {b!r}] of dimension {i}"
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

    @property
    def train_lower(self) -> tuple[float, ...]:
        """Lower corner of the training region: `train_box`'s, or the box's when it is `None`."""
        if self.train_box is None:
            return tuple(self.lower)
        return tuple(max(lo, a) for (lo, _), a in zip(self.train_box, self.lower))

    @property
    def train_upper(self) -> tuple[float, ...]:
        """Upper corner of the training region: `train_box`'s, or the box's when it is `None`."""
        if self.train_box is None:
            return tuple(self.upper)
        return tuple(min(hi, b) for (_, hi), b in zip(self.train_box, self.upper))

    def train_faces(self) -> tuple[tuple[int, int], ...]:
        r"""The faces `(dim, side)` of the box on which the boundary condition is trained.

        Without a `train_box`: all $2d$ faces. With one: the faces of $\Omega$ that the train box
        touches (`side` 0: lower, 1: upper), since a face the train box does not reach lies in the
        held-out region. A condition that pairs opposite faces (`Periodic`) is kept along a dimension
        only when the train box spans it in full: touching one face alone, the other face (where the
        pairing evaluates the solution) is held out, and on the periodic domain that face is not a
        boundary of the train box at all. An empty tuple drops the boundary term.
        """
        d = self.spatial_dim
        if self.train_box is None:
            return tuple((i, s) for i in range(d) for s in (0, 1))
        faces = []
        for i, ((lo, hi), a, b) in enumerate(zip(self.train_box, self.lower, self.upper)):
            touch = (_touches(lo, a, b - a), _touches(hi, b, b - a))
            if self.boundary.pairs_faces:
                touch = (touch[0] and touch[1],) * 2
            faces.extend((i, s) for s in (0, 1) if touch[s])
        return tuple(faces)

    def in_train_box(self, xs: Float[np.ndarray, "n d"]) -> Bool[np.ndarray, " n"]:
        """Boolean mask `(n,)` of the points of `xs` inside the closed `train_box` (all `True` when it is
        `None`); numpy in, numpy out (for evaluation grids)."""
        xs = np.asarray(xs)
        if self.train_box is None:
            return np.ones(xs.shape[0], bool)
        lo = np.asarray(self.train_lower, xs.dtype)
        hi = np.asarray(self.train_upper, xs.dtype)
        return np.all((xs >= lo) & (xs <= hi), axis=-1)

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

