"""Koopman operators: continuous-time generators with matrix-exponential rollout, closed-form
estimators (EDMD, generator EDMD, kernel reduced-rank regression), verified spectra (ResDMD) and deep
Koopman autoencoders."""
