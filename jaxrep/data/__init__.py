"""Data: dynamical systems (ODE/SDE trajectories), 2-D toy distributions, images for INR.

Each family adds its re-exports in its own block below.
"""

# --- dynamical systems (Koopman family) ---

# --- 2-D toy distributions (interpolants family) ---

# --- images (KAN / INR family) ---
