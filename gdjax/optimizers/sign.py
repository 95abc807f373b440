"""Sign-based optimizers: signSGD, Signum, Lion and Rprop; each a chain of transformations."""

from __future__ import annotations

from jax.typing import ArrayLike, DTypeLike

from gdjax._validation import arguments_of
from gdjax.base import GradientTransformation, ScalarOrSchedule
from gdjax.optimizers.base import Mask, alias
from gdjax.transforms.momentum import ema
from gdjax.transforms.scaling import scale, scale_by_learning_rate
from gdjax.transforms.sign import scale_by_lion, scale_by_rprop, scale_by_sign
from gdjax.transforms.weight_decay import add_decayed_weights


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """signSGD (Bernstein et al. 2018): descend by the sign of every coordinate.


        x = x - lr * sign(g)

    Every coordinate moves by ``lr`` (or not at all where ``g = 0``), whatever the
    size of its gradient.

    Args:
      learning_rate: float, array, schedule or per-parameter pytree, >= 0.
    """
    with arguments_of("sign_sgd"):
        return alias("sign_sgd", scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(
    learning_rate: ScalarOrSchedule,
    beta: ArrayLike = 0.9,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    """Signum (Bernstein et al. 2018): signSGD on a moving average of the gradients.


        m = beta * m + (1 - beta) * g;    x = x - lr * sign(m)

    The average is not debiased: only its sign counts.

    Args:
      learning_rate: the rate, >= 0.
      beta: the average's decay in [0, 1). Default 0.9.
      accumulator_dtype: dtype of ``m``; ``None`` (default) follows the params.
    """
    with arguments_of("signum", decay="beta"):
        return alias(
            "signum",
            ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
            scale_by_sign(),
            scale_by_learning_rate(learning_rate),
        )


def lion(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Mask = None,
) -> GradientTransformation:
    """Lion (Chen et al. 2023): the sign of an interpolated momentum, with decoupled weight decay.


        x = x - lr * (sign(b1 * m + (1 - b1) * g) + wd * x)
        m = b2 * m + (1 - b2) * g

    Every coordinate moves by about ``lr``, so Lion takes rates 3-10x smaller than
    AdamW's and a weight decay 3-10x larger (the same ``lr * wd``). The weight
    decay is multiplied by the rate, as in PyTorch's AdamW. See `scale_by_lion`.

    Args:
      learning_rate: the rate, >= 0.
      b1: the interpolation in [0, 1]. Default 0.9.
      b2: the momentum's decay in [0, 1]. Default 0.99.
      mu_dtype: dtype of ``m``; ``None`` (default) follows the params.
      weight_decay: ≥ 0 or a schedule. Default 1e-3.
      mask: where weight decay applies (see `add_decayed_weights`).
    """
    with arguments_of("lion"):
        return alias(
            "lion",
            scale_by_lion(b1, b2, mu_dtype),
            add_decayed_weights(weight_decay, mask),
            scale_by_learning_rate(learning_rate),
        )


def rprop(
    learning_rate: ArrayLike,
    eta_minus: ArrayLike = 0.5,
    eta_plus: ArrayLike = 1.2,
    min_step_size: ArrayLike = 1e-6,
    max_step_size: ArrayLike = 50.0,
) -> GradientTransformation:
    """Rprop (Riedmiller & Braun 1993): a step size per coordinate, adapted by sign agreement.


        s = clip(s * (eta_plus if g agrees with the last step else eta_minus), min, max)
        x = x - s * sign(g)          (no step, and no memory, right after a sign change)

    ``learning_rate`` is the initial step size of every coordinate, not a factor
    of the steps: it is a number or an array, not a schedule. See `scale_by_rprop`.

    PyTorch's ``Rprop(lr, etas=(eta_minus, eta_plus), step_sizes=(min, max))`` is
    ``rprop(lr, eta_minus, eta_plus, min, max)`` for an ``lr`` between the two
    bounds. (PyTorch clamps ``lr`` into them at its first step; gdjax and optax
    clamp a step size only when they change it.) Unlike optax 0.2.8, whose steps
    lag one behind (its first step is zero), gdjax takes the step it has just
    computed, as PyTorch does.

    Args:
      learning_rate: the initial step size, >= 0.
      eta_minus: the factor in (0, 1] after a sign change. Default 0.5.
      eta_plus: the factor >= 1 while the sign holds. Default 1.2.
      min_step_size: the smallest step size, >= 0. Default 1e-6.
      max_step_size: the largest step size, >= min_step_size. Default 50.
    """
    with arguments_of("rprop"):
        return alias(
            "rprop",
            scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
            scale(-1.0),
        )
