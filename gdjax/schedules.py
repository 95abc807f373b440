"""Learning-rate schedules: functions from the step count to a value.

A schedule is ``step -> value`` where ``step`` is the int32 count of updates
already applied (0 at the first update). Pass one wherever a learning rate (or
a weight decay) goes. Each schedule is a `gdjax.bound.Bound` of a module-level
function: a pytree whose leaves are its numeric arguments, the step counts
(``transition_steps``, boundaries) included, since they enter only its
arithmetic. So they may be arrays or tracers (``jax.vmap`` over, say,
``init_value`` works), a schedule passed to ``jax.jit`` as an argument compiles
once for all values, and two schedules of the same kind stack and vmap. Only
the options (``staircase``, ``end_value=None``, the number of boundaries, a
plain Python function given to `join`, the kind of interpolation) are its
structure. Concrete arguments are validated when the schedule is built.

gdjax names its schedules without optax's ``_schedule`` suffix; optax's names
(``cosine_decay_schedule``, ``join_schedules``, ...) are aliases of the same
functions, which take optax's arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from gdjax._validation import INT32_MAX, check_flag, check_int, check_range, check_step
from gdjax.base import Schedule
from gdjax.bound import bind


def _traced(*values: Any) -> bool:
    return any(isinstance(v, jax.core.Tracer) for v in values)


def _decay_length(owner: str, name: str, value: Any) -> Any:
    """A cosine's length in steps: an integer >= 1 with no upper bound.

    The cosine is computed in float32 from a step that stops at the length, so a
    length past ``2**31 - 1`` (never reached by the int32 step counter) computes
    without overflow: it is stored as a Python float, since a Python int that
    large overflows when JAX converts it (to int32) as a leaf or an operand.
    Smaller lengths are kept as given.
    """
    steps = check_int(owner, name, value, 1)
    return float(steps) if isinstance(steps, int) and steps > INT32_MAX else value


def _constant(count, *, value):
    del count
    return jnp.asarray(value)


def constant(value: Any) -> Schedule:
    """``lr(t) = value``."""
    return bind(_constant, value=value)


def _elapsed(count: Any, transition_begin: int, transition_steps: int, staircase: bool) -> Any:
    """Fraction of transitions done since ``transition_begin`` (floored if staircase)."""
    fraction = jnp.maximum(count - transition_begin, 0) / transition_steps
    return jnp.floor(fraction) if staircase else fraction


def _exponential_decay(
    count, *, init_value, transition_steps, decay_rate, transition_begin, staircase, end_value
):
    value = init_value * jnp.power(
        decay_rate, _elapsed(count, transition_begin, transition_steps, staircase)
    )
    if end_value is None:
        return value
    return jnp.where(decay_rate < 1, jnp.maximum(value, end_value), jnp.minimum(value, end_value))


def exponential_decay(
    init_value: Any,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Any = None,
) -> Schedule:
    """Exponential decay, the texts' ``eps_t = eps_0 * beta**t`` (seed 000 eq. 3.5).


        p = max(t - transition_begin, 0) / transition_steps     (floored if staircase)
        lr(t) = init_value * decay_rate**p                       (clipped at end_value)

    ``exponential_decay(eps0, 1, beta)`` is the texts' schedule.

    Args:
      init_value: the value until ``transition_begin``.
      transition_steps: steps per factor of ``decay_rate``, >= 1.
      decay_rate: positive; below 1 decays, above 1 grows.
      transition_begin: steps before decay starts, >= 0. Default 0.
      staircase: decay in discrete jumps. Default False.
      end_value: a floor (decay) or ceiling (growth); ``None`` (default) for none.
    """
    owner = "exponential_decay"
    check_step(owner, "transition_steps", transition_steps, 1)
    check_range(owner, "decay_rate", decay_rate, "(0, inf)")
    check_step(owner, "transition_begin", transition_begin, 0)
    check_flag(owner, "staircase", staircase)
    return bind(
        _exponential_decay,
        init_value=init_value,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
        staircase=staircase,
        end_value=end_value,
    )


def _inverse_time_decay(
    count, *, init_value, transition_steps, decay_rate, transition_begin, staircase
):
    elapsed = _elapsed(count, transition_begin, transition_steps, staircase)
    return init_value / (1 + decay_rate * elapsed)


def inverse_time_decay(
    init_value: Any,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int = 0,
    staircase: bool = False,
) -> Schedule:
    """Inverse-time decay, ``1/t`` annealing (Robbins & Monro 1951; Keras' ``InverseTimeDecay``).


        p = max(t - transition_begin, 0) / transition_steps     (floored if staircase)
        lr(t) = init_value / (1 + decay_rate * p)

    Args:
      init_value: the value at the start.
      transition_steps: ≥ 1.
      decay_rate: ≥ 0.
      transition_begin: ≥ 0. Default 0.
      staircase: decay in discrete jumps. Default False.
    """
    owner = "inverse_time_decay"
    check_step(owner, "transition_steps", transition_steps, 1)
    check_range(owner, "decay_rate", decay_rate, "[0, inf)")
    check_step(owner, "transition_begin", transition_begin, 0)
    check_flag(owner, "staircase", staircase)
    return bind(
        _inverse_time_decay,
        init_value=init_value,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
        staircase=staircase,
    )


def _piecewise_constant(count, *, init_value, boundaries, scales):
    value = jnp.asarray(init_value, dtype=jnp.result_type(init_value, float))
    for boundary, factor in zip(boundaries, scales, strict=True):
        value = jnp.where(count >= boundary, value * factor, value)
    return value


def piecewise_constant(
    init_value: Any, boundaries_and_scales: Mapping[int, Any] | None = None
) -> Schedule:
    """A value multiplied by ``scales[b]`` from each boundary step ``b`` on.


        lr(t) = init_value * prod(scale_b for every boundary b <= t)

    Args:
      init_value: the value before the first boundary.
      boundaries_and_scales: ``{step: scale}`` with steps >= 0 and scales >= 0.
    """
    owner = "piecewise_constant"
    items = sorted((boundaries_and_scales or {}).items())
    for boundary, factor in items:
        check_step(owner, "a boundary", boundary, 0)
        check_range(owner, "a scale", factor, "[0, inf)")
    # Sorted once here; the boundaries and scales are data, their number is structure.
    return bind(
        _piecewise_constant,
        init_value=init_value,
        boundaries=tuple(boundary for boundary, _ in items),
        scales=tuple(factor for _, factor in items),
    )


def _polynomial(count, *, init_value, end_value, power, transition_steps, transition_begin):
    done = jnp.clip(count - transition_begin, 0, transition_steps)
    remaining = jnp.where(done < transition_steps, 1 - done / transition_steps, 0)
    return (init_value - end_value) * remaining**power + end_value


def polynomial(
    init_value: Any,
    end_value: Any,
    power: Any,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """Polynomial decay from ``init_value`` to ``end_value`` over ``transition_steps``.


        s = clip(t - transition_begin, 0, transition_steps)
        lr(t) = (init_value - end_value) * (1 - s / transition_steps)**power + end_value

    with ``1 - s / transition_steps`` set to exactly 0 once ``s = transition_steps``.
    Under ``jit`` XLA computes ``1 - s / n`` as a fused multiply-add with the
    rounded ``1/n``, which is about +-1e-8 at ``s = n`` for most ``n``. Without the
    exact 0 the schedule would not end at ``end_value``: ``linear(1, 0, 10)``
    would end at -1.5e-8 (a negative learning rate), ``power=0.5`` at 1.5e-4
    above ``end_value`` for ``n = 100`` and at NaN for ``n = 10``. (optax 0.2.8's
    ``polynomial_schedule`` does all three.)

    Args:
      init_value: the value until ``transition_begin``.
      end_value: the value from ``t = transition_begin + transition_steps`` on.
      power: the exponent, > 0.
      transition_steps: ≥ 1.
      transition_begin: ≥ 0. Default 0.
    """
    owner = "polynomial"
    check_step(owner, "transition_steps", transition_steps, 1)
    check_step(owner, "transition_begin", transition_begin, 0)
    check_range(owner, "power", power, "(0, inf)")
    return bind(
        _polynomial,
        init_value=init_value,
        end_value=end_value,
        power=power,
        transition_steps=transition_steps,
        transition_begin=transition_begin,
    )


def _linear(count, *, init_value, end_value, transition_steps, transition_begin):
    # The power is the Python int 1, not a leaf: a linear schedule's leaves are its
    # own arguments, and ``remaining**1`` stays an integer power (exactly remaining).
    return _polynomial(
        count,
        init_value=init_value,
        end_value=end_value,
        power=1,
        transition_steps=transition_steps,
        transition_begin=transition_begin,
    )


def linear(
    init_value: Any, end_value: Any, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """Linear interpolation from ``init_value`` to ``end_value``: ``polynomial`` with power 1."""
    owner = "linear"
    check_step(owner, "transition_steps", transition_steps, 1)
    check_step(owner, "transition_begin", transition_begin, 0)
    return bind(
        _linear,
        init_value=init_value,
        end_value=end_value,
        transition_steps=transition_steps,
        transition_begin=transition_begin,
    )


def _cosine_decay(count, *, init_value, decay_steps, alpha, exponent):
    # The step is converted to float first: count/decay_steps must not overflow int32.
    done = jnp.minimum(jnp.asarray(count, jnp.float32), decay_steps)
    cosine = 0.5 * (1 + jnp.cos(jnp.pi * done / decay_steps))
    return init_value * ((1 - alpha) * cosine**exponent + alpha)


def cosine_decay(
    init_value: Any, decay_steps: int, alpha: Any = 0.0, exponent: Any = 1.0
) -> Schedule:
    """Cosine decay (Loshchilov & Hutter 2017, SGDR without restarts).


        c = (1 + cos(pi * min(t, decay_steps) / decay_steps)) / 2
        lr(t) = init_value * ((1 - alpha) * c**exponent + alpha)

    Args:
      init_value: the value at ``t = 0``.
      decay_steps: an integer ≥ 1, with no upper bound: the cosine is computed in
        float32, so a length past the int32 step counter (``10**10``, say) simply
        never ends, as in optax.
      alpha: the final value as a fraction of ``init_value``. Default 0.
      exponent: positive. Default 1.
    """
    decay_steps = _decay_length("cosine_decay", "decay_steps", decay_steps)
    check_range("cosine_decay", "exponent", exponent, "(0, inf)")
    return bind(
        _cosine_decay,
        init_value=init_value,
        decay_steps=decay_steps,
        alpha=alpha,
        exponent=exponent,
    )


def _join(count, *, schedules, boundaries):
    value = schedules[0](count)
    for boundary, later in zip(boundaries, schedules[1:], strict=True):
        value = jnp.where(count < boundary, value, later(count - boundary))
    return value


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Runs ``schedules[0]`` until ``boundaries[0]``, then ``schedules[1]``, and so on.

    Each schedule sees the steps counted from its own start:
    ``lr(t) = schedules[i](t - boundaries[i-1])``.

    Args:
      schedules: ``n`` schedules.
      boundaries: ``n - 1`` increasing step numbers >= 0.
    """
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"join: needs one boundary fewer than schedules, got {len(schedules)} "
            f"schedules and {len(boundaries)} boundaries"
        )
    for boundary in boundaries:
        check_step("join", "a boundary", boundary, 0)
    if not _traced(*boundaries) and list(boundaries) != sorted(boundaries):
        raise ValueError(f"join: boundaries must increase, got {list(boundaries)}")
    # A gdjax schedule contributes its leaves; a plain function is an option (its identity).
    return bind(_join, schedules=tuple(schedules), boundaries=tuple(boundaries))


