"""Seed 002 §6.2: the texts' MLP with and without batch normalization, over learning
rates and initialisation scales.

The text claims that normalising each hidden unit over the mini-batch lets
one use higher learning rates and care less about the initialisation. The
texts' sigmoid MLP (`gdjax.training.models.mlp_init`, squared error against
one-hot labels) is trained with plain mini-batch SGD, and the same network
with batch normalization between each hidden dense layer and its sigmoid
(`gdjax.training.models.bn_mlp_init`; its running averages are the model
state ``fit_many`` carries):

- the learning-rate grid: every rate × ``runs`` seeds at the book's init
  scale 0.5, each variant one `gdjax.training.fit_many` program (settings:
  the rates);
- the init-scale grid: weights and biases uniform in ``[-s, s]`` for every
  ``s`` in ``scales``, × ``runs`` seeds at ``scale_rate``. The scale is an
  argument of the initialisation, not of the optimizer, which is all
  fit_many's settings vary, so each scale is a `fit_many` call of its own.
  The scale is the init's data (a `jax.tree_util.Partial`), so the calls
  share every compiled program, the init's too.

A seed gives both variants the same weights and shuffling. Each run's
final training loss is measured on the whole training set (BN in
evaluation mode); a rate *trains* when every run ends finite and below
``threshold``. Each variant's best rate is the one of lowest mean final
loss among the rates whose runs all end finite (chosen on the training
loss, so the test set chooses nothing), and its runs' test MCCs are
compared with `gdjax.training.stats.compare` (BN first). Nothing is
drawn: `gdjax.plot.batchnorm_figure` draws the result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

import gdjax
from gdjax._validation import check_int, check_range
from gdjax.experiments import _common
from gdjax.training import History, models, stats

VARIANTS = ("without BN", "with BN")
"""The two networks, in the order of every ``(2, ...)`` array of `BatchnormResult`."""

BATCHNORM_RATES = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
"""Default learning rates of `batchnorm`: a factor of about 3 apart, from well below the
book's 1.0 to where both networks fail."""

BATCHNORM_SCALES = (0.1, 0.5, 1.0, 2.0, 4.0)
"""Default half-widths of the uniform initialisation (the book's is 0.5)."""


class BatchnormResult(NamedTuple):
    """What `batchnorm` found. Variants are `VARIANTS`: without BN, with BN.

    Attributes:
      dataset: ``"digits"`` or ``"fashion-mnist"``.
      sizes: the MLP's layer sizes, e.g. ``(64, 100, 50, 10)``.
      steps: mini-batches per run.
      batch_size: examples per mini-batch.
      threshold: a run trains when its final training loss is finite and below this.
      learning_rates: ``(L,)`` the rates of the learning-rate grid (init scale 0.5).
      scales: ``(S,)`` the init scales of the second grid.
      scale_rate: the learning rate of the init-scale grid.
      loss: ``(2, L, runs)`` final mean training loss (half squared error) of every
        run, BN in evaluation mode; non-finite where a run's loss went non-finite.
      trains: ``(2, L)`` True where every run of that rate trains.
      accuracy: ``(2, L, runs)`` final test accuracy.
      mcc: ``(2, L, runs)`` final test MCC.
      best: ``(2,)`` each variant's best rate (index into ``learning_rates``): the
        lowest mean final training loss among the rates whose runs all end finite.
      comparison: `gdjax.training.stats.Comparison` of the test MCCs at the best
        rates, with BN first.
      scale_loss: ``(2, S, runs)`` final training loss of the init-scale grid.
      failed: ``(2, L, runs)`` runs whose loss or gradient went non-finite.
      scale_failed: ``(2, S, runs)`` the same for the init-scale grid.
      histories: the `gdjax.training.History` of each variant's learning-rate
        program, arrays ``(L, runs, ...)``.
      seconds: ``(2,)`` wall time of each variant's learning-rate program.
      scale_seconds: ``(2,)`` wall time of each variant's init-scale grid (one
        `fit_many` call per scale), compilation included throughout.
    """

    dataset: str
    sizes: tuple[int, ...]
    steps: int
    batch_size: int
    threshold: float
    learning_rates: np.ndarray
    scales: np.ndarray
    scale_rate: float
    loss: np.ndarray
    trains: np.ndarray
    accuracy: np.ndarray
    mcc: np.ndarray
    best: np.ndarray
    comparison: stats.Comparison
    scale_loss: np.ndarray
    failed: np.ndarray
    scale_failed: np.ndarray
    histories: tuple[History, History]
    seconds: np.ndarray
    scale_seconds: np.ndarray

    @property
    def runs(self) -> int:
        """Seeds per grid point."""
        return int(self.loss.shape[2])

    @property
    def labels(self) -> tuple[str, str]:
        """The two variants in words (`VARIANTS`)."""
        return VARIANTS

    def report(self) -> str:
        """The printable report: final loss per rate and variant, the range that trains,
        the init-scale spread, and the test MCC at each variant's best rate."""
        return _report(self)


