"""Stale gradients: what a Downpour / parameter-server worker does to any optimizer.

In Downpour SGD (Dean et al. 2012, seed 002 §5.2) a replica reads the
parameters, computes a gradient on its shard and sends it to the parameter
server, which applies it to parameters that other replicas have moved in the
meantime. `delayed` simulates that staleness on one machine with a fixed
delay ``tau``, the model of Langford, Smola & Zinkevich (2009), "Slow learners
are fast": the update at step ``t`` uses the gradient of step ``t - tau``.

    u_t = inner(g_{t - tau}; params = x_t)      t >= tau
    u_t = 0                                     t <  tau   (inner state untouched)
    x_{t+1} = x_t + u_t

For plain gradient descent on ``f(x) = a x² / 2`` this is the delay
recursion ``x_{t+1} = x_t - lr·a·x_{t-tau}``, which converges if and only if

    0 < lr·a < 2 sin(pi / (2 (2 tau + 1)))            (Levin & May 1976)

— 2 without delay, 1 at ``tau = 1``, 0.618 at 2, 0.185 at 8, about
``pi / (2 tau)`` for large ``tau``. A learning rate that converges
synchronously oscillates and diverges once the gradients are stale enough,
which is why asynchronous SGD divides its learning rate by the staleness.

Delay-tolerant AdaGrad (McMahan & Streeter 2014, "Delay-Tolerant Algorithms
for Asynchronous Distributed Online Learning", NIPS 2014; seed 002 §5.3) is
`gdjax.distributed.adaptive_revision`: the same fixed-delay simulation, with
the server's AdaptiveRevision rule in place of ``inner``. Besides the ring
buffer of raw gradients kept here, it keeps one of the running gradient sums
at each Read (with a fixed delay, "the gradient sum at the time of the Read"
is that sum as it stood ``tau`` steps ago), from which the backlog of each
arriving gradient follows. Its docstring gives the rule, where it was taken
from (not the paper's own text, which could not be read here) and what could
not be checked.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdjax import tree
from gdjax._validation import INT32_MAX
from gdjax.base import GradientTransformation, Params, extra_args_filter
from gdjax.bound import Static, bind


class DelayedState(NamedTuple):
    """The gradients in flight and the inner transformation's state.

    Attributes:
      count: gradients received so far (int32, saturating). The inner
        transformation runs once ``count >= delay``.
      index: the ring-buffer slot (int32 in ``[0, delay)``) holding the oldest
        gradient, the one applied next; the incoming gradient takes its place.
      buffer: the last ``delay`` gradients, each leaf of shape
        ``(delay, *param.shape)`` in the params' dtype (zeros before they arrive).
      inner_state: the inner transformation's state; it advances only when a
        stale gradient is applied, so its step count counts applied gradients.
    """

    count: jax.Array
    index: jax.Array
    buffer: Params
    inner_state: Any


def _check_delay(delay: Any) -> int:
    """``delay`` sets the buffer's size: a concrete integer, never a float, bool or tracer."""
    ok = isinstance(delay, (int, np.integer)) and not isinstance(delay, (bool, np.bool_))
    if not ok or not 0 <= delay <= INT32_MAX:
        raise ValueError(
            "delayed: delay must be a Python int in [0, 2**31 - 1] (the number of steps a "
            "gradient waits; it sets the size of the buffer in the state, so it cannot be a "
            f"float, a bool, an array or a traced value), got {delay!r}"
        )
    return int(delay)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _check_slots(updates: Any, buffer: Any) -> None:
    """Each gradient must fill one slot of its buffer exactly: no silent broadcasting."""
    tree.check_structure(updates, buffer, ("updates", "state"))
    paths = jax.tree_util.tree_flatten_with_path(updates)[0]
    for (path, g), slots in zip(paths, jax.tree.leaves(buffer), strict=True):
        if _shape(g) != tuple(slots.shape[1:]):
            raise tree.StructureError(
                f"delayed: updates and state have different shapes at "
                f"{jax.tree_util.keystr(path) or 'the root'}: updates {_shape(g)}, "
                f"buffered gradients {tuple(slots.shape[1:])}"
            )


