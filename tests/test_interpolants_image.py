"""Image interpolants: ImageField / condition, dequantisation and bits/dim against closed forms, the
`interpolant_image` task end to end (tiny) and its config errors.

Closed form: with $x_0\\sim N(0,I)$ and data $x_1\\sim N(m,\\mathrm{diag}(s^2))$, the one-sided interpolant
$x_t=\\alpha x_0+\\beta x_1$ has the exact velocity (per pixel)
$b(t,x)=\\dot\\beta m+\\frac{\\alpha\\dot\\alpha+\\beta\\dot\\beta s^2}{\\alpha^2+\\beta^2s^2}(x-\\beta m)$, so the
probability-flow likelihood is the Gaussian log-density and bits/dim has a closed form.
"""

import json
import math
import pathlib

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.stats

import jaxrep.interpolants as ji
from jaxrep import config as jconfig

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "jaxrep" / "configs" / "interpolant_digits.yaml"
SHAPE = (1, 4, 4)


def gaussian_image_field(I, m, s):
    """The exact velocity as an image network net(t, image) for ImageField."""

    def net(t, img):
        a, b, _ = I.coefficients(t)
        da, db, _ = I.derivatives(t)
        return db * m + (a * da + b * db * s**2) / (a**2 + b**2 * s**2) * (img - b * m)

    return ji.ImageField(net, SHAPE)


# The trig path runs the same likelihood code with other schedules: `make test-all` runs it.
@pytest.mark.parametrize("kind", ["linear", pytest.param("trig", marks=pytest.mark.slow)])
def test_bits_per_dim_of_exact_gaussian_field(kind, x64, getkey):
    """log_likelihood through ImageField = Gaussian log-density; bits/dim = its closed form; and for this
    diagonal Jacobian a single Rademacher Hutchinson probe is exact (v_i^2 = 1)."""
    I = ji.one_sided(kind)
    d = int(np.prod(SHAPE))
    m = jnp.asarray(np.linspace(-0.5, 0.5, d).reshape(SHAPE))
    s = jnp.asarray(np.linspace(0.2, 0.6, d).reshape(SHAPE))
    b = gaussian_image_field(I, m, s)
    x = (m + s * jr.normal(getkey(), (6,) + SHAPE, dtype=jnp.float64)).reshape(6, d)
    exact = scipy.stats.norm.logpdf(np.asarray(x), np.asarray(m).ravel(), np.asarray(s).ravel()).sum(-1)
    lp = ji.log_likelihood(b, x, I, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lp, exact, atol=1e-5)
    lph = ji.log_likelihood(b, x, I, hutchinson_probes=1, rtol=1e-9, atol=1e-9, key=getkey())
    np.testing.assert_allclose(lph, exact, atol=1e-5)
    levels = 17
    bpd = float(ji.bits_per_dim(lp, d, levels))
    assert bpd == pytest.approx(-exact.mean() / (d * math.log(2)) + math.log2(levels / 2), abs=1e-6)


def test_bits_per_dim_equals_discrete_entropy_for_cellwise_constant_density():
    """Jensen's bound is tight for a density that is constant on each dequantisation cell: the bits/dim of
    p(x) = P(v) / Delta is the discrete entropy, whatever the data range."""
    counts = np.array([1, 2, 3, 2])  # P(v) = counts / 8 over K = 4 levels
    p = counts / counts.sum()
    for lo, hi in ((-1.0, 1.0), (0.0, 256.0)):
        delta = (hi - lo) / len(p)
        logp = np.repeat(np.log(p / delta), counts)  # one row per equally weighted sample
        entropy = -(p * np.log2(p)).sum()
        assert float(ji.bits_per_dim(logp, 1, len(p), (lo, hi))) == pytest.approx(entropy, rel=1e-6)
    # the uniform density on [-1, 1]^D scores log2 K
    assert float(ji.bits_per_dim(-64 * math.log(2.0), 64, 17)) == pytest.approx(math.log2(17), rel=1e-6)


def test_dequantize_lands_in_the_right_cell(getkey):
    v = jnp.arange(17).repeat(50)
    x = ji.dequantize(v, 17, key=getkey())
    assert float(x.min()) >= -1.0 and float(x.max()) < 1.0
    np.testing.assert_array_equal(np.floor((np.asarray(x) + 1) / 2 * 17).astype(int), np.asarray(v))
    within = (np.asarray(x) + 1) / 2 * 17 - np.asarray(v)  # u ~ U[0, 1)
    assert 0.4 < within.mean() < 0.6


