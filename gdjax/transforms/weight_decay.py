"""Weight decay added to the gradient (L2 regularisation; decoupled when placed after Adam)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from gdjax import tree
from gdjax._validation import check_range
from gdjax.base import EMPTY_INIT, GradientTransformation
from gdjax.bound import bind
from gdjax.transforms.wrappers import masked


class WeightDecayScheduleState(NamedTuple):
    """Step count, kept when the weight decay is a schedule."""

    count: jax.Array


def _decayed(updates, params, wd):
    # An empty tree (None among them) has no weights to decay: params=None is fine.
    if params is None and jax.tree.leaves(updates):
        raise ValueError(
            "add_decayed_weights needs the params: call update(updates, state, params)"
        )
    return tree.map(
        lambda g, p: tree.as_dtype(g + tree.scale(wd, p), g.dtype),
        updates,
        params,
        names=("updates", "params"),
    )


def _decay_update(updates, state, params=None, *, weight_decay):
    # The Python number 0 is a compile-time constant: skip the decay, since XLA would
    # otherwise spend a full extra pass over the params on g + 0 * p (it made
    # AdaDelta's step 25% slower). A constant can never be a tracer, so this is no
    # branch on a traced value; an array or traced zero takes the general path.
    if isinstance(weight_decay, (int, float)) and weight_decay == 0:
        return updates, state
    return _decayed(updates, params, weight_decay), state


def _decay_schedule_init(params):
    del params
    return WeightDecayScheduleState(count=tree.zero_count())


def _scheduled_decay_update(updates, state, params=None, *, weight_decay):
    out = _decayed(updates, params, weight_decay(state.count))
    return out, WeightDecayScheduleState(count=tree.safe_increment(state.count))


def add_decayed_weights(weight_decay: Any = 0.0, mask: Any = None) -> GradientTransformation:
    """Adds ``weight_decay * params`` to the updates.

    Update: ``u = g + wd * p`` (``wd(t)`` for a schedule). Before an adaptive
    scaling this is L2 regularisation; after it (as in `gdjax.adamw`)
    it is decoupled weight decay (Loshchilov & Hutter 2019).

    Args:
      weight_decay: a float >= 0, an array, or a schedule. Default 0.
      mask: where to apply it: a pytree of bools (or a prefix of the params'
        structure), or a function ``params -> mask``. ``None`` (default)
        applies it everywhere.

    A weight decay given as the Python number 0 returns the updates unchanged
    (as `identity` does): the value is a compile-time constant either way, and
    XLA would otherwise spend a full extra pass over the params on
    ``g + 0 * p`` (it made AdaDelta's step 25% slower). An array or traced
    zero takes the general path.
    """
    check_range("add_decayed_weights", "weight_decay", weight_decay, "[0, inf)")
    # Whether the decay is a schedule is structure: it decides the state's type.
    if callable(weight_decay):
        init, update = bind(_decay_schedule_init), _scheduled_decay_update
    else:
        init, update = EMPTY_INIT, _decay_update
    transform = GradientTransformation(init, bind(update, weight_decay=weight_decay))
    return transform if mask is None else masked(transform, mask)
