"""The compiled programs of a training run: the optimizer's ``init``, one epoch, the evaluation.

An epoch is one ``lax.scan`` over its batches, jit-compiled with the params
and the optimizer state donated, so the update happens in place. Every
program is written for one run and vmapped over the run axes (none for
`fit`, settings and seeds for `fit_many`): many runs are one program.

The optimizer is an argument of the programs, not a constant of them: a run's
``hyper`` is its optimizer's data (`gdjax.bound.split`), and the program fills
the optimizer's skeleton with it (`Filled`). The compiled programs are kept
(`cached`) on what they close over: the loss, the skeleton, the batching, the
plan, the layout (its ``key()``), the metric and the run axes. So a second `fit`
with a new learning rate, or a new optimizer of the same kind, compiles nothing.

A model may carry state that is not trained (batch normalization's running
averages): it rides beside the params through every program, each step's loss
returning the new state (`StatefulLossFn`). A loss without state is wrapped as
one (`Stateless`) whose state is None, an empty pytree: one code path for both.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdjax.base import GradientTransformation, apply_updates, extra_args_filter
from gdjax.bound import Skeleton
from gdjax.distributed.layout import Layout, tree_key
from gdjax.training.data import Batches, epoch_batches, gather, num_examples
from gdjax.training.options import Batching, Evaluation, Plan

LossFn = Callable[[Any, Any], jax.Array]
"""``loss_fn(params, batch)``: per-example losses ``(batch_size,)`` (or their mean)."""

StatefulLossFn = Callable[[Any, Any, Any, Any], tuple[jax.Array, Any]]
"""``loss_fn(params, model_state, batch, training) -> (losses, new_model_state)``:
``training`` is the batch's mask of real examples in a step, False in evaluation."""


@dataclasses.dataclass(frozen=True)
class Stateless:
    """A loss ``(params, batch)`` as a `StatefulLossFn` whose state passes through
    unchanged. Compared by its loss, so the programs of equal losses are shared."""

    loss_fn: LossFn

    def __call__(self, params: Any, model_state: Any, batch: Any, training: Any) -> tuple:
        del training
        return self.loss_fn(params, batch), model_state


@dataclasses.dataclass(frozen=True)
class StatelessMetric:
    """A metric ``(params, batch)`` as one of ``(params, model_state, batch)``."""

    metric: Callable

    def __call__(self, params: Any, model_state: Any, batch: Any) -> jax.Array:
        del model_state
        return self.metric(params, batch)


class Task(NamedTuple):
    """What is trained: the loss (a `StatefulLossFn`: wrap a plain one in `Stateless`),
    each run's optimizer (built from the run's hyperparameters ``hyper``), and the data.

    The compiled programs are cached on ``loss_fn`` and ``make_optimizer``, so
    ``make_optimizer`` should compare equal for equal programs (a `Filled`
    skeleton does; a function compares by identity).
    """

    loss_fn: StatefulLossFn
    make_optimizer: Callable[[Any], GradientTransformation]
    train: Any


@dataclasses.dataclass(frozen=True)
class Filled:
    """``hyper -> skeleton.fill(hyper)``: the optimizer of a skeleton, given its data.

    Equal skeletons (same kind and options, any values) make equal ``Filled``,
    so the programs built on one serve the other.
    """

    skeleton: Skeleton

    def __call__(self, hyper: list) -> GradientTransformation:
        return self.skeleton.fill(hyper)


class Programs(NamedTuple):
    """The compiled programs of a run, vmapped over its run axes.

    Attributes:
      init: ``(params, hyper) -> state``: every run's optimizer state; see `init_program`.
      epoch: ``(params, state, model_state, hyper, keys, number, limit, value, active,
        train) -> (params, state, model_state, losses, failed)``, params, optimizer
        state and model state donated; see `epoch_program`.
      evaluate: ``(params, model_state, data) -> (loss, metric)``: the full-batch mean
        loss and metric (None without one), in evaluation mode; ``(None, None)``
        without an evaluation.
    """

    init: Callable
    epoch: Callable
    evaluate: Callable


