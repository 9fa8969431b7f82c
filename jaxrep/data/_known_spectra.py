r"""Datasets with known Koopman / transfer-operator spectra, for checking estimated eigenvalues.

Each function returns a [`KnownSpectrum`][jaxrep.data.KnownSpectrum]: snapshot pairs $(X, Y)$ one step
$\Delta t$ apart, the exact eigenvalues of the Koopman operator for that step and, where they exist in
closed form, the eigenfunctions. Compare an estimate with
[`jaxrep.koopman.eigenvalue_error`][].

- [`noisy_logistic_map`][jaxrep.data.noisy_logistic_map]: $x_{t+1} = (4x_t(1-x_t) + \xi_t) \bmod 1$
  with trigonometric noise (Kostic et al. 2022, the kooplearn benchmark). Its Koopman operator has
  rank $N + 1$, so its eigenvalues are those of an $(N+1)\times(N+1)$ matrix of integrals.
- [`ornstein_uhlenbeck`][jaxrep.data.ornstein_uhlenbeck]: exact Gaussian transitions; generator
  eigenvalues $-k\theta$ with Hermite polynomial eigenfunctions.
- [`slow_manifold`][jaxrep.data.slow_manifold]: closed-form flow; eigenvalues $i\mu + j\lambda$ with
  eigenfunctions $x_1^i (x_2 - b x_1^2)^j$.
"""

import math
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from ._systems import SlowManifold


class KnownSpectrum(eqx.Module):
    r"""Snapshot pairs with the exact spectrum of their Koopman operator.

    - `X`, `Y` `(n, d)`: states and their successors one step `dt` later ($Y_i \sim x_{t+\Delta t}
      \mid x_t = X_i$).
    - `eigenvalues` `(r,)`: exact discrete-time Koopman eigenvalues for one step, largest modulus
      first (complex dtype).
    - `generator_eigenvalues` `(r,)` or `None`: continuous-time eigenvalues $\mu$ with
      $\lambda = e^{\mu\Delta t}$, for flows (`None` for maps).
    - `eigenfunctions`: `None` or a callable on **one** state `(d,)` -> `(r,)`, in the order of
      `eigenvalues` ($\mathbb{E}[\varphi_i(x_{t+\Delta t}) \mid x_t = x] = \lambda_i\varphi_i(x)$).
    - `dt`: the step.
    """

    X: Float[Array, "n d"]
    Y: Float[Array, "n d"]
    eigenvalues: Complex[Array, " r"]
    generator_eigenvalues: Optional[Complex[Array, " r"]]
    eigenfunctions: Optional[Callable]
    dt: float = eqx.field(static=True)


def _check_n(n, name="n"):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")


def _check_pos(v, name):
    if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite float > 0, got {v!r}")
    return float(v)


def _float_dtype():
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


# --------------------------------------------------------------------------- noisy logistic map


def _logistic_constants(N: int) -> np.ndarray:
    r"""$\sqrt{C_N\binom{N}{i}}$, $i = 0..N$, with $C_N = \pi / B(\tfrac{N+1}2, \tfrac12)$."""
    c_n = math.pi / math.exp(math.lgamma(N / 2 + 0.5) + math.lgamma(0.5) - math.lgamma(N / 2 + 1.0))
    log_binom = [math.lgamma(N + 1) - math.lgamma(k + 1) - math.lgamma(N - k + 1) for k in range(N + 1)]
    return np.sqrt(c_n * np.exp(log_binom))


def _logistic_features(x, N: int, xp=np):
    r"""$\beta_i(x) = \sqrt{C_N\binom{N}{i}}\sin^{N-i}(\pi x)\cos^i(\pi x)$, $i = 0..N$ (last axis)."""
    i = np.arange(N + 1)
    s, c = xp.sin(np.pi * x)[..., None], xp.cos(np.pi * x)[..., None]
    return xp.asarray(_logistic_constants(N)) * s ** (N - i) * c**i


