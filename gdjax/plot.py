"""Figures in the texts' style: grey contours, dotted paths, value and state curves, sweeps.

matplotlib is imported only when a function here draws something, so
``import gdjax.plot`` works without it; drawing without it raises an
`ImportError` that names the ``plot`` extra (``pip install 'gdjax[plot]'``).
Unless ``MPLBACKEND`` is set or pyplot is already in use, the headless ``Agg``
backend is selected, so the functions work on servers and in tests.

Every drawing function takes an optional ``ax`` and returns the axes it drew
on; `save` writes and closes the figure:

```python
from gdjax import landscapes, plot, trajectories
import gdjax

land = landscapes.ellipse
run = trajectories.run(gdjax.sgd(0.02), land, land.starts, 12)
ax = plot.paths({"GD, lr 0.02": run}, landscape=land)
plot.save(ax.figure, "docs/figures/ellipse.png")
```
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gdjax.landscapes import Landscape
from gdjax.trajectories import SweepResult, Trajectories

Runs = Mapping[str, Trajectories] | Trajectories
Axes = Any
"""A matplotlib ``Axes`` (matplotlib is imported lazily, so not named here)."""
Bounds = Sequence[Sequence[float]]

# The texts draw one optimizer in black (seed 001) or GD black, momentum red and
# NAG blue (seed 004); further optimizers take distinct colours and markers.
COLORS = ("k", "tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown", "m")
MARKERS = ("o", "s", "^", "D", "v", "*", "P", "X")


def _pyplot():
    """matplotlib.pyplot, imported on first use, on ``Agg`` unless a backend was chosen."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("gdjax.plot needs matplotlib: pip install 'gdjax[plot]'") from error
    if "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any):
    """`matplotlib.pyplot.subplots` through the lazy import, with constrained layout by default.

    Returns ``(fig, axes)``.
    """
    kwargs.setdefault("layout", "constrained")
    return _pyplot().subplots(nrows, ncols, **kwargs)


def _axes(ax):
    if ax is not None:
        return ax
    _, ax = subplots(figsize=(6, 5))
    return ax


def _as_runs(runs: Runs) -> dict[str | None, Trajectories]:
    if isinstance(runs, Trajectories):
        return {None: runs}
    return dict(runs)


def by_start(run: Trajectories, labels: Sequence[str]) -> dict[str, Trajectories]:
    """Splits one ensemble into one run per start, for one legend entry (marker) per start.

    Seed 001's figures give every start of the same optimizer its own marker;
    ``plot.paths(plot.by_start(run, ["(-0.5, 2.9)", ...]))`` draws them so.
    """
    if len(labels) != run.positions.shape[1]:
        raise ValueError(f"by_start: {len(labels)} labels for {run.positions.shape[1]} starts")
    return {label: run.take(i) for i, label in enumerate(labels)}


def _legend(ax, where: str) -> None:
    """A legend at matplotlib location ``where``, or right of the axes for ``"outside"``."""
    if where == "outside":
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, fontsize="small")
    else:
        ax.legend(loc=where, fontsize="small", framealpha=0.9)


# --------------------------------------------------------------------------- landscapes


def _grid(fn: Callable, bounds: Bounds, resolution: int):
    import jax.numpy as jnp

    (x0, x1), (y0, y1) = bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    zs = np.asarray(fn(jnp.stack([jnp.asarray(xs), jnp.asarray(ys)], axis=-1)), np.float64)
    return xs, ys, zs


