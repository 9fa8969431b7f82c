r"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioner, as a plain optax transformation."""

import functools
import math
import numbers
from typing import Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Int, PyTree

from .._validate import check_fraction, check_int

_HI = jax.lax.Precision.HIGHEST


class ScaleBySoapState(NamedTuple):
    """State of `scale_by_soap`; every leaf is an array.

    `stats` and `bases` mirror the updates' tree; each of their leaves is a tuple with one entry per
    axis of the parameter: an `(n, n)` matrix for a preconditioned axis of size `n`, `None` otherwise.
    """

    count: Int[Array, ""]
    mu: PyTree  # first moment, kept in the original coordinates
    nu: PyTree  # second moment, kept in the rotated coordinates
    stats: PyTree  # Shampoo statistics L, R, ... (one per preconditioned axis)
    bases: PyTree  # their (approximate) eigenbases Q_L, Q_R, ...


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


_check_unit = check_fraction


def _check_nonneg(value, name: str) -> float:
    if not _is_real(value) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite float >= 0, got {value!r}")
    return float(value)


_check_int = check_int


def _precond_axes(shape: tuple, max_precond_dim: int) -> tuple:
    """Which axes get a Shampoo factor: all those of size <= max_precond_dim, for ndim >= 2 only."""
    if len(shape) < 2:
        return (False,) * len(shape)
    return tuple(n <= max_precond_dim for n in shape)


def _rotate(x: Array, bases: tuple, *, back: bool) -> Array:
    r"""$x \times_i Q_i^\top$ along every preconditioned axis $i$ (or $\times_i Q_i$ with `back`)."""
    for axis, q in enumerate(bases):
        if q is not None:
            # tensordot puts the contracted-and-replaced axis last; move it back into place.
            x = jnp.tensordot(x, q, axes=([axis], [1 if back else 0]), precision=_HI)
            x = jnp.moveaxis(x, -1, axis)
    return x


def _outer(g: Array, axis: int) -> Array:
    r"""$G_{(i)} G_{(i)}^\top$: contract `g` with itself over every axis but `axis`."""
    others = [a for a in range(g.ndim) if a != axis]
    return jnp.tensordot(g, g, axes=(others, others), precision=_HI)


def scale_by_soap(
    b1: float = 0.95,
    b2: float = 0.95,
    eps: float = 1e-8,
    shampoo_beta: Optional[float] = None,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
) -> optax.GradientTransformation:
    r"""Rescale updates by SOAP: Adam in the eigenbasis of Shampoo's preconditioner.

    This is [`jaxrep.train.soap`][] without the learning rate, weight decay and sign flip; see there
    for the equations and the meaning of the arguments.

    **Returns:** an `optax.GradientTransformation` whose state is a `ScaleBySoapState`.
    """
    b1 = _check_unit(b1, "b1")
    b2 = _check_unit(b2, "b2")
    eps = _check_nonneg(eps, "eps")
    shampoo_beta = b2 if shampoo_beta is None else _check_unit(shampoo_beta, "shampoo_beta")
    precondition_frequency = _check_int(precondition_frequency, "precondition_frequency", 1)
    max_precond_dim = _check_int(max_precond_dim, "max_precond_dim", 0)

    def init_fn(params):
        zeros = lambda p: jnp.zeros(p.shape, p.dtype)  # noqa: E731
        leaves, treedef = jax.tree_util.tree_flatten(params)
        stats, bases = [], []
        for p in leaves:
            axes = _precond_axes(p.shape, max_precond_dim)
            stats.append(tuple(jnp.zeros((n, n), p.dtype) if a else None for n, a in zip(p.shape, axes)))
            # Identity bases until the first refresh (end of step 1): that first step is plain Adam.
            bases.append(tuple(jnp.eye(n, dtype=p.dtype) if a else None for n, a in zip(p.shape, axes)))
        return ScaleBySoapState(
            count=jnp.zeros([], jnp.int32),
            # Strongly typed zeros, so that the state's types do not change at the first update.
            mu=jax.tree_util.tree_map(zeros, params),
            nu=jax.tree_util.tree_map(zeros, params),
            stats=jax.tree_util.tree_unflatten(treedef, stats),
            bases=jax.tree_util.tree_unflatten(treedef, bases),
        )

    def update_fn(updates, state, params=None):
        del params
        leaves, treedef = jax.tree_util.tree_flatten(updates)
        mus = treedef.flatten_up_to(state.mu)
        nus = treedef.flatten_up_to(state.nu)
        stats = treedef.flatten_up_to(state.stats)
        bases = treedef.flatten_up_to(state.bases)
        count = optax.safe_increment(state.count)

        out, new_mu, new_nu, new_stats = [], [], [], []
        for g, mu, nu, stat, basis in zip(leaves, mus, nus, stats, bases):
            t = count.astype(g.dtype)
            g_rot = _rotate(g, basis, back=False)
            mu = b1 * mu + (1 - b1) * g
            nu = b2 * nu + (1 - b2) * jnp.square(g_rot)
            mu_hat = _rotate(mu, basis, back=False) / (1 - b1**t)
            nu_hat = nu / (1 - b2**t)
            out.append(_rotate(mu_hat / (jnp.sqrt(nu_hat) + eps), basis, back=True))
            # The statistics see G_t only after the update: the rotation never uses the current gradient.
            new_stats.append(
                tuple(
                    None if s is None else shampoo_beta * s + (1 - shampoo_beta) * _outer(g, i)
                    for i, s in enumerate(stat)
                )
            )
            new_mu.append(mu)
            new_nu.append(nu)

        if any(q is not None for basis in bases for q in basis):
            # 0: keep the bases; 1: first eigenbases by eigh (after step 1); 2: power iteration + QR.
            branch = jnp.where(count == 1, 1, jnp.where(count % precondition_frequency == 0, 2, 0))
            refreshes = (_keep, functools.partial(_first_bases, b2=b2), _power_qr)
            bases, new_nu = jax.lax.switch(branch, refreshes, leaves, new_nu, new_stats, bases)

        unflat = lambda xs: jax.tree_util.tree_unflatten(treedef, xs)  # noqa: E731
        new_state = ScaleBySoapState(
            count=count,
            mu=unflat(new_mu),
            nu=unflat(new_nu),
            stats=unflat(new_stats),
            bases=unflat(bases),
        )
        return unflat(out), new_state

    return optax.GradientTransformation(init_fn, update_fn)


