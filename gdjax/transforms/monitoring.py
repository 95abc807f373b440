"""Recording measurements of the updates in the state, for logging: `snapshot`,
`monitor` and `measure_with_ema`.

They pass the updates through unchanged; read a measurement back by name with
``gdjax.tree.get(state, name)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax._validation import arguments_of
from gdjax.base import (
    EMPTY_INIT,
    GradientTransformation,
    Updates,
    chain,
    extra_args_filter,
)
from gdjax.bound import Static, bind
from gdjax.transforms.momentum import ema

# --------------------------------------------------------------------------- snapshot


class SnapshotState(NamedTuple):
    """The last measurement, under its name."""

    measurement: dict[str, Any]


def _snapshot_init(params, *, measure_name, measure):
    return SnapshotState({measure_name: measure(params)})


def _snapshot_update(updates, state, params=None, *, measure_name, measure):
    del state, params
    return updates, SnapshotState({measure_name: measure(updates)})


def snapshot(measure_name: str, measure: Callable[[Updates], Any]) -> GradientTransformation:
    """Stores ``measure(updates)`` in the state under ``measure_name``; the updates pass
    through unchanged.

    In a chain it sees the updates as the transformations before it left them
    (``snapshot("norm", gdjax.tree.global_norm)`` before a clip records the
    unclipped norm). ``init`` stores ``measure(params)``, so the state has the
    same structure before and after the first step.

    Args:
      measure_name: the name to store the measurement under.
      measure: a function of the updates returning a pytree of arrays.

    Returns:
      A transformation with state `SnapshotState`.
    """
    _check_name("snapshot", measure_name)
    _check_measure("snapshot", "measure", measure)
    return GradientTransformation(
        bind(_snapshot_init, measure_name=measure_name, measure=measure),
        bind(_snapshot_update, measure_name=measure_name, measure=measure),
    )


# --------------------------------------------------------------------------- monitor


class MonitorState(NamedTuple):
    """The last measurements by name, and the measuring transformations' states in the
    order of the names."""

    measurements: dict[str, Any]
    measure_states: tuple


def _measure_update(updates, state, params=None, *, measure):
    del params
    return measure(updates), state


def _is_transformation(measure: Any) -> bool:
    # gdjax's and optax's transformations (NamedTuples of init and update).
    return isinstance(measure, tuple) and hasattr(measure, "init") and hasattr(measure, "update")


def _as_transformation(measure: Any) -> GradientTransformation:
    if _is_transformation(measure):
        return GradientTransformation(measure.init, measure.update)
    return GradientTransformation(EMPTY_INIT, bind(_measure_update, measure=measure))


def _measure_all(updates, states, params, inits_and_updates, extra):
    measurements, new_states = {}, []
    for (name, update), state in zip(inits_and_updates, states, strict=True):
        measurements[name], state = update(
            updates, state, params, **extra_args_filter(update)(extra)
        )
        new_states.append(state)
    return measurements, tuple(new_states)


def _monitor_init(params, *, names, inits, measure_updates):
    states = tuple(init(params) for init in inits)
    # Zeros shaped like the measurements, from a measuring step on the params
    # (traced, not computed), so that the state has the same structure at every
    # step, as jit and scan need. A measure whose update needs an extra argument
    # (``value=``) cannot be stepped here: its entry appears at the first update.
    measurements = {}
    for name, update, state in zip(names, measure_updates, states, strict=True):
        try:
            shape, _ = jax.eval_shape(lambda u=update, s=state: u(params, s, params))
        except TypeError:
            continue
        measurements[name] = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shape)
    return MonitorState(measurements, states)


def _monitor_update(updates, state, params=None, *, names, measure_updates, **extra):
    measurements, states = _measure_all(
        updates, state.measure_states, params, zip(names, measure_updates, strict=True), extra
    )
    return updates, MonitorState(measurements, states)


def monitor(measures: dict[str, Any]) -> GradientTransformation:
    """Records several measurements of the updates, some of them stateful; the updates
    pass through unchanged.

    Each measure is a function of the updates (as in `snapshot`) or a
    transformation whose *output* is the measurement, such as
    `measure_with_ema` (its state is kept in ``measure_states``). The extra
    arguments of ``update`` reach the measuring transformations that take them.

    ``init`` stores zeros shaped like the measurements (found without
    computing them), so the state has the same structure at every step
    (optax's ``init`` stores none). A measuring transformation whose
    ``update`` requires an extra argument cannot be measured then: its entry
    is missing from ``init``'s state, as in optax.

    Args:
      measures: a dict from measurement name to a function or a transformation.

    Returns:
      A transformation with state `MonitorState`.
    """
    if not isinstance(measures, dict):
        raise ValueError(f"monitor: measures must be a dict of name to measure, got {measures!r}")
    for name, measure in measures.items():
        _check_name("monitor", name)
        if not _is_transformation(measure):
            _check_measure("monitor", f"measures[{name!r}]", measure)
    transforms = [_as_transformation(m) for m in measures.values()]
    names = Static(tuple(measures))
    return GradientTransformation(
        bind(
            _monitor_init,
            names=names,
            inits=tuple(t.init for t in transforms),
            measure_updates=tuple(t.update for t in transforms),
        ),
        bind(_monitor_update, names=names, measure_updates=tuple(t.update for t in transforms)),
    )


# --------------------------------------------------------------------------- measure_with_ema


def _floating(measurement: Any) -> Any:
    # A bool or integer measurement (``norm > threshold``) is averaged as a
    # float: its moving average is a fraction.
    return jax.tree.map(
        lambda x: x if jnp.issubdtype(tree.dtype_of(x), jnp.inexact) else jnp.asarray(x, float),
        measurement,
    )


def _measured_update(updates, state, params=None, *, measure):
    del params
    return _floating(measure(updates)), state


def _ema_of_measure_init(params, *, ema_init, measure):
    # The average has the measurement's shapes, not the params'.
    return ema_init(_floating(measure(params)))


def measure_with_ema(
    measure: Callable[[Updates], Any],
    decay: ArrayLike,
    debias: bool = True,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    """Outputs an exponential moving average of ``measure(updates)``: a measure for
    `monitor`.


        m_t = decay * m_{t-1} + (1 - decay) * measure(g_t)      (m_0 = 0)
        out = m_t / (1 - decay**t)   if debias   else   m_t

    Its output is the average, not the updates: use it inside `monitor`.
    Bool and integer measurements are averaged as float32.

    Args:
      measure: a function of the updates returning a pytree of arrays.
      decay: the decay rate in [0, 1).
      debias: divide by ``1 - decay**t``. Default True.
      accumulator_dtype: dtype of the average; ``None`` (default) follows the
        measurement.

    Returns:
      A `gdjax.chain` of the measure and `gdjax.ema`, with state
      ``(EmptyState(), EmaState(count, ema))``.
    """
    _check_measure("measure_with_ema", "measure", measure)
    with arguments_of("measure_with_ema"):
        average = ema(decay, debias, accumulator_dtype)
    return chain(
        GradientTransformation(EMPTY_INIT, bind(_measured_update, measure=measure)),
        GradientTransformation(
            bind(_ema_of_measure_init, ema_init=average.init, measure=measure), average.update
        ),
    )


# --------------------------------------------------------------------------- checks


def _check_name(owner: str, name: Any) -> None:
    if not isinstance(name, str):
        raise ValueError(f"{owner}: a measurement's name must be a string, got {name!r}")


def _check_measure(owner: str, name: str, measure: Any) -> None:
    if not callable(measure):
        raise ValueError(f"{owner}: {name} must be a function of the updates, got {measure!r}")
