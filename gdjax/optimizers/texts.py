"""The optimizers of the texts (seeds 000-004): SGD with momentum and Nesterov, AdaGrad,
RMSProp, AdaDelta, Adam and its variants, and gradient noise; each a chain of transformations."""

from __future__ import annotations

from jax.typing import ArrayLike, DTypeLike

from gdjax._validation import arguments_of
from gdjax.base import GradientTransformation, ScalarOrSchedule
from gdjax.keys import KeyLike
from gdjax.optimizers.base import Mask, alias, optional_trace
from gdjax.transforms.adaptive import (
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_rms,
)
from gdjax.transforms.noise import add_noise
from gdjax.transforms.scaling import scale_by_learning_rate
from gdjax.transforms.weight_decay import add_decayed_weights


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    """Gradient descent, optionally with heavy-ball or Nesterov momentum.


        plain:     x = x - lr * g
        momentum:  t = g + mu * t;   x = x - lr * t          (Polyak 1964)
        nesterov:  t = g + mu * t;   x = x - lr * (g + mu * t)   (Nesterov 1983, Sutskever 2013)

    Batch, stochastic and mini-batch gradient descent (seed 002 §2) are all
    this update; they differ in the data the gradient is computed on. With a
    constant rate, ``momentum`` is the texts' ``v = mu*v - lr*g; x = x + v``
    (seed 001 eq. 11.5) and ``v = gamma*v + lr*g; x = x - v`` (seed 003).

    Args:
      learning_rate: float, array, schedule or per-parameter pytree, >= 0.
      momentum: ``mu`` in [0, 1], or ``None`` (default) for plain descent.
      nesterov: Nesterov's look-ahead form. Default False.
      accumulator_dtype: dtype of the momentum buffer; ``None`` follows the params.
    """
    with arguments_of("sgd", decay="momentum"):
        return alias(
            "sgd",
            optional_trace(momentum, nesterov, accumulator_dtype),
            scale_by_learning_rate(learning_rate),
        )


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    """AdaGrad (Duchi, Hazan & Singer 2011).


        r = r + g**2;   x = x - lr * g / sqrt(r + eps)     (or / (sqrt(r) + eps))

    Defaults as optax. PyTorch's ``Adagrad(lr)`` is
    ``adagrad(lr, initial_accumulator_value=0, eps=1e-10, eps_in_sqrt=False)``;
    Keras 3's is ``adagrad(lr, 0.1, 1e-7)``.

    Args:
      learning_rate: the global rate (seed 002 suggests 0.01).
      initial_accumulator_value: starting ``r``, >= 0. Default 0.1.
      eps: ≥ 0. Default 1e-7.
      eps_in_sqrt: ``eps`` inside the root (True, default) or outside (keyword-only:
        gdjax's, not optax's).
    """
    with arguments_of("adagrad"):
        return alias(
            "adagrad",
            scale_by_adagrad(initial_accumulator_value, eps, eps_in_sqrt),
            scale_by_learning_rate(learning_rate),
        )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp (Hinton 2012, Coursera lecture 6e), optionally centered and with momentum.


        v = decay * v + (1 - decay) * g**2
        s = -lr * g / sqrt(v + eps)                  (centered: v - m**2 in place of v)
        t = s + mu * t;   x = x + t                  (momentum; Nesterov: x = x + s + mu * t)

    Seed 001 eq. 11.8 adds Nesterov momentum the same way. PyTorch's
    ``RMSprop(lr, alpha, eps, momentum, centered)`` is
    ``rmsprop(lr, decay=alpha, eps=eps, eps_in_sqrt=False, momentum=momentum or None,
    centered=centered)``; Keras 3's ``RMSprop(rho=r)`` is ``rmsprop(lr, decay=r, eps=1e-7)``.

    Args:
      learning_rate: the rate (Hinton suggests 0.001).
      decay: in [0, 1). Default 0.9.
      eps: ≥ 0. Default 1e-8.
      initial_scale: starting ``v``. Default 0.
      eps_in_sqrt: ``eps`` inside the root. Default True.
      centered: divide by the moving standard deviation. Default False.
      momentum: ``mu`` in [0, 1] or ``None`` (default).
      nesterov: Nesterov momentum. Default False.
      bias_correction: debias the moving averages. Default False.
    """
    with arguments_of("rmsprop"):
        scaling = scale_by_rms(
            decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=centered
        )
        descent = scale_by_learning_rate(learning_rate)
    # trace's decay is rmsprop's momentum, not its decay.
    with arguments_of("rmsprop", decay="momentum"):
        accumulation = optional_trace(momentum, nesterov)
    return alias("rmsprop", scaling, descent, accumulation)


def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Mask = None,
) -> GradientTransformation:
    """AdaDelta (Zeiler 2012).


        g = g + wd * x
        E[g²] = rho * E[g²] + (1 - rho) * g**2
        d = sqrt(E[Δx²] + eps) / sqrt(E[g²] + eps) * g
        E[Δx²] = rho * E[Δx²] + (1 - rho) * d**2
        x = x - lr * d

    ``learning_rate=None`` means 1.0, the paper's rate-free step. (optax 0.2.8's
    ``adadelta()`` with no rate returns ``+d`` and climbs; gdjax descends.)
    PyTorch's ``Adadelta(lr, rho, eps, weight_decay)`` has the same arguments.

    Args:
      learning_rate: the rate; ``None`` (default) is 1.0.
      rho: in [0, 1] (1 freezes the averages: ``d = g``). Default 0.9.
      eps: ≥ 0. Default 1e-6.
      weight_decay: L2 coefficient added to the gradient. Default 0.
      weight_decay_mask: where weight decay applies (see `add_decayed_weights`).
    """
    with arguments_of("adadelta"):
        return alias(
            "adadelta",
            add_decayed_weights(weight_decay, weight_decay_mask),
            scale_by_adadelta(rho, eps),
            scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),
        )


def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = False,
    eps_convention: str = "optax",
) -> GradientTransformation:
    """Adam (Kingma & Ba 2015).


        m = b1 * m + (1 - b1) * g;    v = b2 * v + (1 - b2) * g**2
        x = x - lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t) + eps_root) + eps)

    See `scale_by_adam` for ``nesterov`` (NAdam). PyTorch's
    ``Adam(lr, betas=(b1, b2), eps)`` has the same numbers.

    Args:
      learning_rate: the rate (0.001 is common).
      b1: in [0, 1). Default 0.9.
      b2: in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-8.
      eps_root: ≥ 0. Default 0.
      mu_dtype: dtype of the first moment; ``None`` follows the params.
      nesterov: NAdam's momentum (keyword-only, as in optax). Default False.
      eps_convention: ``"keras"`` adds ``eps`` to the raw ``sqrt(v)`` as
        Keras's ``Adam`` does (see `scale_by_adam`); default ``"optax"``.
    """
    with arguments_of("adam"):
        return alias(
            "adam",
            scale_by_adam(
                b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, eps_convention=eps_convention
            ),
            scale_by_learning_rate(learning_rate),
        )


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = True,
    eps_convention: str = "optax",
    momentum_decay: ArrayLike | None = None,
) -> GradientTransformation:
    """NAdam (Dozat 2016): Adam with Nesterov momentum, ``adam(..., nesterov=True)``.


        m̂ = b1 * m / (1 - b1**(t+1)) + (1 - b1) * g / (1 - b1**t)
        x = x - lr * m̂ / (sqrt(v / (1 - b2**t) + eps_root) + eps)

    ``momentum_decay`` ψ switches to Dozat's momentum schedule
    ``mu_t = b1 * (1 - 0.5 * 0.96**(t * ψ))`` (see `scale_by_adam`):
    PyTorch's ``NAdam(lr, betas, eps)`` is ``nadam(lr, b1, b2, eps,
    momentum_decay=0.004)``; Keras's ``Nadam`` is ``momentum_decay=1.0``.

    Args: as `adam`; ``nesterov`` (keyword-only) defaults to True here, as in
    optax, and ``nesterov=False`` is plain Adam. ``momentum_decay``
    (keyword-only): ``None`` (default, optax's NAdam) or ψ ≥ 0.
    """
    with arguments_of("nadam"):
        return alias(
            "nadam",
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
            scale_by_learning_rate(learning_rate),
        )


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    eps_convention: str = "optax",
) -> GradientTransformation:
    """AMSGrad (Reddi, Kale & Kumar 2018): Adam with the running maximum of ``v̂``.


        v̂max = max(v̂max, v / (1 - b2**t))
        x = x - lr * (m / (1 - b1**t)) / (sqrt(v̂max + eps_root) + eps)

    As optax, the maximum is taken over the debiased ``v̂`` (PyTorch's
    ``Adam(amsgrad=True)`` takes it over the raw ``v``, then debiases).

    ``eps_convention="keras"`` is Keras's ``Adam(amsgrad=True)``: the maximum
    over the raw ``v``, ``eps`` added to its root.

    Args: as `adam`.
    """
    with arguments_of("amsgrad"):
        return alias(
            "amsgrad",
            scale_by_adam(
                b1, b2, eps, eps_root, mu_dtype, amsgrad=True, eps_convention=eps_convention
            ),
            scale_by_learning_rate(learning_rate),
        )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
    *,
    nesterov: bool = False,
    eps_convention: str = "optax",
) -> GradientTransformation:
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.


        x = x - lr * (adam_direction + wd * x)

    PyTorch's ``AdamW(lr, betas, eps, weight_decay)`` has the same numbers
    (it shrinks ``x`` by ``1 - lr*wd`` before the Adam step).

    Args:
      learning_rate: the rate.
      b1: as `adam`.
      b2: as `adam`.
      eps: as `adam`.
      eps_root: as `adam`.
      mu_dtype: dtype of the first moment.
      weight_decay: ≥ 0 or a schedule. Default 1e-4.
      mask: where weight decay applies (see `add_decayed_weights`).
      nesterov: NAdam's momentum (keyword-only, as in optax). Default False.
      eps_convention: ``"keras"`` for Keras's ``AdamW`` (see `scale_by_adam`);
        default ``"optax"``.
    """
    with arguments_of("adamw"):
        return alias(
            "adamw",
            scale_by_adam(
                b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, eps_convention=eps_convention
            ),
            add_decayed_weights(weight_decay, mask),
            scale_by_learning_rate(learning_rate),
        )


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    *,
    eps_convention: str = "optax",
) -> GradientTransformation:
    """AdaMax (Kingma & Ba 2015, §7.1).


        m = b1 * m + (1 - b1) * g;    u = max(b2 * u, |g| + eps)
        x = x - lr * m / (1 - b1**t) / u

    PyTorch's ``Adamax(lr, betas, eps)`` has the same numbers.

    Args:
      learning_rate: the rate (the paper uses 0.002).
      b1: in [0, 1). Default 0.9.
      b2: in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-8.
      eps_convention: ``"keras"`` for Keras's ``Adamax``, which adds ``eps``
        after the maximum (see `scale_by_adamax`); default ``"optax"``.
    """
    with arguments_of("adamax"):
        return alias(
            "adamax",
            scale_by_adamax(b1, b2, eps, eps_convention=eps_convention),
            scale_by_learning_rate(learning_rate),
        )


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: ArrayLike = 0.01,
    gamma: ArrayLike = 0.55,
    key: KeyLike = 0,
) -> GradientTransformation:
    """Gradient descent with annealed Gaussian gradient noise (Neelakantan et al. 2015).


        x = x - lr * (g + N(0, eta / (1 + t)**gamma))

    (seed 002 §6.4).

    Args:
      learning_rate: the rate.
      eta: initial noise variance, >= 0. Default 0.01.
      gamma: annealing exponent, >= 0. Default 0.55.
      key: int seed or PRNG key. Default 0.
    """
    with arguments_of("noisy_sgd"):
        return alias("noisy_sgd", add_noise(eta, gamma, key), scale_by_learning_rate(learning_rate))
