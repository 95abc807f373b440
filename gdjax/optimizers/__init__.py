"""The aliases: each optimizer a chain of transformations behind input checks.

`gdjax.optimizers.texts` holds the optimizers of the texts; `base` what every
alias is built from; `kinds` what each argument of an alias is.
"""

from gdjax.optimizers.adam_variants import (
    adabelief,
    adamaxw,
    adan,
    nadamw,
    novograd,
    radam,
    yogi,
)
from gdjax.optimizers.base import Mask
from gdjax.optimizers.factored import (
    adafactor,
    sm3,
)
from gdjax.optimizers.kinds import hyperparameter_kinds
from gdjax.optimizers.lbfgs import lbfgs
from gdjax.optimizers.recent import (
    ademamix,
    adopt,
    muon,
    prodigy,
    schedule_free_adamw,
    schedule_free_sgd,
    simplified_ademamix,
)
from gdjax.optimizers.sign import (
    lion,
    rprop,
    sign_sgd,
    signum,
)
from gdjax.optimizers.step_sizes import (
    optimistic_adam,
    optimistic_gradient_descent,
    polyak_sgd,
)
from gdjax.optimizers.texts import (
    adadelta,
    adagrad,
    adam,
    adamax,
    adamw,
    amsgrad,
    nadam,
    noisy_sgd,
    rmsprop,
    sgd,
)
from gdjax.optimizers.trust_ratio import (
    fromage,
    lamb,
    lars,
)

__all__ = [
    "Mask",
    "adabelief",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "ademamix",
    "adopt",
    "amsgrad",
    "fromage",
    "hyperparameter_kinds",
    "lamb",
    "lars",
    "lbfgs",
    "lion",
    "muon",
    "nadam",
    "nadamw",
    "noisy_sgd",
    "novograd",
    "optimistic_adam",
    "optimistic_gradient_descent",
    "polyak_sgd",
    "prodigy",
    "radam",
    "rmsprop",
    "rprop",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "sgd",
    "sign_sgd",
    "signum",
    "simplified_ademamix",
    "sm3",
    "yogi",
]
