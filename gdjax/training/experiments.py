"""The texts' training experiments, end to end: momentum, optimizers, a sweep, gradient noise.

Each function trains, scores and summarises one experiment and returns a
NamedTuple of arrays and statistics; its ``lines`` (and ``report()``) hold the
printable text, and with ``out=`` it writes the experiment's figure.

- `momentum`: seed 001's momentum experiment (Fig. 11-8): its sigmoid MLP
  trained 22 times at lr 1.0 without momentum and 22 times at lr 0.2 with
  momentum 0.9, then one run's confusion matrix, accuracy and MCC per setting,
  and mean ± SE, t-test, Mann-Whitney U and Cohen's d of the MCCs.
- `optimizers`: seed 001 Fig. 11-11: a small CNN trained with SGD, RMSprop,
  Adagrad and Adam, five runs each; test accuracy and training time.
- `sweep`: a learning-rate × momentum grid on the same MLP, as one program.
- `noise`: seed 002 §6.4: plain SGD against SGD with annealed Gaussian
  gradient noise (Neelakantan et al. 2015) on a deep, narrow network.

Every function runs its runs as one `gdjax.training.fit_many` program (one per
optimizer in `optimizers`): the runs are vmapped, not trained one after the
other as in the book, so a wall time here is the time of all runs together,
compilation included. Nothing is printed except the progress bars; matplotlib
is imported only to draw a figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gdjax
from gdjax._validation import check_flag, check_int, check_range
from gdjax.base import GradientTransformation
from gdjax.training import datasets, metrics, models, stats
from gdjax.training.loop import History, fit_many

DATASETS = ("digits", "fashion-mnist")
"""The data sets the experiments take: scikit-learn's digits (bundled) or Fashion-MNIST
(four IDX files in ``data_dir``; gdjax never downloads)."""

CLASSES = 10

MOMENTUM_STEPS = {"digits": 10_000, "fashion-mnist": 40_000}
"""Default mini-batches of `momentum`. Fashion-MNIST: the book's 40,000. Digits: the
largest round number for which the 44-run experiment stays well under two minutes
on a 2-core CPU (10,000 steps: 37 s for the whole command, compilation included;
20,000 took 87 s), and the book's count for its 100-run Fig. 11-9."""

OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam")
"""The optimizers of seed 001 Fig. 11-11, in its order."""

KERAS_RATES = {"sgd": 0.01, "rmsprop": 0.001, "adagrad": 0.001, "adam": 0.001}
"""tf.keras' default learning rates: `optimizers`' rates on Fashion-MNIST. The book
names no rates; Keras' defaults are the likely ones (it quotes Adam's 0.001)."""

DIGITS_RATES = {"sgd": 0.3, "rmsprop": 0.003, "adagrad": 0.1, "adam": 0.01}
"""`optimizers`' rates on digits: the best of a scan over Keras' default × 1, 3, 10, 30
(12 epochs, 2 seeds, test accuracy; see `optimizers`)."""

SWEEP_LEARNING_RATES = tuple(float(v) for v in np.geomspace(0.01, 3, 8))
SWEEP_MOMENTA = (0.0, 0.5, 0.9, 0.95)

_FACTORIES: dict[str, Callable[..., GradientTransformation]] = {
    "sgd": gdjax.sgd,
    "rmsprop": gdjax.rmsprop,
    "adagrad": gdjax.adagrad,
    "adam": gdjax.adam,
}
_NAMES = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam"}
_FASHION_TRAIN = 16_384  # Fig. 11-11 trains on 16,384 random training images


# --------------------------------------------------------------------------- validation


def _check_dataset(owner: str, dataset: Any, data_dir: Any) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"{owner}: dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if dataset == "fashion-mnist" and data_dir is None:
        raise ValueError(
            f"{owner}: dataset 'fashion-mnist' needs data_dir, the directory holding its four "
            "IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            "t10k-labels-idx1-ubyte, each may end in .gz); gdjax never downloads"
        )


def _check_out(owner: str, out: Any) -> Path | None:
    if out is None:
        return None
    if not isinstance(out, (str, Path)):
        raise ValueError(f"{owner}: out must be a path to a .png file or None, got {out!r}")
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{owner}: out must end in .png, got {str(path)!r}")
    from gdjax import plot

    plot._pyplot()  # fail before training, not after it, when matplotlib is missing
    return path


# --------------------------------------------------------------------------- shared pieces


def _timed(train: Callable[[], tuple[Any, History]]) -> tuple[Any, History, float]:
    """Runs ``train`` and returns its params, history and wall seconds (device work included)."""
    began = time.perf_counter()
    params, history = train()
    jax.block_until_ready(params)
    return params, history, time.perf_counter() - began


