r"""Closed-form Koopman estimators: EDMD (ridge or reduced rank), generator EDMD, kernel reduced-rank
regression (exact and Nyström) and kernel principal-component regression (kernel DMD).

Every estimator is reduced to the same finite-rank object: an embedding $e: \mathbb{R}^d \to
\mathbb{R}^r$ (the features, or kernel sections $k(\cdot, x_i)$ combined by learned coefficients), an
$r\times r$ matrix $M$ acting on row vectors, $e(x_{t+1})^\top \approx e(x_t)^\top M$ (or a generator
$L$ with $\tfrac{d}{dt}e(x)^\top \approx e(x)^\top L$), and linear read-outs to the state. Spectra
([`jaxrep.koopman.eig`][]) and residuals ([`jaxrep.koopman.residuals`][]) work on that object.

Notation: $n$ samples $(x_i, y_i)$, $\Psi_X = [\psi(x_i)^\top]_i \in \mathbb{R}^{n\times p}$, ridge
parameter $\gamma$ (`reg`), empirical covariances $C = \Psi_X^\top\Psi_X/n + \gamma I$ and
$T = \Psi_X^\top\Psi_Y/n$.
"""

import abc
import itertools
import math
from typing import Callable, Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float, PRNGKeyArray

from ._features import gram
from ._propagate import propagate_uniform

_HI = jax.lax.Precision.HIGHEST


def _mm(a, b):
    return jnp.matmul(a, b, precision=_HI)


# --------------------------------------------------------------------------- validation


def _as_data(X, name: str) -> Array:
    if isinstance(X, jax.core.Tracer):
        X = jnp.asarray(X)
    else:
        arr = np.asarray(X)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
        if arr.ndim != 2:
            raise ValueError(f"{name} must have shape (n_samples, dim), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.sum(~np.isfinite(arr)))
            raise ValueError(f"{name} contains {bad} non-finite values (shape {arr.shape})")
        X = jnp.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, dim), got {X.shape}")
    return X.astype(jnp.result_type(X.dtype, jnp.float32))


def _pair(X, Y, nx: str, ny: str) -> tuple[Array, Array]:
    X = _as_data(X, nx)
    Y = _as_data(Y, ny)
    if X.shape != Y.shape:
        raise ValueError(f"{nx} and {ny} must have the same shape, got {X.shape} and {Y.shape}")
    return X, Y


def _check_reg(reg) -> float:
    if not isinstance(reg, (int, float)) or not math.isfinite(reg) or reg < 0:
        raise ValueError(f"reg must be a finite float >= 0, got {reg!r}")
    return float(reg)


def _check_rank(rank, n_max: int, what: str) -> Optional[int]:
    if rank is None:
        return None
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be None or an integer >= 1, got {rank!r}")
    if rank > n_max:
        raise ValueError(f"rank={rank} is larger than the {what} ({n_max})")
    return rank


def _check_dt(dt) -> float:
    if not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a finite float > 0, got {dt!r}")
    return float(dt)


def _features_of(features: Callable, X: Array, name: str = "features") -> Array:
    try:
        out = jax.vmap(features)(X)
    except Exception as e:  # noqa: BLE001 - re-raised with the contract spelled out
        raise TypeError(
            f"{name} must map one state of shape ({X.shape[1]},) to a vector; calling it failed: {e}"
        ) from e
    if out.ndim != 2:
        raise ValueError(f"{name} must return a vector (p,) per state, got shape {out.shape[1:]}")
    return out.astype(X.dtype)


# --------------------------------------------------------------------------- linear algebra


def _ridge(A: Array, B: Array, reg: float) -> Array:
    r"""$\arg\min_K \|AK - B\|_F^2 + n\gamma\|K\|_F^2$ by least squares on the stacked system.

    Never forms $A^\top A$, so the conditioning is that of $A$, not its square.
    """
    n, p = A.shape
    if reg > 0:
        # The stacked matrix has full column rank, so its QR solves the problem exactly (an SVD,
        # as in lstsq, is only needed for the minimum-norm solution when reg = 0).
        A = jnp.concatenate([A, math.sqrt(n * reg) * jnp.eye(p, dtype=A.dtype)], 0)
        Q, R = jnp.linalg.qr(A)
        return jax.scipy.linalg.solve_triangular(R, _mm(Q[:n].T, B), lower=False)
    return jnp.linalg.lstsq(A, B)[0]


def _inv_sqrt_psd(C: Array) -> Array:
    w, Q = jnp.linalg.eigh(C)
    floor = jnp.finfo(C.dtype).eps * jnp.max(jnp.abs(w)) * C.shape[0]
    return _mm(Q * (1.0 / jnp.sqrt(jnp.maximum(w, floor))), Q.T)


