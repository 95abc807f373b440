"""Seed 002 §6.3: early stopping, seen on whole validation curves trained past overfitting.

The text stops training when the validation error has not improved for a
while and keeps the best params. To see the whole picture nothing is
stopped here: a large ReLU MLP (``depth`` hidden layers of ``width``, He
init) is trained with Adam on a small training set (``train_size`` digits,
stratified) until well past overfitting, ``runs`` seeds as one
`gdjax.training.fit_many` program. After every epoch the program records
the validation loss (`VALIDATION_EXAMPLES` other training digits) and the
test MCC: the `gdjax.training.Evaluation` metric is the MCC of the test
predictions, a scalar the evaluation keeps as it is, so every epoch's test
score is known without keeping every epoch's params.

Then, per run, `stopping_epoch` replays `gdjax.training.EarlyStopping`
(``patience``, ``min_delta=0``) on the recorded validation curve: the epoch
whose params it would keep (the best validation loss before it stops) and
the epoch it would stop after. The report compares the test MCC at the
chosen epoch with the test MCC after the last epoch
(`gdjax.training.stats.compare`, early stopping first). Nothing is drawn:
`gdjax.plot.early_stopping_figure` draws the curves with the chosen epochs.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

import gdjax
from gdjax._validation import check_int, check_range
from gdjax.experiments import _common
from gdjax.training import Evaluation, History, datasets, metrics, models, stats

VALIDATION_EXAMPLES = 400
"""Validation examples, drawn (stratified) from the digits training split beside the
small training set."""


class EarlyStoppingResult(NamedTuple):
    """What `early_stopping` found.

    Attributes:
      train_size: training examples.
      width: units per hidden layer.
      depth: hidden layers.
      epochs: passes over the training set, all recorded (no run is stopped).
      batch_size: examples per mini-batch.
      learning_rate: Adam's rate.
      patience: the `gdjax.training.EarlyStopping` patience the chosen epochs follow.
      validation_loss: ``(runs, epochs)`` the validation loss after every epoch.
      test_mcc: ``(runs, epochs)`` the test MCC after every epoch.
      chosen_epoch: ``(runs,)`` the epoch (1-based) whose params
        ``EarlyStopping(patience)`` would keep: the best validation loss up to the
        epoch it would stop after (`stopping_epoch`).
      stopped_epoch: ``(runs,)`` the epoch it would stop after (``epochs`` if never).
      mcc_chosen: ``(runs,)`` the test MCC at the chosen epoch.
      mcc_end: ``(runs,)`` the test MCC after the last epoch.
      comparison: `gdjax.training.stats.Comparison` of the two, early stopping first.
      history: the `gdjax.training.History` of the runs, arrays ``(1, runs, ...)``.
      seconds: wall time of all runs, one program, compilation included.
    """

    train_size: int
    width: int
    depth: int
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    validation_loss: np.ndarray
    test_mcc: np.ndarray
    chosen_epoch: np.ndarray
    stopped_epoch: np.ndarray
    mcc_chosen: np.ndarray
    mcc_end: np.ndarray
    comparison: stats.Comparison
    history: History
    seconds: float

    @property
    def runs(self) -> int:
        """Seeds."""
        return int(self.chosen_epoch.shape[0])

    def report(self) -> str:
        """The printable report: the chosen epochs, the test MCC there and at the end, run
        by run, and their comparison."""
        return _report(self)


def early_stopping(
    runs: int = 10,
    epochs: int = 60,
    train_size: int = 200,
    patience: int = 10,
    learning_rate: float = 0.001,
    width: int = 256,
    depth: int = 2,
    batch_size: int = 20,
    progress: bool = True,
) -> EarlyStoppingResult:
    """Seed 002 §6.3: what early stopping picks, and what it is worth on the test set.

    The method and its results at the defaults: docs/experiments.md, "Early stopping".
    The method also heads gdjax/experiments/early_stopping.py.

    Args:
      runs: seeds, >= 2. Default 10.
      epochs: passes over the training set, >= 1. Default 60.
      train_size: training examples, 10 to 900 (the rest of the digits training
        split must hold the validation set); each class gets its share, rounded,
        so 200 gives 199. Default 200.
      patience: epochs without improvement before early stopping stops, >= 1.
        Default 10.
      learning_rate: Adam's rate, > 0. Default 0.001.
      width: units per hidden layer, >= 1. Default 256.
      depth: hidden layers, >= 1. Default 2.
      batch_size: examples per mini-batch, at most ``train_size``. Default 20.
      progress: show a progress bar over the epochs.

    Returns:
      `EarlyStoppingResult`.

    Raises:
      ValueError: a bad argument (the message names it and the allowed values).
    """
    owner = "early_stopping"
    runs = check_int(owner, "runs", runs, 2)
    epochs = check_int(owner, "epochs", epochs, 1)
    train_size = check_int(owner, "train_size", train_size, 10)
    if train_size > 900:
        raise ValueError(f"{owner}: train_size must be at most 900, got {train_size}")
    patience = check_int(owner, "patience", patience, 1)
    learning_rate = float(check_range(owner, "learning_rate", learning_rate, "(0, inf)"))
    width = check_int(owner, "width", width, 1)
    depth = check_int(owner, "depth", depth, 1)
    batch_size, (train, validation) = _common.checked_data(
        owner, batch_size, progress, lambda: _split(train_size)
    )

    program = _common.Program(
        _common.deep_mlp_loss,
        _common.init_of(models.deep_mlp_init, 64, width, depth, _common.CLASSES),
        lambda: gdjax.adam(learning_rate),
        train,
        seeds=runs,
        settings={},
        batch_size=batch_size,
        epochs=epochs,
        evaluation=Evaluation(validation, metric=_digits_test_mcc()),
    )
    measured = _replayed(_common.train(program, progress), patience)
    return EarlyStoppingResult(
        train_size=len(train["y"]),
        width=width,
        depth=depth,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        **measured,
    )


def _replayed(trained: _common.Trained, patience: int) -> dict[str, Any]:
    """The measured fields of `EarlyStoppingResult`: the recorded curves, and early
    stopping replayed on each run's validation curve (`stopping_epoch`)."""
    curves = np.asarray(trained.history.validation_loss, np.float64)[0]
    test_mcc = np.asarray(trained.history.metric, np.float64)[0]
    chosen, stopped = np.transpose([stopping_epoch(curve, patience) for curve in curves])
    mcc_chosen, mcc_end = test_mcc[np.arange(len(curves)), chosen - 1], test_mcc[:, -1]
    return {
        "validation_loss": curves,
        "test_mcc": test_mcc,
        "chosen_epoch": chosen,
        "stopped_epoch": stopped,
        "mcc_chosen": mcc_chosen,
        "mcc_end": mcc_end,
        "comparison": stats.compare(mcc_chosen, mcc_end, names=("early stopping", "last epoch")),
        "history": trained.history,
        "seconds": trained.seconds,
    }


