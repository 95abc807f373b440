"""The options of `fit` and `fit_many`, one small NamedTuple per concern, and their checks.

`Batching` says how an epoch is cut into batches, `Evaluation` what is
evaluated after every epoch, `EarlyStopping` when to stop, and
`Checkpointing` where and how often a run saves itself. `Options` bundles
the options the two loops share, so both hand one value to the driver, and
`checked` checks them all at the boundary, naming each as the user wrote it
(``fit: batching.batch_size must be ...``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

from gdjax._validation import check_flag, check_int, check_range
from gdjax.distributed.data_parallel import DataParallel
from gdjax.training.data import batches_per_epoch, epoch_orders, num_examples


class Batching(NamedTuple):
    """How an epoch is cut into batches (seed 002 §2, §6.1).

    Attributes:
      batch_size: examples per step: ``None`` (the default) every example, batch
        gradient descent; ``1`` stochastic gradient descent; ``n`` mini-batch descent.
      shuffle: reshuffle the examples every epoch, epoch ``e`` with
        ``fold_in(key, e)``. Default True; False keeps the data's order.
      order: instead of shuffling, the example indices in the order to take them
        (a curriculum), -1 in a slot left out: one row ``(examples,)`` for every
        epoch, or one per epoch ``(epochs, examples)``, epoch ``e`` (from 0) taking
        row ``e`` and the epochs past the last row the last row. An epoch that
        leaves examples out keeps its number of steps; its slots left out are
        masked like the padding of a partial last batch, and a step without an
        example trains nothing (its loss is NaN in ``history.step_loss``). See
        `gdjax.training.epoch_batches`. Default None.
      drop_last: leave out the last, partial batch instead of padding it (the
        padding is masked out of per-example losses). Default False.
    """

    batch_size: int | None = None
    shuffle: bool = True
    order: Any = None
    drop_last: bool = False


class Evaluation(NamedTuple):
    """What is evaluated after every epoch (and once before the first).

    Attributes:
      data: a dataset (a pytree of arrays sharing their first axis), evaluated
        full-batch: ``history.validation_loss``, and the ``value=`` the next epoch
        hands the optimizer (what `gdjax.reduce_on_plateau` reads).
      metric: ``(params, batch) -> per-example values`` (e.g. correct or not),
        averaged over ``data``: ``history.metric``; with ``model_state=``,
        ``(params, model_state, batch) -> values``, in evaluation mode. Default None.
    """

    data: Any
    metric: Callable | None = None


class EarlyStopping(NamedTuple):
    """Stop when the monitored loss has not improved for ``patience`` epochs (seed 002 §6.3).

    Improvement means falling below the best so far by more than ``min_delta``.
    The best params are restored at the end.

    Attributes:
      patience: epochs without improvement before stopping, >= 1.
      min_delta: the improvement that counts, >= 0.
      monitor: ``"validation"`` (the default; needs ``evaluation=``) or ``"train"``.
    """

    patience: int = 5
    min_delta: float = 0.0
    monitor: str = "validation"


class Checkpointing(NamedTuple):
    """Where and how often a run saves itself (`gdjax.checkpoint`, needs the
    ``checkpoint`` extra), and whether it continues a saved run.

    Attributes:
      directory: the run's checkpoints. A directory that already holds some
        needs ``resume=True``.
      every: epochs between checkpoints, >= 1; the last epoch is always saved.
        Default 1.
      resume: continue from the latest checkpoint in ``directory`` (start afresh
        if there is none), bit-identical to an uninterrupted run. Default False.
    """

    directory: str | os.PathLike
    every: int = 1
    resume: bool = False


class Options(NamedTuple):
    """The options `fit` and `fit_many` share, as the driver receives them; each is
    documented at `fit`."""

    epochs: int | None
    steps: int | None
    batching: Batching
    evaluation: Evaluation | None
    early_stopping: EarlyStopping | None
    checkpointing: Checkpointing | None
    progress: bool


class Plan(NamedTuple):
    """What the options make of a dataset."""

    examples: int
    per_epoch: int  # batches in a full epoch
    lengths: tuple[int, ...]  # the steps of each epoch; the last may be shorter


def checked(options: Options, train: Any, caller: str) -> tuple[Options, Plan]:
    """Checks ``options`` for a run of ``caller`` on ``train``; returns them (the batch
    size an ``int``, the order an array) with their `Plan`.

    Raises:
      ValueError: an option is of the wrong kind or out of range; the message names
        it as the user wrote it (``fit: batching.batch_size ...``).
    """
    examples = _examples(train, caller, "train")
    batching = _check_batching(options.batching, examples, caller)
    _check_evaluation(options.evaluation, caller)
    _check_early_stopping(options.early_stopping, options.evaluation, caller)
    _check_checkpointing(options.checkpointing, caller)
    check_flag(caller, "progress", options.progress)
    per_epoch = batches_per_epoch(examples, batching.batch_size, batching.drop_last)
    lengths = _lengths(options.epochs, options.steps, per_epoch, caller)
    return options._replace(batching=batching), Plan(examples, per_epoch, lengths)


def check_parallel(parallel: Any, batching: Batching, plan: Plan, caller: str) -> None:
    """``fit``'s ``parallel``: None, or a `DataParallel` whose data axis splits every
    batch evenly."""
    if parallel is None:
        return
    if not isinstance(parallel, DataParallel):
        raise ValueError(
            f"{caller}: parallel must be a gdjax.distributed.DataParallel (from "
            f"data_parallel()) or None, got {parallel!r}"
        )
    rows = batching.batch_size or plan.examples
    if rows % parallel.size:
        raise ValueError(
            f"{caller}: batches of {rows} examples cannot be split evenly over the "
            f"{parallel.size} devices of the mesh axis {parallel.axis!r}; give a "
            f"batching.batch_size that is a multiple of {parallel.size}"
        )


def _is(value: Any, kind: type, caller: str, name: str, optional: bool = True) -> bool:
    """Whether ``value`` is given (not None); refuses anything but a ``kind``."""
    if value is None and optional:
        return False
    if not isinstance(value, kind):
        allowed = f"a gdjax.training.{kind.__name__}" + (" or None" if optional else "")
        raise ValueError(f"{caller}: {name} must be {allowed}, got {value!r}")
    return True


def _examples(data: Any, caller: str, name: str) -> int:
    try:
        return num_examples(data)
    except ValueError as error:
        raise ValueError(f"{caller}: {name}: {error}") from None


def _check_batching(batching: Any, examples: int, caller: str) -> Batching:
    _is(batching, Batching, caller, "batching", optional=False)
    size = batching.batch_size
    if size is not None:
        size = check_int(caller, "batching.batch_size", size, 1)
        if size > examples:
            raise ValueError(
                f"{caller}: batching.batch_size {size} is larger than the {examples} examples"
            )
    check_flag(caller, "batching.shuffle", batching.shuffle)
    check_flag(caller, "batching.drop_last", batching.drop_last)
    order = batching.order
    if order is not None:
        # drop_last cuts batches of the examples an epoch takes: each row must fill one.
        least = size if batching.drop_last and size is not None else 1
        try:
            order = epoch_orders(order, examples, least)
        except ValueError as error:
            raise ValueError(f"{caller}: batching.order {error}") from None
    return batching._replace(batch_size=size, order=order)


def _check_evaluation(evaluation: Any, caller: str) -> None:
    if not _is(evaluation, Evaluation, caller, "evaluation"):
        return
    _examples(evaluation.data, caller, "evaluation.data")
    if evaluation.metric is not None and not callable(evaluation.metric):
        raise ValueError(
            f"{caller}: evaluation.metric must be a function (params, batch) -> per-example "
            f"values, or None; got {evaluation.metric!r}"
        )


def _check_early_stopping(rule: Any, evaluation: Evaluation | None, caller: str) -> None:
    if not _is(rule, EarlyStopping, caller, "early_stopping"):
        return
    check_int(caller, "early_stopping.patience", rule.patience, 1)
    check_range(caller, "early_stopping.min_delta", rule.min_delta, "[0, inf)")
    if rule.monitor not in ("validation", "train"):
        raise ValueError(
            f"{caller}: early_stopping.monitor must be 'validation' or 'train', "
            f"got {rule.monitor!r}"
        )
    if rule.monitor == "validation" and evaluation is None:
        raise ValueError(
            f"{caller}: early stopping on the validation loss needs evaluation= "
            "(an Evaluation of a validation set), or early_stopping.monitor='train'"
        )


def _check_checkpointing(checkpointing: Any, caller: str) -> None:
    if not _is(checkpointing, Checkpointing, caller, "checkpointing"):
        return
    if not isinstance(checkpointing.directory, (str, os.PathLike)):
        raise ValueError(
            f"{caller}: checkpointing.directory must be a path (a str or os.PathLike), "
            f"got {checkpointing.directory!r}"
        )
    check_int(caller, "checkpointing.every", checkpointing.every, 1)
    check_flag(caller, "checkpointing.resume", checkpointing.resume)


def _lengths(epochs: Any, steps: Any, per_epoch: int, caller: str) -> tuple[int, ...]:
    """The number of steps in each epoch: full epochs, the last one possibly shorter."""
    if (epochs is None) == (steps is None):
        raise ValueError(f"{caller}: give exactly one of epochs= and steps=")
    if epochs is not None:
        return (per_epoch,) * int(check_int(caller, "epochs", epochs, 1))
    full, rest = divmod(int(check_int(caller, "steps", steps, 1)), per_epoch)
    return (per_epoch,) * full + ((rest,) if rest else ())