def _after_warmup(count, init_value, peak_value, warmup_steps, after):
    """A linear warm-up from ``init_value`` to ``peak_value`` over ``warmup_steps``, then
    ``after``. A 0-step warm-up is never selected (count >= 0), so a traced 0 gives
    ``after`` alone; max(., 1) keeps that unused branch free of 0/0."""
    warmup = _linear(
        count,
        init_value=init_value,
        end_value=peak_value,
        transition_steps=jnp.maximum(warmup_steps, 1),
        transition_begin=0,
    )
    return jnp.where(count < warmup_steps, warmup, jnp.asarray(after, warmup.dtype))


def _warmup_cosine_decay(
    count, *, init_value, peak_value, warmup_steps, decay_steps, end_value, exponent
):
    # join([linear(init, peak, warmup), decay], [warmup]) written out: the same operations.
    # peak * ((1 - end/peak) * c + end/peak), written without dividing by a peak that may be 0.
    shape = _cosine_decay(
        count - warmup_steps,
        init_value=1.0,
        decay_steps=decay_steps - warmup_steps,
        alpha=0.0,
        exponent=exponent,
    )
    decay = end_value + (peak_value - end_value) * shape
    if isinstance(warmup_steps, int) and warmup_steps == 0:
        # A Python 0 is never a tracer: leave out the warm-up's unused operations (speed).
        return decay
    return _after_warmup(count, init_value, peak_value, warmup_steps, decay)


