"""Neural-network building blocks: MLP, Fourier features, SIREN and the KAN family.

Every module acts on one unbatched sample; batch with `jax.vmap`.
"""

from ._activations import get_activation as get_activation
from ._build import build_model as build_model
from ._model_config import ModelConfig as ModelConfig
from ._mlp import MLP as MLP
from ._mlp import SIREN as SIREN
from ._mlp import FourierFeatures as FourierFeatures
from ._unet import UNet as UNet
from ._unet import sinusoidal_embedding as sinusoidal_embedding

# --- PINN backbones ---
from ._pinn_nets import ModifiedMLP as ModifiedMLP
from ._pinn_nets import PeriodicEmbedding as PeriodicEmbedding
from ._pinn_nets import PirateNet as PirateNet
from ._pinn_nets import RWFLinear as RWFLinear
from ._pinn_nets import pirate_init_last_layer as pirate_init_last_layer
from ._pinn_nets import rwf_factorize as rwf_factorize

# --- KAN family ---
from . import basis as basis
from ._fourier_kan import FourierKAN as FourierKAN
from ._grkan import GRKAN as GRKAN
from ._grkan import GroupRational as GroupRational
from ._grkan import KATBlock as KATBlock
from ._grkan import TransformerBlock as TransformerBlock
from ._grkan import group_rational as group_rational
from ._grid import refine_grid as refine_grid
from ._grid import refit_layer as refit_layer
from ._grid import update_grid as update_grid
from ._kan import KAN as KAN
from ._kan import KANLayer as KANLayer
from ._kan import combine_nodes as combine_nodes
from ._kan_basis import AbstractBasis as AbstractBasis
from ._kan_basis import BSplineBasis as BSplineBasis
from ._kan_basis import ChebyshevBasis as ChebyshevBasis
from ._kan_basis import FourierBasis as FourierBasis
from ._kan_basis import LegendreBasis as LegendreBasis
from ._kan_basis import RationalBasis as RationalBasis
from ._kan_basis import RBFBasis as RBFBasis
from ._kan_basis import basis_names as basis_names
from ._kan_regularize import coefficient_l1 as coefficient_l1
from ._kan_regularize import edge_scores as edge_scores
from ._kan_regularize import kan_regularization as kan_regularization
from ._kan_regularize import mask_edges as mask_edges
from ._kan_regularize import prune as prune
from ._symbolic import SYMBOLIC_LIBRARY as SYMBOLIC_LIBRARY
from ._symbolic import SymbolicFunction as SymbolicFunction
from ._symbolic import SymbolicKAN as SymbolicKAN
from ._symbolic import auto_symbolic as auto_symbolic
from ._symbolic import suggest_symbolic as suggest_symbolic
from ._symbolic import symbolic_formula as symbolic_formula


def __getattr__(name):
    # `jr.nn.flax` imports Flax only when first used.
    if name == "flax":
        import importlib

        return importlib.import_module(".flax", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
