"""Linear latent rollout: exact matrix-exponential `propagate` vs an adaptive diffrax ODE solve.

Solves dz/dt = A z for 1000 uniformly spaced output times t in [0, 10] (and a batch of initial states
via vmap), float64, with a random weakly damped oscillatory generator (`Generator(param="skew")` - 0.05 I).
diffrax (Tsit5, PID controller) is run at the tightest of rtol = atol in {1e-6, 1e-7, 1e-8} whose
max relative error against scipy.linalg.expm is <= 1e-6 (the accuracy target), so both sides deliver the
same accuracy. Reports warm wall time (best of `--repeats`, compile excluded) and error.

    python benchmarks/propagate.py [--dims 8 64] [--batch 256] [--repeats 5]
"""

import argparse
import math
import time

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402

import jaxrep as jr  # noqa: E402


def best_time(fn, *args, repeats):
    jax.block_until_ready(fn(*args))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def diffrax_solver(tol):
    @jax.jit
    def solve(A, z0, ts):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, z, args: args @ z), diffrax.Tsit5(), t0=ts[0], t1=ts[-1],
            dt0=None, y0=z0, args=A, saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=tol, atol=tol), max_steps=1_000_000,
        )
        return sol.ys

    return solve


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dims", type=int, nargs="+", default=[8, 64])
    p.add_argument("--n-t", type=int, default=1000)
    p.add_argument("--t-max", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    print(f"device: {jax.devices()[0].device_kind}  backend: {jax.default_backend()}  "
          f"n_t={a.n_t} t in [0, {a.t_max}] float64")
    ts_np = np.linspace(0.0, a.t_max, a.n_t)
    ts = jnp.asarray(ts_np)
    header = f"{'dim':>4s} {'batch':>5s} {'method':34s} {'time s':>10s} {'max rel err':>12s}"
    print(header)
    for dim in a.dims:
        # oscillatory, weakly damped: the regime of learned latent dynamics (solutions persist)
        A = jr.koopman.Generator(dim, "skew", scale=2.0, key=jax.random.PRNGKey(dim)).matrix()
        A = A - 0.05 * jnp.eye(dim)
        A_np = np.asarray(A)
        z0 = jax.random.normal(jax.random.PRNGKey(1), (dim,))
        Z0 = jax.random.normal(jax.random.PRNGKey(2), (a.batch, dim))
        ref = np.stack([scipy.linalg.expm(t * A_np) for t in ts_np])  # (n_t, d, d)
        ref1 = ref @ np.asarray(z0)
        refb = np.einsum("tij,bj->btij", ref, np.asarray(Z0)).sum(-1)

        def err(out, r):
            return float(np.max(np.abs(np.asarray(out) - r)) / np.max(np.abs(r)))

        uniform = jax.jit(lambda A, z: jr.koopman.propagate(A, z, ts_np))  # concrete ts: fast path
        pertime = jax.jit(jr.koopman.propagate)  # traced ts: one expm per time
        uniform_b = jax.jit(jax.vmap(lambda A, z: jr.koopman.propagate(A, z, ts_np), (None, 0)))
        rows = [
            (1, "jaxrep propagate (uniform path)", best_time(uniform, A, z0, repeats=a.repeats),
             err(uniform(A, z0), ref1)),
            (1, "jaxrep propagate (per-time expm)", best_time(pertime, A, z0, ts, repeats=a.repeats),
             err(pertime(A, z0, ts), ref1)),
            (a.batch, "jaxrep propagate (uniform, vmap)", best_time(uniform_b, A, Z0, repeats=a.repeats),
             err(uniform_b(A, Z0), refb)),
        ]
        chosen = None
        for tol in (1e-6, 1e-7, 1e-8, 1e-9):
            solve = diffrax_solver(tol)
            e = err(solve(A, z0, ts), ref1)
            if e <= 1e-6:
                chosen = (tol, solve, e)
                break
        tol, solve, e = chosen
        rows.append((1, f"diffrax Tsit5 adaptive tol={tol:.0e}", best_time(solve, A, z0, ts, repeats=a.repeats), e))
        solve_b = jax.jit(jax.vmap(solve, (None, 0, None)))
        rows.append((a.batch, f"diffrax Tsit5 tol={tol:.0e} (vmap)",
                     best_time(solve_b, A, Z0, ts, repeats=a.repeats), err(solve_b(A, Z0, ts), refb)))
        for batch, name, t, e in rows:
            print(f"{dim:4d} {batch:5d} {name:34s} {t:10.5f} {e:12.2e}")
        print(f"     speed-up uniform vs diffrax (single): {rows[3][2] / rows[0][2]:.1f}x; "
              f"batched: {rows[4][2] / rows[2][2]:.1f}x")


if __name__ == "__main__":
    main()
