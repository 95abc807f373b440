"""Trajectories: dotted paths over a landscape, value and state curves, animations."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gdjax.landscapes import Landscape
from gdjax.plot._base import (
    Axes,
    Bounds,
    Runs,
    _as_runs,
    _axes,
    _band,
    _labelled,
    _legend,
    _pyplot,
    _set_value_scale,
    _style,
    _thinned,
    _value_scale,
    gap_above,
)
from gdjax.plot.landscapes import contour, curve
from gdjax.trajectories import Trajectories


def paths(
    runs: Runs,
    ax: Axes | None = None,
    landscape: Landscape | None = None,
    every: int = 1,
    markers: Sequence[str] | None = None,
    colors: Sequence[str] | None = None,
    legend: str | None = "best",
    markersize: float = 5,
    log: bool = False,
    bounds: Bounds | None = None,
) -> Axes:
    """Draws trajectories as markers joined by dotted lines, one legend entry per optimizer.

    2-D runs (positions ``(R, N, 2)``) are drawn in the plane; 1-D runs
    (``(R, N, 1)``) as the points ``(x, f(x))`` on the curve, ``f`` taken
    from the recorded values. Each optimizer (key of ``runs``) gets its own
    marker and colour, shared by all its starts.

    To draw the NAG iterate of a Nesterov run instead of its look-ahead
    params, pass ``run._replace(positions=run.iterates)``.

    Args:
      runs: ``{label: Trajectories}``, or one `gdjax.trajectories.Trajectories`
        (no legend).
      ax: the axes to draw on; default a new figure.
      landscape: if given, its `contour` (2-D) or `curve` (1-D) is drawn
        first and the view stays on its bounds.
      every: draw every ``every``-th record (and always the last).
      markers: marker per optimizer; default circle, square, triangle, ...
      colors: colour per optimizer; default black, red, blue, green, ...
      legend: legend location (a matplotlib ``loc``, or ``"outside"`` for
        right of the axes), or ``None`` for no legend.
      markersize: marker size in points.
      log: logarithmic contour levels for the landscape (see `contour`).
      bounds: the landscape's box to draw; default its own ``bounds``.

    Returns:
      The axes.
    """
    ax = _axes(ax)
    if landscape is not None:
        if landscape.dim == 1:
            curve(landscape, ax, bounds=bounds)
        else:
            contour(landscape, ax, bounds=bounds, log=log)
        ax.set_autoscale_on(False)
    named = _as_runs(runs)
    for i, (label, run) in enumerate(named.items()):
        marker, color = _style(i, markers, colors)
        positions = np.asarray(run.positions)
        keep = _thinned(positions.shape[0], every)
        for n in range(positions.shape[1]):
            if positions.shape[-1] == 1:
                xy = positions[keep, n, 0], np.asarray(run.values)[keep, n]
            else:
                xy = positions[keep, n, 0], positions[keep, n, 1]
            ax.plot(
                *xy,
                marker=marker,
                color=color,
                linestyle=":",
                linewidth=1.2,
                markersize=markersize,
                markerfacecolor=color,
                markeredgecolor=color,
                label=label if n == 0 else None,
                zorder=3,
            )
    if legend and any(label is not None for label in named):
        _legend(ax, legend)
    return ax


def values(
    runs: Runs,
    ax: Axes | None = None,
    log: bool | str | None = None,
    minimum: float | None = None,
    legend: str | None = "best",
) -> Axes:
    """The function value against the step, one line per optimizer.

    With one start the line is that start's value. With several, the line is
    the mean over starts and a band shades the range from the lowest to the
    highest start, so an ensemble of thousands stays readable.

    The value axis is chosen from the values unless ``log`` says: logarithmic
    when they are positive and span three decades or more, symmetric-log
    (linear within the starts' scale, logarithmic beyond it) when they go
    negative beyond a thousand times that scale, as on a saddle whose paths
    run off to minus infinity; else linear. A log axis drops values of 0 or
    below, so where there are any it is symlog instead, log above the smallest
    positive value and linear below it: a run that reaches 0 is drawn there.

    Args:
      runs: ``{label: Trajectories}`` or one `gdjax.trajectories.Trajectories`.
      ax: the axes to draw on; default a new figure.
      log: the value axis: None (default) chooses as above; True or ``"log"``,
        ``"symlog"``, False or ``"linear"`` force one.
      minimum: if given, ``f - minimum`` is drawn (the gap to the optimum),
        so that a log axis shows the rate of convergence. On a log axis, gaps
        below the float resolution of ``minimum`` are rounding and drawn at it;
        with a minimum of 0 the gap is exact, down to 0.
      legend: legend location (a matplotlib ``loc`` or ``"outside"``), or ``None``.

    Returns:
      The axes.
    """
    ax = _axes(ax)
    named = _as_runs(runs)
    drawn = {}
    for label, run in named.items():
        vals = np.asarray(run.values, np.float64)
        drawn[label] = (np.asarray(run.steps), vals - minimum if minimum is not None else vals)
    scale = _value_scale([v for _, v in drawn.values()], log, "values")
    shown = []
    for i, (label, (steps, vals)) in enumerate(drawn.items()):
        if minimum is not None and scale[0] == "log":
            vals = gap_above(named[label].values, minimum)  # below f*'s resolution: rounding
        shown.append(vals)
        _band(ax, steps, vals.T, _style(i, None, None)[1], (label, None))
    _set_value_scale(ax, scale, shown)
    ax.set_xlabel("step")
    ax.set_ylabel("f - f*" if minimum is not None else "f")
    if legend and any(label is not None for label in named):
        _legend(ax, legend)
    return ax


def state_curves(
    steps: Any,
    curves: Mapping[str, Any],
    ax: Axes | None = None,
    xlabel: str = "iterations",
    ylabel: str = "",
    legend: str | None = "best",
) -> Axes:
    """Curves of optimizer state against the iteration, as seed 000 Figs. 3.7 and 3.10 draw.

    For example the velocity of ``x`` and ``y`` under momentum, or RMSProp's
    accumulated ``g∘g`` per coordinate, taken from a run with
    ``record_state=True``.

    Args:
      steps: ``(R,)`` the x-axis, usually ``run.steps``.
      curves: ``{label: (R,) array}``.
      ax: the axes to draw on; default a new figure.
      xlabel: x-axis label.
      ylabel: y-axis label (the quantity drawn).
      legend: legend location (a matplotlib ``loc`` or ``"outside"``), or ``None``.

    Returns:
      The axes.
    """
    ax = _axes(ax)
    steps = np.asarray(steps)
    for i, (label, curve_) in enumerate(curves.items()):
        _, color = _style(i + 1, None, None)  # red, blue, ...: black is for paths
        ax.plot(steps, np.asarray(curve_), color=color, lw=2.5, label=label)
    return _labelled(ax, xlabel, ylabel, legend)


def animate(
    landscape: Landscape,
    runs: Runs,
    path: str | os.PathLike,
    fps: int = 8,
    every: int = 1,
    title: str | None = None,
    log: bool = False,
    legend: str | None = "lower left",
    dpi: int = 80,
) -> Path:
    """Writes a GIF of the trajectories growing step by step over the landscape.

    Args:
      landscape: the 2-D landscape drawn under the paths.
      runs: ``{label: Trajectories}`` or one `gdjax.trajectories.Trajectories`.
      path: the ``.gif`` to write (parent directories are created).
      fps: frames per second.
      every: one frame per ``every`` records.
      title: the figure title; the step number is appended.
      log: logarithmic contour levels (see `contour`).
      legend: legend location, fixed for every frame (``"best"`` would move
        as the paths grow), or ``None``.
      dpi: resolution; GIFs grow fast with it.

    Returns:
      The path written.
    """
    plt = _pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter

    named = _as_runs(runs)
    ax = contour(landscape, log=log)
    fig = ax.figure
    lines = []
    for i, (label, run) in enumerate(named.items()):
        marker, color = _style(i, None, None)
        for n in range(run.positions.shape[1]):
            (line,) = ax.plot(
                [],
                [],
                marker=marker,
                color=color,
                linestyle=":",
                ms=4,
                label=label if n == 0 else None,
                zorder=3,
            )
            lines.append((line, np.asarray(run.positions)[:, n]))
    if legend and any(label is not None for label in named):
        _legend(ax, legend)
    steps = np.asarray(next(iter(named.values())).steps)
    frames = _thinned(len(steps), every)

    def draw(k):
        for line, xy in lines:
            line.set_data(xy[: k + 1, 0], xy[: k + 1, 1])
        ax.set_title(f"{title + ', ' if title else ''}step {steps[k]}")
        return [line for line, _ in lines]

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FuncAnimation(fig, draw, frames=frames, blit=False).save(
        path, writer=PillowWriter(fps=fps), dpi=dpi
    )
    plt.close(fig)
    return path


def by_start(run: Trajectories, labels: Sequence[str]) -> dict[str, Trajectories]:
    """Splits one ensemble into one run per start, for one legend entry (marker) per start.

    Seed 001's figures give every start of the same optimizer its own marker;
    ``plot.paths(plot.by_start(run, ["(-0.5, 2.9)", ...]))`` draws them so.
    """
    if len(labels) != run.positions.shape[1]:
        raise ValueError(f"by_start: {len(labels)} labels for {run.positions.shape[1]} starts")
    return {label: run.take(i) for i, label in enumerate(labels)}
