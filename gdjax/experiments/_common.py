"""What the experiments share: data sets, one timed training program, scores, text tables.

An experiment describes each of its `gdjax.training.fit_many` programs as a
`Program` (what is trained, and how) and runs it with `train`, so the one call of
fit_many that does the work has one name to patch in tests:
``gdjax.experiments._common.fit_many``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

import gdjax
from gdjax._validation import check_flag, check_int
from gdjax.base import GradientTransformation
from gdjax.training import (
    Batching,
    Evaluation,
    History,
    datasets,
    fit_many,
    metrics,
    models,
)

DATASETS = ("digits", "fashion-mnist")
"""The data sets the experiments take: scikit-learn's digits (bundled) or Fashion-MNIST
(four IDX files in ``data_dir``; gdjax never downloads)."""

CLASSES = 10
FASHION_TRAIN = 16_384
"""Seed 001 Fig. 11-11 trains its CNN on 16,384 random Fashion-MNIST training images."""


# --------------------------------------------------------------------------- arguments


class Dataset(NamedTuple):
    """The data set an experiment trains on: `momentum`, `optimizers`, `grid` and
    `batchnorm` take one as ``data``.

    Attributes:
      name: one of `DATASETS`: ``"digits"`` (default; scikit-learn's 8×8 digits,
        bundled) or ``"fashion-mnist"``.
      directory: the directory of Fashion-MNIST's four IDX files
        (`gdjax.training.datasets.IDX_FILES`, each may end in .gz); required for
        it, unused for digits. gdjax never downloads.
    """

    name: str = "digits"
    directory: str | os.PathLike | None = None


DIGITS = Dataset("digits")
"""The default data set of the experiments: scikit-learn's digits."""


def check_dataset(owner: str, data: Any) -> Dataset:
    """``data`` if it is a `Dataset` of one of `DATASETS` (Fashion-MNIST with its
    directory), else a ValueError naming what is wrong."""
    if not isinstance(data, Dataset):
        raise ValueError(
            f"{owner}: data must be a gdjax.experiments.Dataset, e.g. Dataset('digits') or "
            f"Dataset('fashion-mnist', directory), got {data!r}"
        )
    if data.name not in DATASETS:
        raise ValueError(
            f"{owner}: data.name must be one of {', '.join(DATASETS)}, got {data.name!r}"
        )
    if data.name == "fashion-mnist" and data.directory is None:
        raise ValueError(
            f"{owner}: data = Dataset('fashion-mnist') needs its directory, the one holding "
            f"its four IDX files ({', '.join(datasets.IDX_FILES.values())}, each may end in "
            ".gz); gdjax never downloads"
        )
    return data


def check_batch_size(owner: str, batch_size: int, train: Mapping[str, np.ndarray]) -> None:
    """A ValueError when a mini-batch would be larger than the training set."""
    count = len(train["y"])
    if batch_size > count:
        raise ValueError(
            f"{owner}: batch_size must be at most the {count} training examples, got {batch_size}"
        )


# --------------------------------------------------------------------------- data


def mlp_split(data: Dataset) -> tuple[datasets.Data, datasets.Data, tuple[int, ...]]:
    """``(train, test, sizes)``: the MLP's data and layer sizes, digits 64-100-50-10,
    Fashion-MNIST 196-100-50-10."""
    if data.name == "digits":
        return (*datasets.digits(), (64, 100, 50, 10))
    return (*datasets.fashion_mnist(data.directory), (196, 100, 50, 10))


def cnn_split(data: Dataset) -> datasets.Split:
    """Images for the CNN: digits 8×8×1; Fashion-MNIST 28×28×1, 16,384 training images."""
    if data.name == "digits":
        return datasets.digits(images=True)
    split = datasets.fashion_mnist(data.directory, downsample=False)
    # The book's 16,384 random training images: a fixed draw, so reruns compare.
    order = np.random.default_rng(0).permutation(len(split.train["y"]))
    pick = np.sort(order[:FASHION_TRAIN])
    train = {"x": split.train["x"][pick].reshape(-1, 28, 28, 1), "y": split.train["y"][pick]}
    test = {"x": split.test["x"].reshape(-1, 28, 28, 1), "y": split.test["y"]}
    return datasets.Split(train, test)


_Loaded = TypeVar("_Loaded", bound=tuple)


