"""Accumulating past updates: momentum (heavy ball and Nesterov) and moving averages."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from gdjax import tree
from gdjax._validation import check_flag, check_range
from gdjax.base import GradientTransformation, Params
from gdjax.bound import bind


class TraceState(NamedTuple):
    """The momentum buffer ``t`` (the texts' velocity, up to the factor ``-lr``)."""

    trace: Params


def _trace_init(params, *, accumulator_dtype):
    return TraceState(trace=tree.zeros_like(params, dtype=accumulator_dtype))


def _trace_update(updates, state, params=None, *, decay, nesterov):
    del params

    def accumulate(g, t):
        # tree.scale: a NumPy or JAX decay must not promote bfloat16 to float32.
        return g + tree.scale(decay, t)

    new_trace = tree.map(accumulate, updates, state.trace)
    # Nesterov steps along g + decay * t_k; the heavy ball along t_k.
    direction = tree.map(accumulate, updates, new_trace) if nesterov else new_trace
    out = tree.cast_like(direction, updates)
    return out, TraceState(trace=tree.cast_like(new_trace, state.trace))


def trace(
    decay: Any, nesterov: bool = False, accumulator_dtype: Any = None
) -> GradientTransformation:
    """Momentum: accumulates a decaying sum of past updates.

    Heavy ball (Polyak 1964):

        t_k = g_k + decay * t_{k-1}          (t_{-1} = 0)
        u_k = t_k

    Nesterov (Nesterov 1983, in the form of Sutskever et al. 2013):

        t_k = g_k + decay * t_{k-1}
        u_k = g_k + decay * t_k

    Chained with `scale_by_learning_rate` (``x += -lr * u``) the heavy
    ball is the texts' ``v = mu*v - lr*g; x = x + v`` (seeds 000, 001) and
    ``v = gamma*v + lr*g; x = x - v`` (seeds 002, 003) with ``v = -lr*t``
    (respectively ``v = lr*t``). With Nesterov the params are the look-ahead
    point ``x + mu*v`` of the NAG iterate ``x``; see the momentum docs page.

    Args:
      decay: the momentum ``mu`` in [0, 1]; default none, 0.9 is usual.
      nesterov: use Nesterov's look-ahead form. Default False.
      accumulator_dtype: dtype of ``t``; ``None`` (default) follows the params.

    Returns:
      A transformation with state `TraceState`.
    """
    check_range("trace", "decay", decay, "[0, 1]")
    check_flag("trace", "nesterov", nesterov)
    return GradientTransformation(
        bind(_trace_init, accumulator_dtype=accumulator_dtype),
        bind(_trace_update, decay=decay, nesterov=nesterov),
    )


class EmaState(NamedTuple):
    """Step count and the moving average ``m``."""

    count: jax.Array
    ema: Params


def _ema_init(params, *, accumulator_dtype):
    return EmaState(count=tree.zero_count(), ema=tree.zeros_like(params, dtype=accumulator_dtype))


def _ema_update(updates, state, params=None, *, decay, debias):
    del params
    new_ema = tree.update_moment(updates, state.ema, decay, 1)
    count = tree.safe_increment(state.count)
    estimate = tree.bias_correction(new_ema, decay, count) if debias else new_ema
    out = tree.cast_like(estimate, updates)
    return out, EmaState(count=count, ema=tree.cast_like(new_ema, state.ema))


def ema(decay: Any, debias: bool = True, accumulator_dtype: Any = None) -> GradientTransformation:
    """Exponential moving average of the updates.


        m_t = decay * m_{t-1} + (1 - decay) * g_t      (m_0 = 0, t = 1, 2, ...)
        u_t = m_t / (1 - decay**t)   if debias   else   m_t

    The debiased form is Adam's first moment (Kingma & Ba 2015, §3).

    Args:
      decay: the decay rate in [0, 1).
      debias: divide by ``1 - decay**t`` to remove the bias toward the zero
        initialisation. Default True.
      accumulator_dtype: dtype of ``m``; ``None`` (default) follows the params.

    Returns:
      A transformation with state `EmaState`.
    """
    check_range("ema", "decay", decay, "[0, 1)")
    check_flag("ema", "debias", debias)
    return GradientTransformation(
        bind(_ema_init, accumulator_dtype=accumulator_dtype),
        bind(_ema_update, decay=decay, debias=debias),
    )
