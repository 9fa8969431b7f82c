r"""Dynamical systems for Koopman learning: ODE and SDE trajectories and snapshot pairs, solved by diffrax.

Each system is a small Equinox module with a `drift(x)` on **one** state `(d,)`, a `dim` and a
`sample_initial(key, n)` over its usual domain. The functions below turn a system into data:

- `trajectory(system, x0, dt, n_steps)` -> `(n_steps + 1, d)`, $x(k\,\Delta t)$ for one initial state;
- `snapshot_pairs(system, n, dt, key=...)` -> `(X, Y)`, `(n, d)` each, $Y_i = \Phi_{\Delta t}(X_i)$;
- `sde_trajectory(system, x0, dt, n_steps, key=...)` / `sde_snapshot_pairs` for stochastic systems.

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
