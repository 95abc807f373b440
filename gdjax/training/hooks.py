"""What the driver does between epochs, one concern per hook.

The driver carries a run from epoch to epoch as a `RunState`; after each epoch
it hands every hook the run and what the epoch gave (an `Epoch`, on the host),
in a fixed order: `Record` writes the history, `NonFiniteCheck` stops runs
whose loss or gradient went non-finite, `EarlyStop` (or `KeepLast`) decides
which params are kept and who trains on, then the checkpoints
(`gdjax.training.resume.Checkpointer`) and the progress display
(`gdjax.training.progress.Progress`). Each works on NumPy arrays with the run
axes in front (none for `fit`), so each can be tried alone on a few arrays.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdjax.training.history import NonFiniteLossError, Records, history
from gdjax.training.options import EarlyStopping


@dataclasses.dataclass
class Tally:
    """The driver's per-run bookkeeping between epochs: NumPy arrays with the run axes.

    Checkpoints save and restore it field by field.
    """

    value: np.ndarray  # the next epoch's value= (the last validation loss)
    active: np.ndarray  # still training
    failed_step: np.ndarray  # the first non-finite step, -1 for none
    best: np.ndarray  # early stopping: the best monitored loss so far
    best_epoch: np.ndarray
    stopped_epoch: np.ndarray
    waited: np.ndarray  # early stopping: epochs without improvement

    @classmethod
    def start(cls, shape: tuple[int, ...]) -> Tally:
        return cls(
            value=np.full(shape, np.inf, np.float32),
            active=np.ones(shape, bool),
            failed_step=np.full(shape, -1, np.int64),
            best=np.full(shape, np.inf, np.float64),
            best_epoch=np.zeros(shape, np.int64),
            stopped_epoch=np.zeros(shape, np.int64),
            waited=np.zeros(shape, np.int64),
        )


@dataclasses.dataclass
class RunState:
    """Everything a run carries from one epoch to the next (what a checkpoint holds)."""

    params: Any
    opt_state: Any
    keys: Any  # the data-shuffling keys, one per run
    tally: Tally
    best_params: Any  # early stopping: the best params so far, else None
    records: Records
    epochs: int  # epochs done
    steps: int  # optimizer steps done (skipped ones of stopped runs included)
    model_state: Any = None  # the model's untrained state (running averages), else None
    best_model_state: Any = None  # early stopping: the model state of the best params


class Epoch(NamedTuple):
    """What one epoch gave, on the host: arrays with the run axes in front."""

    number: int  # 1-based
    first_step: int  # the steps done before it
    losses: np.ndarray  # (runs..., steps) the loss of every step
    train_loss: np.ndarray  # the mean of the finite ones
    failed: np.ndarray  # the epoch's first non-finite step, -1 for none
    running: np.ndarray  # the runs that were active during the epoch
    validation_loss: np.ndarray | None  # after the epoch, None without an evaluation
    metric: np.ndarray | None


class Hook:
    """One concern of the driver. Every method does nothing unless overridden."""

    def start(self, run: RunState) -> None:
        """Before the first epoch (a resumed run: after the checkpoints restored it)."""

    def after_epoch(self, run: RunState, epoch: Epoch) -> None:
        """After each epoch, in the order the driver lists its hooks."""

    def close(self) -> None:
        """When training ends, normally or with an error."""


class Record(Hook):
    """Writes the epoch into the history, the epoch each run stopped after, and the
    ``value=`` the next epoch hands the optimizer (the last validation loss)."""

    def after_epoch(self, run: RunState, epoch: Epoch) -> None:
        run.records["train_loss"].append(epoch.train_loss)
        run.records["step_loss"].append(epoch.losses)
        if epoch.validation_loss is not None:
            run.records["validation_loss"].append(epoch.validation_loss)
            run.tally.value = np.asarray(epoch.validation_loss, np.float32)
        if epoch.metric is not None:
            run.records["metric"].append(epoch.metric)
        tally = run.tally
        tally.stopped_epoch = np.where(epoch.running, epoch.number, tally.stopped_epoch)


class NonFiniteCheck(Hook):
    """Stops the runs whose loss or gradient went non-finite in the epoch (the compiled
    epoch already kept their params from before that step).

    ``strict`` (`fit`): raise `NonFiniteLossError` naming the step and which of
    the two went bad. Else (`fit_many`) the run stands still from then on and its
    step is in ``history.failed_step``, while the others go on.
    """

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def after_epoch(self, run: RunState, epoch: Epoch) -> None:
        tally = run.tally
        newly = (epoch.failed >= 0) & (tally.failed_step < 0)
        tally.failed_step = np.where(newly, epoch.first_step + epoch.failed, tally.failed_step)
        if not newly.any():
            return
        tally.active = tally.active & ~newly
        if self.strict:  # one run: scalars
            bad = epoch.losses[int(epoch.failed)]
            params = run.params if run.model_state is None else (run.params, run.model_state)
            raise NonFiniteLossError(
                int(tally.failed_step),
                params,
                history(run.records, tally.best_epoch, tally.stopped_epoch, None),
                "loss" if not np.isfinite(bad) else "gradient",
            )


class KeepLast(Hook):
    """Without early stopping: the run keeps its last params."""

    def kept(self, run: RunState) -> tuple[Any, np.ndarray]:
        """The params to return, and the epoch they are from."""
        return run.params, run.tally.stopped_epoch

    def kept_state(self, run: RunState) -> Any:
        """The model state that goes with the kept params."""
        return run.model_state


class EarlyStop(Hook):
    """Early stopping (seed 002 §6.3): each run keeps its best params so far, and stops
    after ``rule.patience`` epochs without improving by more than ``rule.min_delta``."""

    def __init__(self, rule: EarlyStopping) -> None:
        self.rule = rule

    def start(self, run: RunState) -> None:
        run.best_params = copy(run.params)
        run.best_model_state = copy(run.model_state)

    def after_epoch(self, run: RunState, epoch: Epoch) -> None:
        tally, rule = run.tally, self.rule
        monitored = epoch.validation_loss if rule.monitor == "validation" else epoch.train_loss
        improved = epoch.running & (monitored < tally.best - rule.min_delta)
        tally.best = np.where(improved, monitored, tally.best)
        tally.best_epoch = np.where(improved, epoch.number, tally.best_epoch)
        waited = np.where(epoch.running, tally.waited + 1, tally.waited)
        tally.waited = np.where(improved, 0, waited)
        # where() makes new buffers: the kept params survive the next epoch's donation.
        run.best_params = where(improved, run.params, run.best_params)
        run.best_model_state = where(improved, run.model_state, run.best_model_state)
        tally.active = tally.active & (tally.waited < rule.patience)

    def kept(self, run: RunState) -> tuple[Any, np.ndarray]:
        """The params to return, and the epoch they are from."""
        return run.best_params, run.tally.best_epoch

    def kept_state(self, run: RunState) -> Any:
        """The model state of the best params (the running averages they were trained with)."""
        return run.best_model_state


def copy(tree: Any) -> Any:
    """A copy of every leaf: the epoch donates params and state, so kept values must be
    copies."""
    return jax.tree.map(jnp.copy, tree)


def where(condition: Any, new: Any, old: Any) -> Any:
    """Per run: ``new`` where ``condition`` holds, else ``old`` (condition has the run axes)."""

    def pick(n, o):
        c = jnp.reshape(
            condition, jnp.shape(condition) + (1,) * (jnp.ndim(n) - jnp.ndim(condition))
        )
        return jnp.where(c, n, o)

    return jax.tree.map(pick, new, old)