def test_image_field_and_condition(getkey):
    """ImageField = vec(net(unvec)); condition(b, y) = b(., ., y); guidance = (1+w) b_y - w b_none."""
    w = jr.normal(getkey(), SHAPE)

    def net(t, img, label=None):
        shift = 0.0 if label is None else 0.1 * (label + 1)
        return jnp.sin(w * img) * (1 + t) + shift

    b = ji.ImageField(net, SHAPE)
    x = jr.normal(getkey(), (16,))
    np.testing.assert_allclose(b(0.3, x), net(0.3, x.reshape(SHAPE)).ravel())
    np.testing.assert_allclose(b(0.3, x, 2), net(0.3, x.reshape(SHAPE), 2).ravel())
    np.testing.assert_allclose(ji.condition(b, 2)(0.3, x), b(0.3, x, 2))
    guided = ji.condition(b, 2, guidance=1.5)(0.3, x)
    np.testing.assert_allclose(guided, 2.5 * b(0.3, x, 2) - 1.5 * b(0.3, x), rtol=1e-6)
    # a conditioned field vmaps over its labels like any pytree
    ys = jnp.array([0, 1, 2])
    out = jax.vmap(lambda y: ji.condition(b, y)(0.3, x))(ys)
    np.testing.assert_allclose(out[1], b(0.3, x, 1))
    with pytest.raises(ValueError, match=r"ImageField expects one flattened image x of shape \(16,\)"):
        b(0.3, jnp.zeros((2, 16)))
    with pytest.raises(ValueError, match="label must be a scalar"):
        ji.condition(b, jnp.array([1, 2]))
    with pytest.raises(ValueError, match="shape must be"):
        ji.ImageField(net, (4, 4))


def test_bits_per_dim_bad_input():
    with pytest.raises(ValueError, match="levels must be an integer >= 2"):
        ji.bits_per_dim(0.0, 64, 1)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        ji.bits_per_dim(0.0, 0, 17)
    with pytest.raises(ValueError, match="data_range must satisfy lo < hi"):
        ji.bits_per_dim(0.0, 64, 17, (1.0, -1.0))


TINY = [
    "train.steps=20", "train.steps_per_call=20", "train.checkpoint_every=20", "train.log_every=10",
    "train.warmup_steps=0", "model.hidden_channels=4", "model.groups=2", "model.channel_mults=[1]",
    "classifier.steps=200", "classifier.width_size=32", "classifier.depth=1", "sample.per_class=4",
    "sample.n_nll=4", "sample.nll_steps=2", "sample.hutchinson_probes=1", "sample.steps=2", "sample.solver=euler", "sample.classes=[0, 1, 7]",
]


def test_task_end_to_end_tiny(tmp_path):
    from jaxrep._tasks import interpolant_image

    cfg = jconfig.load(CONFIG, overrides=TINY)
    summary = interpolant_image.run(cfg, tmp_path, resume=False, progress=False)
    json.dumps(summary)
    # the classifier is real: 8x8 digits are ~95% separable by a small MLP
    assert summary["classifier_real_acc"] > 0.8
    assert set(summary["generated_class_acc_per_class"]) == {"0", "1", "7"}
    assert 0.0 <= summary["generated_class_acc"] <= 1.0
    assert summary["nll_bpd_uniform"] == pytest.approx(math.log2(17))
    # an upper bound on the code length: an untrained model cannot beat the entropy of the digits by much
    assert math.isfinite(summary["nll_bpd"]) and summary["nll_bpd"] > 1.0
    for name in ("samples", "loss"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    assert (tmp_path / "metrics.jsonl").exists() and (tmp_path / "checkpoints").exists()
    assert summary["wall_seconds"] > 0


@pytest.mark.parametrize("override,match", [
    ("data.dataset=mnist", r"data.dataset: expected one of \['digits', 'npz'\]"),
    ("model.channel_mults=[1, 2, 2, 2, 2]", (r"model.channel_mults has 5 levels, so the image side must be "
                                             r"divisible by 2\*\*4=16; the images are 8x8")),
    ("model.hidden_channels=0", "model.hidden_channels must be >= 1"),
    ("model.groups=3", "model.groups=3 must divide"),
    ("sample.classes=[3, 12]", r"sample.classes must be a non-empty list of labels in \[0, 10\)"),
    ("sample.guidance=1.0", "sample.guidance > 0 needs"),
    ("data.dataset=npz", "data.path must name an .npz file"),
])
def test_config_errors(override, match):
    with pytest.raises(ValueError, match=match) as info:
        jconfig.load(CONFIG, overrides=[override])
    assert "\n" not in str(info.value)
