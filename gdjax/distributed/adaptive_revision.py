"""Delay-tolerant AdaGrad (AdaptiveRevision) under a simulated fixed delay.

McMahan & Streeter (2014), "Delay-Tolerant Algorithms for Asynchronous
Distributed Online Learning", NIPS 2014; seed 002 §5.3. AdaGrad fed stale
gradients over-steps: a gradient computed at an old Read arrives after others
were applied, and AdaGrad's accumulator never learns about the overlap.
AdaptiveRevision keeps, per coordinate, the sum ``G`` of the gradients applied
so far; a worker's Read remembers ``G_read = G``, and when its gradient ``g``
arrives the backlog ``B = G - G_read`` (what was applied in between) enters
the accumulator through a cross term ``2 g B`` and the step revises the rate
already used on the backlog. The rule is transcribed in `adaptive_revision`.

The simulation is that of `gdjax.distributed.delayed`: with a fixed delay
``tau`` the gradient applied at step ``t`` was computed at the Read of step
``t - tau``, which happened just before step ``t - tau`` was applied, so
``G_read`` is the running sum ``G`` as it stood ``tau`` steps ago. The state
holds two ring buffers of length ``tau``: the raw gradients in flight (as
`delayed` does) and the matching snapshots of ``G``.

Where the rule comes from: ``../shared/DESIGN.md`` §7 of this project,
whose equations were transcribed from two independent open implementations
that agree line for line (a parameter-server table of the Petuum project,
and the delay-tolerant AdaGrad handle of DMLC's wormhole, the latter in an
FTRL-proximal form). What could not be checked: the paper's own text was
not available, so its algorithm number and notation, its initial
accumulator and any ``eps``, and whether its AdaGrad is this
gradient-descent form or a dual-averaging/FTRL form are unverified.
The tests check this code against an independent NumPy transcription of
those lines and against AdaGrad at zero delay, not against the paper.

Numerics: ``B`` is the difference of two running sums (the rule's
``G - G_read``); stored in float32 it loses relative accuracy as ``|G|``
grows beyond ``|B|``. Pass ``accumulator_dtype=jnp.float64`` (with
``jax_enable_x64``) for long runs that need it. Computation is in at least
float32, storage in the state's dtypes.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import INT32_MAX, check_range, check_static_int, check_unscheduled, named
from gdjax.base import GradientTransformation, Params
from gdjax.bound import Static, bind

OWNER = "adaptive_revision"


class AdaptiveRevisionState(NamedTuple):
    """What the simulated server and its in-flight workers hold.

    Attributes:
      count: gradients received so far (int32, saturating); the server starts
        applying them once ``count >= delay``.
      index: the ring-buffer slot (int32 in ``[0, delay)``) holding the oldest
        gradient and its Read, the pair applied next (0 when ``delay == 0``).
      gradients: the last ``delay`` raw gradients, each leaf of shape
        ``(delay, *param.shape)`` in the params' dtype.
      reads: ``G_read`` of each gradient in flight: the sum ``G`` at its Read,
        shape ``(delay, *param.shape)`` in the accumulator dtype.
      gradient_sum: ``G``, the sum of every gradient applied so far.
      accumulator: ``z``.
      max_accumulator: ``zmax``, the running maximum of ``z``; the rate is
        ``learning_rate / sqrt(zmax)``.
    """

    count: jax.Array
    index: jax.Array
    gradients: Params
    reads: Params
    gradient_sum: Params
    accumulator: Params
    max_accumulator: Params


def _check_real(params: Params) -> None:
    tree.check_floating(params, OWNER)
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if jnp.issubdtype(tree.dtype_of(leaf), jnp.complexfloating):
            raise TypeError(
                f"{OWNER}: params must be real floating point (the cross term 2 g B of the "
                f"accumulator is not defined for complex gradients); got "
                f"{tree.dtype_of(leaf)} at params{jax.tree_util.keystr(path)}"
            )


def _init(params, *, delay, initial_accumulator_value, accumulator_dtype):
    _check_real(params)

    def ring(p, dtype):
        return jnp.zeros((delay, *jnp.shape(p)), dtype or tree.dtype_of(p))

    acc_dtype = accumulator_dtype
    return AdaptiveRevisionState(
        count=tree.zero_count(),
        index=tree.zero_count(),
        gradients=jax.tree.map(lambda p: ring(p, None), params),
        reads=jax.tree.map(lambda p: ring(p, acc_dtype), params),
        gradient_sum=tree.zeros_like(params, dtype=acc_dtype),
        accumulator=tree.full_like(params, initial_accumulator_value, dtype=acc_dtype),
        max_accumulator=tree.full_like(params, initial_accumulator_value, dtype=acc_dtype),
    )


def _check_updates(updates, state) -> None:
    tree.check_structure(updates, state.gradient_sum, ("updates", "state"))
    tree.check_shapes(updates, state.gradient_sum, ("updates", "state"))


def arrival(
    g: jax.Array,
    gradient_sum: jax.Array,
    gradient_read: jax.Array,
    accumulator: jax.Array,
    max_accumulator: jax.Array,
    learning_rate: ArrayLike,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The arrival of a gradient ``g`` read when ``G`` was ``gradient_read`` (DESIGN §7),
    per coordinate: ``(x_new - x, G, z, zmax)`` after it. The transformation applies it
    under a fixed delay; `gdjax.distributed.downpour`'s server, at every push."""
    backlog = gradient_sum - gradient_read  # B = G - G_read
    z = (tree.abs_sq(g) + accumulator) + 2 * g * backlog  # z + g*g + 2 g B
    zmax = jnp.maximum(max_accumulator, z)
    inv_old, inv_new = jax.lax.rsqrt(max_accumulator), jax.lax.rsqrt(zmax)
    # x_new - x = -r g + (r_old - r) B with r = a / sqrt(zmax'), r_old = a / sqrt(zmax).
    update = tree.scale(-learning_rate, inv_new * g) + tree.scale(
        learning_rate, (inv_old - inv_new) * backlog
    )
    return update, gradient_sum + g, z, zmax


