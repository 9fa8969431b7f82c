"""2-D toy distributions: samples agree with their exact log-densities (normalisation, probabilities)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxrep.data as jd


def _grid(lim, h):
    c = np.arange(-lim + h / 2, lim, h)
    X, Y = np.meshgrid(c, c, indexing="ij")
    return jnp.asarray(np.stack([X.ravel(), Y.ravel()], -1), jnp.float32), h * h


def test_checkerboard_density_and_entropy(getkey):
    board = jd.Checkerboard()
    assert math.isclose(board.entropy, math.log(32.0))
    x = board.sample(20_000, key=getkey())
    assert x.shape == (20_000, 2)
    lp = jax.vmap(board.log_prob)(x)
    np.testing.assert_allclose(lp, -math.log(32.0), rtol=1e-6)  # every sample is in the support
    assert float(jnp.abs(x).max()) <= 4.0
    # normalised: midpoint rule is exact for a density that is constant on grid-aligned cells
    pts, area = _grid(4.0, 0.05)
    mass = float(jnp.sum(jnp.exp(jax.vmap(board.log_prob)(pts))) * area)
    np.testing.assert_allclose(mass, 1.0, atol=1e-4)
    # the 8 cells are equally likely; the 8 others are empty
    cells = np.floor(np.asarray(x) / 2.0 + 2.0).astype(int)
    counts = np.zeros((4, 4))
    np.add.at(counts, (cells[:, 0], cells[:, 1]), 1)
    black = (np.add.outer(np.arange(4), np.arange(4)) % 2) == 0
    assert counts[~black].sum() == 0
    assert stats.chisquare(counts[black]).pvalue > 1e-3
    assert jnp.isneginf(board.log_prob(jnp.array([1.0, -1.0])))  # a white cell (i + j odd)
    assert jnp.isneginf(board.log_prob(jnp.array([4.5, 0.5])))


def test_eight_gaussians_log_prob_matches_scipy(getkey):
    dist = jd.EightGaussians(radius=2.0, std=0.3)
    x = dist.sample(500, key=getkey())
    centers = np.asarray(dist.centers())
    ref = np.log(np.mean([stats.multivariate_normal(c, 0.09 * np.eye(2)).pdf(np.asarray(x)) for c in centers], 0))
    np.testing.assert_allclose(jax.vmap(dist.log_prob)(x), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2.0, rtol=1e-6)


def test_rings_density_normalised_and_matches_samples(getkey):
    dist = jd.Rings(radii=(1.0, 2.0), std=0.15)
    pts, area = _grid(3.0, 0.02)
    dens = np.asarray(jnp.exp(jax.vmap(dist.log_prob)(pts)))
    np.testing.assert_allclose(dens.sum() * area, 1.0, atol=2e-3)
    # P(|x| < 1.5) from the density equals the sample frequency
    inner = np.linalg.norm(np.asarray(pts), axis=1) < 1.5
    p_inner = dens[inner].sum() * area
    x = np.asarray(dist.sample(20_000, key=getkey()))
    freq = np.mean(np.linalg.norm(x, axis=1) < 1.5)
    assert abs(p_inner - freq) < 4 * math.sqrt(0.25 / 20_000) + 2e-3, (p_inner, freq)
    assert abs(p_inner - 0.5) < 0.01  # each ring carries half of the mass


def test_gaussian_log_prob(getkey):
    dist = jd.Gaussian(mean=(1.0, -1.0), std=0.5)
    x = dist.sample(1000, key=getkey())
    ref = stats.multivariate_normal([1.0, -1.0], 0.25 * np.eye(2)).logpdf(np.asarray(x))
    np.testing.assert_allclose(jax.vmap(dist.log_prob)(x), ref, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(x).mean(0), [1.0, -1.0], atol=0.1)


def test_noise_free_moons_and_spirals_lie_on_their_curves(getkey):
    moons = jd.Moons(std=0.0, scale=1.0, shift=(0.0, 0.0))
    x = np.asarray(moons.sample(1000, key=getkey()))
    d_top = np.abs(np.linalg.norm(x, axis=1) - 1.0)
    d_bottom = np.abs(np.linalg.norm(x - np.array([1.0, 0.5]), axis=1) - 1.0)
    assert np.all(np.minimum(d_top, d_bottom) < 1e-5)
    top = d_top < 1e-5
    assert 0.4 < top.mean() < 0.6 and np.all(x[top, 1] >= -1e-6)
    spirals = jd.Spirals(std=0.0, turns=1.0, radius=1.0)
    y = np.asarray(spirals.sample(1000, key=getkey()))
    r = np.linalg.norm(y, axis=1)
    theta = np.arctan2(y[:, 1], y[:, 0])
    # r = theta_unwrapped / (2 pi) on one arm and shifted by pi on the other
    phase = np.mod(theta - 2 * np.pi * r, 2 * np.pi)
    assert np.all(np.minimum(np.abs(phase), np.minimum(np.abs(phase - np.pi), np.abs(phase - 2 * np.pi))) < 1e-3)
    with pytest.raises(NotImplementedError, match="no closed-form density"):
        moons.log_prob(jnp.zeros(2))


def test_registry_and_bad_input(getkey):
    assert isinstance(jd.toy2d("checkerboard"), jd.Checkerboard)
    assert jd.toy2d("8gaussians", std=0.2).std == 0.2
    with pytest.raises(ValueError, match="did you mean 'checkerboard'"):
        jd.toy2d("checkerbord")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        jd.Checkerboard().sample(0, key=getkey())
    with pytest.raises(ValueError, match="for batches use jax.vmap"):
        jd.Checkerboard().log_prob(jnp.zeros((5, 2)))
    with pytest.raises(ValueError, match="std > 0"):
        jd.EightGaussians(std=-1.0)
