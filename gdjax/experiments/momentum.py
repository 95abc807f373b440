"""Seed 001's momentum experiment (Fig. 11-8): 22 runs without momentum, 22 with, statistics.

The book's sigmoid MLP (`gdjax.training.models.mlp_init`: uniform init in
[-0.5, 0.5], squared error against one-hot labels) is trained with mini-batch
SGD at lr 1.0, and with momentum 0.9 at lr 0.2. Both settings and all seeds
are one `gdjax.training.fit_many` program (settings zipped:
``{"learning_rate": [1.0, 0.2], "momentum": [0.0, 0.9]}``); seed ``s`` gives
the same initial params and shuffling to both settings. Each run's test
predictions give its accuracy and Matthews correlation coefficient; the report
prints run 0's confusion matrix, accuracy and MCC for each setting, as the book
does, and `gdjax.training.stats.compare` of the MCCs (momentum first): mean ±
standard error, t-test, Mann-Whitney U, Cohen's d and, from 8 runs on, the
normality test the book applies in Fig. 11-9. `gdjax.plot.momentum_figure`
draws Fig. 11-8 from the result.

On Fashion-MNIST (14×14, 196-100-50-10, 40,000 mini-batches of 64) this is the
book's experiment; on digits (64-100-50-10) the default is 10,000 mini-batches.
What it finds on each: docs/experiments.md, "Momentum".
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gdjax._validation import check_int
from gdjax.experiments import _common
from gdjax.training import History, metrics, models, stats

MOMENTUM_STEPS = {"digits": 10_000, "fashion-mnist": 40_000}
"""Default mini-batches of `momentum`. Fashion-MNIST: the book's 40,000. Digits: the
largest round number for which the 44-run experiment stays well under two minutes
on a 2-core CPU (10,000 steps: 37 s for the whole command, compilation included;
20,000 took 87 s), and the book's count for its 100-run Fig. 11-9."""

LEARNING_RATES = (1.0, 0.2)
MOMENTA = (0.0, 0.9)


class MomentumResult(NamedTuple):
    """What `momentum` found. Settings are ``(no momentum, momentum)``, in that order.

    Attributes:
      dataset: ``"digits"`` or ``"fashion-mnist"``.
      sizes: the MLP's layer sizes, e.g. ``(64, 100, 50, 10)``.
      steps: mini-batches per run.
      batch_size: examples per mini-batch.
      learning_rates: ``(1.0, 0.2)``.
      momenta: ``(0.0, 0.9)``.
      accuracy: ``(2, runs)`` test accuracy of every run.
      mcc: ``(2, runs)`` test MCC of every run.
      confusion: ``(2, 10, 10)`` the test confusion matrix of run 0 of each setting.
      comparison: `gdjax.training.stats.Comparison` of the MCCs, momentum first.
      history: the `gdjax.training.History` of all runs, arrays ``(2, runs, ...)``.
      seconds: wall time of the training, all 2 × runs runs as one program,
        compilation included.
    """

    dataset: str
    sizes: tuple[int, ...]
    steps: int
    batch_size: int
    learning_rates: tuple[float, float]
    momenta: tuple[float, float]
    accuracy: np.ndarray
    mcc: np.ndarray
    confusion: np.ndarray
    comparison: stats.Comparison
    history: History
    seconds: float

    @property
    def runs(self) -> int:
        """Runs (seeds) per setting."""
        return int(self.mcc.shape[1])

    @property
    def labels(self) -> tuple[str, str]:
        """The two settings in words: ``("no momentum, lr 1.0", "momentum 0.9, lr 0.2")``."""
        (lr0, lr1), (_, mu) = self.learning_rates, self.momenta
        return f"no momentum, lr {lr0}", f"momentum {mu:g}, lr {lr1:g}"

    def report(self) -> str:
        """The printable report: run 0 of each setting as the book prints it, then the
        statistics of all runs."""
        return _report(self)


