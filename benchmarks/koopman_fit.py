"""Koopman estimator fit time and accuracy: the kooplearn JOSS protocol, side by side.

Lorenz-63 (sigma=10, rho=28, beta=8/3) sampled every dt = 0.01 after a burn-in, standardised; 5000
training pairs (x_t, x_{t+1}) and the next 1000 as test pairs; rank 25, Gaussian kernel (length scale
`--length-scale` on the standardised data, or `median` for the median pairwise distance of the
training states), Tikhonov reg 1e-6, float64. Each jaxrep solver is paired with its kooplearn 2.x
peer (if importable):

- exact: jaxrep `kernel_rrr` (restarted block Krylov on a Cholesky factor) vs `KernelRidge(arpack)`;
- randomized: `kernel_rrr(randomized=True)` vs `KernelRidge(randomized)`;
- Nystrom, sqrt(n) landmarks: `kernel_rrr(nystrom=m)` vs `NystroemKernelRidge(n_centers=m)`.

Both sides are warmed up once (jaxrep compiles, reported as "first call"), then called `--repeats`
times *interleaved* (ours, theirs, ours, ...); the table gives medians of wall time and of process
CPU time (`time.process_time`, all threads), the ratios kooplearn / jaxrep (> 1: jaxrep faster)
and the one-step test RMSE in standardised units. The persistence forecast x_{t+1} = x_t and the
jaxrep estimators' one-step forecast of the increment (x_{t+1} - x_t, read out from the same fitted
embedding) are printed for reference.

    PYTHONPATH=/tmp/klpkgs python benchmarks/koopman_fit.py [--n-train 5000] [--repeats 3]
        [--solvers exact,randomized,nystrom] [--length-scale 0.5|median] [--edmd]
"""

import argparse
import math
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxrep as jr  # noqa: E402


def lorenz_data(n_train, n_test, dt=0.01, burn_in=1000):
    traj = jr.data.trajectory(jr.data.Lorenz63(), jnp.array([1.0, 1.0, 1.0]), dt,
                              burn_in + n_train + n_test + 1)
    traj = np.asarray(traj[burn_in:])
    mean, std = traj[:n_train].mean(0), traj[:n_train].std(0)
    return (traj - mean) / std