def contour(
    landscape: Landscape | Callable,
    ax: Axes | None = None,
    bounds: Bounds | None = None,
    levels: int = 10,
    resolution: int = 200,
    log: bool = False,
) -> Axes:
    """Filled grey contours with thin black contour lines, as the texts draw them.

    Lighter grey is lower. A landscape's global minima are marked ``+``, its
    local minima ``x`` and its saddles with a small diamond.

    Args:
      landscape: a 2-D `gdjax.landscapes.Landscape`, or a function from points
        of shape ``(..., 2)`` to values of shape ``(...)`` (then ``bounds`` is
        required).
      ax: the axes to draw on; default a new figure.
      bounds: ``((x_min, x_max), (y_min, y_max))``; default the landscape's.
      levels: number of contour levels (the texts use 10).
      resolution: grid points per axis.
      log: space the levels logarithmically above the lowest value on the
        grid, for steep landscapes (rosenbrock, beale, himmelblau) whose
        floor would otherwise be one flat colour.

    Returns:
      The axes.
    """
    if isinstance(landscape, Landscape):
        if landscape.dim != 2:
            raise ValueError(f"contour: {landscape.name} is {landscape.dim}-D; use plot.curve")
        fn, bounds = landscape.fn, bounds or landscape.bounds
    elif callable(landscape):
        fn = landscape
        if bounds is None:
            raise ValueError("contour: a plain function needs bounds=((x0, x1), (y0, y1))")
    else:
        raise ValueError(f"contour: expected a Landscape or a function, got {landscape!r}")
    ax = _axes(ax)
    xs, ys, zs = _grid(fn, bounds, resolution)
    if log:
        # log(f - min + offset): a linear colour scale on it spaces the levels geometrically.
        spread = np.nanmax(zs) - np.nanmin(zs)
        zs = np.log10(zs - np.nanmin(zs) + 1e-4 * spread + 1e-12)
    ax.contourf(xs, ys, zs, levels, cmap="Greys", alpha=0.8)
    ax.contour(xs, ys, zs, levels, colors="k", linewidths=0.5, negative_linestyles="solid")
    if isinstance(landscape, Landscape):
        _mark_critical_points(ax, landscape)
    ax.set_xlim(bounds[0])
    ax.set_ylim(bounds[1])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return ax


def _mark_critical_points(ax, landscape: Landscape) -> None:
    # Under the paths (zorder 3), so that a path ending on a minimum stays visible.
    style = {"color": "k", "linestyle": "none", "zorder": 2.5}
    for minimum in landscape.minima:
        marker = "+" if minimum.kind == "global" else "x"
        ax.plot(*minimum.point, marker=marker, markersize=11, markeredgewidth=2, **style)
    for saddle in landscape.saddles:
        ax.plot(*saddle, marker="d", markersize=6, markerfacecolor="w", **style)


def curve(
    landscape: Landscape,
    ax: Axes | None = None,
    bounds: Bounds | None = None,
    resolution: int = 400,
) -> Axes:
    """The graph of a 1-D landscape (seed 001's parabola), its minima marked ``+``.

    Args:
      landscape: a 1-D `gdjax.landscapes.Landscape`.
      ax: the axes to draw on; default a new figure.
      bounds: ``((x_min, x_max),)``; default the landscape's.
      resolution: points on the curve.

    Returns:
      The axes.
    """
    import jax.numpy as jnp

    if landscape.dim != 1:
        raise ValueError(f"curve: {landscape.name} is {landscape.dim}-D; use plot.contour")
    ax = _axes(ax)
    (x0, x1), *_ = bounds or landscape.bounds
    xs = np.linspace(x0, x1, resolution)
    ys = np.asarray(landscape.fn(jnp.asarray(xs)[:, None]))
    ax.plot(xs, ys, color="tab:blue", lw=1.5)
    margin = 0.05 * (ys.max() - ys.min())
    ax.set_xlim(x0, x1)
    ax.set_ylim(ys.min() - margin, ys.max() + margin)
    for minimum in landscape.minima:
        ax.plot(*minimum.point, minimum.value, "k+", markersize=12, markeredgewidth=2, zorder=4)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    return ax


# --------------------------------------------------------------------------- trajectories


def _style(i: int, markers, colors) -> tuple[str, str]:
    markers = markers or MARKERS
    colors = colors or COLORS
    return markers[i % len(markers)], colors[i % len(colors)]


