r"""`task: interpolant_image` — a stochastic-interpolant generative model of images with a U-Net field.

A one-sided interpolant from a Gaussian base, $x_t=\alpha(t)x_0+\beta(t)x_1$ with $x_0\sim\mathcal N(0,I)$
(`linear`: $\alpha=1-t$, $\beta=t$; `trig`: $\alpha=\cos\frac{\pi t}2$, $\beta=\sin\frac{\pi t}2$), learns the
velocity $b(t,x[,y])$ of images $x_1$ through `jaxrep.train.fit`, optionally conditioned on the class $y$.
The field is a `UNet` seen as a vector field by `ImageField` (images flattened row-major, channels first).

Data: scikit-learn's 8x8 handwritten digits (`dataset: digits`, 1797 images, 17 grey levels 0..16, ten
classes; shipped with scikit-learn, no download), or any `dataset: npz` file holding integer images
`x (n, h, w)` or `(n, c, h, w)` with values in `[0, data.levels)` and labels `y (n,)` (e.g. MNIST at
28x28, `levels: 256`). Images are uniformly dequantised to $[-1,1)$ afresh in every training step,
$x=2(v+u)/K-1$, $u\sim U[0,1)$, and split once into train and held-out test images (stratified by class).

Metrics (no download):

- `nll_bpd`: the negative log-likelihood of held-out dequantised test images in bits per dimension,
  $\mathrm{bpd}=-\overline{\ln p(x)}/(D\ln2)+\log_2(K/2)$ (`jaxrep.interpolants.bits_per_dim`), with
  $\ln p$ from the probability-flow ODE and the exact divergence (or Hutchinson's estimate with
  `eval.hutchinson_probes`); an upper bound on the discrete code length, to compare with
  `nll_bpd_uniform` $=\log_2K$ (4.087 for 17 levels). Class-conditional models report $\ln p(x\mid y)$
  with the true labels.
- `classifier_real_acc`: the test accuracy of a small MLP classifier, trained once by the task (through
  `fit`) on the dequantised training images.
- `generated_class_acc`: class-conditional models only, the fraction of generated images (per requested
  class and on average) that this classifier assigns to the requested class. Unconditional models
  report the classifier's class histogram of the generated images instead.

Figures: `samples.png` (real test images and generated images, one row per class) and `loss.png`.
"""

from __future__ import annotations

import math
import pathlib
import time
from dataclasses import dataclass, field
from typing import Literal, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from .. import interpolants as ji
from ..config import TrainConfig
from ..nn import MLP
from ..nn import UNet
from ..train import fit
from ._common import save_figure, train

# name -> (channels, height, width, grey levels, classes) of the built-in datasets
_BUILTIN = {"digits": (1, 8, 8, 17, 10)}


@dataclass(frozen=True)
class DataConfig:
    """The images: `dataset` `digits` (sklearn 8x8, 17 levels) or `npz` (a file at `path` holding
    `x` integer images `(n, h, w)`/`(n, c, h, w)` in `[0, levels)` and labels `y (n,)`)."""

    dataset: Literal["digits", "npz"] = "digits"
    path: Optional[str] = None
    levels: int = 256  # grey levels of an npz dataset (digits: 17)
    test_fraction: float = 0.2
    split_seed: int = 0

    def __post_init__(self):
        if self.dataset == "npz" and not self.path:
            raise ValueError("data.path must name an .npz file for data.dataset='npz'")
        if self.dataset != "npz" and self.path is not None:
            raise ValueError(f"data.path is read for data.dataset='npz' only, got dataset={self.dataset!r}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"data.test_fraction must lie in (0, 1), got {self.test_fraction}")
        if self.levels < 2:
            raise ValueError(f"data.levels must be >= 2, got {self.levels}")


@dataclass(frozen=True)
class InterpolantConfig:
    """The one-sided path from $\\mathcal N(0, I)$: `linear` ($x_t=(1-t)x_0+tx_1$) or `trig`."""

    kind: Literal["linear", "trig"] = "linear"


@dataclass(frozen=True)
class UNetConfig:
    """The `UNet`: level widths `hidden_channels * channel_mults`; the image side must be divisible by
    `2**(len(channel_mults) - 1)`; `groups` must divide every width."""

    hidden_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2)
    num_res_blocks: int = 1
    groups: int = 8
    emb_dim: Optional[int] = None

    def __post_init__(self):
        if self.hidden_channels < 1:
            raise ValueError(f"model.hidden_channels must be >= 1, got {self.hidden_channels}")
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(f"model.channel_mults must be a non-empty list of integers >= 1, "
                             f"got {list(self.channel_mults)}")
        if self.num_res_blocks < 1:
            raise ValueError(f"model.num_res_blocks must be >= 1, got {self.num_res_blocks}")
        if self.groups < 1:
            raise ValueError(f"model.groups must be >= 1, got {self.groups}")
        bad = [self.hidden_channels * m for m in self.channel_mults if (self.hidden_channels * m) % self.groups]
        if bad:
            raise ValueError(f"model.groups={self.groups} must divide every level width "
                             f"hidden_channels*channel_mults, fails for {bad}")
        if self.emb_dim is not None and (self.emb_dim < 4 or self.emb_dim % 2):
            raise ValueError(f"model.emb_dim must be an even integer >= 4 or null, got {self.emb_dim}")