def _predict(apply: Callable, params: Any, x: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Class predictions of every run, ``(settings, seeds, n)``.

    One setting at a time and the test set in chunks, so that the activations of
    44 runs on 10,000 Fashion-MNIST images never sit in memory at once.
    """
    predict = jax.jit(jax.vmap(lambda p, xb: jnp.argmax(apply(p, xb), axis=-1), (0, None)))
    settings = jax.tree.leaves(params)[0].shape[0]
    rows = []
    for i in range(settings):
        one = jax.tree.map(lambda leaf, i=i: leaf[i], params)
        parts = [np.asarray(predict(one, x[j : j + chunk])) for j in range(0, len(x), chunk)]
        rows.append(np.concatenate(parts, axis=-1))
    return np.stack(rows).astype(np.int32)


def _scores(labels: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run: test accuracy and MCC, ``(settings, seeds)`` each, float64."""
    flat = jnp.asarray(predictions.reshape(-1, predictions.shape[-1]))
    labels = jnp.asarray(labels)
    accuracy = jax.vmap(lambda p: metrics.accuracy(labels, p))(flat)
    mcc = jax.vmap(lambda p: metrics.matthews_corrcoef(labels, p, CLASSES))(flat)
    shape = predictions.shape[:-1]
    return (
        np.asarray(accuracy, np.float64).reshape(shape),
        np.asarray(mcc, np.float64).reshape(shape),
    )


def _failed_note(history: History, names: Sequence[str]) -> list[str]:
    """A line per setting some of whose runs went non-finite (they stood still from then on)."""
    failed = np.asarray(history.failed_step) >= 0
    return [
        f"note: {int(failed[i].sum())} of {failed.shape[1]} runs of {name} hit a non-finite "
        "loss and stood still from that step on"
        for i, name in enumerate(names)
        if failed[i].any()
    ]


def _mlp_split(dataset: str, data_dir: Any) -> tuple[datasets.Split, tuple[int, ...]]:
    """The MLP's data and layer sizes: digits 64-100-50-10, Fashion-MNIST 196-100-50-10."""
    if dataset == "digits":
        return datasets.digits(), (64, 100, 50, 10)
    return datasets.fashion_mnist(data_dir), (196, 100, 50, 10)


def _grey_bars(ax, labels, heights, errors=None) -> None:
    ax.bar(labels, heights, yerr=errors, color="0.6", edgecolor="k", capsize=6, width=0.6)


# --------------------------------------------------------------------------- momentum


class MomentumResult(NamedTuple):
    """What `momentum` found. Settings are ``(no momentum, momentum)``, in that order.

    Attributes:
      dataset: ``"digits"`` or ``"fashion-mnist"``.
      steps: mini-batches per run.
      learning_rates: ``(1.0, 0.2)``.
      momenta: ``(0.0, 0.9)``.
      accuracy: ``(2, runs)`` test accuracy of every run.
      mcc: ``(2, runs)`` test MCC of every run.
      confusion: ``(2, 10, 10)`` the test confusion matrix of run 0 of each setting.
      comparison: `gdjax.training.stats.Comparison` of the MCCs, momentum first.
      history: the `gdjax.training.History` of all runs, arrays ``(2, runs, ...)``.
      seconds: wall time of the training, all 2 × runs runs as one program,
        compilation included.
      lines: the report, line by line.
      figure: the histogram's path, or None.
    """

    dataset: str
    steps: int
    learning_rates: tuple[float, float]
    momenta: tuple[float, float]
    accuracy: np.ndarray
    mcc: np.ndarray
    confusion: np.ndarray
    comparison: stats.Comparison
    history: History
    seconds: float
    lines: tuple[str, ...]
    figure: Path | None = None

    def report(self) -> str:
        """The printable report."""
        return "\n".join(self.lines)


def momentum(
    runs: int = 22,
    steps: int | None = None,
    dataset: str = "digits",
    data_dir: Any = None,
    batch_size: int = 64,
    out: str | Path | None = None,
    progress: bool = True,
) -> MomentumResult:
    """Seed 001's momentum experiment: 22 runs without momentum, 22 with, then statistics.

    The book's sigmoid MLP (`gdjax.training.models.mlp_init`: uniform init in
    [-0.5, 0.5], squared error against one-hot labels) is trained with
    mini-batch SGD at lr 1.0, and with momentum 0.9 at lr 0.2:

        v = mu v - lr g;   x = x + v           (seed 001 eq. 11.5; gdjax.sgd(lr, mu))

    Both settings and all seeds are one `gdjax.training.fit_many` program
    (settings zipped: ``{"learning_rate": [1.0, 0.2], "momentum": [0.0, 0.9]}``);
    seed ``s`` gives the same initial params and shuffling to both settings.
    Then each run's test predictions give its accuracy and Matthews correlation
    coefficient; the report prints run 0's confusion matrix, accuracy and MCC
    for each setting, as the book does, and `gdjax.training.stats.compare` of
    the MCCs (momentum first): mean ± SE, t-test, Mann-Whitney U, Cohen's d and,
    from 8 runs on, the normality test the book applies in Fig. 11-9.

    On Fashion-MNIST (14×14, 196-100-50-10, 40,000 mini-batches of 64) this is
    the book's experiment; it found momentum better (MCC 0.86413 ± 0.00075
    against 0.85778 ± 0.00056). On digits (64-100-50-10) the default is 10,000
    mini-batches, chosen so that the 44 runs take well under two minutes on a
    2-core CPU (37 s). There momentum loses: test MCC 0.891 ± 0.021 against
    0.968 ± 0.001 without, because 10 of its 22 runs end with one to three
    sigmoid output units saturated (those classes are never predicted); see
    docs/experiments.md.

    Args:
      runs: runs (seeds) per setting, >= 2. Default 22, the book's.
      steps: mini-batches per run; default 10,000 on digits, 40,000 on Fashion-MNIST.
      dataset: ``"digits"`` (default) or ``"fashion-mnist"``.
      data_dir: the directory of Fashion-MNIST's four IDX files (required for it).
      batch_size: examples per mini-batch. Default 64.
      out: write Fig. 11-8's MCC histogram to this ``.png``; None for no figure.
      progress: show a progress bar over the epochs.

    Returns:
      `MomentumResult`.

    Raises:
      ValueError: a bad argument (the message names it and the allowed values).
      FileNotFoundError: Fashion-MNIST's files are not in ``data_dir``.
    """
    owner = "momentum"
    runs = check_int(owner, "runs", runs, 2)
    _check_dataset(owner, dataset, data_dir)
    steps = MOMENTUM_STEPS[dataset] if steps is None else check_int(owner, "steps", steps, 1)
    batch_size = check_int(owner, "batch_size", batch_size, 1)
    check_flag(owner, "progress", progress)
    out = _check_out(owner, out)
    split, sizes = _mlp_split(dataset, data_dir)
    if batch_size > len(split.train["y"]):
        raise ValueError(
            f"{owner}: batch_size must be at most the {len(split.train['y'])} training "
            f"examples, got {batch_size}"
        )

    learning_rates, momenta = (1.0, 0.2), (0.0, 0.9)
    params, history, seconds = _timed(
        lambda: fit_many(
            models.mlp_loss,
            lambda key: models.mlp_init(key, sizes),
            lambda learning_rate, momentum: gdjax.sgd(learning_rate, momentum),
            split.train,
            seeds=runs,
            settings={"learning_rate": list(learning_rates), "momentum": list(momenta)},
            steps=steps,
            batch_size=batch_size,
            progress=progress,
        )
    )
    labels = split.test["y"]
    predictions = _predict(models.mlp_apply, params, split.test["x"])
    accuracy, mcc = _scores(labels, predictions)
    confusion = np.stack(
        [np.asarray(metrics.confusion_matrix(labels, predictions[i, 0], CLASSES)) for i in (0, 1)]
    )
    comparison = stats.compare(mcc[1], mcc[0], names=("momentum", "no momentum"))

    names = ("no momentum, lr 1.0", "momentum 0.9, lr 0.2")
    size = "-".join(map(str, sizes))
    lines = [
        f"seed 001's momentum experiment on {dataset}: sigmoid MLP {size}, {steps:,} "
        f"mini-batches of {batch_size}, {runs} runs per setting",
        f"training: {2 * runs} runs as one vmapped program, {seconds:.1f} s (compilation included)",
    ]
    for i, name in enumerate(names):
        lines += [
            "",
            f"{name}, run 0 (test set):",
            np.array2string(confusion[i], max_line_width=120),
            f"accuracy = {accuracy[i, 0]:.7f}",
            f"MCC = {mcc[i, 0]:.7f}",
        ]
    lines += ["", f"test MCC of the {runs} runs of each setting:", comparison.table()]
    lines += _failed_note(history, names)
    figure = None
    if out is not None:
        title = f"Fig. 11-8: test MCC of {runs} runs per setting ({dataset}, {steps:,} steps)"
        figure = _momentum_figure(mcc[0], mcc[1], out, title)
        lines.append(f"wrote {figure}")
    return MomentumResult(
        dataset,
        steps,
        learning_rates,
        momenta,
        accuracy,
        mcc,
        confusion,
        comparison,
        history,
        seconds,
        tuple("\n".join(lines).splitlines()),
        figure,
    )


def _momentum_figure(none: np.ndarray, with_momentum: np.ndarray, out: Path, title: str) -> Path:
    """Fig. 11-8: MCC histograms on shared bins, no momentum dark grey, momentum light grey."""
    from gdjax import plot

    fig, ax = plot.subplots(figsize=(7, 4.5))
    edges = np.histogram_bin_edges(np.concatenate([none, with_momentum]), bins=15)
    ax.hist(none, bins=edges, color="0.3", edgecolor="k", label="no momentum (lr 1.0)")
    # Drawn second and half transparent, so the overlap stays visible as a middle grey.
    ax.hist(
        with_momentum,
        bins=edges,
        color="0.8",
        edgecolor="k",
        alpha=0.75,
        label="momentum 0.9 (lr 0.2)",
    )
    ax.set_xlabel("MCC on the test set")
    ax.set_ylabel("runs")
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="upper left", fontsize="small")
    return plot.save(fig, out)