def _thinned(n: int, every: int) -> np.ndarray:
    """Indices 0, every, 2*every, ... and always the last record."""
    return np.unique(np.r_[np.arange(0, n, max(1, every)), n - 1])


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
    log: bool = False,
    minimum: float | None = None,
    legend: str | None = "best",
) -> Axes:
    """The function value against the step, one line per optimizer.

    With one start the line is that start's value. With several, the line is
    the mean over starts and a band shades the range from the lowest to the
    highest start, so an ensemble of thousands stays readable.

    Args:
      runs: ``{label: Trajectories}`` or one `gdjax.trajectories.Trajectories`.
      ax: the axes to draw on; default a new figure.
      log: logarithmic value axis.
      minimum: if given, ``f - minimum`` is drawn (the gap to the optimum),
        so that ``log=True`` shows the rate of convergence.
      legend: legend location (a matplotlib ``loc`` or ``"outside"``), or ``None``.

    Returns:
      The axes.
    """
    ax = _axes(ax)
    named = _as_runs(runs)
    for i, (label, run) in enumerate(named.items()):
        _, color = _style(i, None, None)
        steps = np.asarray(run.steps)
        vals = np.asarray(run.values, np.float64)
        if minimum is not None:
            vals = vals - minimum
            if log:  # below the run's float resolution the gap is rounding (and 0 would vanish)
                resolution = np.finfo(np.asarray(run.values).dtype).eps
                vals = np.maximum(vals, resolution * max(1.0, abs(float(minimum))))
        ax.plot(steps, vals.mean(axis=1), color=color, lw=1.8, label=label)
        if vals.shape[1] > 1:
            ax.fill_between(steps, vals.min(axis=1), vals.max(axis=1), color=color, alpha=0.15)
    if log:
        ax.set_yscale("log")
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
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        _legend(ax, legend)
    return ax


# --------------------------------------------------------------------------- sweeps


def _is_log(values: np.ndarray) -> bool:
    return bool(np.all(values > 0) and values.max() / values.min() >= 10)


