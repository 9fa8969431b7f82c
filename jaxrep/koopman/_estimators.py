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
import math
from typing import Callable, Optional

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
        A = jnp.concatenate([A, math.sqrt(n * reg) * jnp.eye(p, dtype=A.dtype)], 0)
        B = jnp.concatenate([B, jnp.zeros((p, B.shape[1]), B.dtype)], 0)
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


def _default_key(key):
    return jr.PRNGKey(0) if key is None else key


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
    n_iter: int = 8,
    oversample: int = 10,
    key: Optional[PRNGKeyArray] = None,
) -> KoopmanEstimator:
    r"""Kernel reduced-rank regression (Kostic et al., NeurIPS 2022), the kooplearn estimator.

    In the RKHS of `kernel`, the best rank-$r$ operator for the ridge objective is
    $G = \Phi_X^\top U U^\top K_X \Phi_Y/n$. With a factor $K_Y = FF^\top$ the directions come from
    the symmetric $n\times n$ problem
    $$F^\top K_X (K_X + n\gamma I)^{-1} F\, g = n\sigma^2 g, \qquad
      u = (K_X + n\gamma I)^{-1} F g / \sigma,$$
    which is the kernelisation of $TT^\top v = \sigma^2 C v$ (so $U$ is normalised,
    $V^\top C V = I$). The fitted object has embedding $e(x) = U^\top k_X(x)$,
    $M = U^\top K_X K_{YX} U/n$ and one-step read-out $R = U^\top K_X Y/n$. Cost $O(n^3)$.

    `nystrom=m` instead uses $m$ landmarks $c_j$ drawn from $X$ (`key`): the features
    $\tilde\phi(x) = K_{mm}^{-1/2} k_m(x)$ make it a primal $m$-dimensional RRR, cost
    $O(nm^2 + m^3)$ (Meanti et al., "Estimating Koopman operators with sketching to provably learn
    large scale dynamical systems", NeurIPS 2023).

    **Arguments:**

    - `X`, `Y`: states and successors `(n, d)`.
    - `kernel`: `k(x, y)` on two states -> scalar (e.g. `GaussianKernel(length_scale)`).
    - `rank`: $r$ ($\le n$, or $\le m$ with Nyström).
    - `reg`: Tikhonov $\gamma > 0$.
    - `nystrom`: number of landmarks $m$, or `None` for the exact estimator.
    - `dt`: time step between $x_i$ and $y_i$.
    - `randomized`: find the top-$r$ directions by randomized subspace iteration (Halko et al. 2011)
      on the operator $g \mapsto F^\top K_X (K_X+n\gamma I)^{-1} F g$, never forming it: two
      Cholesky factorisations ($K_X + n\gamma I$ and $K_Y + \delta I$, $\delta = 10^3 n\epsilon
      \max K_Y$) plus $O(n^2 r)$ per iteration, instead of two dense $n\times n$ eigendecompositions.
    - `n_iter`, `oversample`: subspace iterations and extra columns of the randomized solver.
    - `key`: PRNG key for the landmarks / the random start (keyword-only; default `PRNGKey(0)`).

    **Returns:** a [`KoopmanEstimator`][jaxrep.koopman.KoopmanEstimator].
    """
    X, Y = _pair(X, Y, "X", "Y")
    reg, dt = _check_reg(reg), _check_dt(dt)
    if reg == 0:
        raise ValueError("kernel_rrr needs reg > 0 (Tikhonov regularisation), got 0")
    n = X.shape[0]
    if nystrom is None:
        rank = _check_rank(rank, n, "number of samples")
        if randomized:
            if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
                raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
            k = min(n, rank + max(0, int(oversample)))
            return _krrr_randomized(kernel, X, Y, reg, rank, dt, n_iter, k, _default_key(key))
        return _krrr_exact(kernel, X, Y, reg, rank, dt)
    if isinstance(nystrom, bool) or not isinstance(nystrom, int) or not 1 <= nystrom <= n:
        raise ValueError(f"nystrom must be None or an integer in [1, n_samples={n}], got {nystrom!r}")
    rank = _check_rank(rank, nystrom, "number of Nyström landmarks")
    idx = jr.choice(_default_key(key), n, (nystrom,), replace=False)
    return _krrr_nystrom(kernel, X, Y, X[idx], reg, rank, dt)


@eqx.filter_jit
def _krrr_exact(kernel, X, Y, reg, rank, dt):
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


def _krrr_finish(kernel, X, Y, K_X, K_YX, AinvFG, s, rank, reg, dt):
    n = X.shape[0]
    # Directions with sigma^2 ~ 0 carry no signal (rank above the numerical rank): drop them.
    ok = s > jnp.finfo(X.dtype).eps * n * jnp.maximum(s[0], 0.0)
    U = AinvFG * jnp.where(ok, 1.0 / jnp.sqrt(jnp.where(ok, s, 1.0)), 0.0)
    KU = _mm(K_X, U)
    M = _mm(KU.T, _mm(K_YX, U)) / n
    R = _mm(KU.T, Y) / n
    SB = _ridge(KU, X, reg)
    return KoopmanEstimator(_KernelEmbedding(kernel, X, U), M, R, SB, dt)


@eqx.filter_jit
def _krrr_randomized(kernel, X, Y, reg, rank, dt, n_iter, k, key):
    n = X.shape[0]
    K_X = gram(kernel, X, X)
    K_Y = gram(kernel, Y, Y)
    K_YX = gram(kernel, Y, X)
    eye = jnp.eye(n, dtype=X.dtype)
    delta = 1e3 * n * jnp.finfo(X.dtype).eps * jnp.max(jnp.diag(K_Y))
    F = jnp.linalg.cholesky(K_Y + delta * eye)  # K_Y ~ F F^T
    cho = jax.scipy.linalg.cho_factor(K_X + n * reg * eye)

    def apply_n(W):
        return _mm(F.T, _mm(K_X, jax.scipy.linalg.cho_solve(cho, _mm(F, W)))) / n

    Q = jnp.linalg.qr(apply_n(jr.normal(key, (n, k), X.dtype)))[0]
    Q = jax.lax.fori_loop(0, n_iter, lambda _, q: jnp.linalg.qr(apply_n(q))[0], Q)
    T = _mm(Q.T, apply_n(Q))
    s, Gs = jnp.linalg.eigh(0.5 * (T + T.T))
    s, Gs = s[::-1][:rank], Gs[:, ::-1][:, :rank]
    AinvFG = jax.scipy.linalg.cho_solve(cho, _mm(F, _mm(Q, Gs)))
    return _krrr_finish(kernel, X, Y, K_X, K_YX, AinvFG, s, rank, reg, dt)


@eqx.filter_jit
def _krrr_nystrom(kernel, X, Y, centers, reg, rank, dt):
    K_mm = gram(kernel, centers, centers)
    W = _inv_sqrt_psd(K_mm)
    Psi_X = _mm(gram(kernel, X, centers), W)
    Psi_Y = _mm(gram(kernel, Y, centers), W)
    est = _fit_primal(_KernelEmbedding(kernel, centers, W), Psi_X, Psi_Y, X, reg, rank, dt)
    # Fold the projection into the kernel coefficients: e(x) = (W V)^T k_m(x).
    emb = est.embed
    if not isinstance(emb, _Projected):
        return est
    return eqx.tree_at(
        lambda e: e.embed, est, _KernelEmbedding(kernel, centers, _mm(W, emb.proj))
    )


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
