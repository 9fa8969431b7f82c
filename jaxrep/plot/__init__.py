"""The figures users want: loss curves, solutions and errors, spectra, KAN activations, samples.

Every function returns a `matplotlib.figure.Figure` (the Agg backend is used when none is set), so it
works in scripts, on headless machines and in notebooks. Each family adds its re-exports in its own block.
"""

from ._train import loss_curve as loss_curve
from ._train import save as save

# --- function fits (regression, KAN fits) ---
from ._fits import fit_residuals as fit_residuals
from ._fits import function_fit as function_fit
from ._fits import grid_extension as grid_extension

# --- KAN family ---
from ._kan import image_reconstruction as image_reconstruction
from ._kan import kan as kan

# --- Koopman family ---
from ._koopman import koopman_eigenfunctions as koopman_eigenfunctions
from ._koopman import koopman_forecast as koopman_forecast
from ._koopman import koopman_spectrum as koopman_spectrum

# --- PDE family ---
from ._pinn import generator_structure as generator_structure
from ._pinn import pinn_error_vs_time as pinn_error_vs_time
from ._pinn import pinn_solution as pinn_solution

# --- interpolants family ---
from ._interpolants import correspondence as correspondence
from ._interpolants import density as density
from ._interpolants import image_samples as image_samples
from ._interpolants import samples as samples
from ._interpolants import trajectories as trajectories