def _rrr_directions(Psi_X: Array, Psi_Y: Array, reg: float, rank: int) -> Array:
    r"""Top-`rank` solutions of $TT^\top v = \sigma^2 C v$, normalised $V^\top C V = I$."""
    n, p = Psi_X.shape
    C = _mm(Psi_X.T, Psi_X) / n + reg * jnp.eye(p, dtype=Psi_X.dtype)
    T = _mm(Psi_X.T, Psi_Y) / n
    Ci = _inv_sqrt_psd(C)
    Z = _mm(Ci, T)
    _, H = jnp.linalg.eigh(_mm(Z, Z.T))
    return _mm(Ci, H[:, ::-1][:, :rank])


# --------------------------------------------------------------------------- embeddings


class _Projected(eqx.Module):
    """$e(x) = V^\\top \\psi(x)$."""

    features: Callable
    proj: Array

    def __call__(self, x):
        return _mm(self.proj.T, self.features(x))


class _KernelEmbedding(eqx.Module):
    """$e(x) = W^\\top [k(c_j, x)]_j$."""

    kernel: Callable
    centers: Array
    coef: Array

    def __call__(self, x):
        kx = gram(self.kernel, self.centers, x[None])[:, 0]
        return _mm(self.coef.T, kx)


# --------------------------------------------------------------------------- estimator objects


class KoopmanEig(eqx.Module):
    r"""Eigen-decomposition of a Koopman estimator.

    - `eigenvalues` `(r,)`: discrete-time $\lambda_i$ (per step of length `dt`);
    - `continuous_eigenvalues` `(r,)`: $\mu_i = \log(\lambda_i)/\Delta t$ (or the generator's own);
    - `eigenvectors` `(r, r)`: coefficients $q_i$ (columns) in the estimator's embedding;
    - `modes` `(r, d)`: Koopman modes $m_i$ with $x \approx \sum_i \varphi_i(x)\, m_i$, so that
      $\mathbb{E}[x_s \mid x_0 = x] \approx \sum_i \lambda_i^s \varphi_i(x)\, m_i$;
    - `eigenfunctions(x)`: $\varphi_i(x) = e(x)^\top q_i$ on **one** new state `(d,)` -> `(r,)`.

    Sorted by decreasing real part of $\mu_i$ (slowest first).
    """

    eigenvalues: Complex[Array, " r"]
    continuous_eigenvalues: Complex[Array, " r"]
    eigenvectors: Complex[Array, "r r"]
    modes: Complex[Array, "r d"]
    embed: Callable
    dt: float = eqx.field(static=True)

    def eigenfunctions(self, x: Float[Array, " d"]) -> Complex[Array, " r"]:
        e = self.embed(x)
        return _mm(e.astype(self.eigenvectors.dtype), self.eigenvectors)


def _decompose(matrix: Array, continuous: bool, state_readout: Array, embed, dt: float) -> KoopmanEig:
    w, Q = jnp.linalg.eig(matrix)
    if continuous:
        mu, lam = w, jnp.exp(w * dt)
    else:
        lam, mu = w, jnp.log(w.astype(jnp.result_type(w.dtype, jnp.complex64))) / dt
    order = jnp.argsort(-jnp.real(mu))
    lam, mu, Q = lam[order], mu[order], Q[:, order]
    modes = jnp.linalg.solve(Q, state_readout.astype(Q.dtype))
    return KoopmanEig(lam, mu, Q, modes, embed, dt)


class AbstractKoopmanEstimator(eqx.Module):
    """A fitted finite-rank Koopman estimator (see the module docstring).

    Subclasses supply `embed` (one state -> `(r,)`), `state_readout` `(r, d)` with
    $x \\approx e(x)^\\top B$, the time step `dt`, `predict` and `eig`.
    """

    embed: eqx.AbstractVar[Callable]
    state_readout: eqx.AbstractVar[Float[Array, "r d"]]
    dt: eqx.AbstractVar[float]

    @abc.abstractmethod
    def predict(self, x: Float[Array, " d"], n_steps: int) -> Float[Array, "n_steps d"]:
        """Forecast $\\mathbb{E}[x_s \\mid x_0 = x]$ for $s = 1..n$ from **one** state `(d,)`."""

    @abc.abstractmethod
    def eig(self) -> KoopmanEig:
        """Eigenvalues, eigenfunctions and modes (see `KoopmanEig`)."""

    @property
    def modes(self) -> Complex[Array, "r d"]:
        """Koopman modes, shape `(r, d)` (from `eig()`)."""
        return self.eig().modes

    def _check_x(self, x, n_steps):
        d = self.state_readout.shape[1]
        if jnp.shape(x) != (d,):
            raise ValueError(
                f"predict expects one state of shape ({d},), got {jnp.shape(x)} "
                "(for batches use jax.vmap)"
            )
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be a Python int >= 1, got {n_steps!r}")