def checked_data(
    owner: str, batch_size: Any, progress: Any, load: Callable[[], _Loaded]
) -> tuple[int, _Loaded]:
    """An experiment's data, loaded by ``load`` once its batching arguments are checked.

    A ValueError unless ``batch_size`` is an integer >= 1 and ``progress`` True or
    False, then one when a mini-batch would be larger than the training set: the
    first item of what ``load`` returns (a `gdjax.training.datasets.Split`, or a
    tuple such as ``(train, validation, test)``).

    Returns:
      ``(batch_size, data)``: the batch size as an int and what ``load`` returned.
    """
    batch_size = check_int(owner, "batch_size", batch_size, 1)
    check_flag(owner, "progress", progress)
    # Loaded only now, so that a bad argument is refused before any data is read.
    data = load()
    check_batch_size(owner, batch_size, data[0])
    return batch_size, data


# --------------------------------------------------------------------------- training


class Program(NamedTuple):
    """One `fit_many` program of an experiment, as a value: an experiment builds it (and
    its variants with ``_replace``), `train` runs it.

    What is trained:
      loss_fn: ``(params, batch) -> per-example losses`` (with ``model_state``:
        ``(params, state, batch) -> (losses, state)``).
      init: ``key -> params``.
      make_optimizer: ``(**setting) -> GradientTransformation``; one function for
        programs that differ only in settings, since `fit_many` keeps its compiled
        programs on it.
      data: the training set, ``{"x", "y"}`` arrays.
      model_state: ``key -> state`` (e.g. batch norm's running averages), or None;
        with one the params trained are ``(params, model_state)``.

    How:
      seeds: the seeds (or their count) every setting is trained from.
      settings: ``{argument of make_optimizer: values}``, zipped.
      batch_size: examples per mini-batch.
      epochs: passes over ``data``, or None when ``steps`` is given.
      steps: mini-batches per run, or None when ``epochs`` is given.
      evaluation: what is recorded after every epoch, or None.
      order: None to shuffle every epoch, or example indices taken in that order:
        one order for every epoch, or an ``(epochs, n)`` array of one per epoch,
        -1 where an example is left out.
    """

    loss_fn: Callable
    init: Callable[[jax.Array], Any]
    make_optimizer: Callable[..., GradientTransformation]
    data: Mapping[str, np.ndarray]
    seeds: Sequence[int] | int
    settings: Mapping[str, Any]
    batch_size: int
    epochs: int | None = None
    steps: int | None = None
    evaluation: Evaluation | None = None
    order: np.ndarray | None = None
    model_state: Callable[[jax.Array], Any] | None = None

    @property
    def batching(self) -> Batching:
        """The mini-batches: shuffled every epoch unless an ``order`` is given."""
        return Batching(batch_size=self.batch_size, shuffle=self.order is None, order=self.order)


class Trained(NamedTuple):
    """What `train` returns.

    Attributes:
      params: the final params, leading axes ``(settings, seeds)``; with a model
        state, ``(params, model_state)``.
      history: the program's `gdjax.training.History`.
      seconds: the wall time of the whole program, compilation and device work included.
    """

    params: Any
    history: History
    seconds: float


def train(program: Program, progress: bool) -> Trained:
    """Runs ``program`` as one `fit_many` call, timed.

    Args:
      program: what is trained and how.
      progress: show a progress bar over the epochs.

    Returns:
      `Trained`: the final params, the history and the wall time.
    """
    began = time.perf_counter()
    params, history = fit_many(
        program.loss_fn,
        program.init,
        program.make_optimizer,
        program.data,
        seeds=program.seeds,
        settings=program.settings,
        epochs=program.epochs,
        steps=program.steps,
        batching=program.batching,
        evaluation=program.evaluation,
        progress=progress,
        model_state=program.model_state,
    )
    jax.block_until_ready(params)
    return Trained(params, history, time.perf_counter() - began)


@functools.cache
def init_of(make: Callable[..., Any], *args: Hashable) -> Callable[[jax.Array], Any]:
    """``key -> make(key, *args)``, one function for equal arguments: `fit_many` keeps an
    init's compiled program on the function, so a second run of an experiment on the
    same network draws its params without compiling them again (seconds for an MLP)."""
    return lambda key: make(key, *args)


def sgd_momentum(learning_rate: Any, momentum: Any) -> GradientTransformation:
    """``gdjax.sgd(learning_rate, momentum)``, its settings by name: the optimizer of the
    MLP's programs in `momentum` and `grid`, one function so they share compiled steps."""
    return gdjax.sgd(learning_rate, momentum)