def _split(train_size: int) -> tuple[dict, dict]:
    """Digits: ``train_size`` training and `VALIDATION_EXAMPLES` validation examples, both
    stratified from the training split."""
    split = datasets.digits()
    labels = split.train["y"]
    rest, train = datasets.stratified_split(labels, train_size / len(labels), seed=1)
    share = VALIDATION_EXAMPLES / len(rest)
    _, held = datasets.stratified_split(labels[rest], share, seed=2)
    validation = rest[held]
    return (
        {k: v[train] for k, v in split.train.items()},
        {k: v[validation] for k, v in split.train.items()},
    )


@functools.cache
def _digits_test_mcc():
    """`mcc_metric` of the digits test split, one function per process: programs are kept
    on the metric's identity, so a second call compiles nothing."""
    return mcc_metric(datasets.digits().test)


def mcc_metric(test: dict):
    """An `Evaluation` metric ``(params, batch) -> MCC on test``: it ignores the evaluated
    batch and scores the (fixed) test set, so the history holds every epoch's test MCC."""
    x, y = jnp.asarray(test["x"]), jnp.asarray(test["y"])

    def metric(params, batch):
        del batch
        predictions = jnp.argmax(models.deep_mlp_apply(params, x), axis=-1)
        return metrics.matthews_corrcoef(y, predictions, _common.CLASSES)

    return metric


def stopping_epoch(curve: np.ndarray, patience: int, min_delta: float = 0.0) -> tuple[int, int]:
    """``(kept, stopped)``: the epochs (1-based) `gdjax.training.EarlyStopping` would keep
    the params of and stop after, replayed on a recorded validation ``curve``.

    As the training hook does: an epoch improves when its loss is below the best so
    far by more than ``min_delta`` (the first epoch always does); after
    ``patience`` epochs in a row without improving, training stops; the kept
    params are those of the last improving epoch. A curve that never waits that
    long is kept to its best epoch and stops after its last.
    """
    best, kept, waited = np.inf, 0, 0
    for epoch, loss in enumerate(np.asarray(curve, np.float64), start=1):
        if loss < best - min_delta:
            best, kept, waited = loss, epoch, 0
        else:
            waited += 1
        if waited >= patience:
            return kept, epoch
    return kept, len(curve)


def _report(result: EarlyStoppingResult) -> str:
    r = result
    min_epoch = np.argmin(r.validation_loss, axis=1) + 1
    lines = [
        f"seed 002 §6.3 early stopping on digits: ReLU MLP, {r.depth} hidden layers of "
        f"{r.width}, {r.train_size} training examples, {r.epochs} epochs of mini-batches of "
        f"{r.batch_size}, Adam lr {r.learning_rate:g}, {r.runs} runs",
        f"early stopping replayed on each recorded validation curve: patience {r.patience}",
        f"training: {r.runs} runs as one vmapped program, {r.seconds:.1f} s (compilation included)",
        "",
        *_common.aligned_table(_run_rows(r, min_epoch)),
        "",
        f"chosen epoch: mean {r.chosen_epoch.mean():.1f}, range "
        f"{r.chosen_epoch.min()}-{r.chosen_epoch.max()}; the minimum of the validation loss: "
        f"mean {min_epoch.mean():.1f}",
        f"validation loss at the chosen epoch {_common.mean_se(_at(r, r.chosen_epoch), 4)}, "
        f"after the last {_common.mean_se(r.validation_loss[:, -1], 4)}",
        "",
        "test MCC, mean +/- SE (standard error of the mean over the runs):",
        r.comparison.table(),
        *_common.failed_notes(_common.failed(r.history), ("the runs",)),
    ]
    return "\n".join(lines)


def _at(r: EarlyStoppingResult, epochs: np.ndarray) -> np.ndarray:
    return r.validation_loss[np.arange(r.runs), epochs - 1]


def _run_rows(r: EarlyStoppingResult, min_epoch: np.ndarray) -> list[tuple[str, ...]]:
    rows = [("run", "chosen epoch", "stopped after", "min. val. loss at", "MCC chosen", "MCC end")]
    for i in range(r.runs):
        rows.append(
            (
                str(i),
                str(r.chosen_epoch[i]),
                str(r.stopped_epoch[i]),
                str(min_epoch[i]),
                f"{r.mcc_chosen[i]:.5f}",
                f"{r.mcc_end[i]:.5f}",
            )
        )
    return rows