class KoopmanEstimator(AbstractKoopmanEstimator):
    r"""Discrete-time estimator: $e(y)^\top \approx e(x)^\top M$, forecast
    $\hat x_s = e(x)^\top M^{s-1} R$ with the one-step read-out $R$.
    """

    embed: Callable
    transition: Float[Array, "r r"]
    readout: Float[Array, "r d"]
    state_readout: Float[Array, "r d"]
    dt: float = eqx.field(static=True)

    def predict(self, x: Float[Array, " d"], n_steps: int) -> Float[Array, "n_steps d"]:
        self._check_x(x, n_steps)

        def step(z, _):
            return _mm(z, self.transition), _mm(z, self.readout)

        _, out = jax.lax.scan(step, self.embed(x).astype(self.transition.dtype), None, n_steps)
        return out

    def eig(self) -> KoopmanEig:
        return _decompose(self.transition, False, self.state_readout, self.embed, self.dt)


class GeneratorEstimator(AbstractKoopmanEstimator):
    r"""Continuous-time estimator: $\tfrac{d}{dt} e(x(t))^\top \approx e(x(t))^\top L$, forecast
    $\hat x(s\Delta t) = e(x)^\top e^{s\Delta t L} B$ (exact matrix exponential, `propagate_uniform`).
    """

    embed: Callable
    generator: Float[Array, "r r"]
    state_readout: Float[Array, "r d"]
    dt: float = eqx.field(static=True)

    def predict(self, x: Float[Array, " d"], n_steps: int) -> Float[Array, "n_steps d"]:
        self._check_x(x, n_steps)
        e = self.embed(x).astype(self.generator.dtype)
        z = propagate_uniform(self.generator.T, e, self.dt, n_steps + 1)[1:]
        return _mm(z, self.state_readout)

    def eig(self) -> KoopmanEig:
        return _decompose(self.generator, True, self.state_readout, self.embed, self.dt)


# --------------------------------------------------------------------------- fitting


def _fit_primal(embed, Psi_X, Psi_Y, X, reg, rank, dt) -> KoopmanEstimator:
    B = _ridge(Psi_X, X, reg)
    if rank is None:
        K = _ridge(Psi_X, Psi_Y, reg)
        return KoopmanEstimator(embed, K, _mm(K, B), B, dt)
    n = Psi_X.shape[0]
    V = _rrr_directions(Psi_X, Psi_Y, reg, rank)
    T = _mm(Psi_X.T, Psi_Y) / n
    M = _mm(V.T, _mm(T, V))
    R = _mm(V.T, _mm(T, B))
    SB = _ridge(_mm(Psi_X, V), X, reg)
    return KoopmanEstimator(_Projected(embed, V), M, R, SB, dt)


def edmd(
    X: Float[ArrayLike, "n d"],
    Y: Float[ArrayLike, "n d"],
    features: Callable,
    reg: float = 1e-6,
    rank: Optional[int] = None,
    dt: float = 1.0,
) -> KoopmanEstimator:
    r"""Extended dynamic mode decomposition (Williams, Kevrekidis & Rowley 2015).

    With $n$ snapshot pairs $y_i = F(x_i)$ (one step of length `dt`) and a dictionary $\psi$:

    - full rank: $K = \arg\min_K \|\Psi_X K - \Psi_Y\|_F^2 + n\gamma\|K\|_F^2$, i.e.
      $K = (\Psi_X^\top\Psi_X + n\gamma I)^{-1}\Psi_X^\top\Psi_Y$ (solved by least squares);
    - `rank=r`: reduced-rank regression (Kostic et al. 2022), the best rank-$r$ $K$ for the same
      objective: $K = VV^\top T$ with $V$ the top-$r$ solutions of $TT^\top v = \sigma^2 Cv$,
      $V^\top C V = I$.

    The state read-out $B$ ($x \approx \psi(x)^\top B$) is the ridge fit of $X$ on $\Psi_X$; include
    the coordinates in the dictionary for exact reconstruction.

    **Arguments:**

    - `X`, `Y`: states and their successors, both `(n, d)`.
    - `features`: dictionary, one state `(d,)` -> `(p,)` (`Polynomial`, `RBF`, `RandomFourier`, a
      `jaxrep.nn` model or any callable).
    - `reg`: ridge $\gamma \ge 0$ (`0` gives the minimum-norm least-squares solution).
    - `rank`: `None` (full) or $r \le p$.
    - `dt`: time between $x_i$ and $y_i$ (sets continuous-time eigenvalues $\log\lambda/\Delta t$).

    **Returns:** a [`KoopmanEstimator`][jaxrep.koopman.KoopmanEstimator].
    """
    X, Y = _pair(X, Y, "X", "Y")
    reg, dt = _check_reg(reg), _check_dt(dt)
    Psi_X = _features_of(features, X)
    rank = _check_rank(rank, Psi_X.shape[1], "number of features")
    return _edmd_jit(features, X, Y, reg, rank, dt)