def logistic_map_matrix(N: int = 20, r: float = 4.0, n_quad: int = 400) -> np.ndarray:
    r"""The $(N+1)\times(N+1)$ matrix $K_{ij} = \int_0^1 \beta_i(x)\,\beta_j(F(x))\,dx$ whose eigenvalues
    are the nonzero eigenvalues of the noisy logistic map's Koopman operator (as kooplearn computes them).

    The noise density $p(\xi) = C_N\cos^N(\pi\xi)$ on $[-\tfrac12, \tfrac12]$ (periodic) factorises by
    the binomial theorem, $p(y - F(x)) = \sum_{i=0}^N \beta_i(F(x))\,\beta_i(y)$ with $F(x) = rx(1-x)$,
    so $(Kf)(x) = \mathbb{E}[f(y)\mid x] = \sum_i \alpha_i(x)\langle\beta_i, f\rangle$ with
    $\alpha_i = \beta_i\circ F$: the range is $\operatorname{span}\{\alpha_i\}$, and on it $K$ acts
    as the matrix $K_{ij} = \langle \beta_i, \alpha_j\rangle$ (right eigenvector $v$ gives the
    eigenfunction $\sum_j v_j\alpha_j$). Integrals by Gauss-Legendre quadrature with `n_quad` nodes
    in float64 (the integrands are smooth).
    """
    _check_n(N, "N")
    if N % 2:
        raise ValueError(f"N must be even (the noise density cos^N must be >= 0), got {N}")
    from scipy.special import roots_legendre

    _check_n(n_quad, "n_quad")
    nodes, weights = roots_legendre(n_quad)
    x, w = 0.5 * (nodes + 1.0), 0.5 * weights
    beta = _logistic_features(x, N)
    alpha = _logistic_features(r * x * (1 - x), N)
    return (beta * w[:, None]).T @ alpha


def noisy_logistic_map(
    n: int, *, key: PRNGKeyArray, N: int = 20, r: float = 4.0, x0: Optional[float] = None
) -> KnownSpectrum:
    r"""A trajectory of the noisy logistic map $x_{t+1} = (r x_t(1 - x_t) + \xi_t) \bmod 1$ with
    i.i.d. noise of density $C_N\cos^N(\pi\xi)$ on $[-\tfrac12, \tfrac12]$ (kooplearn's
    `LogisticMap(r=4, N=20)`; Kostic et al. 2022).

    The noise is sampled exactly: $s = \sin^2(\pi\xi) \sim \mathrm{Beta}(\tfrac12, \tfrac{N+1}2)$
    with a random sign, i.e. $\xi = \arctan(Z_0/R)/\pi$ with $Z_0 \sim \mathcal N(0, 1)$ and
    $R^2 \sim \chi^2_{N+1}$ (a sum of $N + 1$ squared standard normals). The exact eigenvalues are those of
    [`logistic_map_matrix`][jaxrep.data.logistic_map_matrix] ($N + 1$ of them, $\lambda_0 = 1$);
    every other eigenvalue of the Koopman operator is $0$.

    **Arguments:** `n` number of pairs; `key`; `N` even noise order (larger: less noise); `r`;
    `x0` the first state (default: uniform on $[0, 1)$ from `key`).

    **Returns:** a [`KnownSpectrum`][jaxrep.data.KnownSpectrum] with `X`, `Y` `(n, 1)` (consecutive
    states of one trajectory), the $N + 1$ eigenvalues sorted by decreasing modulus and the
    eigenfunctions $\sum_j v_j\,\beta_j(F(x))$.

    **References:** Kostic, Novelli, Maurer, Ciliberto, Rosasco & Pontil, "Learning dynamical systems
    via Koopman operator regression in reproducing kernel Hilbert spaces", NeurIPS 2022.
    """
    _check_n(n)
    _check_n(N, "N")
    if N % 2:
        raise ValueError(f"N must be even (the noise density cos^N must be >= 0), got {N}")
    r = _check_pos(r, "r")
    K = logistic_map_matrix(N, r)
    w, V = np.linalg.eig(K)
    order = np.argsort(-np.abs(w), kind="stable")
    w, V = w[order], V[:, order]
    dtype = _float_dtype()
    k0, k_noise = jr.split(key)
    if x0 is None:
        start = jr.uniform(k0, (), dtype)
    else:
        if not (isinstance(x0, (int, float)) and 0.0 <= x0 <= 1.0):
            raise ValueError(f"x0 must be a float in [0, 1], got {x0!r}")
        start = jnp.asarray(x0, dtype)
    z = jr.normal(k_noise, (n, N + 2), dtype)
    xi = jnp.arctan2(z[:, 0], jnp.sqrt(jnp.sum(z[:, 1:] ** 2, axis=1))) / jnp.pi

    # the recursion is sequential and cheap: run it on the host in float64 (no compilation; an XLA
    # loop of 10^4-10^5 tiny steps costs more than the arithmetic)
    noise = np.asarray(xi, np.float64)
    traj = np.empty(n + 1)
    traj[0] = x = float(start)
    for t in range(n):
        x = (r * x * (1.0 - x) + noise[t]) % 1.0
        x = 0.0 if x >= 1.0 else x  # (-1e-17) % 1.0 == 1.0 in floating point
        traj[t + 1] = x
    traj = jnp.asarray(traj[:, None], dtype)
    ctype = jnp.complex128 if dtype == jnp.float64 else jnp.complex64
    Vj = jnp.asarray(V, ctype)

    def eigenfunctions(x):
        return _logistic_features(r * x[0] * (1 - x[0]), N, jnp).astype(ctype) @ Vj

    return KnownSpectrum(traj[:-1], traj[1:], jnp.asarray(w, ctype), None, eigenfunctions, 1.0)


