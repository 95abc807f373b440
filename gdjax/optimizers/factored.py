"""Optimizers with sublinear memory for their second moments: Adafactor and SM3."""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax._validation import arguments_of, check_flag
from gdjax.base import GradientTransformation, ScalarOrSchedule
from gdjax.optimizers.base import Mask, alias
from gdjax.transforms.clipping import clip_by_block_rms
from gdjax.transforms.factored import scale_by_factored_rms, scale_by_sm3
from gdjax.transforms.momentum import ema
from gdjax.transforms.scaling import scale, scale_by_learning_rate
from gdjax.transforms.trust_ratio import scale_by_param_block_rms
from gdjax.transforms.weight_decay import add_decayed_weights


def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: ArrayLike = 0.8,
    decay_offset: ArrayLike = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: ArrayLike | None = 1.0,
    momentum: ArrayLike | None = None,
    dtype_momentum: DTypeLike = jnp.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: ArrayLike = 1e-30,
    factored: bool = True,
    weight_decay_mask: Mask = None,
) -> GradientTransformation:
    """Adafactor (Shazeer & Stern 2018): Adam's scaling with factored second moments, no first.


        d = g / sqrt(v̂)                      (factored estimate, see `scale_by_factored_rms`)
        d = d / max(1, rms(d) / clipping_threshold)          (update clipping)
        d = lr * d
        d = d * max(rms(x), 1e-3)            (multiply_by_parameter_scale: a relative step)
        m = momentum * m + (1 - momentum) * d;   d = m        (momentum, no debiasing)
        x = x - (d + weight_decay_rate * x)

    ``rms`` is taken per leaf. The rate multiplies the step before the
    parameter scale and the momentum; the weight decay is not multiplied by it.
    ``learning_rate=None`` means 1.

    PyTorch's ``Adafactor(lr, beta2_decay, eps=(None, eps2), d, weight_decay)``
    on matrices and vectors is ``adafactor(lambda t: jnp.minimum(lr, 1 / jnp.sqrt(t + 1)),
    min_dim_size_to_factor=0, decay_rate=-beta2_decay, clipping_threshold=d,
    weight_decay_rate=lr * weight_decay)`` (with ``eps2 = 1e-3`` the default):
    its relative step ``min(lr, 1/sqrt(t))`` is the schedule, and it factors
    every matrix. It factors the last two axes of a higher-rank tensor where
    this factors the two largest, and keeps its eps1 as a floor under the
    estimate where this adds ``eps`` to ``g**2``.

    Args:
      learning_rate: float, array or schedule, >= 0; ``None`` (default) is 1.
      min_dim_size_to_factor: static: factor only leaves whose two largest axes
        have at least this many entries. Default 128.
      decay_rate: exponent of the second-moment decay ``1 - t**(-decay_rate)``,
        ≥ 0. Default 0.8.
      decay_offset: the step a fine-tuning starts at (the decay restarts
        there), an integer >= 0. Default 0.
      multiply_by_parameter_scale: scale the step by each param's rms. Default True.
      clipping_threshold: positive (1 in the paper), or ``None`` for no clipping. Default 1.
      momentum: in [0, 1), or ``None`` (default) for none.
      dtype_momentum: dtype of the momentum buffer. Default float32.
      weight_decay_rate: ≥ 0, a float or a schedule, or ``None`` (default) for none.
      eps: added to ``g**2``, >= 0. Default 1e-30.
      factored: factor the second moments. Default True.
      weight_decay_mask: where weight decay applies (see `gdjax.add_decayed_weights`).
    """
    renames = {
        "step_offset": "decay_offset",
        "epsilon": "eps",
        "threshold": "clipping_threshold",
        "decay": "momentum",
        "weight_decay": "weight_decay_rate",
        "mask": "weight_decay_mask",
    }
    with arguments_of("adafactor", **renames):
        check_flag("adafactor", "multiply_by_parameter_scale", multiply_by_parameter_scale)
        transforms = [
            scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)
        ]
        if clipping_threshold is not None:
            transforms.append(clip_by_block_rms(clipping_threshold))
        if learning_rate is not None:
            transforms.append(scale_by_learning_rate(learning_rate, flip_sign=False))
        if multiply_by_parameter_scale:
            transforms.append(scale_by_param_block_rms())
        if momentum is not None:
            transforms.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
        if weight_decay_rate is not None:
            transforms.append(add_decayed_weights(weight_decay_rate, weight_decay_mask))
        transforms.append(scale(-1))
    return alias("adafactor", *transforms)


# --------------------------------------------------------------------------- SM3


def sm3(
    learning_rate: ScalarOrSchedule, momentum: ArrayLike | None = 0.9
) -> GradientTransformation:
    """SM3 (Anil, Gupta, Koren & Singer 2019): AdaGrad in the memory of a row and a column.


        nu'  = g**2 + min over axes of the accumulators      (see `scale_by_sm3`)
        m    = momentum * m + (1 - momentum) * g / sqrt(nu' + 1e-8)
        x    = x - lr * m

    Args:
      learning_rate: float, array, schedule or per-parameter pytree, >= 0.
      momentum: in [0, 1]. Default 0.9. ``None`` is 0 (no momentum).
    """
    with arguments_of("sm3", b1="momentum"):
        return alias(
            "sm3",
            scale_by_sm3(0.0 if momentum is None else momentum),
            scale_by_learning_rate(learning_rate),
        )
