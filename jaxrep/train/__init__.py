"""Training: the `fit` loop, Orbax checkpoints, pure data samplers and sharding helpers."""

from .._rundir import RunLockedError as RunLockedError
from ._cache import cache_info as cache_info
from ._cache import clear_cache as clear_cache
from ._checkpoint import CheckpointError as CheckpointError
from ._checkpoint import Checkpointer as Checkpointer
from ._checkpoint import CheckpointMismatchError as CheckpointMismatchError
from ._checkpoint import CheckpointSaveError as CheckpointSaveError
from ._data import minibatches as minibatches
from ._ema import EmaState as EmaState
from ._ema import ema as ema
from ._ema import ema_model as ema_model
from ._fit import FitOptions as FitOptions
from ._fit import NonFiniteLossError as NonFiniteLossError
from ._fit import Phase as Phase
from ._fit import fit as fit
from ._sharding import make_mesh as make_mesh
from ._sharding import replicate as replicate
from ._sharding import shard_batch as shard_batch
from ._bfgs import bfgs as bfgs
from ._bfgs import scale_by_bfgs as scale_by_bfgs
from ._soap import soap as soap
from ._state import TrainState as TrainState