def _edges(centres: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges halfway between centres (in log space for a log axis)."""
    c = np.log10(centres) if log else centres.astype(np.float64)
    if len(c) == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.r_[2 * c[0] - mid[0], mid, 2 * c[-1] - mid[-1]]
    return 10**e if log else e


def _axis_values(grid: np.ndarray, axis: int) -> np.ndarray:
    """The values a grid array takes along one axis (the grid repeats them along the others)."""
    return np.moveaxis(grid, axis, 0).reshape(grid.shape[axis], -1)[:, 0]


def sweep_heatmap(
    result: SweepResult,
    ax: Axes | None = None,
    by: str = "value",
    log_axes: Sequence[bool] | None = None,
) -> Axes:
    """The sweep's score over its first two hyperparameters; a line for a 1-D grid.

    The score is `SweepResult.scores` (mean final value, or steps to
    tolerance of the slowest start). Beyond two grid axes the best score over
    the remaining ones is drawn. Settings where a start diverged or the value
    overflowed are hatched in red (red ``x`` at the top of a line plot),
    settings that never came within tolerance are grey (left out of a line
    plot), and the best setting is marked with a star.

    Args:
      result: a `gdjax.trajectories.SweepResult`.
      ax: the axes to draw on; default a new figure.
      by: ``"value"`` or ``"steps"``, as `SweepResult.scores`.
      log_axes: whether each drawn hyperparameter axis is logarithmic;
        default: logarithmic when the values are positive and span a
        factor of 10 or more.

    Returns:
      The axes.
    """
    ax = _axes(ax)
    scores = np.asarray(result.scores(by), np.float64)
    final = np.asarray(result.final_value)
    failed = (np.asarray(result.diverged) | ~np.isfinite(final)).any(axis=-1)
    names = result.names[:2]
    extra = tuple(range(len(names), scores.ndim))
    if extra:  # collapse further grid axes to their best setting
        failed = failed.all(axis=extra)
        scores = scores.min(axis=extra)
    centres = [_axis_values(np.asarray(result.grid[name]), k) for k, name in enumerate(names)]
    logs = list(log_axes) if log_axes is not None else [_is_log(c) for c in centres]
    label = "mean final value" if by == "value" else "steps to tol (slowest start)"
    draw = _sweep_line if len(names) == 1 else _sweep_grid
    draw(ax, names, centres, logs, scores, failed, label)
    return ax


def _log_scores(scores: np.ndarray) -> bool:
    finite = scores[np.isfinite(scores)]
    return bool(finite.size and np.all(finite > 0) and finite.max() / finite.min() >= 100)


def _best(scores: np.ndarray) -> tuple[int, ...] | None:
    if not np.isfinite(scores).any():
        return None
    return np.unravel_index(np.argmin(np.where(np.isfinite(scores), scores, np.inf)), scores.shape)


def _sweep_line(ax, names, centres, logs, scores, failed, label) -> None:
    from matplotlib.transforms import blended_transform_factory

    x = centres[0]
    ax.plot(x, np.where(np.isfinite(scores), scores, np.nan), "o-", color="k", ms=4, label=label)
    if failed.any():
        top = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(
            x[failed],
            np.full(failed.sum(), 0.95),
            "x",
            color="tab:red",
            ms=8,
            mew=2,
            linestyle="none",
            transform=top,
            label="diverged",
        )
    best = _best(scores)
    if best is not None:
        _star(ax, x[best[0]], scores[best], "tab:orange", f"best: {names[0]}={x[best[0]]:.3g}")
    ax.set_xscale("log" if logs[0] else "linear")
    ax.set_yscale("log" if _log_scores(scores) else "linear")
    ax.set_xlabel(names[0])
    ax.set_ylabel(label)
    ax.legend(loc="best", fontsize="small")


def _star(ax, x, y, color: str, label: str) -> None:
    """Marks the best setting of a sweep."""
    ax.plot(x, y, "*", color=color, ms=16, mec="k", linestyle="none", label=label)


def _sweep_grid(ax, names, centres, logs, scores, failed, label) -> None:
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.patches import Rectangle

    ex, ey = _edges(centres[0], logs[0]), _edges(centres[1], logs[1])
    norm = LogNorm() if _log_scores(scores) else Normalize()
    # pcolormesh wants rows along y (the second hyperparameter).
    shown = np.ma.masked_invalid(scores.T)
    mesh = ax.pcolormesh(ex, ey, shown, cmap="viridis_r", norm=norm, shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label=label)
    hatch = {"fill": False, "hatch": "xxx", "edgecolor": "tab:red", "lw": 0}
    for i, j in zip(*np.nonzero(failed), strict=True):
        ax.add_patch(Rectangle((ex[i], ey[j]), ex[i + 1] - ex[i], ey[j + 1] - ey[j], **hatch))
    if failed.any():  # a legend handle only
        ax.add_patch(Rectangle((ex[0], ey[0]), 0, 0, label="diverged", **hatch))
    ax.set_facecolor("0.85")  # shows through the masked cells
    if (~np.isfinite(scores) & ~failed).any():
        ax.add_patch(Rectangle((ex[0], ey[0]), 0, 0, color="0.85", label="never within tol"))
    best = _best(scores)
    if best is not None:
        bx, by = centres[0][best[0]], centres[1][best[1]]
        _star(ax, bx, by, "w", f"best: {names[0]}={bx:.3g}, {names[1]}={by:.3g}")
    ax.set_xscale("log" if logs[0] else "linear")
    ax.set_yscale("log" if logs[1] else "linear")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize="small", ncol=2)


# --------------------------------------------------------------------------- animation, files


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


def save(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Writes ``fig`` (or the figure of an axes) with a tight bounding box, then closes it.

    Parent directories are created. Returns the path.
    """
    plt = _pyplot()
    from matplotlib.axes import Axes

    if isinstance(fig, Axes):
        fig = fig.figure
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path