@eqx.filter_jit
def _edmd_jit(features, X, Y, reg, rank, dt):
    Psi_X = jax.vmap(features)(X).astype(X.dtype)
    Psi_Y = jax.vmap(features)(Y).astype(X.dtype)
    return _fit_primal(features, Psi_X, Psi_Y, X, reg, rank, dt)


def generator_edmd(
    X: Float[ArrayLike, "n d"],
    dXdt: Float[ArrayLike, "n d"],
    features: Callable,
    reg: float = 0.0,
    diffusion: Optional[Float[ArrayLike, "n d d"]] = None,
    dt: float = 1.0,
) -> GeneratorEstimator:
    r"""Generator EDMD (gEDMD, Klus et al. 2020): a continuous-time Koopman generator from
    $(x_i, \dot x_i)$.

    The time derivative of every dictionary function follows from the chain rule, computed exactly
    by forward-mode autodiff: $\tfrac{d}{dt}\psi(x) = D\psi(x)\,\dot x$ (`jax.jvp`). For an SDE
    $dX = b\,dt + \sigma\,dW$ pass `dXdt` $= b(x_i)$ and `diffusion` $= \sigma\sigma^\top(x_i)$ to
    add the Itô term $\tfrac12 \sigma\sigma^\top : \nabla^2\psi$ (Hessians by autodiff). Then
    $L = \arg\min_L \|\Psi_X L - \dot\Psi\|_F^2 + n\gamma\|L\|_F^2$.

    **Arguments:**

    - `X`: states `(n, d)`; `dXdt`: their velocities (or drift) `(n, d)`.
    - `features`: dictionary, one state `(d,)` -> `(p,)`.
    - `reg`: ridge $\gamma \ge 0$.
    - `diffusion`: optional $\sigma\sigma^\top$ at each state, `(n, d, d)`.
    - `dt`: step used by `predict` (forecasts at $s\,\Delta t$).

    **Returns:** a [`GeneratorEstimator`][jaxrep.koopman.GeneratorEstimator].

    **References:** Klus, Nüske, Peitz, Niemann, Clementi & Schütte, "Data-driven approximation of the
    Koopman generator: model reduction, system identification, and control", Physica D 406 (2020).
    """
    X, dXdt = _pair(X, dXdt, "X", "dXdt")
    reg, dt = _check_reg(reg), _check_dt(dt)
    _features_of(features, X)
    if diffusion is not None:
        diffusion = jnp.asarray(diffusion, X.dtype)
        n, d = X.shape
        if diffusion.shape != (n, d, d):
            raise ValueError(
                f"diffusion must have shape (n, d, d) = {(n, d, d)} to match X, got {diffusion.shape}"
            )
    return _gedmd_jit(features, X, dXdt, diffusion, reg, dt)


@eqx.filter_jit
def _gedmd_jit(features, X, dXdt, diffusion, reg, dt):
    def dpsi(x, v):
        return jax.jvp(features, (x,), (v,))[1]

    Psi_X = jax.vmap(features)(X).astype(X.dtype)
    dPsi = jax.vmap(dpsi)(X, dXdt).astype(X.dtype)
    if diffusion is not None:
        hess = jax.vmap(jax.hessian(features))(X)  # (n, p, d, d)
        dPsi = dPsi + 0.5 * jnp.einsum("npij,nij->np", hess, diffusion)
    L = _ridge(Psi_X, dPsi, reg)
    B = _ridge(Psi_X, X, reg)
    return GeneratorEstimator(features, L, B, dt)


