"""Data-parallel helpers over `jax.sharding`: replicated state, batch sharded on its leading axis."""

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh(n_devices: int | None = None, axis: str = "data") -> Mesh:
    """A 1-D mesh over the first `n_devices` devices (all by default), with axis name `axis`.

    Multi-host: call `jax.distributed.initialize()` first; `jax.devices()` then lists every host's
    devices and the same mesh spans them all.
    """
    devices = jax.devices()
    n = len(devices) if n_devices is None else n_devices
    if not 1 <= n <= len(devices):
        raise ValueError(f"n_devices must be in [1, {len(devices)}], got {n_devices}")
    return Mesh(devices[:n], (axis,))


def _put(x, sharding):
    """`jax.device_put`, but in a multi-process run a host value becomes a global array directly from each
    process's copy (`jax.make_array_from_process_local_data`), without `device_put`'s cross-process
    all-gather that checks the copies agree (one compiled program per leaf shape, on every step)."""
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return x if x.sharding.is_equivalent_to(sharding, x.ndim) else jax.device_put(x, sharding)
    x = np.asarray(x)
    return jax.make_array_from_process_local_data(sharding, x, x.shape)


def replicate(tree, mesh: Mesh):
    """Place every array of `tree` on all devices of `mesh` (replicated).

    Arrays already committed to one device are moved too. In a multi-process run every process holds the
    same values (same seed), so each contributes its own copy.
    """
    sharding = NamedSharding(mesh, P())
    return jax.tree_util.tree_map(lambda x: _put(x, sharding) if eqx.is_array(x) else x, tree)


def _spec(x, mesh, axis, scan_axis):
    size = mesh.shape[axis]
    lead = 1 if scan_axis else 0
    if x.ndim <= lead or x.shape[lead] % size != 0:
        return NamedSharding(mesh, P())
    return NamedSharding(mesh, P(*([None] * lead), axis))


def shard_batch(batch, mesh: Mesh, axis: str = "data", *, scan_axis: bool = False):
    """Shard each array's batch axis (axis 0, or axis 1 under a leading scan axis) over `axis`.

    Arrays whose batch size is not divisible by the number of devices are replicated instead.
    """
    return jax.tree_util.tree_map(lambda x: _put(x, _spec(x, mesh, axis, scan_axis)), batch)


def shard_batch_constraint(batch, mesh: Mesh, axis: str = "data"):
    """Inside `jit`: constrain the batch's leading axis to be sharded over `axis`."""
    return jax.tree_util.tree_map(
        lambda x: jax.lax.with_sharding_constraint(x, _spec(x, mesh, axis, False)), batch
    )
