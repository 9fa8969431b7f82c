"""Physics-informed networks: problem suite with reference solutions, PINN / PIKE / SPIKE solvers.

```python
import jax.random as jr
import jaxrep as jrp

prob = jrp.pinn.problems.get("burgers")                  # jrp.pinn.problems.names(): 16 problems
sol = jrp.pinn.solve(prob, "spike", jrp.pinn.SolveConfig(), key=jr.PRNGKey(0))
sol.metrics["rel_l2_extrapolation_koopman"]              # scored against the reference
u = sol.predict(x, t, mode="koopman")                    # x (n, d), t (n,) -> (n, n_out)
```

- `AbstractProblem` (+ `Dirichlet`, `Neumann`, `Periodic`, `NoBoundary`): the problem spec; residuals
  are pure functions of the solution function, differentiated with `dt`, `dx`, `laplacian`, ...;
  time windows for temporal extrapolation and an optional `train_box` for spatial extrapolation;
- `solve` / `PINNSolution`: training through `jaxrep.train.fit` (optimiser phases, e.g. Adam then
  L-BFGS) with resampled collocation points; `ConstraintConfig` (initial and boundary conditions built
  into the network), `CausalConfig` (causal weighting of the residual);
- `koopman_generator_loss`, `koopman_expm_loss` (both at once: `koopman_losses`), `l1_penalty`: the
  PIKE/SPIKE regularisers;
- `relative_l2`, `sparsity`, `valid_prediction_time`, PDEBench-style `nrmse`, `frmse`, `boundary_rmse`,
  `max_abs_error`: the reported metrics; `persistence` / `damped_persistence`: the trivial forecasts
  every extrapolation is held against.
"""

from . import problems as problems
from ..pde._derivatives import bilaplacian as bilaplacian
from ..pde._derivatives import dt as dt
from ..pde._derivatives import dx as dx
from ..pde._derivatives import dx_upto as dx_upto
from ..pde._derivatives import grad_x as grad_x
from ..pde._derivatives import laplacian as laplacian
from ..pde._derivatives import value_and_dt as value_and_dt
from ..pde._problem import AbstractBoundary as AbstractBoundary
from ..pde._problem import AbstractProblem as AbstractProblem
from ..pde._problem import Dirichlet as Dirichlet
from ..pde._problem import Neumann as Neumann
from ..pde._problem import NoBoundary as NoBoundary
from ..pde._problem import Periodic as Periodic
from ._config import BalanceConfig as BalanceConfig
from ._config import CausalConfig as CausalConfig
from ._config import ConstraintConfig as ConstraintConfig
from ._config import EvalConfig as EvalConfig
from ._config import KoopmanConfig as KoopmanConfig
from ._config import LossWeights as LossWeights
from ._config import MarchingConfig as MarchingConfig
from ._config import RADConfig as RADConfig
from ._config import SamplingConfig as SamplingConfig
from ._config import SolveConfig as SolveConfig
from ._koopman_loss import generator_residual as generator_residual
from ._koopman_loss import koopman_expm_loss as koopman_expm_loss
from ._koopman_loss import koopman_generator_loss as koopman_generator_loss
from ._koopman_loss import koopman_losses as koopman_losses
from ._koopman_loss import l1_penalty as l1_penalty
from ._losses import balanced_loss as balanced_loss
from ._losses import causal_residual as causal_residual
from ._losses import make_loss_fn as make_loss_fn
from ._losses import rad_fixed_points as rad_fixed_points
from ._losses import rad_loss as rad_loss
from ._losses import rad_select as rad_select
from ._losses import rad_state as rad_state
from ._constraints import HardConstraint as HardConstraint
from ._baselines import baseline_metrics as baseline_metrics
from ._baselines import damped_persistence as damped_persistence
from ._baselines import fit_damping as fit_damping
from ._baselines import persistence as persistence
from ._metrics import boundary_rmse as boundary_rmse
from ._metrics import frmse as frmse
from ._metrics import max_abs_error as max_abs_error
from ._metrics import nrmse as nrmse
from ._metrics import standard_metrics as standard_metrics
from ._metrics import relative_l2 as relative_l2
from ._metrics import sparsity as sparsity
from ._metrics import valid_prediction_time as valid_prediction_time
from ._model import Observable as Observable
from ._model import PINNField as PINNField
from ._model import PINNModel as PINNModel
from ._sampling import make_sampler as make_sampler
from ._marching import MarchedModel as MarchedModel
from ._marching import window_problem as window_problem
from ._spectra import generator_residuals as generator_residuals
from ._spectra import koopman_estimator as koopman_estimator
from ._solve import PINNSolution as PINNSolution
from ._solve import default_phases as default_phases
from ._solve import evaluate as evaluate
from ._solve import method_names as method_names
from ._solve import solve as solve
from ..pde._cole_hopf import ColeHopfBurgers as ColeHopfBurgers
from ..pde._cole_hopf import burgers_cole_hopf as burgers_cole_hopf
from ..pde._ode_reference import ode_reference as ode_reference
from ..pde._reference import GridReference as GridReference
from ..pde._reference import ODEReference as ODEReference
from ..pde._named_spectral import SPECTRAL_SETUPS as SPECTRAL_SETUPS
from ..pde._named_spectral import SpectralSetup as SpectralSetup
from ..pde._named_spectral import named_spectral_reference as named_spectral_reference
from ..pde._spectral import SpectralGrid as SpectralGrid
from ..pde._named_spectral import allen_cahn_reference as allen_cahn_reference
from ..pde._named_spectral import burgers2d_reference as burgers2d_reference
from ..pde._named_spectral import cahn_hilliard_reference as cahn_hilliard_reference
from ..pde._spectral import etdrk4 as etdrk4
from ..pde._spectral import etdrk4_coefficients as etdrk4_coefficients
from ..pde._spectral import etdrk4_step as etdrk4_step
from ..pde._named_spectral import fisher_kpp_reference as fisher_kpp_reference
from ..pde._named_spectral import kuramoto_sivashinsky_reference as kuramoto_sivashinsky_reference
from ..pde._named_spectral import schrodinger_reference as schrodinger_reference
from ..pde._spectral import spectral_reference as spectral_reference
from ..pde._spectral import spectral_solve as spectral_solve