def momentum(
    runs: int = 22,
    steps: int | None = None,
    data: _common.Dataset = _common.DIGITS,
    batch_size: int = 64,
    progress: bool = True,
) -> MomentumResult:
    """Seed 001's momentum experiment: 22 runs without momentum, 22 with, then statistics.

    The sigmoid MLP is trained at lr 1.0 without momentum and at lr 0.2 with
    momentum 0.9:

        v = mu v - lr g;   x = x + v           (seed 001 eq. 11.5; gdjax.sgd(lr, mu))

    The method and its results at the defaults: docs/experiments.md, "Momentum".
    The method also heads gdjax/experiments/momentum.py.

    Args:
      runs: runs (seeds) per setting, >= 2. Default 22, the book's.
      steps: mini-batches per run; default 10,000 on digits, 40,000 on Fashion-MNIST.
      data: the data set, `Dataset` (default: digits).
      batch_size: examples per mini-batch. Default 64.
      progress: show a progress bar over the epochs.

    Returns:
      `MomentumResult`.

    Raises:
      ValueError: a bad argument (the message names it and the allowed values).
      FileNotFoundError: Fashion-MNIST's files are not in ``data.directory``.
    """
    owner = "momentum"
    runs = check_int(owner, "runs", runs, 2)
    data = _common.check_dataset(owner, data)
    steps = MOMENTUM_STEPS[data.name] if steps is None else check_int(owner, "steps", steps, 1)
    batch_size, (train, test, sizes) = _common.checked_data(
        owner, batch_size, progress, lambda: _common.mlp_split(data)
    )

    program = _common.Program(
        models.mlp_loss,
        _common.init_of(models.mlp_init, sizes),
        _common.sgd_momentum,
        train,
        seeds=runs,
        settings={"learning_rate": list(LEARNING_RATES), "momentum": list(MOMENTA)},
        batch_size=batch_size,
        steps=steps,
    )
    trained = _common.train(program, progress)
    accuracy, mcc, confusion = _scores(trained.params, test)
    return MomentumResult(
        dataset=data.name,
        sizes=sizes,
        steps=steps,
        batch_size=batch_size,
        learning_rates=LEARNING_RATES,
        momenta=MOMENTA,
        accuracy=accuracy,
        mcc=mcc,
        confusion=confusion,
        comparison=stats.compare(mcc[1], mcc[0], names=("momentum", "no momentum")),
        history=trained.history,
        seconds=trained.seconds,
    )


def _scores(params: Any, test: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(accuracy, mcc, confusion)`` on ``test``: accuracy and MCC ``(2, runs)`` of every
    run, and the ``(2, 10, 10)`` confusion matrix of run 0 of each setting."""
    labels = test["y"]
    predictions = _common.predict(models.mlp_apply, params, test["x"])
    accuracy, mcc = _common.scores(labels, predictions)
    confusion = np.stack(
        [
            np.asarray(metrics.confusion_matrix(labels, predictions[i, 0], _common.CLASSES))
            for i in (0, 1)
        ]
    )
    return accuracy, mcc, confusion


def _report(result: MomentumResult) -> str:
    r = result
    lines = [
        f"seed 001's momentum experiment on {r.dataset}: sigmoid MLP "
        f"{'-'.join(map(str, r.sizes))}, {r.steps:,} mini-batches of {r.batch_size}, "
        f"{r.runs} runs per setting",
        f"training: {2 * r.runs} runs as one vmapped program, {r.seconds:.1f} s "
        "(compilation included)",
    ]
    for i, name in enumerate(r.labels):
        lines += [
            "",
            f"{name}, run 0 (test set):",
            np.array2string(r.confusion[i], max_line_width=120),
            f"accuracy = {r.accuracy[i, 0]:.7f}",
            f"MCC = {r.mcc[i, 0]:.7f}",
        ]
    lines += [
        "",
        f"test MCC of the {r.runs} runs of each setting, mean +/- SE (standard error of the mean):",
        r.comparison.table(),
        *_common.failed_notes(_common.failed(r.history), r.labels),
    ]
    return "\n".join(lines)