def warmup_cosine_decay(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    decay_steps: int,
    end_value: Any = 0.0,
    exponent: Any = 1.0,
) -> Schedule:
    """Linear warm-up to ``peak_value``, then cosine decay to ``end_value``.


        t < warmup_steps:  lr(t) = init_value + (peak_value - init_value) * t / warmup_steps
        otherwise:         lr(t) = end + (peak - end) * c(t - warmup_steps)**exponent
                           with c as in cosine_decay, over decay_steps - warmup_steps

    ``decay_steps`` counts the warm-up too (as optax).

    With ``peak_value=0`` this is continuous in ``peak_value``: after the warm-up
    it rises from 0 to ``end_value`` along the cosine. optax 0.2.8 instead
    returns 0 after the warm-up whenever ``peak_value == 0`` (its ``alpha =
    end_value / peak_value`` is replaced by 0 there), though a ``peak_value`` of
    ``1e-12`` gives the rising cosine in both; pass ``end_value=0`` for optax's
    values.

    Args:
      init_value: the value at ``t = 0``.
      peak_value: the value at the end of the warm-up.
      warmup_steps: ≥ 0 and ≤ ``2**31 - 1`` (it is compared with the int32 step).
      decay_steps: total steps, > warmup_steps, with no upper bound (see
        `cosine_decay`).
      end_value: the final value. Default 0.
      exponent: positive. Default 1.
    """
    owner = "warmup_cosine_decay"
    check_step(owner, "warmup_steps", warmup_steps, 0)
    decay_steps = _decay_length(owner, "decay_steps", decay_steps)
    if not _traced(decay_steps, warmup_steps) and decay_steps <= warmup_steps:
        raise ValueError(
            f"{owner}: decay_steps counts the warm-up too and must exceed warmup_steps, "
            f"got decay_steps={decay_steps}, warmup_steps={warmup_steps}"
        )
    check_range(owner, "exponent", exponent, "(0, inf)")
    return bind(
        _warmup_cosine_decay,
        init_value=init_value,
        peak_value=peak_value,
        warmup_steps=warmup_steps,
        decay_steps=decay_steps,
        end_value=end_value,
        exponent=exponent,
    )


