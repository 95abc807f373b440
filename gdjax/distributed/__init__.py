"""Beyond one device: data parallelism, EASGD, and the asynchronous algorithms of seed 002 §5.

The synchronous side runs on JAX's own runtime: meshes within a process,
`jax.distributed` across processes, XLA's SPMD partitioner for the reductions.
The asynchronous side runs on the engine that fits it: Hogwild! as processes
writing one array in shared memory without locks (`hogwild`), Downpour as Ray
actors (a sharded parameter server and model replicas, `downpour`, the
``async`` extra). Stale gradients are also simulated deterministically
(`delayed`), with delay-tolerant AdaGrad (`adaptive_revision`, and
`AdaptiveRevisionServer` on Downpour's server) as the rule built for them.
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
from gdjax.distributed.downpour import (
    AdaptiveRevisionServer,
    DownpourOptions,
    DownpourResult,
    DownpourWorkerError,
    downpour,
)
from gdjax.distributed.easgd import (
    EasgdState,
    Elasticity,
    easgd,
    easgd_center,
    replicate_workers,
    shard_workers,
)
from gdjax.distributed.hogwild import (
    HogwildOptions,
    HogwildResult,
    HogwildWorkerError,
    SparseDesign,
    dense_correlated,
    hogwild,
    logistic_loss,
    sparse_logistic,
)

__all__ = [
    "AdaptiveRevisionServer",
    "AdaptiveRevisionState",
    "DataParallel",
    "DelayedState",
    "DownpourOptions",
    "DownpourResult",
    "DownpourWorkerError",
    "EasgdState",
    "Elasticity",
    "HogwildOptions",
    "HogwildResult",
    "HogwildWorkerError",
    "SparseDesign",
    "adaptive_revision",
    "data_mesh",
    "data_parallel",
    "delayed",
    "dense_correlated",
    "downpour",
    "easgd",
    "easgd_center",
    "hogwild",
    "logistic_loss",
    "place",
    "replicate_workers",
    "shard_workers",
    "sparse_logistic",
    "to_host",
    "zero_specs",
]