class _Arrivals(NamedTuple):
    """This step's view of the ring buffers: what arrives now and the buffers after the Read.

    Attributes:
      stale: the gradients arriving at the server this step.
      read: ``G_read`` of each: the sum ``G`` at its Read.
      gradients: the in-flight gradients after this step's one is stored.
      reads: their Reads after this step's one is stored.
      ready: whether a gradient arrives at all (False during warm-up; None without delay).
      next_index: the ring-buffer slot applied at the next step.
    """

    stale: Params
    read: Params
    gradients: Params
    reads: Params
    ready: jax.Array | None
    next_index: jax.Array


def _through_the_ring(updates: Params, state: AdaptiveRevisionState, delay: int) -> _Arrivals:
    """The oldest gradient and its Read leave the ring buffers; this step's enter in their slot.

    Args:
      updates: this step's fresh gradients.
      state: the state before the step.
      delay: the buffers' length, ≥ 1.

    Returns:
      The `_Arrivals` of this step.
    """
    index = state.index

    def take(buffer):
        return jax.lax.dynamic_index_in_dim(buffer, index, keepdims=False)

    def put(new, buffer):
        return jax.lax.dynamic_update_index_in_dim(
            buffer, tree.as_dtype(new, buffer.dtype), index, 0
        )

    return _Arrivals(
        stale=jax.tree.map(take, state.gradients),
        read=jax.tree.map(take, state.reads),
        # The Read of this step's gradient happens before this step's arrival is applied.
        gradients=jax.tree.map(put, updates, state.gradients),
        reads=jax.tree.map(put, state.gradient_sum, state.reads),
        ready=state.count >= delay,
        next_index=jnp.where(index + 1 < delay, index + 1, 0).astype(jnp.int32),
    )


def _at_once(updates: Params, state: AdaptiveRevisionState) -> _Arrivals:
    """Without delay every gradient arrives at once, read at the current ``G``."""
    return _Arrivals(
        stale=updates,
        read=state.gradient_sum,
        gradients=state.gradients,
        reads=state.reads,
        ready=None,
        next_index=state.index,
    )


