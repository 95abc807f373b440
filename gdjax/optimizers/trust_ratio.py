"""Layer-wise optimizers: LARS, LAMB and Fromage; each a chain of transformations around
`gdjax.transforms.trust_ratio.scale_by_trust_ratio`."""

from __future__ import annotations

from typing import Any

import jax
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import arguments_of, check_range, named
from gdjax.base import EMPTY_INIT, GradientTransformation, ScalarOrSchedule, value_at
from gdjax.bound import bind
from gdjax.optimizers.base import Mask, alias
from gdjax.transforms.adaptive import scale_by_adam
from gdjax.transforms.momentum import trace
from gdjax.transforms.scaling import ScaleByScheduleState, scale_by_learning_rate
from gdjax.transforms.trust_ratio import scale_by_trust_ratio
from gdjax.transforms.weight_decay import WeightDecayScheduleState, add_decayed_weights
from gdjax.transforms.wrappers import masked


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Mask = True,
    trust_coefficient: ArrayLike = 0.001,
    eps: ArrayLike = 0.0,
    trust_ratio_mask: Mask = True,
    momentum: ArrayLike = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    """LARS (You, Gitman & Ginsburg 2017): SGD with momentum on layer-wise trust-ratio steps.


        d = g + wd * x                                        (where weight_decay_mask)
        d = trust_coefficient * ||x|| / (||d|| + eps) * d     (per leaf, where trust_ratio_mask)
        t = -lr * d + momentum * t;   x = x + t
                                     (Nesterov: x = x - lr * d + momentum * t, the new t)

    Norms are per leaf (a layer's weight matrix, its bias); see `scale_by_trust_ratio`.
    The momentum comes after the rate, so a schedule changes the steps to come,
    not the velocity already gathered.

    Args:
      learning_rate: the rate, >= 0.
      weight_decay: L2 coefficient added to the gradient, >= 0 or a schedule. Default 0.
      weight_decay_mask: where weight decay applies (see `add_decayed_weights`);
        default True (everywhere, as optax, in a `masked` wrapper).
      trust_coefficient: LARS's eta, >= 0. Default 0.001.
      eps: added to the norm of ``d``, >= 0. Default 0.
      trust_ratio_mask: where the trust ratio applies (a mask as above); default
        True (everywhere, in a `masked` wrapper); ``None`` applies it everywhere
        without the wrapper.
      momentum: in [0, 1]. Default 0.9.
      nesterov: Nesterov's momentum. Default False.
    """
    with arguments_of("lars"):
        decay = add_decayed_weights(weight_decay, weight_decay_mask)
        ratio = scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps)
        if trust_ratio_mask is not None:
            ratio = masked(ratio, trust_ratio_mask)
        descent = scale_by_learning_rate(learning_rate)
    with arguments_of("lars", decay="momentum"):
        accumulation = trace(momentum, nesterov=nesterov)
    return alias("lars", decay, ratio, descent, accumulation)


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    """LAMB (You et al. 2020): Adam's direction plus weight decay, rescaled per layer.


        d = m̂ / (sqrt(v̂ + eps_root) + eps) + wd * x        (Adam's moments, see `scale_by_adam`)
        x = x - lr * ||x|| / ||d|| * d                      (per leaf; ratio 1 where a norm is 0)

    Args:
      learning_rate: the rate, >= 0.
      b1: in [0, 1). Default 0.9.
      b2: in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-6.
      eps_root: ≥ 0. Default 0.
      weight_decay: decoupled weight decay, >= 0 or a schedule. Default 0.
      mask: where weight decay applies (see `add_decayed_weights`).
    """
    with arguments_of("lamb"):
        return alias(
            "lamb",
            scale_by_adam(b1, b2, eps, eps_root),
            add_decayed_weights(weight_decay, mask),
            scale_by_trust_ratio(),
            scale_by_learning_rate(learning_rate),
        )


# --------------------------------------------------------------------------- Fromage


def _fromage_factor(rate: Any) -> Any:
    """``1 / sqrt(1 + lr**2)``: Fromage's shrink of the params, in the rate's own arithmetic."""
    return 1 / (1 + rate**2) ** 0.5


def _fromage_shrink_factor(rate: Any) -> Any:
    """``1 / sqrt(1 + lr**2) - 1``, written without the cancellation of that difference.

    For a float32 rate (a schedule's, a traced one) the difference keeps no more
    than a few digits: at ``lr = 0.02`` it is -2e-4, and the rounding of the
    first term (6e-8) is 3e-4 of it. ``-lr**2 / (r * (1 + r))`` with
    ``r = sqrt(1 + lr**2)`` is the same number, to float32's precision. (For a
    Python float, computed in float64, both forms round to the same float32.)
    """
    root = (1 + rate**2) ** 0.5
    return -(rate**2) / (root * (1 + root))