# --------------------------------------------------------------------------- optimizers


class OptimizersResult(NamedTuple):
    """What `optimizers` found; arrays run over `names` (SGD, RMSprop, Adagrad, Adam).

    Attributes:
      dataset: ``"digits"`` or ``"fashion-mnist"``.
      epochs: passes over the training set per run.
      names: the optimizers.
      learning_rates: the rate of each.
      accuracy: ``(optimizers, runs)`` test accuracy of every run.
      mean: ``(optimizers,)`` mean test accuracy.
      se: ``(optimizers,)`` its standard error.
      seconds: ``(optimizers,)`` wall time of all runs of each optimizer, one vmapped
        program, compilation included.
      seconds_per_run: ``seconds / runs``; not the time of one run trained alone.
      lines: the report, line by line.
      figure: the figure's path, or None.
    """

    dataset: str
    epochs: int
    names: tuple[str, ...]
    learning_rates: tuple[float, ...]
    accuracy: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    seconds: np.ndarray
    seconds_per_run: np.ndarray
    lines: tuple[str, ...]
    figure: Path | None = None

    def report(self) -> str:
        """The printable report."""
        return "\n".join(self.lines)


def _cnn_split(dataset: str, data_dir: Any) -> datasets.Split:
    """Images for the CNN: digits 8×8×1; Fashion-MNIST 28×28×1, 16,384 training images."""
    if dataset == "digits":
        return datasets.digits(images=True)
    split = datasets.fashion_mnist(data_dir, downsample=False)
    # The book's 16,384 random training images: a fixed draw, so reruns compare.
    pick = np.sort(np.random.default_rng(0).permutation(len(split.train["y"]))[:_FASHION_TRAIN])
    train = {"x": split.train["x"][pick].reshape(-1, 28, 28, 1), "y": split.train["y"][pick]}
    test = {"x": split.test["x"].reshape(-1, 28, 28, 1), "y": split.test["y"]}
    return datasets.Split(train, test)


