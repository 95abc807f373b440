"""Beyond one device: data parallelism on `jax.sharding` meshes, EASGD, delayed gradients.

Seed 002 §5 (parallel and distributed SGD) on JAX's own runtime: meshes within
a process, `jax.distributed` across processes, XLA's SPMD partitioner for the
reductions. Stale gradients are simulated on one machine (`delayed`), with
delay-tolerant AdaGrad (`adaptive_revision`) as the optimizer built for them.
"""

from gdjax.distributed.adaptive_revision import AdaptiveRevisionState, adaptive_revision
from gdjax.distributed.data_parallel import (
    DataParallel,
    data_mesh,
    data_parallel,
    place,
    to_host,
    zero_specs,
)
from gdjax.distributed.delayed import DelayedState, delayed
from gdjax.distributed.easgd import (
    EasgdState,
    easgd,
    easgd_center,
    replicate_workers,
    shard_workers,
)

__all__ = [
    "AdaptiveRevisionState",
    "DataParallel",
    "DelayedState",
    "EasgdState",
    "adaptive_revision",
    "data_mesh",
    "data_parallel",
    "delayed",
    "easgd",
    "easgd_center",
    "place",
    "replicate_workers",
    "shard_workers",
    "to_host",
    "zero_specs",
]
