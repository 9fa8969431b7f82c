r"""Symbolic regression of trained KANs: every edge $\phi_{ij}$ replaced by $c\,f(a x + b) + d$.

For one edge with samples $(x_n, y_n = \phi_{ij}(x_n))$ and a library function $f$, the affine
parameters are found by a grid search over $(a, b)$ (vmapped, zoomed `rounds` times around the best
cell) with $(c, d)$ in closed form at each $(a, b)$: with $g_n = f(a x_n + b)$,
$$c = \frac{\operatorname{cov}(g, y)}{\operatorname{var}(g)},\qquad d = \bar y - c\,\bar g,\qquad
R^2 = \frac{\operatorname{cov}(g, y)^2}{\operatorname{var}(g)\operatorname{var}(y)},$$
the coefficient of determination of the least-squares fit. `auto_symbolic` fixes every edge whose best
$R^2$ passes a threshold, all edges and library functions of a layer in one compiled call; the result
(`SymbolicKAN`) keeps training through `jaxrep.train.fit` (the affine parameters and the remaining
spline edges), and `symbolic_formula` writes it as a sympy expression.

**References:** Liu et al., "KAN: Kolmogorov-Arnold Networks", ICLR 2025 (section 2.5.1).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._validate import did_you_mean
from ._kan import KAN


class SymbolicFunction(NamedTuple):
    """A library entry: `fn(u)` in JAX (finite everywhere: singular functions are protected),
    `domain(u) -> bool` where the fit may use it (`None`: everywhere), `sympy(sp, z)` the same
    function of a sympy expression `z` (`sp` is the sympy module), and a `complexity` used to break
    ties between equally good fits (the simpler wins)."""

    fn: Callable
    sympy: Callable
    domain: Optional[Callable] = None
    complexity: int = 2


_EPS = 1e-4


# Every function is finite with a finite gradient everywhere (singular ones are clamped at _EPS from their
# singularity): a SymbolicKAN evaluates every library function on every edge and selects one, and an
# infinite gradient of an unselected branch would turn the selected gradient into NaN (0 * inf).
def _recip(u):
    return 1.0 / jnp.where(u >= 0, jnp.maximum(u, _EPS), jnp.minimum(u, -_EPS))


def _tan(u):
    c = jnp.cos(u)
    return jnp.sin(u) / jnp.where(c >= 0, jnp.maximum(c, _EPS), jnp.minimum(c, -_EPS))


SYMBOLIC_LIBRARY: dict[str, SymbolicFunction] = {
    "zero": SymbolicFunction(lambda u: jnp.zeros_like(u), lambda sp, z: sp.Integer(0), None, 0),
    "x": SymbolicFunction(lambda u: u, lambda sp, z: z, None, 1),
    "x^2": SymbolicFunction(lambda u: u**2, lambda sp, z: z**2, None, 2),
    "x^3": SymbolicFunction(lambda u: u**3, lambda sp, z: z**3, None, 3),
    "x^4": SymbolicFunction(lambda u: u**4, lambda sp, z: z**4, None, 3),
    "1/x": SymbolicFunction(_recip, lambda sp, z: 1 / z, lambda u: jnp.abs(u) > _EPS, 2),
    "sqrt": SymbolicFunction(lambda u: jnp.sqrt(jnp.maximum(u, _EPS)), lambda sp, z: sp.sqrt(z),
                             lambda u: u >= _EPS, 2),
    "exp": SymbolicFunction(lambda u: jnp.exp(jnp.minimum(u, 50.0)), lambda sp, z: sp.exp(z),
                            lambda u: u <= 50.0, 2),
    "log": SymbolicFunction(lambda u: jnp.log(jnp.maximum(u, _EPS)), lambda sp, z: sp.log(z),
                            lambda u: u > _EPS, 2),
    "sin": SymbolicFunction(jnp.sin, lambda sp, z: sp.sin(z), None, 2),
    "cos": SymbolicFunction(jnp.cos, lambda sp, z: sp.cos(z), None, 2),
    "tan": SymbolicFunction(_tan, lambda sp, z: sp.tan(z),
                            lambda u: jnp.abs(jnp.cos(u)) > 1e-2, 3),
    "tanh": SymbolicFunction(jnp.tanh, lambda sp, z: sp.tanh(z), None, 3),
    "sigmoid": SymbolicFunction(jax.nn.sigmoid, lambda sp, z: 1 / (1 + sp.exp(-z)), None, 3),
    "arctan": SymbolicFunction(jnp.arctan, lambda sp, z: sp.atan(z), None, 3),
    "abs": SymbolicFunction(jnp.abs, lambda sp, z: sp.Abs(z), None, 3),
    "gaussian": SymbolicFunction(lambda u: jnp.exp(-(u**2)), lambda sp, z: sp.exp(-(z**2)), None, 3),
}

LibraryLike = Union[None, Sequence[Union[str, tuple]], dict]


def _library(library: LibraryLike) -> tuple[tuple[str, ...], tuple[SymbolicFunction, ...]]:
    """Names and entries of a library argument: `None` (all of `SYMBOLIC_LIBRARY`), a sequence of names of
    `SYMBOLIC_LIBRARY` and/or `(name, jax_fn, sympy_fn)` triples, or a dict `{name: (jax_fn, sympy_fn)}`."""
    if library is None:
        return tuple(SYMBOLIC_LIBRARY), tuple(SYMBOLIC_LIBRARY.values())
    items = list(library.items()) if isinstance(library, dict) else list(library)
    names, entries = [], []
    for item in items:
        if isinstance(item, str):
            if item not in SYMBOLIC_LIBRARY:
                extra = (did_you_mean(item, SYMBOLIC_LIBRARY, paren=True)
                         or f"; known: {', '.join(SYMBOLIC_LIBRARY)}")
                raise ValueError(f"library: unknown function {item!r}{extra}")
            names.append(item)
            entries.append(SYMBOLIC_LIBRARY[item])
            continue
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):  # dict item
            name, spec = item
            spec = tuple(spec) if not isinstance(spec, SymbolicFunction) else spec
        elif isinstance(item, tuple) and len(item) == 3 and isinstance(item[0], str):
            name, spec = item[0], item[1:]
        else:
            raise ValueError(f"library: entries must be names or (name, jax_fn, sympy_fn) triples, got {item!r}")
        if isinstance(spec, SymbolicFunction):
            entry = spec
        elif len(spec) == 2 and callable(spec[0]) and callable(spec[1]):
            entry = SymbolicFunction(spec[0], lambda sp, z, f=spec[1]: f(z), None, 2)
        else:
            raise ValueError(f"library: {name!r} needs (jax_fn, sympy_fn), got {spec!r}")
        names.append(name)
        entries.append(entry)
    if not names:
        raise ValueError("library: needs at least one function")
    if len(set(names)) != len(names):
        raise ValueError(f"library: duplicate names in {names}")
    return tuple(names), tuple(entries)


def _fit_grid(values, x, y, a_grid, b_grid):
    """R^2 and (c, d) of c f(a x + b) + d against y for every (a, b) of the grids: (A, B) arrays.
    `values(u) -> (f(u), ok)` gives the function and where its domain holds."""
    u = a_grid[:, None, None] * x[None, None, :] + b_grid[None, :, None]  # (A, B, N)
    g, inside = values(u)
    ok = jnp.all(jnp.isfinite(g) & inside, axis=-1)
    g = jnp.where(jnp.isfinite(g), g, 0.0)
    gm, ym = jnp.mean(g, -1), jnp.mean(y)
    cov = jnp.mean((g - gm[..., None]) * (y - ym), -1)
    var_g = jnp.mean((g - gm[..., None]) ** 2, -1)
    var_y = jnp.mean((y - ym) ** 2)
    constant_y = var_y <= 1e-12 * (1.0 + ym**2)
    good_g = var_g > 1e-12 * (1.0 + jnp.mean(g**2, -1))
    r2 = jnp.where(good_g, cov**2 / jnp.where(good_g, var_g * var_y, 1.0), 0.0)
    r2 = jnp.where(constant_y, 1.0, r2)
    c = jnp.where(good_g & ~constant_y, cov / jnp.where(good_g, var_g, 1.0), 0.0)
    d = ym - c * gm
    return jnp.where(ok, r2, -jnp.inf), c, d


def _search(values, x, y, a_range, b_range, grid: int, rounds: int):
    """Best `(r2, a, b, c, d)`: a `grid` x `grid` search over (a, b), zoomed `rounds` times to the cells
    around the best point (a `fori_loop`: the grid is traced, one compiled round)."""
    t = jnp.linspace(0.0, 1.0, grid, dtype=x.dtype)

    def one(_, carry):
        (lo_a, hi_a, lo_b, hi_b), _best = carry
        a_grid, b_grid = lo_a + (hi_a - lo_a) * t, lo_b + (hi_b - lo_b) * t
        r2, c, d = _fit_grid(values, x, y, a_grid, b_grid)
        flat = jnp.argmax(jnp.where(jnp.isnan(r2), -jnp.inf, r2))
        ia, ib = flat // grid, flat % grid
        best = jnp.stack([r2[ia, ib], a_grid[ia], b_grid[ib], c[ia, ib], d[ia, ib]])
        da, db = (hi_a - lo_a) / (grid - 1), (hi_b - lo_b) / (grid - 1)
        box = (best[1] - da, best[1] + da, best[2] - db, best[2] + db)
        return box, best

    box = tuple(jnp.asarray(v, x.dtype) for v in (*a_range, *b_range))
    _, best = jax.lax.fori_loop(0, rounds, one, (box, jnp.zeros((5,), x.dtype)))
    return best


def _values(entry: SymbolicFunction):
    def values(u):
        inside = jnp.ones(u.shape, bool) if entry.domain is None else entry.domain(u)
        return entry.fn(u), inside

    return values


def _fit_edge(fn, domain, x, y, a_range, b_range, grid, rounds):
    """Best (r2, a, b, c, d) for one function and one edge."""
    best = _search(_values(SymbolicFunction(fn, None, domain)), x, y, a_range, b_range, grid, rounds)
    return tuple(best)


def _fit_layer_impl(names, entries, xin, edges, a_range, b_range, grid, rounds):
    """All library functions on all edges of a layer: r2 (L, in, out), params (L, in, out, 4).

    One compiled search: `lax.map` over the functions (a `lax.switch` picks each one's code) and over
    the edges, so compile time does not grow with the library or the rounds."""
    n_in, n_out = edges.shape[1], edges.shape[2]
    xs = jnp.broadcast_to(xin.T[:, None, :], (n_in, n_out, xin.shape[0])).reshape(n_in * n_out, -1)
    ys = jnp.transpose(edges, (1, 2, 0)).reshape(n_in * n_out, -1)
    branches = [_values(e) for e in entries]

    def per_function(k):
        values = lambda u: jax.lax.switch(k, branches, u)  # noqa: E731
        return jax.lax.map(lambda xy: _search(values, xy[0], xy[1], a_range, b_range, grid, rounds), (xs, ys))

    best = jax.lax.map(per_function, jnp.arange(len(entries)))  # (L, E, 5)
    r2 = best[..., 0].reshape(len(entries), n_in, n_out)
    params = best[..., 1:].reshape(len(entries), n_in, n_out, 4)
    return r2, params


_fit_layer = jax.jit(_fit_layer_impl, static_argnums=(0, 1, 4, 5, 6, 7))


class SymbolicKAN(eqx.Module):
    r"""A KAN some of whose edges are symbolic: $\phi_{ij}(x) = c\,f(a x + b) + d$.

    Layer $l$ computes $y_j = b_{l,j} + \sum_i \big[m_{ij}(c_{ij} f_{ij}(a_{ij}x_i + b_{ij}) + d_{ij})
    + (1 - m_{ij})\phi_{ij}(x_i)\big]$ with the mask $m$ of fixed edges; edges pruned in the KAN
    (`KANLayer.mask`) stay zero, and multiplication nodes multiply as in the KAN. The affine parameters
    `affine[l] (in, out, 4)` $= (a, b, c, d)$ are floating-point leaves, so `jaxrep.train.fit`
    trains them with the spline edges; `masks` and `fn_index` are integer/boolean (not trained).
    Built by `auto_symbolic`; written out by `symbolic_formula`. Acts on one sample; batch with
    `jax.vmap`.
    """

    kan: KAN
    masks: tuple[Bool[Array, "in out"], ...]
    fn_index: tuple[Int[Array, "in out"], ...]
    affine: tuple[Float[Array, "in out 4"], ...]
    names: tuple[str, ...] = eqx.field(static=True)
    entries: tuple[SymbolicFunction, ...] = eqx.field(static=True)

    @property
    def in_size(self) -> int:
        return self.kan.in_size

    @property
    def out_size(self) -> int:
        return self.kan.out_size

    def layer_edges(self, l: int, x: Float[Array, " in"]) -> Float[Array, "in out"]:
        """Every edge value of layer `l` at its input `x`, symbolic where fixed."""
        layer = self.kan.layers[l]
        phi = layer.edge_values(x)
        a, b, c, d = (self.affine[l][..., k] for k in range(4))
        u = a * x[:, None] + b
        vals = jnp.stack([e.fn(u) for e in self.entries])  # (L, in, out)
        g = jnp.take_along_axis(vals, self.fn_index[l][None], axis=0)[0]
        # pruned edges (the KAN layer's mask) stay zero, symbolic or not
        return jnp.where(layer.live, jnp.where(self.masks[l], c * g + d, phi), 0.0)

    def layer_inputs(self, x: Float[Array, " in_size"]) -> list[Array]:
        """The input of every layer for one sample, plus the output."""
        values = [x]
        for l, layer in enumerate(self.kan.layers):
            y = layer.bias + jnp.sum(self.layer_edges(l, values[-1]), axis=0)
            values.append(self.kan.nodes(l, y))
        return values

    def __call__(self, x: Float[Array, " in_size"], *, key=None) -> Float[Array, " out_size"]:
        return self.layer_inputs(x)[-1]


def _check_x(model, x) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != model.in_size:
        raise ValueError(f"x must have shape (batch, {model.in_size}), got {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"x must hold at least 2 samples to fit edges, got {x.shape[0]}")
    if not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError("x has non-finite values")
    return x


def _as_symbolic(model, names, entries) -> SymbolicKAN:
    if isinstance(model, SymbolicKAN):
        if model.names != names:
            # re-index the fixed edges into the new library (their functions must be in it)
            new_index = []
            for l, idx in enumerate(model.fn_index):
                idx = np.asarray(idx)
                mask = np.asarray(model.masks[l])
                out = np.zeros_like(idx)
                for pos in zip(*np.nonzero(mask)):
                    name = model.names[idx[pos]]
                    if name not in names:
                        raise ValueError(f"library: the fixed edge {pos} of layer {l} uses {name!r}, "
                                         "which the new library lacks")
                    out[pos] = names.index(name)
                new_index.append(jnp.asarray(out))
            return SymbolicKAN(model.kan, model.masks, tuple(new_index), model.affine, names, entries)
        return model
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a jaxrep.nn.KAN or SymbolicKAN, got {type(model).__name__}")
    dtype = model.layers[0].coeffs.dtype
    masks = tuple(jnp.zeros((ly.in_features, ly.out_features), bool) for ly in model.layers)
    index = tuple(jnp.zeros((ly.in_features, ly.out_features), jnp.int32) for ly in model.layers)
    affine = tuple(jnp.zeros((ly.in_features, ly.out_features, 4), dtype).at[..., 0].set(1.0).at[..., 2].set(1.0)
                   for ly in model.layers)
    return SymbolicKAN(model, masks, index, affine, names, entries)


def _layer_fit(model: SymbolicKAN, x, l, a_range, b_range, grid, rounds):
    inputs = jax.vmap(model.layer_inputs)(x)
    xin = inputs[l]
    layer = model.kan.layers[l]
    edges = jax.vmap(layer.edge_values)(xin)  # the spline edges' own values (what is replaced)
    r2, params = _fit_layer(model.names, model.entries, xin, edges, tuple(map(float, a_range)),
                            tuple(map(float, b_range)), int(grid), int(rounds))
    return r2, params


def suggest_symbolic(
    model: Union[KAN, SymbolicKAN],
    x: Float[Array, "batch in_size"],
    layer: int,
    i: int,
    j: int,
    library: LibraryLike = None,
    *,
    top: int = 5,
    a_range: tuple[float, float] = (-10.0, 10.0),
    b_range: tuple[float, float] = (-10.0, 10.0),
    grid: int = 41,
    rounds: int = 3,
) -> list[dict]:
    r"""Rank library functions for the edge $i\to j$ of layer `layer` by the $R^2$ of their best fit
    $c\,f(a x + b) + d$ to the edge's values on the layer inputs that `x` produces.

    **Returns:** the `top` best as dicts `{"name", "r2", "a", "b", "c", "d"}`, best first (ties go to
    the simpler function).
    """
    names, entries = _library(library)
    model = _as_symbolic(model, names, entries)
    x = _check_x(model, x)
    n_layers = len(model.kan.layers)
    if not (isinstance(layer, int) and 0 <= layer < n_layers):
        raise ValueError(f"layer must be in [0, {n_layers}), got {layer!r}")
    ly = model.kan.layers[layer]
    if not (isinstance(i, int) and 0 <= i < ly.in_features):
        raise ValueError(f"i must be in [0, {ly.in_features}) for layer {layer}, got {i!r}")
    if not (isinstance(j, int) and 0 <= j < ly.out_features):
        raise ValueError(f"j must be in [0, {ly.out_features}) for layer {layer}, got {j!r}")
    r2, params = _layer_fit(model, x, layer, a_range, b_range, grid, rounds)
    r2, params = np.asarray(r2[:, i, j]), np.asarray(params[:, i, j])
    order = sorted(range(len(names)), key=lambda k: (-_rounded(r2[k]), entries[k].complexity))
    return [dict(name=names[k], r2=float(r2[k]), a=float(params[k, 0]), b=float(params[k, 1]),
                 c=float(params[k, 2]), d=float(params[k, 3])) for k in order[:top]]


def _rounded(r2: float) -> float:
    """R^2 rounded so that fits equal to fitting precision tie (then the simpler function wins). Values
    above 1 are rounding artefacts of $1 - SS_{res}/SS_{tot}$ (float32): they count as 1."""
    return -np.inf if not np.isfinite(r2) else round(min(float(r2), 1.0), 6)


def auto_symbolic(
    model: Union[KAN, SymbolicKAN],
    x: Float[Array, "batch in_size"],
    library: LibraryLike = None,
    *,
    r2_threshold: float = 0.99,
    a_range: tuple[float, float] = (-10.0, 10.0),
    b_range: tuple[float, float] = (-10.0, 10.0),
    grid: int = 41,
    rounds: int = 3,
    verbose: bool = False,
) -> SymbolicKAN:
    r"""Fix every edge whose best library fit reaches $R^2\ge$ `r2_threshold`.

    Layers are processed in order; each layer's edges are fitted on the inputs produced by the
    already-symbolic earlier layers, all edges and functions of a layer in one compiled call. Edges
    already fixed (a `SymbolicKAN` input) stay as they are. Ties in $R^2$ (to 1e-6) go to the simpler
    function. With `verbose`, one line per fixed edge is printed.

    **Returns:** a `SymbolicKAN`; train it further with `jaxrep.train.fit` (the affine parameters
    and the unfixed spline edges), write it out with `symbolic_formula`.
    """
    if not 0.0 <= float(r2_threshold) <= 1.0:
        raise ValueError(f"r2_threshold must be in [0, 1], got {r2_threshold!r}")
    names, entries = _library(library)
    model = _as_symbolic(model, names, entries)
    x = _check_x(model, x)
    complexity = np.array([e.complexity for e in entries])
    for l, ly in enumerate(model.kan.layers):
        r2, params = _layer_fit(model, x, l, a_range, b_range, grid, rounds)
        r2 = np.asarray(r2)
        params = np.asarray(params)
        score = np.vectorize(_rounded)(r2)
        # best: highest rounded R^2, then lowest complexity
        key = score * 1e3 - complexity[:, None, None] * 1e-6
        best = np.argmax(np.where(np.isfinite(key), key, -np.inf), axis=0)  # (in, out)
        best_r2 = np.take_along_axis(r2, best[None], 0)[0]
        mask = np.asarray(model.masks[l])
        live = np.asarray(ly.live)  # pruned edges are not fitted (they stay zero)
        new = (~mask) & live & np.isfinite(best_r2) & (best_r2 >= r2_threshold)
        if verbose:
            for i, j in zip(*np.nonzero(new)):
                print(f"layer {l} edge ({i}, {j}): {names[best[i, j]]}, r2 = {best_r2[i, j]:.6f}")
        chosen = np.take_along_axis(params, best[None, ..., None], 0)[0]
        masks = list(model.masks)
        index = list(model.fn_index)
        affine = list(model.affine)
        masks[l] = jnp.asarray(mask | new)
        index[l] = jnp.where(new, jnp.asarray(best, jnp.int32), model.fn_index[l])
        affine[l] = jnp.where(new[..., None], jnp.asarray(chosen, model.affine[l].dtype), model.affine[l])
        model = SymbolicKAN(model.kan, tuple(masks), tuple(index), tuple(affine), names, entries)
    return model


def symbolic_formula(
    model: SymbolicKAN,
    names: Optional[Sequence[str]] = None,
    *,
    digits: int = 4,
    simplify: bool = False,
):
    r"""The formula of a fully symbolic `SymbolicKAN` as sympy expressions, one per output.

    `names`: the input variables (default `x_1, ..., x_n`); `digits`: significant digits kept of every
    constant; `simplify`: run `sympy.simplify` (slow for deep formulas). Edges fitted by `zero` drop
    out, and so do pruned edges (`KANLayer.mask`); multiplication nodes become products. Raises
    `ValueError` listing the edges that are not symbolic yet. Needs sympy (the `symbolic`
    extra: `pip install jaxrep[symbolic]`).

    **Returns:** a list of sympy expressions (length `out_size`).
    """
    try:
        import sympy as sp
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("symbolic_formula needs sympy: pip install 'jaxrep[symbolic]'") from e
    if not isinstance(model, SymbolicKAN):
        raise TypeError(f"model must be a SymbolicKAN (from auto_symbolic), got {type(model).__name__}")
    if not (isinstance(digits, int) and digits >= 1):
        raise ValueError(f"digits must be an int >= 1, got {digits!r}")
    live = [np.asarray(layer.live) for layer in model.kan.layers]
    missing = [(l, int(i), int(j)) for l, m in enumerate(model.masks)
               for i, j in zip(*np.nonzero(~np.asarray(m) & live[l]))]
    if missing:
        shown = ", ".join(f"layer {l} ({i}, {j})" for l, i, j in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValueError(f"symbolic_formula: {len(missing)} edges are not symbolic: {shown}{more}; "
                         "lower auto_symbolic's r2_threshold or restrict its library")
    n = model.in_size
    names = [f"x_{k + 1}" for k in range(n)] if names is None else list(names)
    if len(names) != n or not all(isinstance(s, str) and s for s in names):
        raise ValueError(f"names must be {n} non-empty strings, got {names!r}")

    def num(v):
        return sp.Float(float(f"{float(v):.{digits}g}"), digits)

    values = [sp.Symbol(s, real=True) for s in names]
    for l, layer in enumerate(model.kan.layers):
        idx = np.asarray(model.fn_index[l])
        aff = np.asarray(model.affine[l], np.float64)
        bias = np.asarray(layer.bias, np.float64)
        out = []
        for j in range(layer.out_features):
            expr = num(bias[j])
            for i in range(layer.in_features):
                if not live[l][i, j]:
                    continue  # pruned edge
                name = model.names[idx[i, j]]
                a, b, c, d = aff[i, j]
                expr += num(d)
                if name != "zero":
                    expr += num(c) * model.entries[idx[i, j]].sympy(sp, num(a) * values[i] + num(b))
            out.append(expr)
        n_mult, arity = model.kan.mult_of_layers[l], model.kan.mult_arity
        n_sum = len(out) - arity * n_mult
        values = out[:n_sum] + [sp.Mul(*out[n_sum + arity * k: n_sum + arity * (k + 1)]) for k in range(n_mult)]
    return [sp.simplify(v) if simplify else v for v in values]
