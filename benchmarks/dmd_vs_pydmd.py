"""jaxrep.koopman DMD family vs PyDMD 2025.8.1, side by side in one process, interleaved repeats
(float64, CPU). Data: 3 damped oscillator pairs (mu = -0.05+-1i, -0.1+-2.3i, -0.2+-4.1i) on 256
spatial points, 400 snapshots at uniform-random times in [0, 20], 2% noise; rank 6.

PyDMD is not a jaxrep dependency: `pip install pydmd` into a separate path and put it on PYTHONPATH.
Single-threaded on both sides (the machine it was measured on was shared):

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/dmd_vs_pydmd.py 100
"""
import time, statistics, warnings, sys
warnings.filterwarnings("ignore")
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
from pydmd import BOPDMD, DMD
from jaxrep.koopman import bopdmd, dmd, optdmd
def make(n=256, m=400, seed=0, noise=0.02, uniform=False):
    rng = np.random.default_rng(seed)
    sig = np.array([-0.05, -0.1, -0.2]); om = np.array([1.0, 2.3, 4.1])
    mus = np.concatenate([sig + 1j * om, sig - 1j * om])
    ts = np.linspace(0, 20, m) if uniform else np.sort(rng.uniform(0, 20, m))
    modes = rng.standard_normal((6, n)) + 1j * rng.standard_normal((6, n))
    modes[3:] = modes[:3].conj()
    b = np.r_[1.0, 0.7, 0.5, 1.0, 0.7, 0.5]
    X = (np.exp(ts[:, None] * mus[None]) * b @ modes).real
    X = X + noise * X.std() * rng.standard_normal(X.shape)
    return mus, ts, X

    

def err(found, true):
    d = np.abs(np.asarray(found)[:, None] - true[None]); return max(d.min(0).max(), d.min(1).max())

mus, ts, X = make()
_, tu, Xu = make(noise=0.0, uniform=True)
dtu = tu[1] - tu[0]
r = 6
key = jax.random.PRNGKey(0)
NB = int(sys.argv[1]) if len(sys.argv) > 1 else 100

def j_opt(): o = optdmd(X, ts, r); jax.block_until_ready(o); return o.continuous_eigenvalues, None
def p_opt():
    d = BOPDMD(svd_rank=r, num_trials=0, varpro_opts_dict={"tol": 1e-10, "maxiter": 100}); d.fit(X.T, ts); return d.eigs, None
def j_bop(): o = bopdmd(X, ts, r, key=key, n_bags=NB); jax.block_until_ready(o); return o.continuous_eigenvalues, np.abs(o.continuous_eigenvalues_std).mean()
def p_bop():
    np.random.seed(0); d = BOPDMD(svd_rank=r, num_trials=NB, trial_size=0.6, varpro_opts_dict={"tol": 1e-10, "maxiter": 100}); d.fit(X.T, ts); return d.eigs, np.abs(d.eigenvalues_std).mean()
def j_dmd(): o = dmd(Xu, rank=r, dt=dtu); jax.block_until_ready(o); return o.continuous_eigenvalues, None
def p_dmd(): d = DMD(svd_rank=r); d.fit(Xu.T); return np.log(d.eigs) / dtu, None

pairs = [("optdmd", j_opt, p_opt), (f"bopdmd {NB} bags", j_bop, p_bop), ("exact dmd (uniform, noise-free)", j_dmd, p_dmd)]
print(f"{'method':34s} {'jaxrep 1st':>10s} {'jaxrep':>8s} {'PyDMD':>8s} {'PyDMD/jaxrep':>12s} {'err jaxrep':>10s} {'err PyDMD':>10s} {'spread j / p'}")
for name, fj, fp in pairs:
    t = time.perf_counter(); fj(); first = time.perf_counter() - t
    fp()
    tj, tp = [], []
    for _ in range(3):
        t = time.perf_counter(); ej, sj = fj(); tj.append(time.perf_counter() - t)
        t = time.perf_counter(); ep, sp = fp(); tp.append(time.perf_counter() - t)
    mj, mp = statistics.median(tj), statistics.median(tp)
    sp_str = f"{sj:.2e} / {sp:.2e}" if sj is not None else ""
    print(f"{name:34s} {first:10.2f} {mj:8.3f} {mp:8.3f} {mp / mj:12.2f} {err(ej, mus):10.2e} {err(ep, mus):10.2e} {sp_str}", flush=True)
