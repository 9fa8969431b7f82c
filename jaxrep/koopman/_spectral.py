r"""Spectral analysis of Koopman estimators: eigen-decomposition and verified spectra (ResDMD).

For an eigenpair $(\lambda, g)$ of a finite-rank estimator with embedding $e$, the ResDMD residual
(Colbrook & Townsend 2024) measures how far $\varphi = e^\top g$ is from an eigenfunction of the true
Koopman operator on the data:
$$\operatorname{res}(\lambda, g)^2
  = \frac{g^H(L - \lambda A^H - \bar\lambda A + |\lambda|^2 G)\,g}{g^H G g}
  = \frac{\|\Psi_Y g - \lambda\Psi_X g\|^2}{\|\Psi_X g\|^2},$$
with $G = \Psi_X^H W\Psi_X$, $A = \Psi_X^H W\Psi_Y$, $L = \Psi_Y^H W\Psi_Y$ and quadrature weights
$W = I/n$. It is computed from the right-hand (norm) form, which has no cancellation. Eigenvalues of a
non-invariant dictionary that are artefacts of the projection ("spurious") have large residuals;
eigenpairs of an invariant subspace have residual zero. For a generator estimator the same is done with
$\dot\Psi$ (from $\dot x$) in place of $\Psi_Y$ and $\mu$ in place of $\lambda$.
"""

import equinox as eqx
import numpy as np
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Complex, Float

from ._estimators import (
    _pair,
    AbstractKoopmanEstimator,
    GeneratorEstimator,
    KoopmanEig,
)


def eig(est: AbstractKoopmanEstimator) -> KoopmanEig:
    r"""Eigenvalues (discrete $\lambda$ and continuous $\log\lambda/\Delta t$), eigenfunctions (a
    callable on new states) and Koopman modes of a fitted estimator.

    **Arguments:** `est`: any estimator from `edmd`, `generator_edmd`, `kernel_rrr`, `kernel_pcr`.

    **Returns:** a [`KoopmanEig`][jaxrep.koopman.KoopmanEig].
    """
    if not isinstance(est, AbstractKoopmanEstimator):
        raise TypeError(f"est must be a fitted Koopman estimator, got {type(est).__name__}")
    return est.eig()


def _embedded(est, X, Y):
    """$(\\Psi_X, \\Psi_Y)$ for a discrete estimator, $(\\Psi_X, \\dot\\Psi)$ for a generator."""
    Psi_X = jax.vmap(est.embed)(X)
    if isinstance(est, GeneratorEstimator):
        Psi_Y = jax.vmap(lambda x, v: jax.jvp(est.embed, (x,), (v,))[1])(X, Y)
    else:
        Psi_Y = jax.vmap(est.embed)(Y)
    return Psi_X, Psi_Y


def residuals(
    est: AbstractKoopmanEstimator,
    X: Float[ArrayLike, "n d"],
    Y: Float[ArrayLike, "n d"],
    ev: KoopmanEig | None = None,
) -> Float[Array, " r"]:
    r"""ResDMD residual of every eigenpair of `est` on the data $(X, Y)$ (see the module docstring).

    **Arguments:**

    - `est`: fitted estimator.
    - `X`, `Y`: states and successors `(n, d)` (for a generator estimator, `Y` is $\dot X$). Use
      held-out data for an unbiased check.
    - `ev`: the eigen-decomposition, if already computed (`eig(est)`); the residuals follow its order.

    **Returns:** `(r,)` residuals, one per eigenvalue of `ev` (relative: divided by
    $\|\Psi_X g\|$), in the same order.

    **References:** Colbrook & Townsend, "Rigorous data-driven computation of spectral properties of
    Koopman operators for dynamical systems", Comm. Pure Appl. Math. 77 (2024).
    """
    X, Y = _pair(X, Y, "X", "Y")
    ev = eig(est) if ev is None else ev
    lam = ev.continuous_eigenvalues if isinstance(est, GeneratorEstimator) else ev.eigenvalues
    return _residuals(est, X, Y, lam, ev.eigenvectors)


@eqx.filter_jit
def _residuals(est, X, Y, lam, Q):
    Psi_X, Psi_Y = _embedded(est, X, Y)
    PX = Psi_X.astype(Q.dtype) @ Q
    PY = Psi_Y.astype(Q.dtype) @ Q
    num = jnp.linalg.norm(PY - lam[None, :] * PX, axis=0)
    den = jnp.linalg.norm(PX, axis=0)
    return num / den


def pseudospectrum(
    est: AbstractKoopmanEstimator,
    X: Float[ArrayLike, "n d"],
    Y: Float[ArrayLike, "n d"],
    grid: Complex[ArrayLike, "..."],
) -> Float[Array, "..."]:
    r"""Smallest ResDMD residual at each point $z$ of a complex grid:
    $\tau(z) = \min_g \|(\Psi_Y - z\Psi_X)g\| / \|\Psi_X g\|$.

    The approximate $\varepsilon$-pseudospectrum is $\{z : \tau(z) < \varepsilon\}$
    (Colbrook & Townsend 2024, Algorithm 2). Computed by whitening with the thin SVD
    $\Psi_X = U\Sigma V^H$: $\tau(z) = \sigma_{\min}(\Psi_Y V\Sigma^{-1} - zU)$.

    **Arguments:** `est`; data `X`, `Y` `(n, d)`; `grid`: complex points of any shape (for a generator
    estimator these are continuous-time $z$ and `Y` is $\dot X$).

    **Returns:** $\tau$ with the shape of `grid`.
    """
    X, Y = _pair(X, Y, "X", "Y")
    grid = jnp.asarray(grid)
    C1, R2 = _whitened(est, X, Y)
    return _tau(C1, R2, grid)