def _as_key(key):
    """A PRNG key from `key`: a key as it is, an int as the seed of `jr.PRNGKey`."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jr.PRNGKey(int(key))
    if key is None:
        raise TypeError("key must be a PRNG key or an int seed, got None")
    return key


def kernel_rrr(
    X: Float[ArrayLike, "n d"],
    Y: Float[ArrayLike, "n d"],
    kernel: Callable,
    rank: int = 25,
    reg: float = 1e-6,
    nystrom: Optional[int] = None,
    dt: float = 1.0,
    *,
    randomized: bool = False,
    n_iter: int = 4,
    oversample: int = 10,
    key: Union[PRNGKeyArray, int] = 0,
) -> KoopmanEstimator:
    r"""Kernel reduced-rank regression (Kostic et al., NeurIPS 2022), the kooplearn estimator.

    In the RKHS of `kernel`, the best rank-$r$ operator for the ridge objective is
    $G = \Phi_X^\top U U^\top K_X \Phi_Y/n$. With $A = K_X + n\gamma I$ the directions solve
    $$K_Y K_X u = n\sigma^2 A u, \qquad \text{i.e.}\quad K_Y S z = n\sigma^2 z,\quad
      S = K_X A^{-1} = I - n\gamma A^{-1},\ u = A^{-1}z,$$
    for the top $r$ values of $\sigma^2$ (the kernelisation of $TT^\top v = \sigma^2 C v$),
    normalised $U^\top K_X A U = nI$ (i.e. $V^\top C V = I$). The fitted object has embedding
    $e(x) = U^\top k_X(x)$, $M = U^\top K_X K_{YX} U/n$ and one-step read-out $R = U^\top K_X Y/n$.

    The exact solver factors $A$ once (Cholesky, $n^3/3$ flops) and finds the top-$r$ pairs by
    restarted block Krylov iteration on $z \mapsto K_Y S z$ (blocks of $r + 10$, Rayleigh-Ritz in
    the $S$ inner product), until every Ritz residual is below $10^3\epsilon\,\sigma_1^2$: the
    same estimator as a dense eigensolver to ~float64 precision (the dense solver, two $n\times n$
    eigendecompositions, is used when $n < 8(r + 10)$). kooplearn's `arpack` solver forms
    $K_Y K_X$ ($2n^3$ flops) and LU-factors $A$.

    `nystrom=m` instead uses $m$ landmarks $c_j$ drawn from $X$ (`key`): the features
    $\tilde\phi(x) = K_{mm}^{-1/2} k_m(x)$ make it a primal $m$-dimensional RRR, cost
    $O(nm^2 + m^3)$ (Meanti et al., "Estimating Koopman operators with sketching to provably learn
    large scale dynamical systems", NeurIPS 2023).

    On the kooplearn Lorenz-63 protocol (standardised states, length scale 0.5, rank 25) the
    one-step state forecast is worse than persistence $x_{t+1} = x_t$; a length scale equal to
    the median pairwise distance of the states (about 2), or reading out the increment
    $x_{t+1} - x_t$ from the same embedding, beats it (`benchmarks/koopman_fit.py`).

    **Arguments:**

    - `X`, `Y`: states and successors `(n, d)`.
    - `kernel`: `k(x, y)` on two states -> scalar (e.g. `GaussianKernel(length_scale)`).
    - `rank`: $r$ ($\le n$, or $\le m$ with Nyström).
    - `reg`: Tikhonov $\gamma > 0$.
    - `nystrom`: number of landmarks $m$, or `None` for the exact estimator.
    - `dt`: time step between $x_i$ and $y_i$.
    - `randomized`: one pass of randomized block Krylov (Musco & Musco 2015; the randomized RRR
      of Turri et al. 2023 is its one-block special case): `n_iter` blocks of
      `rank + oversample` columns from a Gaussian start, one Cholesky solve and one product with
      $K_Y$ per block, then the same Rayleigh-Ritz step, without the convergence loop. An
      approximation of the exact estimator that improves quickly with `n_iter`.
    - `n_iter`, `oversample`: Krylov blocks (applications of $K_Y S$) and extra columns of the
      randomized solver.
    - `key`: PRNG key, or an int seed, for the landmarks / the random start block (keyword-only;
      default: seed 0, so repeated calls agree); the exact solver's result does not depend on it beyond
      its tolerance.

    **Returns:** a [`KoopmanEstimator`][jaxrep.koopman.KoopmanEstimator].
    """
    X, Y = _pair(X, Y, "X", "Y")
    reg, dt = _check_reg(reg), _check_dt(dt)
    if reg == 0:
        raise ValueError("kernel_rrr needs reg > 0 (Tikhonov regularisation), got 0")
    n = X.shape[0]
    if nystrom is None:
        rank = _check_rank(rank, n, "number of samples")
        if rank is None:
            return _krrr_dense(kernel, X, Y, reg, n, dt)
        if randomized:
            if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
                raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
            k = min(n, rank + max(0, int(oversample)))
            depth = max(1, min(n_iter, n // k))
            return _krrr_krylov(kernel, X, Y, reg, rank, dt, k, depth, 1, _as_key(key))
        k = min(n, rank + 10)
        if n < 8 * k:  # the Krylov basis would not be much smaller than the problem
            return _krrr_dense(kernel, X, Y, reg, rank, dt)
        return _krrr_krylov(kernel, X, Y, reg, rank, dt, k, 4, 50, _as_key(key))
    if isinstance(nystrom, bool) or not isinstance(nystrom, int) or not 1 <= nystrom <= n:
        raise ValueError(f"nystrom must be None or an integer in [1, n_samples={n}], got {nystrom!r}")
    rank = _check_rank(rank, nystrom, "number of Nyström landmarks")
    return _krrr_nystrom(kernel, X, Y, reg, rank, dt, nystrom, _as_key(key))


@eqx.filter_jit
def _krrr_dense(kernel, X, Y, reg, rank, dt):
    # Reference dense solver: two n x n eigendecompositions (used for small n, where the Krylov
    # basis would not be smaller than the problem).
    n = X.shape[0]
    K_X = gram(kernel, X, X)
    K_Y = gram(kernel, Y, Y)
    K_YX = gram(kernel, Y, X)
    # K_Y = F F^T with F = Q sqrt(w): exact factor of a PSD matrix, robust to its null space.
    w, Q = jnp.linalg.eigh(K_Y)
    F = Q * jnp.sqrt(jnp.maximum(w, 0.0))
    A = K_X + n * reg * jnp.eye(n, dtype=X.dtype)
    cho = jax.scipy.linalg.cho_factor(A)
    AinvF = jax.scipy.linalg.cho_solve(cho, F)
    N = _mm(F.T, _mm(K_X, AinvF)) / n
    N = 0.5 * (N + N.T)
    s, G = jnp.linalg.eigh(N)
    s, G = s[::-1][:rank], G[:, ::-1][:, :rank]
    return _krrr_finish(kernel, X, Y, K_X, K_YX, _mm(AinvF, G), s, rank, reg, dt)


def _krrr_finish(kernel, X, Y, K_X, K_YX, AinvFG, s, rank, reg, dt, K_XAinvFG=None):
    n = X.shape[0]
    # Directions with sigma^2 ~ 0 carry no signal (rank above the numerical rank): drop them.
    ok = s > jnp.finfo(X.dtype).eps * n * jnp.maximum(s[0], 0.0)
    scale = jnp.where(ok, 1.0 / jnp.sqrt(jnp.where(ok, s, 1.0)), 0.0)
    U = AinvFG * scale
    KU = _mm(K_X, U) if K_XAinvFG is None else K_XAinvFG * scale
    M = _mm(KU.T, _mm(K_YX, U)) / n
    R = _mm(KU.T, Y) / n
    SB = _ridge(KU, X, reg)
    return KoopmanEstimator(_KernelEmbedding(kernel, X, U), M, R, SB, dt)


def _chol_blocks(A: Array, block: int) -> list:
    r"""Cholesky factor $A = LL^\top$ kept as column panels `[(a, D^{-1}, L[a:, a:b])]`, with
    $D = L[a:b, a:b]$, for `_chol_solve_blocks`.

    XLA:CPU's triangular solves with a few dozen right-hand sides are several times slower than a
    matrix product of the same size; with the diagonal blocks inverted once, every step of the
    substitution is a product.
    """
    n = A.shape[0]
    L = jax.lax.linalg.cholesky(A, symmetrize_input=False)
    edges = list(range(0, n, block)) + [n]
    cols = []
    for a, b in itertools.pairwise(edges):
        Dinv = jax.lax.linalg.triangular_solve(
            L[a:b, a:b], jnp.eye(b - a, dtype=A.dtype), left_side=True, lower=True
        )
        cols.append((a, Dinv, L[a:, a:b]))
    return cols


def _chol_solve_blocks(cols: list, B: Array) -> Array:
    """$A^{-1}B$ from the panels of `_chol_blocks` (forward then backward substitution)."""
    ys = []
    for a, Dinv, Lc in cols:
        h = Dinv.shape[0]
        y = _mm(Dinv, B[a : a + h])
        if Lc.shape[0] > h:
            B = B.at[a + h :].add(-_mm(Lc[h:], y))
        ys.append(y)
    xs = []
    for (a, Dinv, Lc), y in zip(reversed(cols), reversed(ys)):
        h = Dinv.shape[0]
        if xs:
            y = y - _mm(Lc[h:].T, jnp.concatenate(xs[::-1], 0))
        xs.append(_mm(Dinv.T, y))
    return jnp.concatenate(xs[::-1], 0)


def _orth_against(Q: Array, Z: Array) -> Array:
    """Orthonormal basis of the part of `Z` orthogonal to the orthonormal `Q` (twice is enough)."""
    Z = Z - _mm(Q, _mm(Q.T, Z))
    Z = Z - _mm(Q, _mm(Q.T, Z))
    Z = jnp.linalg.qr(Z)[0]
    # Columns of a (numerically) rank-deficient block come back as noise: orthogonalise once more.
    return jnp.linalg.qr(Z - _mm(Q, _mm(Q.T, Z)))[0]


def _ritz(Q: Array, P: Array, T: Array, nreg) -> tuple[Array, Array]:
    r"""Rayleigh-Ritz for $K_Y S z/n = \lambda z$ on the span of `Q` in the $S$ inner product.

    With $W = SQ = Q - n\gamma P$ ($P = A^{-1}Q$) and $T = K_Y W/n$: solve
    $W^\top T c = \lambda\, Q^\top W c$, $c^\top Q^\top W c = 1$, dropping directions of
    (numerically) zero $S$-norm. Returns $\lambda$ (descending) and $C$.
    """
    W = Q - nreg * P
    G0 = _mm(Q.T, W)
    G1 = _mm(W.T, T)
    d, E = jnp.linalg.eigh(0.5 * (G0 + G0.T))
    keep = d > jnp.finfo(Q.dtype).eps * Q.shape[0] * d[-1]
    B = E * jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, d, 1.0)), 0.0)
    H = _mm(B.T, _mm(0.5 * (G1 + G1.T), B))
    lam, V = jnp.linalg.eigh(0.5 * (H + H.T))
    return lam[::-1], _mm(B, V[:, ::-1])


@eqx.filter_jit
def _krrr_krylov(kernel, X, Y, reg, rank, dt, block, depth, max_cycles, key):
    r"""Top-`rank` directions by (restarted) block Krylov iteration on $z \mapsto K_Y S z/n$,
    $S = K_X A^{-1} = I - n\gamma A^{-1}$, $A = K_X + n\gamma I$ (Cholesky, column panels).

    Each cycle builds $[V, TV, \dots, T^{q-1}V]$ (`depth` $= q$ blocks, one application of $T$
    per new block: a Cholesky solve and a product with $K_Y$), then Rayleigh-Ritz; the next cycle
    restarts from the top `block` Ritz vectors (their $A^{-1}V$ and $TV$ are reused, so a restart
    costs no application). Cycles stop when every top-`rank` Ritz pair has residual
    $\|Tz - \lambda z\| \le 10^3\epsilon\,\lambda_1$ ($z^\top S z = 1$), or after `max_cycles`.
    The directions are $u = A^{-1}z$, i.e. the kernel RRR problem $K_Y K_X u = n\sigma^2 A u$.
    """
    n = X.shape[0]
    K_Y = gram(kernel, Y, Y)
    K_YX = gram(kernel, Y, X)
    nreg = n * reg
    # K_X itself is never needed: K_X A^{-1} = S, so K_X U comes from S z below.
    cols = _chol_blocks(gram(kernel, X, X) + nreg * jnp.eye(n, dtype=X.dtype), max(512, -(-n // 16)))
    tol = 1e3 * jnp.finfo(X.dtype).eps

    def apply(Qb):
        Pb = _chol_solve_blocks(cols, Qb)
        return Pb, _mm(K_Y, Qb - nreg * Pb) / n

    def cycle(V, PV, TV):
        Qs, Ps, Ts = [V], [PV], [TV]
        for _ in range(depth - 1):
            Qb = _orth_against(jnp.concatenate(Qs, 1), Ts[-1])
            Pb, Tb = apply(Qb)
            Qs.append(Qb)
            Ps.append(Pb)
            Ts.append(Tb)
        Q, P, T = (jnp.concatenate(m, 1) for m in (Qs, Ps, Ts))
        lam, C = _ritz(Q, P, T, nreg)
        Cr = C[:, :rank]
        res = jnp.linalg.norm(_mm(T, Cr) - _mm(Q, Cr) * lam[:rank], axis=0)
        err = jnp.max(res) / jnp.maximum(lam[0], jnp.finfo(X.dtype).tiny)
        Cb = jnp.linalg.qr(C[:, :block])[0]  # restart block: span of the top Ritz vectors
        return (_mm(Q, Cb), _mm(P, Cb), _mm(T, Cb)), err, lam[:rank], _mm(P, Cr), _mm(Q, Cr)

    V = jnp.linalg.qr(jr.normal(key, (n, block), X.dtype))[0]
    state = (*cycle(V, *apply(V)), 1, jnp.inf)
    if max_cycles > 1:
        # Also stop when a cycle no longer halves the residual: rounding (an ill-conditioned
        # K_X + n reg I) can put the floor above `tol`.
        state = jax.lax.while_loop(
            lambda st: (st[1] > tol) & (st[5] < max_cycles) & (st[1] < 0.5 * st[6]),
            lambda st: (*cycle(*st[0]), st[5] + 1, st[1]),
            state,
        )
    _, _, s, PC, QC, _, _ = state
    # z = Q c sqrt(n s) has z^T S z = n s, the normalisation of the dense solver's A^{-1} F g;
    # A^{-1} z = P c sqrt(n s) and K_X A^{-1} z = S z = (Q - n reg P) c sqrt(n s).
    norm = jnp.sqrt(n * jnp.maximum(s, 0.0))
    return _krrr_finish(
        kernel, X, Y, None, K_YX, PC * norm, s, rank, reg, dt, (QC - nreg * PC) * norm
    )


@eqx.filter_jit
def _krrr_nystrom(kernel, X, Y, reg, rank, dt, m, key):
    # Landmarks drawn inside the jitted fit: one dispatch, no host round trip.
    centers = X[jr.choice(key, X.shape[0], (m,), replace=False)]
    n = X.shape[0]
    W = _inv_sqrt_psd(gram(kernel, centers, centers))
    # Features Psi = K_nm W, kept transposed (m, 2n) for X and Y together. They are well scaled
    # (|psi(x)|^2 <= k(x, x)) even where W is huge, so their moments are formed from them.
    PsiT = _mm(W, gram(kernel, centers, jnp.concatenate([X, Y], 0)))
    # The primal RRR (`_fit_primal`) needs only m x m moments: all n-length products in one pass,
    # the ridge solves by the normal equations of C = Psi_X^T Psi_X / n + reg I (reg > 0).
    G = _mm(PsiT[:, :n], jnp.concatenate([PsiT[:, :n], PsiT[:, n:], X.T], 0).T) / n
    C = 0.5 * (G[:, :m] + G[:, :m].T) + reg * jnp.eye(m, dtype=X.dtype)
    T, PX = G[:, m : 2 * m], G[:, 2 * m :]
    Ci = _inv_sqrt_psd(C)
    B = _mm(Ci, _mm(Ci, PX))  # ridge read-out of X on Psi_X
    if rank is None:
        K = _mm(Ci, _mm(Ci, T))
        return KoopmanEstimator(_KernelEmbedding(kernel, centers, W), K, _mm(K, B), B, dt)
    Z = _mm(Ci, T)
    _, H = jnp.linalg.eigh(_mm(Z, Z.T))
    V = _mm(Ci, H[:, ::-1][:, :rank])  # top-rank solutions of T T^T v = s^2 C v, V^T C V = I
    M = _mm(V.T, _mm(T, V))
    R = _mm(V.T, _mm(T, B))
    # ridge read-out of X on Psi_X V: (V^T Psi_X^T Psi_X V / n + reg I)^{-1} V^T Psi_X^T X / n
    G_V = _mm(V.T, _mm(C, V)) + reg * (jnp.eye(rank, dtype=X.dtype) - _mm(V.T, V))
    SB = jnp.linalg.solve(0.5 * (G_V + G_V.T), _mm(V.T, PX))
    # e(x) = V^T W k_m(x): the projection folded into the kernel coefficients
    return KoopmanEstimator(_KernelEmbedding(kernel, centers, _mm(W, V)), M, R, SB, dt)


def kernel_pcr(
    X: Float[ArrayLike, "n d"],
    Y: Float[ArrayLike, "n d"],
    kernel: Callable,
    rank: int = 25,
    reg: float = 0.0,
    dt: float = 1.0,
) -> KoopmanEstimator:
    r"""Kernel principal-component regression (kernel DMD; Williams, Rowley & Kevrekidis 2015).

    Projects onto the top-$r$ kernel principal components $K_X \approx V S V^\top$, i.e. the
    embedding $e(x) = S^{-1/2}V^\top k_X(x)$, and regresses $e(Y)$ on $e(X) = VS^{1/2}$:
    $M = (S + n\gamma I)^{-1} S^{1/2} V^\top K_{YX} V S^{-1/2}$.

    **Arguments:** as [`kernel_rrr`][jaxrep.koopman.kernel_rrr] (no Nyström); `reg` may be `0`.

    **Returns:** a [`KoopmanEstimator`][jaxrep.koopman.KoopmanEstimator].
    """
    X, Y = _pair(X, Y, "X", "Y")
    reg, dt = _check_reg(reg), _check_dt(dt)
    rank = _check_rank(rank, X.shape[0], "number of samples")
    return _kpcr(kernel, X, Y, reg, rank, dt)


@eqx.filter_jit
def _kpcr(kernel, X, Y, reg, rank, dt):
    K_X = gram(kernel, X, X)
    K_YX = gram(kernel, Y, X)
    s, V = jnp.linalg.eigh(K_X)
    s, V = s[::-1][:rank], V[:, ::-1][:, :rank]
    s = jnp.maximum(s, jnp.finfo(X.dtype).tiny)
    coef = V / jnp.sqrt(s)
    E_X = V * jnp.sqrt(s)
    E_Y = _mm(K_YX, coef)
    M = _ridge(E_X, E_Y, reg)
    R = _ridge(E_X, Y, reg)
    SB = _ridge(E_X, X, reg)
    return KoopmanEstimator(_KernelEmbedding(kernel, X, coef), M, R, SB, dt)
