"""Physics-informed networks: problem suite with reference solutions, PINN / PIKE / SPIKE solvers."""