class _Network(NamedTuple):
    """One variant as the experiment drives it: its params and model state (None for
    the network without one) from ``(scale, key)``, and the loss and outputs of a
    trained ``(params, model_state)`` pair."""

    loss: Callable
    params: Callable[[float, jax.Array], Any]
    state: Callable[[float, jax.Array], Any] | None
    eval_loss: Callable
    apply: Callable


@functools.cache  # the same functions for the same sizes: their programs compile once
def _networks(sizes: tuple[int, ...]) -> tuple[_Network, _Network]:
    """Without BN the model state is None; fit_many then returns params alone, and the
    evaluation functions take the params. With BN they take ``(params, model_state)``."""
    plain = _Network(
        models.mlp_loss,
        lambda scale, key: models.mlp_init(key, sizes, scale),
        None,
        models.mlp_loss,
        models.mlp_apply,
    )
    bn = _Network(
        models.bn_mlp_loss,
        lambda scale, key: models.bn_mlp_init(key, sizes, scale)[0],
        lambda scale, key: models.bn_mlp_init(key, sizes, scale)[1],
        lambda pair, batch: models.bn_mlp_loss(pair[0], pair[1], batch, False)[0],
        lambda pair, x: models.bn_mlp_apply(pair[0], pair[1], x, False)[0],
    )
    return plain, bn


def batchnorm(
    runs: int = 5,
    steps: int = 1000,
    learning_rates: Sequence[float] = BATCHNORM_RATES,
    scales: Sequence[float] = BATCHNORM_SCALES,
    scale_rate: float = 1.0,
    threshold: float = 0.1,
    data: _common.Dataset = _common.DIGITS,
    batch_size: int = 64,
    progress: bool = True,
) -> BatchnormResult:
    """Seed 002 §6.2: does batch normalization allow larger rates and a careless init?

    The method and its results at the defaults: docs/experiments.md, "Batch normalization".
    The method also heads gdjax/experiments/batchnorm.py.

    Args:
      runs: seeds per grid point, >= 2. Default 5.
      steps: mini-batches per run, >= 1. Default 1,000.
      learning_rates: SGD's rates, each > 0, at least 2. Default `BATCHNORM_RATES`.
      scales: init half-widths, each > 0, at least 2. Default `BATCHNORM_SCALES`.
      scale_rate: the learning rate of the init-scale grid, > 0. Default 1.0.
      threshold: the final training loss below which a run trains, > 0. Default 0.1.
      data: the data set, `Dataset` (default: digits).
      batch_size: examples per mini-batch. Default 64.
      progress: show a progress bar over the epochs.

    Returns:
      `BatchnormResult`.

    Raises:
      ValueError: a bad argument (the message names it and the allowed values).
      FileNotFoundError: Fashion-MNIST's files are not in ``data.directory``.
    """
    owner = "batchnorm"
    runs = check_int(owner, "runs", runs, 2)
    steps = check_int(owner, "steps", steps, 1)
    learning_rates = _positive_values(owner, "learning_rates", learning_rates)
    scales = _positive_values(owner, "scales", scales)
    scale_rate = float(check_range(owner, "scale_rate", scale_rate, "(0, inf)"))
    threshold = float(check_range(owner, "threshold", threshold, "(0, inf)"))
    data = _common.check_dataset(owner, data)
    batch_size, (train, test, sizes) = _common.checked_data(
        owner, batch_size, progress, lambda: _common.mlp_split(data)
    )

    networks = _networks(sizes)
    programs = [  # each variant's learning-rate grid, from the book's init scale 0.5
        _common.Program(
            net.loss,
            _at(net.params, 0.5),
            _sgd,
            train,
            seeds=runs,
            settings={"learning_rate": [float(r) for r in learning_rates]},
            batch_size=batch_size,
            steps=steps,
            model_state=_at(net.state, 0.5),
        )
        for net in networks
    ]
    variants = list(zip(networks, programs, strict=True))
    rate_grids = [_rate_grid(*variant, test, progress) for variant in variants]
    scale_grids = [_scale_grid(*variant, scales, scale_rate, progress) for variant in variants]
    return BatchnormResult(
        dataset=data.name,
        sizes=sizes,
        steps=steps,
        batch_size=batch_size,
        threshold=threshold,
        learning_rates=learning_rates,
        scales=scales,
        scale_rate=scale_rate,
        **_measured(rate_grids, scale_grids, threshold),
    )


