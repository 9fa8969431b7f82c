"""PINN backbones: periodic embedding, random weight factorisation, modified MLP and PirateNet.

All are single-sample Equinox modules (batch with `jax.vmap`) with `in_size`/`out_size` attributes, so
each can stand wherever a `jaxrep.nn` model is expected: a PINN backbone, a Koopman encoder, an
interpolant's velocity field.
"""

import math
from typing import Callable, Optional, Sequence, Union

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_positive_int, check_vector


def _glorot_linear(fan_in: int, fan_out: int, key: PRNGKeyArray) -> eqx.nn.Linear:
    # Glorot-uniform weights, zero biases: the same initialisation as `jaxrep.nn.MLP`. The layer's own
    # random initialisation is only shape-evaluated: it would be overwritten, and every new shape of a
    # random draw costs an XLA compilation.
    shell = eqx.filter_eval_shape(eqx.nn.Linear, fan_in, fan_out, key=key)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    weight = jr.uniform(key, (fan_out, fan_in), minval=-limit, maxval=limit)
    return eqx.tree_at(lambda l: (l.weight, l.bias), shell, (weight, jnp.zeros(fan_out, weight.dtype)))


def _check_rwf(rwf, name: str = "rwf") -> Optional[tuple[float, float]]:
    if rwf is None:
        return None
    try:
        mean, std = (float(v) for v in rwf)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be None or a pair (mean, std), got {rwf!r}") from None
    if not (math.isfinite(mean) and math.isfinite(std) and std >= 0):
        raise ValueError(f"{name} must be a finite pair (mean, std) with std >= 0, got {rwf!r}")
    return mean, std