def _warmup_constant(count, *, init_value, peak_value, warmup_steps):
    return _after_warmup(count, init_value, peak_value, warmup_steps, peak_value)


def warmup_constant(init_value: ArrayLike, peak_value: ArrayLike, warmup_steps: int) -> Schedule:
    """Linear warm-up to ``peak_value``, then constant.


        t < warmup_steps:  lr(t) = init_value + (peak_value - init_value) * t / warmup_steps
        otherwise:         lr(t) = peak_value

    Args:
      init_value: the value at ``t = 0``.
      peak_value: the value from ``t = warmup_steps`` on.
      warmup_steps: ≥ 0. With 0 the schedule is ``peak_value`` throughout (optax
        0.2.8 then gives ``init_value`` throughout: its linear warm-up of 0 steps
        is a constant ``init_value``, and it never switches to the peak).
    """
    check_step("warmup_constant", "warmup_steps", warmup_steps, 0)
    return bind(
        _warmup_constant, init_value=init_value, peak_value=peak_value, warmup_steps=warmup_steps
    )


def _warmup_exponential_decay(
    count,
    *,
    init_value,
    peak_value,
    warmup_steps,
    transition_steps,
    decay_rate,
    transition_begin,
    staircase,
    end_value,
):
    decay = _exponential_decay(
        count - warmup_steps,
        init_value=peak_value,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
        staircase=staircase,
        end_value=end_value,
    )
    return _after_warmup(count, init_value, peak_value, warmup_steps, decay)