def _positive_values(owner: str, name: str, values: Sequence[float]) -> np.ndarray:
    """``values`` as a float array: at least two, each finite and > 0."""
    try:
        array = np.asarray(values, np.float64).reshape(-1)
    except (TypeError, ValueError):
        array = np.asarray([np.nan])
    if array.size < 2 or not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{owner}: {name} must be at least two finite numbers > 0, got {values!r}")
    return array


def _sgd(learning_rate):
    """Every program's optimizer: one function, since fit_many keeps its compiled
    programs on the identity of ``make_optimizer`` (a new lambda per scale would
    compile each scale's training program again)."""
    return gdjax.sgd(learning_rate)


class _RateGrid(NamedTuple):
    """One variant's learning-rate program, measured: ``(L, runs)`` arrays."""

    loss: np.ndarray
    failed: np.ndarray
    accuracy: np.ndarray
    mcc: np.ndarray
    history: History
    seconds: float


class _ScaleGrid(NamedTuple):
    """One variant's init-scale programs, measured: ``(S, runs)`` arrays, total seconds."""

    loss: np.ndarray
    failed: np.ndarray
    seconds: float


def _rate_grid(net: _Network, program: _common.Program, test: dict, progress: bool) -> _RateGrid:
    """``program`` (every rate × seed) run: the final training loss, failures and test
    scores of every run."""
    params, history, seconds = _common.train(program, progress)
    predictions = _common.predict(net.apply, params, test["x"])
    accuracy, mcc = _common.scores(test["y"], predictions)
    loss = _common.mean_loss(net.eval_loss, params, program.data)
    return _RateGrid(loss, _common.failed(history), accuracy, mcc, history, seconds)


def _scale_grid(
    net: _Network, program: _common.Program, scales: np.ndarray, rate: float, progress: bool
) -> _ScaleGrid:
    """``program`` once per init scale, at ``rate`` alone: the final training loss and
    failures of every run."""
    losses, failures, seconds = [], [], 0.0
    for scale in scales:
        scaled = program._replace(
            init=_at(net.params, float(scale)),
            model_state=_at(net.state, float(scale)),
            settings={"learning_rate": [rate]},
        )
        params, history, took = _common.train(scaled, progress)
        losses.append(_common.mean_loss(net.eval_loss, params, program.data)[0])
        failures.append(_common.failed(history)[0])
        seconds += took
    return _ScaleGrid(np.stack(losses), np.stack(failures), seconds)


def _at(part: Callable[[float, jax.Array], Any] | None, scale: float) -> Callable | None:
    """``key -> part(scale, key)`` with the scale as data (a `jax.tree_util.Partial`):
    fit_many compiles one init for every scale, where a closure per scale compiled
    its threefry draws again (about 3 s each on a 2-core CPU). None stays None."""
    return None if part is None else jax.tree_util.Partial(part, scale)


def _best(loss: np.ndarray) -> int:
    """The rate of lowest mean final loss among those whose runs all end finite (the
    lowest rate when none does)."""
    finite = np.all(np.isfinite(loss), axis=1)
    if not finite.any():
        return 0
    means = np.where(finite, np.where(finite[:, None], loss, 0.0).mean(axis=1), np.inf)
    return int(np.argmin(means))


def _measured(
    rate_grids: list[_RateGrid], scale_grids: list[_ScaleGrid], threshold: float
) -> dict[str, Any]:
    """The measured fields of `BatchnormResult`: both variants' grids stacked, the rates
    that train, each variant's best rate and the comparison of the test MCCs there."""
    loss = np.stack([g.loss for g in rate_grids])
    mcc = np.stack([g.mcc for g in rate_grids])
    best = np.asarray([_best(v) for v in loss])
    return {
        "loss": loss,
        "trains": trains(loss, threshold),
        "accuracy": np.stack([g.accuracy for g in rate_grids]),
        "mcc": mcc,
        "best": best,
        "comparison": stats.compare(mcc[1, best[1]], mcc[0, best[0]], names=("BN", "no BN")),
        "scale_loss": np.stack([g.loss for g in scale_grids]),
        "failed": np.stack([g.failed for g in rate_grids]),
        "scale_failed": np.stack([g.failed for g in scale_grids]),
        "histories": (rate_grids[0].history, rate_grids[1].history),
        "seconds": np.asarray([g.seconds for g in rate_grids]),
        "scale_seconds": np.asarray([g.seconds for g in scale_grids]),
    }


