"""Training with gdjax: data iteration, fit loops, repeated runs, statistics, metrics,
datasets and models."""

from gdjax.training import datasets, metrics, models, stats
from gdjax.training.data import (
    Batches,
    batches_per_epoch,
    epoch_batches,
    epoch_orders,
    gather,
    num_examples,
)
from gdjax.training.loop import (
    Batching,
    Checkpointing,
    EarlyStopping,
    Evaluation,
    History,
    NonFiniteLossError,
    fit,
    fit_many,
)

__all__ = [
    "Batches",
    "Batching",
    "Checkpointing",
    "EarlyStopping",
    "Evaluation",
    "History",
    "NonFiniteLossError",
    "batches_per_epoch",
    "datasets",
    "epoch_batches",
    "epoch_orders",
    "fit",
    "fit_many",
    "gather",
    "metrics",
    "models",
    "num_examples",
    "stats",
]
