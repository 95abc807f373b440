"""Composing and reshaping transformations: `named_chain` (a chain whose state is
keyed by name), `flatten` (the inner transformation sees one vector), and
`inject_stateful_hyperparams` (hyperparameters driven by stateful schedules)."""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import register_pytree_with_keys_class
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax.base import GradientTransformation, Schedule, extra_args_filter
from gdjax.bound import Static, bind
from gdjax.transforms.wrappers import _hyperparam_dtype, _stored, static_arguments

# --------------------------------------------------------------------------- named_chain


def _named_chain_init(params, *, names, inits):
    # An OrderedDict keeps the chain's order when the state is flattened
    # (a dict's keys are sorted).
    return collections.OrderedDict(
        (name, init(params)) for name, init in zip(names, inits, strict=True)
    )


def _named_chain_update(updates, state, params=None, *, names, updates_fns, **extra):
    new_state = collections.OrderedDict()
    for name, update in zip(names, updates_fns, strict=True):
        updates, new_state[name] = update(
            updates, state[name], params, **extra_args_filter(update)(extra)
        )
    return updates, new_state


def named_chain(*args: tuple[str, GradientTransformation]) -> GradientTransformation:
    """`gdjax.chain` with a name for each transformation: the state is an ``OrderedDict``
    from each name to that transformation's state (``state["adam"]``).

    Args:
      *args: ``(name, transformation)`` pairs, in the order they apply; the
        names must be distinct.

    Returns:
      The composed transformation. The extra arguments of ``update`` reach the
      transformations that take them, as in `gdjax.chain`.
    """
    for pair in args:
        is_pair = isinstance(pair, tuple) and len(pair) == 2 and not hasattr(pair, "_fields")
        if not (is_pair and hasattr(pair[1], "init") and hasattr(pair[1], "update")):
            raise ValueError(
                f"named_chain: each argument must be a (name, transformation) pair, got {pair!r}"
            )
    names = [name for name, _ in args]
    if len(set(names)) != len(names):
        raise ValueError(f"named_chain: the names must be distinct, got {names}")
    return GradientTransformation(
        bind(_named_chain_init, names=Static(tuple(names)), inits=tuple(t.init for _, t in args)),
        bind(
            _named_chain_update,
            names=Static(tuple(names)),
            updates_fns=tuple(t.update for _, t in args),
        ),
    )


# --------------------------------------------------------------------------- flatten


def _to_vector(params: Any) -> jax.Array:
    return jnp.concatenate([jnp.reshape(x, [-1]) for x in jax.tree.leaves(params)])


def _from_vector(like: Any, vector: jax.Array) -> Any:
    leaves, treedef = jax.tree.flatten(like)
    cuts = np.cumsum([np.size(x) for x in leaves])[:-1]
    pieces = jnp.split(vector, cuts)
    return treedef.unflatten(
        [jnp.reshape(piece, np.shape(x)) for piece, x in zip(pieces, leaves, strict=True)]
    )


def _flatten_init(params, *, inner):
    return inner(_to_vector(params))


def _flatten_update(updates, state, params=None, *, inner, **extra):
    vector_params = None if params is None else _to_vector(params)
    out, state = inner(_to_vector(updates), state, vector_params, **extra_args_filter(inner)(extra))
    return _from_vector(updates, out), state


def flatten(inner: GradientTransformation) -> GradientTransformation:
    """Runs ``inner`` on all the leaves concatenated into one vector.

    The updates (and the params) are raveled and joined, ``inner`` transforms
    that vector, and the result is split back into the updates' structure.
    Many small leaves then cost one computation instead of one each; the
    state holds vectors. The leaves are joined in one dtype (JAX's promotion
    of theirs).

    Args:
      inner: the transformation to run on the vector.

    Returns:
      A transformation whose state is ``inner``'s on the vector.
    """
    return GradientTransformation(
        bind(_flatten_init, inner=inner.init), bind(_flatten_update, inner=inner.update)
    )


# --------------------------------------------------------------------------- stateful schedules


@runtime_checkable
class StatefulSchedule(Protocol):
    """A schedule with a state of its own, updated at each step from the extra
    arguments of ``update`` (the loss, say) rather than computed from the step count.

    ``init() -> state``; ``update(state, **extra) -> state``; and
    ``schedule(state, **extra) -> value``, the value for the current step.
    """

    def init(self) -> Any: ...

    def update(self, state: Any, **extra_args: Any) -> Any: ...

    def __call__(self, state: Any, **extra_args: Any) -> ArrayLike: ...


class WrappedScheduleState(NamedTuple):
    """The step count of a `WrappedSchedule`."""

    count: jax.Array