def batched(fn: Callable, ndim: int, in_axes: Any) -> Callable:
    """``fn`` vmapped ``ndim`` times (once per run axis)."""
    for _ in range(ndim):
        fn = jax.vmap(fn, in_axes=in_axes)
    return fn


def init_program(
    make_optimizer: Callable[[Any], GradientTransformation], ndim: int, state_shardings: Any = None
) -> Callable:
    """``(params, hyper) -> state``: every run's optimizer state, jit-compiled (cached),
    laid out by ``state_shardings`` (None: as JAX chooses)."""

    def make() -> Callable:
        init = batched(lambda p, h: make_optimizer(h).init(p), ndim, (0, 0))
        return jax.jit(init, out_shardings=state_shardings)

    return cached(("init", make_optimizer, ndim, tree_key(state_shardings)), make)


def build(
    task: Task,
    batching: Batching,
    evaluation: Evaluation | None,
    plan: Plan,
    layout: Layout,
    ndim: int,
) -> Programs:
    """The init, epoch and evaluation programs of runs with ``ndim`` run axes, compiled
    once for all calls that close over the same things (see `cached`)."""
    # The program never reads the epochs' lengths: runs of other lengths share it.
    plan = plan._replace(lengths=())
    validated = evaluation is not None

    def make_epoch() -> Callable:
        # The data are arguments: the kept program must not hold on to them.
        epoch = epoch_program(task._replace(train=None), batching, plan, validated, layout)
        # Per run: params, state, model state, hyper, key, value, active. Shared:
        # number, limit, data.
        in_axes = (0, 0, 0, 0, 0, None, None, 0, 0, None)
        # Its outputs where the next epoch takes them: one program for every epoch.
        return jax.jit(
            batched(epoch, ndim, in_axes),
            donate_argnums=(0, 1, 2),
            out_shardings=layout.epoch_shardings,
        )

    epoch_key = (task.loss_fn, task.make_optimizer, _batching_key(batching), plan, validated)
    epoch = cached(("epoch", *epoch_key, layout.key(), ndim), make_epoch)
    init = init_program(task.make_optimizer, ndim, layout.state_shardings)
    if evaluation is None:
        return Programs(init, epoch, _nothing_to_evaluate)

    def make_evaluate() -> Callable:
        evaluate = evaluate_program(task.loss_fn, evaluation.metric)
        return jax.jit(batched(evaluate, ndim, (0, 0, None)))

    evaluate = cached(("evaluate", task.loss_fn, evaluation.metric, ndim), make_evaluate)
    return Programs(init, epoch, evaluate)


# --------------------------------------------------------------------------- the cache

CACHE_SIZE = 32
"""Compiled programs kept, the most recently used (each holds its executables)."""

_programs: OrderedDict[Hashable, Callable] = OrderedDict()
_lock = threading.Lock()  # fit may run in threads


def cached(key: Hashable, make: Callable[[], Callable]) -> Callable:
    """The program ``make()`` built for an equal ``key`` before, else ``make()`` now.

    ``key`` names everything the program closes over: functions by identity,
    options by value. A key that cannot be hashed (an option that is not)
    builds a program that is not kept.
    """
    try:
        hash(key)
    except TypeError:
        return make()
    with _lock:
        program = _programs.get(key)
    if program is None:
        program = make()
    with _lock:
        program = _programs.setdefault(key, program)  # two threads share one
        _programs.move_to_end(key)
        while len(_programs) > CACHE_SIZE:
            _programs.popitem(last=False)
    return program


def _batching_key(batching: Batching) -> Hashable:
    """The batching as a key: a fixed ``order`` by its values."""
    order = batching.order
    if order is not None:
        order = np.asarray(order)
        order = (order.dtype.str, order.shape, order.tobytes())
    return batching._replace(order=order)


def _nothing_to_evaluate(params: Any, model_state: Any, data: Any) -> tuple[None, None]:
    del params, model_state, data
    return None, None


def mean_loss(loss_fn: LossFn, params: Any, batch: Any, mask: jax.Array) -> jax.Array:
    """The mean of ``loss_fn``'s per-example losses over the examples ``mask`` keeps
    (a mean loss is taken as it is)."""
    return masked_mean(loss_fn(params, batch), mask)