def _cnn_loss(params: Any, batch: dict) -> jax.Array:
    return models.cross_entropy(models.cnn_apply(params, batch["x"]), batch["y"])


def optimizers(
    runs: int = 5,
    epochs: int = 12,
    batch_size: int = 128,
    dataset: str = "digits",
    data_dir: Any = None,
    learning_rates: Mapping[str, float] | None = None,
    names: Sequence[str] = OPTIMIZERS,
    out: str | Path | None = None,
    progress: bool = True,
) -> OptimizersResult:
    """Seed 001 Fig. 11-11: a small CNN trained with SGD, RMSprop, Adagrad and Adam.

    The CNN is `gdjax.training.models.cnn_init`/`cnn_apply` (two 3×3
    convolutions with ReLU and 2×2 max-pooling, a dense layer), trained on
    softmax cross-entropy with mini-batches of 128 for 12 epochs, ``runs`` seeds
    per optimizer, as the book does; each optimizer's runs are one
    `gdjax.training.fit_many` program. Reported per optimizer: the test
    accuracy's mean ± SE and the wall time.

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

    Args:
      runs: runs (seeds) per optimizer, >= 2. Default 5, the book's.
      epochs: passes over the training set. Default 12, the book's.
      batch_size: examples per mini-batch. Default 128, the book's.
      dataset: ``"digits"`` (default) or ``"fashion-mnist"``.
      data_dir: the directory of Fashion-MNIST's four IDX files (required for it).
      learning_rates: ``{name: rate}`` overriding the defaults for some optimizers.
      names: which optimizers to train, a subset of `OPTIMIZERS` in any order.
      out: write the two bar plots (accuracy, time) to this ``.png``; None for none.
      progress: show a progress bar over the epochs.

    Returns:
      `OptimizersResult`.

    Raises:
      ValueError: a bad argument (the message names it and the allowed values).
      FileNotFoundError: Fashion-MNIST's files are not in ``data_dir``.
    """
    owner = "optimizers"
    runs = check_int(owner, "runs", runs, 2)
    epochs = check_int(owner, "epochs", epochs, 1)
    batch_size = check_int(owner, "batch_size", batch_size, 1)
    _check_dataset(owner, dataset, data_dir)
    check_flag(owner, "progress", progress)
    names = tuple(names)
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown or not names:
        raise ValueError(
            f"{owner}: unknown optimizer {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(OPTIMIZERS)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{owner}: names must not repeat an optimizer, got {list(names)}")
    rates = dict(DIGITS_RATES if dataset == "digits" else KERAS_RATES)
    for name, rate in (learning_rates or {}).items():
        if name not in OPTIMIZERS:
            raise ValueError(
                f"{owner}: learning_rates keys must be from {', '.join(OPTIMIZERS)}, got {name!r}"
            )
        rates[name] = float(check_range(owner, f"learning_rates[{name!r}]", rate, "(0, inf)"))
    out = _check_out(owner, out)
    split = _cnn_split(dataset, data_dir)
    image_shape = split.train["x"].shape[1:]
    if batch_size > len(split.train["y"]):
        raise ValueError(
            f"{owner}: batch_size must be at most the {len(split.train['y'])} training "
            f"examples, got {batch_size}"
        )

    accuracy, seconds, notes = [], [], []
    for name in names:
        factory = _FACTORIES[name]
        params, history, elapsed = _timed(
            lambda factory=factory, name=name: fit_many(
                _cnn_loss,
                lambda key: models.cnn_init(key, image_shape, CLASSES),
                lambda learning_rate: factory(learning_rate),
                split.train,
                seeds=runs,
                settings={"learning_rate": [rates[name]]},
                epochs=epochs,
                batch_size=batch_size,
                progress=progress,
            )
        )
        predictions = _predict(models.cnn_apply, params, split.test["x"])
        accuracy.append(_scores(split.test["y"], predictions)[0][0])
        seconds.append(elapsed)
        notes += _failed_note(history, [_NAMES[name]])
    accuracy, seconds = np.stack(accuracy), np.asarray(seconds)
    mean, se = np.asarray([stats.mean_and_se(a) for a in accuracy]).T

    steps = epochs * -(-len(split.train["y"]) // batch_size)
    lines = [
        f"seed 001 Fig. 11-11 on {dataset}: CNN, {len(split.train['y']):,} training images "
        f"{'x'.join(map(str, image_shape))}, batch {batch_size}, {epochs} epochs ({steps:,} "
        f"steps), {runs} runs per optimizer",
        "time: all runs of an optimizer as one vmapped program, compilation included "
        "(the book trained its runs one after the other)",
        "",
    ]
    table = [("optimizer", "lr", "test accuracy (mean +/- SE)", "time (all runs)", "per run")]
    for i, name in enumerate(names):
        table.append(
            (
                _NAMES[name],
                f"{rates[name]:g}",
                f"{mean[i]:.5f} +/- {se[i]:.5f}",
                f"{seconds[i]:.1f} s",
                f"{seconds[i] / runs:.1f} s",
            )
        )
    lines += _aligned_table(table) + notes
    figure = None
    if out is not None:
        title = f"Fig. 11-11: CNN on {dataset}, {runs} runs per optimizer, {epochs} epochs"
        figure = _optimizers_figure([_NAMES[n] for n in names], mean, se, seconds, runs, out, title)
        lines.append(f"wrote {figure}")
    return OptimizersResult(
        dataset,
        epochs,
        names,
        tuple(rates[n] for n in names),
        accuracy,
        mean,
        se,
        seconds,
        seconds / runs,
        tuple(lines),
        figure,
    )


def _aligned_table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


def _optimizers_figure(labels, mean, se, seconds, runs: int, out: Path, title: str) -> Path:
    """Fig. 11-11: test accuracy with SE error bars on top, training time below."""
    from gdjax import plot

    fig, (top, bottom) = plot.subplots(2, 1, figsize=(6.5, 6.5), sharex=True)
    _grey_bars(top, labels, mean, se)
    low = float(np.min(mean - se))
    # Zoomed as the book's panel is: the differences are a fraction of a percent.
    top.set_ylim(
        max(0.0, low - 0.25 * (1.0 - low) - 0.01), min(1.0, float(np.max(mean + se)) + 0.01)
    )
    top.set_ylabel("test accuracy (mean ± SE)")
    top.set_title(title, fontsize="medium")
    _grey_bars(bottom, labels, seconds)
    bottom.set_ylabel(f"training time, s\n({runs} runs, one program)")
    bottom.set_xlabel("optimizer")
    return plot.save(fig, out)


# --------------------------------------------------------------------------- sweep


class SweepExperimentResult(NamedTuple):
    """What `sweep` found.

    Attributes:
      learning_rates: ``(L,)`` the rates of the grid.
      momenta: ``(M,)`` the momenta.
      validation_loss: ``(L, M)`` the final loss on the test split (NaN or inf: diverged).
      accuracy: ``(L, M)`` the final test accuracy.
      best: ``{"learning_rate", "momentum", "validation_loss", "accuracy"}`` of the
        lowest final validation loss.
      result: the grid as a `gdjax.trajectories.SweepResult` (one "start"), for
        `gdjax.plot.sweep_heatmap`.
      seconds: wall time of the L × M runs, one program, compilation included.
      lines: the report, line by line.
      figure: the heat-map's path, or None.
    """

    learning_rates: np.ndarray
    momenta: np.ndarray
    validation_loss: np.ndarray
    accuracy: np.ndarray
    best: dict
    result: Any
    seconds: float
    lines: tuple[str, ...]
    figure: Path | None = None

    def report(self) -> str:
        """The printable report."""
        return "\n".join(self.lines)


def _grid_axis(owner: str, name: str, values: Any, inside: Callable, allowed: str) -> np.ndarray:
    """One axis of the sweep's grid as a 1-D float64 array, or a ValueError naming it."""
    try:
        array = np.asarray(values, np.float64)
    except (TypeError, ValueError):
        array = np.full((0,), np.nan)
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array) & inside(array)):
        raise ValueError(
            f"{owner}: {name} must be a non-empty 1-D sequence of numbers {allowed}, got {values!r}"
        )
    return array


