"""Seed 002 §6.1: shuffling every epoch against a class-sorted order and a curriculum.

The text shuffles the training data every epoch, because a meaningful order
(all examples of one class, then the next) biases each stretch of updates
towards one class; it also notes that a well-chosen order can help:
curriculum learning (Bengio et al. 2009) shows easy examples first. A ReLU
MLP (`gdjax.training.models.deep_mlp_init`, ``depth`` hidden layers of
``width``) is trained on digits with softmax cross-entropy and mini-batch
SGD, ``runs`` seeds in three variants:

- shuffled: a new permutation every epoch (``Batching(shuffle=True)``);
- sorted by class: every epoch all 0s, then all 1s, ... (a fixed ``order``);
- curriculum: easy examples first, growing to the full set (a per-epoch
  ``order``, `curriculum_orders`): the first epoch takes the easiest 25%
  (`CURRICULUM_START`), each epoch of the first half (`CURRICULUM_GROWTH`)
  a linearly larger share, and the second half the full set; every epoch
  from easiest to hardest. Difficulty is the margin of a multinomial
  logistic regression (scikit-learn, ``C=1``, fit on the same training
  examples): the logit of the true class minus the largest other logit;
  the largest margin comes first.

A seed gives all three variants the same initial params, so they differ
by the order alone. Each variant's runs are one `gdjax.training.fit_many`
program (vmapped over the seeds): the order is the program's batching,
which one program shares among its runs, hence three programs. A
curriculum epoch keeps the steps of a full one (so all epochs are one
compiled program); the steps past its examples train nothing, so the
first epochs make fewer updates: 9 of 34 in the first at the defaults.

After every epoch the validation loss is recorded (20% of each class of the
digits training split, held out); at the end each run's test MCC. The
report gives the learning curves as mean +/- SE per epoch and
`gdjax.training.stats.compare` of the MCCs of every pair of variants.
Nothing is drawn: `gdjax.plot.order_figure` draws the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

import gdjax
from gdjax._validation import check_int, check_range
from gdjax.experiments import _common
from gdjax.training import Evaluation, History, datasets, models, stats

VARIANTS = ("shuffled", "sorted by class", "curriculum")
"""The three orders, in the order of every ``(3, ...)`` array of `OrderResult`."""

VALIDATION_FRACTION = 0.2
"""Share of each class of the digits training split held out as the validation set."""

CURRICULUM_START = 0.25
"""The curriculum's first epoch: this share of the training set, the easiest examples."""

CURRICULUM_GROWTH = 0.5
"""The share of the epochs over which the curriculum grows, linearly, to the full set."""


class OrderResult(NamedTuple):
    """What `order` found. Variants are `VARIANTS`: shuffled, sorted by class, curriculum.

    Attributes:
      width: units per hidden layer of the ReLU MLP.
      depth: hidden layers.
      epochs: passes over the training set.
      batch_size: examples per mini-batch.
      learning_rate: SGD's rate, every variant.
      margin: ``(n_train,)`` each training example's margin under the logistic
        regression (the true class's logit minus the largest other): the curriculum's
        difficulty measure, large is easy.
      orders: ``(2, n_train)`` the class-sorted order and the curriculum's ranking,
        easiest to hardest (example indices).
      curriculum: ``(epochs, n_train)`` the curriculum's order of each epoch (the
        ``Batching(order=...)`` of that variant): row ``e`` the examples of epoch
        ``e + 1``, easiest first, then -1 in the slots left out.
      validation_loss: ``(3, runs, epochs)`` the mean cross-entropy on the
        validation set after every epoch.
      curve_mean: ``(3, epochs)`` its mean over the runs.
      curve_se: ``(3, epochs)`` the standard error of that mean.
      accuracy: ``(3, runs)`` the final test accuracy.
      mcc: ``(3, runs)`` the final test MCC.
      comparisons: `gdjax.training.stats.Comparison` of the test MCCs of every pair
        of variants: (shuffled, sorted), (shuffled, curriculum), (curriculum, sorted).
      histories: the `gdjax.training.History` of each variant's runs, arrays
        ``(1, runs, ...)``.
      seconds: ``(3,)`` wall time of each variant's runs, one program each,
        compilation included.
    """

    width: int
    depth: int
    epochs: int
    batch_size: int
    learning_rate: float
    margin: np.ndarray
    orders: np.ndarray
    curriculum: np.ndarray
    validation_loss: np.ndarray
    curve_mean: np.ndarray
    curve_se: np.ndarray
    accuracy: np.ndarray
    mcc: np.ndarray
    comparisons: tuple[stats.Comparison, ...]
    histories: tuple[History, ...]
    seconds: np.ndarray

    @property
    def runs(self) -> int:
        """Seeds per variant."""
        return int(self.mcc.shape[1])

    @property
    def labels(self) -> tuple[str, ...]:
        """The three variants in words (`VARIANTS`)."""
        return VARIANTS

    def report(self) -> str:
        """The printable report: the learning curves (mean +/- SE every few epochs), the
        final test MCC per variant and the pairwise comparisons."""
        return _report(self)


