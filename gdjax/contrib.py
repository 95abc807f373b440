"""optax.contrib's names in gdjax, for code written against ``optax.contrib``.

Each is the same object as its top-level ``gdjax`` name: ``gdjax.contrib.muon``
is `gdjax.muon`.
"""

from gdjax.optimizers.recent import (
    ademamix,
    adopt,
    muon,
    prodigy,
    schedule_free_adamw,
    schedule_free_sgd,
    simplified_ademamix,
)
from gdjax.transforms.ademamix import (
    ScaleByAdemamixState,
    ScaleBySimplifiedAdEMAMixState,
    scale_by_ademamix,
    scale_by_simplified_ademamix,
)
from gdjax.transforms.adopt import scale_by_adopt
from gdjax.transforms.muon import MuonDimensionNumbers, MuonState, scale_by_muon
from gdjax.transforms.plateau import ReduceLROnPlateauState, reduce_on_plateau
from gdjax.transforms.prodigy import ProdigyState
from gdjax.transforms.schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_eval_params,
)

__all__ = [
    "MuonDimensionNumbers",
    "MuonState",
    "ProdigyState",
    "ReduceLROnPlateauState",
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "ScheduleFreeState",
    "ademamix",
    "adopt",
    "muon",
    "prodigy",
    "reduce_on_plateau",
    "scale_by_ademamix",
    "scale_by_adopt",
    "scale_by_muon",
    "scale_by_simplified_ademamix",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "simplified_ademamix",
]
