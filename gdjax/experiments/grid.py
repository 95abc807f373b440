"""A learning-rate × momentum grid on seed 001's MLP, every cell in one program.

Named ``grid`` so that it is not taken for `gdjax.trajectories.sweep`, which
sweeps hyperparameters over trajectories on test landscapes.

A ``validation_fraction`` of the training data (stratified by class, a fixed
split) is held out. The mesh of ``learning_rates`` × ``momenta`` is
flattened into zipped `gdjax.training.fit_many` settings of
``gdjax.sgd(learning_rate, momentum)``, trained on the rest from one seed
(the same initial params and shuffling in every cell) for ``steps``
mini-batches. Every cell's final params are scored on the validation and
the test set (loss: half the squared error against one-hot labels, per
example; accuracy). The best cell is the one of the lowest validation loss;
its test loss and accuracy are the held-out estimate, since the test set
played no part in choosing it. A run that hit a non-finite loss counts as
failed (diverged) and is never best. Nothing is drawn:
`gdjax.plot.grid_figure` draws the heat-map from the result.

The book's two settings (lr 1.0 without momentum, lr 0.2 with 0.9) are two
points of this plane; the grid shows where they lie in it: with momentum
``mu`` the steady-state step is ``lr / (1 - mu)``, so the good region
runs diagonally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from gdjax._validation import check_int, check_range
from gdjax.experiments import _common
from gdjax.training import datasets, models

GRID_LEARNING_RATES = tuple(float(v) for v in np.geomspace(0.01, 3, 8))
"""The default learning rates of `grid`: ``np.geomspace(0.01, 3, 8)``."""

GRID_MOMENTA = (0.0, 0.5, 0.9, 0.95)
"""The default momenta of `grid`."""

VALIDATION_SEED = 0
"""The seed of the stratified validation split (fixed, so every grid sees the same split)."""


class GridResult(NamedTuple):
    """What `grid` found. Grid arrays are ``(L, M)``: rows learning rates, columns momenta.

    Attributes:
      dataset: ``"digits"`` or ``"fashion-mnist"``.
      sizes: the MLP's layer sizes.
      steps: mini-batches per run.
      batch_size: examples per mini-batch.
      seed: the seed of the initial params and the shuffling.
      examples: ``(training, validation, test)`` example counts; the validation
        set is split off the training data.
      learning_rates: ``(L,)`` the rates of the grid.
      momenta: ``(M,)`` the momenta.
      validation_loss: ``(L, M)`` the final loss on the validation set (half the
        squared error against one-hot labels, per example).
      validation_accuracy: ``(L, M)`` the final validation accuracy.
      test_loss: ``(L, M)`` the final loss on the test set.
      test_accuracy: ``(L, M)`` the final test accuracy.
      failed: ``(L, M)`` bool: the run's loss or gradient went non-finite (it stood
        still from then on) or its final loss is not finite; such a cell is never best.
      best: the cell of the lowest validation loss among those not failed, as
        ``{"learning_rate", "momentum", "validation_loss", "validation_accuracy",
        "test_loss", "test_accuracy"}``; None when every cell failed.
      seconds: wall time of the L × M runs, one program, compilation included.
    """

    dataset: str
    sizes: tuple[int, ...]
    steps: int
    batch_size: int
    seed: int
    examples: tuple[int, int, int]
    learning_rates: np.ndarray
    momenta: np.ndarray
    validation_loss: np.ndarray
    validation_accuracy: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    failed: np.ndarray
    best: dict | None
    seconds: float

    def report(self) -> str:
        """The printable report: the validation losses of the grid, and the test scores of
        the cell chosen on validation."""
        return _report(self)


def grid(
    learning_rates: Sequence[float] = GRID_LEARNING_RATES,
    momenta: Sequence[float] = GRID_MOMENTA,
    steps: int = 10_000,
    data: _common.Dataset = _common.DIGITS,
    seed: int = 0,
    batch_size: int = 64,
    validation_fraction: float = 0.2,
    progress: bool = True,
) -> GridResult:
    """A learning-rate × momentum grid on seed 001's MLP, every cell in one program.

    The method and its results at the defaults: docs/experiments.md,
    "Learning-rate × momentum grid". The method also heads gdjax/experiments/grid.py.

    Args:
      learning_rates: the rates, > 0. Default ``np.geomspace(0.01, 3, 8)``.
      momenta: the momenta, in [0, 1]. Default ``(0.0, 0.5, 0.9, 0.95)``.
      steps: mini-batches per run. Default 10,000, as `momentum` on digits (the 32
        cells take about 30 s on a 2-core CPU, compilation included).
      data: the data set, `Dataset` (default: digits).
      seed: the seed of the initial params and the shuffling.
      batch_size: examples per mini-batch. Default 64.
      validation_fraction: share of each class of the training data held out for
        validation, in (0, 1). Default 0.2.
      progress: show a progress bar over the epochs.

    Returns:
      `GridResult`.

    Raises:
      ValueError: a bad argument (the message names it and the allowed values).
      FileNotFoundError: Fashion-MNIST's files are not in ``data.directory``.
    """
    owner = "grid"
    lrs = _axis(owner, "learning_rates", learning_rates, lambda a: a > 0, "> 0")
    moms = _axis(owner, "momenta", momenta, lambda a: (a >= 0) & (a <= 1), "in [0, 1]")
    steps = check_int(owner, "steps", steps, 1)
    seed = check_int(owner, "seed", seed, 0)
    fraction = float(check_range(owner, "validation_fraction", validation_fraction, "(0, 1)"))
    data = _common.check_dataset(owner, data)
    batch_size, (train, validation, test, sizes) = _common.checked_data(
        owner, batch_size, progress, lambda: _split(data, fraction)
    )

    lr_grid, mom_grid = np.meshgrid(lrs, moms, indexing="ij")
    program = _common.Program(
        models.mlp_loss,
        _common.init_of(models.mlp_init, sizes),
        _common.sgd_momentum,
        train,
        seeds=[seed],
        settings={"learning_rate": lr_grid.ravel(), "momentum": mom_grid.ravel()},
        batch_size=batch_size,
        steps=steps,
    )
    trained = _common.train(program, progress)
    cells = _cells(trained, validation, test, lr_grid.shape)
    return GridResult(
        dataset=data.name,
        sizes=sizes,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        examples=(len(train["y"]), len(validation["y"]), len(test["y"])),
        learning_rates=lrs,
        momenta=moms,
        **cells._asdict(),
        best=_best(lrs, moms, cells),
        seconds=trained.seconds,
    )


class _Cells(NamedTuple):
    """Every cell's final scores, each ``(L, M)``, and whether it failed."""

    validation_loss: np.ndarray
    validation_accuracy: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    failed: np.ndarray