def _adagrad_leaf(g, big_g, g_read, z, zmax, *, learning_rate):
    """The rule at zero delay on one leaf: ``(update, G, z, zmax)``.

    ``B = G - G_read = 0`` exactly, so the rule is AdaGrad, written as gdjax's AdaGrad
    writes it: no zero revision term, whose presence changes XLA's fusion and so the
    rounding of ``x + u``.
    """
    del g_read
    new_z = tree.abs_sq(g) + z
    new_zmax = jnp.maximum(zmax, new_z)
    update = tree.scale(-learning_rate, jax.lax.rsqrt(new_zmax) * g)
    return update, big_g + g, new_z, new_zmax


def _revision_leaf(g, big_g, g_read, z, zmax, *, learning_rate, ready):
    """The rule under delay on one leaf: `arrival` once ``ready``, nothing moves before."""
    update, new_g, new_z, new_zmax = arrival(g, big_g, g_read, z, zmax, learning_rate)
    return (
        jnp.where(ready, update, jnp.zeros_like(update)),
        jnp.where(ready, new_g, big_g),
        jnp.where(ready, new_z, z),
        jnp.where(ready, new_zmax, zmax),
    )


def _applied(
    arrivals: _Arrivals, state: AdaptiveRevisionState, learning_rate: ArrayLike, delay: int
) -> tuple[Params, Params, Params, Params]:
    """``(update, G, z, zmax)`` after this step's arrival, as four trees (computed widened).

    Args:
      arrivals: this step's `_Arrivals`.
      state: the state before the step.
      learning_rate: the base rate ``a``.
      delay: the staleness; 0 takes the AdaGrad form.

    Returns:
      The updates and the new ``G``, ``z``, ``zmax``, each shaped like the params.
    """
    if delay:  # structural (Static): the buffers' length, not a hyperparameter's value
        leaf = functools.partial(_revision_leaf, learning_rate=learning_rate, ready=arrivals.ready)
    else:
        leaf = functools.partial(_adagrad_leaf, learning_rate=learning_rate)
    wide = tree.widen
    results = jax.tree.map(
        leaf,
        wide(arrivals.stale),
        wide(state.gradient_sum),
        wide(arrivals.read),
        wide(state.accumulator),
        wide(state.max_accumulator),
    )
    outer = jax.tree.structure(state.gradient_sum)
    return jax.tree.transpose(outer, jax.tree.structure((0, 0, 0, 0)), results)


def _update(updates, state, params=None, *, learning_rate, delay):
    """One step of the simulated server (the rule is in `adaptive_revision`'s docstring).

    Args:
      updates: this step's fresh gradients.
      state: the `AdaptiveRevisionState` before the step.
      params: unused.
      learning_rate: the base rate ``a``.
      delay: the staleness ``tau`` (Static: it shapes the buffers).

    Returns:
      ``(update, state)``: the change of the params, in their dtypes, and the new state.
    """
    del params
    _check_updates(updates, state)
    # delay is structural (Static), the buffers' length: no hyperparameter's value is tested.
    arrivals = _through_the_ring(updates, state, delay) if delay else _at_once(updates, state)
    out, big_g, z, zmax = _applied(arrivals, state, learning_rate, delay)
    new_state = AdaptiveRevisionState(
        count=tree.safe_increment(state.count),
        index=arrivals.next_index,
        gradients=arrivals.gradients,
        reads=arrivals.reads,
        gradient_sum=tree.cast_like(big_g, state.gradient_sum),
        accumulator=tree.cast_like(z, state.accumulator),
        max_accumulator=tree.cast_like(zmax, state.max_accumulator),
    )
    return tree.cast_like(out, updates), new_state


