"""Koopman estimator fit time and accuracy: the kooplearn JOSS protocol.

Lorenz-63 (sigma=10, rho=28, beta=8/3) sampled every dt = 0.01 after a burn-in, standardised; 5000
training pairs (x_t, x_{t+1}) and the next 1000 as test pairs; rank 25, Gaussian kernel (length scale
`--length-scale` on the standardised data), Tikhonov reg 1e-6, float64. Reports the fit time (best of
`--repeats` warm calls, compile excluded, plus the first call with compile) and the one-step test RMSE
(in standardised units) of

- jaxrep `kernel_rrr` exact (dense eigensolvers), randomized, and Nystrom with sqrt(n) landmarks;
- jaxrep `edmd` with 500 random Fourier features and rank 25 (primal reduced-rank regression);
- kooplearn 2.x `KernelRidge` (arpack and randomized) and `NystroemKernelRidge`, if importable,
  timed in the same process, with ratios.

    python benchmarks/koopman_fit.py [--n-train 5000] [--n-test 1000] [--repeats 3]
"""

import argparse
import math
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
    traj = (traj - mean) / std
    return traj


def timed(fn, repeats):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return out, first, best


def rmse_jaxrep(est, X, Y):
    pred = jax.jit(jax.vmap(lambda x: est.predict(x, 1)[0]))(X)
    return float(jnp.sqrt(jnp.mean((pred - Y) ** 2)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--rank", type=int, default=25)
    p.add_argument("--reg", type=float, default=1e-6)
    p.add_argument("--length-scale", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-exact", action="store_true", help="skip the O(n^3) dense solvers")
    a = p.parse_args()

    traj = lorenz_data(a.n_train, a.n_test)
    X, Y = traj[: a.n_train], traj[1 : a.n_train + 1]
    Xt, Yt = traj[a.n_train : a.n_train + a.n_test], traj[a.n_train + 1 : a.n_train + a.n_test + 1]
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    m = max(int(round(math.sqrt(a.n_train))), a.rank)
    kern = jr.koopman.GaussianKernel(a.length_scale)
    print(f"device: {jax.devices()[0].device_kind}  backend: {jax.default_backend()}  "
          f"n_train={a.n_train} n_test={a.n_test} rank={a.rank} reg={a.reg} "
          f"length_scale={a.length_scale} nystrom_m={m}")

    rows = {}
    rff = jr.koopman.RandomFourier(3, 500, a.length_scale, key=jax.random.PRNGKey(1))
    cases = {
        "jaxrep kernel_rrr randomized": lambda: jr.koopman.kernel_rrr(
            Xj, Yj, kern, rank=a.rank, reg=a.reg, randomized=True, key=jax.random.PRNGKey(0)),
        "jaxrep kernel_rrr nystrom": lambda: jr.koopman.kernel_rrr(
            Xj, Yj, kern, rank=a.rank, reg=a.reg, nystrom=m, key=jax.random.PRNGKey(0)),
        "jaxrep edmd rff500 rank25": lambda: jr.koopman.edmd(
            Xj, Yj, rff, reg=a.reg, rank=a.rank),
    }
    if not a.skip_exact:
        cases = {"jaxrep kernel_rrr exact": lambda: jr.koopman.kernel_rrr(
            Xj, Yj, kern, rank=a.rank, reg=a.reg), **cases}
    for name, fn in cases.items():
        est, first, best = timed(fn, a.repeats)
        rows[name] = (best, first, rmse_jaxrep(est, jnp.asarray(Xt), jnp.asarray(Yt)))

    try:
        import warnings

        import kooplearn
        from kooplearn.kernel import KernelRidge, NystroemKernelRidge

        warnings.filterwarnings("ignore")
        gamma = 1.0 / (2 * a.length_scale**2)
        peers = {
            "kooplearn KernelRidge arpack": lambda: KernelRidge(
                n_components=a.rank, kernel="rbf", gamma=gamma, alpha=a.reg, eigen_solver="arpack",
                random_state=0),
            "kooplearn KernelRidge randomized": lambda: KernelRidge(
                n_components=a.rank, kernel="rbf", gamma=gamma, alpha=a.reg,
                eigen_solver="randomized", random_state=0),
            "kooplearn NystroemKernelRidge": lambda: NystroemKernelRidge(
                n_components=a.rank, kernel="rbf", gamma=gamma, alpha=a.reg, n_centers=m,
                random_state=0),
        }
        fit_traj = traj[: a.n_train + 1]  # lag-1 pairs (x_t, x_{t+1}), t < n_train
        for name, make in peers.items():
            best, first = math.inf, None
            for i in range(a.repeats + 1):
                model = make()
                t0 = time.perf_counter()
                model.fit(fit_traj)
                el = time.perf_counter() - t0
                first = el if i == 0 else first
                best = el if i > 0 and el < best else best
            pred = model.predict(Xt, n_steps=1)
            rows[name] = (best, first, float(np.sqrt(np.mean((pred - Yt) ** 2))))
        print(f"kooplearn {getattr(kooplearn, '__version__', '?')} timed in the same run")
    except ImportError:
        print("kooplearn not importable: peer rows skipped")

    rows["persistence baseline (x_{t+1} = x_t)"] = (0.0, 0.0, float(np.sqrt(np.mean((Xt - Yt) ** 2))))
    print(f"{'method':38s} {'fit s (warm)':>12s} {'first call s':>12s} {'test RMSE':>10s}")
    for name, (best, first, rmse) in rows.items():
        print(f"{name:38s} {best:12.3f} {first:12.3f} {rmse:10.4f}")
    pairs = [("jaxrep kernel_rrr exact", "kooplearn KernelRidge arpack"),
             ("jaxrep kernel_rrr randomized", "kooplearn KernelRidge randomized"),
             ("jaxrep kernel_rrr nystrom", "kooplearn NystroemKernelRidge")]
    for ours, theirs in pairs:
        if ours in rows and theirs in rows:
            print(f"speed-up {ours} vs {theirs}: {rows[theirs][0] / rows[ours][0]:.2f}x "
                  f"(RMSE {rows[ours][2]:.4f} vs {rows[theirs][2]:.4f})")


if __name__ == "__main__":
    main()