@register_pytree_with_keys_class
class WrappedSchedule:
    """A schedule of the step count, as a `StatefulSchedule` whose state is the count.

    A pytree: a gdjax schedule inside keeps its numbers as data.
    """

    __slots__ = ("schedule_fn",)

    def __init__(self, schedule_fn: Schedule):
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(count=tree.zero_count())

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        del extra_args
        return WrappedScheduleState(count=tree.safe_increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> ArrayLike:
        del extra_args
        return self.schedule_fn(state.count)

    def tree_flatten_with_keys(self):
        return ((jax.tree_util.GetAttrKey("schedule_fn"), _as_child(self.schedule_fn)),), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        del aux
        return cls(_from_child(children[0]))

    def __repr__(self) -> str:
        return f"WrappedSchedule({self.schedule_fn!r})"


@register_pytree_with_keys_class
class _FunctionNode:
    """A plain function inside a `WrappedSchedule`: structure, no leaves."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable):
        self.fn = fn

    def tree_flatten_with_keys(self):
        return (), self.fn

    @classmethod
    def tree_unflatten(cls, fn, children):
        del children
        return cls(fn)


def _as_child(fn: Any) -> Any:
    # A gdjax schedule (a pytree of its numbers) is a child with data leaves; any
    # other function would be a leaf of its own, so it is wrapped as structure.
    leaves = jax.tree.leaves(fn)
    return _FunctionNode(fn) if len(leaves) == 1 and leaves[0] is fn else fn


def _from_child(child: Any) -> Any:
    return child.fn if isinstance(child, _FunctionNode) else child


# ------------------------------------------------------------------ inject_stateful_hyperparams


class InjectStatefulHyperparamsState(NamedTuple):
    """Step count, the current hyperparameter values, the schedules' states, and the
    inner state.

    Change a numeric (unscheduled) value between steps with
    ``state.hyperparams["learning_rate"] = 0.01``.
    """

    count: jax.Array
    hyperparams: dict
    hyperparams_states: dict
    inner_state: Any


def _scheduled_values(schedules, states, dtype, extra):
    return {k: _stored(f(states[k], **extra), dtype) for k, f in schedules.items()}


def _inject_stateful_init(params, *, factory, fixed, numeric, schedules, hyperparam_dtype):
    dtype = _hyperparam_dtype(params, hyperparam_dtype)
    states = {k: f.init() for k, f in schedules.items()}
    hyperparams = {k: _stored(v, dtype) for k, v in numeric.items()}
    hyperparams.update(_scheduled_values(schedules, states, dtype, {}))
    inner = factory(**fixed, **hyperparams)
    return InjectStatefulHyperparamsState(
        tree.zero_count(), hyperparams, states, inner.init(params)
    )


def _inject_stateful_update(
    updates, state, params=None, *, factory, fixed, schedules, hyperparam_dtype, **extra
):
    dtype = _hyperparam_dtype(updates if params is None else params, hyperparam_dtype)
    # The numeric values are the state's (the user may have set them).
    hyperparams = {k: _stored(v, dtype) for k, v in state.hyperparams.items()}
    hyperparams.update(_scheduled_values(schedules, state.hyperparams_states, dtype, extra))
    states = {k: f.update(state.hyperparams_states[k], **extra) for k, f in schedules.items()}
    inner = factory(**fixed, **hyperparams)
    updates, inner_state = inner.update(
        updates, state.inner_state, params, **extra_args_filter(inner.update)(extra)
    )
    return updates, InjectStatefulHyperparamsState(
        tree.safe_increment(state.count), hyperparams, states, inner_state
    )


_UNKNOWN = object()


def _initial_value(schedule: StatefulSchedule) -> Any:
    """The schedule's first value, for the build-time checks; unknown if computing it
    needs the extra arguments of ``update``."""
    try:
        return schedule(schedule.init())
    except TypeError:
        return _UNKNOWN


def inject_stateful_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: DTypeLike | None = None,
) -> Callable[..., GradientTransformation]:
    """`gdjax.inject_hyperparams` that also takes stateful schedules.

    A hyperparameter may be a number (stored in ``state.hyperparams``, where
    it can be changed between steps), a schedule of the step count (wrapped
    in a `WrappedSchedule`), or a `StatefulSchedule`: an object with
    ``init()``, ``update(state, **extra)`` and ``__call__(state, **extra)``,
    whose state is kept in ``state.hyperparams_states`` and which receives the
    extra arguments of ``update`` (``value=loss``, ...). At each step the
    value is computed from the schedule's state before that state is updated,
    so the first step uses the value of the initial state.

    Args:
      inner_factory: a function returning a transformation, e.g. ``gdjax.sgd``.
      static_args: names of arguments to keep fixed (not injected), such as a
        callable that is not a schedule.
      hyperparam_dtype: dtype of the stored float hyperparameters; ``None``
        (default) uses the widest float dtype of the params, at least float32.

    Returns:
      A function with the signature of ``inner_factory`` returning a
      transformation with state `InjectStatefulHyperparamsState`.
    """
    factory = inner_factory
    signature, static = static_arguments("inject_stateful_hyperparams", factory, static_args)

    @functools.wraps(factory)
    def wrapped(*args, **kwargs) -> GradientTransformation:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        fixed, numeric, schedules, initial = {}, {}, {}, {}
        for name, value in bound.arguments.items():
            if name in static:
                fixed[name] = Static(value)  # an option even if it is a number
                initial[name] = value
            elif isinstance(value, bool) or value is None:
                fixed[name] = initial[name] = value
            elif isinstance(value, StatefulSchedule):
                schedules[name] = value
                initial[name] = _initial_value(value)
            elif callable(value):
                schedules[name] = WrappedSchedule(value)
                initial[name] = value
            elif isinstance(value, (int, float, np.ndarray, jax.Array, np.number)):
                numeric[name] = initial[name] = value
            else:
                fixed[name] = initial[name] = value
        if not any(v is _UNKNOWN for v in initial.values()):
            factory(**initial)  # validates the concrete values now, at build time
        return GradientTransformation(
            bind(
                _inject_stateful_init,
                factory=factory,
                fixed=fixed,
                numeric=numeric,
                schedules=schedules,
                hyperparam_dtype=hyperparam_dtype,
            ),
            bind(
                _inject_stateful_update,
                factory=factory,
                fixed=fixed,
                schedules=schedules,
                hyperparam_dtype=hyperparam_dtype,
            ),
        )

    return wrapped