def sweep(
    learning_rates: Sequence[float] = SWEEP_LEARNING_RATES,
    momenta: Sequence[float] = SWEEP_MOMENTA,
    steps: int = 10_000,
    dataset: str = "digits",
    data_dir: Any = None,
    seed: int = 0,
    batch_size: int = 64,
    out: str | Path | None = None,
    progress: bool = True,
) -> SweepExperimentResult:
    """A learning-rate × momentum grid on seed 001's MLP, every cell in one program.

    The mesh of ``learning_rates`` × ``momenta`` is flattened into zipped
    `gdjax.training.fit_many` settings of ``gdjax.sgd(learning_rate, momentum)``,
    trained from one seed (the same initial params and shuffling in every
    cell) for ``steps`` mini-batches, with the test split as validation. Each
    cell's score is its final validation loss (half the squared error against
    one-hot labels, per example); a non-finite one counts as diverged.

    The book's two settings (lr 1.0 without momentum, lr 0.2 with 0.9) are two
    points of this plane; the sweep shows where they lie in it: with momentum
    ``mu`` the steady-state step is ``lr / (1 - mu)``, so the good region
    runs diagonally.

    Args:
      learning_rates: the rates, > 0. Default ``np.geomspace(0.01, 3, 8)``.
      momenta: the momenta, in [0, 1]. Default ``(0.0, 0.5, 0.9, 0.95)``.
      steps: mini-batches per run. Default 10,000, as `momentum` on digits (the 32
        cells take about 30 s on a 2-core CPU, compilation included).
      dataset: ``"digits"`` (default, MLP 64-100-50-10) or ``"fashion-mnist"``
        (196-100-50-10).
      data_dir: the directory of Fashion-MNIST's four IDX files (required for it).
      seed: the seed of the initial params and the shuffling.
      batch_size: examples per mini-batch. Default 64.
      out: write the heat-map to this ``.png``; None for no figure.
      progress: show a progress bar over the epochs.

    Returns:
      `SweepExperimentResult`.
    """
    owner = "sweep"
    lrs = _grid_axis(owner, "learning_rates", learning_rates, lambda a: a > 0, "> 0")
    moms = _grid_axis(owner, "momenta", momenta, lambda a: (a >= 0) & (a <= 1), "in [0, 1]")
    steps = check_int(owner, "steps", steps, 1)
    seed = check_int(owner, "seed", seed, 0)
    batch_size = check_int(owner, "batch_size", batch_size, 1)
    _check_dataset(owner, dataset, data_dir)
    check_flag(owner, "progress", progress)
    out = _check_out(owner, out)
    split, sizes = _mlp_split(dataset, data_dir)

    lr_grid, mom_grid = np.meshgrid(lrs, moms, indexing="ij")

    def correct(params, batch):
        return models.correct(models.mlp_apply(params, batch["x"]), batch["y"])

    _, history, seconds = _timed(
        lambda: fit_many(
            models.mlp_loss,
            lambda key: models.mlp_init(key, sizes),
            lambda learning_rate, momentum: gdjax.sgd(learning_rate, momentum),
            split.train,
            seeds=[seed],
            settings={"learning_rate": lr_grid.ravel(), "momentum": mom_grid.ravel()},
            steps=steps,
            batch_size=batch_size,
            validation=split.test,
            metric=correct,
            progress=progress,
        )
    )
    shape = lr_grid.shape
    loss = np.asarray(history.validation_loss[:, 0, -1], np.float64).reshape(shape)
    accuracy = np.asarray(history.metric[:, 0, -1], np.float64).reshape(shape)
    diverged = ~np.isfinite(loss)
    result = _as_sweep_result(lr_grid, mom_grid, loss, diverged)
    scores = np.where(diverged, np.inf, loss)
    i, j = np.unravel_index(int(np.argmin(scores)), shape)
    best = {
        "learning_rate": float(lrs[i]),
        "momentum": float(moms[j]),
        "validation_loss": float(loss[i, j]),
        "accuracy": float(accuracy[i, j]),
    }

    lines = [
        f"learning rate x momentum on {dataset}: MLP {'-'.join(map(str, sizes))}, "
        f"{lrs.size} x {moms.size} = {lrs.size * moms.size} settings, seed {seed}, "
        f"{steps:,} mini-batches of {batch_size}",
        f"training: one vmapped program, {seconds:.1f} s (compilation included)",
        "",
        "final validation loss (test split; rows: learning rate, columns: momentum):",
    ]
    table = [("lr \\ momentum", *(f"{m:g}" for m in moms))]
    for r, lr in enumerate(lrs):
        table.append(
            (
                f"{lr:.4g}",
                *("diverged" if diverged[r, c] else f"{loss[r, c]:.5f}" for c in range(moms.size)),
            )
        )
    lines += _aligned_table(table)
    lines += [
        "",
        f"best: learning_rate={best['learning_rate']:.4g}, momentum={best['momentum']:g}: "
        f"validation loss {best['validation_loss']:.5f}, test accuracy {best['accuracy']:.4f}",
    ]
    if diverged.any():
        lines.append(
            f"diverged (non-finite loss): {int(diverged.sum())} of {diverged.size} settings"
        )
    figure = None
    if out is not None:
        title = f"SGD on {dataset}: final validation loss after {steps:,} steps"
        figure = _sweep_figure(result, moms, out, title)
        lines.append(f"wrote {figure}")
    return SweepExperimentResult(
        lrs, moms, loss, accuracy, best, result, seconds, tuple(lines), figure
    )


