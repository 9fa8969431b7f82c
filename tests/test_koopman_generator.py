"""Koopman generators: structure of the spectrum for random parameters, shapes, jit/grad, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrep as jr

PARAMS = ["dense", "stable", "skew", "eig"]


@pytest.mark.parametrize("param", PARAMS)
@pytest.mark.parametrize("dim", [1, 4, 7])
def test_shapes_and_call(param, dim, getkey):
    gen = jr.koopman.Generator(dim, param=param, key=getkey())
    assert isinstance(gen, jr.koopman.AbstractGenerator)
    A = gen.matrix()
    assert A.shape == (dim, dim)
    z = jax.random.normal(getkey(), (dim,))
    np.testing.assert_allclose(gen(z), A @ z, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="jax.vmap"):
        gen(jnp.zeros((3, dim)))


@pytest.mark.parametrize("seed", range(5))
def test_stable_spectrum_left_half_plane(seed):
    # Random and deliberately large parameters: the bound holds for all of them, not only at init.
    for dim in (2, 5, 16):
        gen = jr.koopman.Generator(dim, param="stable", eps=0.05, key=jax.random.PRNGKey(seed))
        gen = jax.tree_util.tree_map(
            lambda x: 10.0 * x if eqx.is_array(x) else x, gen
        )
        lam = np.linalg.eigvals(np.asarray(gen.matrix(), dtype=np.float64))
        assert lam.real.max() <= -0.05 + 1e-4 * np.abs(lam).max()


@pytest.mark.parametrize("seed", range(3))
def test_skew_is_energy_conserving(seed):
    gen = jr.koopman.Generator(6, param="skew", scale=3.0, key=jax.random.PRNGKey(seed))
    A = np.asarray(gen.matrix(), dtype=np.float64)
    np.testing.assert_allclose(A, -A.T, atol=0)
    lam = np.linalg.eigvals(A)
    np.testing.assert_allclose(lam.real, 0.0, atol=1e-5)
    z0 = np.ones(6) / np.sqrt(6)
    zt = jr.koopman.propagate(gen.matrix(), jnp.asarray(z0, jnp.float32), jnp.array([0.3, 1.7, 5.0]))
    np.testing.assert_allclose(np.linalg.norm(zt, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("dim", [4, 5])
def test_eig_generator_has_its_eigenvalues(dim, getkey):
    gen = jr.koopman.Generator(dim, param="eig", scale=2.0, basis_noise=0.3, key=getkey())
    lam = np.linalg.eigvals(np.asarray(gen.matrix(), dtype=np.float64))
    expected = np.asarray(gen.eigenvalues())
    assert expected.shape == (dim,)
    # match as multisets
    for e in expected:
        assert np.min(np.abs(lam - e)) < 1e-4 * (1 + abs(e))
    # block form: mu_i +- i omega_i
    B = np.asarray(gen.block_matrix())
    np.testing.assert_allclose(B[0, :2], [gen.mu[0], gen.omega[0]], rtol=1e-6)
    np.testing.assert_allclose(B[1, :2], [-gen.omega[0], gen.mu[0]], rtol=1e-6)


@pytest.mark.parametrize("param", PARAMS)
def test_jit_grad_no_retrace(param, getkey):
    gen = jr.koopman.Generator(3, param=param, key=getkey())

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def loss(g):
        return jnp.sum(jr.koopman.propagate(g.matrix(), jnp.ones(3), jnp.array([0.1, 0.5])) ** 2)

    grads = eqx.filter_grad(loss)(gen)
    loss(gen)
    loss(jax.tree_util.tree_map(lambda x: x * 1.1 if eqx.is_array(x) else x, gen))
    leaves = jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_array))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert any(float(jnp.abs(g).max()) > 0 for g in leaves)


def test_factory_bad_input(getkey):
    with pytest.raises(ValueError, match="param must be one of"):
        jr.koopman.Generator(3, param="diagonal", key=getkey())
    with pytest.raises(ValueError, match="dim must be an integer"):
        jr.koopman.Generator(0, param="dense", key=getkey())
    with pytest.raises(ValueError, match="scale"):
        jr.koopman.Generator(3, param="dense", scale=-1.0, key=getkey())
    assert jr.koopman.generator_names() == PARAMS