def _checked(learning_rate: Any, delay: Any, initial_accumulator_value: Any) -> int:
    """`adaptive_revision`'s arguments checked (a ValueError naming the bad one); the delay
    as a Python int."""
    check_unscheduled(OWNER, "learning_rate", learning_rate, "[0, inf)")
    delay = check_static_int(OWNER, "delay", delay, 0)
    if delay > INT32_MAX:
        owner, name = named(OWNER, "delay")
        raise ValueError(f"{owner}: {name} must be <= 2**31 - 1, got {delay!r}")
    check_range(OWNER, "initial_accumulator_value", initial_accumulator_value, "(0, inf)")
    return delay


def adaptive_revision(
    learning_rate: Any,
    delay: int,
    initial_accumulator_value: Any = 0.1,
    *,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """Delay-tolerant AdaGrad (AdaptiveRevision) on gradients that arrive ``delay`` steps late.

    Given each step's fresh gradient ``g_t`` (computed at the current params
    ``x_t``, as for any transformation), this simulates a worker whose
    gradient reaches the server ``delay`` steps later, exactly as
    `gdjax.distributed.delayed` does, and applies AdaptiveRevision there.
    Per coordinate the server keeps ``x``, the sum ``G`` of every gradient
    applied so far, an accumulator ``z`` and its running maximum ``zmax``
    (both start at ``initial_accumulator_value``), and the base rate
    ``a = learning_rate``:

        Read (step s):    the worker reads x_s; G_read = G
        Arrival of g (computed at that Read), at step s + delay:
          B      = G - G_read                 # the backlog: applied since the Read
          r_old  = a / sqrt(zmax)
          z      = z + g*g + 2*g*B
          zmax   = max(zmax, z)
          r      = a / sqrt(zmax)
          x      = x - r*g + (r_old - r)*B    # the second term revises the rate used on B
          G      = G + g

    The update returned is the change of ``x``, ``u_t = -r g + (r_old - r) B``:
    a whole optimizer (the learning rate is inside), not a direction to chain
    with `scale_by_learning_rate`. With a fixed delay ``tau``, ``B`` is the sum
    of the gradients applied at steps ``t - tau, ..., t - 1``. Warm-up as in
    `delayed`: for ``t < delay`` the update is 0 and ``G``, ``z``, ``zmax`` stay.

    With ``delay=0`` (``B = 0``) this is AdaGrad with the accumulator updated
    before the step, ``z += g*g; x -= a g / sqrt(z)``: bit for bit
    ``gdjax.adagrad(a, initial_accumulator_value=z0, eps=0.0)`` (eps inside
    the root, the default placement), computed in the same order, as XLA
    compiles by default (with LLVM -O0 the accumulators can differ in the
    last bit). ``z`` can decrease when ``g`` and ``B`` have opposite signs,
    but ``zmax`` never does, so the rate never grows.

    Defaults: ``initial_accumulator_value=0.1`` like gdjax's (optax's, Keras')
    AdaGrad, so that the first step is finite; the rule has no ``eps``.

    Provenance and numerics (float32 backlogs): the module docstring.

    Args:
      learning_rate: the base rate ``a`` >= 0: a float or a scalar array (data,
        so ``jax.vmap`` over it compiles once). Schedules are not supported.
      delay: the staleness ``tau`` in steps, a Python int in ``[0, 2**31 - 1]``;
        it sets the buffers' length (structure, not data).
      initial_accumulator_value: the starting ``z`` and ``zmax``, > 0. Default 0.1.
      accumulator_dtype: dtype of ``G``, the Read snapshots, ``z`` and ``zmax``;
        ``None`` (default) follows the params. The in-flight gradients are kept
        in the params' dtype.

    Returns:
      A transformation with state `AdaptiveRevisionState`.

    Raises:
      ValueError: naming the argument, for a rate < 0 or a schedule, a delay that
        is not a concrete integer in range, or an accumulator value <= 0.
      TypeError: at ``init``, for integer or complex params.
    """
    delay = _checked(learning_rate, delay, initial_accumulator_value)
    return GradientTransformation(
        bind(
            _init,
            delay=Static(delay),
            initial_accumulator_value=initial_accumulator_value,
            accumulator_dtype=accumulator_dtype,
        ),
        bind(_update, learning_rate=learning_rate, delay=Static(delay)),
    )
