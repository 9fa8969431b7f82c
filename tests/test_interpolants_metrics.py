"""Sample metrics: exact W2 (1-D sorting, translations), MMD vs its Gaussian closed form, NLL vs entropy."""

import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxrep.data as jd
import jaxrep.interpolants as ji


def test_w2_one_dimensional_matches_sorting(getkey):
    x = np.asarray(jr.normal(getkey(), (300, 1)), np.float64)
    y = np.asarray(2.0 + 0.5 * jr.normal(getkey(), (300, 1)) ** 3, np.float64)
    expected = math.sqrt(np.mean((np.sort(x[:, 0]) - np.sort(y[:, 0])) ** 2))
    np.testing.assert_allclose(ji.wasserstein2(x, y), expected, rtol=1e-10)


def test_w2_translation_and_permutation(getkey):
    x = np.asarray(jr.normal(getkey(), (200, 2)), np.float64)
    shift = np.array([0.3, -0.4])
    np.testing.assert_allclose(ji.wasserstein2(x, x + shift), 0.5, rtol=1e-10)
    perm = np.asarray(jr.permutation(getkey(), 200))
    assert ji.wasserstein2(x, x[perm]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="equally many samples"):
        ji.wasserstein2(x, x[:10])


def _gaussian_mmd2(m1, s1, m2, s2, bandwidths, d=2):
    def cross(ma, sa, mb, sb, h):
        v = h**2 + sa**2 + sb**2
        return (h**2 / v) ** (d / 2) * math.exp(-np.sum((np.asarray(ma) - np.asarray(mb)) ** 2) / (2 * v))

    return sum(cross(m1, s1, m1, s1, h) + cross(m2, s2, m2, s2, h) - 2 * cross(m1, s1, m2, s2, h) for h in bandwidths)


def test_mmd_matches_gaussian_closed_form(getkey):
    bw = (0.5, 1.0, 2.0)
    a = jd.Gaussian(mean=(0.0, 0.0), std=1.0)
    b = jd.Gaussian(mean=(1.0, 0.5), std=0.7)
    x = a.sample(3000, key=getkey())
    y = b.sample(3000, key=getkey())
    expected = _gaussian_mmd2((0.0, 0.0), 1.0, (1.0, 0.5), 0.7, bw)
    np.testing.assert_allclose(ji.mmd(x, y, bw), expected, rtol=0.08)
    same = ji.mmd(x, a.sample(3000, key=getkey()), bw)
    assert abs(float(same)) < 0.1 * expected


def test_nll_of_exact_density_is_entropy(getkey):
    dist = jd.Gaussian(std=0.5)
    x = dist.sample(20_000, key=getkey())
    entropy = 1.0 + math.log(2 * math.pi * 0.25)  # d/2 (1 + log 2 pi s^2) for d = 2
    np.testing.assert_allclose(ji.nll(dist.log_prob, x), entropy, atol=0.03)
    board = jd.Checkerboard()
    np.testing.assert_allclose(ji.nll(board.log_prob, board.sample(100, key=getkey())), math.log(32), rtol=1e-6)
    with pytest.raises(ValueError, match="nll expects x"):
        ji.nll(dist.log_prob, jnp.zeros(2))
