"""NFE and W2: adaptive SDE (ShARK + PID on a VirtualBrownianTree) vs fixed-step Euler-Maruyama.

(a) Gaussian -> Gaussian with the exact velocity and score (linear interpolant, gamma = sqrt(t(1-t))):
    only discretisation error; W2 to exact target samples and the covariance error.
(b) 8 Gaussians -> moons, velocity + denoiser MLPs trained 4000 steps; W2 to moons samples.
NFE = drift evaluations per sample: EM 1 per step, ShARK 2 per step (accepted + rejected).
"""
import time, jax, jax.numpy as jnp, jax.random as jr, numpy as np, optax
import jaxrep as jrp, jaxrep.interpolants as ji

N = 2000
def report(name, fn, ref, extra=None):
    t = time.time(); x, ns = fn(); x = np.asarray(x); dt = time.time() - t
    w2 = ji.wasserstein2(x, ref)
    msg = f"  {name:28s} NFE {float(np.mean(ns)):7.1f}  W2 {w2:.4f}"
    if extra: msg += "  " + extra(x)
    print(msg + f"  ({dt:.1f} s)", flush=True)

# (a) Gaussian
jax.config.update("jax_enable_x64", False)
M = jnp.array([1.0, -2.0]); L = jnp.array([[0.6, 0.0], [0.3, 0.4]]); S = L @ L.T
I = ji.linear(ji.SqrtGamma(1.0))
def cov(t):
    a, b, g = I.coefficients(t); return (a**2 + g**2) * jnp.eye(2) + b**2 * S
def centered(t, x): return jnp.linalg.solve(cov(t), x - I.beta(t) * M)
def velocity(t, x):
    a, b, g = I.coefficients(t); da, db, _ = I.derivatives(t)
    return db * M + (a * da * jnp.eye(2) + b * db * S + I.gamma_gamma_dot(t) * jnp.eye(2)) @ centered(t, x)
def score(t, x): return -centered(t, x)
x0 = jr.normal(jr.PRNGKey(0), (N, 2))
ref = np.asarray(M + jr.normal(jr.PRNGKey(1), (N, 2)) @ L.T)
ref2 = np.asarray(M + jr.normal(jr.PRNGKey(2), (N, 2)) @ L.T)
print(f"(a) Gaussian -> Gaussian, exact b and s, eps=1, n={N}; W2 floor (exact vs exact samples) {ji.wasserstein2(ref, ref2):.4f}")
covdev = lambda x: f"|cov - Sigma|_F {np.linalg.norm(np.cov(x.T) - np.asarray(S)):.4f} |mean - m| {np.linalg.norm(x.mean(0) - np.asarray(M)):.4f}"
key = jr.PRNGKey(3)
for steps in (8, 16, 32, 64, 128, 256):
    report(f"Euler-Maruyama {steps} steps", lambda: ji.sample(velocity, x0, I, method="sde", score=score, eps=1.0, steps=steps, key=key, return_stats=True), ref, covdev)
for tol in (1e-1, 3e-2, 1e-2, 3e-3, 1e-3):
    def f():
        x, ns = ji.sample(velocity, x0, I, method="sde", score=score, eps=1.0, rtol=tol, atol=tol, key=key, return_stats=True)
        return x, 2 * ns
    report(f"adaptive ShARK tol {tol:g}", f, ref, covdev)

# (b) trained 8 Gaussians -> moons
src, tgt = jrp.data.EightGaussians(), jrp.data.Moons()
I = ji.linear(ji.SqrtGamma(1.0))
class Fields(jrp.nn.MLP.__mro__[-2] if False else object): pass
import equinox as eqx
class Pair(eqx.Module):
    b: ji.TimeField
    eta: ji.TimeField
k1, k2 = jr.split(jr.PRNGKey(4))
fields = Pair(ji.TimeField(jrp.nn.MLP(3, 2, 128, 3, jax.nn.silu, key=k1)), ji.TimeField(jrp.nn.MLP(3, 2, 128, 3, jax.nn.silu, key=k2)))
def data(key, step):
    a, b = jr.split(key); return src.sample(512, key=a), tgt.sample(512, key=b)
def loss_fn(f, batch, key):
    ka, kb = jr.split(key)
    lv = ji.velocity_loss(f.b, I, *batch, key=ka, include_gamma_dot=False, t_range=(0.0, 1.0))
    le = ji.denoiser_loss(f.eta, I, *batch, key=kb, t_range=(1e-3, 1 - 1e-3))
    return lv + le, {}
t = time.time()
fields, _ = jrp.train.fit(fields, loss_fn, data, optax.adam(1e-3), steps=4000, key=jr.PRNGKey(5), progress=False, steps_per_call=500)
print(f"\n(b) 8 Gaussians -> moons, velocity + denoiser MLPs 3x128 trained 4000 steps ({time.time() - t:.0f} s), eps=1 on [1e-3, 1-1e-3]")
score_b = ji.score_from_denoiser(fields.eta, I)
b = ji.velocity_from_parts(fields.b, score_b, I)
x0 = src.sample(N, key=jr.PRNGKey(6))
ref = np.asarray(tgt.sample(N, key=jr.PRNGKey(7))); ref2 = np.asarray(tgt.sample(N, key=jr.PRNGKey(8)))
print(f"W2 floor (moons vs moons, n={N}) {ji.wasserstein2(ref, ref2):.4f}")
for steps in (16, 32, 64, 128, 256):
    report(f"Euler-Maruyama {steps} steps", lambda: ji.sample(b, x0, I, method="sde", denoiser=fields.eta, eps=1.0, t0=1e-3, t1=1 - 1e-3, steps=steps, key=key, return_stats=True), ref)
for tol in (1e-1, 3e-2, 1e-2, 3e-3):
    def f():
        x, ns = ji.sample(b, x0, I, method="sde", denoiser=fields.eta, eps=1.0, t0=1e-3, t1=1 - 1e-3, rtol=tol, atol=tol, key=key, return_stats=True)
        return x, 2 * ns
    report(f"adaptive ShARK tol {tol:g}", f, ref)
def f():
    x, ns = ji.sample(b, x0, I, method="sde", denoiser=fields.eta, eps=1.0, t0=1e-3, t1=1 - 1e-3, rtol=1e-2, atol=1e-2, key=key, return_stats=True, denoise=True)
    return x, 2 * ns + 1
report("adaptive 1e-2 + Tweedie", f, ref)
def f():
    x, ns = ji.sample(b, x0, I, method="sde", denoiser=fields.eta, eps=1.0, t0=1e-3, t1=1 - 1e-3, steps=64, key=key, return_stats=True, denoise=True)
    return x, ns + 1
report("EM 64 + Tweedie", f, ref)
def f():
    x, ns = ji.sample(b, x0, I, t0=1e-3, t1=1 - 1e-3, rtol=1e-4, atol=1e-4, return_stats=True)
    return x, 6 * ns
report("ODE Tsit5 tol 1e-4 (reference)", f, ref)