def trains(loss: np.ndarray, threshold: float) -> np.ndarray:
    """``(..., runs)`` final losses to ``(...)`` bool: every run finite and below
    ``threshold`` (NaN compares False, so a non-finite run fails)."""
    return np.all(np.asarray(loss) < threshold, axis=-1)


def trained_range(rates: np.ndarray, trains_row: np.ndarray) -> str:
    """The rates that train, as text: ``"0.3 to 10"``, a list when they are not
    contiguous in the grid, or ``"none"``."""
    picked = [float(r) for r, ok in zip(rates, trains_row, strict=True) if ok]
    if not picked:
        return "none"
    index = np.flatnonzero(trains_row)
    if len(picked) > 1 and np.all(np.diff(index) == 1):
        return f"{picked[0]:g} to {picked[-1]:g}"
    return ", ".join(f"{r:g}" for r in picked)


def _report(result: BatchnormResult) -> str:
    r = result
    lines = [
        f"seed 002 §6.2 batch normalization on {r.dataset}: sigmoid MLP "
        f"{'-'.join(map(str, r.sizes))}, squared error, SGD, {r.steps:,} mini-batches of "
        f"{r.batch_size}, {r.runs} runs per grid point",
        "with BN: batch_norm between each hidden dense layer and its sigmoid (no hidden "
        "bias); the final training loss is measured with the running averages",
        f"training: learning-rate grid {r.seconds[0]:.1f} s / {r.seconds[1]:.1f} s (one "
        f"program per variant), init-scale grid {r.scale_seconds[0]:.1f} s / "
        f"{r.scale_seconds[1]:.1f} s (a fit_many call per scale, compiled once), "
        "compilation included",
        "",
        "final training loss (mean +/- SE over the runs), init scale 0.5:",
        *_common.aligned_table(_rate_rows(r)),
        "*: every run finite and below the threshold",
        "",
        f"learning rates that train (every run's final loss finite and < {r.threshold:g}):",
    ]
    lines += [
        f"  {name}: {trained_range(r.learning_rates, r.trains[v])}"
        for v, name in enumerate(VARIANTS)
    ]
    lines += [
        "",
        f"init-scale sensitivity: final training loss at lr {r.scale_rate:g}, weights "
        "uniform in [-s, s] (mean +/- SE; SD: the spread over the seeds):",
        *_common.aligned_table(_scale_rows(r)),
        "spread over scales (largest minus smallest mean): "
        + ", ".join(f"{name} {_spread(r.scale_loss[v]):.4f}" for v, name in enumerate(VARIANTS)),
        "",
        "test MCC at each variant's best rate (lowest mean final training loss), mean +/- SE:",
        *(
            f"  {name}: lr {r.learning_rates[r.best[v]]:g}, {_common.mean_se(r.mcc[v, r.best[v]])}"
            for v, name in enumerate(VARIANTS)
        ),
        "",
        r.comparison.table(),
    ]
    names = [f"{n}, lr {lr:g}" for n in VARIANTS for lr in r.learning_rates]
    lines += _common.failed_notes(r.failed.reshape(-1, r.runs), names)
    names = [f"{n}, scale {s:g}" for n in VARIANTS for s in r.scales]
    lines += _common.failed_notes(r.scale_failed.reshape(-1, r.runs), names)
    return "\n".join(lines)


def _cell(values: np.ndarray) -> str:
    """Mean +/- SE of the finite values, with a count of the non-finite ones."""
    finite = np.isfinite(values)
    text = _common.mean_se(values[finite], 4) if finite.sum() >= 2 else "-"
    if not finite.all():
        text += f" ({int((~finite).sum())} non-finite)"
    return text


def _spread(loss: np.ndarray) -> float:
    """Largest minus smallest per-scale mean final loss (NaN when one is not finite)."""
    means = np.asarray(loss, np.float64).mean(axis=-1)
    return float(means.max() - means.min())


def _rate_rows(r: BatchnormResult) -> list[tuple[str, ...]]:
    rows = [("learning rate", *VARIANTS)]
    for i, rate in enumerate(r.learning_rates):
        cells = (_cell(r.loss[v, i]) + (" *" if r.trains[v, i] else "") for v in range(2))
        rows.append((f"{rate:g}", *cells))
    return rows


def _scale_rows(r: BatchnormResult) -> list[tuple[str, ...]]:
    rows = [("init scale s", *(f"{n} (mean +/- SE, SD)" for n in VARIANTS))]
    for i, scale in enumerate(r.scales):
        cells = (
            f"{_cell(r.scale_loss[v, i])}, {np.std(r.scale_loss[v, i], ddof=1):.4f}"
            for v in range(2)
        )
        rows.append((f"{scale:g}", *cells))
    return rows