# --------------------------------------------------------------------------- Ornstein-Uhlenbeck


def _hermite_he(x: Float[Array, "..."], n: int) -> Float[Array, "... n"]:
    r"""Probabilists' Hermite polynomials $\mathrm{He}_0..\mathrm{He}_{n-1}$ at `x` (last axis), by
    the recurrence $\mathrm{He}_{k+1}(x) = x\,\mathrm{He}_k(x) - k\,\mathrm{He}_{k-1}(x)$."""
    _check_n(n)
    x = jnp.asarray(x)
    out = [jnp.ones_like(x), x]
    for k in range(1, n - 1):
        out.append(x * out[k] - k * out[k - 1])
    return jnp.stack(out[:n], axis=-1)


def ornstein_uhlenbeck(
    n: int, dt: float, *, key: PRNGKeyArray, theta: float = 1.0, sigma: float = 1.0, n_eig: int = 5
) -> KnownSpectrum:
    r"""Pairs of the 1-D Ornstein-Uhlenbeck process $dX = -\theta X\,dt + \sigma\,dW$, sampled exactly.

    $X_0$ from the stationary law $\mathcal N(0, s^2)$, $s^2 = \sigma^2/(2\theta)$, and
    $X_{\Delta t} = e^{-\theta\Delta t}X_0 + s\sqrt{1 - e^{-2\theta\Delta t}}\,\varepsilon$. The
    generator $\mathcal L f = -\theta x f' + \tfrac{\sigma^2}{2} f''$ has eigenvalues $-k\theta$ with
    eigenfunctions $\mathrm{He}_k(x/s)$ (probabilists' Hermite), so the Koopman eigenvalues for one
    step are $e^{-k\theta\Delta t}$.

    **Arguments:** `n` pairs; `dt` step; `key`; `theta` > 0; `sigma` > 0; `n_eig` how many
    eigenvalues ($k = 0..n_{eig}-1$).

    **Returns:** a [`KnownSpectrum`][jaxrep.data.KnownSpectrum], `X`, `Y` `(n, 1)`.
    """
    _check_n(n)
    _check_n(n_eig, "n_eig")
    dt, theta, sigma = _check_pos(dt, "dt"), _check_pos(theta, "theta"), _check_pos(sigma, "sigma")
    dtype = _float_dtype()
    s = sigma / math.sqrt(2 * theta)
    k0, k1 = jr.split(key)
    X = s * jr.normal(k0, (n, 1), dtype)
    a = math.exp(-theta * dt)
    Y = a * X + s * math.sqrt(1 - a * a) * jr.normal(k1, (n, 1), dtype)
    mu = -theta * np.arange(n_eig)
    ctype = jnp.complex128 if dtype == jnp.float64 else jnp.complex64

    def eigenfunctions(x):
        return _hermite_he(x[0] / s, n_eig).astype(ctype)

    return KnownSpectrum(X, Y, jnp.asarray(np.exp(mu * dt), ctype), jnp.asarray(mu, ctype),
                         eigenfunctions, dt)


