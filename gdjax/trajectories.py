"""Ensembles of optimizer trajectories on a function, and sweeps of hyperparameters.

`run` descends from many starts at once as one compiled program (a
``lax.scan`` over steps of a ``vmap`` over starts); `sweep` adds leading axes
for a grid of hyperparameters and still compiles once. With several local
devices the ensemble is sharded over them with ``jax.sharding``.

Recorded histories are time-major, ``(records, starts, ...)``: each step of the
scan writes one contiguous slab, so recording every step of 10k starts costs
no transpose after the run (see ``benchmarks/trajectories.py``). Inside the
loop the starts are laid out coordinate-major: coordinate ``i`` of every
start is one contiguous row, which XLA on CPU runs faster than the
start-major layout of a hand-written ``scan(vmap)``. State that does not
depend on the start (Adam's count) stays one value, as in a hand-written
``vmap(scan)``; which state that is, is read from the optimizer's jaxprs.
Recording every step, the loop body has no branch (the step after the end is
taken and dropped).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gdjax._validation import check_int, check_range
from gdjax.base import EmptyState, GradientTransformation, apply_updates, extra_args_filter
from gdjax.bound import Skeleton, bind, split, stacked_calls
from gdjax.keys import for_run, is_key
from gdjax.landscapes import Landscape
from gdjax.optimizers import sgd
from gdjax.transforms.momentum import TraceState

Iterate = Callable[[jax.Array, Any], jax.Array]


class Trajectories(NamedTuple):
    """The result of `run`. ``R`` records, ``N`` starts, dimension ``D``.

    Attributes:
      steps: ``(R,)`` the step number of each record (0 is the start, the last
        is ``num_steps``); None if nothing was recorded.
      positions: ``(R, N, D)`` the params at each recorded step (or None).
      values: ``(R, N)`` the function there (or None).
      final: ``(N, D)`` the params after ``num_steps`` steps.
      final_value: ``(N,)`` the function there.
      diverged: ``(N,)`` whether a start diverged: its final point or final
        value is not finite, or (with ``bound``) a coordinate ever exceeded the
        bound. A non-finite point stays non-finite (NaN absorbs, and inf plus
        anything finite is inf), so the end tells without a check per step.
      steps_to_tol: ``(N,)`` the settling time: the step from which the run
        stays within ``tol`` of a known minimum to the end (-1: not within it
        at the end, or no minima known). A run that only passes through the
        ball does not count.
      states: the optimizer state at each record, leaves ``(R, N, ...)``, if
        ``record_state``; else None.
      iterates: ``(R, N, D)`` the iterate that ``iterate(params, state)``
        recovers at each record (the NAG iterate for Nesterov), if given; else None.
    """

    steps: np.ndarray | None
    positions: jax.Array | None
    values: jax.Array | None
    final: jax.Array
    final_value: jax.Array
    diverged: jax.Array
    steps_to_tol: jax.Array
    states: Any = None
    iterates: jax.Array | None = None

    def take(self, starts: Any) -> Trajectories:
        """The same run restricted to some starts (an index, a slice or an index array)."""
        index = np.atleast_1d(np.arange(len(self.final))[starts])

        def pick(x, axis):
            return None if x is None else jax.tree.map(lambda a: a.take(index, axis=axis), x)

        return self._replace(
            positions=pick(self.positions, 1),
            values=pick(self.values, 1),
            final=pick(self.final, 0),
            final_value=pick(self.final_value, 0),
            diverged=pick(self.diverged, 0),
            steps_to_tol=pick(self.steps_to_tol, 0),
            states=pick(self.states, 1),
            iterates=pick(self.iterates, 1),
        )


def from_path(path: Any, fn: Callable | Landscape) -> Trajectories:
    """A path computed elsewhere (a text's own listing, say) as a `Trajectories`.

    Args:
      path: ``(R, D)`` one path, or ``(R, N, D)`` several, every step recorded.
      fn: the landscape or function the path is on (it fills in the values).

    Returns:
      `Trajectories` with ``steps = 0 .. R-1``; ``steps_to_tol`` is -1 (unknown).
    """
    positions = np.asarray(path)
    if positions.ndim == 2:
        positions = positions[:, None, :]
    function = fn.fn if isinstance(fn, Landscape) else jax.vmap(jax.vmap(fn))
    values = np.asarray(function(jnp.asarray(positions)))
    return Trajectories(
        steps=np.arange(len(positions)),
        positions=positions,
        values=values,
        final=positions[-1],
        final_value=values[-1],
        diverged=~(np.isfinite(positions).all(axis=(0, 2)) & np.isfinite(values).all(axis=0)),
        steps_to_tol=np.full(positions.shape[1], -1),
    )


def nesterov_iterate(learning_rate: Any, momentum: Any) -> Iterate:
    """The NAG iterate ``x`` behind ``gdjax.sgd(learning_rate, momentum, nesterov=True)``.

    ``trace(nesterov=True)`` (like optax and PyTorch) keeps the look-ahead point
    ``p = x + mu * v`` as the params, with velocity ``v = -lr * t``; so
    ``x = p + mu * lr * t``, ``t`` being the trace in the state. Pass the result
    as ``run(..., iterate=...)`` to record ``x``; seed 001 Table 11-2's exact
    look-ahead numbers come out of it.

    The inversion holds for that chain only, momentum then a constant rate
    (state ``(TraceState, EmptyState)``); any other state (``rmsprop`` with
    momentum, whose trace comes after the rate; a scheduled rate; a wrapper) is
    refused with a ``ValueError`` when the run is traced, rather than
    recorded wrong.

    The result is a `gdjax.bound.Bound` whose leaves are the rate and the
    momentum: `run` passes them to its program as data, like the optimizer's,
    so another rate compiles nothing.
    """
    return bind(_nesterov_iterate, learning_rate=learning_rate, momentum=momentum)


def _nesterov_iterate(
    params: jax.Array, state: Any, *, learning_rate: Any, momentum: Any
) -> jax.Array:
    if not (
        isinstance(state, tuple)
        and len(state) == 2
        and isinstance(state[0], TraceState)
        and isinstance(state[1], EmptyState)
    ):
        raise ValueError(
            "nesterov_iterate: the optimizer must be gdjax.sgd(learning_rate, momentum, "
            "nesterov=True) with a constant learning rate, whose state is (TraceState, "
            f"EmptyState); this state is {_describe_state(state)}, whose NAG iterate "
            "this cannot recover"
        )
    return params + momentum * learning_rate * state[0].trace


def nag_iterate(
    factory: Callable[..., GradientTransformation], *args: Any, **kwargs: Any
) -> Iterate | None:
    """The iterate to record for ``factory(*args, **kwargs)``, or None for its params.

    Of the aliases, only ``gdjax.sgd`` with ``nesterov=True``, a ``momentum`` and
    a constant (not scheduled) learning rate keeps the look-ahead point as its
    params; for it this returns `nesterov_iterate` of its rate and momentum, the
    NAG iterate to pass as ``run(..., iterate=...)``. For anything else it is
    None: plain momentum and ``adam(nesterov=True)`` (NAdam, another method)
    keep the iterate as their params; ``rmsprop``'s Nesterov momentum and a
    scheduled rate keep a look-ahead point that `nesterov_iterate` cannot
    invert. The arguments are not checked here; building the optimizer does.

        nag_iterate(gdjax.sgd, 0.1, momentum=0.9, nesterov=True)   # nesterov_iterate(0.1, 0.9)
        nag_iterate(gdjax.adam, 0.1, nesterov=True)                # None
    """
    if factory is not sgd:
        return None
    try:
        bound = inspect.signature(factory).bind(*args, **kwargs)
    except TypeError:
        return None  # the factory itself will say what is wrong
    bound.apply_defaults()
    rate, momentum = bound.arguments["learning_rate"], bound.arguments["momentum"]
    if bound.arguments["nesterov"] is not True or momentum is None or callable(rate):
        return None
    return nesterov_iterate(rate, momentum)


def _describe_state(state: Any) -> str:
    if isinstance(state, tuple) and not hasattr(state, "_fields"):
        return "(" + ", ".join(type(s).__name__ for s in state) + ")"
    return type(state).__name__


# --------------------------------------------------------------------------- the simulation


class _Options(NamedTuple):
    num_steps: int
    record_every: int  # 0: record nothing but the final point
    record_state: bool
    bound: float | None
    tol: float | None
    minima: tuple[tuple[float, ...], ...] | None  # (M, D), hashable: options key a cache


def _simulate(
    optimizer: GradientTransformation,
    fn: Callable,
    starts: jax.Array,
    o: _Options,
    first: Any = 0,
    iterate: Iterate | None = None,
) -> dict:
    """Traced body shared by `run` and `sweep`: descends from every start at once.

    Written for one start (`_Descent`) and run for all of them as an `_Ensemble`:
    a scan over steps of a vmap over the starts, whose carry keeps the start
    axis last (coordinate-major), and keeps state that does not depend on the
    start (Adam's step count) as one value.
    Start ``n`` is run ``first + n`` of the ensemble: its state's keys are
    folded with that index.

    Args:
      optimizer: the gradient transformation to run.
      fn: the function, from one point ``(D,)`` to a scalar.
      starts: ``(N, D)`` start points.
      o: the run's options.
      first: the run index of the first start.
      iterate: ``(params, state) -> point`` to record too, or None.

    Returns:
      A dict of the finals (start axis 0) and, when recording, of the
      time-major histories (start axis 1).
    """
    # Without a bound, the largest finite number: `out_of_bounds` then flags exactly
    # the non-finite coordinates.
    limit = jnp.finfo(starts.dtype).max if o.bound is None else o.bound
    descent = _Descent(optimizer, fn, o, iterate, starts.shape[1], limit)
    indices = first + jnp.arange(len(starts), dtype=jnp.int32)
    flags = _per_start(descent, starts[0], indices[0])
    axes = jax.tree.map(lambda per_start: -1 if per_start else None, flags)
    materialize = _gradient_worth_writing_out(fn, starts[0])
    return _Ensemble(descent, axes, materialize).run(starts, indices)


def _per_start(descent: _Descent, x0: jax.Array, index: jax.Array) -> dict:
    """Which leaves of the carry may differ between starts (True) and which cannot.

    A leaf that depends on neither the start nor the run index, at the start or
    after any number of steps, is the same for every start and is kept once
    (Adam's step count); a momentum starts at zeros but is per start after one
    step. The fixed point of one step's dependence, as scan's batching rule
    finds it, read conservatively from the jaxprs (`_dependence`).
    """
    shapes = jax.eval_shape(descent.start, x0, index)
    flags = _depends(descent.start, (x0, index), (True, True))
    while True:
        stepped = _depends(descent.stepped, (shapes,), (flags,))
        merged = jax.tree.map(lambda a, b: a or b, flags, stepped)
        if jax.tree.leaves(merged) == jax.tree.leaves(flags):
            return flags
        flags = merged


def _depends(f: Callable, args: tuple, flags: tuple) -> Any:
    """For each output leaf of ``f(*args)``, whether it may depend on the input leaves
    flagged True in ``flags`` (a tree of bools shaped like ``args``)."""
    closed, shapes = jax.make_jaxpr(f, return_shape=True)(*args)
    outputs = _dependence(closed.jaxpr, jax.tree.leaves(flags))
    return jax.tree.unflatten(jax.tree.structure(shapes), outputs)


# Primitives that cost far more than a multiply-add: XLA on CPU evaluates them by
# polynomial approximations tens of instructions long.
_TRANSCENDENTAL = frozenset(
    {"exp", "exp2", "expm1", "log", "log1p", "pow", "sin", "cos", "tan", "tanh", "logistic"}
    | {"sinh", "cosh", "asin", "acos", "atan", "atan2", "asinh", "acosh", "atanh", "cbrt"}
    | {"erf", "erfc", "erf_inv", "lgamma", "digamma"}
)


def _gradient_worth_writing_out(fn: Callable, x: jax.Array) -> bool:
    """Whether the gradient is assembled coordinate by coordinate around at least two
    costly pieces that several coordinates share.

    A function that takes its point apart (``x[0]``, ``x[1]``, as the texts'
    landscapes do) has a gradient put together from per-coordinate pieces (a
    pad per coordinate in its jaxpr). Fused into the update, XLA evaluates each
    coordinate from the pieces it needs, so a transcendental that several
    coordinates need (both exponentials of two_gaussians) is computed once per
    coordinate; writing the gradient out first (`_Ensemble.value_and_grad`)
    computes it once. Measured at final points, 10k starts: two_gaussians (two
    shared exponentials) 0.73-0.82x the time for six optimizers; with one shared
    exponential, costly pieces that no two coordinates share, or a function of
    the whole vector (a sum over coordinates), the write cost 0.96-1.08x, and up
    to 2x for a 50-D Gaussian bowl, so those stay fused.
    """
    grad = jax.make_jaxpr(jax.grad(fn))(x).jaxpr
    shared = [
        eqn
        for i, eqn in enumerate(grad.eqns)
        if eqn.primitive.name in _TRANSCENDENTAL and len(_coordinates_reached(grad, i)) > 1
    ]
    return len(shared) >= 2


def _coordinates_reached(jaxpr: jex.Jaxpr, index: int) -> set[int]:
    """The coordinates of the gradient whose pieces (pads) equation ``index`` feeds."""
    reached, coordinates = set(jaxpr.eqns[index].outvars), set()
    for eqn in jaxpr.eqns[index + 1 :]:
        if not any(var in reached for var in eqn.invars if not isinstance(var, jex.Literal)):
            continue
        if eqn.primitive.name == "pad":  # a piece put in at its coordinate: stop there
            coordinates.add(eqn.params["padding_config"][0][0])
        else:
            reached.update(eqn.outvars)
    return coordinates


_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call"})


def _dependence(jaxpr: jex.Jaxpr, flags: list[bool]) -> list[bool]:
    """Which outputs of ``jaxpr`` may depend on its inputs flagged True.

    Conservative: every output of an equation depends on all of its inputs (a
    loop's or a branch's outputs on all of theirs), except that calls (a
    nested jit) are read inside. Constants (the hyperparameters) depend on
    nothing flagged.
    """
    depends = dict(zip(jaxpr.invars, flags, strict=True))

    def flagged(var) -> bool:
        return not isinstance(var, jex.Literal) and depends.get(var, False)

    for eqn in jaxpr.eqns:
        inputs = [flagged(var) for var in eqn.invars]
        body = eqn.params.get("jaxpr") if eqn.primitive.name in _CALLS else None
        if body is not None:
            outputs = _dependence(getattr(body, "jaxpr", body), inputs)
        else:
            outputs = [any(inputs)] * len(eqn.outvars)
        depends.update(zip(eqn.outvars, outputs, strict=True))
    return [flagged(var) for var in jaxpr.outvars]


# eq=False: compared by identity, as its fields may hold traced values (a sweep's
# hyperparameters) that cannot be compared.
@dataclasses.dataclass(frozen=True, eq=False)
class _Descent:
    """One start's descent: the pieces that `_Ensemble` runs for every start.

    The carry is a dict: the params ``x``, the optimizer ``state``, the steps
    taken ``k``, and the clocks that the options ask for: ``diverged`` (with a
    bound) and ``settled`` (with a tolerance and known minima).
    """

    optimizer: GradientTransformation
    fn: Callable
    options: _Options
    iterate: Iterate | None
    dim: int
    limit: Any  # a coordinate beyond this (or not finite) diverged

    @property
    def tracking(self) -> bool:
        """Whether the settling time is measured: a tolerance and minima to measure it to."""
        return self.options.tol is not None and bool(self.options.minima)

    # The two checks reduce over the few coordinates of a point; unrolled, they fuse
    # into the step (as reductions over a size-2 axis, XLA on CPU ran them ten times
    # slower than the step itself).
    def out_of_bounds(self, x: jax.Array) -> jax.Array:
        """Whether a coordinate of ``x`` is beyond the limit or not finite."""
        # |c| <= limit is False for NaN and for +-inf: one comparison catches all three.
        outside = [~(jnp.abs(x[i]) <= self.limit) for i in range(self.dim)]
        return functools.reduce(jnp.logical_or, outside)

    def within_tol(self, x: jax.Array) -> jax.Array:
        """Whether ``x`` is within ``tol`` of one of the minima."""
        tol2 = self.options.tol**2
        dim = range(self.dim)
        inside = [sum((x[i] - m[i]) ** 2 for i in dim) < tol2 for m in self.options.minima]
        return functools.reduce(jnp.logical_or, inside)

    def start(self, x0: jax.Array, index: jax.Array) -> dict:
        """The carry at step 0 from ``x0``, run ``index`` of the ensemble."""
        # Without a bound, non-finite params are the only divergence, and they stay
        # non-finite (NaN absorbs, inf + finite = inf, inf - inf = NaN): checking the
        # end (`finals`) is exact and costs nothing per step.
        state = for_run(self.optimizer.init(x0), index)
        carry = {"x": x0, "state": state, "k": jnp.zeros([], jnp.int32)}
        if self.options.bound is not None:
            carry["diverged"] = self.out_of_bounds(x0)
        if self.tracking:
            carry["settled"] = jnp.where(self.within_tol(x0), 0, -1).astype(jnp.int32)
        return carry

    def advance(self, carry: dict, value: jax.Array, grads: jax.Array) -> dict:
        """The carry one step on, given the value and gradient at its point."""
        # optax's extra arguments, for the optimizers that read them (a Polyak step
        # reads the value; a line search the value, the gradient and the function).
        wanted = extra_args_filter(self.optimizer.update)
        extra = wanted({"value": value, "grad": grads, "value_fn": self.fn})
        updates, state = self.optimizer.update(grads, carry["state"], carry["x"], **extra)
        x = apply_updates(carry["x"], updates)
        carry = {**carry, "x": x, "state": state, "k": carry["k"] + 1}
        if self.options.bound is not None:  # an excursion beyond the bound may be transient
            carry["diverged"] = carry["diverged"] | self.out_of_bounds(x)
        if self.tracking:  # settling time: the step since which x has stayed within tol
            settled = carry["settled"]
            carry["settled"] = jnp.where(
                self.within_tol(x), jnp.where(settled < 0, carry["k"], settled), -1
            )
        return carry

    def stepped(self, carry: dict) -> dict:
        """The carry one step on (what `_per_start` reads; `_Ensemble` steps every start)."""
        return self.advance(carry, *jax.value_and_grad(self.fn)(carry["x"]))

    def entries(self, x: jax.Array, value: jax.Array, state: Any) -> dict:
        """One record: the point, its value, and the state and iterate if asked for."""
        recorded = {"positions": x, "values": value}
        if self.options.record_state:
            recorded["states"] = state
        if self.iterate is not None:
            recorded["iterates"] = self.iterate(x, state)
        return recorded

    def finals(self, carry: dict, x: jax.Array, value: jax.Array) -> dict:
        """The end of the run: its point ``x`` and the value there, and its clocks."""
        # A finite point whose value overflowed diverged too.
        diverged = self.out_of_bounds(x) | ~jnp.isfinite(value)
        return {
            "final": x,
            "final_value": value,
            "diverged": carry["diverged"] | diverged if "diverged" in carry else diverged,
            "steps_to_tol": carry["settled"] if self.tracking else jnp.int32(-1),
        }


@dataclasses.dataclass(frozen=True, eq=False)
class _Ensemble:
    """Every start's descent at once: a scan over steps of a vmap of `_Descent`'s pieces.

    The carry is coordinate-major: a leaf that differs between starts has the
    start axis last, so that coordinate ``i`` of every start's point is one
    contiguous row; a leaf that is the same for every start (`_per_start`) is
    kept once. ``axes`` gives each leaf of the carry its start axis (-1, or
    None when shared). Vmapping the whole scan instead would put every
    carried start axis first (scan's batching rule moves them there).

    Measured at 10k starts x 1000 steps on two_gaussians against the
    start-major layout of a vmapped scan: 0.79-0.85x the time recording every
    step and 0.70-1.03x for final points only, over the texts' seven
    optimizers (`benchmarks/trajectories.py` has the hand-written peers).
    With ``materialize`` (`_gradient_worth_writing_out`), the steps that record
    nothing write the gradient out first (`value_and_grad`).
    """

    descent: _Descent
    axes: dict
    materialize: bool  # the plain steps write the gradient out (see value_and_grad)

    @staticmethod
    def each(f: Callable, in_axes: Any, out_axes: Any = -1) -> Callable:
        """``f`` for every start; inputs and outputs carry the start axis last by default."""
        return jax.vmap(f, in_axes=in_axes, out_axes=out_axes)

    @property
    def chunks(self) -> int:
        """The full chunks of ``record_every`` steps (0: nothing is recorded)."""
        every = self.descent.options.record_every
        return self.descent.options.num_steps // every if every else 0

    @property
    def rest(self) -> int:
        """The steps after the last full chunk (all of them when nothing is recorded)."""
        o = self.descent.options
        return o.num_steps - self.chunks * o.record_every

    def value_and_grad(
        self, x: jax.Array, materialize: bool = False
    ) -> tuple[jax.Array, jax.Array]:
        """Every start's value ``(N,)`` and gradient ``(D, N)``.

        The gradient of the values' sum, which for each start is its own, as the
        starts are independent. (Vmapping the gradient instead gave it the start
        axis first, and XLA transposed it back to the carry's layout at every
        step: 1.2-1.8x the time.)

        With ``materialize``, the gradient is taken row by row (one ``(N,)`` array
        per coordinate) and written out before the update reads it. XLA then
        computes the rows in one kernel, the pieces they share (both
        exponentials of two_gaussians) once per start; fused into the update
        instead, each coordinate of each start computed them again. That pays
        only where `_gradient_worth_writing_out` says so, and costs a write and
        a read elsewhere (SGD on rosenbrock: 1.3x the time).
        """
        values = self.each(self.descent.fn, -1)
        rows = tuple(x) if materialize else (x,)

        def total(*rows):
            value = values(jnp.stack(rows) if materialize else rows[0])
            return value.sum(), value

        wrt = tuple(range(len(rows)))
        (_, value), grads = jax.value_and_grad(total, wrt, has_aux=True)(*rows)
        if materialize:
            return value, jnp.stack(jax.lax.optimization_barrier(grads))
        return value, grads[0]

    def advance(self, carry: dict, value: jax.Array, grads: jax.Array) -> dict:
        """Every start's carry one step on, given their values and gradients."""
        advance = self.each(self.descent.advance, (self.axes, -1, -1), self.axes)
        return advance(carry, value, grads)

    @functools.cached_property
    def step(self) -> Callable:
        """The plain scan's body: one step, recording nothing.

        One function object for every scan of the descent: jax caches a scan
        body's trace on the function, so the chunk's steps and the rest's share
        one traced body, and the program holds it once.
        """

        def step(carry, _):
            value_and_grad = self.value_and_grad(carry["x"], self.materialize)
            return self.advance(carry, *value_and_grad), None

        return step

    def steps(self, carry: dict, count: int) -> dict:
        """The carry ``count`` steps on, recording nothing."""
        if count:
            carry, _ = jax.lax.scan(self.step, carry, None, length=count)
        return carry

    def record_row(self, carry: dict, row: jax.Array) -> tuple[dict, dict]:
        """The recording scan's body: records the carry, then advances to the next record.

        That is ``record_every`` steps, and the rest of ``num_steps`` after the last
        full chunk; the extra last row records the end. `row` is the same for every
        start, so the conds stay branches. A row's records are start-major (XLA
        writes them transposed into the history, and that is faster than a
        coordinate-major history transposed at the end), so scan stacks them
        ``(rows, starts, ...)``.
        """
        every = self.descent.options.record_every
        # One pass for both, the gradient fused into the update even for a costly
        # function: written out, it made recording every step slower (two_gaussians).
        value, grads = self.value_and_grad(carry["x"])
        entries = self.each(self.descent.entries, (-1, -1, self.axes["state"]), 0)
        record = entries(carry["x"], value, carry["state"])
        if every == 1:
            stepped = self.advance(carry, value, grads)
            return _unless_last(carry, stepped, row == self.chunks), record

        def chunk(carry):
            return self.steps(self.advance(carry, value, grads), every - 1)

        carry = jax.lax.cond(row < self.chunks, chunk, lambda c: c, carry)
        if self.rest:
            carry = jax.lax.cond(
                row == self.chunks - 1, lambda c: self.steps(c, self.rest), lambda c: c, carry
            )
        return carry, record

    def run(self, starts: jax.Array, indices: jax.Array) -> dict:
        """The finals (start axis 0) and, when recording, the histories (start axis 1)."""
        d = self.descent
        carry = self.each(d.start, 0, self.axes)(starts, indices)
        if not self.chunks:
            carry = self.steps(carry, self.rest)
            x, value = carry["x"], self.each(d.fn, -1)(carry["x"])
            return self.each(d.finals, (self.axes, -1, -1), 0)(carry, x, value)
        carry, history = jax.lax.scan(self.record_row, carry, jnp.arange(self.chunks + 1))
        # The last record is the end (recording every step, the carry went one step on).
        x, value = history["positions"][-1], history["values"][-1]
        return {**self.each(d.finals, (self.axes, 0, 0), 0)(carry, x, value), **history}


def _unless_last(carry: dict, stepped: dict, last: jax.Array) -> dict:
    """The carry after a step that the last row of a record-every-step scan takes too.

    Skipping the step after the end with a ``lax.cond`` put a conditional in
    every iteration: XLA on CPU then ran the update as a branch of its own,
    with the gradient written out before it and nothing fused across it, and
    the run took up to 15% longer than with a straight-line body, as a
    hand-written ``scan(vmap)`` has (`benchmarks/trajectories.py`). Instead every row
    steps, the last one too, and that extra step is dropped: the end is read
    from the last record, and the clocks it would move (settling time,
    excursions beyond the bound) keep their values on the last row. The loop
    body is then the hand-written program's, kernel for kernel. (XLA may fuse
    the update's multiply-adds in another order than the branch did: Adam's
    recorded runs then differ from the branching version's in rounding.)
    """
    clocks = [name for name in ("settled", "diverged") if name in carry]
    return {**stepped, **{name: jnp.where(last, carry[name], stepped[name]) for name in clocks}}


# --------------------------------------------------------------------------- inputs and devices


def _function_and_minima(fn: Callable | Landscape, minima: Any) -> tuple[Callable, tuple | None]:
    if isinstance(fn, Landscape):
        if minima is None and fn.minima:
            minima = [m.point for m in fn.minima]
        fn = fn.fn
    elif not callable(fn):
        raise ValueError(f"fn must be a landscape or a callable, got {fn!r}")
    if minima is None:
        return fn, None
    return fn, tuple(tuple(float(c) for c in point) for point in np.atleast_2d(minima))


def _as_starts(starts: Any, fn: Callable | Landscape) -> np.ndarray:
    array = np.asarray(starts)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    dim = fn.dim if isinstance(fn, Landscape) else None
    if array.ndim == 1:
        array = array[:, None] if dim == 1 else array[None, :]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(
            f"starts must be an array of shape (num_starts, dim), got shape {np.shape(starts)}"
        )
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"starts have dimension {array.shape[1]} but {fn.name} is {dim}-D")
    return array


def _scalar_option(name: str, value: Any) -> float | None:
    """``bound`` and ``tol``: a positive number, as a Python float (the options key a
    cache, and a JAX scalar does not hash)."""
    if value is None:
        return None
    check_range("run", name, value, "(0, inf)")
    if np.ndim(value):
        raise ValueError(f"run: {name} must be one number in (0, inf), got shape {np.shape(value)}")
    return float(value)


def _options(num_steps, record_every, record_state, bound, tol, minima) -> _Options:
    check_int("run", "num_steps", num_steps, 0)
    check_int("run", "record_every", record_every, 0)
    bound, tol = _scalar_option("bound", bound), _scalar_option("tol", tol)
    record_every = min(int(record_every), int(num_steps)) if num_steps else 0
    return _Options(int(num_steps), record_every, bool(record_state), bound, tol, minima)


def _mesh(devices: Sequence[jax.Device] | None) -> Mesh | None:
    devices = list(jax.local_devices() if devices is None else devices)
    if len(devices) < 2:
        return None
    return Mesh(np.array(devices), ("batch",))


def _device_batch(mesh: Mesh | None, array: np.ndarray) -> jax.Array:
    """Puts the batch on the devices: padded (by repeating the last row) to a multiple
    of their number and sharded along its first axis; as it is with one device."""
    if mesh is None:
        return array  # the program takes it in (a device_put first cost 2% of a 20 ms run)
    extra = -len(array) % mesh.devices.size
    if extra:
        array = np.concatenate([array, np.repeat(array[-1:], extra, axis=0)])
    return jax.device_put(array, NamedSharding(mesh, P("batch")))


def _batch_sharded(mesh: Mesh | None, tree: Any, axis: int = 0) -> Any:
    if mesh is None:
        return tree
    spec = P(*([None] * axis), "batch")
    return jax.tree.map(
        lambda x: jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec)), tree
    )


# --------------------------------------------------------------------------- run


def run(
    optimizer: GradientTransformation,
    fn: Callable | Landscape,
    starts: Any,
    num_steps: int,
    record_every: int = 1,
    record_state: bool = False,
    *,
    bound: float | None = None,
    tol: float | None = 1e-3,
    minima: Any = None,
    iterate: Iterate | None = None,
    devices: Sequence[jax.Device] | None = None,
) -> Trajectories:
    """Runs ``optimizer`` on ``fn`` from every start for ``num_steps`` steps, as one program.

    Args:
      optimizer: any gradient transformation (gdjax or optax).
      fn: a `gdjax.landscapes.Landscape`, or a function from one point ``(D,)``
        to a scalar.
      starts: ``(N, D)`` start points (a 1-D landscape also takes ``(N,)``).
      num_steps: steps to take, >= 0.
      record_every: record the params every this many steps; 0 records
        nothing but the final point. Default 1.
      record_state: record the optimizer state too (velocities, accumulated
        squares, ...). Default False.
      bound: flag a start as diverged once a coordinate exceeds this in
        absolute value; a non-finite final point or value always counts.
      tol: distance to a known minimum counted as arrived, for
        ``steps_to_tol``; ``None`` to skip. Default 1e-3.
      minima: ``(M, D)`` points for ``tol`` (default: the landscape's minima).
      iterate: ``(params, state) -> point``, recorded alongside the params;
        use `nesterov_iterate` for the NAG iterate.
      devices: devices to shard the starts over; default all local devices.
        With one device nothing is sharded.

    Returns:
      `Trajectories`, with time-major histories.
    """
    function, minima = _function_and_minima(fn, minima)
    points = _as_starts(starts, fn)
    options = _options(num_steps, record_every, record_state, bound, tol, minima)
    mesh = _mesh(devices)
    # The hyperparameters (the optimizer's, and the iterate's if it has any) are the
    # program's arguments; the program is cached on the rest.
    data, skeleton = split((optimizer, iterate))
    program = _run_program(skeleton, function, options, mesh, len(points))
    out = program(data, _device_batch(mesh, points))
    return Trajectories(steps=_record_steps(options), **_complete(out))


# The jitted programs are cached on everything they close over: the skeleton of the
# optimizer (its kind and options: another optimizer of the same kind, whatever its
# values, compiles nothing; an optax transformation's closures hash by identity), the
# landscape (by identity) and the options.
@functools.lru_cache(maxsize=32)
def _run_program(skeleton: Skeleton, function, options: _Options, mesh: Mesh | None, n: int):
    def program(data, starts):
        optimizer, iterate = skeleton.fill(data)
        out = _simulate(optimizer, function, _batch_sharded(mesh, starts), options, iterate=iterate)
        # Padding comes off inside the program: nothing is compiled after it.
        return {
            name: jax.tree.map(functools.partial(_take, n=n, axis=_batch_axis(name)), value)
            for name, value in out.items()
        }

    return jax.jit(program)


def _batch_axis(name: str) -> int:
    """Histories are time-major: their start axis is 1; for finals it is 0."""
    return 1 if name in ("positions", "values", "states", "iterates") else 0


def _take(x: jax.Array, *, n: int, axis: int) -> jax.Array:
    return jax.lax.slice_in_dim(x, 0, n, axis=axis)


def _record_steps(o: _Options) -> np.ndarray | None:
    if not o.record_every:
        return None
    chunks = o.num_steps // o.record_every
    return np.asarray([*range(0, chunks * o.record_every, o.record_every), o.num_steps], np.int32)


def _complete(out: dict) -> dict:
    return {
        "positions": out.get("positions"),
        "values": out.get("values"),
        "final": out["final"],
        "final_value": out["final_value"],
        "diverged": out["diverged"],
        "steps_to_tol": out["steps_to_tol"],
        "states": out.get("states"),
        "iterates": out.get("iterates"),
    }


# --------------------------------------------------------------------------- sweep


class SweepResult(NamedTuple):
    """The result of `sweep`: grid axes ``G = (n_1, ..., n_k)`` lead every array.

    Attributes:
      names: the hyperparameter names, in grid-axis order.
      grid: ``{name: array of shape G}``, the setting at every grid point, in
        the dtype its axis was given in (float32 for floats).
      final: ``G + (N, D)``; final_value, diverged, steps_to_tol: ``G + (N,)``.
      trajectories: the full `Trajectories` with leading ``G`` axes, if the
        sweep recorded (``record_every > 0``); else None.
    """

    names: tuple[str, ...]
    grid: dict
    final: jax.Array
    final_value: jax.Array
    diverged: jax.Array
    steps_to_tol: jax.Array
    trajectories: Trajectories | None = None

    def scores(self, by: str = "value") -> np.ndarray:
        """Per grid point: the mean final value over starts (``by="value"``), or the
        largest settling time over starts (``by="steps"``); +inf where a start
        diverged (`Trajectories.diverged`) or did not settle, so that no diverged
        setting ranks above a finite one."""
        diverged = np.asarray(self.diverged)
        if by == "value":
            # float64: the mean of float32 values near their maximum stays finite.
            values = np.asarray(self.final_value, np.float64)
            return np.where(diverged, np.inf, values).mean(axis=-1)
        if by == "steps":
            steps = np.asarray(self.steps_to_tol, np.float64)
            return np.where((steps < 0) | diverged, np.inf, steps).max(axis=-1)
        raise ValueError(f"sweep: by must be 'value' or 'steps', got {by!r}")

    def best(self, by: str = "value") -> dict:
        """The best setting: ``{name: value, ..., "score": score}``, lowest score wins.

        ``by="value"`` ranks by mean final value, ``by="steps"`` by the steps the
        slowest start needs to settle within ``tol`` of a minimum. A setting
        with a diverged start scores +inf, so the best is finite whenever any
        setting is.
        """
        scores = self.scores(by)
        index = np.unravel_index(int(np.argmin(scores)), scores.shape)
        best = {name: _item(self.grid[name][index]) for name in self.names}
        best["score"] = float(scores[index])
        return best


def _item(value: Any) -> Any:
    """A grid value as a Python number (a key stays a key)."""
    array = np.asarray(value) if not is_key(value) else None
    if array is None:
        return value
    return float(array) if array.dtype.kind in "fc" else array.item()


def _grid_settings(grid: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple, dict[str, Any]]:
    """``(names, axes, settings)``: the grid's names, each axis as `_axis` makes it, and
    every setting's values, ``{name: (count,)}`` in C order over the grid."""
    if not grid:
        raise ValueError("sweep: the grid is empty; give at least one hyperparameter")
    names = tuple(grid)
    axes = tuple(_axis(name, grid[name]) for name in names)
    where = np.unravel_index(
        np.arange(int(np.prod([len(a) for a in axes]))), [len(a) for a in axes]
    )
    return names, axes, {name: axis[at] for name, axis, at in zip(names, axes, where, strict=True)}


def _axis(name: str, values: Any) -> Any:
    """One grid axis as a 1-D array of its own dtype: floats as float32 (as traced
    hyperparameters are), integers as int32, bools as bools, PRNG keys as keys."""
    if is_key(values):
        return jnp.reshape(values, (-1,))
    array = np.asarray(values).reshape(-1)
    kinds = {"f": np.float32, "i": np.int32, "u": np.int32, "b": np.bool_}
    if array.dtype.kind not in kinds:
        raise ValueError(
            f"sweep: the grid's {name!r} must hold numbers, bools or PRNG keys, got {values!r}"
        )
    if array.size == 0:
        raise ValueError(f"sweep: the grid gives no values for {name!r}")
    return array.astype(kinds[array.dtype.kind])


@functools.lru_cache(maxsize=32)
def _sweep_program(build, names, function, options, mesh, count: int, shape: tuple):
    """The sweep's program. ``build`` is the `Skeleton` that every setting's optimizer
    shares (the program takes their stacked data, one row per setting), or else
    ``make_optimizer`` itself (the program takes the grid's axes and calls it)."""

    def program(data, indices, points):
        # Setting i is the i-th point of the grid's product, in C order; its start n is
        # run i * N + n of the sweep (the keys of its optimizer state fold that in).
        def run_one(index, optimizer):
            return _simulate(optimizer, function, points, options, index * len(points))

        if isinstance(build, Skeleton):
            rows = [leaf[indices] for leaf in data]
            out = jax.vmap(lambda index, row: run_one(index, build.fill(row)))(indices, rows)
        else:
            coordinates = jnp.unravel_index(indices, shape)

            def one(index, *where):
                setting = {n: axis[w] for n, axis, w in zip(names, data, where, strict=True)}
                return run_one(index, build(**setting))

            out = jax.vmap(one)(indices, *coordinates)
        out = _batch_sharded(mesh, out)
        return jax.tree.map(lambda x: _take(x, n=count, axis=0).reshape(shape + x.shape[1:]), out)

    return jax.jit(program)


def sweep(
    make_optimizer: Callable[..., GradientTransformation],
    grid: Mapping[str, Any],
    fn: Callable | Landscape,
    starts: Any,
    num_steps: int,
    record_every: int = 0,
    *,
    bound: float | None = None,
    tol: float | None = 1e-3,
    minima: Any = None,
    devices: Sequence[jax.Device] | None = None,
) -> SweepResult:
    """Runs every combination of hyperparameters in ``grid`` as one compiled program.

    ``grid`` maps argument names of ``make_optimizer`` to 1-D sequences of
    values; their product becomes the leading axes of the result, in the
    order given. ``make_optimizer(**setting)`` receives traced values, so it
    must treat them as data (every gdjax optimizer does); it is also called
    twice with the first setting's concrete values, so the factory's checks
    see them. Each axis keeps its dtype: an axis of ints reaches
    ``make_optimizer`` as int32 (a key seed, say), of floats as float32.

    With gdjax optimizers (pytrees of their hyperparameters) the program takes
    the settings as data and is cached on their kind and options: another grid
    of the same shape compiles nothing. A ``make_optimizer`` whose values live in
    closures (optax's, a lambda schedule) is called inside the program, which is
    cached on it. Example::

        result = sweep(lambda learning_rate, momentum: gdjax.sgd(learning_rate, momentum),
                       {"learning_rate": np.logspace(-3, 0, 20), "momentum": [0, 0.5, 0.9]},
                       landscapes.two_gaussians, starts, 100)
        result.best()   # {'learning_rate': ..., 'momentum': ..., 'score': ...}

    Every (setting, start) is a run of its own: with ``N`` starts, start ``n``
    of the ``i``-th setting (C order over the grid) is run ``i * N + n``, and
    the keys in its optimizer state are folded with that index
    (`gdjax.keys.for_run`).

    Args:
      make_optimizer: ``(**hyperparameters) -> GradientTransformation``.
      grid: ``{name: values}``.
      fn: as for `run`.
      starts: as for `run`.
      num_steps: as for `run`.
      record_every: record every this many steps (default 0: final points only).
      bound: as for `run`.
      tol: as for `run`.
      minima: as for `run`.
      devices: as for `run` (the settings are sharded).

    Returns:
      `SweepResult`.
    """
    names, axes, settings = _grid_settings(grid)
    shape = tuple(len(a) for a in axes)
    count = int(np.prod(shape))
    function, minima = _function_and_minima(fn, minima)
    points = jax.device_put(_as_starts(starts, fn))
    options = _options(num_steps, record_every, False, bound, tol, minima)
    mesh = _mesh(devices)
    # Pytrees of hyperparameters: their data, a row per setting (see the docstring).
    stacked = stacked_calls(make_optimizer, settings)
    if stacked is None:
        build, data = make_optimizer, jax.device_put(axes)
    else:
        data, build = stacked
    program = _sweep_program(build, names, function, options, mesh, count, shape)
    indices = _device_batch(mesh, np.arange(count, dtype=np.int32))
    out = program(data, indices, points)
    trajectories = None
    if options.record_every:
        # vmap put the settings first: (G, R, N, ...) for histories.
        trajectories = Trajectories(steps=_record_steps(options), **_complete(out))
    return SweepResult(
        names=names,
        grid={name: setting.reshape(shape) for name, setting in settings.items()},
        final=out["final"],
        final_value=out["final_value"],
        diverged=out["diverged"],
        steps_to_tol=out["steps_to_tol"],
        trajectories=trajectories,
    )
