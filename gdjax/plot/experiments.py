"""The figures of `gdjax.experiments`, composed from the generic pieces; each reads its
result's fields by name and imports nothing of `gdjax.experiments`."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdjax.plot._base import (
    subplots,
)
from gdjax.plot.grids import _log_scores, heatmap
from gdjax.plot.groups import bands, bars, errorbars, histograms


def momentum_figure(result: Any) -> Any:
    """Seed 001 Fig. 11-8 from a `gdjax.experiments.MomentumResult`: histograms of the
    test MCC of every run, without momentum dark grey, with momentum light grey.

    Returns:
      The matplotlib ``Figure``; `save` writes it.
    """
    fig, ax = subplots(figsize=(7, 4.5))
    mcc = np.asarray(result.mcc, np.float64)
    groups = {label: mcc[i] for i, label in enumerate(result.labels)}
    histograms(groups, ax, bins=15, xlabel="MCC on the test set", ylabel="runs")
    ax.set_title(
        f"Fig. 11-8: test MCC of {mcc.shape[1]} runs per setting "
        f"({result.dataset}, {result.steps:,} steps)",
        fontsize="medium",
    )
    return fig


def optimizers_figure(result: Any) -> Any:
    """Seed 001 Fig. 11-11 from a `gdjax.experiments.OptimizersResult`: test accuracy
    as mean ± standard error with every run beside it (top), and the training time of
    each optimizer's runs as bars from 0 (bottom).

    Returns:
      The matplotlib ``Figure``; `save` writes it.
    """
    runs = int(np.shape(result.accuracy)[1])
    fig, (top, bottom) = subplots(2, 1, figsize=(6.5, 6.5), sharex=True)
    errorbars(
        result.labels,
        result.mean,
        result.se,
        top,
        points=result.accuracy,
        ylabel="test accuracy",
        error_label=f"mean ± SE of {runs} runs",
        legend="lower right",
    )
    top.set_title(
        f"Fig. 11-11: CNN on {result.dataset}, {runs} runs per optimizer, "
        f"{result.epochs} epoch{'s' if result.epochs != 1 else ''}",
        fontsize="medium",
    )
    bars(
        result.labels,
        result.seconds,
        bottom,
        ylabel=f"training time, s\n({runs} runs, one program)",
        xlabel="optimizer",
    )
    return fig


def grid_figure(result: Any) -> Any:
    """The heat map of a `gdjax.experiments.GridResult`: the final validation loss of
    every learning rate × momentum, the best cell (on validation) starred, diverged
    cells hatched and the book's two settings marked.

    The learning rates of a geometric grid get a log axis, a list of momenta such
    as 0, 0.5, 0.9, 0.95 equal labelled cells; losses spanning a factor of 10 or
    more a log colour scale (see `heatmap`).

    Returns:
      The matplotlib ``Figure``; `save` writes it.
    """
    fig, ax = subplots(figsize=(7, 5.5))
    marks = {"book: lr 1, no momentum": (1.0, 0.0), "book: lr 0.2, momentum 0.9": (0.2, 0.9)}
    heatmap(
        ("learning rate", "momentum"),
        (result.learning_rates, result.momenta),
        result.validation_loss,
        result.failed,
        ax,
        label="final validation loss",
        marks=marks,
    )
    ax.set_title(
        f"SGD on {result.dataset}: final validation loss after {result.steps:,} steps",
        fontsize="medium",
    )
    return fig


def noise_figure(result: Any) -> Any:
    """The training-loss curves of a `gdjax.experiments.NoiseResult`: per variant
    (plain SGD black, noisy SGD red) the mean over the runs of each epoch's loss and
    the range of the runs, on a log axis when the losses span a factor of 10 or more.

    Returns:
      The matplotlib ``Figure``; `save` writes it.
    """
    fig, ax = subplots(figsize=(7, 4.5))
    curves = np.asarray(result.history.train_loss, np.float64)  # (2, runs, epochs)
    groups = {label: curves[i] for i, label in enumerate(result.labels)}
    bands(
        result.epoch_steps,
        groups,
        ax,
        log="log" if _log_scores(curves) else "linear",
        ylabel="training loss (epoch mean)",
        colors=("k", "tab:red"),
        legend="lower left",
    )
    ax.set_title(
        f"Gradient noise (seed 002 §6.4): depth {result.depth}, lr {result.learning_rate:g}, "
        f"eta {result.eta:g}, gamma {result.gamma:g}, {curves.shape[1]} runs",
        fontsize="medium",
    )
    return fig