def _as_sweep_result(lr_grid, mom_grid, loss, diverged):
    """The grid as a trajectories.SweepResult with one "start": what plot.sweep_heatmap draws."""
    from gdjax.trajectories import SweepResult

    return SweepResult(
        names=("learning_rate", "momentum"),
        grid={"learning_rate": lr_grid, "momentum": mom_grid},
        final=loss[..., None, None],
        final_value=loss[..., None],
        diverged=diverged[..., None],
        steps_to_tol=np.full((*loss.shape, 1), -1),
    )


def _sweep_figure(result, momenta: np.ndarray, out: Path, title: str) -> Path:
    """The heat-map, its momentum axis stretched as 1/(1 - momentum) and the book's two
    settings marked."""
    from gdjax import plot

    ax = plot.sweep_heatmap(result, by="value", log_axes=(True, False))
    ax.set_title(title, fontsize="medium")
    ax.figure.axes[-1].set_ylabel("final validation loss")  # the colorbar
    # On a linear axis 0.9 and 0.95 are thin slivers; -log10(1 - mu) gives each momentum
    # room in proportion to how much it multiplies the steady step, lr / (1 - mu).
    low, high = ax.get_ylim()
    ax.set_yscale(
        "function",
        functions=(
            lambda m: -np.log10(np.clip(1 - np.asarray(m, np.float64), 1e-6, None)),
            lambda y: 1 - 10 ** -np.asarray(y, np.float64),
        ),
    )
    ax.set_ylim(low, high)
    ax.set_yticks(momenta, [f"{m:g}" for m in momenta])
    ax.set_ylabel("momentum (spaced as 1/(1 - momentum))")
    for (lr, mu), marker in (((1.0, 0.0), "o"), ((0.2, 0.9), "s")):
        label = f"book: lr {lr:g}" + (f", momentum {mu:g}" if mu else "")
        ax.plot(lr, mu, marker, color="w", mec="k", ms=9, linestyle="none", label=label)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize="small", ncol=2)
    return plot.save(ax.figure, out)


