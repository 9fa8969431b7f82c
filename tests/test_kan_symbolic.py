"""Symbolic regression of KAN edges: `suggest_symbolic`, `auto_symbolic`, `symbolic_formula`, `SymbolicKAN`."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
import sympy as sp

import jaxrep as jrp
from jaxrep.nn import SymbolicKAN, auto_symbolic, suggest_symbolic, symbolic_formula
from jaxrep.nn._symbolic import SYMBOLIC_LIBRARY, _fit_edge


def _kan_with_edges(targets, grid_size=12):
    """A [n, 1] B-spline KAN (no SiLU path) whose edge i is the spline least-squares fit of targets[i] on [-1, 1]."""
    n = len(targets)
    kan = jrp.nn.KAN([n, 1], grid_size=grid_size, order=3, base_activation=None, key=jr.PRNGKey(0))
    layer = kan.layers[0]
    xs = jnp.linspace(-1.0, 1.0, 400)
    B = jax.vmap(layer.basis)(jnp.tile(xs[:, None], (1, n)))  # (400, n, K)
    coeffs = jnp.stack([jnp.linalg.lstsq(B[:, i, :], f(xs))[0] for i, f in enumerate(targets)])[..., None]
    return eqx.tree_at(lambda k: k.layers[0].coeffs, kan, coeffs.astype(layer.coeffs.dtype))


X = jr.uniform(jr.PRNGKey(1), (128, 2), minval=-1.0, maxval=1.0)  # one shape: each fit compiles once


@pytest.fixture(scope="module")
def sin_square():
    return _kan_with_edges([lambda x: jnp.sin(jnp.pi * x), lambda x: x**2]), X


@pytest.fixture(scope="module")
def sin_square_symbolic(sin_square):
    kan, x = sin_square
    return auto_symbolic(kan, x, r2_threshold=0.9999)


def test_edge_fit_recovers_an_affine_sine():
    # y = 2 sin(1.5 x + 0.3) - 0.7 exactly: the grid search + closed-form (c, d) reproduce it
    x = jnp.linspace(-2.0, 2.0, 200)
    y = 2.0 * jnp.sin(1.5 * x + 0.3) - 0.7
    entry = SYMBOLIC_LIBRARY["sin"]
    r2, a, b, c, d = _fit_edge(entry.fn, entry.domain, x, y, (-10.0, 10.0), (-10.0, 10.0), 41, 4)
    assert float(r2) > 1 - 1e-6
    np.testing.assert_allclose(c * jnp.sin(a * x + b) + d, y, atol=2e-3)
    # a function with the wrong shape fits worse
    e2 = SYMBOLIC_LIBRARY["x^2"]
    assert float(_fit_edge(e2.fn, e2.domain, x, y, (-10.0, 10.0), (-10.0, 10.0), 41, 2)[0]) < 0.9


def test_suggest_ranks_the_true_function_first(sin_square):
    kan, x = sin_square
    best0 = suggest_symbolic(kan, x, 0, 0, 0)
    assert best0[0]["name"] in ("sin", "cos") and best0[0]["r2"] > 0.9999
    best1 = suggest_symbolic(kan, x, 0, 1, 0)
    assert best1[0]["name"] == "x^2" and best1[0]["r2"] > 0.9999
    rounded = [round(min(s["r2"], 1.0), 6) for s in best1]  # ranked by R^2 to 1e-6 (> 1: rounding), ties to the simpler
    assert rounded == sorted(rounded, reverse=True)
    # a user library: names and (name, jax_fn, sympy_fn) triples
    mine = suggest_symbolic(kan, x, 0, 1, 0, ["x", ("square", lambda u: u * u, lambda z: z**2)], top=2)
    assert mine[0]["name"] == "square"


def test_auto_symbolic_and_formula_reproduce_the_kan(sin_square, sin_square_symbolic):
    kan, x = sin_square
    skan = sin_square_symbolic
    assert isinstance(skan, SymbolicKAN) and bool(jnp.all(skan.masks[0]))
    y_kan = jax.vmap(kan)(x)[:, 0]
    y_sym = jax.vmap(skan)(x)[:, 0]
    np.testing.assert_allclose(y_sym, y_kan, atol=5e-3)  # spline vs exact function
    truth = jnp.sin(jnp.pi * x[:, 0]) + x[:, 1] ** 2
    np.testing.assert_allclose(y_sym - jnp.mean(y_sym - truth), truth, atol=5e-3)
    (expr,) = symbolic_formula(skan, names=("x", "y"), digits=6)
    X, Y = sp.symbols("x y", real=True)
    assert expr.has(sp.sin) or expr.has(sp.cos)
    f = sp.lambdify((X, Y), expr, "numpy")
    np.testing.assert_allclose(f(np.asarray(x[:, 0]), np.asarray(x[:, 1])), y_sym, atol=1e-3)


def test_constant_edge_is_zero_and_drops_out():
    kan = _kan_with_edges([lambda x: jnp.cos(2.0 * x), lambda x: 0.0 * x])
    skan = auto_symbolic(kan, X, r2_threshold=0.999)
    assert skan.names[int(skan.fn_index[0][1, 0])] == "zero"
    (expr,) = symbolic_formula(skan, names=("x", "y"))
    assert sp.Symbol("y", real=True) not in expr.free_symbols


def test_symbolic_kan_keeps_training_through_fit(sin_square, sin_square_symbolic):
    # perturb the fitted scale c of the sine edge; fit() on data of the true function trains it back
    kan, x = sin_square
    skan = sin_square_symbolic
    y = jax.vmap(skan)(x)
    bad = eqx.tree_at(lambda m: m.affine[0], skan, skan.affine[0].at[0, 0, 2].multiply(1.3))
    loss = lambda m, batch, key: (jnp.mean((jax.vmap(m)(batch[0]) - batch[1]) ** 2), {})  # noqa: E731
    before = float(loss(bad, (x, y), None)[0])
    trained, _ = jrp.train.fit(bad, loss, [(x, y)] * 200, optimizer=optax.adam(1e-2), steps=200, progress=False,
                               key=jr.PRNGKey(0))
    assert float(loss(trained, (x, y), None)[0]) < 0.01 * before
    # integer / boolean leaves are not trained
    assert trained.masks[0].dtype == bool and trained.fn_index[0].dtype == jnp.int32


def test_bad_input_names_the_argument(sin_square):
    kan, x = sin_square
    with pytest.raises(ValueError, match="did you mean 'sin'"):
        suggest_symbolic(kan, x, 0, 0, 0, ["sn"])
    with pytest.raises(ValueError, match="layer must be"):
        suggest_symbolic(kan, x, 1, 0, 0)
    with pytest.raises(ValueError, match="i must be"):
        suggest_symbolic(kan, x, 0, 2, 0)
    with pytest.raises(ValueError, match="j must be"):
        suggest_symbolic(kan, x, 0, 0, 1)
    with pytest.raises(ValueError, match="x must have shape"):
        suggest_symbolic(kan, x[:, :1], 0, 0, 0)
    with pytest.raises(ValueError, match="non-finite"):
        auto_symbolic(kan, x.at[0, 0].set(jnp.nan))
    partial = auto_symbolic(kan, x, ["x^2"], r2_threshold=0.9999)  # only the square edge fits
    with pytest.raises(ValueError, match="1 edges are not symbolic: layer 0 \\(0, 0\\)"):
        symbolic_formula(partial)
    with pytest.raises(ValueError, match="r2_threshold"):
        auto_symbolic(kan, x, r2_threshold=1.5)
