r"""Viscous Burgers on $[-1,1]$: the Cole-Hopf solution by Gauss-Hermite quadrature.

For $u_t + u u_x = \nu u_{xx}$, $u(x, 0) = -\sin(\pi x)$, $u(\pm1, t) = 0$, the Cole-Hopf
transform $u = -2\nu\,\partial_x\log\phi$ turns the equation into the heat equation
$\phi_t = \nu\phi_{xx}$, whose solution on the line (the odd, 2-periodic initial datum makes
$u(\pm 1, t) = 0$ automatic) gives (Basdevant et al. 1986, eq. (4.1))

$$u(x,t) = -\frac{\int_{\mathbb R} \sin\big(\pi(x-\eta)\big)\, f(x-\eta)\,
  e^{-\eta^2/(4\nu t)}\,d\eta}{\int_{\mathbb R} f(x-\eta)\, e^{-\eta^2/(4\nu t)}\,d\eta},
  \qquad f(y) = \exp\Big(-\frac{\cos(\pi y)}{2\pi\nu}\Big).$$

With $\eta = \sqrt{4\nu t}\,z$ both integrals are $\int g(z) e^{-z^2} dz$, evaluated by an
$n$-point Gauss-Hermite rule. The exponent $-\cos/(2\pi\nu)$ reaches $\pm 50$ for the standard
$\nu = 0.01/\pi$, so the sums are formed as a log-sum-exp (shifted by their largest term). Near the
shock ($x\approx 0$, $t\to 1$) the integrand peaks at $|z|\approx 6$ - $7$, far in the Hermite tails,
hence the large default $n$.

References: C. Basdevant, M. Deville, P. Haldenwang, J. M. Lacroix, J. Ouazzani, R. Peyret,
P. Orlandi, A. T. Patera, *Spectral and finite difference solutions of the Burgers equation*,
Computers & Fluids 14 (1986) 23-41.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validate import check_positive

#: Standard viscosity of the PINN Burgers benchmark (Raissi et al. 2019), $\nu = 0.01/\pi$.
BURGERS_NU = 0.01 / math.pi
#: Spatial domain and time window of the benchmark.
BURGERS_X_DOMAIN = (-1.0, 1.0)
BURGERS_T_DOMAIN = (0.0, 1.0)
#: Default Gauss-Hermite order: converged to ~1e-13 on the benchmark window (see the tests); on the
#: PINN evaluation grid (256 x 102) it agrees with order 1024 to 1.5e-15 relative (max norm).
BURGERS_N_QUADRATURE = 256


def _hermgauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    # scipy switches to asymptotic formulas for large n, where numpy's recurrence overflows.
    import scipy.special  # imported when first used: `import jaxrep` stays light

    z, w = scipy.special.roots_hermite(n)
    with np.errstate(divide="ignore"):
        return z, np.log(w)  # underflowed weights give -inf: they contribute exactly nothing


def burgers_cole_hopf(
    x: Float[ArrayLike, ""],
    t: Float[ArrayLike, ""],
    nu: float = BURGERS_NU,
    *,
    n_quadrature: int = BURGERS_N_QUADRATURE,
) -> Float[Array, ""]:
    r"""Exact solution of $u_t + u u_x = \nu u_{xx}$, $u(x,0) = -\sin\pi x$, $u(\pm1,t) = 0$.

    Cole-Hopf formula evaluated by `n_quadrature`-point Gauss-Hermite quadrature (see the module
    docstring). Pure and scalar: jit, vmap and grad work (derivatives are those of the quadrature
    formula, accurate to the same order). At $t = 0$ it returns $-\sin(\pi x)$ exactly.

    **Arguments:**

    - `x`: scalar position (the formula is 2-periodic and odd; the problem lives on $[-1, 1]$).
    - `t`: scalar time $\ge 0$.
    - `nu`: viscosity $\nu > 0$ (default $0.01/\pi$).
    - `n_quadrature`: Gauss-Hermite order (static).

    **Returns:** the scalar $u(x, t)$.

    **References:** Basdevant et al. (1986).
    """
    check_positive(nu, "nu")
    if not isinstance(n_quadrature, int) or n_quadrature < 2:
        raise ValueError(f"n_quadrature must be an int >= 2, got {n_quadrature!r}")
    if jnp.shape(x) != () or jnp.shape(t) != ():
        raise ValueError(f"burgers_cole_hopf expects scalar x and t, got shapes {jnp.shape(x)} "
                         f"and {jnp.shape(t)} (for batches use jax.vmap)")
    x = jnp.asarray(x, dtype=jnp.result_type(float, x))
    t = jnp.asarray(t, dtype=x.dtype)
    z, log_w = (jnp.asarray(a, dtype=x.dtype) for a in _hermgauss(n_quadrature))
    y = x - jnp.sqrt(4 * nu * jnp.maximum(t, 0.0)) * z
    log_terms = log_w - jnp.cos(jnp.pi * y) / (2 * jnp.pi * nu)
    weights = jnp.exp(log_terms - jnp.max(log_terms))
    return -jnp.sum(weights * jnp.sin(jnp.pi * y)) / jnp.sum(weights)


class ColeHopfBurgers(eqx.Module):
    r"""[`burgers_cole_hopf`][] as a reference object with the `(x: (1,), t: ()) -> (1,)` interface.

    One point per call; batch with `jax.vmap`. Fields: `nu` (viscosity) and `n_quadrature`.
    """

    nu: float = eqx.field(static=True, default=BURGERS_NU)
    n_quadrature: int = eqx.field(static=True, default=BURGERS_N_QUADRATURE)

    def __check_init__(self):
        check_positive(self.nu, "nu")
        if not isinstance(self.n_quadrature, int) or self.n_quadrature < 2:
            raise ValueError(f"n_quadrature must be an int >= 2, got {self.n_quadrature!r}")

    def __call__(self, x: Float[ArrayLike, " 1"], t: Float[ArrayLike, ""]) -> Float[Array, " 1"]:
        if jnp.shape(x) != (1,):
            raise ValueError(f"ColeHopfBurgers expects x of shape (1,), got {jnp.shape(x)} "
                             "(for batches use jax.vmap)")
        return burgers_cole_hopf(x[0], t, self.nu, n_quadrature=self.n_quadrature)[None]
