"""The core types: gradient transformations, their composition, and applying updates.

A gradient transformation is a pair of pure functions ``(init, update)``:

    state = init(params)
    updates, state = update(updates, state, params=None, **extra)

It is a ``NamedTuple`` with exactly those two fields in that order, so a gdjax
transformation can be used wherever optax expects one and the other way round.
In gdjax both functions are `gdjax.bound.Bound` pytrees, so a whole
transformation is a pytree of its hyperparameters.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gdjax import tree
from gdjax.bound import Bound, bind

Params = Any
"""A pytree of arrays: the parameters being optimised."""
Updates = Any
"""A pytree with the structure of the params: gradients on the way in, steps on the way out."""
OptState = Any
"""A pytree of arrays: the optimizer's state."""
Schedule = Callable[[jax.Array], jax.Array]
"""A function from the step count (an int32 scalar) to a hyperparameter value."""
ScalarOrSchedule = float | jax.Array | Schedule


def value_at(value: Any, count: jax.Array) -> Any:
    """A hyperparameter at step ``count``: a schedule's value there, else the value itself."""
    return value(count) if callable(value) else value


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
    A gdjax one is a pytree: its leaves are its numeric hyperparameters, its
    structure the kind and options (see `gdjax.bound`).
    """

    init: TransformInitFn
    update: TransformUpdateFn


class EmptyState(NamedTuple):
    """The state of a stateless transformation: an empty pytree."""


def init_empty_state(params: Params) -> EmptyState:
    """The ``init`` of every stateless transformation."""
    del params
    return EmptyState()


EMPTY_INIT: Bound = bind(init_empty_state)
"""`init_empty_state` as a (leafless) pytree: the ``init`` of stateless transformations."""


def _identity_update(updates, state, params=None):
    del params
    return updates, state


def identity() -> GradientTransformation:
    """The transformation that returns the updates unchanged.

    Update: ``u = g``. Stateless.
    """
    return GradientTransformation(EMPTY_INIT, bind(_identity_update))


def extra_args_filter(update_fn: Callable) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Returns a function that keeps the extra keyword arguments ``update_fn`` accepts.

    An update function with ``**kwargs`` receives every extra argument; one that
    names keyword parameters beyond ``(updates, state, params)`` receives those;
    any other receives none. The signature is read once per module-level
    function of a `Bound` (and bound names), every time for any other callable.
    """
    if isinstance(update_fn, Bound):
        return _filter_for(update_fn.fn, tuple(update_fn.hyperparams))
    return _make_filter(update_fn)  # a closure: not cached, it may hold large arrays


@functools.lru_cache(maxsize=1024)
def _filter_for(fn: Callable, bound: tuple[str, ...]) -> Callable[[Mapping[str, Any]], dict]:
    return _make_filter(fn, bound)


def _make_filter(fn: Callable, bound: tuple[str, ...] = ()) -> Callable[[Mapping[str, Any]], dict]:
    try:
        parameters = [p for p in inspect.signature(fn).parameters.values() if p.name not in bound]
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


def _chain_init(params: Params, *, transforms: tuple) -> tuple:
    return tuple(init(params) for init in transforms)


def _chain_update(updates, state, params=None, *, transforms: tuple, **extra):
    if not isinstance(state, tuple) or len(state) != len(transforms):
        got = len(state) if isinstance(state, tuple) else type(state).__name__
        raise ValueError(
            f"chain: the state holds {got} entries but the chain has "
            f"{len(transforms)} transformations; pass the state that this "
            "chain's init returned"
        )
    new_state = []
    for update, s in zip(transforms, state, strict=True):
        updates, s = update(updates, s, params, **extra_args_filter(update)(extra))
        new_state.append(s)
    return updates, tuple(new_state)


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
    return GradientTransformation(
        bind(_chain_init, transforms=tuple(t.init for t in transforms)),
        bind(_chain_update, transforms=tuple(t.update for t in transforms)),
    )


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