def _delayed_init(params: Params, *, inner_init, delay) -> DelayedState:
    tree.check_floating(params, "delayed")
    buffer = jax.tree.map(lambda p: jnp.zeros((delay, *_shape(p)), tree.dtype_of(p)), params)
    zero = tree.zero_count()
    return DelayedState(zero, zero, buffer, inner_init(params))


def _delayed_update(updates, state, params=None, *, inner_update, delay, **extra):
    _check_slots(updates, state.buffer)
    index = state.index
    stale = jax.tree.map(
        lambda b: jax.lax.dynamic_index_in_dim(b, index, keepdims=False), state.buffer
    )
    buffer = jax.tree.map(
        lambda g, b: jax.lax.dynamic_update_index_in_dim(b, tree.as_dtype(g, b.dtype), index, 0),
        updates,
        state.buffer,
    )
    keep = extra_args_filter(inner_update)
    out, inner_state = inner_update(stale, state.inner_state, params, **keep(extra))
    ready = state.count >= delay
    out = jax.tree.map(lambda u: jnp.where(ready, u, jnp.zeros_like(u)), out)
    inner_state = jax.tree.map(
        lambda new, old: jnp.where(ready, new, old), inner_state, state.inner_state
    )
    next_index = jnp.where(index + 1 < delay, index + 1, 0).astype(jnp.int32)
    new_state = DelayedState(tree.safe_increment(state.count), next_index, buffer, inner_state)
    return tree.cast_like(out, updates), new_state


def delayed(inner: GradientTransformation, delay: int) -> GradientTransformation:
    """Applies ``inner`` to the gradient of ``delay`` steps ago: stale-gradient SGD.


        u_t = inner(g_{t - delay}; params = x_t)     t >= delay
        u_t = 0                                      t <  delay

    The state keeps the last ``delay`` gradients in a ring buffer. Each update
    takes the oldest one out, puts the incoming one in its slot, and feeds the
    old one to ``inner`` together with the *current* params (a parameter
    server applies a worker's stale gradient to its current weights, so weight
    decay in ``inner`` acts on ``x_t``). Extra keyword arguments (``value=``
    for `gdjax.reduce_on_plateau`) reach ``inner`` as given, undelayed, if its
    ``update`` accepts them.

    Warm-up: during the first ``delay`` steps no gradient has reached the
    server yet, as for a Downpour parameter server before its workers' first
    pushes arrive. Those steps return zero updates and leave ``inner``'s state
    exactly as it was (``inner`` is evaluated on a zero gradient and the
    result discarded, so the computation has one shape for every step). From
    step ``delay`` on, ``inner`` sees ``g_0, g_1, ...`` as if they came
    undelayed: its step counter counts applied gradients, so Adam's bias
    correction and a schedule's step are those of the gradients it has had.
    Feeding zero gradients instead would advance those counters and decay
    momentum for gradients that never existed.

    ``delayed(inner, 0)`` returns ``inner`` itself (bit for bit the same
    updates and the same state). ``delay`` is structural (the buffer's size):
    it must be a Python int; the hyperparameters of ``inner`` stay data, so a
    ``vmap`` over learning rates of a delayed optimizer compiles once.

    References: Dean et al. (2012), "Large Scale Distributed Deep Networks"
    (Downpour SGD); Langford, Smola & Zinkevich (2009), "Slow Learners are
    Fast" (the fixed-delay model); Levin & May (1976) for the stability bound
    of ``x_{t+1} = x_t - k x_{t-tau}``: ``0 < k < 2 sin(pi / (2 (2 tau + 1)))``.

    Args:
      inner: the optimizer (or transformation) the server applies.
      delay: the staleness ``tau`` in steps, a Python int >= 0.

    Returns:
      The delayed transformation, with `DelayedState` (or ``inner`` itself for
      ``delay=0``).

    Raises:
      ValueError: if ``delay`` is not an int in ``[0, 2**31 - 1]`` (floats, bools,
        arrays and tracers are refused).
    """
    delay = _check_delay(delay)
    if delay == 0:
        return inner
    # The delay sizes the buffer in the state: an option, not data. inner's init and
    # update are pytrees (their hyperparameters the leaves) or, for optax, options.
    return GradientTransformation(
        bind(_delayed_init, inner_init=inner.init, delay=Static(delay)),
        bind(_delayed_update, inner_update=inner.update, delay=Static(delay)),
    )
