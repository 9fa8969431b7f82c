"""Cost of minibatch couplings inside the compiled training step (8 Gaussians -> moons, MLP 3x64, B256).

Side by side in one process, interleaved rounds, median: steps/s of `fit` with the velocity loss and
each coupling, plus the coupling alone (jitted) at batch 256.
"""
import sys, time
import jax, jax.random as jr, numpy as np, optax
import jaxrep as jrp, jaxrep.interpolants as ji

B = int(sys.argv[1]) if len(sys.argv) > 1 else 256
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
source, target = jrp.data.EightGaussians(), jrp.data.Moons()
I = ji.linear()
couplings = {
    "independent": None,
    "exact (jax)": ji.ExactOT(),
    "exact (scipy callback)": ji.ExactOT(host=True),
    "sinkhorn eps=0.05": ji.SinkhornOT(epsilon=0.05),
    "sinkhorn eps=0.5": ji.SinkhornOT(epsilon=0.5),
}
STEPS = {"independent": 2000}

def train_rate(coupling, steps):
    net = jrp.nn.MLP(3, 2, 64, 3, jax.nn.silu, key=jr.PRNGKey(0))
    field = ji.TimeField(net)
    def data(key, step):
        k0, k1 = jr.split(key)
        return source.sample(B, key=k0), target.sample(B, key=k1)
    def loss_fn(model, batch, key):
        x0, x1 = batch
        return ji.velocity_loss(model, I, x0, x1, key=key, antithetic=False, coupling=coupling), {}
    spc = steps // 4
    _, hist = jrp.train.fit(field, loss_fn, data, optax.adam(1e-3), steps=steps, key=jr.PRNGKey(1),
                            progress=False, steps_per_call=spc, log_every=spc)
    t, s = np.asarray(hist["time"]), np.asarray(hist["step"])
    return (s[-1] - s[0]) / (t[-1] - t[0])

def coupling_time(coupling, reps=10):
    f = jax.jit(lambda k: coupling(source.sample(B, key=jr.fold_in(k, 0)), target.sample(B, key=jr.fold_in(k, 1)), key=k)[1])
    jax.block_until_ready(f(jr.PRNGKey(0)))
    ts = []
    for r in range(reps):
        k = jr.PRNGKey(100 + r)
        t0 = time.perf_counter(); jax.block_until_ready(f(k)); ts.append(time.perf_counter() - t0)
    return np.median(ts)

rates = {k: [] for k in couplings}
alone = {k: [] for k in couplings if couplings[k] is not None}
for r in range(ROUNDS):
    for name, c in couplings.items():
        steps = STEPS.get(name, 40)
        rates[name].append(train_rate(c, steps))
        if c is not None:
            alone[name].append(coupling_time(c))
base = np.median(rates["independent"])
print(f"batch {B}, {ROUNDS} interleaved rounds, medians (2-core CPU shared with other jobs)")
print(f"{'coupling':26s} {'train steps/s':>14s} {'step ms':>9s} {'coupling alone ms':>18s} {'coupling / plain step':>22s}")
for name in couplings:
    rate = np.median(rates[name])
    a = np.median(alone[name]) * 1e3 if name in alone else float("nan")
    print(f"{name:26s} {rate:14.1f} {1e3 / rate:9.2f} {a:18.2f} {a / (1e3 / base):22.1f}")
