"""Schedule-Free learning (Defazio et al. 2024): averaging and interpolation in place of
momentum and of a decaying learning-rate schedule."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax._validation import check_range
from gdjax.base import (
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    extra_args_filter,
    value_at,
)
from gdjax.bound import bind


class ScheduleFreeState(NamedTuple):
    """Schedule-Free's state (optax's fields, in its order).

    Attributes:
      b1: the interpolation weight ``beta`` (kept for `schedule_free_eval_params`).
      weight_sum: the sum of the averaging weights so far.
      step_count: the step about to be taken, starting at 1 (int32).
      max_lr: the largest learning rate seen so far.
      base_optimizer_state: the inner transformation's state.
      z: the base optimizer's iterate.

    The three scalars have the params' lowest float dtype, as in optax.
    """

    b1: jax.Array
    weight_sum: jax.Array
    step_count: jax.Array
    max_lr: jax.Array
    base_optimizer_state: OptState
    z: Params


def _lowest_dtype(params: Params) -> Any:
    """The params' float dtype every other one promotes to (bfloat16 in a float32 tree);
    float32 for an empty tree or for dtypes that do not promote into one another."""

    def lower(a, b):
        wider = jnp.promote_types(a, b)
        return b if wider == a else a if wider == b else jnp.dtype(jnp.float32)

    dtypes = [tree.dtype_of(x) for x in jax.tree.leaves(params)]
    return functools.reduce(lower, dtypes) if dtypes else jnp.dtype(jnp.float32)


def schedule_free_eval_params(state: OptState, params: Params) -> Params:
    """The averaged point ``x`` at which to evaluate a model trained by `schedule_free`.

    The params the optimizer moves are the interpolation
    ``y = (1 - b1) z + b1 x``; this returns ``x = (y - (1 - b1) z) / b1``.

    Args:
      state: a `ScheduleFreeState`, or an optimizer state holding exactly one
        (the state of `gdjax.optimizers.recent.schedule_free_adamw` is a chain's
        tuple around it).
      params: the current params ``y``.
    """
    if not (hasattr(state, "b1") and hasattr(state, "z")):
        found = tree.get_all_with_path(state, "ScheduleFreeState")
        if len(found) != 1:
            raise ValueError(
                "schedule_free_eval_params: state must be a ScheduleFreeState or hold "
                f"exactly one, got a {type(state).__name__} holding {len(found)}"
            )
        state = found[0][1]
    b1, z = state.b1, state.z
    return tree.map(
        lambda y, z: _divide(y - tree.scale(1 - b1, z), b1), params, z, names=("params", "state.z")
    )


def _schedule_free_init(params, *, base_init, b1, state_dtype):
    dtype = _lowest_dtype(params)
    # A copy, so that z and the params are distinct buffers (both may be donated).
    z = jax.tree.map(jnp.copy, tree.cast(params, state_dtype))
    return ScheduleFreeState(
        b1=jnp.asarray(b1, dtype),
        weight_sum=jnp.zeros([], dtype),
        step_count=jnp.ones([], jnp.int32),
        max_lr=jnp.zeros([], dtype),
        base_optimizer_state=base_init(params),
        z=z,
    )


def _averaging_weight(weight, total):
    """``c = weight / total``: 0 where both are 0 (a zero rate so far), NaN where either is."""
    nan = jnp.isnan(weight) | jnp.isnan(total)
    return jnp.where(nan, jnp.nan, jnp.nan_to_num(weight / total, nan=0.0, posinf=jnp.inf))


def _divide(x: jax.Array, b1: Any) -> jax.Array:
    """``x / b1`` in ``x``'s dtype (``b1`` a Python number or an array)."""
    if isinstance(b1, (int, float)):
        return x / b1
    return x / tree.as_dtype(jnp.asarray(b1), tree.dtype_of(x))


