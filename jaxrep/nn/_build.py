"""Build a `jaxrep.nn` backbone from a `ModelConfig` (name -> class mapping lives here, at the edge)."""

import equinox as eqx
import jax.random as jr
from jaxtyping import PRNGKeyArray

from ._activations import get_activation
from ._mlp import MLP, SIREN, FourierFeatures


def _build_kan(cfg, in_size, out_size, key):
    from ._kan import KAN

    return KAN([in_size, *cfg.hidden, out_size], basis=cfg.basis, grid_size=cfg.grid_size,
               order=cfg.order, key=key)


def _build_fourier_kan(cfg, in_size, out_size, key):
    from ._fourier_kan import FourierKAN

    return FourierKAN(in_size, out_size, num_frequencies=cfg.grid_size, width_size=cfg.width_size,
                      depth=cfg.depth, activation=get_activation(cfg.activation), key=key)


def build_model(cfg, in_size: int, out_size: int, *, key: PRNGKeyArray) -> eqx.Module:
    """Instantiate the backbone described by `cfg` (a `jaxrep.config.ModelConfig`).

    With `cfg.fourier_features > 0` the backbone is preceded by a frozen `FourierFeatures` embedding.
    The result maps one sample `(in_size,)` to `(out_size,)`.
    """
    k_ff, k_net = jr.split(key)
    net_in = in_size
    embed = None
    if cfg.fourier_features > 0:
        embed = FourierFeatures(in_size, cfg.fourier_features, cfg.fourier_scale, key=k_ff)
        net_in = embed.out_size
    if cfg.kind == "mlp":
        net = MLP(net_in, out_size, cfg.width_size, cfg.depth, get_activation(cfg.activation), key=k_net)
    elif cfg.kind == "siren":
        net = SIREN(net_in, out_size, cfg.width_size, cfg.depth, cfg.omega0, key=k_net)
    elif cfg.kind == "kan":
        net = _build_kan(cfg, net_in, out_size, k_net)
    elif cfg.kind == "fourier_kan":
        net = _build_fourier_kan(cfg, net_in, out_size, k_net)
    else:
        raise ValueError(f"model.kind={cfg.kind!r} is unknown; valid: mlp, siren, kan, fourier_kan")
    if embed is None:
        return net
    return eqx.nn.Sequential([embed, net])
