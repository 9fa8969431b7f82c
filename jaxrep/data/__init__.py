"""Data: dynamical systems (ODE/SDE trajectories), 2-D toy distributions, images for INR.

Each family adds its re-exports in its own block below.
"""

# --- dynamical systems (Koopman family) ---
from ._systems import AbstractSDESystem as AbstractSDESystem
from ._systems import AbstractSystem as AbstractSystem
from ._systems import AbstractControlSystem as AbstractControlSystem
from ._systems import BilinearSystem as BilinearSystem
from ._systems import ControlledLinearSystem as ControlledLinearSystem
from ._systems import controlled_snapshot_pairs as controlled_snapshot_pairs
from ._systems import controlled_step as controlled_step
from ._systems import controlled_trajectory as controlled_trajectory
from ._systems import ControlledSlowManifold as ControlledSlowManifold
from ._systems import Duffing as Duffing
from ._systems import ForcedDuffing as ForcedDuffing
from ._systems import ForcedVanDerPol as ForcedVanDerPol
from ._systems import LinearSystem as LinearSystem
from ._systems import Lorenz63 as Lorenz63
from ._systems import OrnsteinUhlenbeck as OrnsteinUhlenbeck
from ._systems import Pendulum as Pendulum
from ._systems import sde_snapshot_pairs as sde_snapshot_pairs
from ._systems import sde_trajectory as sde_trajectory
from ._systems import SlowManifold as SlowManifold
from ._systems import snapshot_pairs as snapshot_pairs
from ._systems import trajectory as trajectory
from ._systems import VanDerPol as VanDerPol

# --- datasets with known spectra (Koopman family) ---
from ._known_spectra import KnownSpectrum as KnownSpectrum
from ._known_spectra import logistic_map_matrix as logistic_map_matrix
from ._known_spectra import noisy_logistic_map as noisy_logistic_map
from ._known_spectra import ornstein_uhlenbeck as ornstein_uhlenbeck
from ._known_spectra import slow_manifold as slow_manifold
from ._known_spectra import slow_manifold_spectrum as slow_manifold_spectrum

# --- 2-D toy distributions (interpolants family) ---
from ._toy2d import TOY_DISTRIBUTIONS as TOY_DISTRIBUTIONS
from ._toy2d import AbstractToyDistribution as AbstractToyDistribution
from ._toy2d import Checkerboard as Checkerboard
from ._toy2d import EightGaussians as EightGaussians
from ._toy2d import Gaussian as Gaussian
from ._toy2d import Moons as Moons
from ._toy2d import Rings as Rings
from ._toy2d import Spirals as Spirals
from ._toy2d import toy2d as toy2d

# --- images (KAN / INR family) ---
from ._images import image_coordinates as image_coordinates
from ._images import load_image as load_image
from ._images import psnr as psnr
from ._images import ssim as ssim
from ._images import test_pattern as test_pattern
