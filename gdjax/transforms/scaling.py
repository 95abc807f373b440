"""Multiplying updates: by a constant, by the negative learning rate, by a schedule."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from gdjax import tree
from gdjax._validation import check_flag, check_range, named
from gdjax.base import EMPTY_INIT, GradientTransformation, Schedule, value_at
from gdjax.bound import bind


class ScaleByScheduleState(NamedTuple):
    """The number of updates applied so far (an int32 scalar)."""

    count: jax.Array


def _scale_update(updates, state, params=None, *, step_size):
    del params
    return jax.tree.map(lambda g: tree.scale(step_size, g), updates), state


def scale(step_size: float | jax.Array) -> GradientTransformation:
    """Multiplies every update by ``step_size``.

    Update: ``u = step_size * g``. Stateless.

    Args:
      step_size: a float, or an array that broadcasts against every leaf.
    """
    check_range("scale", "step_size", step_size, "(-inf, inf)")
    return GradientTransformation(EMPTY_INIT, bind(_scale_update, step_size=step_size))


def _schedule_init(params):
    del params
    return ScaleByScheduleState(count=tree.zero_count())


def _scale_by_schedule_update(updates, state, params=None, *, schedule):
    del params
    factor = schedule(state.count)
    updates = jax.tree.map(lambda g: tree.scale(factor, g), updates)
    return updates, ScaleByScheduleState(count=tree.safe_increment(state.count))


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """Multiplies the updates by ``step_size_fn(count)``, ``count`` counting past updates.

    Update: ``u_t = step_size_fn(t) * g_t`` with ``t = 0, 1, 2, ...``.

    Args:
      step_size_fn: a schedule, a function from the int32 step count to a
        factor (see `gdjax.schedules`); optax's name for it.
    """
    schedule = step_size_fn
    if not callable(schedule):
        raise ValueError(f"scale_by_schedule: step_size_fn must be callable, got {schedule!r}")
    return GradientTransformation(
        bind(_schedule_init), bind(_scale_by_schedule_update, schedule=schedule)
    )


def _descend(updates, count, *, learning_rate, flip_sign, owner, name):
    """``-lr * g`` per parameter (``+lr * g`` without ``flip_sign``), ``lr`` evaluated at
    ``count`` where it is a schedule."""

    def descend(rate, subtree):
        value = value_at(rate, count)
        factor = -value if flip_sign else value
        return jax.tree.map(lambda g: tree.scale(factor, g), subtree)

    # Schedules are leaves even when they are pytrees themselves (a bound schedule,
    # functools.partial): is_leaf=callable.
    try:
        return jax.tree.map(descend, learning_rate, updates, is_leaf=callable)
    except ValueError as error:
        raise tree.StructureError(
            f"{owner}: a per-parameter {name} must have the "
            "structure of the params, or a prefix of it:\n"
            f"  learning_rate: {jax.tree.structure(learning_rate, is_leaf=callable)}\n"
            f"  updates:       {jax.tree.structure(updates)}"
        ) from error


def _learning_rate_update(updates, state, params=None, *, learning_rate, flip_sign, owner, name):
    del params
    out = _descend(
        updates, None, learning_rate=learning_rate, flip_sign=flip_sign, owner=owner, name=name
    )
    return out, state


def _scheduled_learning_rate_update(
    updates, state, params=None, *, learning_rate, flip_sign, owner, name
):
    del params
    new_state = ScaleByScheduleState(count=tree.safe_increment(state.count))
    out = _descend(
        updates,
        state.count,
        learning_rate=learning_rate,
        flip_sign=flip_sign,
        owner=owner,
        name=name,
    )
    return out, new_state


def scale_by_learning_rate(learning_rate: Any, *, flip_sign: bool = True) -> GradientTransformation:
    """Multiplies the updates by ``-learning_rate``, turning a direction into a descent step.

    Update: ``u = -lr * g``, or ``u_t = -lr(t) * g_t`` for a schedule.

    The learning rate may be

    * a float or a scalar array (a tracer too, so ``jax.vmap`` over it works);
    * an array that broadcasts against the leaves (per-coordinate rates);
    * a schedule ``step -> rate`` (the state then counts steps);
    * a pytree whose structure is a prefix of the params' (per-parameter rates,
      as in seed 000 §3.5, where ``x`` and ``y`` get ``lr[0]`` and ``lr[1]``);
      its leaves may themselves be floats, arrays or schedules.

    Args:
      learning_rate: the rate(s), each >= 0. Required: optax's default ``None``
        (no scaling) is refused, so that a forgotten rate is not a silent no-op.
      flip_sign: multiply by ``-learning_rate`` (True, default) or by
        ``+learning_rate`` (keyword-only, as in optax).

    Returns:
      A transformation whose state is ``EmptyState`` for constant rates and
      `ScaleByScheduleState` if any rate is a schedule.
    """
    # Named now: update's error is raised outside the alias that built this.
    owner, name = named("scale_by_learning_rate", "learning_rate")
    check_flag("scale_by_learning_rate", "flip_sign", flip_sign)
    if learning_rate is None:
        raise ValueError(f"{owner}: {name} is required, got None")
    # Schedules are leaves even when they are pytrees themselves (functools.partial is).
    rates = jax.tree.leaves(learning_rate, is_leaf=callable)
    if not rates:
        raise ValueError(f"{owner}: {name} has no values: {learning_rate!r}")
    for rate in rates:
        check_range("scale_by_learning_rate", "learning_rate", rate, "[0, inf)")
    # Whether a rate is a schedule is structure (a bound schedule stays callable with
    # traced leaves), so the state's type is chosen here.
    if any(callable(rate) for rate in rates):
        init, update = bind(_schedule_init), _scheduled_learning_rate_update
    else:
        init, update = EMPTY_INIT, _learning_rate_update
    return GradientTransformation(
        init,
        bind(update, learning_rate=learning_rate, flip_sign=flip_sign, owner=owner, name=name),
    )
