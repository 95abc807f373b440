"""Relatives of Adam: AdaBelief, RAdam, Yogi, AdaMaxW, NAdamW, Adan, NovoGrad; each a chain
of transformations ending in `scale_by_learning_rate`, with optax 0.2.8's arguments."""

from __future__ import annotations

from jax.typing import ArrayLike, DTypeLike

from gdjax._validation import arguments_of
from gdjax.base import GradientTransformation, ScalarOrSchedule
from gdjax.optimizers.base import Mask, alias
from gdjax.transforms.adam_variants import (
    scale_by_adan,
    scale_by_belief,
    scale_by_novograd,
    scale_by_radam,
    scale_by_yogi,
)
from gdjax.transforms.adaptive import scale_by_adam, scale_by_adamax
from gdjax.transforms.scaling import scale_by_learning_rate
from gdjax.transforms.weight_decay import add_decayed_weights


def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020): Adam scaled by the spread of ``g`` around ``m``.


        m = b1 * m + (1 - b1) * g;    s = b2 * s + (1 - b2) * (g - m)**2 + eps_root
        x = x - lr * (m / (1 - b1**t)) / (sqrt(s / (1 - b2**t)) + eps)

    See `scale_by_belief`. The paper's defaults are ``eps=1e-8, eps_root=0``.

    Args:
      learning_rate: the rate (the paper uses 0.001).
      b1: in [0, 1). Default 0.9.
      b2: in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-16.
      eps_root: ≥ 0. Default 1e-16.
      nesterov: Nesterov momentum (keyword-only, as in optax). Default False.
    """
    with arguments_of("adabelief"):
        return alias(
            "adabelief",
            scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
            scale_by_learning_rate(learning_rate),
        )


def radam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    threshold: ArrayLike = 5.0,
    *,
    nesterov: bool = False,
    eps_convention: str = "optax",
) -> GradientTransformation:
    """Rectified Adam (Liu et al. 2020).


        rho = 2 / (1 - b2) - 1 - 2 * t * b2**t / (1 - b2**t)
        x = x - lr * r(rho) * m̂ / (sqrt(v̂ + eps_root) + eps)    if rho >= threshold
        x = x - lr * m̂                                           otherwise

    See `scale_by_radam` for ``r``. PyTorch's ``RAdam(lr, betas, eps)`` is
    ``radam(lr, b1, b2, eps, eps_convention="keras")``: it adds ``eps`` to the
    root of the raw ``v`` (and rectifies where ``rho > 5``, which differs from
    ``rho >= 5`` only if ``rho`` is exactly 5).

    Args:
      learning_rate: the rate.
      b1: in [0, 1). Default 0.9.
      b2: in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-8.
      eps_root: ≥ 0. Default 0.
      threshold: rectify from this ``rho`` on, >= 4. Default 5.
      nesterov: Nesterov momentum (keyword-only, as in optax). Default False.
      eps_convention: ``"keras"`` adds ``eps`` to the raw ``sqrt(v)``, as
        PyTorch's ``RAdam`` does (keyword-only, gdjax's); default ``"optax"``.
    """
    with arguments_of("radam"):
        return alias(
            "radam",
            scale_by_radam(
                b1,
                b2,
                eps,
                eps_root,
                threshold,
                nesterov=nesterov,
                eps_convention=eps_convention,
            ),
            scale_by_learning_rate(learning_rate),
        )


def yogi(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-3,
) -> GradientTransformation:
    """Yogi (Zaheer et al. 2018): Adam whose second moment moves additively.


        v = v - (1 - b2) * sign(v - g**2) * g**2
        x = x - lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)

    Both moments start at 1e-6 (see `scale_by_yogi`).

    Args:
      learning_rate: the rate (the paper uses 0.01).
      b1: in [0, 1). Default 0.9.
      b2: in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-3.
    """
    with arguments_of("yogi"):
        return alias("yogi", scale_by_yogi(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
) -> GradientTransformation:
    """AdaMax with decoupled weight decay (as AdamW is Adam with it).


        m = b1 * m + (1 - b1) * g;    u = max(b2 * u, |g| + eps)
        x = x - lr * (m / (1 - b1**t) / u + wd * x)

    PyTorch's ``Adamax(weight_decay=...)`` adds the decay to the gradient
    instead (coupled): that is ``chain(add_decayed_weights(wd), adamax(lr))``.

    Args:
      learning_rate: the rate.
      b1: in [0, 1). Default 0.9.
      b2: in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-8.
      weight_decay: ≥ 0 or a schedule. Default 1e-4.
      mask: where weight decay applies (see `add_decayed_weights`).
    """
    with arguments_of("adamaxw"):
        return alias(
            "adamaxw",
            scale_by_adamax(b1, b2, eps),
            add_decayed_weights(weight_decay, mask),
            scale_by_learning_rate(learning_rate),
        )


def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
    *,
    nesterov: bool = True,
    eps_convention: str = "optax",
    momentum_decay: ArrayLike | None = None,
) -> GradientTransformation:
    """NAdamW: NAdam (Dozat 2016) with decoupled weight decay, ``adamw(..., nesterov=True)``.


        m̂ = b1 * m / (1 - b1**(t+1)) + (1 - b1) * g / (1 - b1**t)
        x = x - lr * (m̂ / (sqrt(v / (1 - b2**t) + eps_root) + eps) + wd * x)

    ``momentum_decay`` ψ switches to Dozat's momentum schedule, as in `nadam`
    (see `scale_by_adam`): PyTorch's ``NAdam(lr, betas, eps, weight_decay=wd,
    decoupled_weight_decay=True)`` is ``nadamw(lr, b1, b2, eps, weight_decay=wd,
    momentum_decay=0.004)``.

    Args: as `adamw`; ``nesterov`` (keyword-only) defaults to True here, as in
    optax. ``momentum_decay`` (keyword-only, gdjax's): ``None`` (default,
    optax's NAdamW) or ψ ≥ 0.
    """
    with arguments_of("nadamw"):
        return alias(
            "nadamw",
            scale_by_adam(
                b1,
                b2,
                eps,
                eps_root,
                mu_dtype,
                nesterov=nesterov,
                eps_convention=eps_convention,
                momentum_decay=momentum_decay,
            ),
            add_decayed_weights(weight_decay, mask),
            scale_by_learning_rate(learning_rate),
        )


def adan(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.98,
    b2: ArrayLike = 0.92,
    b3: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    """Adan (Xie et al. 2022): adaptive Nesterov momentum, with decoupled weight decay.


        d = g - g_prev;   m = b1*m + (1-b1)*g;   v = b2*v + (1-b2)*d
        n = b3*n + (1-b3) * (g + (1-b2)*d)**2
        x = x - lr * ((m̂ + (1-b2) * v̂) / (sqrt(n̂ + eps_root) + eps) + wd * x)

    See `scale_by_adan`. As in optax, the weight decay is AdamW's, added to
    the step (the paper divides ``x`` by ``1 + lr * wd`` instead).

    Args:
      learning_rate: the rate.
      b1: in [0, 1). Default 0.98.
      b2: in [0, 1). Default 0.92.
      b3: in [0, 1). Default 0.99.
      eps: ≥ 0. Default 1e-8.
      eps_root: ≥ 0. Default 1e-8.
      weight_decay: ≥ 0 or a schedule. Default 0.
      mask: where weight decay applies (see `add_decayed_weights`).
    """
    with arguments_of("adan"):
        return alias(
            "adan",
            scale_by_adan(b1, b2, b3, eps, eps_root),
            add_decayed_weights(weight_decay, mask),
            scale_by_learning_rate(learning_rate),
        )


def novograd(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.25,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """NovoGrad (Ginsburg et al. 2019): momentum on layer-wise normalised gradients.


        v = b2 * v + (1 - b2) * |g|**2           (one per leaf; v = |g|**2 at the first step)
        m = b1 * m + g / (sqrt(v + eps_root) + eps) + wd * x
        x = x - lr * m

    See `scale_by_novograd`; ``update`` needs the params. The weight decay is
    inside the momentum, as in the paper and optax; it may be a schedule.

    Args:
      learning_rate: the rate.
      b1: momentum in [0, 1]. Default 0.9.
      b2: in [0, 1]. Default 0.25.
      eps: ≥ 0. Default 1e-6.
      eps_root: ≥ 0. Default 0.
      weight_decay: ≥ 0 or a schedule. Default 0.
    """
    with arguments_of("novograd"):
        return alias(
            "novograd",
            scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
            scale_by_learning_rate(learning_rate),
        )
