r"""The trainable pieces of PINN / PIKE / SPIKE as Equinox modules (one sample each)."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..koopman import AbstractGenerator


class PINNField(eqx.Module):
    r"""The network solution $u_\theta(x, t)$: a backbone on inputs rescaled to $[-1, 1]^{d+1}$.

    $u_\theta(x, t) = T\big(\mathrm{net}(2\frac{(x, t) - \ell}{h - \ell} - 1), x, t\big)$ with $\ell, h$
    the corners of the space-time box (the whole time window, so extrapolation inputs stay in range)
    and $T$ an optional output transform (`transform(u_hat, x, t)`, e.g. a `HardConstraint` that builds
    the initial and boundary conditions in; identity when `None`).
    Acts on **one** point: `x` of shape `(d,)`, scalar `t`; returns `(n_out,)`.
    """

    net: eqx.Module
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    n_out: int = eqx.field(static=True)
    transform: Optional[eqx.Module] = None

    def __call__(self, x: Float[Array, " d"], t: Float[Array, ""]) -> Float[Array, " n_out"]:
        d = len(self.lower) - 1
        if jnp.shape(x) != (d,) or jnp.ndim(t) != 0:
            raise ValueError(
                f"PINNField expects x of shape ({d},) and a scalar t for one point, got "
                f"{jnp.shape(x)} and {jnp.shape(t)} (for batches use jax.vmap)"
            )
        y = jnp.concatenate([x, jnp.reshape(t, (1,)).astype(x.dtype if d else jnp.result_type(t))])
        lo = jnp.asarray(self.lower, y.dtype)
        hi = jnp.asarray(self.upper, y.dtype)
        out = self.net(2 * (y - lo) / (hi - lo) - 1)
        if self.transform is None:
            return out
        return self.transform(out, x, jnp.asarray(t, y.dtype))


class Observable(eqx.Module):
    r"""State-inclusive observables $z = [u,\ g(u)]$ (or $g(u, \nabla_x u)$ with `use_gradient`).

    Because $u$ is the first block of $z$, the state is read back linearly from any latent vector:
    $u = z_{:n}$. $g$ is a tanh MLP. Acts on one point.
    """

    g: Optional[eqx.Module]
    n_out: int = eqx.field(static=True)
    use_gradient: bool = eqx.field(static=True)

    @property
    def dim(self) -> int:
        return self.n_out + (self.g.out_size if self.g is not None else 0)

    def __call__(self, u: Float[Array, " n_out"], grad: Optional[Float[Array, "n_out d"]] = None):
        if self.g is None:
            return u
        feats = u if not self.use_gradient else jnp.concatenate([u, jnp.ravel(grad)])
        return jnp.concatenate([u, self.g(feats)])


class PINNModel(eqx.Module):
    r"""A PINN (`observable = generator = None`) or a PIKE/SPIKE model: network, observables, generator.

    - `u(x, t)`: the network solution, `(n_out,)`;
    - `z(x, t)`: the latent observables $z(x, t) = [u, g(u)]$, `(dim,)`;
    - `A()`: the Koopman generator matrix, `(dim, dim)`.
    """

    field: PINNField
    observable: Optional[Observable] = None
    generator: Optional[AbstractGenerator] = None

    @property
    def has_koopman(self) -> bool:
        return self.generator is not None

    def u(self, x, t):
        return self.field(x, t)

    def z(self, x, t):
        if not self.observable.use_gradient or jnp.shape(x)[0] == 0:
            u = self.field(x, t)
            grad = jnp.zeros(u.shape + (0,), u.dtype) if self.observable.use_gradient else None
            return self.observable(u, grad)
        # u and its spatial Jacobian from one forward-mode pass per direction (the primal is shared;
        # `jacfwd` plus a separate call would run the network once more for u).
        if x.shape[0] == 1:
            # one direction: a plain jvp (a vmap over a length-1 basis costs ~20% more here, as
            # batching the tangents adds broadcasts and transposes to every layer)
            u, u_x = jax.jvp(lambda y: self.field(y, t), (x,), (jnp.ones_like(x),))
            return self.observable(u, u_x[:, None])
        basis = jnp.eye(x.shape[0], dtype=x.dtype)
        u, grad = jax.vmap(lambda v: jax.jvp(lambda y: self.field(y, t), (x,), (v,)),
                           out_axes=(None, -1))(basis)
        return self.observable(u, grad)

    def A(self):
        return self.generator.matrix()