def deep_mlp_loss(params: Any, batch: Mapping[str, Any]) -> jax.Array:
    """Per-example softmax cross-entropy of the deep ReLU MLP
    (`gdjax.training.models.deep_mlp_apply`): the loss of `noise`, `order` and
    `early_stopping`, one function so their programs share its compiled steps."""
    return models.cross_entropy(models.deep_mlp_apply(params, batch["x"]), batch["y"])


def failed(history: History) -> np.ndarray:
    """``(settings, seeds)`` bool: the runs whose loss or gradient went non-finite
    (`fit_many` kept them standing still from that step on)."""
    return np.asarray(history.failed_step) >= 0


# --------------------------------------------------------------------------- scores


def _per_setting(params: Any) -> list[Any]:
    """The params of every setting, each with the leading axis ``(seeds,)``."""
    count = jax.tree.leaves(params)[0].shape[0]
    return [jax.tree.map(lambda leaf, i=i: leaf[i], params) for i in range(count)]


def predict(apply: Callable, params: Any, x: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Class predictions of every run, ``(settings, seeds, n)`` int32.

    One setting at a time and the inputs in chunks, so that the activations of
    44 runs on 10,000 Fashion-MNIST images never sit in memory at once.
    """
    run = _predictions(apply)
    rows = []
    for one in _per_setting(params):
        parts = [np.asarray(run(one, x[j : j + chunk])) for j in range(0, len(x), chunk)]
        rows.append(np.concatenate(parts, axis=-1))
    return np.stack(rows).astype(np.int32)


def mean_loss(loss_fn: Callable, params: Any, data: Mapping, chunk: int = 2048) -> np.ndarray:
    """The mean per-example loss of every run on ``data``, ``(settings, seeds)`` float64.

    Chunked as `predict` is. Non-finite where a run's params give a non-finite loss.
    """
    run = _summed_losses(loss_fn)
    count = len(data["y"])
    rows = []
    for one in _per_setting(params):
        parts = [
            np.asarray(run(one, {k: v[j : j + chunk] for k, v in data.items()}), np.float64)
            for j in range(0, count, chunk)
        ]
        rows.append(np.sum(parts, axis=0) / count)
    return np.stack(rows)


# One compiled program per model for every call (a jit of a new lambda compiles anew).
@functools.cache
def _predictions(apply: Callable) -> Callable:
    return jax.jit(jax.vmap(lambda p, xb: jnp.argmax(apply(p, xb), axis=-1), (0, None)))


@functools.cache
def _summed_losses(loss_fn: Callable) -> Callable:
    return jax.jit(jax.vmap(lambda p, batch: jnp.sum(loss_fn(p, batch)), (0, None)))


def scores(labels: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run: accuracy and MCC of ``predictions`` ``(..., n)``, each ``(...)`` float64."""
    flat = jnp.asarray(predictions.reshape(-1, predictions.shape[-1]))
    labels = jnp.asarray(labels)
    accuracy = jax.vmap(lambda p: metrics.accuracy(labels, p))(flat)
    mcc = jax.vmap(lambda p: metrics.matthews_corrcoef(labels, p, CLASSES))(flat)
    shape = predictions.shape[:-1]
    return (
        np.asarray(accuracy, np.float64).reshape(shape),
        np.asarray(mcc, np.float64).reshape(shape),
    )


# --------------------------------------------------------------------------- text


def mean_se(values: np.ndarray, digits: int = 5) -> str:
    """``"mean +/- SE"`` of a sample of at least two values (SE: standard error of the mean)."""
    values = np.asarray(values, np.float64)
    se = values.std(ddof=1) / np.sqrt(values.size)
    return f"{values.mean():.{digits}f} +/- {se:.{digits}f}"


def failed_notes(failed_runs: np.ndarray, names: Sequence[str]) -> list[str]:
    """A line per setting some of whose runs went non-finite (they stood still from then on)."""
    failed_runs = np.asarray(failed_runs)
    return [
        f"note: {int(failed_runs[i].sum())} of {failed_runs.shape[1]} runs of {name} hit a "
        "non-finite loss and stood still from that step on"
        for i, name in enumerate(names)
        if failed_runs[i].any()
    ]


def aligned_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of text cells as left-aligned columns, a rule of dashes under the header row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]
