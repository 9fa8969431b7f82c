r"""Hard constraints: initial and Dirichlet conditions built into the network's output.

A PINN that *penalises* its initial and boundary conditions spends part of its capacity and of its
optimiser's attention on them, and never meets them exactly. Where the problem allows it, an output
transform meets them by construction (Lagaris, Likas & Fotiadis 1998; Sukumar & Srivastava 2022):

$$u(x, t) = u_0(x) + \tau(t)^k\,\phi(x)\,\hat u(x, t),\qquad \tau = \frac{t - t_0}{t_1 - t_0},$$

with $\hat u$ the network, $k$ the order in time of the problem (so $u$ and, for $k = 2$, $u_t$ take
their initial values at $t_0$) and $\phi$ a distance factor that vanishes on the Dirichlet walls,
$\phi(x) = \prod_i (x_i - \ell_i)(h_i - x_i) / ((h_i - \ell_i)/2)^2$ (1 at the centre of the box).
Periodic boundaries are met by an exact periodic embedding of the inputs instead (see
`jaxrep.nn.PeriodicEmbedding`), which `jaxrep.pinn.solve` puts in front of the backbone.

**References:** I. E. Lagaris, A. Likas, D. I. Fotiadis, "Artificial neural networks for solving
ordinary and partial differential equations", IEEE TNN 9 (1998); N. Sukumar, A. Srivastava, "Exact
imposition of boundary conditions with distance functions in physics-informed deep neural networks",
CMAME 389 (2022).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..pde._problem import AbstractProblem, Dirichlet, Periodic


class HardConstraint(eqx.Module):
    r"""The output transform $u = u_0 + \tau^k\phi\,\hat u$ (or parts of it) for one problem.

    - `initial=True`: $u = u_0(x) + \tau^k\,\cdot$ with $k$ = `problem.time_order`;
    - `dirichlet=True`: multiply by the wall factor $\phi(x)$; without `initial`, add the Dirichlet
      data: $u = g(x, t) + \phi\,\hat u$.

    Acts on one point: `(u_hat (n_out,), x (d,), t ())` -> `(n_out,)`. Build it with
    `HardConstraint.for_problem`, which checks that the problem admits the requested transform.
    """

    problem: AbstractProblem
    initial: bool = eqx.field(static=True)
    dirichlet: bool = eqx.field(static=True)

    @classmethod
    def for_problem(cls, problem: AbstractProblem, *, initial: bool, dirichlet: bool) -> "HardConstraint":
        """Validate and build. Raises `ValueError` (naming `constraints.initial` / `constraints.boundary`)
        when the problem does not admit the transform."""
        name = problem.name
        if initial and problem.time_order not in (1, 2):
            raise ValueError(f"constraints.initial: {name} has time_order {problem.time_order}; only 1 or 2 "
                             "(with zero initial velocity) can be built in")
        if dirichlet:
            if not isinstance(problem.boundary, Dirichlet):
                raise ValueError(
                    f"constraints.boundary: a distance factor needs Dirichlet walls; {name} has "
                    f"{type(problem.boundary).__name__} boundaries"
                )
            if initial:
                _check_compatible(problem)
        return cls(problem, bool(initial), bool(dirichlet))

    def wall_factor(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        lo = jnp.asarray(self.problem.lower, x.dtype)
        hi = jnp.asarray(self.problem.upper, x.dtype)
        half = (hi - lo) / 2
        return jnp.prod((x - lo) * (hi - x) / half**2)

    def __call__(self, u_hat: Float[Array, " n_out"], x: Float[Array, " d"], t: Float[Array, ""]):
        p = self.problem
        out = u_hat
        if self.dirichlet:
            out = self.wall_factor(x) * out
        if self.initial:
            t0, t1 = p.time_window
            tau = (t - t0) / (t1 - t0)
            return p.initial_condition(x).astype(out.dtype) + tau**p.time_order * out
        if self.dirichlet:
            return p.boundary_value(x, t).astype(out.dtype) + out
        return out


def _check_compatible(problem: AbstractProblem) -> None:
    """$u_0 + \\tau\\phi\\hat u$ meets the walls only if $u_0(x) = g(x, t)$ there at all times."""
    d = problem.spatial_dim
    rng = np.random.default_rng(0)
    lo, hi = np.asarray(problem.lower), np.asarray(problem.upper)
    t0, t1 = problem.time_window
    worst = 0.0
    for i in range(d):
        for side in (0, 1):
            x = lo + (hi - lo) * rng.uniform(size=(16, d))
            x[:, i] = (lo if side == 0 else hi)[i]
            for xi, ti in zip(x, rng.uniform(t0, t1, 16)):
                xj = jnp.asarray(xi, jnp.float32)
                gap = problem.initial_condition(xj) - problem.boundary_value(xj, jnp.asarray(ti, jnp.float32))
                worst = max(worst, float(jnp.max(jnp.abs(gap))))
    if worst > 1e-5:
        raise ValueError(
            f"constraints.boundary with constraints.initial: {problem.name}'s initial condition differs from "
            f"its Dirichlet data on the walls (by up to {worst:.2e}), so u0 + tau*phi*net cannot meet both"
        )


def periodic_periods(problem: AbstractProblem) -> tuple:
    """Periods of the network inputs after `PINNField`'s rescaling to $[-1, 1]$: 2 for every spatial
    coordinate of a periodic box, `None` for time."""
    if not isinstance(problem.boundary, Periodic):
        raise ValueError(
            f"constraints.boundary: {problem.name} has {type(problem.boundary).__name__} boundaries; "
            "a periodic embedding needs Periodic ones"
        )
    return (2.0,) * problem.spatial_dim + (None,)