def warmup_exponential_decay(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: ArrayLike,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: ArrayLike | None = None,
) -> Schedule:
    """Linear warm-up to ``peak_value``, then `exponential_decay` from it.


        t < warmup_steps:  lr(t) = init_value + (peak_value - init_value) * t / warmup_steps
        otherwise:         lr(t) = exponential_decay(peak_value, transition_steps,
                                       decay_rate, transition_begin, staircase,
                                       end_value)(t - warmup_steps)

    Args:
      init_value: the value at ``t = 0``.
      peak_value: the value at the end of the warm-up.
      warmup_steps: ≥ 0.
      transition_steps: steps per factor of ``decay_rate`` after the warm-up, ≥ 1.
      decay_rate: positive; below 1 decays, above 1 grows.
      transition_begin: steps after the warm-up before the decay starts, ≥ 0. Default 0.
      staircase: decay in discrete jumps. Default False.
      end_value: a floor (decay) or ceiling (growth); ``None`` (default) for none.
    """
    owner = "warmup_exponential_decay"
    check_step(owner, "warmup_steps", warmup_steps, 0)
    check_step(owner, "transition_steps", transition_steps, 1)
    check_range(owner, "decay_rate", decay_rate, "(0, inf)")
    check_step(owner, "transition_begin", transition_begin, 0)
    check_flag(owner, "staircase", staircase)
    return bind(
        _warmup_exponential_decay,
        init_value=init_value,
        peak_value=peak_value,
        warmup_steps=warmup_steps,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
        staircase=staircase,
        end_value=end_value,
    )


def _sgdr(count, *, schedules):
    value = schedules[0](count)
    start = schedules[0].decay_steps
    for later in schedules[1:]:
        value = jnp.where(count < start, value, later(count - start))
        start = start + later.decay_steps
    return value


def sgdr(cosine_kwargs: Iterable[Mapping[str, Any]]) -> Schedule:
    """SGDR: warm restarts of `warmup_cosine_decay` (Loshchilov & Hutter 2017).

    ``cosine_kwargs`` holds the arguments of one `warmup_cosine_decay` per
    cycle. Cycle ``i`` starts when the cycles before it are over, after the sum
    of their ``decay_steps``, and sees the steps counted from its own start:

        lr(t) = warmup_cosine_decay(**cosine_kwargs[i])(t - s_i),
        s_i = sum of decay_steps of cycles 0 .. i-1,   for s_i <= t < s_{i+1}

    The last cycle continues past its end (at its ``end_value``).

    Args:
      cosine_kwargs: one or more dicts of `warmup_cosine_decay` arguments
        (``init_value``, ``peak_value``, ``warmup_steps``, ``decay_steps``, and
        optionally ``end_value`` and ``exponent``), each checked as that function
        checks them.
    """
    cycles = tuple(warmup_cosine_decay(**dict(kwargs)) for kwargs in cosine_kwargs)
    if not cycles:
        raise ValueError("sgdr: cosine_kwargs must hold at least one cycle, got none")
    return bind(_sgdr, schedules=cycles)


def _piecewise_interpolate(count, *, interpolate_type, init_value, boundaries, scales):
    value = jnp.asarray(init_value, dtype=jnp.result_type(init_value, float))
    starts, values = [0], [value]
    for boundary, factor in zip(boundaries, scales, strict=True):
        starts.append(boundary)
        values.append(values[-1] * factor)
    result = jnp.broadcast_to(values[-1], value.shape)
    # Each interval [start_i, start_{i+1}) goes from values[i] to values[i+1].
    for i in range(len(boundaries)):
        length = jnp.maximum(starts[i + 1] - starts[i], 1)
        fraction = (count - starts[i]) / length
        start, end = values[i], values[i + 1]
        if interpolate_type == "linear":
            between = (end - start) * fraction + start
        else:
            between = end + (start - end) / 2.0 * (jnp.cos(jnp.pi * fraction) + 1)
        inside = (starts[i] <= count) & (count < starts[i + 1])
        result = jnp.where(inside, between, result)
    return result


