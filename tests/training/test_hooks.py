"""The driver's hooks, each alone on a few arrays: what it decides after an epoch."""

import sys
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pytest

from gdjax.training import EarlyStopping, NonFiniteLossError
from gdjax.training.history import new_records
from gdjax.training.hooks import (
    EarlyStop,
    Epoch,
    KeepLast,
    NonFiniteCheck,
    Record,
    RunState,
    Tally,
)
from gdjax.training.progress import Lines, Progress, postfix
from gdjax.training.resume import Checkpointer


def run_of(shape=(), params=None):
    params = {"w": jnp.zeros((*shape, 2))} if params is None else params
    return RunState(params, None, None, Tally.start(shape), None, new_records(), 0, 0)


def epoch_of(number=1, losses=(1.0, 2.0), failed=-1, running=True, **more):
    losses = np.asarray(losses, np.float32)
    fields = dict(
        number=number,
        first_step=0,
        losses=losses,
        train_loss=np.mean(losses, axis=-1),
        failed=np.asarray(failed),
        running=np.asarray(running),
        validation_loss=None,
        metric=None,
    )
    return Epoch(**{**fields, **more})


# --------------------------------------------------------------------------- Record


def test_record_writes_the_history_the_stopped_epoch_and_the_next_value():
    run = run_of((2,))
    epoch = epoch_of(
        number=3,
        losses=[[1.0, 3.0], [2.0, 2.0]],
        running=[True, False],
        validation_loss=np.array([0.5, 0.25]),
        metric=np.array([0.9, 0.8]),
    )
    Record().after_epoch(run, epoch)
    np.testing.assert_array_equal(run.records["train_loss"][0], [2.0, 2.0])
    np.testing.assert_array_equal(run.records["step_loss"][0], [[1.0, 3.0], [2.0, 2.0]])
    np.testing.assert_array_equal(run.records["validation_loss"][0], [0.5, 0.25])
    np.testing.assert_array_equal(run.records["metric"][0], [0.9, 0.8])
    assert run.tally.value.dtype == np.float32
    np.testing.assert_array_equal(run.tally.value, [0.5, 0.25])  # the next epoch's value=
    np.testing.assert_array_equal(run.tally.stopped_epoch, [3, 0])  # the stopped run stays


def test_record_without_an_evaluation_leaves_value_alone():
    run = run_of()
    Record().after_epoch(run, epoch_of())
    assert run.records["validation_loss"] == run.records["metric"] == []
    assert run.tally.value == np.inf


# --------------------------------------------------------------------------- non-finite


@pytest.mark.parametrize(
    "losses, cause", [((1.0, 2.0, np.nan, np.nan), "loss"), ((1.0, 2.0, 0.0, 0.0), "gradient")]
)
def test_a_non_finite_step_of_fit_raises_with_its_step_and_cause(losses, cause):
    run = run_of()
    epoch = epoch_of(losses=losses, failed=2)._replace(first_step=8)
    with pytest.raises(NonFiniteLossError, match=f"the {cause} is not finite at step 10") as error:
        NonFiniteCheck(strict=True).after_epoch(run, epoch)
    assert error.value.step == 10 and error.value.cause == cause
    assert error.value.params is run.params  # the compiled epoch kept those before the step
    assert run.tally.failed_step == 10 and not run.tally.active


def test_a_non_finite_run_of_fit_many_stands_still_and_the_others_go_on():
    run = run_of((3,))
    run.tally.failed_step = np.array([-1, -1, 1])  # run 2 failed in an earlier epoch
    run.tally.active = np.array([True, True, False])
    epoch = epoch_of(losses=np.ones((3, 4)), failed=[-1, 3, -1], running=[True, True, False])
    NonFiniteCheck(strict=False).after_epoch(run, epoch._replace(first_step=4))
    np.testing.assert_array_equal(run.tally.failed_step, [-1, 7, 1])
    np.testing.assert_array_equal(run.tally.active, [True, False, False])


