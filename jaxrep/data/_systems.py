r"""Dynamical systems for Koopman learning: ODE and SDE trajectories and snapshot pairs, solved by diffrax.

Each system is a small Equinox module with a `drift(x)` on **one** state `(d,)`, a `dim` and a
`sample_initial(key, n)` over its usual domain. The functions below turn a system into data:

- `trajectory(system, x0, dt, n_steps)` -> `(n_steps + 1, d)`, $x(k\,\Delta t)$ for one initial state;
- `snapshot_pairs(system, n, dt, key=...)` -> `(X, Y)`, `(n, d)` each, $Y_i = \Phi_{\Delta t}(X_i)$;
- `sde_trajectory(system, x0, dt, n_steps, key=...)` / `sde_snapshot_pairs` for stochastic systems;
- for controlled systems $\dot x = f(x, u)$ (`drift(x, u)`, `n_inputs`) with inputs held constant over
  each step (zero-order hold): `controlled_step(system, x, u, dt)` (one step, usable as the plant of a
  closed loop), `controlled_trajectory(system, x0, us, dt)` and
  `controlled_snapshot_pairs(system, n, dt, key=...)` -> `(X, U, Y)`.

ODEs use the adaptive 8th-order Dormand-Prince method (`diffrax.Dopri8`) at `rtol=atol=1e-10`
(float64) so the data are exact to the precision of the arithmetic. SDEs use `diffrax.Euler`
(Euler-Maruyama, weak order 1) with fixed sub-steps on a `diffrax.UnsafeBrownianPath`.
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray


class AbstractSystem(eqx.Module):
    """An autonomous system $\\dot x = f(x)$ (and for SDEs $dX = f(X)dt + \\sigma(X) dW$)."""

    dim: eqx.AbstractVar[int]

    @abc.abstractmethod
    def drift(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """The vector field $f(x)$ on one state."""

    def sample_initial(self, key: PRNGKeyArray, n: int) -> Float[Array, "n d"]:
        """`n` initial states, uniform on $[-1, 1]^d$ unless a system says otherwise."""
        return jr.uniform(key, (n, self.dim), minval=-1.0, maxval=1.0)


class AbstractSDESystem(AbstractSystem):
    """An SDE $dX = f(X)\\,dt + \\sigma(X)\\,dW$ with `diffusion(x)` $= \\sigma(x)$ `(d, d)`."""

    @abc.abstractmethod
    def diffusion(self, x: Float[Array, " d"]) -> Float[Array, "d d"]:
        """The noise matrix $\\sigma(x)$ on one state."""


class LinearSystem(AbstractSystem):
    r"""$\dot x = Ax$; exact flow $e^{tA}x$."""

    A: Float[Array, "d d"]
    dim: int = eqx.field(static=True)

    def __init__(self, A: Float[ArrayLike, "d d"]):
        A = jnp.asarray(A)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"LinearSystem: A must be square (d, d), got shape {A.shape}")
        self.A = A
        self.dim = A.shape[0]

    def drift(self, x):
        return self.A @ x


class SlowManifold(AbstractSystem):
    r"""$\dot x_1 = \mu x_1$, $\dot x_2 = \lambda(x_2 - x_1^2)$ (Brunton et al. 2016; Lusch et al. 2018).

    $\{x_1, x_2 - b x_1^2, x_1^2\}$ with $b = \lambda/(\lambda - 2\mu)$ are Koopman eigenfunctions with
    continuous-time eigenvalues $\{\mu, \lambda, 2\mu\}$; `exact_flow` gives the solution in closed form.
    """

    mu: float = -0.05
    lam: float = -1.0
    dim: int = eqx.field(static=True, default=2, init=False)

    def drift(self, x):
        return jnp.stack([self.mu * x[0], self.lam * (x[1] - x[0] ** 2)])

    def exact_flow(self, x: Float[Array, " 2"], t) -> Float[Array, " 2"]:
        """Closed-form $\\Phi_t(x)$."""
        b = self.lam / (self.lam - 2 * self.mu)
        x1 = x[0] * jnp.exp(self.mu * t)
        x2 = (x[1] - b * x[0] ** 2) * jnp.exp(self.lam * t) + b * x1**2
        return jnp.stack([x1, x2])


class Pendulum(AbstractSystem):
    r"""$\ddot\theta = -\sin\theta - c\,\dot\theta$, state $(\theta, \dot\theta)$. Energy
    $E = \dot\theta^2/2 - \cos\theta$ is conserved when $c = 0$."""

    damping: float = 0.0
    dim: int = eqx.field(static=True, default=2, init=False)

    def drift(self, x):
        return jnp.stack([x[1], -jnp.sin(x[0]) - self.damping * x[1]])

    def sample_initial(self, key, n):
        return jr.uniform(key, (n, 2), minval=jnp.array([-3.0, -2.0]), maxval=jnp.array([3.0, 2.0]))


class Duffing(AbstractSystem):
    r"""$\ddot x = -\delta\dot x - \alpha x - \beta x^3$ (unforced Duffing oscillator)."""

    alpha: float = -1.0
    beta: float = 1.0
    delta: float = 0.5
    dim: int = eqx.field(static=True, default=2, init=False)

    def drift(self, x):
        return jnp.stack([x[1], -self.delta * x[1] - self.alpha * x[0] - self.beta * x[0] ** 3])

    def sample_initial(self, key, n):
        return jr.uniform(key, (n, 2), minval=-2.0, maxval=2.0)


class VanDerPol(AbstractSystem):
    r"""$\ddot x = \mu(1 - x^2)\dot x - x$."""

    mu: float = 1.0
    dim: int = eqx.field(static=True, default=2, init=False)

    def drift(self, x):
        return jnp.stack([x[1], self.mu * (1 - x[0] ** 2) * x[1] - x[0]])

    def sample_initial(self, key, n):
        return jr.uniform(key, (n, 2), minval=-3.0, maxval=3.0)


class Lorenz63(AbstractSystem):
    r"""$\dot x = \sigma(y - x)$, $\dot y = x(\rho - z) - y$, $\dot z = xy - \beta z$ (chaotic at the
    defaults $\sigma=10, \rho=28, \beta=8/3$)."""

    sigma: float = 10.0
    rho: float = 28.0
    beta: float = 8.0 / 3.0
    dim: int = eqx.field(static=True, default=3, init=False)

    def drift(self, x):
        return jnp.stack([
            self.sigma * (x[1] - x[0]),
            x[0] * (self.rho - x[2]) - x[1],
            x[0] * x[1] - self.beta * x[2],
        ])

    def sample_initial(self, key, n):
        return jnp.array([0.0, 0.0, 25.0]) + 10.0 * jr.normal(key, (n, 3))


class OrnsteinUhlenbeck(AbstractSDESystem):
    r"""$dX = -\theta X\,dt + \sigma\,dW$ in $d$ dimensions (independent coordinates).

    Generator eigenvalues $-n\theta$, $n = 0, 1, \dots$ (Hermite polynomial eigenfunctions); stationary
    law $\mathcal N(0, \sigma^2/(2\theta))$; exact transition
    $X_t \mid X_0 \sim \mathcal N(e^{-\theta t}X_0,\ \tfrac{\sigma^2}{2\theta}(1 - e^{-2\theta t}))$.
    """

    theta: float = 1.0
    sigma: float = 1.0
    dim: int = eqx.field(static=True, default=1)

    def drift(self, x):
        return -self.theta * x

    def diffusion(self, x):
        return self.sigma * jnp.eye(self.dim, dtype=x.dtype)

    def sample_initial(self, key, n):
        """Samples from the stationary law."""
        std = self.sigma / math.sqrt(2 * self.theta)
        return std * jr.normal(key, (n, self.dim))


# --------------------------------------------------------------------------- controlled systems


class AbstractControlSystem(eqx.Module):
    r"""A controlled system $\dot x = f(x, u)$ with state dimension `dim` and `n_inputs` inputs."""

    dim: eqx.AbstractVar[int]
    n_inputs: eqx.AbstractVar[int]

    @abc.abstractmethod
    def drift(self, x: Float[Array, " d"], u: Float[Array, " m"]) -> Float[Array, " d"]:
        """The vector field $f(x, u)$ on one state and input."""

    def sample_initial(self, key: PRNGKeyArray, n: int) -> Float[Array, "n d"]:
        """`n` initial states, uniform on $[-1, 1]^d$ unless a system says otherwise."""
        return jr.uniform(key, (n, self.dim), minval=-1.0, maxval=1.0)

    def sample_inputs(self, key: PRNGKeyArray, n: int) -> Float[Array, "n m"]:
        """`n` inputs, uniform on $[-1, 1]^m$."""
        return jr.uniform(key, (n, self.n_inputs), minval=-1.0, maxval=1.0)


def _square(A, name):
    A = jnp.asarray(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name}: A must be square (d, d), got shape {A.shape}")
    return A


class ControlledLinearSystem(AbstractControlSystem):
    r"""$\dot x = Ax + Bu$; exact zero-order-hold flow by `jaxrep.koopman.zoh`."""

    A: Float[Array, "d d"]
    B: Float[Array, "d m"]
    dim: int = eqx.field(static=True)
    n_inputs: int = eqx.field(static=True)

    def __init__(self, A: Float[ArrayLike, "d d"], B: Float[ArrayLike, "d m"]):
        A = _square(A, "ControlledLinearSystem")
        B = jnp.asarray(B)
        if B.ndim != 2 or B.shape[0] != A.shape[0]:
            raise ValueError(
                f"ControlledLinearSystem: B must have shape ({A.shape[0]}, n_inputs), got {B.shape}"
            )
        self.A, self.B = A, B
        self.dim, self.n_inputs = A.shape[0], B.shape[1]

    def drift(self, x, u):
        return self.A @ x + self.B @ u


class BilinearSystem(AbstractControlSystem):
    r"""$\dot x = Ax + \sum_i u_i B_i x$, `B` of shape `(m, d, d)`; for constant $u$ the flow is
    $e^{t(A + \sum_i u_iB_i)}x$ (`jaxrep.koopman.propagate_controlled`). The inputs act
    multiplicatively, as in the Koopman generator of any control-affine system."""

    A: Float[Array, "d d"]
    B: Float[Array, "m d d"]
    dim: int = eqx.field(static=True)
    n_inputs: int = eqx.field(static=True)

    def __init__(self, A: Float[ArrayLike, "d d"], B: Float[ArrayLike, "m d d"]):
        A = _square(A, "BilinearSystem")
        B = jnp.asarray(B)
        d = A.shape[0]
        if B.ndim != 3 or B.shape[1:] != (d, d):
            raise ValueError(f"BilinearSystem: B must have shape (n_inputs, {d}, {d}), got {B.shape}")
        self.A, self.B = A, B
        self.dim, self.n_inputs = d, B.shape[0]

    def drift(self, x, u):
        return (self.A + jnp.einsum("i,ijk->jk", u, self.B)) @ x


class ControlledSlowManifold(AbstractControlSystem):
    r"""$\dot x_1 = \mu x_1$, $\dot x_2 = \lambda(x_2 - x_1^2) + u$ (Brunton, Brunton, Proctor & Kutz
    2016).

    A nonlinear system with a finite Koopman-invariant subspace that stays linear in the input: in
    $z = (x_1, x_2, x_1^2)$ (`lift`) the dynamics are exactly $\dot z = A z + B u$ with
    $A = \begin{pmatrix}\mu & 0 & 0\\ 0 & \lambda & -\lambda\\ 0 & 0 & 2\mu\end{pmatrix}$,
    $B = (0, 1, 0)^\top$ (`lifted_matrices`).

    **References:** Brunton, Brunton, Proctor & Kutz, "Koopman invariant subspaces and finite linear
    representations of nonlinear dynamical systems for control", PLoS ONE 11 (2016).
    """

    mu: float = -0.1
    lam: float = -1.0
    dim: int = eqx.field(static=True, default=2, init=False)
    n_inputs: int = eqx.field(static=True, default=1, init=False)

    def drift(self, x, u):
        return jnp.stack([self.mu * x[0], self.lam * (x[1] - x[0] ** 2) + u[0]])

    def lift(self, x: Float[Array, " 2"]) -> Float[Array, " 3"]:
        """The invariant coordinates $(x_1, x_2, x_1^2)$ of one state."""
        return jnp.stack([x[0], x[1], x[0] ** 2])

    def lifted_matrices(self) -> tuple[Float[Array, "3 3"], Float[Array, "3 1"]]:
        r"""$(A, B)$ of the exact lifted system $\dot z = Az + Bu$."""
        A = jnp.array([[self.mu, 0.0, 0.0], [0.0, self.lam, -self.lam], [0.0, 0.0, 2 * self.mu]])
        return A, jnp.array([[0.0], [1.0], [0.0]])


class ForcedDuffing(AbstractControlSystem):
    r"""$\ddot x = -\delta\dot x - \alpha x - \beta x^3 + u$: the Duffing oscillator with a force input
    (double well at the defaults $\alpha = -1$, $\beta = 1$)."""

    alpha: float = -1.0
    beta: float = 1.0
    delta: float = 0.5
    dim: int = eqx.field(static=True, default=2, init=False)
    n_inputs: int = eqx.field(static=True, default=1, init=False)

    def drift(self, x, u):
        return jnp.stack(
            [x[1], -self.delta * x[1] - self.alpha * x[0] - self.beta * x[0] ** 3 + u[0]]
        )

    def sample_initial(self, key, n):
        return jr.uniform(key, (n, 2), minval=-2.0, maxval=2.0)


class ForcedVanDerPol(AbstractControlSystem):
    r"""$\ddot x = \mu(1 - x^2)\dot x - x + u$: the Van der Pol oscillator with a force input (the MPC
    benchmark of Korda & Mezić 2018, up to scaling)."""

    mu: float = 1.0
    dim: int = eqx.field(static=True, default=2, init=False)
    n_inputs: int = eqx.field(static=True, default=1, init=False)

    def drift(self, x, u):
        return jnp.stack([x[1], self.mu * (1 - x[0] ** 2) * x[1] - x[0] + u[0]])

    def sample_initial(self, key, n):
        return jr.uniform(key, (n, 2), minval=-3.0, maxval=3.0)


# --------------------------------------------------------------------------- solvers


def _check_steps(dt, n_steps):
    if not (isinstance(dt, (int, float)) and dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a finite float > 0, got {dt!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")


def _check_x0(system, x0):
    x0 = jnp.asarray(x0)
    if x0.shape != (system.dim,):
        raise ValueError(
            f"x0 must have shape ({system.dim},) for {type(system).__name__}, got {x0.shape} "
            "(for batches use jax.vmap)"
        )
    return x0.astype(jnp.result_type(x0.dtype, jnp.float32))


def _tols(dtype):
    return (1e-10, 1e-10) if dtype == jnp.float64 else (1e-6, 1e-6)


@eqx.filter_jit
def _ode_solve(system, x0, ts):
    import diffrax  # imported when first used: `import jaxrep` stays light

    rtol, atol = _tols(x0.dtype)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: system.drift(y)),
        diffrax.Dopri8(),
        t0=ts[0],
        t1=ts[-1],
        dt0=None,
        y0=x0,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=1_000_000,
    )
    return sol.ys


def trajectory(
    system: AbstractSystem, x0: Float[ArrayLike, " d"], dt: float, n_steps: int
) -> Float[Array, "n_steps+1 d"]:
    r"""$x(k\Delta t)$, $k = 0..n$, for one initial state (adaptive Dopri8, see module docstring).

    **Arguments:** `system`; `x0` `(d,)`; `dt` sampling step; `n_steps`.

    **Returns:** `(n_steps + 1, d)`; row 0 is `x0`.
    """
    _check_steps(dt, n_steps)
    x0 = _check_x0(system, x0)
    ts = dt * jnp.arange(n_steps + 1, dtype=x0.dtype)
    return _ode_solve(system, x0, ts)


def snapshot_pairs(
    system: AbstractSystem, n: int, dt: float, *, key: PRNGKeyArray
) -> tuple[Float[Array, "n d"], Float[Array, "n d"]]:
    r"""`n` pairs $(x_i, \Phi_{\Delta t}(x_i))$ with $x_i$ from `system.sample_initial`.

    **Returns:** `(X, Y)`, each `(n, d)`.
    """
    _check_steps(dt, 1)
    X = system.sample_initial(key, n)
    ts = jnp.array([0.0, dt], dtype=X.dtype)
    Y = jax.vmap(lambda x: _ode_solve(system, x, ts)[-1])(X)
    return X, Y


@eqx.filter_jit
def _sde_solve(system, x0, ts, substeps, key):
    import diffrax  # imported when first used: `import jaxrep` stays light

    dt_sub = (ts[1] - ts[0]) / substeps
    # Fixed Euler steps never revisit a time, so the (much faster) unsafe path is exact here.
    bm = diffrax.UnsafeBrownianPath(shape=(system.dim,), key=key)
    terms = diffrax.MultiTerm(
        diffrax.ODETerm(lambda t, y, args: system.drift(y)),
        diffrax.ControlTerm(lambda t, y, args: system.diffusion(y), bm),
    )
    sol = diffrax.diffeqsolve(
        terms, diffrax.Euler(), t0=ts[0], t1=ts[-1], dt0=dt_sub, y0=x0,
        saveat=diffrax.SaveAt(ts=ts), max_steps=substeps * (ts.shape[0] - 1) + 16,
        adjoint=diffrax.ForwardMode(),
    )
    return sol.ys


def sde_trajectory(
    system: AbstractSDESystem,
    x0: Float[ArrayLike, " d"],
    dt: float,
    n_steps: int,
    *,
    substeps: int = 10,
    key: PRNGKeyArray,
) -> Float[Array, "n_steps+1 d"]:
    r"""One sample path $X(k\Delta t)$, $k=0..n$, by Euler-Maruyama with `substeps` per `dt`.

    **Returns:** `(n_steps + 1, d)`.
    """
    _check_steps(dt, n_steps)
    x0 = _check_x0(system, x0)
    ts = dt * jnp.arange(n_steps + 1, dtype=x0.dtype)
    return _sde_solve(system, x0, ts, substeps, key)


def sde_snapshot_pairs(
    system: AbstractSDESystem, n: int, dt: float, *, substeps: int = 10, key: PRNGKeyArray
) -> tuple[Float[Array, "n d"], Float[Array, "n d"]]:
    r"""`n` independent pairs $(X_0, X_{\Delta t})$ with $X_0$ from `system.sample_initial`.

    **Returns:** `(X, Y)`, each `(n, d)`.
    """
    _check_steps(dt, 1)
    k0, k1 = jr.split(key)
    X = system.sample_initial(k0, n)
    ts = jnp.array([0.0, dt], dtype=X.dtype)
    Y = jax.vmap(lambda x, k: _sde_solve(system, x, ts, substeps, k)[-1])(X, jr.split(k1, n))
    return X, Y


# --------------------------------------------------------------------------- controlled solvers


def _check_control_system(system):
    if not isinstance(system, AbstractControlSystem):
        raise TypeError(
            f"system must be a controlled system (AbstractControlSystem), got {type(system).__name__}"
        )


def _check_u(system, u, name="u"):
    u = jnp.asarray(u)
    if u.shape != (system.n_inputs,):
        raise ValueError(
            f"{name} must have shape ({system.n_inputs},) for {type(system).__name__}, got {u.shape} "
            "(for batches use jax.vmap)"
        )
    if not isinstance(u, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(u))):
        raise ValueError(f"{name} contains non-finite values")
    return u


def _control_solve(system, x, u, dt):
    r"""$x(\Delta t)$ of $\dot x = f(x, u)$ from $x$ with $u$ held (adaptive Dopri8)."""
    import diffrax  # imported when first used: `import jaxrep` stays light

    rtol, atol = _tols(x.dtype)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: system.drift(y, args)),
        diffrax.Dopri8(),
        t0=jnp.zeros((), x.dtype),
        t1=jnp.asarray(dt, x.dtype),
        dt0=None,
        y0=x,
        args=u.astype(x.dtype),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=100_000,
    )
    return sol.ys[-1]


_control_solve_jit = eqx.filter_jit(_control_solve)


def controlled_step(
    system: AbstractControlSystem,
    x: Float[ArrayLike, " d"],
    u: Float[ArrayLike, " m"],
    dt: float,
) -> Float[Array, " d"]:
    r"""One zero-order-hold step: $x(\Delta t)$ of $\dot x = f(x, u)$ from $x(0) = x$, $u$ held
    constant (adaptive Dopri8, see the module docstring). Jittable, so it serves as the plant of
    [`jaxrep.koopman.receding_horizon`][] (`lambda x, u: controlled_step(system, x, u, dt)`).

    **Arguments:** `system`; **one** state `x` `(d,)` and input `u` `(m,)` (vmap for batches); `dt`.

    **Returns:** `(d,)`.
    """
    _check_control_system(system)
    _check_steps(dt, 1)
    x = _check_x0(system, x)
    u = _check_u(system, u)
    if isinstance(x, jax.core.Tracer) or isinstance(u, jax.core.Tracer):
        return _control_solve(system, x, u, dt)
    return _control_solve_jit(system, x, u, dt)


@eqx.filter_jit
def _controlled_traj(system, x0, us, dt):
    def step(x, u):
        x = _control_solve(system, x, u, dt)
        return x, x

    _, xs = jax.lax.scan(step, x0, us)
    return jnp.concatenate([x0[None], xs], 0)


def controlled_trajectory(
    system: AbstractControlSystem,
    x0: Float[ArrayLike, " d"],
    us: Float[ArrayLike, "n m"],
    dt: float,
) -> Float[Array, "n+1 d"]:
    r"""$x(k\Delta t)$, $k = 0..n$, from one initial state with input $u_k$ (row $k$ of `us`) held on
    $[k\Delta t, (k+1)\Delta t)$.

    **Arguments:** `system`; `x0` `(d,)`; `us` `(n, m)`; `dt` > 0.

    **Returns:** `(n + 1, d)`; row 0 is `x0`.
    """
    _check_control_system(system)
    _check_steps(dt, 1)
    x0 = _check_x0(system, x0)
    us = jnp.asarray(us)
    if us.ndim != 2 or us.shape[1] != system.n_inputs:
        raise ValueError(f"us must have shape (n_steps, {system.n_inputs}), got {us.shape}")
    if not isinstance(us, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(us))):
        raise ValueError(f"us contains {int(jnp.sum(~jnp.isfinite(us)))} non-finite values")
    return _controlled_traj(system, x0, us.astype(x0.dtype), dt)


def controlled_snapshot_pairs(
    system: AbstractControlSystem, n: int, dt: float, *, input_scale: float = 1.0, key: PRNGKeyArray
) -> tuple[Float[Array, "n d"], Float[Array, "n m"], Float[Array, "n d"]]:
    r"""`n` triples $(x_i, u_i, \Phi_{\Delta t}(x_i; u_i))$: $x_i$ from `system.sample_initial`,
    $u_i$ = `input_scale` times `system.sample_inputs` (uniform on $[-1, 1]^m$), held for $\Delta t$.

    **Returns:** `(X, U, Y)`, shapes `(n, d)`, `(n, m)`, `(n, d)` (the data of
    `jaxrep.koopman.dmdc` / `edmdc`).
    """
    _check_control_system(system)
    _check_steps(dt, 1)
    if not (isinstance(input_scale, (int, float)) and math.isfinite(input_scale) and input_scale >= 0):
        raise ValueError(f"input_scale must be a finite float >= 0, got {input_scale!r}")
    k0, k1 = jr.split(key)
    X = system.sample_initial(k0, n)
    U = (input_scale * system.sample_inputs(k1, n)).astype(X.dtype)
    Y = _control_pairs(system, X, U, dt)
    return X, U, Y


@eqx.filter_jit
def _control_pairs(system, X, U, dt):
    return jax.vmap(lambda x, u: _control_solve(system, x, u, dt))(X, U)
