"""What every figure shares: the lazy pyplot import, styles, legends, saving."""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gdjax.trajectories import Trajectories

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


def _legend(ax, where: str) -> None:
    """A legend at matplotlib location ``where``, or right of the axes for ``"outside"``.

    It has an entry for every labelled artist and for each kind of critical
    point `contour` marked (`legend_handles`).
    """
    handles, labels = legend_handles(ax)
    if where == "outside":
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.02, 1),
            borderaxespad=0,
            fontsize="small",
        )
    else:
        ax.legend(handles, labels, loc=where, fontsize="small", framealpha=0.9)


def _labelled(ax, xlabel: str, ylabel: str, legend: str | None):
    """``ax`` with its axis labels, and a legend at ``legend`` (none for None)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        _legend(ax, legend)
    return ax


def legend_handles(ax) -> tuple[list, list[str]]:
    """``(handles, labels)`` for a legend of ``ax``: its labelled artists, then a proxy
    artist per kind of critical point that `contour` marked on it (global minimum
    ``+``, local minimum ``x``, saddle point diamond).

    For a legend drawn by hand, e.g. ``fig.legend(*plot.legend_handles(ax))``.
    """
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    drawn = {line.get_gid() for line in ax.get_lines()}
    for gid, (label, style) in _CRITICAL_POINTS.items():
        if gid in drawn:
            handles.append(Line2D([], [], color="k", linestyle="none", **style))
            labels.append(label)
    return handles, labels


# The markers of a landscape's critical points, by the gid `contour` gives them.
_CRITICAL_POINTS = {
    "gdjax-global-minimum": ("global minimum", {"marker": "+", "ms": 11, "mew": 2}),
    "gdjax-local-minimum": ("local minimum", {"marker": "x", "ms": 11, "mew": 2}),
    "gdjax-saddle-point": ("saddle point", {"marker": "d", "ms": 6, "mfc": "w"}),
}


def _style(i: int, markers, colors) -> tuple[str, str]:
    markers = markers or MARKERS
    colors = colors or COLORS
    return markers[i % len(markers)], colors[i % len(colors)]


def _thinned(n: int, every: int) -> np.ndarray:
    """Indices 0, every, 2*every, ... and always the last record."""
    return np.unique(np.r_[np.arange(0, n, max(1, every)), n - 1])


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


def _value_scale(
    groups: Sequence[np.ndarray], log: bool | str | None, owner: str
) -> tuple[str, float]:
    """``(scale, linthresh)`` of a value axis, from ``groups`` of curves, each
    ``(records, curves)``, when ``log`` is None; the threshold of "symlog" is the
    largest magnitude of the first records (the starts)."""
    choices = {True: "log", False: "linear", "log": "log", "linear": "linear", "symlog": "symlog"}
    if log is not None and (not isinstance(log, (bool, str)) or log not in choices):
        raise ValueError(
            f"{owner}: log must be None, True, False, 'log', 'symlog' or 'linear', got {log!r}"
        )
    groups = [np.asarray(g, np.float64).reshape(len(g), -1) for g in groups if len(g)]
    finite = np.concatenate([g[np.isfinite(g)] for g in groups]) if groups else np.zeros(0)
    first = np.abs(np.concatenate([g[0] for g in groups])) if groups else finite
    first = first[np.isfinite(first)]
    nonzero = np.abs(finite[finite != 0])
    if first.size and first.max() > 0:
        linthresh = float(first.max())
    else:
        linthresh = float(nonzero.min()) if nonzero.size else 1.0
    if log is not None:
        return choices[log], linthresh
    if finite.size and finite.min() < -1e3 * linthresh:
        return "symlog", linthresh
    positive = finite[finite > 0]
    if (
        finite.size
        and finite.min() >= 0
        and positive.size
        and positive.max() >= 1e3 * positive.min()
    ):
        return "log", linthresh
    return "linear", linthresh


def _set_value_scale(ax, scale: tuple[str, float], drawn: Sequence[np.ndarray]) -> None:
    """``scale`` (from `_value_scale`) on ``ax``; a log one by `_log_axis`, which
    still draws the ``drawn`` values that are 0."""
    kind, linthresh = scale
    if kind == "symlog":
        ax.set_yscale("symlog", linthresh=linthresh)
    elif kind == "log":
        _log_axis(ax, drawn)
    else:
        ax.set_yscale(kind)


def gap_above(values: Any, minimum: Any) -> np.ndarray:
    """``values - minimum`` in float64, floored at the float resolution of ``minimum``
    in the values' dtype: below it the gap is rounding. (A minimum of 0 has none: the
    gap is exact down to 0.)"""
    values = np.asarray(values)
    eps = np.finfo(values.dtype).eps if np.issubdtype(values.dtype, np.floating) else 0.0
    minimum = np.asarray(minimum, np.float64)
    return np.maximum(values.astype(np.float64) - minimum, eps * np.abs(minimum))


def _log_axis(ax, drawn: Sequence[np.ndarray]) -> None:
    """A log value axis that still draws the ``drawn`` values that are 0 (a gap
    ``f - f*`` of a run that met f* exactly, or underflowed to it): a log axis drops
    them, and a line would seem to stop there. So where one is 0 the axis is symlog,
    log above the smallest positive value and linear below it, the 0 at the bottom
    (linear when none is positive)."""
    values = np.concatenate([np.ravel(np.asarray(d, np.float64)) for d in drawn])
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    if values.size and not positive.size:
        ax.set_yscale("linear")
    elif positive.size and values.min() <= 0:
        ax.set_yscale("symlog", linthresh=float(positive.min()))
        # symlog's margins would add decades of negative values that nothing drawn
        # has: the bottom is the lowest value, the top a third of a decade above all.
        bottom, top = min(0.0, float(values.min())), 2 * float(ax.dataLim.ymax)
        # symlog labels every decade: at most about 8 labels, as the log axis shows.
        low = math.ceil(math.log10(positive.min()))
        high = math.floor(math.log10(max(top, -bottom)))
        stride = max(1, math.ceil((high - low + 1) / 8))
        decades = [10.0**e for e in range(high, low - 1, -stride)]
        ticks = [0.0, *(d for d in decades if d <= top), *(-d for d in decades if -d >= bottom)]
        ax.set_yticks(ticks)
        ax.set_ylim(bottom, top)
    else:
        ax.set_yscale("log")


def _band(ax, x, curves: np.ndarray, color, labels: tuple[str | None, str | None]) -> None:
    """The mean of ``curves`` ``(runs, n)`` as a line and, for several runs, their
    min-max range as a band. Non-finite values (a diverged run) are left out."""
    curves = np.where(np.isfinite(curves), curves, np.nan)
    with warnings.catch_warnings():  # a step where every run diverged: all-NaN slices
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(curves, axis=0)
        low, high = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
    ax.plot(x, mean, color=color, lw=1.8, label=labels[0])
    if curves.shape[0] > 1:
        ax.fill_between(
            x, low, high, color=color, alpha=0.15 if labels[1] is None else 0.18, label=labels[1]
        )
