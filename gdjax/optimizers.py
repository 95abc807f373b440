"""The optimizers of the texts, each nothing but a chain of transformations.

Every alias ends with `gdjax.scale_by_learning_rate`, so its updates are
added to the params: ``params = gdjax.apply_updates(params, updates)``. The
learning rate may be a float, an array (a tracer too), a schedule, or a pytree
of per-parameter rates.

Each alias checks its input at the boundary (DESIGN §6), before any transform
sees it: ``init`` refuses integer and bool params naming the leaf and its
dtype; ``update`` refuses integer updates, and updates whose structure or leaf
shapes differ from the params' (when the params are given), naming both.
Without the checks ``sgd`` would accept integer params and, being stateless,
any gradient tree. Complex params are supported (second moments use ``|g|²``,
as in optax).

A bad hyperparameter is reported in the alias's words (`arguments_of`):
``sgd(0.1, momentum=-0.2)`` raises ``sgd: momentum must be in [0, 1], got -0.2``,
though the value reaches `trace` as its ``decay``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax._validation import arguments_of, check_flag
from gdjax.base import (
    GradientTransformation,
    Params,
    ScalarOrSchedule,
    _chain_init,
    _chain_update,
    identity,
)
from gdjax.bound import bind
from gdjax.keys import KeyLike
from gdjax.transforms.adaptive import (
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_rms,
)
from gdjax.transforms.momentum import trace
from gdjax.transforms.noise import add_noise
from gdjax.transforms.scaling import scale_by_learning_rate
from gdjax.transforms.weight_decay import add_decayed_weights

Mask = Params | Callable[[Params], Params] | None
"""Where weight decay applies: a pytree of bools shaped like the params, a
function of the params returning one, or None (everywhere)."""


def _as_array(x: Any) -> Any:
    return x if hasattr(x, "dtype") else jnp.asarray(x)


def _alias_init(params, *, name, transforms):
    tree.check_floating(params, name)
    return _chain_init(params, transforms=transforms)


def _alias_update(updates, state, params=None, *, name, transforms, **extra):
    if not all(hasattr(x, "dtype") for x in jax.tree.leaves(updates)):
        updates = jax.tree.map(_as_array, updates)
    tree.check_floating(updates, name, "updates")
    if params is not None:
        tree.check_shapes(updates, params, ("updates", "params"))
    return _chain_update(updates, state, params, transforms=transforms, **extra)


def _alias(name: str, *transforms: GradientTransformation) -> GradientTransformation:
    """``chain(*transforms)`` with the boundary checks of the module docstring.

    Python numbers among the updates' leaves become arrays (as they would under
    ``jit``), so an eager ``update(1.0, state, 1.0)`` works as a jitted one does.
    The transformations are held as `chain` holds them (``.update.transforms``),
    so an alias's hyperparameters are its transformations' leaves.
    """
    return GradientTransformation(
        bind(_alias_init, name=name, transforms=tuple(t.init for t in transforms)),
        bind(_alias_update, name=name, transforms=tuple(t.update for t in transforms)),
    )


def _momentum(
    momentum: Any, nesterov: bool, accumulator_dtype: Any = None
) -> GradientTransformation:
    check_flag("trace", "nesterov", nesterov)  # also without momentum, where it is unused
    if momentum is None:
        return identity()
    return trace(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)


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
        return _alias(
            "sgd",
            _momentum(momentum, nesterov, accumulator_dtype),
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
        return _alias(
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
        accumulation = _momentum(momentum, nesterov)
    return _alias("rmsprop", scaling, descent, accumulation)


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
        return _alias(
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
        return _alias(
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
        return _alias(
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
        return _alias(
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
        return _alias(
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
        return _alias(
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
        return _alias(
            "noisy_sgd", add_noise(eta, gamma, key), scale_by_learning_rate(learning_rate)
        )


# --------------------------------------------------------------------------- hyperparameters

# The annotations that mean "a number": a float or an array (a tracer too), or
# a schedule where the alias takes one, or None where None is a setting.
_NUMBERS = (
    ArrayLike,
    ArrayLike | None,
    ScalarOrSchedule,
    ScalarOrSchedule | None,
)


def hyperparameter_kinds(factory: Callable[..., GradientTransformation]) -> dict[str, str]:
    """What each argument of ``factory`` is, read from its annotations.

    Returns ``{argument: kind}`` in the signature's order, the kind being:

    - ``"number"``: a float or an array (``ArrayLike``, `ScalarOrSchedule`, or
      either or None): a value that may be swept as a float axis;
    - ``"bool"``: a switch (``bool``), which changes the program and cannot be
      traced;
    - ``"key"``: a PRNG key or an int seed (`gdjax.keys.KeyLike`): an integer
      axis, one run per seed;
    - ``"other"``: anything else, a dtype (``DTypeLike | None``) or a `Mask`:
      not a value that a number or a word can give.

    For tools that build optimizers from text (the ``gdjax`` command):
    ``hyperparameter_kinds(gdjax.sgd)`` is ``{"learning_rate": "number",
    "momentum": "number", "nesterov": "bool", "accumulator_dtype": "other"}``.
    An argument without an annotation is ``"other"``.
    """
    hints = typing.get_type_hints(factory)
    kinds = {}
    for name in inspect.signature(factory).parameters:
        hint = hints.get(name)
        if hint is bool:
            kinds[name] = "bool"
        elif hint == KeyLike:
            kinds[name] = "key"
        elif hint in _NUMBERS:
            kinds[name] = "number"
        else:
            kinds[name] = "other"
    return kinds