def piecewise_interpolate(
    interpolate_type: str,
    init_value: ArrayLike,
    boundaries_and_scales: Mapping[int, Any] | None = None,
) -> Schedule:
    """`piecewise_constant`'s values, reached by interpolating from boundary to boundary.

    With the boundaries ``0 = b_0 < b_1 < ... < b_n`` and the values
    ``v_0 = init_value``, ``v_i = v_{i-1} * scale_{b_i}``:

        b_i <= t < b_{i+1}:  p = (t - b_i) / (b_{i+1} - b_i)
                             linear:  lr(t) = v_i + (v_{i+1} - v_i) * p
                             cosine:  lr(t) = v_{i+1} + (v_i - v_{i+1}) * (1 + cos(pi p)) / 2
        t >= b_n:            lr(t) = v_n

    Args:
      interpolate_type: ``"linear"`` or ``"cosine"``.
      init_value: the value at ``t = 0``.
      boundaries_and_scales: ``{step: scale}`` with steps >= 0 and scales >= 0;
        ``None`` (default) or empty for a constant ``init_value``.
    """
    owner = "piecewise_interpolate"
    if interpolate_type not in ("linear", "cosine"):
        raise ValueError(
            f"{owner}: interpolate_type must be 'linear' or 'cosine', got {interpolate_type!r}"
        )
    items = sorted((boundaries_and_scales or {}).items())
    for boundary, factor in items:
        check_step(owner, "a boundary", boundary, 0)
        check_range(owner, "a scale", factor, "[0, inf)")
    return bind(
        _piecewise_interpolate,
        interpolate_type=interpolate_type,
        init_value=init_value,
        boundaries=tuple(boundary for boundary, _ in items),
        scales=tuple(factor for _, factor in items),
    )


def _fraction_of(pct: Any, steps: Any) -> Any:
    """``floor(pct * steps)``: the step at a fraction of the cycle (in float32)."""
    return jnp.floor(pct * jnp.asarray(steps, jnp.float32)).astype(jnp.int32)


def _onecycle_steps(owner: str, transition_steps: Any, **fractions: Any) -> None:
    check_step(owner, "transition_steps", transition_steps, 1)
    for name, value in fractions.items():
        check_range(owner, name, value, "[0, 1]")


def _cosine_onecycle(
    count, *, transition_steps, peak_value, pct_start, div_factor, final_div_factor
):
    return _piecewise_interpolate(
        count,
        interpolate_type="cosine",
        init_value=peak_value / div_factor,
        boundaries=(_fraction_of(pct_start, transition_steps), transition_steps),
        scales=(div_factor, 1.0 / (div_factor * final_div_factor)),
    )


def cosine_onecycle(
    transition_steps: int,
    peak_value: ArrayLike,
    pct_start: ArrayLike = 0.3,
    div_factor: ArrayLike = 25.0,
    final_div_factor: ArrayLike = 1e4,
) -> Schedule:
    """The one-cycle schedule with cosine ramps (Smith & Topin 2017, "Super-Convergence").


        s = floor(pct_start * transition_steps)
        0 <= t < s:                cosine from peak_value / div_factor up to peak_value
        s <= t < transition_steps: cosine from peak_value down to
                                   peak_value / (div_factor * final_div_factor)
        t >= transition_steps:     peak_value / (div_factor * final_div_factor)

    (`piecewise_interpolate` with ``"cosine"``.) ``s`` is computed in float32
    from the step counts, which are data: where ``pct_start * transition_steps``
    lies within float32 rounding below an integer (``0.29 * 100``), ``s`` is that
    integer, one step after optax's (which truncates the float64 product).

    Args:
      transition_steps: the length of the cycle, ≥ 1.
      peak_value: the largest value, at step ``s``.
      pct_start: the fraction of the cycle spent rising, in [0, 1]. Default 0.3.
      div_factor: the start is ``peak_value / div_factor``; positive. Default 25.
      final_div_factor: the end is the start divided by this; positive. Default 1e4.
    """
    owner = "cosine_onecycle"
    _onecycle_steps(owner, transition_steps, pct_start=pct_start)
    check_range(owner, "div_factor", div_factor, "(0, inf)")
    check_range(owner, "final_div_factor", final_div_factor, "(0, inf)")
    return bind(
        _cosine_onecycle,
        transition_steps=transition_steps,
        peak_value=peak_value,
        pct_start=pct_start,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
    )