def masked_mean(losses: jax.Array, mask: jax.Array) -> jax.Array:
    """The mean of per-example ``losses`` over the examples ``mask`` keeps (a mean loss
    is taken as it is)."""
    if jnp.ndim(losses) == 0:
        return losses
    if jnp.shape(losses) != mask.shape:
        raise ValueError(
            f"loss_fn must return one loss per example, shape {mask.shape}, or their mean; "
            f"got shape {jnp.shape(losses)}"
        )
    weights = mask.astype(losses.dtype)
    return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1)


def all_finite(tree: Any) -> jax.Array:
    """Whether every float leaf of ``tree`` is finite everywhere, as one traced bool."""
    checks = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact)
    ]
    return jnp.all(jnp.stack(checks)) if checks else jnp.bool_(True)


def stateful_losses(
    loss_fn: StatefulLossFn, params: Any, model_state: Any, batch: Any, training: Any
) -> tuple[jax.Array, Any]:
    """``loss_fn``'s ``(losses, new_model_state)``, checked: a loss given ``model_state=``
    must return a pair whose state has the structure of the one it was given."""
    out = loss_fn(params, model_state, batch, training)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError(
            "with model_state=, loss_fn(params, model_state, batch, training) must return "
            f"(losses, new_model_state); got {type(out).__name__}"
        )
    losses, new_state = out
    if jax.tree.structure(new_state) != jax.tree.structure(model_state):
        raise ValueError(
            "loss_fn's new model state must have the structure of model_state: "
            f"{jax.tree.structure(model_state)}, got {jax.tree.structure(new_state)}"
        )
    # Of the dtypes given, so the state the scan carries keeps its type.
    new_state = jax.tree.map(
        lambda n, o: jnp.asarray(n, jnp.result_type(o)), new_state, model_state
    )
    return losses, new_state


def evaluate_program(loss_fn: StatefulLossFn, metric_fn: Callable | None) -> Callable:
    """``(params, model_state, data) -> (loss, metric)`` of one run, full batch, in
    evaluation mode (``training=False``); metric None without one."""

    def evaluate(params, model_state, data):
        mask = jnp.ones((num_examples(data),), bool)
        losses, _ = stateful_losses(loss_fn, params, model_state, data, False)
        loss = masked_mean(losses, mask)
        metric = masked_mean(metric_fn(params, model_state, data), mask) if metric_fn else None
        return loss, metric

    return evaluate


def epoch_program(
    task: Task, batching: Batching, plan: Plan, validated: bool, layout: Layout
) -> Callable:
    """The traced epoch of one run: ``plan.per_epoch`` batches as one scan.

    Returns ``epoch(params, state, model_state, hyper, key, number, limit, value,
    active, data) -> (params, state, model_state, losses, failed)``. Epoch ``number``
    shuffles with ``fold_in(key, number)``, or takes row ``number - 1`` of a per-epoch
    order (a batch of its slots left out trains nothing; its loss is NaN).
    ``failed`` is the first batch whose loss or gradient was not finite (-1 for
    none); from that batch on the run stands still, so its update is never
    applied, and so does a run that is not ``active``. The model
    state moves only with the params: a step not applied keeps both.
    Batches from ``limit`` on are skipped: a last, partial epoch runs the same
    program instead of compiling one of its own length. ``layout`` pins the
    batches, params and state to their devices (a no-op on one device).
    The update's ``value=`` is ``value`` (the last validation loss) if
    ``validated``, else the batch's own loss.
    """
    order = None if batching.order is None else np.asarray(batching.order)

    def epoch(params, state, model_state, hyper, key, number, limit, value, active, data):
        optimizer = task.make_optimizer(hyper)
        batches = epoch_batches(
            jax.random.fold_in(key, number),
            plan.examples,
            batching.batch_size,
            shuffle=batching.shuffle,
            order=order,
            drop_last=batching.drop_last,
            epoch=number - 1,  # a per-epoch order's row; numbers count from 1
        )
        _check_padding(task.loss_fn, (params, model_state), data, batches, batching, plan)
        inputs = _EpochInputs(data, limit, active, value if validated else None)
        step = _step(task.loss_fn, optimizer, layout, inputs)
        count = jnp.arange(plan.per_epoch, dtype=jnp.int32)
        xs = (batches.indices, batches.mask, count)
        carry = (params, state, model_state, jnp.int32(-1))
        (params, state, model_state, failed), losses = jax.lax.scan(step, carry, xs)
        return params, state, model_state, losses, failed

    return epoch