def _cells(
    trained: _common.Trained, validation: datasets.Data, test: datasets.Data, shape: tuple
) -> _Cells:
    """Every cell's final loss and accuracy on the validation and the test set; a cell
    failed when its run went non-finite or its final validation loss is not finite."""
    validation_loss, validation_accuracy = _evaluate(trained.params, validation, shape)
    test_loss, test_accuracy = _evaluate(trained.params, test, shape)
    failed = _common.failed(trained.history)[:, 0].reshape(shape) | ~np.isfinite(validation_loss)
    return _Cells(validation_loss, validation_accuracy, test_loss, test_accuracy, failed)


def _split(
    data: _common.Dataset, fraction: float
) -> tuple[datasets.Data, datasets.Data, datasets.Data, tuple[int, ...]]:
    """``(train, validation, test, sizes)``: the MLP's data (`_common.mlp_split`), a
    ``fraction`` of its training set held out by `validation_split`, and its layer sizes."""
    train, test, sizes = _common.mlp_split(data)
    return (*validation_split(train, fraction), test, sizes)


def validation_split(train: datasets.Data, fraction: float) -> tuple[datasets.Data, datasets.Data]:
    """``(training, validation)``: a stratified ``fraction`` of ``train`` held out
    (`gdjax.training.datasets.stratified_split` with seed `VALIDATION_SEED`)."""
    kept, held = datasets.stratified_split(train["y"], fraction, VALIDATION_SEED)
    return {k: v[kept] for k, v in train.items()}, {k: v[held] for k, v in train.items()}


