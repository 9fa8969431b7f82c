"""Spatial extrapolation: `train_box` validation, sampling inside the train box, held-out metrics."""

import math
import pathlib
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxrep import config
from jaxrep.pinn import EvalConfig, SamplingConfig, SolveConfig, evaluate, make_sampler, problems
from jaxrep.pinn._solve import compute_metrics

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "jaxrep" / "configs"
TWO_PI = 2 * math.pi
SAMPLING = SamplingConfig(n_residual=64, n_initial=32, n_boundary=32, n_koopman=32, n_offsets=2)


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, box, match",
    [
        ("heat", [[0.0, 0.5], [0.0, 1.0]], "one \\(lo, hi\\) pair per spatial dimension \\(1\\)"),
        ("heat2d", [[0.0, 0.5]], "one \\(lo, hi\\) pair per spatial dimension \\(2\\)"),
        ("heat", [[0.5, 0.5]], "train_box\\[0\\] must satisfy lo < hi"),
        ("heat", [[0.6, 0.2]], "train_box\\[0\\] must satisfy lo < hi"),
        ("heat2d", [[0.0, 0.5], [0.0, 1.5]], "train_box\\[1\\]=.*inside the box"),
        ("heat", [[-0.1, 0.5]], "train_box\\[0\\]=.*inside the box"),
        ("heat", (0.0, 0.5), "train_box must be None or a sequence of \\(lo, hi\\) pairs"),
        ("heat", [[0.0, "a"]], "train_box must be None or a sequence"),
        ("lorenz", [[0.0, 1.0]], "train_box must be None for an ODE"),
        ("seir", [], "train_box must be None for an ODE"),
    ],
)
def test_bad_train_box_names_the_field(name, box, match):
    with pytest.raises(ValueError, match=match):
        problems.get(name, train_box=box)


def test_train_box_is_converted_and_reaches_configs():
    p = problems.get("heat2d", train_box=[[0, 0.5], [0.25, 1]])
    assert p.train_box == ((0.0, 0.5), (0.25, 1.0))
    assert p.train_lower == (0.0, 0.25) and p.train_upper == (0.5, 1.0)
    hash(p)  # static metadata stays hashable (jit cache keys)
    assert problems.get("heat").train_box is None
    # 2*pi typed to 10 digits counts as the face, and the region is clamped to the box
    q = problems.get("advection", train_box=[[0.0, 6.2831853072]])
    assert q.train_upper == (TWO_PI,) and q.train_faces() == ((0, 0), (0, 1))
    # through a YAML config's problem.params (and dotted overrides)
    cfg = config.load(CONFIGS / "heat_spike_space.yaml")
    assert problems.get(cfg.problem.name, **cfg.problem.params).train_box == ((0.0, 0.75),)
    with pytest.raises(ValueError, match="train_box"):
        config.load(CONFIGS / "heat_spike_space.yaml", overrides=["problem.params.train_box=[[0.0, 2.0]]"])


@pytest.mark.parametrize(
    "name, box, faces",
    [
        ("heat", None, ((0, 0), (0, 1))),
        ("heat", [[0.0, 0.6]], ((0, 0),)),
        ("heat", [[0.3, 1.0]], ((0, 1),)),
        ("heat", [[0.2, 0.8]], ()),
        ("advection", [[0.0, 3.0]], ()),  # periodicity pairs x=0 with the held-out x=2*pi: dropped
        ("advection", [[0.0, TWO_PI]], ((0, 0), (0, 1))),
        ("heat2d", [[0.0, 0.5], [0.2, 1.0]], ((0, 0), (1, 1))),
        ("navier_stokes_2d", [[0.0, TWO_PI], [0.0, 3.0]], ((0, 0), (0, 1))),
    ],
)
def test_train_faces(name, box, faces):
    assert problems.get(name, train_box=box).train_faces() == faces


# --- sampling ---------------------------------------------------------------------------------------


def _sample_many(problem, n_keys=64, seed=0):
    # one jitted sampler called with many keys (compiling it under vmap is several times slower on CPU)
    sample = jax.jit(make_sampler(problem, SAMPLING, koopman=True))
    batches = [jax.device_get(sample(k, 0)) for k in jr.split(jr.PRNGKey(seed), n_keys)]
    return {k: np.stack([b[k] for b in batches]) for k in batches[0]}


