"""The figures of `gdjax.experiments`, composed from the generic pieces; each reads its
result's fields by name and imports nothing of `gdjax.experiments`."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdjax.plot._base import (
    subplots,
)
from gdjax.plot.grids import GridAxis, _log_scores, heatmap
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
        GridAxis("learning rate", result.learning_rates),
        GridAxis("momentum", result.momenta),
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


def order_figure(result: Any) -> Any:
    """The learning curves and final scores of a `gdjax.experiments.OrderResult`: left,
    the validation loss after every epoch per variant (shuffled black, sorted by class
    red, curriculum blue; the mean over the runs and their range); right, the final
    test MCC of each variant as mean ± SE with every run beside it.

    Returns:
      The matplotlib ``Figure``; `save` writes it.
    """
    fig, (left, right) = subplots(1, 2, figsize=(11, 4.5), width_ratios=(1.6, 1))
    curves = np.asarray(result.validation_loss, np.float64)  # (3, runs, epochs)
    groups = {label: curves[i] for i, label in enumerate(result.labels)}
    bands(
        np.arange(1, curves.shape[-1] + 1),
        groups,
        left,
        log="log" if _log_scores(curves) else "linear",
        xlabel="epoch",
        ylabel="validation loss (cross-entropy)",
        legend="upper right",
    )
    left.set_title("validation loss after every epoch", fontsize="medium")
    mcc = np.asarray(result.mcc, np.float64)
    se = mcc.std(axis=1, ddof=1) / np.sqrt(mcc.shape[1])
    errorbars(
        result.labels,
        mcc.mean(axis=1),
        se,
        right,
        points=mcc,
        ylabel="test MCC after the last epoch",
        error_label=f"mean ± SE of {mcc.shape[1]} runs",
        legend="lower left",
    )
    right.set_title("final test MCC", fontsize="medium")
    fig.suptitle(
        f"Example order (seed 002 §6.1): MLP {result.depth}×{result.width}, SGD lr "
        f"{result.learning_rate:g}, batches of {result.batch_size}",
        fontsize="medium",
    )
    return fig


def early_stopping_figure(result: Any) -> Any:
    """The curves of a `gdjax.experiments.EarlyStoppingResult`: top, every run's
    validation loss after every epoch (log axis) with the epoch early stopping keeps
    marked (a dot) and the epoch it would stop after (a cross); bottom, every run's
    test MCC (from the fifth epoch's range up) with the same marks, so the MCC kept
    and the MCC at the end can be read off.

    Returns:
      The matplotlib ``Figure``; `save` writes it.
    """
    fig, (top, bottom) = subplots(2, 1, figsize=(7.5, 7), sharex=True)
    epochs = np.arange(1, result.validation_loss.shape[1] + 1)
    rows = np.arange(result.validation_loss.shape[0])
    chosen, stopped = np.asarray(result.chosen_epoch), np.asarray(result.stopped_epoch)
    for ax, values, label in (
        (top, result.validation_loss, "validation loss"),
        (bottom, result.test_mcc, "test MCC"),
    ):
        values = np.asarray(values, np.float64)
        ax.plot(epochs, values.T, color="0.6", linewidth=0.8)
        ax.plot(chosen, values[rows, chosen - 1], "o", color="tab:red", label="epoch kept")
        ax.plot(stopped, values[rows, stopped - 1], "x", color="k", label="stopped after")
        ax.set_ylabel(label)
        ax.legend(loc="center right", fontsize="small")
    # The first epochs' loss is several times the rest: a log axis keeps the rise visible.
    top.set_yscale("log")
    # The MCC from the fifth epoch on: the first epochs' low scores would flatten the rest.
    mcc = np.asarray(result.test_mcc, np.float64)[:, min(4, len(epochs) - 1) :]
    low, high = np.nanmin(mcc), np.nanmax(mcc)
    bottom.set_ylim(low - 0.1 * (high - low) - 1e-3, high + 0.1 * (high - low) + 1e-3)
    bottom.set_xlabel("epoch")
    top.set_title(
        f"Early stopping (seed 002 §6.3): {result.train_size} training digits, MLP "
        f"{result.depth}×{result.width}, patience {result.patience}, {len(rows)} runs",
        fontsize="medium",
    )
    return fig


def batchnorm_figure(result: Any) -> Any:
    """The two grids of a `gdjax.experiments.BatchnormResult`: left, the final
    training loss against the learning rate (without BN black, with BN red; the mean
    over the seeds and their range; log x), the threshold below which a run trains
    dashed and each variant's best rate ringed; right, the same against the
    initialisation scale at one rate.

    Returns:
      The matplotlib ``Figure``; `save` writes it.
    """
    fig, (left, right) = subplots(1, 2, figsize=(11, 4.5))
    colors = ("k", "tab:red")
    for ax, x, loss, xlabel in (
        (left, result.learning_rates, result.loss, "learning rate (init scale 0.5)"),
        (right, result.scales, result.scale_loss, f"init scale s (lr {result.scale_rate:g})"),
    ):
        loss = np.asarray(loss, np.float64)  # (2, points, runs)
        groups = {label: loss[v].T for v, label in enumerate(result.labels)}
        bands(
            x,
            groups,
            ax,
            log="log" if _log_scores(loss) else "linear",
            xlabel=xlabel,
            ylabel="final training loss",
            colors=colors,
            legend=None,
        )
        ax.set_xscale("log")
        ax.axhline(
            result.threshold,
            color="0.5",
            linestyle="--",
            linewidth=0.8,
            label=f"threshold {result.threshold:g}",
        )
    best = np.asarray(result.best)
    for v, label in enumerate(result.labels):
        rate = result.learning_rates[best[v]]
        mean = np.nanmean(np.asarray(result.loss, np.float64)[v, best[v]])
        left.plot(rate, mean, "o", mfc="none", ms=11, color=colors[v], label=f"best: {label}")
    left.legend(loc="lower right", fontsize="small")
    left.set_title("final loss against the learning rate", fontsize="medium")
    right.set_title("sensitivity to the initialisation scale", fontsize="medium")
    fig.suptitle(
        f"Batch normalization (seed 002 §6.2): MLP {'-'.join(map(str, result.sizes))} on "
        f"{result.dataset}, SGD, {result.steps:,} steps, {np.shape(result.loss)[2]} seeds",
        fontsize="medium",
    )
    return fig