# --------------------------------------------------------------------------- gradient noise


class NoiseResult(NamedTuple):
    """What `noise` found. Variants are ``(plain SGD, noisy SGD)``, in that order.

    Attributes:
      depth: hidden layers of the network.
      steps: mini-batches per run.
      learning_rate: the rate of both variants.
      eta: the noise's initial variance.
      gamma: its annealing exponent.
      train_loss: ``(2, runs)`` the final loss on the whole training set
        (non-finite: the run diverged).
      accuracy: ``(2, runs)`` the final test accuracy.
      comparison: `gdjax.training.stats.Comparison` of the test accuracies, noisy first.
      loss_comparison: the same for the final training losses, or None when some
        are not finite.
      history: the `gdjax.training.History` of all runs, arrays ``(2, runs, ...)``.
      seconds: wall time of all runs, one program, compilation included.
      lines: the report, line by line.
      figure: the loss curves' path, or None.
    """

    depth: int
    steps: int
    learning_rate: float
    eta: float
    gamma: float
    train_loss: np.ndarray
    accuracy: np.ndarray
    comparison: stats.Comparison
    loss_comparison: stats.Comparison | None
    history: History
    seconds: float
    lines: tuple[str, ...]
    figure: Path | None = None

    def report(self) -> str:
        """The printable report."""
        return "\n".join(self.lines)


