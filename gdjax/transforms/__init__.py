"""Gradient transformations, one concern per module."""

from gdjax.transforms.adaptive import (
    ScaleByAdaDeltaState,
    ScaleByAdadeltaState,
    ScaleByAdagradState,
    ScaleByAdamState,
    ScaleByAmsgradState,
    ScaleByNadamState,
    ScaleByRmsState,
    ScaleByRssState,
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_rms,
)
from gdjax.transforms.clipping import clip, clip_by_global_norm
from gdjax.transforms.momentum import EmaState, TraceState, ema, trace
from gdjax.transforms.noise import AddNoiseState, add_noise
from gdjax.transforms.plateau import (
    ReduceLROnPlateauState,
    ReduceOnPlateauState,
    reduce_on_plateau,
)
from gdjax.transforms.scaling import (
    ScaleByScheduleState,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
)
from gdjax.transforms.weight_decay import WeightDecayScheduleState, add_decayed_weights
from gdjax.transforms.wrappers import (
    ApplyIfFiniteState,
    InjectHyperparamsState,
    MaskedNode,
    MaskedState,
    PartitionState,
    apply_if_finite,
    for_optax,
    inject_hyperparams,
    masked,
    partition,
)

__all__ = [
    "AddNoiseState",
    "ApplyIfFiniteState",
    "EmaState",
    "InjectHyperparamsState",
    "MaskedNode",
    "MaskedState",
    "PartitionState",
    "ReduceLROnPlateauState",
    "ReduceOnPlateauState",
    "ScaleByAdaDeltaState",
    "ScaleByAdadeltaState",
    "ScaleByAdagradState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByNadamState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "TraceState",
    "WeightDecayScheduleState",
    "add_decayed_weights",
    "add_noise",
    "apply_if_finite",
    "clip",
    "clip_by_global_norm",
    "ema",
    "for_optax",
    "inject_hyperparams",
    "masked",
    "partition",
    "reduce_on_plateau",
    "scale",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_schedule",
    "trace",
]