def order(
    runs: int = 10,
    epochs: int = 20,
    learning_rate: float = 0.05,
    width: int = 100,
    depth: int = 2,
    batch_size: int = 32,
    progress: bool = True,
) -> OrderResult:
    """Seed 002 §6.1: does the order of the examples matter?

    The method and its results at the defaults: docs/experiments.md, "Example order".
    The method also heads gdjax/experiments/order.py.

    Args:
      runs: seeds per variant, >= 2. Default 10.
      epochs: passes over the training set, >= 1. Default 20.
      learning_rate: SGD's rate, > 0. Default 0.05.
      width: units per hidden layer, >= 1. Default 100.
      depth: hidden layers, >= 1. Default 2.
      batch_size: examples per mini-batch. Default 32.
      progress: show a progress bar over the epochs.

    Returns:
      `OrderResult`.

    Raises:
      ValueError: a bad argument (the message names it and the allowed values).
    """
    owner = "order"
    runs = check_int(owner, "runs", runs, 2)
    epochs = check_int(owner, "epochs", epochs, 1)
    learning_rate = float(check_range(owner, "learning_rate", learning_rate, "(0, inf)"))
    width = check_int(owner, "width", width, 1)
    depth = check_int(owner, "depth", depth, 1)
    batch_size, (train, validation, test) = _common.checked_data(
        owner, batch_size, progress, _split
    )
    margin = logistic_margin(train)
    orders = np.stack([class_order(train["y"]), curriculum_order(margin)])
    curriculum = curriculum_orders(orders[1], epochs)

    # One init and one optimizer for the three programs, which differ in the order
    # alone: fit_many keeps its compiled programs on these functions.
    shuffled = _common.Program(
        _common.deep_mlp_loss,
        _common.init_of(models.deep_mlp_init, 64, width, depth, _common.CLASSES),
        lambda: gdjax.sgd(learning_rate),
        train,
        seeds=runs,
        settings={},
        batch_size=batch_size,
        epochs=epochs,
        evaluation=Evaluation(validation),
    )
    variants = [shuffled._replace(order=fixed) for fixed in (None, orders[0], curriculum)]
    measured = _measured([_common.train(program, progress) for program in variants], test)
    return OrderResult(
        width=width,
        depth=depth,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        margin=margin,
        orders=orders,
        curriculum=curriculum,
        **measured,
    )


def _measured(trained: Sequence[_common.Trained], test: dict) -> dict[str, Any]:
    """The measured fields of `OrderResult` from the variants' programs: the validation
    curves and their statistics, the test scores and their comparisons."""
    predictions = np.concatenate(
        [_common.predict(models.deep_mlp_apply, t.params, test["x"]) for t in trained]
    )
    accuracy, mcc = _common.scores(test["y"], predictions)
    curves = np.concatenate([np.asarray(t.history.validation_loss, np.float64) for t in trained])
    mean, se = curve_statistics(curves)
    return {
        "validation_loss": curves,
        "curve_mean": mean,
        "curve_se": se,
        "accuracy": accuracy,
        "mcc": mcc,
        "comparisons": _compare(mcc),
        "histories": tuple(t.history for t in trained),
        "seconds": np.asarray([t.seconds for t in trained]),
    }


def _split() -> tuple[dict, dict, dict]:
    """Digits: the training split cut into training and validation sets, and the test set."""
    split = datasets.digits()
    fit, held = datasets.stratified_split(split.train["y"], VALIDATION_FRACTION, seed=1)
    train = {k: v[fit] for k, v in split.train.items()}
    validation = {k: v[held] for k, v in split.train.items()}
    return train, validation, split.test


