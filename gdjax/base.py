"""The core types: gradient transformations, their composition, and applying updates.

A gradient transformation is a pair of pure functions ``(init, update)``:

    state = init(params)
    updates, state = update(updates, state, params=None, **extra)

It is a ``NamedTuple`` with exactly those two fields in that order, so a gdjax
transformation can be used wherever optax expects one and the other way round.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gdjax import tree

Params = Any
"""A pytree of arrays: the parameters being optimised."""
Updates = Any
"""A pytree with the structure of the params: gradients on the way in, steps on the way out."""
OptState = Any
"""A pytree of arrays: the optimizer's state."""
Schedule = Callable[[jax.Array], jax.Array]
"""A function from the step count (an int32 scalar) to a hyperparameter value."""
ScalarOrSchedule = float | jax.Array | Schedule


class TransformInitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra: Any
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``init(params) -> state`` and
    ``update(updates, state, params=None, **extra) -> (updates, state)``.

    Interchangeable with ``optax.GradientTransformation`` in both directions.
    """

    init: TransformInitFn
    update: TransformUpdateFn


class EmptyState(NamedTuple):
    """The state of a stateless transformation: an empty pytree."""


def init_empty_state(params: Params) -> EmptyState:
    """The ``init`` of every stateless transformation."""
    del params
    return EmptyState()


def identity() -> GradientTransformation:
    """The transformation that returns the updates unchanged.

    Update: ``u = g``. Stateless.
    """

    def update(updates, state, params=None):
        del params
        return updates, state

    return GradientTransformation(init_empty_state, update)


def extra_args_filter(update_fn: Callable) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Returns a function that keeps the extra keyword arguments ``update_fn`` accepts.

    An update function with ``**kwargs`` receives every extra argument; one that
    names keyword parameters beyond ``(updates, state, params)`` receives those;
    any other receives none. The signature is read once, when the filter is built.
    """
    try:
        parameters = list(inspect.signature(update_fn).parameters.values())
    except (TypeError, ValueError):  # builtins and C functions without a signature
        return lambda extra: {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict
    named = {
        p.name
        for p in parameters[3:]
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }
    if not named:
        return lambda extra: {}
    return lambda extra: {k: v for k, v in extra.items() if k in named}


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies transformations one after the other.

    ``chain(a, b).update`` feeds the updates through ``a.update`` then
    ``b.update``; the state is the tuple of their states. Extra keyword
    arguments of ``update`` (for example ``value=loss`` for
    `gdjax.reduce_on_plateau`) reach only the transformations whose
    ``update`` accepts them. Optax transformations may be chained too.

    Args:
      *transforms: the transformations, in the order they apply.

    Returns:
      The composed transformation.
    """
    filters = [extra_args_filter(t.update) for t in transforms]

    def init(params: Params) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None, **extra):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            got = len(state) if isinstance(state, tuple) else type(state).__name__
            raise ValueError(
                f"chain: the state holds {got} entries but the chain has "
                f"{len(transforms)} transformations; pass the state that this "
                "chain's init returned"
            )
        new_state = []
        for t, keep, s in zip(transforms, filters, state, strict=True):
            updates, s = t.update(updates, s, params, **keep(extra))
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def apply_updates(params: Params, updates: Updates) -> Params:
    """Adds the updates to the params: ``p + u``, in the dtype of ``p``.

    Args:
      params: the current parameters.
      updates: updates with the same tree structure (the output of ``update``).

    Returns:
      The new parameters, with the structure, shapes and dtypes of ``params``.
    """

    def add(p, u):
        new = p + u
        new = new if isinstance(new, jax.Array) else jnp.asarray(new)
        return tree.as_dtype(new, p.dtype if hasattr(p, "dtype") else jnp.result_type(p))

    return tree.map(add, params, updates, names=("params", "updates"))
