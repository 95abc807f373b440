"""What a training run records: its `History`, and the error that stops a run gone non-finite."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class History(NamedTuple):
    """What a training run recorded, epoch by epoch. For `fit_many` every array has
    the leading run axes ``(settings, seeds)``.

    Attributes:
      train_loss: ``(epochs,)`` mean training loss of each epoch.
      step_loss: ``(steps,)`` the loss of every step.
      validation_loss: ``(epochs,)`` the loss on ``evaluation.data`` after each
        epoch, or None without ``evaluation``.
      metric: ``(epochs,)`` the evaluation's metric, or None without one.
      best_epoch: the epoch (1-based) whose params were kept with early stopping,
        else the last.
      stopped_epoch: the epoch training stopped after (early stopping), else the last.
      failed_step: `fit_many` only: the step at which a run's loss or gradient
        went non-finite (its params are those before it), -1 for none.
    """

    train_loss: np.ndarray
    step_loss: np.ndarray
    validation_loss: np.ndarray | None
    metric: np.ndarray | None
    best_epoch: Any
    stopped_epoch: Any
    failed_step: Any = None


class NonFiniteLossError(FloatingPointError):
    """A step's loss or gradient went NaN or infinite (the name is kept from when
    only the loss was checked). ``step`` is the first such step (0-based, counted
    over the whole run), ``cause`` ``"loss"`` or ``"gradient"`` (a finite loss
    whose gradient is not, ``sqrt`` at 0 say), ``params`` the last finite params
    (before that step), and ``history`` what was recorded until then."""

    def __init__(self, step: int, params: Any, history: History, cause: str = "loss") -> None:
        detail = " (its loss is finite)" if cause == "gradient" else ""
        super().__init__(
            f"the {cause} is not finite at step {step}{detail}; training stopped and the params "
            f"of step {step} (before its update) are kept in error.params"
        )
        self.step = step
        self.cause = cause
        self.params = params
        self.history = history


Records = dict[str, list]
"""The history so far, epoch by epoch: ``{"train_loss", "step_loss", "validation_loss",
"metric"}``, each a list of NumPy arrays with the run axes in front (checkpoints
save and restore it as it is)."""


def new_records() -> Records:
    return {"train_loss": [], "step_loss": [], "validation_loss": [], "metric": []}


def history(records: Records, best_epoch: Any, stopped_epoch: Any, failed_step: Any) -> History:
    """The `History` of ``records``; one run's epochs as ints, many runs' as arrays
    (``failed_step`` only for many)."""

    def stack(name: str) -> np.ndarray | None:
        return np.stack(records[name], axis=-1) if records[name] else None

    steps = records["step_loss"]
    scalar = np.ndim(best_epoch) == 0
    return History(
        train_loss=stack("train_loss"),
        step_loss=np.concatenate(steps, axis=-1) if steps else None,
        validation_loss=stack("validation_loss"),
        metric=stack("metric"),
        best_epoch=int(best_epoch) if scalar else best_epoch,
        stopped_epoch=int(stopped_epoch) if scalar else stopped_epoch,
        failed_step=None if failed_step is None or scalar else failed_step,
    )


def finite_mean(values: Any, axis: int | None = None) -> np.ndarray:
    """The mean of the finite values (NaN where there are none), without warnings."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    count = finite.sum(axis=axis)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