class PeriodicEmbedding(eqx.Module):
    r"""Exactly periodic embedding: $x_i \mapsto [\cos(2\pi k x_i/L_i), \sin(2\pi k x_i/L_i)]_{k=1}^K$.

    Each input coordinate with a period $L_i$ is replaced by its first $K$ = `n_harmonics` Fourier
    harmonics (all cosines, then all sines); coordinates whose period is `None` pass through unchanged,
    in their original position. Any network composed after this embedding is $L_i$-periodic in $x_i$
    *by construction* — values and all derivatives — so periodic boundary conditions need no loss term.

    Acts on **one sample** of shape `(in_size,)`; batch with `jax.vmap`. The embedding has no
    parameters (the periods are fixed metadata).

    **Arguments:**

    - `in_size`: input dimension.
    - `periods`: one entry per input, a period $L_i > 0$ or `None` for a non-periodic input.
    - `n_harmonics`: number of harmonics $K \ge 1$ per periodic input.

    **Returns:** (from `__call__`) an array of shape `(out_size,)`, where
    `out_size = n_plain + 2 * n_harmonics * n_periodic`.

    **References:** Dong & Ni, "A method for representing periodic functions and enforcing exactly
    periodic boundary conditions with deep neural networks", J. Comput. Phys. 2021; Wang et al.,
    "An Expert's Guide to Training Physics-informed Neural Networks", 2023.
    """

    periods: tuple[Optional[float], ...] = eqx.field(static=True)
    n_harmonics: int = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(self, in_size: int, periods: Sequence[Optional[float]], n_harmonics: int = 1):
        check_positive_int(in_size, "in_size")
        check_positive_int(n_harmonics, "n_harmonics")
        try:
            periods = tuple(periods)
        except TypeError:
            raise ValueError(f"periods must be a sequence of periods or None, got {periods!r}") from None
        if len(periods) != in_size:
            raise ValueError(
                f"periods must have one entry per input (in_size={in_size}), got {len(periods)}: {periods!r}"
            )
        clean = []
        for i, period in enumerate(periods):
            if period is None:
                clean.append(None)
                continue
            if isinstance(period, bool) or not isinstance(period, (int, float)) or not (
                math.isfinite(period) and period > 0
            ):
                raise ValueError(f"periods[{i}] must be None or a finite number > 0, got {period!r}")
            clean.append(float(period))
        n_periodic = sum(p is not None for p in clean)
        self.periods = tuple(clean)
        self.n_harmonics = n_harmonics
        self.in_size = in_size
        self.out_size = in_size - n_periodic + 2 * n_harmonics * n_periodic

    def __call__(
        self, x: Float[Array, " in_size"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_size"]:
        check_vector(x, self.in_size, "x", "PeriodicEmbedding")
        k = jnp.arange(1, self.n_harmonics + 1, dtype=jnp.result_type(x, float))
        parts = []
        for i, period in enumerate(self.periods):
            if period is None:
                parts.append(x[i : i + 1])
            else:
                arg = (2 * jnp.pi / period) * k * x[i]
                parts.extend([jnp.cos(arg), jnp.sin(arg)])
        return jnp.concatenate(parts)


class RWFLinear(eqx.Module):
    r"""Affine layer with random weight factorisation $W = \operatorname{diag}(e^{s})\,V$.

    $y = \operatorname{diag}(e^{s})\,V x + b$, with a trainable log-scale $s_j$ per output neuron.
    At initialisation $s \sim \mathcal N(\mu, \sigma^2)$ and $V = W_0 / e^{s}$ row-wise, where $W_0$ is a
    Glorot-uniform weight and $b = 0$, so the initial function is *exactly* the Glorot layer $W_0x$;
    only the parametrisation (and hence the gradient-descent geometry) changes.

    Acts on **one sample** of shape `(in_size,)`; batch with `jax.vmap`. Use `rwf_factorize` to
    factorise an existing `eqx.nn.Linear` without changing its function.

    **Arguments:**

    - `in_size`, `out_size`: input and output widths.
    - `mean`, `std`: mean $\mu$ and standard deviation $\sigma \ge 0$ of the log-scales $s$
      (the paper recommends $\mu = 1$, $\sigma = 0.1$).
    - `key`: PRNG key (keyword-only).

    **References:** Wang, Wang, Seidman & Perdikaris, "Random weight factorization improves the
    training of continuous neural representations", 2022 (arXiv:2210.01274).
    """

    s: Float[Array, " out_size"]
    v: Float[Array, "out_size in_size"]
    bias: Float[Array, " out_size"]
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(
        self, in_size: int, out_size: int, mean: float = 1.0, std: float = 0.1, *, key: PRNGKeyArray
    ):
        check_positive_int(in_size, "in_size")
        check_positive_int(out_size, "out_size")
        mean, std = _check_rwf((mean, std), "(mean, std)")
        k_w, k_s = jr.split(key)
        w0 = _glorot_linear(in_size, out_size, k_w).weight
        s = mean + std * jr.normal(k_s, (out_size,), dtype=w0.dtype)
        self.s = s
        self.v = w0 / jnp.exp(s)[:, None]
        self.bias = jnp.zeros(out_size, dtype=w0.dtype)
        self.in_size = in_size
        self.out_size = out_size

    @property
    def weight(self) -> Float[Array, "out_size in_size"]:
        r"""The effective weight $\operatorname{diag}(e^{s})V$."""
        return jnp.exp(self.s)[:, None] * self.v

    def __call__(
        self, x: Float[Array, " in_size"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_size"]:
        check_vector(x, self.in_size, "x", "RWFLinear")
        return self.weight @ x + self.bias


def rwf_factorize(
    linear: eqx.nn.Linear, mean: float = 1.0, std: float = 0.1, *, key: PRNGKeyArray
) -> RWFLinear:
    r"""Factorise an existing affine layer as $W = \operatorname{diag}(e^{s})V$ without changing it.

    **Arguments:**

    - `linear`: an `eqx.nn.Linear` with integer `in_features`/`out_features` (a bias is optional).
    - `mean`, `std`: distribution of the log-scales $s \sim \mathcal N(\mu, \sigma^2)$.
    - `key`: PRNG key for $s$ (keyword-only).

    **Returns:** an `RWFLinear` computing the same function as `linear`.

    **References:** Wang et al., "Random weight factorization improves the training of continuous
    neural representations", 2022.
    """
    if not isinstance(linear, eqx.nn.Linear) or not isinstance(linear.in_features, int) or not isinstance(
        linear.out_features, int
    ):
        raise ValueError(f"linear must be an eqx.nn.Linear between vectors, got {type(linear).__name__}")
    mean, std = _check_rwf((mean, std), "(mean, std)")
    weight = linear.weight
    s = mean + std * jr.normal(key, (linear.out_features,), dtype=weight.dtype)
    bias = jnp.zeros(linear.out_features, weight.dtype) if linear.bias is None else linear.bias
    out = eqx.filter_eval_shape(RWFLinear, linear.in_features, linear.out_features, key=key)
    return eqx.tree_at(lambda l: (l.s, l.v, l.bias), out, (s, weight / jnp.exp(s)[:, None], bias))


Dense = Union[eqx.nn.Linear, RWFLinear]


def _dense(fan_in: int, fan_out: int, rwf: Optional[tuple[float, float]], key: PRNGKeyArray) -> Dense:
    if rwf is None:
        return _glorot_linear(fan_in, fan_out, key)
    return RWFLinear(fan_in, fan_out, *rwf, key=key)


def _gate(z, u, v):
    return (1 - z) * u + z * v


class ModifiedMLP(eqx.Module):
    r"""Modified MLP with multiplicative gates from two input encoders.

    $$U = \sigma(W_u x + b_u),\quad V = \sigma(W_v x + b_v),\quad H_1 = \sigma(W_1 x + b_1),$$
    $$Z_k = \sigma(W_{k+1} H_k + b_{k+1}),\quad H_{k+1} = (1 - Z_k)\odot U + Z_k \odot V,
    \quad k = 1,\dots,L,$$
    $$f(x) = W H_{L+1} + b.$$

    The gates carry the input into every hidden layer, which the paper shows eases the stiff gradient
    flow of PINN losses. Acts on **one sample** of shape `(in_size,)`; batch with `jax.vmap`.

    **Arguments:**

    - `in_size`, `out_size`: input and output widths.
    - `width_size`: hidden width (of $U$, $V$ and every $H_k$).
    - `depth`: number $L \ge 1$ of gated layers (the network has $L + 1$ hidden dense layers plus the two
      encoders).
    - `activation`: $\sigma$ (default `tanh`).
    - `rwf`: `None` for Glorot-uniform layers, or `(mean, std)` to use `RWFLinear` (random weight
      factorisation) for every layer.
    - `key`: PRNG key (keyword-only).

    **References:** Wang, Teng & Perdikaris, "Understanding and mitigating gradient flow pathologies in
    physics-informed neural networks", SIAM J. Sci. Comput. 2021.
    """

    encoder_u: Dense
    encoder_v: Dense
    layers: tuple[Dense, ...]
    last: Dense
    activation: Callable = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        width_size: int = 64,
        depth: int = 3,
        activation: Callable = jnp.tanh,
        rwf: Optional[tuple[float, float]] = None,
        *,
        key: PRNGKeyArray,
    ):
        check_positive_int(in_size, "in_size")
        check_positive_int(out_size, "out_size")
        check_positive_int(width_size, "width_size")
        check_positive_int(depth, "depth")
        rwf = _check_rwf(rwf)
        keys = jr.split(key, depth + 4)
        self.encoder_u = _dense(in_size, width_size, rwf, keys[0])
        self.encoder_v = _dense(in_size, width_size, rwf, keys[1])
        first = _dense(in_size, width_size, rwf, keys[2])
        gated = [_dense(width_size, width_size, rwf, k) for k in keys[3 : 3 + depth]]
        self.layers = (first, *gated)
        self.last = _dense(width_size, out_size, rwf, keys[-1])
        self.activation = activation
        self.in_size = in_size
        self.out_size = out_size

    def __call__(
        self, x: Float[Array, " in_size"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_size"]:
        check_vector(x, self.in_size, "x", "ModifiedMLP")
        act = self.activation
        u, v = act(self.encoder_u(x)), act(self.encoder_v(x))
        h = act(self.layers[0](x))
        for layer in self.layers[1:]:
            h = _gate(act(layer(h)), u, v)
        return self.last(h)


class _AdaptiveResidualBlock(eqx.Module):
    r"""One PirateNet block: three dense layers with $U$/$V$ gating and a gated skip $\alpha$."""

    layers: tuple[Dense, Dense, Dense]
    alpha: Float[Array, ""]
    activation: Callable = eqx.field(static=True)

    def __init__(self, size: int, width_size: int, activation, rwf, *, key: PRNGKeyArray):
        k1, k2, k3 = jr.split(key, 3)
        self.layers = (
            _dense(size, width_size, rwf, k1),
            _dense(width_size, width_size, rwf, k2),
            _dense(width_size, size, rwf, k3),
        )
        # alpha = 0: the block starts as the identity, so the whole network starts shallow.
        self.alpha = jnp.zeros((), dtype=self.layers[0].weight.dtype)
        self.activation = activation

    def __call__(
        self, x: Float[Array, " size"], u: Float[Array, " width"], v: Float[Array, " width"]
    ) -> Float[Array, " size"]:
        act = self.activation
        f = _gate(act(self.layers[0](x)), u, v)
        g = _gate(act(self.layers[1](f)), u, v)
        h = act(self.layers[2](g))
        return self.alpha * h + (1 - self.alpha) * x


class PirateNet(eqx.Module):
    r"""Physics-informed residual adaptive network (PirateNet).

    With the (embedded) input $\phi = x$, gates $U = \sigma(W_u\phi + b_u)$, $V = \sigma(W_v\phi + b_v)$
    and $x^{(1)} = \phi$, each of the `n_blocks` adaptive residual blocks computes
    $$f = \sigma(W_1 x^{(l)} + b_1),\quad z_1 = (1-f)\odot U + f\odot V,$$
    $$g = \sigma(W_2 z_1 + b_2),\quad z_2 = (1-g)\odot U + g\odot V,\quad h = \sigma(W_3 z_2 + b_3),$$
    $$x^{(l+1)} = \alpha^{(l)} h + (1 - \alpha^{(l)})\, x^{(l)},$$
    and the output is $W x^{(L+1)} + b$. Every trainable $\alpha^{(l)}$ starts at 0, so at
    initialisation the network is the *linear* map $\phi \mapsto W\phi + b$ of its input and grows its
    depth during training. Its last layer can be fitted to data (e.g. the initial condition) by least
    squares with `pirate_init_last_layer`.

    PirateNet is meant to follow an embedding (`FourierFeatures`, `PeriodicEmbedding`, e.g. in an
    `eqx.nn.Sequential`): the residual stream has the width `in_size` of its input, and the quality of
    the linear initial fit depends on that embedding. Acts on **one sample** of shape `(in_size,)`;
    batch with `jax.vmap`.

    **Arguments:**

    - `in_size`, `out_size`: input (embedding) and output widths.
    - `width_size`: width of $U$, $V$ and of the blocks' inner layers.
    - `n_blocks`: number of adaptive residual blocks ($\ge 1$).
    - `activation`: $\sigma$ (default `tanh`).
    - `rwf`: `None` for Glorot-uniform layers, or `(mean, std)` to use `RWFLinear` for every layer.
    - `key`: PRNG key (keyword-only).

    **References:** Wang, Li, Chen & Perdikaris, "PirateNets: Physics-informed Deep Learning with
    Residual Adaptive Networks", JMLR 2024 (arXiv:2402.00326).
    """

    encoder_u: Dense
    encoder_v: Dense
    blocks: tuple[_AdaptiveResidualBlock, ...]
    last: Dense
    activation: Callable = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        width_size: int = 64,
        n_blocks: int = 3,
        activation: Callable = jnp.tanh,
        rwf: Optional[tuple[float, float]] = None,
        *,
        key: PRNGKeyArray,
    ):
        check_positive_int(in_size, "in_size")
        check_positive_int(out_size, "out_size")
        check_positive_int(width_size, "width_size")
        check_positive_int(n_blocks, "n_blocks")
        rwf = _check_rwf(rwf)
        keys = jr.split(key, n_blocks + 3)
        self.encoder_u = _dense(in_size, width_size, rwf, keys[0])
        self.encoder_v = _dense(in_size, width_size, rwf, keys[1])
        self.blocks = tuple(
            _AdaptiveResidualBlock(in_size, width_size, activation, rwf, key=k) for k in keys[2:-1]
        )
        self.last = _dense(in_size, out_size, rwf, keys[-1])
        self.activation = activation
        self.in_size = in_size
        self.out_size = out_size

    def features(self, x: Float[Array, " in_size"]) -> Float[Array, " in_size"]:
        """The residual stream $x^{(L+1)}$ fed to the last layer (equal to `x` at initialisation)."""
        check_vector(x, self.in_size, "x", "PirateNet")
        act = self.activation
        u, v = act(self.encoder_u(x)), act(self.encoder_v(x))
        for block in self.blocks:
            x = block(x, u, v)
        return x

    def __call__(
        self, x: Float[Array, " in_size"], *, key: Optional[PRNGKeyArray] = None
    ) -> Float[Array, " out_size"]:
        return self.last(self.features(x))


def _split_pirate(model):
    """Return (prefix callable, PirateNet, setter) for a PirateNet or a Sequential ending in one."""
    if isinstance(model, PirateNet):
        return (lambda x: x), model, (lambda new: new)
    if isinstance(model, eqx.nn.Sequential) and len(model.layers) and isinstance(model.layers[-1], PirateNet):
        head = eqx.nn.Sequential(model.layers[:-1]) if len(model.layers) > 1 else (lambda x: x)
        setter = lambda new: eqx.tree_at(lambda m: m.layers[-1], model, new)  # noqa: E731
        return head, model.layers[-1], setter
    raise ValueError(
        f"model must be a PirateNet or an eqx.nn.Sequential ending in one, got {type(model).__name__}"
    )


@eqx.filter_jit
def pirate_init_last_layer(
    model: eqx.Module,
    x: Float[Array, "n in_size"],
    y: Float[Array, "n out_size"],
    *,
    rcond: Optional[float] = None,
) -> eqx.Module:
    r"""Physics-informed initialisation: fit the last layer of a PirateNet to data by least squares.

    With penultimate features $\Phi \in \mathbb R^{n\times m}$ (rows `net.features(x_i)`, after any
    embedding in front of the network), solves
    $$\min_{W, b}\ \lVert \Phi W^\top + \mathbf 1 b^\top - Y \rVert_F^2$$
    and writes $W$, $b$ into the last layer (an `RWFLinear` keeps its scales $s$ and gets
    $V = W / e^{s}$). At initialisation the features are the embedding itself, so the network then
    reproduces the best fit of e.g. the initial condition within the span of the embedding.

    **Arguments:**

    - `model`: a `PirateNet`, or an `eqx.nn.Sequential` whose last layer is one (its earlier layers,
      e.g. an embedding, are applied to `x` first).
    - `x`: input points, shape `(n, d)` with `d` the model's input width.
    - `y`: targets, shape `(n, out_size)` (or `(n,)` when `out_size == 1`).
    - `rcond`: cut-off for small singular values, as in `jnp.linalg.lstsq`.

    **Returns:** the model with its last layer replaced.

    **References:** Wang, Li, Chen & Perdikaris, "PirateNets", JMLR 2024, Sec. 4.
    """
    head, net, setter = _split_pirate(model)
    x = jnp.asarray(x)
    y = jnp.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, in_size), got shape {x.shape}")
    if y.ndim == 1 and net.out_size == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape != (x.shape[0], net.out_size):
        raise ValueError(f"y must have shape ({x.shape[0]}, {net.out_size}) to match x, got shape {y.shape}")
    feats = eqx.filter_vmap(lambda xi: net.features(head(xi)))(x)
    design = jnp.concatenate([feats, jnp.ones((feats.shape[0], 1), feats.dtype)], axis=1)
    coef, *_ = jnp.linalg.lstsq(design, y.astype(design.dtype), rcond=rcond)
    weight, bias = coef[:-1].T, coef[-1]
    last = net.last
    if isinstance(last, RWFLinear):
        new_last = eqx.tree_at(lambda l: (l.v, l.bias), last, (weight / jnp.exp(last.s)[:, None], bias))
    else:
        new_last = eqx.tree_at(lambda l: (l.weight, l.bias), last, (weight, bias))
    return setter(eqx.tree_at(lambda n: n.last, net, new_last))