def _linear_onecycle(
    count, *, transition_steps, peak_value, pct_start, pct_final, div_factor, final_div_factor
):
    return _piecewise_interpolate(
        count,
        interpolate_type="linear",
        init_value=peak_value / div_factor,
        boundaries=(
            _fraction_of(pct_start, transition_steps),
            _fraction_of(pct_final, transition_steps),
            transition_steps,
        ),
        scales=(div_factor, 1.0 / div_factor, 1.0 / final_div_factor),
    )


def linear_onecycle(
    transition_steps: int,
    peak_value: ArrayLike,
    pct_start: ArrayLike = 0.3,
    pct_final: ArrayLike = 0.85,
    div_factor: ArrayLike = 25.0,
    final_div_factor: ArrayLike = 1e4,
) -> Schedule:
    """The one-cycle schedule with linear ramps (Smith & Topin 2017, "Super-Convergence").


        s = floor(pct_start * transition_steps),  f = floor(pct_final * transition_steps)
        v = peak_value / div_factor
        0 <= t < s:                linear from v up to peak_value
        s <= t < f:                linear from peak_value down to v
        f <= t < transition_steps: linear from v down to v / final_div_factor
        t >= transition_steps:     v / final_div_factor

    (`piecewise_interpolate` with ``"linear"``; ``s`` and ``f`` in float32, see
    `cosine_onecycle`.)

    Args:
      transition_steps: the length of the cycle, ≥ 1.
      peak_value: the largest value, at step ``s``.
      pct_start: the fraction of the cycle spent rising, in [0, 1]. Default 0.3.
      pct_final: the fraction of the cycle at which the descent back to ``v``
        ends, in [0, 1] and ≥ ``pct_start``. Default 0.85.
      div_factor: ``v = peak_value / div_factor``; positive. Default 25.
      final_div_factor: the end is ``v / final_div_factor``; positive. Default 1e4.
    """
    owner = "linear_onecycle"
    _onecycle_steps(owner, transition_steps, pct_start=pct_start, pct_final=pct_final)
    if not _traced(pct_start, pct_final) and np.any(np.asarray(pct_final) < np.asarray(pct_start)):
        raise ValueError(
            f"{owner}: pct_final must be >= pct_start, got pct_start={pct_start!r}, "
            f"pct_final={pct_final!r}"
        )
    check_range(owner, "div_factor", div_factor, "(0, inf)")
    check_range(owner, "final_div_factor", final_div_factor, "(0, inf)")
    return bind(
        _linear_onecycle,
        transition_steps=transition_steps,
        peak_value=peak_value,
        pct_start=pct_start,
        pct_final=pct_final,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
    )


# optax's names (``optax.schedules.*_schedule``) for the schedules whose signatures
# are optax's.
constant_schedule = constant
piecewise_constant_schedule = piecewise_constant
polynomial_schedule = polynomial
linear_schedule = linear
cosine_decay_schedule = cosine_decay
join_schedules = join
warmup_cosine_decay_schedule = warmup_cosine_decay
warmup_constant_schedule = warmup_constant
warmup_exponential_decay_schedule = warmup_exponential_decay
sgdr_schedule = sgdr
piecewise_interpolate_schedule = piecewise_interpolate
cosine_onecycle_schedule = cosine_onecycle
linear_onecycle_schedule = linear_onecycle