def _per_rate(fn, learning_rate, count, *trees):
    """``fn(rate, *subtrees)`` for each rate of a (per-parameter) rate pytree and the
    subtrees of ``trees`` it covers; a schedule is evaluated at ``count``."""

    def apply(rate, *subtrees):
        return fn(value_at(rate, count), *subtrees)

    try:
        return jax.tree.map(apply, learning_rate, *trees, is_leaf=callable)
    except ValueError as error:
        raise tree.StructureError(
            "fromage: a per-parameter learning_rate must have the structure of the params, "
            "or a prefix of it:\n"
            f"  learning_rate: {jax.tree.structure(learning_rate, is_leaf=callable)}\n"
            f"  updates:       {jax.tree.structure(trees[0])}"
        ) from error


def _fromage_descend(updates, count, learning_rate):
    """``-lr / sqrt(1 + lr**2) * u``."""

    def descend(rate, u):
        factor = -(rate * _fromage_factor(rate))
        return jax.tree.map(lambda g: tree.scale(factor, g), u)

    return _per_rate(descend, learning_rate, count, updates)


def _fromage_shrink(updates, params, count, learning_rate):
    """``u + (1 / sqrt(1 + lr**2) - 1) * x``: with the step above,
    ``x_new = (x - lr * u) / sqrt(1 + lr**2)``."""
    if params is None:
        if not jax.tree.leaves(updates):
            return updates  # nothing to shrink
        raise ValueError("fromage needs the params: call update(updates, state, params)")
    tree.check_structure(updates, params, ("updates", "params"))

    def shrink(rate, u, p):
        factor = _fromage_shrink_factor(rate)
        return jax.tree.map(lambda u, p: tree.as_dtype(u + tree.scale(factor, p), u.dtype), u, p)

    return _per_rate(shrink, learning_rate, count, updates, params)


def _fromage_descend_update(updates, state, params=None, *, learning_rate):
    del params
    return _fromage_descend(updates, None, learning_rate), state


def _fromage_descend_scheduled_update(updates, state, params=None, *, learning_rate):
    del params
    out = _fromage_descend(updates, state.count, learning_rate)
    return out, ScaleByScheduleState(count=tree.safe_increment(state.count))


def _fromage_shrink_update(updates, state, params=None, *, learning_rate):
    return _fromage_shrink(updates, params, None, learning_rate), state


def _fromage_shrink_scheduled_update(updates, state, params=None, *, learning_rate):
    out = _fromage_shrink(updates, params, state.count, learning_rate)
    return out, WeightDecayScheduleState(count=tree.safe_increment(state.count))


def _count_init(params, *, state_type):
    del params
    return state_type(count=tree.zero_count())


def _fromage_steps(learning_rate: Any) -> tuple[GradientTransformation, GradientTransformation]:
    """Fromage's step ``-lr/sqrt(1 + lr**2) * u`` and its shrink of the params, as two
    transformations whose states are optax's (a step counter each for a schedule)."""
    owner, name = named("fromage", "learning_rate")
    if learning_rate is None:
        raise ValueError(f"{owner}: {name} is required, got None")
    rates = jax.tree.leaves(learning_rate, is_leaf=callable)
    if not rates:
        raise ValueError(f"{owner}: {name} has no values: {learning_rate!r}")
    for rate in rates:
        check_range("fromage", "learning_rate", rate, "[0, inf)")
    # Whether a rate is a schedule is structure: it decides the states' types.
    if any(callable(rate) for rate in rates):
        return (
            GradientTransformation(
                bind(_count_init, state_type=ScaleByScheduleState),
                bind(_fromage_descend_scheduled_update, learning_rate=learning_rate),
            ),
            GradientTransformation(
                bind(_count_init, state_type=WeightDecayScheduleState),
                bind(_fromage_shrink_scheduled_update, learning_rate=learning_rate),
            ),
        )
    return (
        GradientTransformation(
            EMPTY_INIT, bind(_fromage_descend_update, learning_rate=learning_rate)
        ),
        GradientTransformation(
            EMPTY_INIT, bind(_fromage_shrink_update, learning_rate=learning_rate)
        ),
    )


def fromage(learning_rate: ScalarOrSchedule, min_norm: ArrayLike = 1e-6) -> GradientTransformation:
    """Fromage (Bernstein et al. 2020): trust-ratio steps, then a shrink that keeps
    the norm of the params from growing.


        d = ||x|| / ||g|| * g                        (per leaf, norms floored at min_norm)
        x = (x - lr * d) / sqrt(1 + lr**2)

    The step ``lr * d`` has the norm ``lr * ||x||``, orthogonal-ish to ``x`` in high
    dimension; dividing by ``sqrt(1 + lr**2)`` brings the norm back (the paper's
    "Frobenius matched" update). Rates of about 0.01 suit most networks.

    Args:
      learning_rate: the rate, >= 0: a float, an array, a schedule or a
        per-parameter pytree.
      min_norm: the floor of both norms, >= 0. Default 1e-6.
    """
    with arguments_of("fromage"):
        step, shrink = _fromage_steps(learning_rate)
        return alias("fromage", scale_by_trust_ratio(min_norm), step, shrink)
