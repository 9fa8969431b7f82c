"""Accuracy of every PDE / ODE reference by self-convergence, on the PINN evaluation grid.

Each reference is computed at its default resolution and again refined (twice the grid points and
half the time step for the ETDRK4 references; tolerance 1e-13 and twice the saved times for the
diffrax ODE references; four times the Gauss-Hermite order for Cole-Hopf Burgers), both in float64
and without the disk cache, and the two are compared on the evaluation grid the PINN metrics use
(`EvalConfig` defaults: 256 points per spatial dimension, 32 x 32 in 2-D, 51 times per window, the
training window and every extrapolation window). Reported: the max-norm difference relative to
max|u_refined| and the relative L2 difference over the whole grid, and the wall time of the default
and the refined computation (JIT compilation included, as on a first, uncached use).

    python benchmarks/reference_accuracy.py [--only allen_cahn schrodinger ...]
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrep.pde import _cole_hopf as CH  # noqa: E402
import jaxrep.pde as S  # noqa: E402
from jaxrep.pinn import problems  # noqa: E402
from jaxrep.pde._ode_reference import ode_reference  # noqa: E402

N_X, N_X_2D, N_T = 256, 32, 51  # EvalConfig defaults


def eval_grid(prob):
    d = len(prob.lower)
    if d == 0:
        xs = np.zeros((1, 0))
    else:
        n = N_X if d == 1 else N_X_2D
        axes = [np.linspace(lo, hi, n) for lo, hi in zip(prob.lower, prob.upper)]
        xs = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], -1)
    ts = np.concatenate([np.linspace(w[0], w[1], N_T)
                         for w in (prob.train_window, *prob.extrapolation_windows)])
    return xs, ts


def grid_values(prob, ref, xs, ts):
    """What `problem.reference_grid` returns: the grid reference, and u0 itself at t0."""
    out = np.array(ref.on_grid(jnp.asarray(xs), jnp.asarray(ts)))
    u0 = np.asarray(jax.vmap(prob.initial_condition)(jnp.asarray(xs)))
    out[ts == float(ref.ts[0])] = u0
    return out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


SPECTRAL = {
    # name: (reference function, default keywords, refined keywords)
    "allen_cahn": (S.allen_cahn_reference, {}, dict(n=16384, n_store=4096, dt=1.25e-4)),
    "schrodinger": (S.schrodinger_reference, {}, dict(n=8192, n_store=4096, dt=6.25e-5)),
    "kuramoto_sivashinsky": (S.kuramoto_sivashinsky_reference, {}, dict(n=1024, dt=2.5e-5)),
    "cahn_hilliard": (S.cahn_hilliard_reference, {}, dict(n=512, dt=5e-4)),
    "fisher_kpp": (S.fisher_kpp_reference, {}, dict(n=512, dt=5e-4)),
    "burgers2d": (S.burgers2d_reference, {}, dict(n=192, dt=5e-4)),
}


def spectral_case(name):
    fn, default, refined = SPECTRAL[name]
    prob = problems.get(name)
    xs, ts = eval_grid(prob)
    ref, t_def = timed(lambda: fn(cache=False, **default))
    fine, t_fine = timed(lambda: fn(cache=False, **refined))
    return grid_values(prob, ref, xs, ts), grid_values(prob, fine, xs, ts), t_def, t_fine


def ode_case(name):
    prob = problems.get(name)
    _, ts = eval_grid(prob)
    vf = lambda t, y, args: type(prob).vector_field(y, *args)  # noqa: E731
    t0, t1 = prob.time_window
    n = type(prob).reference_points

    def build(n_t, tol):
        return ode_reference(vf, np.asarray(prob.y0), np.linspace(t0, t1, n_t), args=prob._params(),
                             rtol=tol, atol=tol)

    ref, t_def = timed(lambda: build(n, 1e-10))
    fine, t_fine = timed(lambda: build(2 * n - 1, 1e-13))
    ev = lambda r: np.asarray(jax.vmap(r)(jnp.asarray(ts)))  # noqa: E731
    return ev(ref), ev(fine), t_def, t_fine


def burgers_case():
    prob = problems.get("burgers")
    xs, ts = eval_grid(prob)

    def build(nq):
        f = jax.jit(jax.vmap(jax.vmap(lambda x, t: CH.burgers_cole_hopf(x, t, n_quadrature=nq),
                                      (0, None)), (None, 0)))
        return np.asarray(f(jnp.asarray(xs[:, 0]), jnp.asarray(ts)))

    a, t_def = timed(lambda: build(CH.BURGERS_N_QUADRATURE))
    b, t_fine = timed(lambda: build(4 * CH.BURGERS_N_QUADRATURE))
    return a, b, t_def, t_fine


def kdv_case():
    prob = problems.get("kdv")  # closed-form soliton: the reference is exact
    xs, ts = eval_grid(prob)
    f = jax.vmap(jax.vmap(prob.reference, (0, None)), (None, 0))
    a = np.asarray(f(jnp.asarray(xs), jnp.asarray(ts)))
    return a, a, 0.0, 0.0


CASES = {**{k: (lambda k=k: spectral_case(k)) for k in SPECTRAL},
         "burgers": burgers_case, "kdv": kdv_case,
         "lorenz": lambda: ode_case("lorenz"), "seir": lambda: ode_case("seir")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    print(f"{'problem':22s} | {'max rel. err':>12s} | {'rel. L2 err':>11s} | "
          f"{'time (s)':>8s} | {'refined (s)':>11s}")
    print("-" * 78)
    for name in args.only:
        a, b, t_def, t_fine = CASES[name]()
        diff = np.abs(a - b)
        mx = diff.max() / np.abs(b).max()
        l2 = np.sqrt((diff**2).sum() / (b**2).sum())
        print(f"{name:22s} | {mx:12.1e} | {l2:11.1e} | {t_def:8.1f} | {t_fine:11.1f}", flush=True)


if __name__ == "__main__":
    main()