@pytest.mark.parametrize(
    "name, box",
    [
        ("heat", [[0.0, 0.6]]),
        ("heat", [[0.2, 0.8]]),
        ("advection", [[1.0, 4.0]]),
        ("heat2d", [[0.0, 0.5], [0.2, 1.0]]),
        ("navier_stokes_2d", [[0.0, TWO_PI], [1.0, 3.0]]),
    ],
)
def test_sampler_stays_in_the_train_box(name, box):
    p = problems.get(name, train_box=box)
    b = _sample_many(p)
    lo = np.asarray(p.train_lower, np.float32)
    hi = np.asarray(p.train_upper, np.float32)
    for k in ("x_r", "x_0", "x_k"):
        x = b[k]
        assert x.shape[-1] == p.spatial_dim
        assert (x >= lo).all() and (x <= hi).all(), k
        # and they do fill the train box (not a degenerate corner of it)
        span = x.reshape(-1, p.spatial_dim)
        assert (span.max(0) - span.min(0) > 0.8 * (hi - lo)).all(), k
    t0, t1 = p.train_window
    assert (b["t_r"] >= t0).all() and (b["t_r"] <= t1).all()
    faces = p.train_faces()
    if not faces:
        assert "x_b" not in b
        return
    xb, dim, side = b["x_b"], b["dim_b"], b["side_b"]
    drawn = set(zip(dim.ravel().tolist(), side.ravel().tolist()))
    paired = p.boundary.pairs_faces
    assert {(d, 0 if paired else s) for d, s in drawn} == {(d, 0 if paired else s) for d, s in faces}
    face_value = np.where(side == 1, np.asarray(p.upper)[dim], np.asarray(p.lower)[dim])
    assert np.allclose(np.take_along_axis(xb, dim[..., None], -1)[..., 0], face_value)
    along = np.arange(p.spatial_dim) != dim[..., None]  # the other coordinates stay in the train box
    assert ((xb >= lo) | ~along).all() and ((xb <= hi) | ~along).all()


def _old_sampler(problem, cfg, *, koopman):
    """The sampler as it was before `train_box` (frozen copy): the default must not change."""

    def uniform_box(key, n):
        d = problem.spatial_dim
        lo = jnp.asarray(problem.lower, jnp.float32) if d else jnp.zeros((0,))
        hi = jnp.asarray(problem.upper, jnp.float32) if d else jnp.zeros((0,))
        return lo + (hi - lo) * jr.uniform(key, (n, d))

    def latin_hypercube(key, n, dim):
        k_perm, k_jit = jr.split(key)
        perms = jnp.stack([jr.permutation(k, n) for k in jr.split(k_perm, dim)], -1)
        return (perms + jr.uniform(k_jit, (n, dim))) / n

    t0, t_end = problem.train_window
    s_max = cfg.max_offset * (t_end - t0)
    d = problem.spatial_dim

    def sample(key, step):
        keys = jr.split(key, 8)
        u = latin_hypercube(keys[0], cfg.n_residual, d + 1)
        p = jnp.asarray(tuple(problem.lower) + (t0,), jnp.float32) + (
            jnp.asarray(tuple(problem.upper) + (t_end,), jnp.float32)
            - jnp.asarray(tuple(problem.lower) + (t0,), jnp.float32)) * u
        batch = {"x_r": p[:, :d], "t_r": p[:, d], "x_0": uniform_box(keys[2], cfg.n_initial)}
        if d:
            k1, k2, k3 = jr.split(keys[3], 3)
            x = uniform_box(k1, cfg.n_boundary)
            dim = jr.randint(k2, (cfg.n_boundary,), 0, d)
            side = jr.randint(k3, (cfg.n_boundary,), 0, 2)
            face = jnp.where(side[:, None] == 1, jnp.asarray(problem.upper, x.dtype),
                             jnp.asarray(problem.lower, x.dtype))
            x = jnp.where(jnp.arange(d)[None, :] == dim[:, None], face, x)
            batch.update(x_b=x, dim_b=dim, side_b=side,
                         t_b=jr.uniform(keys[4], (cfg.n_boundary,), minval=t0, maxval=t_end))
        if koopman:
            batch.update(x_k=uniform_box(keys[5], cfg.n_koopman),
                         t_k=jr.uniform(keys[6], (cfg.n_koopman,), minval=t0, maxval=t_end - s_max),
                         s_k=jr.uniform(keys[7], (cfg.n_offsets,), minval=0.0, maxval=s_max))
        return batch

    return sample


@pytest.mark.parametrize("name", ["heat", "advection", "heat2d", "lorenz"])
@pytest.mark.parametrize("koopman", [False, True])
def test_default_samples_are_bit_identical(name, koopman):
    p = problems.get(name)
    key = jr.PRNGKey(3)
    new = jax.device_get(make_sampler(p, SAMPLING, koopman=koopman)(key, 0))
    old = jax.device_get(_old_sampler(p, SAMPLING, koopman=koopman)(key, 0))
    assert new.keys() == old.keys()
    for k in old:
        assert new[k].dtype == old[k].dtype and np.array_equal(new[k], old[k]), k
    if p.spatial_dim:  # a train box equal to the whole box is the same as none
        whole = [list(b) for b in zip(p.lower, p.upper)]
        same = jax.device_get(make_sampler(problems.get(name, train_box=whole), SAMPLING, koopman=koopman)(key, 0))
        for k in old:
            assert np.array_equal(same[k], old[k]), k


# --- metrics ----------------------------------------------------------------------------------------