@dataclass(frozen=True)
class FieldsConfig:
    """`class_conditional`: learn $b(t,x,y)$; `label_dropout`: the probability of training on the
    "no label" class instead (needed for classifier-free guidance, `sample.guidance > 0`)."""

    class_conditional: bool = True
    label_dropout: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.label_dropout < 1.0:
            raise ValueError(f"fields.label_dropout must lie in [0, 1), got {self.label_dropout}")


@dataclass(frozen=True)
class ClassifierConfig:
    """The MLP classifier behind the accuracy metrics (trained once per run through `fit`)."""

    width_size: int = 128
    depth: int = 2
    steps: int = 1500
    learning_rate: float = 1e-3
    batch_size: int = 256

    def __post_init__(self):
        for name in ("width_size", "depth", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"classifier.{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"classifier.learning_rate must be > 0, got {self.learning_rate}")


@dataclass(frozen=True)
class SampleConfig:
    """Generation (probability-flow ODE) and likelihood evaluation.

    `solver`/`steps`: the ODE solver of the generated images (`steps: null`: adaptive at `rtol`/`atol`);
    `per_class`: images generated per class (unconditional: `per_class * classes` in all);
    `classes`: the classes to generate (default all); `guidance`: classifier-free guidance weight;
    `n_nll`: held-out images for the NLL (0: skip); `nll_rtol`/`nll_atol`: tolerances of its adaptive
    solve (Tsit5), or `nll_steps`: fixed Heun steps instead; `hutchinson_probes`: null for the exact divergence, else the number of Rademacher probes."""

    solver: Literal["tsit5", "dopri5", "heun", "euler"] = "heun"
    steps: Optional[int] = 32
    rtol: float = 1e-3
    atol: float = 1e-3
    per_class: int = 40
    classes: Optional[tuple[int, ...]] = None
    guidance: float = 0.0
    n_nll: int = 32
    nll_rtol: float = 1e-3
    nll_atol: float = 1e-3
    nll_steps: Optional[int] = None
    hutchinson_probes: Optional[int] = None
    grid_columns: int = 10

    def __post_init__(self):
        for name in ("steps", "nll_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"sample.{name} must be >= 1 or null (adaptive), got {getattr(self, name)}")
        for name in ("rtol", "atol", "nll_rtol", "nll_atol"):
            if not getattr(self, name) > 0:
                raise ValueError(f"sample.{name} must be > 0, got {getattr(self, name)}")
        if self.per_class < 1:
            raise ValueError(f"sample.per_class must be >= 1, got {self.per_class}")
        if self.n_nll < 0:
            raise ValueError(f"sample.n_nll must be >= 0, got {self.n_nll}")
        if self.guidance < 0:
            raise ValueError(f"sample.guidance must be >= 0, got {self.guidance}")
        if self.hutchinson_probes is not None and self.hutchinson_probes < 1:
            raise ValueError(f"sample.hutchinson_probes must be >= 1 or null (exact), got {self.hutchinson_probes}")
        if self.grid_columns < 1:
            raise ValueError(f"sample.grid_columns must be >= 1, got {self.grid_columns}")


@dataclass(frozen=True)
class Config:
    task: str = "interpolant_image"
    data: DataConfig = field(default_factory=DataConfig)
    interpolant: InterpolantConfig = field(default_factory=InterpolantConfig)
    model: UNetConfig = field(default_factory=UNetConfig)
    fields: FieldsConfig = field(default_factory=FieldsConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=400, learning_rate=2e-3, batch_size=64,
                                                                    schedule="cosine", warmup_steps=100))
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def __post_init__(self):
        if self.data.dataset in _BUILTIN:
            _, h, w, _, k = _BUILTIN[self.data.dataset]
            _check_image_size(h, w, self.model)
            _check_classes(self.sample.classes, k)
        if self.sample.guidance > 0 and not (self.fields.class_conditional and self.fields.label_dropout > 0):
            raise ValueError("sample.guidance > 0 needs fields.class_conditional=true and fields.label_dropout > 0 "
                             "(the unconditional field of classifier-free guidance)")


def _check_image_size(h: int, w: int, model: UNetConfig) -> None:
    factor = 2 ** (len(model.channel_mults) - 1)
    if h % factor or w % factor:
        raise ValueError(f"model.channel_mults has {len(model.channel_mults)} levels, so the image side must be "
                         f"divisible by 2**{len(model.channel_mults) - 1}={factor}; the images are {h}x{w}")


def _check_classes(classes, k: int) -> None:
    if classes is not None and (not classes or any(c < 0 or c >= k for c in classes)):
        raise ValueError(f"sample.classes must be a non-empty list of labels in [0, {k}), got {list(classes)}")


# --------------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class Images:
    """Integer images `(n, c, h, w)` in `[0, levels)`, labels `(n,)`, split into train and test."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    levels: int
    num_classes: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    @property
    def dim(self) -> int:
        return int(np.prod(self.shape))


def load_images(cfg: DataConfig) -> Images:
    """Read the dataset and split it once (stratified by class, seed `split_seed`)."""
    if cfg.dataset == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("data.dataset='digits' needs scikit-learn: pip install 'jaxrep[images]'") from e
        d = load_digits()
        x = d.images.astype(np.int32)[:, None]  # (1797, 1, 8, 8), values 0..16
        y = d.target.astype(np.int32)
        levels = _BUILTIN["digits"][3]
    else:
        path = pathlib.Path(cfg.path)
        if not path.exists():
            raise ValueError(f"data.path={cfg.path!r} does not exist")
        with np.load(path) as f:
            if "x" not in f or "y" not in f:
                raise ValueError(f"data.path={cfg.path!r} must hold arrays 'x' (images) and 'y' (labels), "
                                 f"found {sorted(f.files)}")
            x, y = np.asarray(f["x"]), np.asarray(f["y"]).astype(np.int32)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or y.shape != (x.shape[0],):
            raise ValueError(f"data.path: x must be (n, h, w) or (n, c, h, w) and y (n,), got x {x.shape}, y {y.shape}")
        if not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() >= cfg.levels:
            raise ValueError(f"data.path: x must hold integers in [0, data.levels={cfg.levels}), got "
                             f"{x.dtype} in [{x.min()}, {x.max()}]")
        x = x.astype(np.int32)
        levels = cfg.levels
    rng = np.random.default_rng(cfg.split_seed)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):  # stratified split
        idx = np.flatnonzero(y == c)
        test[rng.permutation(idx)[: round(cfg.test_fraction * len(idx))]] = True
    num_classes = int(y.max()) + 1
    return Images(x[~test], y[~test], x[test], y[test], levels, num_classes)


def to_continuous(v, levels: int, *, key, dtype=jnp.float32):
    """Flattened uniformly dequantised images in [-1, 1): `(n, c, h, w)` integers -> `(n, c*h*w)`."""
    v = jnp.asarray(v).reshape(len(v), -1)
    return ji.dequantize(v, levels, key=key, dtype=dtype)


# --------------------------------------------------------------------------------------------------
# model, loss


def make_interpolant(cfg: InterpolantConfig) -> ji.Interpolant:
    return ji.one_sided(cfg.kind)


def build_field(cfg: Config, images: Images, *, key) -> ji.ImageField:
    c, h, w = images.shape
    _check_image_size(h, w, cfg.model)
    m = cfg.model
    net = UNet(c, c, hidden_channels=m.hidden_channels, channel_mults=tuple(m.channel_mults),
               num_res_blocks=m.num_res_blocks, num_classes=images.num_classes if cfg.fields.class_conditional
               else None, emb_dim=m.emb_dim, groups=m.groups, key=key)
    return ji.ImageField(net, (c, h, w))


def make_loss(cfg: Config, I: ji.Interpolant, num_classes: int):
    conditional = cfg.fields.class_conditional
    p_drop = cfg.fields.label_dropout

    def loss_fn(b, batch, key):
        x0, x1, y = batch
        if not conditional:
            return ji.velocity_loss(b, I, x0, x1, key=key), {}
        k_drop, k_loss = jr.split(key)
        if p_drop > 0:  # the "no label" row num_classes trains the unconditional field
            y = jnp.where(jr.uniform(k_drop, y.shape) < p_drop, num_classes, y)
        keys = jr.split(k_loss, x0.shape[0])
        per = jax.vmap(lambda a, c, lab, k: ji.velocity_loss(ji.condition(b, lab), I, a, c, key=k))(x0, x1, y, keys)
        return jnp.mean(per), {}

    return loss_fn


def make_sampler(images: Images, batch_size: int):
    x_all = jnp.asarray(images.train_x.reshape(len(images.train_x), -1))
    y_all = jnp.asarray(images.train_y)
    levels = images.levels

    def data(key, step):
        k_idx, k_deq, k0 = jr.split(key, 3)
        idx = jr.randint(k_idx, (batch_size,), 0, x_all.shape[0])
        x1 = ji.dequantize(x_all[idx], levels, key=k_deq, dtype=jnp.float32)
        x0 = jr.normal(k0, x1.shape, dtype=jnp.float32)
        return x0, x1, y_all[idx]

    return data


# --------------------------------------------------------------------------------------------------
# classifier


def train_classifier(cfg: ClassifierConfig, images: Images, *, key):
    """An MLP on dequantised images, trained through `fit`; returns it and its held-out accuracy."""
    k_model, k_fit, k_test = jr.split(key, 3)
    net = MLP(images.dim, images.num_classes, cfg.width_size, cfg.depth, jax.nn.relu, key=k_model)
    x_all = jnp.asarray(images.train_x.reshape(len(images.train_x), -1))
    y_all = jnp.asarray(images.train_y)
    levels, n = images.levels, cfg.batch_size

    def data(key, step):
        k_idx, k_deq = jr.split(key)
        idx = jr.randint(k_idx, (n,), 0, x_all.shape[0])
        return ji.dequantize(x_all[idx], levels, key=k_deq, dtype=jnp.float32), y_all[idx]

    def loss_fn(net, batch, key):
        x, y = batch
        logits = jax.vmap(net)(x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y)), {}

    net, _ = fit(net, loss_fn, data, optax.adamw(cfg.learning_rate, weight_decay=1e-4), steps=cfg.steps,
                 key=k_fit, progress=False, steps_per_call=min(cfg.steps, 250), desc="classifier")
    x_test = to_continuous(images.test_x, levels, key=k_test)
    acc = float(jnp.mean(predict(net, x_test) == jnp.asarray(images.test_y)))
    return net, acc


@eqx.filter_jit
def predict(net, x):
    return jnp.argmax(jax.vmap(net)(x), axis=-1)


# --------------------------------------------------------------------------------------------------
# sampling and likelihood

_SOLVERS = {"tsit5": "Tsit5", "dopri5": "Dopri5", "heun": "Heun", "euler": "Euler"}  # diffrax class names


def _solver(name: str):
    import diffrax  # imported when first used: `import jaxrep` stays light

    return getattr(diffrax, _SOLVERS[name])()


def generate(cfg: Config, b, I, x0, label=None):
    """Images at t = 1 from base points `x0 (n, d)`, for class `label` (None: unconditional)."""
    s = cfg.sample
    field_ = b if label is None else ji.condition(b, label, s.guidance if s.guidance > 0 else None)
    return ji.sample(field_, x0, I, solver=_solver(s.solver), steps=s.steps, rtol=s.rtol, atol=s.atol)


def nll_bits_per_dim(cfg: Config, b, I, images: Images, *, key) -> tuple[float, float]:
    """Mean and standard error of the held-out bits/dim (exact divergence or Hutchinson)."""
    s = cfg.sample
    k_deq, k_h = jr.split(key)
    n = min(s.n_nll, len(images.test_x))
    x = to_continuous(images.test_x[:n], images.levels, key=k_deq)
    y = jnp.asarray(images.test_y[:n])
    opts = dict(rtol=s.nll_rtol, atol=s.nll_atol, hutchinson_probes=s.hutchinson_probes, steps=s.nll_steps,
                solver=_solver("tsit5" if s.nll_steps is None else "heun"))

    @eqx.filter_jit
    def logp(b, x, y, keys):
        if not cfg.fields.class_conditional:
            return jax.vmap(lambda x, k: ji.log_likelihood(b, x, I, key=k, **opts))(x, keys)
        return jax.vmap(lambda x, y, k: ji.log_likelihood(ji.condition(b, y), x, I, key=k, **opts))(x, y, keys)

    lp = np.asarray(logp(b, x, y, jr.split(k_h, n)))
    bpd = np.asarray([float(ji.bits_per_dim(v, images.dim, images.levels)) for v in lp])
    return float(bpd.mean()), float(bpd.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")


# --------------------------------------------------------------------------------------------------
# run


def run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    wall_start = time.perf_counter()
    images = load_images(cfg.data)
    _check_classes(cfg.sample.classes, images.num_classes)
    key = jr.PRNGKey(cfg.train.seed)
    k_model, k_train, k_clf, k_gen, k_nll = jr.split(key, 5)
    I = make_interpolant(cfg.interpolant)
    b = build_field(cfg, images, key=k_model)
    t0 = time.perf_counter()
    b, history = train(b, make_loss(cfg, I, images.num_classes), make_sampler(images, cfg.train.batch_size),
                       cfg.train, run_dir, key=k_train, resume=resume, progress=progress, desc="interpolant_image")
    train_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    clf, real_acc = train_classifier(cfg.classifier, images, key=k_clf)
    classifier_seconds = time.perf_counter() - t0

    s = cfg.sample
    classes = list(s.classes) if s.classes is not None else list(range(images.num_classes))
    t0 = time.perf_counter()
    if cfg.fields.class_conditional:
        gen = eqx.filter_jit(lambda b, x0, y: generate(cfg, b, I, x0, y))
        samples, per_class_acc = [], []
        for c in classes:
            x0 = jr.normal(jr.fold_in(k_gen, c), (s.per_class, images.dim), dtype=jnp.float32)
            xs = gen(b, x0, jnp.asarray(c, jnp.int32))
            samples.append(np.asarray(xs))
            per_class_acc.append(float(jnp.mean(predict(clf, xs) == c)))
        rows = samples
        gen_stats = {"generated_class_acc": float(np.mean(per_class_acc)),
                     "generated_class_acc_per_class": {str(c): a for c, a in zip(classes, per_class_acc)}}
    else:
        x0 = jr.normal(k_gen, (s.per_class * len(classes), images.dim), dtype=jnp.float32)
        xs = eqx.filter_jit(lambda b, x0: generate(cfg, b, I, x0))(b, x0)
        pred = np.asarray(predict(clf, xs))
        xs = np.asarray(xs)
        rows = [xs[pred == c] for c in classes]  # rows = the classifier's verdict
        hist = np.bincount(pred, minlength=images.num_classes) / len(pred)
        gen_stats = {"generated_class_acc": None,
                     "generated_class_histogram": {str(c): float(h) for c, h in enumerate(hist)}}
    sample_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    if s.n_nll > 0:
        bpd, bpd_se = nll_bits_per_dim(cfg, b, I, images, key=k_nll)
    else:
        bpd, bpd_se = None, None
    nll_seconds = time.perf_counter() - t0

    _figures(cfg, images, rows, classes, history, run_dir)
    n_params = sum(int(a.size) for a in jax.tree_util.tree_leaves(eqx.filter(b, eqx.is_array)))
    return {
        "nll_bpd": bpd,
        "nll_bpd_stderr": bpd_se,
        "nll_bpd_uniform": math.log2(images.levels),
        "nll_divergence": "exact" if s.hutchinson_probes is None else f"hutchinson({s.hutchinson_probes})",
        "classifier_real_acc": real_acc,
        **gen_stats,
        "final_loss": float(history["loss"][-1]),
        "n_params": n_params,
        "train_seconds": train_seconds,
        "classifier_seconds": classifier_seconds,
        "sample_seconds": sample_seconds,
        "nll_seconds": nll_seconds,
        "wall_seconds": time.perf_counter() - wall_start,
    }


def _figures(cfg, images: Images, rows, classes, history, run_dir):
    from .. import plot

    real = [(images.test_x[images.test_y == c].reshape(-1, images.dim) + 0.5) / images.levels * 2 - 1
            for c in classes]
    title = "generated (rows: class)" if cfg.fields.class_conditional else "generated (rows: classifier's class)"
    fig = plot.image_samples([real, rows], images.shape, titles=("held-out data", title), row_labels=classes,
                             columns=cfg.sample.grid_columns)
    save_figure(fig, run_dir, "samples")
    # The velocity loss E[|b|^2/2 - b . dx_t/dt] is negative at its minimum: a linear axis, not a log one.
    fig = plot.loss_curve(history, keys=["loss"], yscale="linear", ylabel="velocity loss",
                          title="training (interpolant_image)")
    save_figure(fig, run_dir, "loss")
