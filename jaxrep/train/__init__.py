"""Training: the `fit` loop, Orbax checkpoints, pure data samplers and sharding helpers."""

from ._checkpoint import Checkpointer as Checkpointer
from ._data import minibatches as minibatches
from ._fit import FitOptions as FitOptions
from ._fit import NonFiniteLossError as NonFiniteLossError
from ._fit import Phase as Phase
from ._fit import fit as fit
from ._sharding import make_mesh as make_mesh
from ._sharding import replicate as replicate
from ._sharding import shard_batch as shard_batch
from ._soap import soap as soap
from ._state import TrainState as TrainState
