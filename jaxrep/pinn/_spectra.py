r"""Verified spectra of learned PIKE/SPIKE generators (ResDMD on the model's own observables).

A PIKE/SPIKE model claims $\frac{d}{dt}z(x, t) = A\,z(x, t)$ along the solution. Seen as a Koopman
generator estimator on the state $s = (x, t)$, whose flow is $\dot s = (0, 1)$, with dictionary
$e(s) = z(x, t)$ and generator $L = A^\top$ ($\frac{d}{dt}e^\top = e^\top L$), each eigenpair
$(\mu, q)$ of $L$ gives a candidate eigenfunction $\varphi = e^\top q$ ($q$ a left eigenvector of
$A$), and its ResDMD residual
$$\operatorname{res}(\mu, q) = \frac{\|\partial_t\Psi\,q - \mu\,\Psi q\|}{\|\Psi q\|},\qquad
\Psi_{i\cdot} = z(x_i, t_i)^\top,$$
measures on the points $(x_i, t_i)$ how far $\varphi$ is from evolving as $e^{\mu t}$: small for an
eigenpair the network actually realises, large for a spurious one (`jaxrep.koopman.residuals`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..koopman import GeneratorEstimator, eig, residuals
from ..pde._problem import AbstractProblem


def koopman_estimator(model, problem: AbstractProblem) -> GeneratorEstimator:
    r"""The learned generator of a PIKE/SPIKE `model` as a `jaxrep.koopman.GeneratorEstimator` on the
    state $s = (x, t)$ (`embed(s) = model.z(x, t)`, generator $A^\top$; the state read-out is zero,
    as $s$ is not a function of $z$, so its modes carry no information). `dt = 1`."""
    if not getattr(model, "has_koopman", False):
        raise ValueError("koopman_estimator needs a PIKE or SPIKE model (with a Koopman generator)")
    d = problem.spatial_dim
    A = model.A()

    def embed(s):
        return model.z(s[:d], s[d])

    return GeneratorEstimator(embed, A.T, jnp.zeros((A.shape[0], d + 1), A.dtype), 1.0)


def generator_residuals(model, problem: AbstractProblem, xs: Float[Array, "n d"], ts: Float[Array, " n"]):
    r"""ResDMD residuals of the learned generator's eigenpairs at the points $(x_i, t_i)$.

    **Returns:** `(mu (r,), residual (r,))`: the continuous-time eigenvalues of $A$ (largest real
    part first) and the residual of each (see the module docstring).
    """
    est = koopman_estimator(model, problem)
    xs, ts = jnp.asarray(xs), jnp.asarray(ts)
    if xs.ndim != 2 or xs.shape[1] != problem.spatial_dim or ts.shape != (xs.shape[0],):
        raise ValueError(f"xs must be (n, {problem.spatial_dim}) and ts (n,), got {xs.shape} and {ts.shape}")
    S = jnp.concatenate([xs, ts[:, None].astype(xs.dtype)], axis=1)
    S_dot = jnp.zeros_like(S).at[:, -1].set(1.0)  # the flow of s = (x, t): x fixed, t advancing
    ev = eig(est)
    return ev.continuous_eigenvalues, residuals(est, S, S_dot, ev)


def residual_metrics(model, problem: AbstractProblem, xs: np.ndarray, ts: np.ndarray,
                     threshold: float = 0.1) -> dict:
    """`A_resdmd_residuals` (per eigenpair, eigenvalue order) and `A_resdmd_fraction_below` (the
    fraction with residual below `threshold`) on the tensor grid `ts x xs`."""
    n_t, n_x = len(ts), len(xs)
    X = np.broadcast_to(np.asarray(xs)[None], (n_t,) + np.shape(xs)).reshape(n_t * n_x, -1)
    T = np.broadcast_to(np.asarray(ts)[:, None], (n_t, n_x)).reshape(-1)
    _, res = generator_residuals(model, problem, X, T)
    res = np.asarray(res, float)
    return {"A_resdmd_residuals": [float(r) for r in res],
            "A_resdmd_fraction_below": float(np.mean(res < threshold))}
