"""PDE and ODE problems with reference solutions: a benchmark suite any solver can use.

```python
import jaxrep as jrp

prob = jrp.pde.problems.get("allen_cahn")        # jrp.pde.problems.names(): 16 problems
u = prob.reference(x, t)                          # reference solution, x (d,), t () -> (n_out,)
r = prob.residual(u_fn, x, t)                     # the PDE residual of any solution function
ref = jrp.pde.allen_cahn_reference()              # the ETDRK4 solve behind it (GridReference)
```

- `AbstractProblem` (+ `Dirichlet`, `Neumann`, `Periodic`, `NoBoundary`): the problem spec (domain,
  boundary conditions, initial condition, time windows, an optional spatial `train_box`); residuals are
  pure functions of a solution function `u(x, t)`, differentiated with `dt`, `dx`, `dx_upto`,
  `laplacian`, ... (nested forward-mode passes, so they compose with `jit`, `vmap` and `grad`);
- references: closed forms, `burgers_cole_hopf` (Gauss-Hermite quadrature), `ode_reference`
  (diffrax), and pseudo-spectral ETDRK4 solves (`etdrk4`, `SpectralGrid`, `spectral_reference`; the
  named benchmarks are records of `SPECTRAL_SETUPS`, solved by `named_spectral_reference` or the named
  `*_reference` functions), stored as `GridReference` / `ODEReference` (Hermite interpolation in
  time, spectral in space) and cached on disk.

`jaxrep.pinn` solves these problems (PINN / PIKE / SPIKE) and re-exports every name here, so
`jaxrep.pinn.problems` and `jaxrep.pinn.dx` keep working.
"""

from . import problems as problems
from ._derivatives import bilaplacian as bilaplacian
from ._derivatives import dt as dt
from ._derivatives import dx as dx
from ._derivatives import dx_upto as dx_upto
from ._derivatives import grad_x as grad_x
from ._derivatives import laplacian as laplacian
from ._derivatives import value_and_dt as value_and_dt
from ._problem import AbstractBoundary as AbstractBoundary
from ._problem import AbstractProblem as AbstractProblem
from ._problem import Dirichlet as Dirichlet
from ._problem import Neumann as Neumann
from ._problem import NoBoundary as NoBoundary
from ._problem import Periodic as Periodic
from ._cole_hopf import ColeHopfBurgers as ColeHopfBurgers
from ._cole_hopf import burgers_cole_hopf as burgers_cole_hopf
from ._ode_reference import ode_reference as ode_reference
from ._reference import GridReference as GridReference
from ._reference import ODEReference as ODEReference
from ._named_spectral import SPECTRAL_SETUPS as SPECTRAL_SETUPS
from ._named_spectral import SpectralSetup as SpectralSetup
from ._named_spectral import allen_cahn_reference as allen_cahn_reference
from ._named_spectral import burgers2d_reference as burgers2d_reference
from ._named_spectral import cahn_hilliard_reference as cahn_hilliard_reference
from ._named_spectral import fisher_kpp_reference as fisher_kpp_reference
from ._named_spectral import kuramoto_sivashinsky_reference as kuramoto_sivashinsky_reference
from ._named_spectral import named_spectral_reference as named_spectral_reference
from ._named_spectral import schrodinger_reference as schrodinger_reference
from ._spectral import SpectralGrid as SpectralGrid
from ._spectral import etdrk4 as etdrk4
from ._spectral import etdrk4_coefficients as etdrk4_coefficients
from ._spectral import etdrk4_step as etdrk4_step
from ._spectral import spectral_reference as spectral_reference
from ._spectral import spectral_solve as spectral_solve