def median_distance(X, max_points=2000):
    sub = X[:: max(1, len(X) // max_points)]
    d = np.sqrt(((sub[:, None] - sub[None]) ** 2).sum(-1))
    return float(np.median(d[np.triu_indices(len(sub), 1)]))


def clock(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def rmse(pred, Y):
    return float(np.sqrt(np.mean((np.asarray(pred) - Y) ** 2)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--rank", type=int, default=25)
    p.add_argument("--reg", type=float, default=1e-6)
    p.add_argument("--length-scale", default="0.5", help="a float, or 'median'")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--solvers", default="exact,randomized,nystrom")
    p.add_argument("--edmd", action="store_true", help="also time edmd on 500 random Fourier features")
    a = p.parse_args()

    traj = lorenz_data(a.n_train, a.n_test)
    X, Y = traj[: a.n_train], traj[1 : a.n_train + 1]
    Xt, Yt = traj[a.n_train : a.n_train + a.n_test], traj[a.n_train + 1 : a.n_train + a.n_test + 1]
    Xj, Yj, Xtj = jnp.asarray(X), jnp.asarray(Y), jnp.asarray(Xt)
    ls = median_distance(X) if a.length_scale == "median" else float(a.length_scale)
    m = max(round(math.sqrt(a.n_train)), a.rank)
    kern = jr.koopman.GaussianKernel(ls)
    gamma = 1.0 / (2 * ls**2)  # kooplearn / scikit-learn rbf: exp(-gamma |x - y|^2)
    print(f"device: {jax.devices()[0].device_kind}  backend: {jax.default_backend()}  "
          f"n_train={a.n_train} n_test={a.n_test} rank={a.rank} reg={a.reg} "
          f"length_scale={ls:.4g} (gamma={gamma:.4g}) nystrom_m={m} repeats={a.repeats}")

    key = jax.random.PRNGKey(0)
    ours = {
        "exact": lambda: jr.koopman.kernel_rrr(Xj, Yj, kern, rank=a.rank, reg=a.reg, key=key),
        "randomized": lambda: jr.koopman.kernel_rrr(
            Xj, Yj, kern, rank=a.rank, reg=a.reg, randomized=True, key=key),
        "nystrom": lambda: jr.koopman.kernel_rrr(
            Xj, Yj, kern, rank=a.rank, reg=a.reg, nystrom=m, key=key),
    }
    theirs = {}
    try:
        import warnings

        import kooplearn
        from kooplearn.kernel import KernelRidge, NystroemKernelRidge

        warnings.filterwarnings("ignore")
        fit_traj = traj[: a.n_train + 1]  # lag-1 pairs (x_t, x_{t+1}), t < n_train

        def kl(make):
            return lambda: make().fit(fit_traj)

        theirs = {
            "exact": kl(lambda: KernelRidge(
                n_components=a.rank, kernel="rbf", gamma=gamma, alpha=a.reg,
                eigen_solver="arpack", random_state=0)),
            "randomized": kl(lambda: KernelRidge(
                n_components=a.rank, kernel="rbf", gamma=gamma, alpha=a.reg,
                eigen_solver="randomized", random_state=0)),
            "nystrom": kl(lambda: NystroemKernelRidge(
                n_components=a.rank, kernel="rbf", gamma=gamma, alpha=a.reg, n_centers=m,
                random_state=0)),
        }
        print(f"kooplearn {getattr(kooplearn, '__version__', '?')} timed in the same run")
    except ImportError:
        print("kooplearn not importable: peer rows skipped")

    one_step = jax.jit(lambda est, x: jax.vmap(lambda z: est.predict(z, 1)[0])(x))
    rows = []
    for solver in a.solvers.split(","):
        mine, peer = ours[solver], theirs.get(solver)
        def call(fn=mine):
            return jax.block_until_ready(fn())

        est, first, _ = clock(call)
        model = peer() if peer else None
        t_ours, c_ours, t_peer, c_peer = [], [], [], []
        for _ in range(a.repeats):
            est, t, c = clock(call)
            t_ours.append(t)
            c_ours.append(c)
            if peer:
                model, t, c = clock(peer)
                t_peer.append(t)
                c_peer.append(c)
        err = rmse(one_step(est, Xtj), Yt)
        # Increments from the same fitted embedding: x + e(x)^T U^T K_X (Y - X) / n.
        E_X = jax.vmap(est.embed)(Xj)
        R_inc = E_X.T @ (Yj - Xj) / a.n_train
        err_inc = rmse(Xtj + jax.vmap(est.embed)(Xtj) @ R_inc, Yt)
        row = {"solver": solver, "first": first, "wall": statistics.median(t_ours),
               "cpu": statistics.median(c_ours), "rmse": err, "rmse_inc": err_inc}
        if peer:
            row.update(peer_wall=statistics.median(t_peer), peer_cpu=statistics.median(c_peer),
                       peer_rmse=rmse(model.predict(Xt, n_steps=1), Yt))
        rows.append(row)
        print(f"  done {solver}: {row}", flush=True)

    if a.edmd:
        rff = jr.koopman.RandomFourier(3, 500, ls, key=jax.random.PRNGKey(1))
        fit = lambda: jr.koopman.edmd(Xj, Yj, rff, reg=a.reg, rank=a.rank)  # noqa: E731
        est, first, _ = clock(lambda: jax.block_until_ready(fit()))
        ts = [clock(lambda: jax.block_until_ready(fit()))[1:] for _ in range(a.repeats)]
        print(f"jaxrep edmd rff500 rank {a.rank}: first {first:.3f} s, warm wall "
              f"{statistics.median(t for t, _ in ts):.3f} s cpu {statistics.median(c for _, c in ts):.3f}"
              f" s, test RMSE {rmse(one_step(est, Xtj), Yt):.4f}")

    print(f"persistence x_(t+1) = x_t: test RMSE {rmse(Xt, Yt):.4f}")
    print("| solver | jaxrep wall s | kooplearn wall s | wall ratio | jaxrep CPU s | kooplearn CPU s "
          "| CPU ratio | jaxrep first call s | test RMSE jaxrep | test RMSE kooplearn "
          "| jaxrep increments RMSE |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        pw, pc = r.get("peer_wall", math.nan), r.get("peer_cpu", math.nan)
        print(f"| {r['solver']} | {r['wall']:.3f} | {pw:.3f} | {pw / r['wall']:.2f}x | {r['cpu']:.3f} "
              f"| {pc:.3f} | {pc / r['cpu']:.2f}x | {r['first']:.2f} | {r['rmse']:.4f} "
              f"| {r.get('peer_rmse', math.nan):.4f} | {r['rmse_inc']:.4f} |")


if __name__ == "__main__":
    main()