def _check_padding(
    loss_fn: StatefulLossFn,
    model: tuple[Any, Any],
    data: Any,
    batches: Batches,
    batching: Batching,
    plan: Plan,
) -> None:
    """A padded last batch, or an order's slots left out (-1), need per-example losses
    to leave the padding out. ``model`` is ``(params, model_state)``."""
    size = batching.batch_size
    ragged = not batching.drop_last and bool(size) and plan.examples % size != 0
    gaps = batching.order is not None and bool(np.any(np.asarray(batching.order) < 0))
    if not (ragged or gaps):
        return
    batch, mask = gather(data, batches.indices[0]), batches.mask[0]
    losses, _ = jax.eval_shape(lambda m: stateful_losses(loss_fn, *m, batch, mask), model)
    if not losses.shape and not ragged:
        raise ValueError(
            "batching.order leaves examples out of an epoch (its -1): loss_fn must return "
            "per-example losses (the slots left out are masked out)"
        )
    if not losses.shape:
        raise ValueError(
            f"{plan.examples} examples do not fill batches of {size}: loss_fn must return "
            "per-example losses (the padding is masked out), or pass "
            "batching=Batching(..., drop_last=True)"
        )


class _EpochInputs(NamedTuple):
    """What every step of an epoch reads besides its batch."""

    data: Any
    limit: jax.Array  # steps from this one on are skipped
    active: jax.Array  # False: the run stands still (stopped early, or failed)
    value: jax.Array | None  # the update's value=; None: each batch's own loss


def _step(
    loss_fn: StatefulLossFn, optimizer: GradientTransformation, layout: Layout, inputs: _EpochInputs
) -> Callable:
    """The scan's body: one batch's loss, gradient and (if the run may go on) update of
    the params, the optimizer state and the model state."""
    # optax's extra arguments, for the optimizers that read them: the value (a plateau,
    # a Polyak step) and, when the value is the batch's loss, for a line search the
    # gradient and the batch's loss function.
    wanted = extra_args_filter(optimizer.update)

    def step(carry, batch):
        params, state, model_state, failed = carry
        indices, mask, index = batch
        examples, mask = layout.batch((gather(inputs.data, indices), mask))

        def loss_and_state(p):
            # Training mode: the statistics of the real examples, the mask's.
            losses, new_state = stateful_losses(loss_fn, p, model_state, examples, mask)
            return masked_mean(losses, mask), new_state

        def batch_loss(p):
            return loss_and_state(p)[0]

        (loss, new_state), grads = jax.value_and_grad(loss_and_state, has_aux=True)(params)
        grads = layout.grads(grads)
        # A finite loss can have a NaN gradient (sqrt at 0): applying it would
        # poison the params, so a step needs both.
        # A batch of slots an order left out (-1) trains nothing: no update, and a NaN
        # loss, so the epoch's mean loss is that of the batches it trained on.
        taken = jnp.any(mask)
        skipped = (index >= inputs.limit) | ~taken
        healthy = (jnp.isfinite(loss) & all_finite(grads)) | skipped
        go = healthy & (failed < 0) & inputs.active & ~skipped
        if inputs.value is None:
            extra = wanted({"value": loss, "grad": grads, "value_fn": batch_loss})
        else:  # the validation loss: not a value a line search could compare with value_fn
            extra = wanted({"value": inputs.value})

        def descend(operands):
            params, state, _ = operands
            updates, state = optimizer.update(grads, state, params, **extra)
            return apply_updates(params, updates), state, new_state

        operands = (params, state, model_state)
        params, state, model_state = jax.lax.cond(go, descend, lambda o: o, operands)
        params, state = layout.params(params), layout.state(state)
        failed = jnp.where((failed < 0) & ~healthy & inputs.active, index, failed)
        return (params, state, model_state, failed), jnp.where(taken, loss, jnp.nan)

    return step
