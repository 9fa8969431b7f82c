"""KAT block (GR-KAN in place of the MLP) against the standard GELU-MLP transformer block.

    python benchmarks/grkan_block.py [--repeats 15] [--steps 1500] [--seeds 3] [--skip-accuracy]

Two measurements, both in one process (the machine may be shared: timings are reported as ratios of
medians taken side by side, repeats interleaved):

1. **Throughput.** One block of each kind (`jaxrep.nn._grkan.KATBlock`, `TransformerBlock`), float32,
   forward + backward of $L = \\sum y^2$ with gradients for all parameters and the input, jit-compiled
   before timing, same batch and sequence; median wall-clock and process CPU time per step over
   `--repeats` interleaved repeats. Also the two activations alone (group rational vs GELU on the
   hidden pre-activations, forward + backward), which is where the blocks differ.
2. **Accuracy.** scikit-learn's 8x8 digits (1797 images, 10 classes; stratified 70/30 split with a
   fixed seed) as 16 tokens of 2x2 patches -> linear embedding (`--dim`, default 32) + learned positional embedding ->
   2 blocks (4 heads, mlp_ratio 4) -> LayerNorm -> mean over tokens -> linear head. The two models differ
   only in their blocks. Trained through `jaxrep.train.fit` (AdamW, peak lr 2e-3 with warmup and cosine
   decay, weight decay 0.05 on weight matrices only (not on the rational coefficients, biases or norms),
   batch 128, `--steps` steps, no augmentation), `--seeds` seeds each; test accuracy mean and spread
   (min..max) and the training time of each model.

Parameter counts: at equal shapes the blocks differ only by the $2g(m + n + 1)$ rational coefficients
(160 per block for g = 8, m = 5, n = 4), stated in the table.
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from jaxrep.nn._grkan import GroupRational, KATBlock, TransformerBlock, group_rational
from jaxrep.train import fit


def count(model) -> int:
    return sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))


# --------------------------------------------------------------------------------------------------
# throughput


def _step_fn(module):
    params, static = eqx.partition(module, eqx.is_inexact_array)

    @jax.jit
    def step(params, x):
        def loss(params, x):
            return jnp.sum(jax.vmap(eqx.combine(params, static))(x) ** 2)

        return jax.grad(loss, argnums=(0, 1))(params, x)

    return lambda x: jax.block_until_ready(step(params, x))


def _activation_fns(block: KATBlock):
    rational = block.kan2.rational
    a, b = rational.numerator, rational.denominator

    @jax.jit
    def rat(a, b, h):
        return jax.grad(lambda a, b, h: jnp.sum(group_rational(h, a, b) ** 2), argnums=(0, 1, 2))(a, b, h)

    @jax.jit
    def gelu(h):
        return jax.grad(lambda h: jnp.sum(jax.nn.gelu(h, approximate=False) ** 2))(h)

    return (lambda h: jax.block_until_ready(rat(a, b, h))), (lambda h: jax.block_until_ready(gelu(h)))


def _time(fns: dict, args: dict, repeats: int):
    for name, f in fns.items():  # compile and warm up
        f(args[name])
        f(args[name])
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeats):  # interleaved: a slow spell of the machine hits every row alike
        for name, f in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            f(args[name])
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {k: (float(np.median(wall[k])), float(np.median(cpu[k]))) for k in fns}


def throughput(repeats: int):
    configs = [  # (dim, heads, tokens, batch)
        (64, 4, 16, 128),   # 16 tokens as in the digits model, twice its width
        (192, 3, 64, 32),   # KAT-T / ViT-T width
    ]
    print("## Throughput: one block, forward + backward (params and input), float32, jit\n")
    print("| dim | heads | tokens | batch | params KAT / MLP | KAT ms (wall / CPU) | MLP ms (wall / CPU) "
          "| KAT / MLP wall | KAT / MLP CPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    act_rows = []
    for dim, heads, tokens, batch in configs:
        key = jr.PRNGKey(0)
        kat, mlp = KATBlock(dim, heads, key=key), TransformerBlock(dim, heads, key=key)
        x = jr.normal(jr.PRNGKey(1), (batch, tokens, dim))
        h = jr.normal(jr.PRNGKey(2), (batch * tokens, 4 * dim))
        rat, gelu = _activation_fns(kat)
        fns = {"kat": _step_fn(kat), "mlp": _step_fn(mlp), "rational": rat, "gelu": gelu}
        res = _time(fns, {"kat": x, "mlp": x, "rational": h, "gelu": h}, repeats)
        (kw, kc), (mw, mc) = res["kat"], res["mlp"]
        print(f"| {dim} | {heads} | {tokens} | {batch} | {count(kat)} / {count(mlp)} | {1e3 * kw:.2f} / "
              f"{1e3 * kc:.2f} | {1e3 * mw:.2f} / {1e3 * mc:.2f} | {kw / mw:.2f} | {kc / mc:.2f} |")
        act_rows.append((batch * tokens, 4 * dim, res["rational"], res["gelu"]))
    print("\nThe activations alone (hidden pre-activations, forward + backward):\n")
    print("| shape | group rational ms (wall) | GELU ms (wall) | rational / GELU wall | rational / GELU CPU |")
    print("|---|---|---|---|---|")
    for n, width, (rw, rc), (gw, gc) in act_rows:
        print(f"| ({n}, {width}) | {1e3 * rw:.2f} | {1e3 * gw:.2f} | {rw / gw:.2f} | {rc / gc:.2f} |")
    print()


# --------------------------------------------------------------------------------------------------
# accuracy on 8x8 digits


class TinyViT(eqx.Module):
    """Patch embedding + learned positions -> blocks -> LayerNorm -> mean over tokens -> linear head."""

    embed: eqx.nn.Linear
    pos: jax.Array
    blocks: tuple
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(self, block_cls, tokens, patch_dim, dim, heads, depth, classes, *, key):
        k_embed, k_pos, k_head, *k_blocks = jr.split(key, 3 + depth)
        self.embed = eqx.nn.Linear(patch_dim, dim, key=k_embed)
        self.pos = 0.02 * jr.normal(k_pos, (tokens, dim))
        self.blocks = tuple(block_cls(dim, heads, key=k) for k in k_blocks)
        self.norm = eqx.nn.LayerNorm(dim)
        self.head = eqx.nn.Linear(dim, classes, key=k_head)

    def __call__(self, x):
        h = jax.vmap(self.embed)(x) + self.pos
        for block in self.blocks:
            h = block(h)
        return self.head(jnp.mean(jax.vmap(self.norm)(h), axis=0))


def digits_tokens(patch: int = 2):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images = d.images.astype(np.float32) / 16.0 * 2 - 1  # (n, 8, 8) in [-1, 1]
    n, p = len(images), patch
    tokens = images.reshape(n, 8 // p, p, 8 // p, p).transpose(0, 1, 3, 2, 4).reshape(n, (8 // p) ** 2, p * p)
    xtr, xte, ytr, yte = train_test_split(tokens, d.target, test_size=0.3, stratify=d.target, random_state=0)
    return jnp.asarray(xtr), jnp.asarray(xte), jnp.asarray(ytr), jnp.asarray(yte)


def _decay_mask(params):
    # Weight decay on weight matrices only: not on biases, norms, positions or rational coefficients
    # (decaying those pulls every activation towards F = 0).
    def leaf(node):
        if isinstance(node, GroupRational):
            return jax.tree_util.tree_map(lambda _: False, node)
        return node.ndim == 2

    mask = jax.tree_util.tree_map(leaf, params, is_leaf=lambda n: isinstance(n, GroupRational))
    return eqx.tree_at(lambda m: m.pos, mask, False)


def train_one(block_cls, data, steps: int, seed: int, dim: int, batch: int = 128):
    xtr, xte, ytr, yte = data
    key = jr.PRNGKey(seed)
    k_model, k_fit = jr.split(key)
    model = TinyViT(block_cls, xtr.shape[1], xtr.shape[2], dim, 4, 2, 10, key=k_model)

    def sample(key, step):
        idx = jr.randint(key, (batch,), 0, xtr.shape[0])
        return xtr[idx], ytr[idx]

    def loss_fn(model, batch, key):
        x, y = batch
        logits = jax.vmap(model)(x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y)), {}

    schedule = optax.warmup_cosine_decay_schedule(0.0, 2e-3, min(100, steps // 10), steps)
    opt = optax.adamw(schedule, weight_decay=0.05, mask=_decay_mask)
    t0, c0 = time.perf_counter(), time.process_time()
    model, _ = fit(model, loss_fn, sample, opt, steps=steps, key=k_fit, progress=False,
                   steps_per_call=min(steps, 250))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    acc = float(_accuracy(model, xte, yte))
    return acc, wall, cpu, count(model)


@eqx.filter_jit
def _accuracy(model, x, y):
    return jnp.mean(jnp.argmax(jax.vmap(model)(x), axis=-1) == y)


def accuracy(steps: int, seeds: int, dim: int):
    data = digits_tokens(2)
    print(f"## Accuracy: 8x8 digits as 16 tokens of 2x2 patches, tiny ViT (dim {dim}, 4 heads, 2 blocks, "
          f"mlp_ratio 4, GR-KAN groups 8), {steps} steps of batch 128, {seeds} seeds\n")
    results = {"KAT (GR-KAN)": [], "MLP (GELU)": []}
    for seed in range(seeds):  # interleaved: both models see the same machine load
        for name, cls in (("KAT (GR-KAN)", KATBlock), ("MLP (GELU)", TransformerBlock)):
            results[name].append(train_one(cls, data, steps, seed, dim))
            acc, wall, cpu, _ = results[name][-1]
            print(f"<!-- seed {seed} {name}: test accuracy {acc:.4f}, {wall:.1f} s wall, {cpu:.1f} s CPU -->")
    print()
    print("| model | params | test accuracy mean ± std (min..max) | train time wall (s, median) "
          "| train time CPU (s, median) |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        acc = np.array([r[0] for r in rows])
        wall = np.median([r[1] for r in rows])
        cpu = np.median([r[2] for r in rows])
        print(f"| {name} | {rows[0][3]} | {acc.mean():.4f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.4f} "
              f"({acc.min():.4f}..{acc.max():.4f}) | {wall:.1f} | {cpu:.1f} |")
    k = np.median([r[1] for r in results["KAT (GR-KAN)"]]) / np.median([r[1] for r in results["MLP (GELU)"]])
    print(f"\nKAT / MLP training time (wall, medians): {k:.2f}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dim", type=int, default=32, help="token width of the digits ViT")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; machine shared with other jobs: "
          "compare ratios, not absolute times\n")
    if not args.skip_throughput:
        throughput(args.repeats)
    if not args.skip_accuracy:
        accuracy(args.steps, args.seeds, args.dim)


if __name__ == "__main__":
    main()
