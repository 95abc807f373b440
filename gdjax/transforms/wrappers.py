"""Transformations of transformations: masking, skipping non-finite steps,
parameter groups, and hyperparameters held in the state."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdjax import tree
from gdjax._validation import check_flag, check_step
from gdjax.base import GradientTransformation, Params, extra_args_filter
from gdjax.bound import Bound, Static, bind

# --------------------------------------------------------------------------- masked


def _is_function(mask: Any) -> bool:
    """Whether a mask (or labels) is a function of the params rather than a tree.

    A callable counts as a function unless it is a pytree with leaves that are
    not callable: an equinox module of bools is callable (its ``__call__`` is
    the model's) but is a tree of bools, a mask. A plain function is its own
    leaf, and a `Bound`'s leaves are its hyperparameters, so both are functions.
    The rule is optax's (its issue #913), except that a callable with no leaves
    at all is a function here.
    """
    if not callable(mask):
        return False
    if isinstance(mask, Bound):
        return True
    return all(callable(leaf) for leaf in jax.tree.leaves(mask))


def _leafless(params: Any) -> bool:
    """Params with no leaves, such as the placeholder ``optax.tree.map_params`` passes
    to ``init``: there is nothing to mask, and a mask may not even fit them."""
    return not jax.tree.leaves(params)


class MaskedNode(NamedTuple):
    """Stands in for a parameter that a mask excludes: an empty pytree, so no state is kept."""


class MaskedState(NamedTuple):
    """The state of the inner transformation, kept for the unmasked leaves only."""

    inner_state: Any


def _mask_tree(owner: str, mask: Any, params: Params) -> Any:
    mask_tree = mask(params) if _is_function(mask) else mask
    for leaf in jax.tree.leaves(mask_tree):
        if not isinstance(leaf, (bool, np.bool_)):
            raise ValueError(
                f"{owner}: mask leaves must be True or False (they decide the tree "
                f"structure of the state), got {leaf!r}"
            )
    return mask_tree


def _prefix_map(owner: str, fn: Callable, prefix: Any, *trees: Any) -> Any:
    try:
        return jax.tree.map(fn, prefix, *trees)
    except ValueError as error:
        raise tree.StructureError(
            f"{owner}: the mask must have the structure of the params, or a prefix of it:\n"
            f"  mask:   {jax.tree.structure(prefix)}\n"
            f"  params: {jax.tree.structure(trees[0])}"
        ) from error


def _hide(owner: str, mask_tree: Any, params: Any) -> Any:
    if params is None:
        return None
    return _prefix_map(owner, lambda m, sub: sub if m else MaskedNode(), mask_tree, params)


def _masked_init(params, *, inner, mask):
    if _leafless(params):
        return MaskedState(inner(params))
    mask_tree = _mask_tree("masked", mask, params)
    return MaskedState(inner(_hide("masked", mask_tree, params)))


def _masked_update(updates, state, params=None, *, inner, mask, mask_extra_args, **extra):
    extra = extra_args_filter(inner)(extra)
    if _leafless(updates):
        return _passed_through(inner(updates, state.inner_state, params, **extra))
    mask_tree = _mask_tree("masked", mask, updates)
    if mask_extra_args:
        shape = jax.tree.structure(updates)
        extra = {
            k: _hide("masked", mask_tree, v) if jax.tree.structure(v) == shape else v
            for k, v in extra.items()
        }
    new, inner_state = inner(
        _hide("masked", mask_tree, updates),
        state.inner_state,
        _hide("masked", mask_tree, params),
        **extra,
    )
    merged = _prefix_map("masked", lambda m, n, g: n if m else g, mask_tree, new, updates)
    return merged, MaskedState(inner_state)


def _passed_through(result: tuple) -> tuple:
    updates, inner_state = result
    return updates, MaskedState(inner_state)


def masked(
    inner: GradientTransformation, mask: Any, *, mask_compatible_extra_args: bool = False
) -> GradientTransformation:
    """Applies ``inner`` to the leaves where ``mask`` is True and passes the others through.


        u = inner(g)   where mask is True
        u = g          elsewhere

    The inner state covers the masked-in leaves only. Params with no leaves
    (the placeholder of ``optax.tree.map_params``) go to ``inner`` as they are.

    Args:
      inner: the transformation to apply.
      mask: a pytree of bools with the structure of the params (or a prefix
        of it), or a function ``params -> mask``. A callable pytree whose
        leaves are bools (an equinox module) is a tree, not a function.
      mask_compatible_extra_args: also mask the extra arguments of ``update``
        that have the structure of the updates. Default False.
    """
    check_flag("masked", "mask_compatible_extra_args", mask_compatible_extra_args)
    if not _is_function(mask):
        _mask_tree("masked", mask, None)  # a bad mask fails here, not at the first init
    # The mask's bools (or its function) are options: they decide the state's structure.
    return GradientTransformation(
        bind(_masked_init, inner=inner.init, mask=mask),
        bind(
            _masked_update,
            inner=inner.update,
            mask=mask,
            mask_extra_args=mask_compatible_extra_args,
        ),
    )


# --------------------------------------------------------------------------- apply_if_finite


class ApplyIfFiniteState(NamedTuple):
    """Counters of non-finite steps and the inner state.

    Attributes:
      notfinite_count: non-finite steps in a row (reset by a finite one).
      last_finite: whether the last step's updates were finite.
      total_notfinite: all non-finite steps so far.
      inner_state: the inner transformation's state.
    """

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    inner_state: Any


def _apply_if_finite_init(params, *, inner):
    zero = tree.zero_count()
    return ApplyIfFiniteState(zero, jnp.array(True), zero, inner(params))


def _apply_if_finite_update(updates, state, params=None, *, inner, max_consecutive_errors, **extra):
    leaves = jax.tree.leaves(updates)
    finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in leaves] or [True]))
    notfinite_count = jnp.where(finite, 0, tree.safe_increment(state.notfinite_count))

    def apply(_):
        return inner(updates, state.inner_state, params, **extra_args_filter(inner)(extra))

    def skip(_):
        return tree.zeros_like(updates), state.inner_state

    updates, inner_state = jax.lax.cond(
        finite | (notfinite_count > max_consecutive_errors), apply, skip, None
    )
    total = jnp.where(finite, state.total_notfinite, tree.safe_increment(state.total_notfinite))
    return updates, ApplyIfFiniteState(
        notfinite_count.astype(jnp.int32), finite, total, inner_state
    )


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int
) -> GradientTransformation:
    """Skips steps whose updates hold a NaN or an infinity, and counts them.

    A step with any non-finite value returns zero updates and leaves the inner
    state untouched, so the params do not move. After more than
    ``max_consecutive_errors`` such steps in a row the inner transformation is
    applied anyway, so that a run that keeps failing shows it instead of
    stalling silently.

    Args:
      inner: the transformation to protect.
      max_consecutive_errors: non-finite steps in a row to skip, >= 0.
    """
    check_step("apply_if_finite", "max_consecutive_errors", max_consecutive_errors, 0)
    return GradientTransformation(
        bind(_apply_if_finite_init, inner=inner.init),
        bind(
            _apply_if_finite_update,
            inner=inner.update,
            max_consecutive_errors=max_consecutive_errors,
        ),
    )


# --------------------------------------------------------------------------- partition


class PartitionState(NamedTuple):
    """One inner state per parameter group, keyed by the group's label."""

    inner_states: dict


def _partition_init(params, *, transforms, labels):
    if _is_function(labels) and _leafless(params):
        return PartitionState({label: init(params) for label, init in transforms.items()})
    label_tree = labels(params) if _is_function(labels) else labels
    unknown = set(jax.tree.leaves(label_tree)) - set(transforms)
    if unknown:
        raise ValueError(
            f"partition: labels {sorted(map(repr, unknown))} have no transformation; "
            f"the transforms are for {sorted(map(repr, transforms))}"
        )
    return PartitionState({label: init(params) for label, init in transforms.items()})


def _partition_update(updates, state, params=None, *, transforms, **extra):
    # The groups are disjoint, so the order they are applied in does not matter.
    new_states = {}
    for label, update in transforms.items():
        updates, new_states[label] = update(updates, state.inner_states[label], params, **extra)
    return updates, PartitionState(new_states)


def _group_mask(params: Params, *, labels: Any, label: Hashable) -> Any:
    label_tree = labels(params) if _is_function(labels) else labels
    return jax.tree.map(lambda x: bool(x == label), label_tree)


def partition(
    transforms: Mapping[Hashable, GradientTransformation],
    param_labels: Any,
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    """Applies a different transformation to each group of parameters.

    Each leaf of the params carries a label; the leaves labelled ``k`` are
    updated by ``transforms[k]`` (the others are masked out of it).

    Args:
      transforms: a mapping from label to transformation.
      param_labels: a pytree of labels with the structure of the params (or a
        prefix of it), or a function ``params -> labels``. A callable pytree
        whose leaves are labels (an equinox module) is a tree, not a function.
      mask_compatible_extra_args: also mask the extra arguments of ``update``
        that have the structure of the updates (see `masked`). Default False.
    """
    if not transforms:
        raise ValueError("partition: transforms must name at least one group")
    check_flag("partition", "mask_compatible_extra_args", mask_compatible_extra_args)
    # Labels shape the program (an int label is not a number to trace): options.
    labels = Static(param_labels)
    wrapped = {
        label: masked(
            tx,
            bind(_group_mask, labels=labels, label=Static(label)),
            mask_compatible_extra_args=mask_compatible_extra_args,
        )
        for label, tx in transforms.items()
    }
    return GradientTransformation(
        bind(
            _partition_init,
            transforms={label: tx.init for label, tx in wrapped.items()},
            labels=labels,
        ),
        bind(_partition_update, transforms={label: tx.update for label, tx in wrapped.items()}),
    )


# --------------------------------------------------------------------------- inject_hyperparams


class InjectHyperparamsState(NamedTuple):
    """Step count, the current hyperparameter values, and the inner state.

    Change a value between steps with
    ``state.hyperparams["learning_rate"] = 0.01`` (or ``_replace``); under
    ``jit`` the new value is data, so nothing recompiles.
    """

    count: jax.Array
    hyperparams: dict
    inner_state: Any


def _hyperparam_dtype(params: Params, hyperparam_dtype: Any) -> Any:
    if hyperparam_dtype is not None:
        return hyperparam_dtype
    # At least float32: in bfloat16, b2=0.999 rounds to 1.0 and Adam divides 0 by 0.
    floats = [
        jnp.result_type(x)
        for x in jax.tree.leaves(params)
        if jnp.issubdtype(jnp.result_type(x), jnp.floating)
    ]
    return max([*floats, jnp.dtype(jnp.float32)], key=lambda d: jnp.finfo(d).bits)


def _stored(value: Any, dtype: Any) -> jax.Array:
    # Strongly typed, so that the state's types are the same after every step
    # and a jitted update is traced once.
    value = jnp.asarray(value)
    if jnp.issubdtype(value.dtype, jnp.floating):
        return jnp.asarray(value, dtype=dtype)
    return jnp.asarray(value, dtype=value.dtype)


def _values_at(count: jax.Array, current: dict, scheduled: dict, dtype: Any) -> dict:
    values = {k: _stored(v, dtype) for k, v in current.items()}
    values.update({k: _stored(f(count), dtype) for k, f in scheduled.items()})
    return values


def static_arguments(
    owner: str, factory: Callable, static_args: str | Iterable[str]
) -> tuple[inspect.Signature, set[str]]:
    """The factory's signature and the names in ``static_args``, each checked to be one
    of its arguments (shared by the two ``inject_*hyperparams``)."""
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(factory)
    unknown = static - set(signature.parameters)
    if unknown:
        raise ValueError(
            f"{owner}: static_args {sorted(unknown)} are not arguments of "
            f"{getattr(factory, '__name__', factory)}; it takes {list(signature.parameters)}"
        )
    return signature, static


def _inject_init(params, *, factory, fixed, numeric, scheduled, hyperparam_dtype):
    count = tree.zero_count()
    hyperparams = _values_at(count, numeric, scheduled, _hyperparam_dtype(params, hyperparam_dtype))
    inner = factory(**fixed, **hyperparams)
    return InjectHyperparamsState(count, hyperparams, inner.init(params))


def _inject_update(
    updates, state, params=None, *, factory, fixed, scheduled, hyperparam_dtype, **extra
):
    # The numeric values are the state's (the user may have set them), not the initial ones.
    dtype = _hyperparam_dtype(updates if params is None else params, hyperparam_dtype)
    numeric_now = {k: v for k, v in state.hyperparams.items() if k not in scheduled}
    hyperparams = _values_at(state.count, numeric_now, scheduled, dtype)
    inner = factory(**fixed, **hyperparams)
    updates, inner_state = inner.update(
        updates, state.inner_state, params, **extra_args_filter(inner.update)(extra)
    )
    return updates, InjectHyperparamsState(
        tree.safe_increment(state.count), hyperparams, inner_state
    )


def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., GradientTransformation]:
    """Moves a transformation's numeric hyperparameters into its state.

    ``inject_hyperparams(gdjax.adam)(learning_rate=1e-3)`` behaves like
    ``gdjax.adam(1e-3)``, but its state holds ``hyperparams["learning_rate"]``,
    which can be read (for logging) or changed between steps. A hyperparameter
    given as a schedule is evaluated at every step and its current value
    stored. Bools, ``None`` and the names in ``static_args`` stay fixed.

    Args:
      inner_factory: a function returning a transformation, e.g. ``gdjax.sgd``.
      static_args: names of arguments to keep fixed (not injected).
      hyperparam_dtype: dtype of the stored float hyperparameters; ``None``
        (default) uses the widest float dtype of the params, at least float32.

    Returns:
      A function with the signature of ``inner_factory``.
    """
    factory = inner_factory
    signature, static = static_arguments("inject_hyperparams", factory, static_args)

    @functools.wraps(factory)
    def wrapped(*args, **kwargs) -> GradientTransformation:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        fixed, numeric, scheduled = {}, {}, {}
        for name, value in bound.arguments.items():
            if name in static:
                fixed[name] = Static(value)  # an option even if it is a number
            elif isinstance(value, bool) or value is None:
                fixed[name] = value
            elif callable(value):
                scheduled[name] = value
            elif isinstance(value, (int, float, np.ndarray, jax.Array, np.number)):
                numeric[name] = value
            else:
                fixed[name] = value
        factory(**bound.arguments)  # validates the concrete values now, at build time
        # The factory, the fixed options and a plain function schedule are options;
        # the initial values and a gdjax schedule's numbers are data.
        return GradientTransformation(
            bind(
                _inject_init,
                factory=factory,
                fixed=fixed,
                numeric=numeric,
                scheduled=scheduled,
                hyperparam_dtype=hyperparam_dtype,
            ),
            bind(
                _inject_update,
                factory=factory,
                fixed=fixed,
                scheduled=scheduled,
                hyperparam_dtype=hyperparam_dtype,
            ),
        )

    return wrapped


# --------------------------------------------------------------------------- for_optax


def _for_optax_update(updates, state, params=None, *, inner, **extra):
    return inner(updates, state, params, **extra_args_filter(inner)(extra))


def for_optax(transform: GradientTransformation) -> Any:
    """``transform`` as an ``optax.GradientTransformationExtraArgs``, so that optax's
    combinators pass it the extra arguments of ``update``.

    optax's ``chain`` (and ``masked``, ``partition``, ...) hands extra keyword
    arguments such as ``value=loss`` only to transformations that are
    instances of its ``GradientTransformationExtraArgs`` class; it wraps any
    other one so that they are dropped. So a `gdjax.reduce_on_plateau` placed
    directly in ``optax.chain`` never sees ``value=`` (gdjax's own `chain`
    passes it). Wrap it::

        from gdjax.transforms.wrappers import for_optax

        optax.chain(gdjax.sgd(0.1), for_optax(gdjax.reduce_on_plateau(0.5, 3)))

    The result is optax's class with gdjax's functions in it (still a pytree
    of the hyperparameters); its ``update`` passes on the extra arguments that
    ``transform`` accepts and drops the others, as optax's transformations do.
    optax is imported here, on call: gdjax does not depend on it otherwise.
    """
    try:
        import optax  # optional: only users of optax call this
    except ImportError as error:
        raise ImportError("for_optax: optax is not installed") from error
    return optax.GradientTransformationExtraArgs(
        transform.init, bind(_for_optax_update, inner=transform.update)
    )
