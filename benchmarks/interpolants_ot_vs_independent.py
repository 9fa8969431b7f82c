"""Independent vs exact-OT vs Sinkhorn coupling: 1- and 4-step Euler W2, adaptive-ODE W2 and path straightness.
8 Gaussians -> moons, linear interpolant, MLP 3x64, batch 256, Adam 1e-3, 3000 steps, one seed."""
import time, jax, jax.random as jr, optax
import jaxrep as jrp, jaxrep.interpolants as ji
src, tgt = jrp.data.EightGaussians(), jrp.data.Moons()
I = ji.linear()
x0e = src.sample(2000, key=jr.PRNGKey(10)); x1e = tgt.sample(2000, key=jr.PRNGKey(11))
print(f"W2 floor (moons vs moons, n=2000): {ji.wasserstein2(x1e, tgt.sample(2000, key=jr.PRNGKey(12))):.3f}")
for name, coupling in [("independent", None), ("exact OT", ji.ExactOT()), ("sinkhorn eps=0.5", ji.SinkhornOT(epsilon=0.5))]:
    b = ji.TimeField(jrp.nn.MLP(3, 2, 64, 3, jax.nn.silu, key=jr.PRNGKey(0)))
    def data(key, step):
        k0, k1 = jr.split(key); return src.sample(256, key=k0), tgt.sample(256, key=k1)
    def loss_fn(m, batch, key):
        return ji.velocity_loss(m, I, *batch, key=key, antithetic=False, coupling=coupling), {}
    t = time.time()
    b, _ = jrp.train.fit(b, loss_fn, data, optax.adam(1e-3), steps=3000, key=jr.PRNGKey(1), progress=False, steps_per_call=500)
    tt = time.time() - t
    w = ji.wasserstein2_euler(b, x0e, x1e, steps=(1, 4))
    wa = ji.wasserstein2(ji.sample(b, x0e, rtol=1e-4, atol=1e-4), x1e)
    S = float(ji.straightness(b, x0e[:500], rtol=1e-4, atol=1e-4))
    print(f"{name:18s} train {tt:6.1f} s  W2 1-step {w[1]:.3f}  4-step {w[4]:.3f}  adaptive {wa:.3f}  straightness {S:.3f}", flush=True)