# The refreshes act on all factors at once, batching the eigh/QR of factors of equal size: one
# decomposition per distinct size keeps compile time flat in the number of layers.


def _factors(stats: list) -> dict:
    """Group the (leaf, axis) positions of the preconditioned axes by their size."""
    groups = {}
    for leaf, stat in enumerate(stats):
        for axis, s in enumerate(stat):
            if s is not None:
                groups.setdefault((s.shape[0], s.dtype), []).append((leaf, axis))
    return groups


def _scatter(bases: list, positions: list, qs: Array) -> None:
    for (leaf, axis), q in zip(positions, qs):
        basis = list(bases[leaf])
        basis[axis] = q
        bases[leaf] = tuple(basis)


def _stack(mats: list) -> Array:
    """Stack same-size factors for one batched decomposition, in at least float32 (no half-precision
    eigh/QR kernels)."""
    x = jnp.stack(mats)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _keep(gs, nus, stats, bases):
    return bases, nus


def _first_bases(gs, nus, stats, bases, *, b2):
    bases = list(bases)
    for positions in _factors(stats).values():
        s = [stats[i][a] for i, a in positions]
        _, qs = jnp.linalg.eigh(_stack(s))
        _scatter(bases, positions, qs[..., ::-1].astype(s[0].dtype))  # by decreasing eigenvalue
    # After one step nu = (1 - b2) G_1'^2 exactly, so recompute it in the new bases: the result is
    # what nu would be had those bases been used from the start.
    nus = [(1 - b2) * jnp.square(_rotate(g, basis, back=False)) for g, basis in zip(gs, bases)]
    return bases, nus


def _power_qr(gs, nus, stats, bases):
    bases, nus = list(bases), list(nus)
    for positions in _factors(stats).values():
        dtype = stats[positions[0][0]][positions[0][1]].dtype
        s = _stack([stats[i][a] for i, a in positions])
        q = _stack([bases[i][a] for i, a in positions])
        # Sort each basis by its estimated eigenvalues diag(Q^T L Q) (decreasing) and carry nu's
        # coordinates along; one power-iteration step Q <- QR(L Q) then keeps that order.
        est = jnp.einsum("bij,bik,bkj->bj", q, s, q, precision=_HI)
        order = jnp.argsort(-est, axis=-1)
        q = jnp.take_along_axis(q, order[:, None, :], axis=2)
        q, _ = jnp.linalg.qr(jnp.matmul(s, q, precision=_HI))
        _scatter(bases, positions, q.astype(dtype))
        for (leaf, axis), o in zip(positions, order):
            nus[leaf] = jnp.take(nus[leaf], o, axis=axis)
    return bases, nus


