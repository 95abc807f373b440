"""Optimizers defined by their step: Polyak's step size, optimistic gradient descent and Adam."""

from __future__ import annotations

from jax.typing import ArrayLike, DTypeLike

from gdjax._validation import arguments_of
from gdjax.base import GradientTransformation, ScalarOrSchedule, chain, identity
from gdjax.optimizers.base import alias
from gdjax.transforms.adaptive import scale_by_adam
from gdjax.transforms.optimistic import scale_by_optimistic_gradient
from gdjax.transforms.polyak import scale_by_polyak
from gdjax.transforms.scaling import scale, scale_by_learning_rate


def polyak_sgd(
    max_learning_rate: ArrayLike = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: ArrayLike = 0.0,
    eps: ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    """Gradient descent with Polyak's step size (Loizou, Vaswani, Laradji & Lacoste-Julien 2021).


        d = scaling * g
        x = x - min((f(x) - f_min) / (|d|**2 + eps), max_learning_rate) * d

    (``max(f(x) - f_min, 0)`` with ``variant="sps+"``, Garrigos et al. 2023;
    see `scale_by_polyak`). ``update`` needs the loss:
    ``update(g, state, params, value=f(x))``. The norm is taken of the scaled
    gradient ``d``, as in optax: with ``scaling = s`` the Polyak step is
    ``(f - f_min) / (s**2 |g|**2 + eps)``.

    Args:
      max_learning_rate: the cap on the step, >= 0. Default 1.
      scaling: a factor (float, array or schedule, >= 0) on the gradient. Default 1.
      f_min: a lower bound on the loss (0 for a model that fits its data). Default 0.
      eps: added to the squared norm, >= 0. Default 0.
      variant: ``"sps"`` (default) or ``"sps+"``.
    """
    with arguments_of("polyak_sgd", learning_rate="scaling"):
        return alias(
            "polyak_sgd",
            # optax's sgd(scaling), so that the state has optax's structure.
            chain(identity(), scale_by_learning_rate(scaling)),
            scale_by_polyak(f_min, max_learning_rate, eps, variant),
        )


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule, alpha: ArrayLike = 1.0, beta: ArrayLike = 1.0
) -> GradientTransformation:
    """Optimistic gradient descent (Popov 1980; Mokhtari et al. 2020's generalised form).


        x = x - lr * ((alpha + beta) * g_t - beta * g_{t-1})       (g_0 = g_1)

    On the bilinear game ``min_x max_y xy`` plain simultaneous descent spirals
    out and this converges.

    Args:
      learning_rate: float, array, schedule or per-parameter pytree, >= 0.
      alpha: the weight of the current gradient, a finite number. Default 1.
      beta: the weight of the gradient's change, a finite number. Default 1.
    """
    with arguments_of("optimistic_gradient_descent"):
        return alias(
            "optimistic_gradient_descent",
            scale_by_optimistic_gradient(alpha, beta),
            scale_by_learning_rate(learning_rate),
        )


def optimistic_adam(
    learning_rate: ArrayLike,
    optimism: ArrayLike | None = None,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-08,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    """Optimistic Adam (Daskalakis, Ilyas, Syrgkanis & Zeng 2018).


        r_t = Adam's direction (NAdam's with ``nesterov``, the default; see `gdjax.adam`)
        x   = x - lr * r_t - optimism * (r_t - r_{t-1})               (r_0 = r_1)

    ``optimism=None`` (default) is ``learning_rate``, as in the paper. The rate
    is a number, not a schedule, as in optax (it is also the optimistic
    weight). optax 0.2.8 warns that this alias is deprecated; gdjax does not.

    Args:
      learning_rate: float or array, >= 0.
      optimism: a finite number, or ``None`` (default) for ``learning_rate``.
      b1: in [0, 1). Default 0.9.
      b2: in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-8.
      eps_root: ≥ 0. Default 0.
      mu_dtype: dtype of the first moment; ``None`` follows the params.
      nesterov: NAdam's momentum (keyword-only). Default True.
    """
    if callable(learning_rate):
        raise ValueError(
            "optimistic_adam: learning_rate must be a number, not a schedule (it is also "
            f"the optimistic weight), got {learning_rate!r}"
        )
    with arguments_of("optimistic_adam"):
        scale_by_learning_rate(learning_rate)  # validates the rate as a rate (>= 0)
        adam_scaling = scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)
    with arguments_of("optimistic_adam", alpha="learning_rate", beta="optimism"):
        extrapolation = scale_by_optimistic_gradient(
            learning_rate, learning_rate if optimism is None else optimism
        )
    # The sign flip is scale(-1), not a rate of 1: the rate lives in alpha (and beta),
    # and no transformation here may answer to the name "learning_rate".
    return alias("optimistic_adam", adam_scaling, extrapolation, scale(-1.0))
