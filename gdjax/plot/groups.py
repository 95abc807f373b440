"""Groups of runs: bands of curves, histograms, means with error bars, bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gdjax.plot._base import (
    Axes,
    _axes,
    _band,
    _labelled,
    _set_value_scale,
    _style,
    _value_scale,
)


def bands(
    x: Any,
    groups: Mapping[str, Any],
    ax: Axes | None = None,
    log: bool | str | None = None,
    xlabel: str = "step",
    ylabel: str = "",
    colors: Sequence[str] | None = None,
    legend: str | None = "best",
) -> Axes:
    """Curves over runs, one group per label: the mean over the runs as a line and the
    range from the lowest to the highest run as a band (non-finite values, a diverged
    run's, are left out).

    Args:
      x: ``(n,)`` the x of every curve (steps, epochs).
      groups: ``{label: (runs, n) array}``.
      ax: the axes to draw on; default a new figure.
      log: the value axis, as in `values`: None chooses, True/"log", "symlog",
        False/"linear" force.
      xlabel: x-axis label.
      ylabel: y-axis label.
      colors: colour per group; default black, red, blue, ...
      legend: legend location (a matplotlib ``loc`` or ``"outside"``), or ``None``.

    Returns:
      The axes.
    """
    x = np.asarray(x)
    curves = {label: np.atleast_2d(np.asarray(c, np.float64)) for label, c in groups.items()}
    for label, c in curves.items():
        if c.ndim != 2 or c.shape[1] != x.size:
            raise ValueError(f"bands: {label!r} must be (runs, {x.size}), got {c.shape}")
    ax = _axes(ax)
    scale = _value_scale([c.T for c in curves.values()], log, "bands")
    for i, (label, c) in enumerate(curves.items()):
        color = _style(i, None, colors)[1]
        _band(ax, x, c, color, (f"{label}: mean of {c.shape[0]}", f"{label}: min-max"))
    _set_value_scale(ax, scale, list(curves.values()))
    return _labelled(ax, xlabel, ylabel, legend if curves else None)


def histograms(
    groups: Mapping[str, Any],
    ax: Axes | None = None,
    bins: int = 15,
    xlabel: str = "",
    ylabel: str = "runs",
    colors: Sequence[str] = ("0.3", "0.8", "tab:red", "tab:blue", "tab:green"),
    legend: str | None = "best",
) -> Axes:
    """Overlaid histograms of several samples on shared bins, one per label.

    The first is opaque, the others half transparent, so overlaps stay
    visible (dark and light grey give a middle grey, as seed 001 Fig. 11-8).

    Args:
      groups: ``{label: (n,) sample}``; non-finite values are left out.
      ax: the axes to draw on; default a new figure.
      bins: number of bins over the range of all samples.
      xlabel: x-axis label (what was measured).
      ylabel: y-axis label.
      colors: colour per sample.
      legend: legend location, or ``None``.

    Returns:
      The axes.
    """
    ax = _axes(ax)
    samples = {label: np.asarray(v, np.float64).reshape(-1) for label, v in groups.items()}
    samples = {label: v[np.isfinite(v)] for label, v in samples.items()}
    pooled = np.concatenate(list(samples.values())) if samples else np.zeros(0)
    edges = np.histogram_bin_edges(pooled if pooled.size else [0.0], bins)
    for i, (label, sample) in enumerate(samples.items()):
        color = colors[i % len(colors)]
        alpha = 1.0 if i == 0 else 0.75
        ax.hist(sample, bins=edges, color=color, edgecolor="k", alpha=alpha, label=label)
    ax.yaxis.get_major_locator().set_params(integer=True)  # counts
    return _labelled(ax, xlabel, ylabel, legend if samples else None)


def errorbars(
    labels: Sequence[str],
    means: Any,
    errors: Any,
    ax: Axes | None = None,
    points: Any = None,
    ylabel: str = "",
    xlabel: str = "",
    error_label: str = "mean ± SE",
    legend: str | None = "best",
) -> Axes:
    """A point with error bars per label, and optionally the single values beside it.

    For comparing means whose differences are small next to their size: the
    points stand on no bar, so an axis that does not start at 0 exaggerates
    nothing, and the single values (``points``) show the spread behind each
    mean.

    Args:
      labels: one per point, on the x-axis.
      means: ``(k,)`` the points.
      errors: ``(k,)`` the half-length of each error bar (a standard error, say).
      ax: the axes to draw on; default a new figure.
      points: ``(k, runs)`` single values drawn as small grey dots; None for none.
      ylabel: y-axis label (say what the points and bars are).
      xlabel: x-axis label.
      error_label: the legend's name of a point with its bar.
      legend: legend location, or ``None``.

    Returns:
      The axes.
    """
    ax = _axes(ax)
    x = np.arange(len(labels), dtype=np.float64)
    if points is not None:
        points = np.asarray(points, np.float64)
        offsets = 0.15 + np.linspace(0.0, 0.15, points.shape[1])
        for i, row in enumerate(points):
            ax.plot(
                x[i] + offsets,
                row,
                ".",
                color="0.5",
                ms=6,
                linestyle="none",
                label="one run" if i == 0 else None,
            )
    ax.errorbar(
        x, means, yerr=errors, fmt="o", color="k", ms=7, capsize=6, lw=1.5, label=error_label
    )
    ax.set_xticks(x, list(labels))
    ax.set_xlim(-0.5, len(labels) - 0.5)
    return _labelled(ax, xlabel, ylabel, legend)


def bars(
    labels: Sequence[str],
    heights: Any,
    ax: Axes | None = None,
    errors: Any = None,
    ylabel: str = "",
    xlabel: str = "",
) -> Axes:
    """Grey bars from 0, one per label, with optional error bars.

    Args:
      labels: one per bar, on the x-axis.
      heights: ``(k,)`` the bars' heights.
      ax: the axes to draw on; default a new figure.
      errors: ``(k,)`` half-lengths of error bars; None for none.
      ylabel: y-axis label.
      xlabel: x-axis label.

    Returns:
      The axes.
    """
    ax = _axes(ax)
    x = np.arange(len(labels), dtype=np.float64)
    ax.bar(x, heights, yerr=errors, color="0.6", edgecolor="k", capsize=6, width=0.6)
    ax.set_xticks(x, list(labels))
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
