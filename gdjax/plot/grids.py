"""Heat maps of scores over a grid of hyperparameters: trajectory sweeps and experiment grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from gdjax.plot._base import (
    Axes,
    _axes,
)
from gdjax.trajectories import SweepResult


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


def _evenly_spaced(values: np.ndarray, log: bool) -> bool:
    """At least two increasing values, equally spaced on a linear (or log) axis."""
    if values.size < 2 or (log and not np.all(values > 0)):
        return False
    steps = np.diff(np.log10(values) if log else values)
    return bool(np.all(steps > 0) and np.allclose(steps, steps[0], rtol=1e-3, atol=0))


class GridAxis(NamedTuple):
    """One hyperparameter axis of a `heatmap`.

    Attributes:
      name: the axis label, e.g. ``"learning rate"``.
      values: the settings along the axis, 1-D.
      scale: "linear", "log", "category" (equal cells labelled with the values), or
        None (default) to choose as `heatmap` says; True means "log", False linear
        (or category when the values are not evenly spaced).
    """

    name: str
    values: Any
    scale: str | bool | None = None


class _Cells(NamedTuple):
    """A `GridAxis` as drawn: ``scale`` is "linear", "log" or "category" (equal cells at
    0, 1, 2, ... labelled with the values)."""

    name: str
    scale: str
    values: np.ndarray
    centres: np.ndarray
    edges: np.ndarray

    def position(self, value: float) -> float | None:
        """Where ``value`` lies on the axis, or None when outside its cells."""
        if self.scale == "category":
            hit = np.flatnonzero(np.isclose(self.values, value, rtol=1e-9, atol=1e-12))
            if hit.size:
                return float(hit[0])
            if not np.all(np.diff(self.values) > 0):
                return None
            value = np.interp(value, self.values, self.centres, left=np.inf, right=np.inf)
        inside = min(self.edges[0], self.edges[-1]) <= value <= max(self.edges[0], self.edges[-1])
        return float(value) if inside else None


def _cells(which: str, axis: Any) -> _Cells:
    """The cells of ``axis``: its ``scale`` forced ("linear", "log", "category"; True is
    "log", False linear or, unevenly spaced, "category") or None for: log when evenly
    spaced on a log axis over a factor of 10 or more; else, for three values or more,
    linear when evenly spaced, log when evenly spaced on a log axis; else category."""
    if not (isinstance(axis, tuple) and 2 <= len(axis) <= 3 and isinstance(axis[0], str)):
        raise ValueError(
            f"heatmap: {which} must be a GridAxis(name, values, scale=None) or such a tuple, "
            f"got {axis!r}"
        )
    name, values, scale = GridAxis(*axis)
    values = np.asarray(values, np.float64).reshape(-1)
    if scale is True:
        scale = "log"
    elif scale is False:
        scale = "linear" if _evenly_spaced(values, False) else "category"
    elif scale is None:
        scale = "category"
        if _evenly_spaced(values, True) and _is_log(values):
            scale = "log"
        elif values.size >= 3 and _evenly_spaced(values, False):
            scale = "linear"
        elif values.size >= 3 and _evenly_spaced(values, True):
            scale = "log"
    if scale not in ("linear", "log", "category"):
        raise ValueError(f"heatmap: scale of {name} must be 'linear', 'log', 'category' or None")
    if scale == "log" and not np.all(values > 0):
        raise ValueError(f"heatmap: a log axis needs positive values; {name} has {values}")
    if scale == "category":
        centres = np.arange(values.size, dtype=np.float64)
        return _Cells(name, scale, values, centres, np.arange(values.size + 1) - 0.5)
    return _Cells(name, scale, values, values, _edges(values, scale == "log"))


def _log_scores(scores: np.ndarray) -> bool:
    """Positive scores spanning a factor of 10 or more: a log colour (or value) scale."""
    finite = scores[np.isfinite(scores)]
    return bool(finite.size and np.all(finite > 0) and finite.max() / finite.min() >= 10)


def _best(scores: np.ndarray) -> tuple[int, ...] | None:
    if not np.isfinite(scores).any():
        return None
    return np.unravel_index(np.argmin(np.where(np.isfinite(scores), scores, np.inf)), scores.shape)


def _star(ax, x, y, color: str, label: str) -> None:
    """Marks the best setting of a sweep."""
    ax.plot(x, y, "*", color=color, ms=16, mec="k", linestyle="none", label=label)


def heatmap(
    x: GridAxis,
    y: GridAxis,
    scores: Any,
    failed: Any = None,
    ax: Axes | None = None,
    *,
    label: str = "score",
    log_colors: bool | None = None,
    marks: Mapping[str, tuple[float, float]] | None = None,
    missing: str = "no score",
) -> Axes:
    """Scores over a grid of two hyperparameters, one cell per setting; lower is better.

    Each axis is drawn on the scale its values are evenly spaced on: log (a
    learning-rate grid from ``np.geomspace``), linear (three or more evenly
    spaced values), or, for a list of values that is neither (momenta 0, 0.5,
    0.9, 0.99), as equal cells labelled with the values, so no cell is a sliver
    and no tick falls between settings. The colour scale is logarithmic when
    the finite scores are positive and span a factor of 10 or more. Failed
    settings are hatched in red, settings without a finite score show the grey
    background, and the best (lowest finite score among those not failed) is
    starred.

    Args:
      x: the first hyperparameter, a `GridAxis` (or a tuple ``(name, values)`` or
        ``(name, values, scale)``) of ``(X,)`` values.
      y: the second, likewise, ``(Y,)`` values.
      scores: ``(X, Y)`` the score of each setting.
      failed: ``(X, Y)`` bool, settings that diverged; default none.
      ax: the axes to draw on; default a new figure.
      label: the colour bar's label.
      log_colors: force a logarithmic (True) or linear (False) colour scale.
      marks: ``{label: (x, y)}`` points to mark (e.g. a book's settings); a
        point off the grid is left out.
      missing: the legend's name for settings without a finite score.

    Returns:
      The axes (its figure has the colour bar as a second axes).
    """
    from matplotlib.colors import LogNorm, Normalize

    grid = (_cells("x", x), _cells("y", y))
    scores = np.asarray(scores, np.float64)
    if scores.shape != (grid[0].values.size, grid[1].values.size):
        raise ValueError(
            f"heatmap: scores must have shape ({grid[0].values.size}, {grid[1].values.size}) "
            f"(x values by y values), got {scores.shape}"
        )
    failed = np.zeros(scores.shape, bool) if failed is None else np.asarray(failed, bool)
    ax = _axes(ax)
    log = _log_scores(scores) if log_colors is None else log_colors
    # pcolormesh wants rows along y (the second hyperparameter).
    mesh = ax.pcolormesh(
        grid[0].edges,
        grid[1].edges,
        np.ma.masked_invalid(scores.T),
        cmap="viridis_r",
        norm=LogNorm() if log else Normalize(),
        shading="flat",
    )
    bar = ax.figure.colorbar(mesh, ax=ax, label=label)
    if log:
        _plain_log_labels(bar.ax.yaxis, scores)
    _hatch_failed(ax, grid, failed, scores, missing)
    _star_best(ax, grid, np.where(failed, np.inf, scores))
    _mark(ax, grid, marks or {})
    _set_grid_axes(ax, grid)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize="small", ncol=2)
    return ax


def _star_best(ax, grid: tuple[_Cells, _Cells], scores: np.ndarray) -> None:
    """Stars the lowest finite score, its setting in the legend."""
    best = _best(scores)
    if best is not None:
        cx, cy = grid[0], grid[1]
        shown = f"{cx.name}={cx.values[best[0]]:.3g}, {cy.name}={cy.values[best[1]]:.3g}"
        _star(ax, cx.centres[best[0]], cy.centres[best[1]], "w", f"best: {shown}")


def _plain_log_labels(axis, scores: np.ndarray) -> None:
    """Labels a log axis 0.02, 0.03, 0.05, 0.1, ... (over two decades or less; beyond,
    only the powers of ten) instead of 2 x 10^-2."""
    from matplotlib.ticker import FuncFormatter

    positive = scores[np.isfinite(scores) & (scores > 0)]
    decades = np.log10(positive.max() / positive.min()) if positive.size else np.inf
    shown = (1, 2, 3, 5) if decades <= 2 else (1,)

    def label(value, _position):
        if not value > 0:
            return ""
        digit = round(float(value / 10 ** np.floor(np.log10(value))), 6)
        return f"{value:g}" if digit in shown else ""

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(label))


def _hatch_failed(ax, grid, failed: np.ndarray, scores: np.ndarray, missing: str) -> None:
    from matplotlib.patches import Rectangle

    ex, ey = grid[0].edges, grid[1].edges
    hatch = {"fill": False, "hatch": "xxx", "edgecolor": "tab:red", "lw": 0}
    for i, j in zip(*np.nonzero(failed), strict=True):
        ax.add_patch(Rectangle((ex[i], ey[j]), ex[i + 1] - ex[i], ey[j + 1] - ey[j], **hatch))
    if failed.any():  # a legend handle only
        ax.add_patch(Rectangle((ex[0], ey[0]), 0, 0, label="diverged", **hatch))
    ax.set_facecolor("0.85")  # shows through the masked cells
    if (~np.isfinite(scores) & ~failed).any():
        ax.add_patch(Rectangle((ex[0], ey[0]), 0, 0, color="0.85", label=missing))


def _mark(ax, grid, marks: Mapping[str, tuple[float, float]]) -> None:
    for i, (label, (x, y)) in enumerate(marks.items()):
        px, py = grid[0].position(x), grid[1].position(y)
        if px is not None and py is not None:
            marker = ("o", "s", "^", "D", "v")[i % 5]
            ax.plot(px, py, marker, color="w", mec="k", ms=9, linestyle="none", label=label)


def _set_grid_axes(ax, grid: tuple[_Cells, _Cells]) -> None:
    for axis, set_scale, set_lim, set_ticks, set_label in (
        (grid[0], ax.set_xscale, ax.set_xlim, ax.set_xticks, ax.set_xlabel),
        (grid[1], ax.set_yscale, ax.set_ylim, ax.set_yticks, ax.set_ylabel),
    ):
        set_scale("log" if axis.scale == "log" else "linear")
        set_lim(axis.edges[0], axis.edges[-1])
        if axis.scale == "category":
            set_ticks(axis.centres, [f"{v:g}" for v in axis.values])
        set_label(axis.name)


def _axis_values(grid: np.ndarray, axis: int) -> np.ndarray:
    """The values a grid array takes along one axis (the grid repeats them along the others)."""
    return np.moveaxis(grid, axis, 0).reshape(grid.shape[axis], -1)[:, 0]


def sweep_heatmap(
    result: SweepResult,
    ax: Axes | None = None,
    by: str = "value",
    log_axes: Sequence[bool] | None = None,
) -> Axes:
    """The sweep's score over its first two hyperparameters (`heatmap`); a line for a 1-D grid.

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
      log_axes: whether each drawn hyperparameter axis is logarithmic; default
        as `heatmap` chooses (log for an evenly spaced log grid over a factor
        of 10 or more, equal labelled cells for an uneven list of values).

    Returns:
      The axes.
    """
    scores = np.asarray(result.scores(by), np.float64)
    final = np.asarray(result.final_value)
    failed = (np.asarray(result.diverged) | ~np.isfinite(final)).any(axis=-1)
    names = result.names[:2]
    extra = tuple(range(len(names), scores.ndim))
    if extra:  # collapse further grid axes to their best setting
        failed = failed.all(axis=extra)
        scores = scores.min(axis=extra)
    centres = [_axis_values(np.asarray(result.grid[name]), k) for k, name in enumerate(names)]
    label = "mean final value" if by == "value" else "steps to tol (slowest start)"
    if len(names) == 1:
        ax = _axes(ax)
        log = log_axes[0] if log_axes is not None else _is_log(centres[0])
        _sweep_line(ax, names, centres, [log], scores, failed, label)
        return ax
    scales = log_axes or (None, None)
    x, y = (GridAxis(n, c, s) for n, c, s in zip(names, centres, scales, strict=True))
    return heatmap(x, y, scores, failed, ax, label=label, missing="never within tol")


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