class _Known(eqx.Module):
    """A stand-in for a trained model: the reference plus `bump * (x - cut)_+^3` (zero for x <= cut,
    C^2, so exact on the train box [0, cut] and neither exact nor a PDE solution beyond it)."""

    problem: object
    cut: float
    bump: float
    has_koopman: ClassVar[bool] = False

    def u(self, x, t):
        return self.problem.reference(x, t) + self.bump * jnp.maximum(x[0] - self.cut, 0.0) ** 3


EVAL = SolveConfig(eval=EvalConfig(n_x=32, n_t=6))
BASE_KEYS = {"rel_l2_train_window", "residual_mse_train_window", "rel_l2_extrapolation",
             "residual_mse_extrapolation", "rel_l2_extrapolation_windows", "residual_mse_extrapolation_windows"}
SPACE_KEYS = {"rel_l2_train_box", "residual_mse_train_box", "rel_l2_space_extrapolation",
              "residual_mse_space_extrapolation"}
# baselines and PDEBench-style metrics, the same with or without a train box
OTHER_PREFIXES = ("rel_l2_extrapolation_persistence", "rel_l2_extrapolation_damped_persistence", "damping_rate",
                  "max_abs_error_", "nrmse_", "boundary_rmse_", "frmse_")


def _core(keys):
    return {k for k in keys if not k.startswith(OTHER_PREFIXES)}


def test_held_out_metrics_are_on_exactly_the_complement():
    cut = 0.6
    p = problems.get("heat", train_box=[[0.0, cut]])
    ev = evaluate(_Known(p, cut, 0.0), p, EVAL)
    xs = ev["xs"][:, 0]
    mask = ev["train_box_mask"]
    assert np.array_equal(mask, xs <= cut) and 0 < mask.sum() < len(xs)
    exact = compute_metrics(_Known(p, cut, 0.0), p, ev, {})
    assert _core(exact) == BASE_KEYS | SPACE_KEYS
    for k in SPACE_KEYS | {"rel_l2_train_window"}:
        assert exact[k] < 1e-5, (k, exact[k])

    model = _Known(p, cut, 5.0)
    ev = evaluate(model, p, EVAL)
    m = compute_metrics(model, p, ev, {})
    assert m["rel_l2_train_box"] < 1e-6 and m["residual_mse_train_box"] < 1e-6
    assert m["rel_l2_space_extrapolation"] > 1e-2 and m["residual_mse_space_extrapolation"] > 1e-3
    # recomputed by hand from the grid: the held-out region is x > cut, and only it
    w = ev["windows"][0]
    out = xs > cut
    err = np.linalg.norm(w["network"][:, out] - w["reference"][:, out]) / np.linalg.norm(w["reference"][:, out])
    assert np.isclose(m["rel_l2_space_extrapolation"], err, rtol=1e-5)
    # the whole-box metric keeps its meaning: it sees the held-out error too
    assert m["rel_l2_train_window"] > 1e-3


def test_train_box_mask_in_2d():
    p = problems.get("heat2d", train_box=[[0.0, 0.5], [0.25, 1.0]])
    xs = np.stack(np.meshgrid(np.linspace(0, 1, 9), np.linspace(0, 1, 9), indexing="ij"), -1).reshape(-1, 2)
    expect = (xs[:, 0] <= 0.5) & (xs[:, 1] >= 0.25)
    assert np.array_equal(p.in_train_box(xs.astype(np.float32)), expect)
    assert problems.get("heat2d").in_train_box(xs).all()


def test_default_metrics_keys_unchanged():
    p = problems.get("heat")
    ev = evaluate(_Known(p, 1.0, 0.0), p, EVAL)
    assert "train_box" not in ev and "train_box_mask" not in ev
    assert _core(compute_metrics(_Known(p, 1.0, 0.0), p, ev, {})) == BASE_KEYS


@pytest.mark.parametrize("box, has_boundary", [([[0.25, 0.75]], False), ([[0.0, 0.75]], True)])
def test_boundary_term_only_where_the_train_box_touches(box, has_boundary):
    # a train box touching no face drops the boundary term; the loss and its gradient stay finite
    from jaxrep.nn import ModelConfig
    from jaxrep.pinn import LossWeights, make_loss_fn
    from jaxrep.pinn._solve import make_model

    p = problems.get("heat", train_box=box)
    cfg = SolveConfig(model=ModelConfig(width_size=8, depth=1), sampling=SAMPLING)
    model = make_model(p, cfg, koopman=False, key=jr.PRNGKey(0))
    batch = make_sampler(p, SAMPLING, koopman=False)(jr.PRNGKey(1), 0)
    assert ("x_b" in batch) == has_boundary
    loss_fn = make_loss_fn(p, LossWeights(), koopman=False, sparse=False)
    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(loss_fn, has_aux=True))
    (loss, aux), grads = value_and_grad(model, batch, jr.PRNGKey(2))
    assert ("boundary" in aux) == has_boundary
    assert np.isfinite(float(loss))
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_array)))