# --------------------------------------------------------------------------- slow manifold


def slow_manifold_spectrum(mu: float, lam: float, order: int = 2) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact eigenvalues $i\mu + j\lambda$ of the slow manifold's generator for $1 \le i + j \le$
    `order`, slowest first, and their exponents `(i, j)` (eigenfunction $x_1^i(x_2 - bx_1^2)^j$,
    $b = \lambda/(\lambda - 2\mu)$). **Returns:** `(eigenvalues (r,), exponents (r, 2))`."""
    _check_n(order, "order")
    pairs = [(i, k - i) for k in range(1, order + 1) for i in range(k, -1, -1)]
    ev = np.array([i * mu + j * lam for i, j in pairs])
    idx = np.argsort(-ev, kind="stable")
    return ev[idx], np.array(pairs)[idx]


def slow_manifold(
    n: int, dt: float, *, key: PRNGKeyArray, mu: float = -0.05, lam: float = -1.0, order: int = 2
) -> KnownSpectrum:
    r"""Pairs of the slow-manifold flow $\dot x_1 = \mu x_1$, $\dot x_2 = \lambda(x_2 - x_1^2)$
    ([`SlowManifold`][jaxrep.data.SlowManifold]), from its closed-form flow.

    $X$ uniform on $[-1, 1]^2$, $Y = \Phi_{\Delta t}(X)$. The eigenfunctions
    $x_1^i(x_2 - bx_1^2)^j$, $b = \lambda/(\lambda - 2\mu)$, have generator eigenvalues
    $i\mu + j\lambda$; those with $1 \le i + j \le$ `order` are returned (slowest first; the constant,
    eigenvalue 0, is left out).

    **Arguments:** `n` pairs; `dt` step; `key`; `mu`, `lam` (both < 0 for decay, $\lambda \ne 2\mu$);
    `order` the largest total degree $i + j$.

    **Returns:** a [`KnownSpectrum`][jaxrep.data.KnownSpectrum], `X`, `Y` `(n, 2)`.

    **References:** Brunton, Brunton, Proctor & Kutz, PLoS ONE 11 (2016); Lusch, Kutz & Brunton,
    Nat. Commun. 9 (2018).
    """
    _check_n(n)
    dt = _check_pos(dt, "dt")
    for name, v in (("mu", mu), ("lam", lam)):
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite float, got {v!r}")
    if lam == 2 * mu:
        raise ValueError(f"lam must differ from 2 * mu (resonance: b = lam / (lam - 2 mu)), got {lam}")
    system = SlowManifold(mu=float(mu), lam=float(lam))
    dtype = _float_dtype()
    X = jr.uniform(key, (n, 2), dtype, minval=-1.0, maxval=1.0)
    Y = jax.vmap(lambda x: system.exact_flow(x, dt))(X)
    ev, ij = slow_manifold_spectrum(float(mu), float(lam), order)
    b = lam / (lam - 2 * mu)
    ctype = jnp.complex128 if dtype == jnp.float64 else jnp.complex64
    ii, jj = jnp.asarray(ij[:, 0]), jnp.asarray(ij[:, 1])

    def eigenfunctions(x):
        return (x[0] ** ii * (x[1] - b * x[0] ** 2) ** jj).astype(ctype)

    return KnownSpectrum(X, Y, jnp.asarray(np.exp(ev * dt), ctype), jnp.asarray(ev, ctype),
                         eigenfunctions, dt)
