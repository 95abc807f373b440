"""Choosing what a transformation acts on: frozen parameters (`freeze`,
`selective_transform`) and steps on which it runs (`conditionally_transform`,
`conditionally_mask`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import check_flag
from gdjax.base import EMPTY_INIT, GradientTransformation, extra_args_filter
from gdjax.bound import bind
from gdjax.transforms.wrappers import masked, partition

# --------------------------------------------------------------------------- freezing


def _zero_update(updates, state, params=None):
    del params
    return jax.tree.map(jnp.zeros_like, updates), state


def _set_to_zero() -> GradientTransformation:
    """Replaces the updates by zeros (stateless)."""
    return GradientTransformation(EMPTY_INIT, bind(_zero_update))


def _bool_mask(owner: str, mask: Any) -> Any:
    """The mask with its concrete 0-d bool arrays as Python bools: they are structure."""

    def leaf(m):
        if isinstance(m, (bool, np.bool_)):
            return bool(m)
        if isinstance(m, (np.ndarray, jax.Array)) and not isinstance(m, jax.core.Tracer):
            if m.dtype == np.bool_ and m.ndim == 0:
                return bool(m)
        raise ValueError(
            f"{owner}: the mask's leaves must be True or False (they decide which "
            f"parameters are frozen when the optimizer is built), got {m!r}"
        )

    return jax.tree.map(leaf, mask)


def freeze(mask: bool | Any) -> GradientTransformation:
    """Freezes the parameters where ``mask`` is True: their updates become zero.


        u = 0   where mask is True
        u = g   elsewhere

    Chained before an optimizer (or after it), the frozen parameters stay
    where they are; the transformations around still keep state for them (use
    `selective_transform` to keep none).

    Args:
      mask: True or False for all the parameters, or a pytree of bools with the
        structure of the params (or a prefix of it), True meaning frozen.

    Returns:
      A transformation with state ``MaskedState(EmptyState())``.
    """
    return masked(_set_to_zero(), _bool_mask("freeze", mask))


def selective_transform(
    optimizer: GradientTransformation, *, freeze_mask: bool | Any
) -> GradientTransformation:
    """Applies ``optimizer`` to the parameters where ``freeze_mask`` is False and gives
    zero updates to the others.

    Unlike ``chain(freeze(mask), optimizer)``, the optimizer keeps no state for
    the frozen parameters (it never sees them), and an optimizer that moves a
    parameter without a gradient (weight decay) cannot move a frozen one.

    Args:
      optimizer: the optimizer of the trained parameters.
      freeze_mask: keyword-only: True or False for all the parameters, or a
        pytree of bools with the structure of the params (or a prefix of it),
        True meaning frozen.

    Returns:
      A `gdjax.partition` of the groups ``"train"`` and ``"freeze"`` (state
      ``PartitionState``).
    """
    labels = jax.tree.map(
        lambda m: "freeze" if m else "train", _bool_mask("selective_transform", freeze_mask)
    )
    return partition({"train": optimizer, "freeze": _set_to_zero()}, labels)


# --------------------------------------------------------------------------- conditions


class ConditionFn(Protocol):
    """``fn(step, **extra) -> bool scalar``: whether the inner transformation runs at
    ``step`` (the number of earlier calls of ``update``, an int32 scalar)."""

    def __call__(self, step: ArrayLike, **extra_args: Any) -> ArrayLike: ...


def _condition(should_transform_fn, step, forward_extra_args, extra) -> jax.Array:
    condition = should_transform_fn(step, **(extra if forward_extra_args else {}))
    condition = jnp.asarray(condition)
    if condition.shape != ():
        raise ValueError(
            "should_transform_fn must return a scalar (a bool), got an array of shape "
            f"{condition.shape}"
        )
    return condition.astype(bool)


def _run_if(condition, inner, updates, inner_state, params, extra, otherwise):
    """``inner`` where ``condition`` holds, else ``(otherwise, inner_state)``."""
    extra_for_inner = extra_args_filter(inner)(extra)

    def run(_):
        out, new_state = inner(updates, inner_state, params, **extra_for_inner)
        return tree.cast_like(out, otherwise), tree.cast_like(new_state, inner_state)

    def keep(_):
        return otherwise, inner_state

    return jax.lax.cond(condition, run, keep, None)


class ConditionallyTransformState(NamedTuple):
    """The inner transformation's state and the number of calls of ``update`` so far."""

    inner_state: Any
    step: jax.Array


