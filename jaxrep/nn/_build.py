"""Build a `jaxrep.nn` backbone from a `ModelConfig` (name -> class mapping lives here, at the edge)."""

import equinox as eqx
import jax.random as jr
from jaxtyping import PRNGKeyArray

from .._validate import check_positive
from ._activations import get_activation
from ._mlp import MLP, SIREN, FourierFeatures
from ._pinn_nets import ModifiedMLP, PeriodicEmbedding, PirateNet, _check_rwf


def _build_kan(cfg, in_size, out_size, key):
    from ._kan import KAN

    return KAN([in_size, *cfg.hidden, out_size], basis=cfg.basis, grid_size=cfg.grid_size,
               order=cfg.order, key=key)


def _build_fourier_kan(cfg, in_size, out_size, key):
    from ._fourier_kan import FourierKAN

    return FourierKAN(in_size, out_size, num_frequencies=cfg.grid_size, width_size=cfg.width_size,
                      depth=cfg.depth, activation=get_activation(cfg.activation), key=key)


def _build_embeddings(cfg, in_size, key):
    """The embeddings in front of the backbone: periodic (exact), then random Fourier features."""
    layers = []
    periods = getattr(cfg, "periods", None)
    if periods is not None:
        periods = list(periods)
        if len(periods) != in_size:
            raise ValueError(
                f"model.periods must have one entry (a period or null) per input, i.e. {in_size}, "
                f"got {len(periods)}: {periods!r}"
            )
        try:
            layers.append(PeriodicEmbedding(in_size, periods, getattr(cfg, "n_harmonics", 1)))
        except ValueError as e:
            raise ValueError(f"model.{e}") from None
    check_positive(cfg.fourier_scale, "model.fourier_scale")
    if cfg.fourier_features > 0:
        size = layers[-1].out_size if layers else in_size
        layers.append(FourierFeatures(size, cfg.fourier_features, cfg.fourier_scale, key=key))
    return layers


def build_model(cfg, in_size: int, out_size: int, *, key: PRNGKeyArray) -> eqx.Module:
    """Instantiate the backbone described by `cfg` (a `jaxrep.config.ModelConfig`).

    With `cfg.periods` (a period or `None` per input) the backbone is preceded by an exactly periodic
    `PeriodicEmbedding` with `cfg.n_harmonics` harmonics; with `cfg.fourier_features > 0` by a frozen
    `FourierFeatures` embedding (after the periodic one). `cfg.rwf = [mean, std]` switches the
    `modified_mlp` and `pirate` kinds to random weight factorisation. Optional fields are read with
    defaults, so older config objects still work. The result maps one sample `(in_size,)` to `(out_size,)`.
    """
    k_ff, k_net = jr.split(key)
    embeds = _build_embeddings(cfg, in_size, k_ff)
    net_in = embeds[-1].out_size if embeds else in_size
    rwf = getattr(cfg, "rwf", None)
    if rwf is not None:
        rwf = _check_rwf(rwf, "model.rwf")
        if cfg.kind not in ("modified_mlp", "pirate"):
            raise ValueError(f"model.rwf is used by kind modified_mlp and pirate only, got kind={cfg.kind!r}")
    if cfg.kind == "mlp":
        net = MLP(net_in, out_size, cfg.width_size, cfg.depth, get_activation(cfg.activation), key=k_net)
    elif cfg.kind == "siren":
        net = SIREN(net_in, out_size, cfg.width_size, cfg.depth, cfg.omega0, key=k_net)
    elif cfg.kind == "kan":
        net = _build_kan(cfg, net_in, out_size, k_net)
    elif cfg.kind == "fourier_kan":
        net = _build_fourier_kan(cfg, net_in, out_size, k_net)
    elif cfg.kind == "modified_mlp":
        net = ModifiedMLP(net_in, out_size, cfg.width_size, cfg.depth, get_activation(cfg.activation),
                          rwf, key=k_net)
    elif cfg.kind == "pirate":
        net = PirateNet(net_in, out_size, cfg.width_size, getattr(cfg, "n_blocks", 3),
                        get_activation(cfg.activation), rwf, key=k_net)
    else:
        raise ValueError(
            f"model.kind={cfg.kind!r} is unknown; valid: mlp, siren, kan, fourier_kan, modified_mlp, pirate"
        )
    if not embeds:
        return net
    return eqx.nn.Sequential([*embeds, net])