@eqx.filter_jit
def _whitened_full(est, X, Y):
    Psi_X, Psi_Y = _embedded(est, X, Y)
    U, S, Vh = jnp.linalg.svd(Psi_X, full_matrices=False)
    return Psi_Y, U, S, Vh


def _whitened(est, X, Y):
    r"""Compress $\Psi_Y V\Sigma^{-1} - zU$ to $[C_1 - zI;\ R_2]$ in the orthonormal basis
    $[U, Q_2]$: a $2r\times r$ problem per grid point, no squared condition number."""
    Psi_Y, U, S, Vh = _whitened_full(est, X, Y)
    rank = int(jnp.sum(S > S[0] * jnp.finfo(S.dtype).eps * max(U.shape[0], Vh.shape[0])))
    U, S, Vh = U[:, :rank], S[:rank], Vh[:rank]
    B = (Psi_Y @ Vh.conj().T) / S
    C1 = U.conj().T @ B
    R2 = jnp.linalg.qr(B - U @ C1, mode="r")
    return C1, R2


@jax.jit
def _tau(C1, R2, grid):
    ctype = jnp.result_type(C1.dtype, jnp.complex64)
    eye = jnp.eye(C1.shape[0], dtype=ctype)
    low = R2.astype(ctype)

    def tau(z):
        m = jnp.concatenate([C1.astype(ctype) - z * eye, low], axis=0)
        return jnp.linalg.svd(m, compute_uv=False)[-1]

    flat = grid.reshape(-1).astype(ctype)
    return jax.vmap(tau)(flat).reshape(grid.shape)


def eigenvalue_error(
    estimated: Complex[ArrayLike, " m"],
    exact: Complex[ArrayLike, " r"],
    *,
    relative: bool = True,
    reduction: str = "max",
) -> Float[Array, ""] | Float[Array, " r"]:
    r"""Error of estimated eigenvalues against exact ones, matched by an optimal assignment.

    Each exact eigenvalue $\lambda_j$ is paired with a distinct estimate $\hat\lambda_{\pi(j)}$, the
    pairing $\pi$ minimising $\sum_j e_j$ with $e_j = |\hat\lambda_{\pi(j)} - \lambda_j|$ (absolute) or
    $e_j = |\hat\lambda_{\pi(j)} - \lambda_j| / |\lambda_j|$ (`relative=True`, the default) — a
    linear assignment problem solved exactly (`scipy.optimize.linear_sum_assignment`, Hungarian
    algorithm). The matching is therefore independent of the order of either input (sorting by real
    part would mis-pair complex conjugates and near-ties), and surplus estimates ($m > r$, e.g. a
    larger latent or dictionary than the number of known eigenvalues) are left unmatched: the metric
    asks "is every exact eigenvalue found?". Relative errors put a slow eigenvalue ($-0.05$) and a fast
    one ($-1$) on the same footing; use `relative=False` where an exact eigenvalue is $0$.

    Compare like with like: continuous-time $\mu$ with continuous-time, or discrete $\lambda$ with
    discrete.

    **Arguments:**

    - `estimated` `(m,)`: estimated eigenvalues (real or complex), $m \ge r$.
    - `exact` `(r,)`: exact eigenvalues.
    - `relative`: divide each error by $|\lambda_j|$ (requires every $\lambda_j \ne 0$).
    - `reduction`: `"max"` (worst matched error, default), `"mean"`, or `"none"` (the `(r,)` errors
      in the order of `exact`).

    **Returns:** a scalar (or `(r,)` for `reduction="none"`).
    """
    from scipy.optimize import linear_sum_assignment

    est = np.asarray(estimated).astype(complex)
    ex = np.asarray(exact).astype(complex)
    if est.ndim != 1 or est.size == 0:
        raise ValueError(f"estimated must be a non-empty 1-D array of eigenvalues, got shape {est.shape}")
    if ex.ndim != 1 or ex.size == 0:
        raise ValueError(f"exact must be a non-empty 1-D array of eigenvalues, got shape {ex.shape}")
    if not (np.all(np.isfinite(est)) and np.all(np.isfinite(ex))):
        raise ValueError("estimated and exact must be finite")
    if est.size < ex.size:
        raise ValueError(f"estimated has {est.size} eigenvalues, fewer than the {ex.size} of exact")
    if reduction not in ("max", "mean", "none"):
        raise ValueError(f"reduction must be 'max', 'mean' or 'none', got {reduction!r}")
    cost = np.abs(ex[:, None] - est[None, :])
    if relative:
        if np.any(ex == 0):
            raise ValueError("exact has a zero eigenvalue: relative error is undefined, use relative=False")
        cost = cost / np.abs(ex)[:, None]
    rows, cols = linear_sum_assignment(cost)
    err = np.empty(ex.size)
    err[rows] = cost[rows, cols]
    if reduction == "max":
        return jnp.asarray(err.max())
    if reduction == "mean":
        return jnp.asarray(err.mean())
    return jnp.asarray(err)
