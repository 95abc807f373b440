"""Reducing the step size when a monitored value stops improving (seed 002 §3, annealing)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdjax import tree
from gdjax._validation import check_range, check_step
from gdjax.base import GradientTransformation
from gdjax.bound import bind


class ReduceOnPlateauState(NamedTuple):
    """The current scale and the bookkeeping that decides when to reduce it.

    Attributes:
      scale: the factor applied to the updates (starts at 1).
      best_value: the best averaged value seen so far.
      plateau_count: evaluations in a row without improvement.
      cooldown_count: evaluations left before counting again after a reduction.
      count: values accumulated into ``avg_value`` for the current evaluation.
      avg_value: the running mean of those values.
    """

    scale: jax.Array
    best_value: jax.Array
    plateau_count: jax.Array
    cooldown_count: jax.Array
    count: jax.Array
    avg_value: jax.Array


ReduceLROnPlateauState = ReduceOnPlateauState
"""optax's name for `ReduceOnPlateauState` (``optax.contrib.ReduceLROnPlateauState``)."""


def _plateau_init(params):
    dtypes = [jnp.result_type(x) for x in jax.tree.leaves(params)] or [jnp.float32]
    floats = [d for d in dtypes if jnp.issubdtype(d, jnp.floating)] or [jnp.float32]
    widest = max(floats, key=lambda d: jnp.finfo(d).bits)
    narrowest = min(floats, key=lambda d: jnp.finfo(d).bits)
    zero = tree.zero_count()
    return ReduceOnPlateauState(
        scale=jnp.ones([], narrowest),
        best_value=jnp.full([], jnp.inf, widest),
        plateau_count=zero,
        cooldown_count=zero,
        count=zero,
        avg_value=jnp.zeros([], widest),
    )


def _threshold(best, rtol, atol):
    # best - rtol * |best|, spelled as optax spells it for best >= 0 (so that the
    # decisions stay bit-identical there); (1 - rtol) * best lies above a negative best.
    below = jnp.where(best < 0, tree.scale(1 + rtol, best), tree.scale(1 - rtol, best))
    # best starts at +inf: every finite value beats it (rtol = 1 would make 0 * inf NaN).
    return jnp.where(best == jnp.inf, best, below - atol)


class _Rule(NamedTuple):
    """When to reduce the scale, and by how much (`reduce_on_plateau`'s arguments)."""

    factor: Any
    patience: Any
    rtol: Any
    atol: Any
    cooldown: Any
    min_scale: Any
    accumulation_size: Any


def _evaluate(state, rule):
    factor, patience, cooldown, min_scale = (
        rule.factor,
        rule.patience,
        rule.cooldown,
        rule.min_scale,
    )
    improved = state.avg_value < _threshold(state.best_value, rule.rtol, rule.atol)
    best = jnp.where(improved, state.avg_value, state.best_value)
    plateau = jnp.where(improved, 0, tree.safe_increment(state.plateau_count))
    cooling = state.cooldown_count > 0
    reduce = jnp.logical_and(~cooling, plateau == patience)
    reduced = jnp.maximum(
        jnp.where(reduce, tree.scale(factor, state.scale), state.scale), min_scale
    )
    scale = jnp.where(cooling, state.scale, reduced)
    return ReduceOnPlateauState(
        scale=scale.astype(state.scale.dtype),
        best_value=best.astype(state.best_value.dtype),
        plateau_count=jnp.where(cooling | reduce, 0, plateau).astype(jnp.int32),
        cooldown_count=jnp.where(
            cooling, state.cooldown_count - 1, jnp.where(reduce, cooldown, 0)
        ).astype(jnp.int32),
        count=tree.zero_count(),
        avg_value=jnp.zeros_like(state.avg_value),
    )


def _plateau_update(updates, state, params=None, *, value=None, rule):
    # Only value= is an extra argument of update (chain passes the ones it names).
    del params
    if value is None:
        raise ValueError(
            "reduce_on_plateau needs the monitored value: call "
            "update(updates, state, params, value=loss)"
        )
    count = tree.safe_increment(state.count)
    mean = (state.count * state.avg_value + jnp.asarray(value, state.avg_value.dtype)) / count
    state = state._replace(count=count, avg_value=mean.astype(state.avg_value.dtype))
    state = jax.lax.cond(
        count == rule.accumulation_size, lambda s: _evaluate(s, rule), lambda s: s, state
    )
    return jax.tree.map(lambda g: tree.scale(state.scale, g), updates), state


def reduce_on_plateau(
    factor: Any = 0.1,
    patience: Any = 10,
    rtol: Any = 1e-4,
    atol: Any = 0.0,
    cooldown: Any = 0,
    accumulation_size: Any = 1,
    min_scale: Any = 0.0,
) -> GradientTransformation:
    """Scales the updates down by ``factor`` when the monitored value has plateaued.

    Each ``update`` takes the monitored value (a loss) as ``value=``. Every
    ``accumulation_size`` calls their mean ``v`` is compared with the best so far:

        improved  =  v < best - rtol * |best| - atol        (best starts at +inf)
        after `patience` evaluations in a row without improvement:
            scale = max(scale * factor, min_scale);  then wait `cooldown` evaluations
        u = scale * g

    This is the texts' annealing "reduce the learning rate when the improvement
    between epochs falls below a threshold" (seed 002 §3); the semantics follow
    optax's ``contrib.reduce_on_plateau`` (and Keras' ``ReduceLROnPlateau``),
    with one difference. optax 0.2.8 tests ``v < (1 - rtol) * best - atol``,
    which for a negative ``best`` (a negative log-likelihood, an ELBO) lies
    above ``best``: a value no better than the best counts as an improvement
    and the scale is never reduced. gdjax measures ``rtol`` against ``|best|``.
    For ``best >= 0`` both are the same expression, and the scales are
    bit-identical to optax's.

    Args:
      factor: multiplier of the scale at a plateau, in (0, 1). Default 0.1.
      patience: evaluations without improvement before reducing, >= 1. Default 10.
      rtol: relative improvement threshold, in [0, 1]. Default 1e-4.
      atol: absolute improvement threshold, >= 0. Default 0.
      cooldown: evaluations to wait after a reduction, >= 0. Default 0.
      accumulation_size: values averaged into one evaluation, >= 1. Default 1.
      min_scale: the scale never goes below this, >= 0. Default 0.

    The arguments are in optax's order. Its state is optax's
    ``ReduceLROnPlateauState`` (same fields; this module defines both names).

    Inside ``optax.chain`` wrap it in `gdjax.transforms.wrappers.for_optax`:
    optax passes ``value=`` only to its own ``GradientTransformationExtraArgs``.
    """
    owner = "reduce_on_plateau"
    check_range(owner, "factor", factor, "(0, 1)")
    check_step(owner, "patience", patience, 1)
    check_range(owner, "rtol", rtol, "[0, 1]")
    check_range(owner, "atol", atol, "[0, inf)")
    check_step(owner, "cooldown", cooldown, 0)
    check_range(owner, "min_scale", min_scale, "[0, inf)")
    check_step(owner, "accumulation_size", accumulation_size, 1)
    if isinstance(rtol, (int, float)) and isinstance(atol, (int, float)) and rtol == atol == 0:
        raise ValueError(f"{owner}: rtol and atol cannot both be 0 (nothing would count as better)")
    return GradientTransformation(
        bind(_plateau_init),
        bind(
            _plateau_update,
            rule=_Rule(factor, patience, rtol, atol, cooldown, min_scale, accumulation_size),
        ),
    )
