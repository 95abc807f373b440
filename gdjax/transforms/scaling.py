"""Multiplying updates: by a constant, by the negative learning rate, by a schedule."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from gdjax import tree
from gdjax._validation import check_range, named
from gdjax.base import GradientTransformation, Schedule, init_empty_state


class ScaleByScheduleState(NamedTuple):
    """The number of updates applied so far (an int32 scalar)."""

    count: jax.Array


def scale(step_size: float | jax.Array) -> GradientTransformation:
    """Multiplies every update by ``step_size``.

    Update: ``u = step_size * g``. Stateless.

    Args:
      step_size: a float, or an array that broadcasts against every leaf.
    """
    check_range("scale", "step_size", step_size, "(-inf, inf)")

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: tree.scale(step_size, g), updates), state

    return GradientTransformation(init_empty_state, update)


def scale_by_schedule(schedule: Schedule) -> GradientTransformation:
    """Multiplies the updates by ``schedule(count)``, ``count`` being the number of past updates.

    Update: ``u_t = schedule(t) * g_t`` with ``t = 0, 1, 2, ...``.

    Args:
      schedule: a function from the int32 step count to a factor (see
        `gdjax.schedules`).
    """
    if not callable(schedule):
        raise ValueError(f"scale_by_schedule: schedule must be callable, got {schedule!r}")

    def init(params):
        del params
        return ScaleByScheduleState(count=tree.zero_count())

    def update(updates, state, params=None):
        del params
        factor = schedule(state.count)
        updates = jax.tree.map(lambda g: tree.scale(factor, g), updates)
        return updates, ScaleByScheduleState(count=tree.safe_increment(state.count))

    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate: Any) -> GradientTransformation:
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
      learning_rate: the rate(s), each >= 0.

    Returns:
      A transformation whose state is ``EmptyState`` for constant rates and
      `ScaleByScheduleState` if any rate is a schedule.
    """
    # Named now: update's error below is raised outside the alias that built this.
    owner, name = named("scale_by_learning_rate", "learning_rate")
    if learning_rate is None:
        raise ValueError(f"{owner}: {name} is required, got None")
    # Schedules are leaves even when they are pytrees themselves (functools.partial is).
    rates = jax.tree.leaves(learning_rate, is_leaf=callable)
    if not rates:
        raise ValueError(f"{owner}: {name} has no values: {learning_rate!r}")
    for rate in rates:
        check_range("scale_by_learning_rate", "learning_rate", rate, "[0, inf)")

    def descend(rate, count, subtree):
        value = rate(count) if callable(rate) else rate
        return jax.tree.map(lambda g: tree.scale(-value, g), subtree)

    def scaled(updates, count):
        try:
            return jax.tree.map(
                lambda r, sub: descend(r, count, sub), learning_rate, updates, is_leaf=callable
            )
        except ValueError as error:
            raise tree.StructureError(
                f"{owner}: a per-parameter {name} must have the "
                "structure of the params, or a prefix of it:\n"
                f"  learning_rate: {jax.tree.structure(learning_rate, is_leaf=callable)}\n"
                f"  updates:       {jax.tree.structure(updates)}"
            ) from error

    if not any(callable(rate) for rate in rates):

        def update(updates, state, params=None):
            del params
            return scaled(updates, None), state

        return GradientTransformation(init_empty_state, update)

    def init_scheduled(params):
        del params
        return ScaleByScheduleState(count=tree.zero_count())

    def update_scheduled(updates, state, params=None):
        del params
        new_state = ScaleByScheduleState(count=tree.safe_increment(state.count))
        return scaled(updates, state.count), new_state

    return GradientTransformation(init_scheduled, update_scheduled)
