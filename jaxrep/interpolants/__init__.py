"""Stochastic interpolants: paths, velocity/score losses, ODE/SDE samplers, likelihoods, multimarginal."""