def _conditionally_transform_init(params, *, inner):
    return ConditionallyTransformState(inner_state=inner(params), step=tree.zero_count())


def _conditionally_transform_update(
    updates, state, params=None, *, inner, should_transform_fn, forward_extra_args, **extra
):
    condition = _condition(should_transform_fn, state.step, forward_extra_args, extra)
    out, inner_state = _run_if(condition, inner, updates, state.inner_state, params, extra, updates)
    return out, ConditionallyTransformState(inner_state, tree.safe_increment(state.step))


def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """Runs ``inner`` at the steps ``should_transform_fn`` picks and passes the updates
    through unchanged at the others.


        u_t, s_t = inner(g_t, s_{t-1})   if should_transform_fn(t)
        u_t, s_t = g_t, s_{t-1}           otherwise          (t = 0, 1, ...)

    Args:
      inner: the transformation to run.
      should_transform_fn: ``fn(step, **extra) -> bool scalar``, ``step``
        counting the earlier calls of ``update`` from 0 (see `ConditionFn`).
      forward_extra_args: also pass the extra keyword arguments of ``update``
        (``value=loss``, ...) to ``should_transform_fn``. Default False.

    Returns:
      A transformation with state `ConditionallyTransformState`. Use
      `conditionally_mask` for zero updates at the other steps.
    """
    _check_condition("conditionally_transform", should_transform_fn, forward_extra_args)
    return GradientTransformation(
        bind(_conditionally_transform_init, inner=inner.init),
        bind(
            _conditionally_transform_update,
            inner=inner.update,
            should_transform_fn=should_transform_fn,
            forward_extra_args=forward_extra_args,
        ),
    )


class ConditionallyMaskState(NamedTuple):
    """The number of calls of ``update`` so far and the inner transformation's state."""

    step: jax.Array
    inner_state: Any


def _conditionally_mask_init(params, *, inner):
    return ConditionallyMaskState(step=tree.zero_count(), inner_state=inner(params))


def _conditionally_mask_update(
    updates, state, params=None, *, inner, should_transform_fn, forward_extra_args, **extra
):
    condition = _condition(should_transform_fn, state.step, forward_extra_args, extra)
    zeros = jax.tree.map(jnp.zeros_like, updates)
    out, inner_state = _run_if(condition, inner, updates, state.inner_state, params, extra, zeros)
    return out, ConditionallyMaskState(tree.safe_increment(state.step), inner_state)


def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """Runs ``inner`` at the steps ``should_transform_fn`` picks and gives zero updates
    at the others.


        u_t, s_t = inner(g_t, s_{t-1})   if should_transform_fn(t)
        u_t, s_t = 0, s_{t-1}             otherwise          (t = 0, 1, ...)

    Args:
      inner: the transformation to run.
      should_transform_fn: ``fn(step, **extra) -> bool scalar``, ``step``
        counting the earlier calls of ``update`` from 0 (see `ConditionFn`).
      forward_extra_args: also pass the extra keyword arguments of ``update``
        to ``should_transform_fn``. Default False.

    Returns:
      A transformation with state `ConditionallyMaskState`. Use
      `conditionally_transform` to pass the updates through instead.
    """
    _check_condition("conditionally_mask", should_transform_fn, forward_extra_args)
    return GradientTransformation(
        bind(_conditionally_mask_init, inner=inner.init),
        bind(
            _conditionally_mask_update,
            inner=inner.update,
            should_transform_fn=should_transform_fn,
            forward_extra_args=forward_extra_args,
        ),
    )


def _check_condition(owner: str, should_transform_fn: Callable, forward_extra_args: bool) -> None:
    if not callable(should_transform_fn):
        raise ValueError(
            f"{owner}: should_transform_fn must be a function of the step, "
            f"got {should_transform_fn!r}"
        )
    check_flag(owner, "forward_extra_args", forward_extra_args)
