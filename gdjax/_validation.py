"""Build-time checks of hyperparameters.

Concrete values (Python numbers, NumPy and concrete JAX arrays) are checked
when a transformation is built, so a bad value fails at the call that gave it.
Tracers (inside ``jit``/``vmap``) and schedules cannot be checked then and are
passed through: checking them would mean branching on traced values.

An error names the argument the user wrote: while an alias builds its chain
(`arguments_of`), the checks of its transformations speak for the alias, so
``sgd(0.1, momentum=-0.2)`` says ``sgd: momentum ...``, not ``trace: decay ...``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# (alias, {transformation's argument: alias's argument}) while an alias builds its chain.
_SPEAKER: contextvars.ContextVar[tuple[str, Mapping[str, str]] | None] = contextvars.ContextVar(
    "gdjax_arguments_of", default=None
)


@contextlib.contextmanager
def arguments_of(alias: str, **renames: str) -> Iterator[None]:
    """Within the block, the checks report ``alias`` as the owner, in its argument names.

    An alias builds transformations from its arguments under other names:
    ``sgd(lr, momentum=mu)`` builds ``trace(decay=mu)``. Inside
    ``with arguments_of("sgd", decay="momentum"):`` a bad ``mu`` is reported as
    ``sgd: momentum must be in [0, 1], got -0.2``. ``renames`` maps a
    transformation's argument name to the alias's; names not in it are the same
    in both. An inner block replaces the outer one until it ends (rmsprop's
    ``decay`` and its ``momentum`` are both a transformation's ``decay``).
    A context variable, so threads building optimizers at once do not mix names.
    """
    token = _SPEAKER.set((alias, renames))
    try:
        yield
    finally:
        _SPEAKER.reset(token)


def named(owner: str, name: str) -> tuple[str, str]:
    """``(owner, name)`` as the user wrote them: the alias's and its argument's inside
    `arguments_of`, else unchanged. For errors raised outside the ``check_*`` functions."""
    speaker = _SPEAKER.get()
    if speaker is None:
        return owner, name
    alias, renames = speaker
    return alias, renames.get(name, name)


def _concrete(value: Any) -> np.ndarray | None:
    """The value as a NumPy array, or None if it is a tracer, a callable or not numeric."""
    if callable(value) or isinstance(value, jax.core.Tracer):
        return None
    try:
        array = np.asarray(value)
    except Exception:
        return None
    if array.dtype.kind == "V" and jnp.issubdtype(array.dtype, jnp.floating):
        return array.astype(np.float64)  # bfloat16 and the float8 types (ml_dtypes)
    if array.dtype.kind not in "biuf":
        return None
    return array


def _parse(interval: str) -> tuple[float, float, bool, bool]:
    low_closed = interval[0] == "["
    high_closed = interval[-1] == "]"
    low, high = (float(part) for part in interval[1:-1].split(","))
    return low, high, low_closed, high_closed


def check_range(owner: str, name: str, value: Any, interval: str) -> Any:
    """Raises ``ValueError`` unless every element of a concrete ``value`` lies in ``interval``.

    ``interval`` is written in interval notation, e.g. ``"[0, 1)"`` or ``"(0, inf)"``.
    NaN is always out of range. Returns ``value``.
    """
    owner, name = named(owner, name)
    array = _concrete(value)
    if array is None:
        if callable(value) or isinstance(value, jax.core.Tracer):
            return value  # a schedule, or a traced value: data, not checked here
        raise ValueError(f"{owner}: {name} must be a number in {interval}, got {value!r}")
    low, high, low_closed, high_closed = _parse(interval)
    values = array.astype(np.float64).ravel()
    above = values >= low if low_closed else values > low
    below = values <= high if high_closed else values < high
    if not np.all(above & below):
        shown = value if array.ndim == 0 else values[~(above & below)][0]
        raise ValueError(f"{owner}: {name} must be in {interval}, got {shown!r}")
    return value


def check_unscheduled(owner: str, name: str, value: Any, interval: str, note: str = "") -> Any:
    """`check_range` for a hyperparameter that cannot be a schedule (the rule has no use
    for one, e.g. an initial step size): a callable is refused with a ``ValueError``
    naming it, ``note`` (e.g. ``"Rprop's initial step size"``) saying why. Returns
    ``value``."""
    if callable(value):
        owner, name = named(owner, name)
        why = f" ({note})" if note else ""
        raise ValueError(
            f"{owner}: {name} must be a number or an array in {interval}, not a schedule{why}; "
            f"got {value!r}"
        )
    return check_range(owner, name, value, interval)


def check_number(owner: str, name: str, value: Any, interval: str) -> float:
    """A setting used as a Python number on the host, never traced (a learning rate sent
    to worker processes, a time in seconds): a concrete real scalar in ``interval``,
    returned as a ``float``. Unlike `check_range`, schedules, tracers, arrays and bools
    are refused here, since each would fail later, far from the call that gave it."""
    array = _concrete(value)
    if array is None or array.ndim or array.dtype.kind == "b":
        owner, name = named(owner, name)
        raise ValueError(f"{owner}: {name} must be a number in {interval}, got {value!r}")
    check_range(owner, name, value, interval)
    return float(array)


def check_flag(owner: str, name: str, value: Any) -> None:
    """Switches must be Python bools: they select code (the state's structure, say),
    so they cannot be data."""
    owner, name = named(owner, name)
    if not isinstance(value, bool):
        raise ValueError(
            f"{owner}: {name} must be True or False (a Python bool, not an array or a "
            f"traced value), got {value!r}"
        )


def check_int(owner: str, name: str, value: Any, minimum: int) -> Any:
    """Counts and step numbers: a concrete integer >= ``minimum``, returned as an ``int``
    (tracers pass unchanged)."""
    owner, name = named(owner, name)
    array = _concrete(value)
    if array is None:
        if isinstance(value, jax.core.Tracer):
            return value
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    ok = array.dtype.kind in "iu" or (
        array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array))
    )
    if not ok or array.ndim or np.any(array < minimum):
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(array)


INT32_MAX = 2**31 - 1
"""The largest step count: step counters are int32 scalars that saturate there."""


def check_step(owner: str, name: str, value: Any, minimum: int) -> Any:
    """A step number or a count of steps compared with an int32 step counter: `check_int`,
    and at most ``2**31 - 1``. A larger one could never be reached, and JAX would refuse
    it with an ``OverflowError`` at the first update instead of here."""
    value = check_int(owner, name, value, minimum)
    if not isinstance(value, int) or value <= INT32_MAX:
        return value
    owner, name = named(owner, name)
    raise ValueError(
        f"{owner}: {name} must be an integer >= {minimum} and <= 2**31 - 1 = {INT32_MAX} "
        f"(steps are counted in int32), got {value!r}"
    )


def check_static_int(owner: str, name: str, value: Any, minimum: int) -> int:
    """A count that shapes the program (a buffer's length, a number of iterations): a
    concrete integer >= ``minimum``, returned as an ``int``. A tracer is refused with a
    clear error, since no program can be built before its value is known; mark the
    value `gdjax.bound.Static` when binding it, so that it is structure, not data."""
    if isinstance(value, jax.core.Tracer):
        owner, name = named(owner, name)
        raise ValueError(
            f"{owner}: {name} shapes the program, so it must be a concrete integer >= "
            f"{minimum} (a Python or NumPy int), not a traced value; got {value!r}"
        )
    return check_int(owner, name, value, minimum)