def noise(
    runs: int = 10,
    steps: int = 2000,
    eta: float = 0.3,
    gamma: float = 0.55,
    learning_rate: float = 0.005,
    depth: int = 30,
    width: int = 50,
    batch_size: int = 64,
    out: str | Path | None = None,
    progress: bool = True,
) -> NoiseResult:
    """Seed 002 §6.4: does annealed gradient noise help a deep, narrow network?

    Neelakantan et al. (2015) add Gaussian noise to every gradient,

        g_t = g_t + N(0, sigma_t²),    sigma_t² = eta / (1 + t)^gamma

    and report that it makes very deep networks train better and more robustly
    to bad initialisation. Here the deep ReLU MLP of
    `gdjax.training.models.deep_mlp_init` (``depth`` hidden layers of ``width``,
    He init) is trained on digits with softmax cross-entropy, ``runs`` seeds
    each with plain SGD and with `gdjax.noisy_sgd` (same rate), as one
    `gdjax.training.fit_many` program: the settings are ``eta = 0`` (exactly
    plain SGD: the noise is multiplied by 0) and ``eta``. fit_many folds each
    run's index into its optimizer's key (`gdjax.keys.for_run`), so every run
    draws noise of its own. A seed starts both variants from the same params
    and shuffling, so they differ by the noise only.

    The defaults (depth 30, lr 0.005, 2,000 steps, about a minute on a 2-core
    CPU) put plain SGD where it is slow but mostly stable: at depth 10-20 with
    He init both variants reach about 95% and noise changes nothing visible;
    deeper or faster, runs of either variant blow up. The paper's networks
    were trained with Adam and gradient clipping, which this plain-SGD
    comparison leaves out. At the defaults the noisy runs ended worse on
    average (test accuracy 0.730 ± 0.066 against 0.823 ± 0.051, training loss
    0.67 against 0.38) but not significantly (t-test p = 0.28, Mann-Whitney
    p = 0.47 for the accuracy), and better than their plain twin in five
    seeds of ten: no evidence either way.

    Args:
      runs: seeds per variant, >= 2. Default 10.
      steps: mini-batches per run. Default 2,000.
      eta: the noise's initial variance, >= 0. Default 0.3 (the paper uses 0.01,
        0.3 and 1.0).
      gamma: the annealing exponent, >= 0. Default 0.55, the paper's.
      learning_rate: the rate of both variants, > 0. Default 0.005.
      depth: hidden layers, >= 1. Default 30.
      width: units per hidden layer, >= 1. Default 50.
      batch_size: examples per mini-batch. Default 64.
      out: write the training-loss curves to this ``.png``; None for no figure.
      progress: show a progress bar over the epochs.

    Returns:
      `NoiseResult`.
    """
    owner = "noise"
    runs = check_int(owner, "runs", runs, 2)
    steps = check_int(owner, "steps", steps, 1)
    eta = float(check_range(owner, "eta", eta, "[0, inf)"))
    gamma = float(check_range(owner, "gamma", gamma, "[0, inf)"))
    learning_rate = float(check_range(owner, "learning_rate", learning_rate, "(0, inf)"))
    depth = check_int(owner, "depth", depth, 1)
    width = check_int(owner, "width", width, 1)
    batch_size = check_int(owner, "batch_size", batch_size, 1)
    check_flag(owner, "progress", progress)
    out = _check_out(owner, out)
    split = datasets.digits()
    if batch_size > len(split.train["y"]):
        raise ValueError(
            f"{owner}: batch_size must be at most the {len(split.train['y'])} training "
            f"examples, got {batch_size}"
        )

    def loss_fn(params, batch):
        return models.cross_entropy(models.deep_mlp_apply(params, batch["x"]), batch["y"])

    params, history, seconds = _timed(
        lambda: fit_many(
            loss_fn,
            lambda key: models.deep_mlp_init(key, 64, width, depth, CLASSES),
            lambda eta: gdjax.noisy_sgd(learning_rate, eta, gamma),
            split.train,
            seeds=runs,
            settings={"eta": [0.0, eta]},
            steps=steps,
            batch_size=batch_size,
            progress=progress,
        )
    )
    full_loss = jax.jit(jax.vmap(jax.vmap(lambda p: jnp.mean(loss_fn(p, split.train)))))
    train_loss = np.asarray(full_loss(params), np.float64)
    predictions = _predict(models.deep_mlp_apply, params, split.test["x"])
    accuracy = _scores(split.test["y"], predictions)[0]
    names = ("noisy SGD", "plain SGD")
    comparison = stats.compare(accuracy[1], accuracy[0], names=names)
    finite = np.isfinite(train_loss)
    loss_comparison = (
        stats.compare(train_loss[1], train_loss[0], names=names) if finite.all() else None
    )

    lines = [
        f"seed 002 §6.4 gradient noise on digits: ReLU MLP, {depth} hidden layers of {width}, "
        f"He init, {steps:,} mini-batches of {batch_size}, lr {learning_rate:g}, {runs} runs "
        "per variant",
        f"noise: sigma_t^2 = {eta:g} / (1 + t)^{gamma:g}; plain SGD is the same program with "
        "eta = 0",
        f"training: {2 * runs} runs as one vmapped program, {seconds:.1f} s (compilation included)",
        "",
    ]
    table = [("variant", "final training loss (mean +/- SE)", "test accuracy (mean +/- SE)")]
    for i, name in ((0, "plain SGD"), (1, f"noisy SGD (eta {eta:g})")):
        ok = finite[i]
        if ok.sum() >= 2:
            m, s = stats.mean_and_se(train_loss[i][ok])
            shown = f"{m:.5f} +/- {s:.5f}"
        else:
            shown = "-"
        if not ok.all():
            shown += f" ({int((~ok).sum())} diverged, left out)"
        m, s = stats.mean_and_se(accuracy[i])
        table.append((name, shown, f"{m:.5f} +/- {s:.5f}"))
    lines += _aligned_table(table)
    lines += ["", "per run, final training loss / test accuracy:"]
    for i, name in enumerate(("plain", "noisy")):
        lines.append(
            f"  {name}: "
            + "  ".join(
                f"{lo:.3f}/{ac:.3f}" for lo, ac in zip(train_loss[i], accuracy[i], strict=True)
            )
        )
    lines += ["", "test accuracy:", comparison.table()]
    if loss_comparison is not None:
        lines += ["", "final training loss (lower is better):", loss_comparison.table()]
    lines += _failed_note(history, ("plain SGD", "noisy SGD"))
    figure = None
    if out is not None:
        title = (
            f"Gradient noise (seed 002 §6.4): depth {depth}, lr {learning_rate:g}, "
            f"eta {eta:g}, gamma {gamma:g}, {runs} runs"
        )
        per_epoch = -(-len(split.train["y"]) // batch_size)
        figure = _noise_figure(history.train_loss, per_epoch, steps, eta, out, title)
        lines.append(f"wrote {figure}")
    return NoiseResult(
        depth,
        steps,
        learning_rate,
        eta,
        gamma,
        train_loss,
        accuracy,
        comparison,
        loss_comparison,
        history,
        seconds,
        tuple("\n".join(lines).splitlines()),
        figure,
    )


def _noise_figure(train_loss, per_epoch: int, steps: int, eta: float, out: Path, title: str):
    """Training loss per epoch against the step: mean line and min–max band per variant."""
    from gdjax import plot

    losses = np.asarray(train_loss, np.float64)  # (2, runs, epochs)
    x = np.minimum(np.arange(1, losses.shape[-1] + 1) * per_epoch, steps)
    fig, ax = plot.subplots(figsize=(7, 4.5))
    for i, (label, color) in enumerate(
        (("plain SGD", "k"), (f"noisy SGD, eta {eta:g}", "tab:red"))
    ):
        runs = np.where(np.isfinite(losses[i]), losses[i], np.nan)
        with np.errstate(all="ignore"):
            mean = np.nanmean(runs, axis=0)
            low, high = np.nanmin(runs, axis=0), np.nanmax(runs, axis=0)
        ax.plot(x, mean, color=color, lw=1.8, label=f"{label}: mean")
        ax.fill_between(x, low, high, color=color, alpha=0.18, label=f"{label}: min-max")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (epoch mean)")
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="lower left", fontsize="small")
    return plot.save(fig, out)