def _axis(owner: str, name: str, values: Any, inside: Callable, allowed: str) -> np.ndarray:
    """One axis of the grid as a 1-D float64 array, or a ValueError naming it."""
    try:
        array = np.asarray(values, np.float64)
    except (TypeError, ValueError):
        array = np.full((0,), np.nan)
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array) & inside(array)):
        raise ValueError(
            f"{owner}: {name} must be a non-empty 1-D sequence of numbers {allowed}, got {values!r}"
        )
    return array


def _evaluate(params: Any, data: datasets.Data, shape) -> tuple[np.ndarray, np.ndarray]:
    """Every cell's final loss and accuracy on ``data``, each ``shape``."""
    loss = _common.mean_loss(models.mlp_loss, params, data)[:, 0]
    predictions = _common.predict(models.mlp_apply, params, data["x"])
    accuracy = _common.scores(data["y"], predictions)[0][:, 0]
    return loss.reshape(shape), accuracy.reshape(shape)


def _best(lrs, moms, cells: _Cells) -> dict | None:
    """The cell of the lowest validation loss among those not failed, with its scores."""
    validation_loss = np.where(cells.failed, np.inf, cells.validation_loss)
    if not np.isfinite(validation_loss).any():
        return None
    i, j = np.unravel_index(int(np.argmin(validation_loss)), validation_loss.shape)
    names = ("validation_loss", "validation_accuracy", "test_loss", "test_accuracy")
    cell = {name: float(getattr(cells, name)[i, j]) for name in names}
    return {"learning_rate": float(lrs[i]), "momentum": float(moms[j]), **cell}


def _report(result: GridResult) -> str:
    r = result
    train, validation, test = r.examples
    lines = [
        f"learning rate x momentum on {r.dataset}: MLP {'-'.join(map(str, r.sizes))}, "
        f"{r.learning_rates.size} x {r.momenta.size} = {r.failed.size} settings, seed {r.seed}, "
        f"{r.steps:,} mini-batches of {r.batch_size}",
        f"data: {train:,} training examples, {validation:,} for validation (held out of the "
        f"training set), {test:,} for the test",
        f"training: one vmapped program, {r.seconds:.1f} s (compilation included)",
        "",
        "final validation loss (rows: learning rate, columns: momentum):",
        *_common.aligned_table(_loss_rows(r)),
        "",
    ]
    if r.best is None:
        lines.append("best: none, every setting diverged")
    else:
        b = r.best
        lines += [
            f"best on validation: learning_rate={b['learning_rate']:.4g}, "
            f"momentum={b['momentum']:g}: validation loss {b['validation_loss']:.5f} "
            f"(accuracy {b['validation_accuracy']:.4f})",
            f"its test scores (the test set chose nothing): loss {b['test_loss']:.5f}, "
            f"accuracy {b['test_accuracy']:.4f}",
        ]
    if r.failed.any():
        lines.append(
            f"diverged (non-finite loss): {int(r.failed.sum())} of {r.failed.size} settings"
        )
    return "\n".join(lines)


def _loss_rows(r: GridResult) -> list[tuple[str, ...]]:
    rows = [("lr \\ momentum", *(f"{m:g}" for m in r.momenta))]
    for i, lr in enumerate(r.learning_rates):
        cells = (
            "diverged" if r.failed[i, j] else f"{r.validation_loss[i, j]:.5f}"
            for j in range(r.momenta.size)
        )
        rows.append((f"{lr:.4g}", *cells))
    return rows