def logistic_margin(data: dict) -> np.ndarray:
    """Each example's margin under a multinomial logistic regression fit on ``data``:
    the true class's logit minus the largest other logit (large: easy, negative:
    misclassified). scikit-learn's ``LogisticRegression(C=1.0)``, lbfgs, deterministic."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as err:
        raise ImportError(
            "gdjax.experiments.order needs scikit-learn: pip install 'gdjax[train]'"
        ) from err
    x, y = np.asarray(data["x"], np.float64), np.asarray(data["y"])
    logits = LogisticRegression(C=1.0, max_iter=2000).fit(x, y).decision_function(x)
    true = logits[np.arange(len(y)), y]
    others = np.where(np.eye(logits.shape[1], dtype=bool)[y], -np.inf, logits)
    return true - others.max(axis=1)


def class_order(labels: np.ndarray) -> np.ndarray:
    """The example indices sorted by class (stable: within a class, the data's order)."""
    return np.argsort(labels, kind="stable").astype(np.int32)


def curriculum_order(margin: np.ndarray) -> np.ndarray:
    """The example indices from the largest margin (easiest) to the smallest."""
    return np.argsort(-np.asarray(margin), kind="stable").astype(np.int32)


def curriculum_sizes(examples: int, epochs: int) -> np.ndarray:
    """``(epochs,)`` the examples of each curriculum epoch: `CURRICULUM_START` of
    ``examples`` (rounded up) in the first, growing linearly over the first
    `CURRICULUM_GROWTH` of the epochs (at least one) to all of them, which the rest
    take."""
    growing = max(1, int(epochs * CURRICULUM_GROWTH))
    first = int(np.ceil(CURRICULUM_START * examples))
    # Integers, rounded up: a float share times the examples would round 475 to 476.
    grown = -(-(examples - first) * np.arange(epochs) // growing)
    return np.minimum(first + grown, examples).astype(np.int64)


def curriculum_orders(ranking: np.ndarray, epochs: int) -> np.ndarray:
    """``(epochs, n)`` per-epoch orders (for ``Batching(order=...)``): row ``e`` the
    first `curriculum_sizes` of ``ranking`` (example indices, easiest first), in its
    order, then -1 in the slots left out."""
    ranking = np.asarray(ranking, np.int32)
    sizes = curriculum_sizes(len(ranking), epochs)
    kept = np.arange(len(ranking)) < sizes[:, None]
    return np.where(kept, ranking, np.int32(-1))


def curve_statistics(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the runs (axis 1) of ``(variants, runs, epochs)``."""
    curves = np.asarray(curves, np.float64)
    return curves.mean(axis=1), curves.std(axis=1, ddof=1) / np.sqrt(curves.shape[1])


def _compare(mcc: np.ndarray) -> tuple[stats.Comparison, ...]:
    """Every pair of variants, the one expected better first (shuffled, then curriculum)."""
    pairs = ((0, 1), (0, 2), (2, 1))
    return tuple(stats.compare(mcc[a], mcc[b], names=(VARIANTS[a], VARIANTS[b])) for a, b in pairs)


def _report(result: OrderResult) -> str:
    r = result
    lines = [
        f"seed 002 §6.1 example order on digits: ReLU MLP, {r.depth} hidden layers of "
        f"{r.width}, {r.epochs} epochs of mini-batches of {r.batch_size}, SGD lr "
        f"{r.learning_rate:g}, {r.runs} runs per variant",
        _curriculum_line(r),
        f"training: 3 programs of {r.runs} vmapped runs, "
        + ", ".join(f"{s:.1f} s" for s in r.seconds)
        + " (compilation included)",
        "",
        "validation loss after epoch (mean +/- SE over the runs):",
        *_common.aligned_table(_curve_rows(r)),
        "",
        *_common.aligned_table(_summary_rows(r)),
        "SE: the standard error of the mean over the runs",
    ]
    for comparison in r.comparisons:
        lines += ["", f"test MCC, {comparison.name_a} against {comparison.name_b}:"]
        lines.append(comparison.table())
    failed = np.concatenate([_common.failed(h) for h in r.histories])
    lines += _common.failed_notes(failed, VARIANTS)
    return "\n".join(lines)


def _curriculum_line(r: OrderResult) -> str:
    """The curriculum's schedule in words, from its orders."""
    examples = r.curriculum.shape[1]
    sizes = (r.curriculum >= 0).sum(axis=1)
    partial = int(np.sum(sizes < examples))  # the first epochs: the sizes only grow
    text = "curriculum: easiest first by the margin of a logistic regression fit on the "
    if partial > 1:
        text += f"training set; epochs 1-{partial} grow from the easiest {sizes[0]} to "
        text += f"{sizes[partial - 1]} of the {examples} examples"
    else:
        text += f"training set; epoch 1 takes the easiest {sizes[0]} of the {examples} examples"
    if partial < r.epochs:
        text += f", epochs {partial + 1}-{r.epochs} take them all"
    return text


def _shown_epochs(epochs: int) -> list[int]:
    """About six epochs to print (1-based), the first and the last among them."""
    step = max(1, round(epochs / 5))
    return sorted({1, *range(step, epochs + 1, step), epochs})


def _curve_rows(r: OrderResult) -> list[tuple[str, ...]]:
    rows = [("epoch", *VARIANTS)]
    for e in _shown_epochs(r.epochs):
        cells = (f"{r.curve_mean[v, e - 1]:.4f} +/- {r.curve_se[v, e - 1]:.4f}" for v in range(3))
        rows.append((str(e), *cells))
    return rows


def _summary_rows(r: OrderResult) -> list[tuple[str, ...]]:
    rows = [("variant", "final validation loss", "test accuracy", "test MCC (mean +/- SE)")]
    for v, name in enumerate(VARIANTS):
        rows.append(
            (
                name,
                _common.mean_se(r.validation_loss[v, :, -1], 4),
                _common.mean_se(r.accuracy[v], 4),
                _common.mean_se(r.mcc[v]),
            )
        )
    return rows