def test_a_finite_epoch_changes_nothing():
    run = run_of()
    NonFiniteCheck(strict=True).after_epoch(run, epoch_of())
    assert run.tally.failed_step == -1 and run.tally.active


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_keeps_the_best_params_and_stops_after_patience():
    rule = EarlyStopping(patience=3, min_delta=0.1)
    run = run_of((3,))
    hook = EarlyStop(rule)
    hook.start(run)
    run.tally.best = np.array([1.0, 1.0, 1.0])
    run.tally.waited = np.array([2, 2, 0])
    run.params = {"w": jnp.arange(6.0).reshape(3, 2)}
    # Run 0 improves by more than min_delta, run 1 by less (so it waits its third
    # epoch and stops), run 2 did not train this epoch (it neither improves nor waits).
    epoch = epoch_of(
        number=4,
        losses=np.ones((3, 2)),
        running=[True, True, False],
        validation_loss=np.array([0.5, 0.95, 0.0]),
    )
    hook.after_epoch(run, epoch)
    np.testing.assert_array_equal(run.tally.best, [0.5, 1.0, 1.0])
    np.testing.assert_array_equal(run.tally.best_epoch, [4, 0, 0])
    np.testing.assert_array_equal(run.tally.waited, [0, 3, 0])
    np.testing.assert_array_equal(run.tally.active, [True, False, True])
    np.testing.assert_array_equal(run.best_params["w"], [[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    params, best_epoch = hook.kept(run)
    assert params is run.best_params
    np.testing.assert_array_equal(best_epoch, [4, 0, 0])


def test_early_stopping_on_the_training_loss():
    run = run_of()
    hook = EarlyStop(EarlyStopping(patience=1, monitor="train"))
    hook.start(run)
    hook.after_epoch(run, epoch_of(number=1, losses=(1.0, 3.0)))  # train loss 2: improves
    assert run.tally.best == 2.0 and run.tally.best_epoch == 1 and run.tally.active
    hook.after_epoch(run, epoch_of(number=2, losses=(2.0, 3.0)))  # 2.5: no better
    assert run.tally.best_epoch == 1 and not run.tally.active


def test_the_best_params_survive_the_donation_of_the_params():
    run = run_of()
    hook = EarlyStop(EarlyStopping(monitor="train"))
    hook.start(run)
    assert run.best_params["w"] is not run.params["w"]  # a copy, not the donated buffer
    hook.after_epoch(run, epoch_of())
    assert run.best_params["w"] is not run.params["w"]


def test_without_early_stopping_the_last_params_are_kept():
    run = run_of()
    run.tally.stopped_epoch = np.asarray(7)
    params, epoch = KeepLast().kept(run)
    assert params is run.params and epoch == 7


# --------------------------------------------------------------------------- checkpoints


def test_checkpoints_are_due_every_few_epochs_after_the_last_and_when_all_stopped():
    hook = Checkpointer(SimpleNamespace(every=3), lengths=(4, 4, 4, 4, 4, 2))
    run = run_of((2,))
    due = [n for n in range(1, 7) if hook.due(run, epoch_of(number=n))]
    assert due == [3, 6]
    run.tally.active = np.array([False, False])
    assert hook.due(run, epoch_of(number=1))
    run.tally.active = np.array([True, False])
    assert not hook.due(run, epoch_of(number=1))


# --------------------------------------------------------------------------- progress


def test_progress_shows_the_mean_losses_and_metric_over_the_finite_runs():
    epoch = epoch_of(
        losses=[[1.0], [np.nan]],
        validation_loss=np.array([0.5, 1.5]),
        metric=np.array([0.25, 0.75]),
    )
    assert postfix(epoch) == {"loss": "1", "val": "1", "metric": "0.5"}
    assert postfix(epoch_of()) == {"loss": "1.5"}


def test_without_tqdm_progress_is_a_line_per_epoch(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails
    hook = Progress(total=3, description="fit_many")
    run = run_of()
    run.epochs = 1  # resumed after one epoch
    hook.start(run)
    assert isinstance(hook.bar, Lines)
    hook.after_epoch(run, epoch_of(number=2))
    hook.close()
    assert capsys.readouterr().err == "fit_many: epoch 2/3, loss=1.5\n"
