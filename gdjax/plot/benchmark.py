"""The figures of `gdjax.benchmark`: sensitivity, learning curves, and 2-D trajectories.

Each reads a `gdjax.benchmark.report.Results` by its fields and imports nothing of
`gdjax.benchmark`:

- `sensitivity_figure`: per problem, the validation loss of every setting of the
  budget against the learning rate (DeepOBS' tuning curve), and at each
  optimizer's best rate the spread of its reruns' test loss over the seeds;
- `curves_figure`: per problem, the best setting's test-loss curve, the mean
  over the seeds and their min-max band;
- `trajectories_figure`: on a 2-D problem, each optimizer's best run drawn over
  the landscape as the texts draw them (grey contours, markers joined by dotted
  lines).

The first two share their frame (`_panels`): a panel per problem, a line or band
per optimizer in the same style on every panel, one legend; each keeps only how
it draws an optimizer and finishes a panel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from gdjax.plot._base import COLORS, MARKERS, _band, _log_axis, subplots
from gdjax.plot.trajectories import paths

_WIDE_COLORS = (*COLORS, "tab:cyan", "tab:olive", "tab:pink", "0.5")
_WIDE_MARKERS = (*MARKERS, "<", ">", "h", "p")


def _style(i: int) -> tuple[str, str]:
    return _WIDE_MARKERS[i % len(_WIDE_MARKERS)], _WIDE_COLORS[i % len(_WIDE_COLORS)]


def _grid(count: int, width: float = 4.6, height: float = 3.6):
    """A figure of ``count`` panels, at most 3 a row; the unused ones hidden."""
    columns = min(3, count)
    rows = math.ceil(count / columns)
    fig, axes = subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _cells(results: Any, problem: str) -> list[Any]:
    return [c for c in results.cells if c.problem == problem]


class _Panels(NamedTuple):
    """What a figure of one panel per problem draws of its own; `_panels` does the rest.

    Attributes:
      line: draws one optimizer's cell on a panel, ``(ax, cell, i)``; ``i``, the
        optimizer's place on the problem, picks its marker and colour (`_style`).
      axes: finishes a panel once its cells are drawn, ``(ax, results, problem, cells)``:
        scales, labels, title, reference lines.
      title: the figure's title.
    """

    line: Callable[[Any, Any, int], None]
    axes: Callable[[Any, Any, str, list[Any]], None]
    title: str


def _panels(results: Any, problems: Sequence[str] | None, draw: _Panels) -> Any:
    """One panel per problem, one line per optimizer, the legend on the first panel.

    Args:
      results: a `gdjax.benchmark.report.Results`.
      problems: the problems to draw, in order; None (or empty) for all.
      draw: the figure's own drawing.

    Returns:
      The matplotlib ``Figure``.
    """
    chosen = _chosen(results, problems)
    fig, axes = _grid(len(chosen))
    for ax, problem in zip(axes, chosen, strict=True):
        cells = _cells(results, problem)
        for i, cell in enumerate(cells):
            draw.line(ax, cell, i)
        draw.axes(ax, results, problem, cells)
    # Every panel has the same optimizers in the same styles: one legend serves all.
    axes[0].legend(fontsize="x-small", ncols=2)
    fig.suptitle(draw.title)
    return fig


def _chosen(results: Any, problems: Sequence[str] | None) -> list[str]:
    """The problems to draw, checked against those the results hold."""
    if isinstance(problems, str):
        raise TypeError(f"problems: give a sequence of names such as [{problems!r}], not a str")
    chosen = list(problems or results.problems)
    unknown = [p for p in chosen if p not in results.problems]
    if unknown:
        raise ValueError(
            f"problems: {unknown!r} not in the results; they hold {list(results.problems)!r}"
        )
    return chosen


def sensitivity_figure(results: Any, problems: Sequence[str] | None = None) -> Any:
    """Validation loss of each setting against its learning rate, one panel per problem.

    A line per optimizer joins its budget's settings (those of other tuned
    hyperparameters too, ordered by learning rate); a diverged setting is an
    ``x`` on the panel's top edge. At the best setting, a marker with a bar is
    the reruns' test loss: the median and the min-max range over the seeds. The
    loss axis is log, or symlog where a loss is 0 (a run that met f* exactly).

    Args:
      results: a `gdjax.benchmark.report.Results`.
      problems: the problems to draw, names among ``results.problems``; default all.

    Returns:
      The matplotlib ``Figure``.
    """
    title = f"Sensitivity; bars: the best setting's {results.seeds} seeds (min-max)"
    return _panels(results, problems, _Panels(_sensitivity_line, _sensitivity_axes, title))


def _sensitivity_axes(ax, results: Any, problem: str, cells: list[Any]) -> None:
    ax.set_xscale("log")
    _log_axis(ax, [a for c in cells for a in (c.validation, c.test_loss)])
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final validation loss")
    ax.set_title(f"{problem}: {results.points}-point {results.search}", fontsize="medium")


def _sensitivity_line(ax, cell: Any, i: int) -> None:
    marker, color = _style(i)
    axis = _rate_axis(cell)
    rates = np.asarray(cell.settings, np.float64)[:, axis]
    order = np.argsort(rates, kind="stable")
    rates, loss = rates[order], np.asarray(cell.validation, np.float64)[order]
    finite = np.isfinite(loss)
    ax.plot(
        rates[finite], loss[finite], marker=marker, color=color, ms=3, lw=1, label=cell.optimizer
    )
    # Diverged settings have no loss to plot: mark them above the highest finite one.
    top = np.max(loss[finite], initial=0.0)
    top = top if top > 0 else 1.0
    diverged = ~np.isfinite(loss)
    if diverged.any():
        ax.plot(rates[diverged], np.full(diverged.sum(), top * 3), "x", color=color, ms=4)
    _rerun_bar(ax, cell, i)


def _rate_axis(cell: Any) -> int:
    """The column of ``cell.settings`` holding the learning rate (the first if none does)."""
    return list(cell.names).index("learning_rate") if "learning_rate" in cell.names else 0


def _rerun_bar(ax, cell: Any, i: int) -> None:
    """At the best setting's rate, its reruns' median test loss and min-max range."""
    marker, color = _style(i)
    test = np.asarray(cell.test_loss, np.float64)
    test = test[np.isfinite(test)]
    if cell.best < 0 or not test.size:
        return
    best_rate = float(np.asarray(cell.settings)[cell.best, _rate_axis(cell)])
    median = float(np.median(test))
    ax.errorbar(
        [best_rate],
        [median],
        yerr=[[median - test.min()], [test.max() - median]],
        fmt=marker,
        color=color,
        ms=8,
        mfc="none",
        capsize=4,
        lw=1.5,
    )


def curves_figure(results: Any, problems: Sequence[str] | None = None) -> Any:
    """The best setting's test loss against steps (epochs), one panel per problem: the
    mean over the seeds as a line and their min-max range as a band, the target dashed.
    The loss axis is log, or symlog where a loss is 0 (a run that met f* exactly).

    Args:
      results: a `gdjax.benchmark.report.Results`.
      problems: the problems to draw, names among ``results.problems``; default all.

    Returns:
      The matplotlib ``Figure``.
    """
    title = f"Best settings: mean and min-max over {results.seeds} seeds"
    return _panels(results, problems, _Panels(_curve_band, _curves_axes, title))


def _curve_band(ax, cell: Any, i: int) -> None:
    curves = np.asarray(cell.curves, np.float64)
    x = np.arange(curves.shape[-1]) + cell.first_step
    _band(ax, x, curves, _style(i)[1], (cell.optimizer, None))


def _curves_axes(ax, results: Any, problem: str, cells: list[Any]) -> None:
    ax.axhline(results.targets[problem], color="k", ls="--", lw=0.8, label="target")
    _log_axis(ax, [np.asarray(c.curves, np.float64) for c in cells])
    # A data problem's curves start after the first epoch, a function's at its start.
    kind = "epoch" if cells[0].first_step else "step"
    ax.set_xlabel(kind)
    ax.set_ylabel("test loss" if kind == "epoch" else "f(x) − f*")
    ax.set_title(problem, fontsize="medium")


class _Path(NamedTuple):
    """What `gdjax.plot.paths` reads of a run: its points, ``(records, starts, 2)``."""

    positions: np.ndarray


def trajectories_figure(
    results: Any,
    problem: str,
    loss: Callable[[Any], Any],
    box: tuple[tuple[float, float], tuple[float, float]],
    seeds: int = 1,
    minimum: Any = None,
) -> Any:
    """Each optimizer's best run on a 2-D problem over its landscape, in the texts' style.

    Args:
      results: a `gdjax.benchmark.report.Results` whose cells on ``problem`` kept paths.
      problem: the problem's name.
      loss: the problem's function of one point ``(2,)``.
      box: ``((x_min, x_max), (y_min, y_max))``, the view.
      seeds: how many seeds' runs to draw per optimizer (default the first).
      minimum: the minimiser ``(2,)``, marked ``+`` as the texts mark a global minimum;
        None for no mark.

    Returns:
      The matplotlib ``Figure``.
    """
    cells = [c for c in _cells(results, problem) if c.paths is not None and c.best >= 0]
    if not cells:
        raise ValueError(f"trajectories_figure: no 2-D paths recorded for problem {problem!r}")
    fig, ax = subplots(figsize=(7.5, 6))
    _landscape(ax, loss, box, minimum)
    runs = {_label(cell): _best_path(cell, seeds) for cell in cells}
    records = next(iter(runs.values())).positions.shape[0]
    styles = [_style(i) for i in range(len(runs))]
    paths(
        runs,
        ax,
        every=max(1, records // 40),
        markers=[m for m, _ in styles],
        colors=[c for _, c in styles],
        legend="outside",
        markersize=3.5,
    )
    ax.set_title(f"{problem}: the best setting of each optimizer, {records - 1} steps")
    return fig


def _landscape(ax, loss: Callable[[Any], Any], box: Any, minimum: Any) -> None:
    """The grey contours of ``loss`` over ``box``, the view fixed to it, the minimum ``+``."""
    import jax
    import jax.numpy as jnp

    from gdjax.plot.landscapes import contour

    surface = jax.jit(jnp.vectorize(loss, signature="(n)->()"))
    contour(surface, ax, bounds=box, log=_steep(surface, box))
    # The paths are drawn inside the box: a diverged one must not zoom the view out.
    ax.set_autoscale_on(False)
    if minimum is not None:
        x, y = np.asarray(minimum, np.float64)
        ax.plot([x], [y], "+", color="k", ms=14, mew=2, zorder=4, label="minimum")


def _best_path(cell: Any, seeds: int) -> _Path:
    """The first ``seeds`` reruns' points, as `gdjax.plot.paths` reads them."""
    points = np.asarray(cell.paths, np.float64)[:seeds]  # (seeds, records, 2)
    return _Path(np.swapaxes(points, 0, 1))


def _steep(surface: Callable[[Any], Any], box: Any) -> bool:
    """Whether the landscape needs log-spaced levels: its median over the box lies in
    the lowest fifth of its range (Rosenbrock's valley; not Rastrigin, not the Gaussians)."""
    import jax.numpy as jnp

    (x0, x1), (y0, y1) = box
    xs, ys = np.meshgrid(np.linspace(x0, x1, 60), np.linspace(y0, y1, 60))
    z = np.asarray(surface(jnp.stack([jnp.asarray(xs), jnp.asarray(ys)], axis=-1)), np.float64)
    z = z[np.isfinite(z)]
    spread = z.max() - z.min() if z.size else 0.0
    return bool(spread > 0 and np.median(z) - z.min() < 0.2 * spread)


def _label(cell: Any) -> str:
    setting = ", ".join(f"{v:.3g}" for v in cell.best_setting.values())
    return f"{cell.optimizer} ({setting})"