def _schedule_free_update(
    updates, state, params=None, *, base_update, learning_rate, b1, weight_lr_power, **extra
):
    if params is None:
        raise ValueError("schedule_free needs the params: call update(updates, state, params)")
    dtype = state.max_lr.dtype
    rate = value_at(learning_rate, state.step_count)
    max_lr = jnp.maximum(state.max_lr, jnp.asarray(rate, dtype))
    # Cast back: a traced float32 power must not widen a bfloat16 state's scalars.
    weight = tree.as_dtype(max_lr**weight_lr_power, dtype)
    weight_sum = tree.as_dtype(state.weight_sum + weight, dtype)
    c = _averaging_weight(weight, weight_sum).astype(dtype)

    steps, base_state = base_update(
        updates, state.base_optimizer_state, params, **extra_args_filter(base_update)(extra)
    )
    z = tree.map(lambda z, u: tree.as_dtype(z + u, z.dtype), state.z, steps)

    # Computed in at least float32; x is recomputed from y and z rather than stored.
    y_old, z_old, z_new = tree.widen(params), tree.widen(state.z), tree.widen(z)

    def step(y, z_before, z_after):
        x = _divide(y - tree.scale(1 - b1, z_before), b1)
        x = tree.scale(1 - c, x) + tree.scale(c, z_after)
        return tree.scale(b1, x) + tree.scale(1 - b1, z_after) - y

    out = tree.map(step, y_old, z_old, z_new, names=("params", "state.z"))
    new_state = ScheduleFreeState(
        b1=state.b1,
        weight_sum=weight_sum,
        step_count=tree.safe_increment(state.step_count),
        max_lr=max_lr,
        base_optimizer_state=base_state,
        z=z,
    )
    return tree.cast_like(out, updates), new_state


def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    weight_lr_power: ArrayLike = 2.0,
    state_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    """Schedule-Free (Defazio et al. 2024, "The Road Less Scheduled"): wraps a base optimizer
    without momentum.


        z_{t+1} = z_t + base_update(g(y_t))                    (z_1 = y_1 = x_1 = params)
        c_{t+1} = w_t / sum_{i<=t} w_i,   w_t = max_{i<=t} lr_i ** weight_lr_power
        x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}
        y_{t+1} = b1 x_{t+1} + (1 - b1) z_{t+1}

    The params are ``y``, where gradients are taken; ``z`` is the base
    optimizer's own sequence (for SGD, ``z - lr g``), and ``x``, the weighted
    average of the ``z``, is where to evaluate the model
    (`schedule_free_eval_params`); it is recomputed from ``y`` and ``z``, not stored.
    With a constant rate ``c_t = 1/t``, the uniform average. No decay schedule is
    needed; a warmup in ``learning_rate`` is recommended, and the weights
    ``lr**weight_lr_power`` give the warmup steps less say in the average. The
    base optimizer must not use momentum (Adam's ``b1 = 0``): ``b1`` here
    replaces it.

    ``learning_rate`` must be the rate the base optimizer uses: a schedule is
    read at ``step_count`` (1 at the first step), as optax does.

    Args:
      base_optimizer: the transformation giving the ``z`` steps (its extra
        ``update`` arguments are passed on).
      learning_rate: a float >= 0 or a schedule; only weighs the average.
      b1: the interpolation ``beta`` in (0, 1]. Default 0.9.
      weight_lr_power: the power of the rate in the weights, >= 0. Default 2.
      state_dtype: dtype of ``z``; None (default) follows the params.

    Returns:
      A transformation with state `ScheduleFreeState`.
    """
    owner = "schedule_free"
    check_range(owner, "learning_rate", learning_rate, "[0, inf)")
    check_range(owner, "b1", b1, "(0, 1]")
    check_range(owner, "weight_lr_power", weight_lr_power, "[0, inf)")
    return GradientTransformation(
        bind(_schedule_free_init, base_init=base_optimizer.init, b1=b1, state_dtype=state_dtype),
        bind(
            _schedule_free_update,
            base_update=base_optimizer.update,
            learning_rate=learning_rate,
            b1=b1,
            weight_lr_power=weight_lr_power,
        ),
    )