def soap(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.95,
    b2: float = 0.95,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    shampoo_beta: Optional[float] = None,
    mask: Optional[Union[PyTree, Callable[[PyTree], PyTree]]] = None,
) -> optax.GradientTransformation:
    r"""The SOAP optimiser: Adam(W) run in the eigenbasis of Shampoo's preconditioner.

    For a matrix parameter $W\in\mathbb{R}^{m\times n}$ with gradient $G_t$, SOAP keeps Shampoo's
    statistics and their eigenbases,

    $$L_t = \beta_s L_{t-1} + (1-\beta_s)\,G_t G_t^\top,\qquad
      R_t = \beta_s R_{t-1} + (1-\beta_s)\,G_t^\top G_t,$$

    and runs Adam on the rotated gradient $G'_t = Q_L^\top G_t Q_R$, with the first moment kept in the
    original coordinates and projected:

    $$M_t = \beta_1 M_{t-1} + (1-\beta_1) G_t,\qquad
      V_t = \beta_2 V_{t-1} + (1-\beta_2)\, G'_t\odot G'_t,$$

    $$N'_t = \frac{Q_L^\top M_t Q_R / (1-\beta_1^t)}{\sqrt{V_t/(1-\beta_2^t)}+\epsilon},\qquad
      W_t = W_{t-1} - \eta_t\left(Q_L N'_t Q_R^\top + \lambda W_{t-1}\right).$$

    After the update, $L_t, R_t$ absorb $G_t$ and, every `precondition_frequency` steps $f$, the
    bases are refreshed by one step of power iteration, $Q_L \leftarrow \mathrm{QR}(L_t Q_L)$ (columns
    first sorted by the estimated eigenvalues $\mathrm{diag}(Q_L^\top L_t Q_L)$, with the matching
    axis of $V$ permuted alike), and $Q_R$ likewise (Algorithms 3 and 4 of Vyas et al.). The bases
    start as the identity, so step 1 is exactly Adam(W); right after it they are set by a full
    eigendecomposition of $L_1, R_1$, and $V_1$ is re-expressed in them.

    A tensor of any rank $\ge 2$ gets one factor per axis (the rotation acts along every axis).
    One-dimensional and scalar parameters (biases), and any axis longer than `max_precond_dim`, use the
    identity along that axis — plain Adam there. The memory cost is one $n\times n$ matrix pair per
    preconditioned axis of size $n$. All state is arrays, so the optimiser runs under `jax.jit`, inside
    `jax.lax.scan`, and checkpoints like any optax state.

    Unlike the reference PyTorch code, step 1 is not skipped (it is an Adam step) and $\epsilon$ is
    added after the bias correction, as in `optax.adam`.

    **Arguments:**

    - `learning_rate`: $\eta$, a float $> 0$ or an optax schedule `step -> float`.
    - `b1`, `b2`: Adam's decay rates $\beta_1,\beta_2\in[0, 1)$.
    - `eps`: $\epsilon\ge 0$, added to the root of the second moment.
    - `weight_decay`: decoupled (AdamW) weight decay $\lambda\ge 0$, applied on the original coordinates.
    - `precondition_frequency`: $f\ge 1$, steps between refreshes of the eigenbases.
    - `max_precond_dim`: axes longer than this are not preconditioned.
    - `shampoo_beta`: $\beta_s\in[0, 1)$ for $L, R$; `None` (default) uses `b2`.
    - `mask`: as in `optax.adamw`, which parameters receive weight decay.

    **Returns:** an `optax.GradientTransformation`
    (`optax.chain(scale_by_soap(...), add_decayed_weights(...), scale_by_learning_rate(...))`).

    **References:** Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener, Janson, Kakade, "SOAP:
    Improving and Stabilizing Shampoo using Adam", ICLR 2025, arXiv:2409.11321. Gupta, Koren, Singer,
    "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML 2018, arXiv:1802.09568.
    """
    if not callable(learning_rate) and not isinstance(learning_rate, jax.core.Tracer):
        lr = np.asarray(learning_rate)
        if lr.shape != () or lr.dtype.kind not in "fiu" or not (np.isfinite(lr) and lr > 0):
            raise ValueError(
                f"learning_rate must be a finite float > 0 or an optax schedule, got {learning_rate!r}"
            )
    weight_decay = _check_nonneg(weight_decay, "weight_decay")
    return optax.chain(
        scale_by_soap(
            b1=b1,
            b2=b2,
            eps=eps,
            shampoo_beta=shampoo_beta,
            precondition_frequency=precondition_frequency,
            max_precond_dim=max_precond_dim,
        ),
        optax.add_decayed_weights(weight_decay, mask),
        optax.scale_by_learning_rate(learning_rate),
    )
