"""Neural-network building blocks: MLP, Fourier features, SIREN and the KAN family.

Every module acts on one unbatched sample; batch with `jax.vmap`.
"""

from ._activations import get_activation as get_activation
from ._build import build_model as build_model
from ._mlp import MLP as MLP
from ._mlp import SIREN as SIREN
from ._mlp import FourierFeatures as FourierFeatures
