"""Data: dynamical systems (ODE/SDE trajectories), 2-D toy distributions, images for INR.

Each family adds its re-exports in its own block below.
"""

# --- dynamical systems (Koopman family) ---

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
