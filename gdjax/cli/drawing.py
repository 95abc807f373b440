"""The command's figures, composed from `gdjax.plot` (imported only to draw).

Each function returns a matplotlib figure; `gdjax.cli.outputs.draw` writes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdjax import landscapes
from gdjax.cli.render import point


def compare(land: landscapes.Landscape, runs: dict, starts: np.ndarray, steps: int) -> Any:
    """One panel per start (every optimizer's path) and a panel of value against step."""
    from gdjax import plot

    panels = len(starts) + 1
    columns = min(3, panels)
    rows = -(-panels // columns)
    fig, axes = plot.subplots(rows, columns, figsize=(4.6 * columns, 4.2 * rows), squeeze=False)
    axes = axes.ravel()
    log = land.name in ("rosenbrock", "beale", "himmelblau", "rastrigin")
    for i, start in enumerate(starts):
        per_start = {name: run.take(i) for name, run in runs.items()}
        plot.paths(per_start, axes[i], landscape=land, legend=None, markersize=3, log=log)
        axes[i].set_title(f"from {point(start)}", fontsize="medium")
    _values_panel(plot, axes[len(starts)], land, runs)
    for ax in axes[panels:]:
        ax.set_visible(False)
    # The optimizers, then the landscape's critical points (+, x, diamond) they are drawn on.
    fig.legend(*plot.legend_handles(axes[0]), loc="outside right upper", fontsize="small")
    fig.suptitle(f"gdjax compare: {land.name}, {steps} steps")
    return fig


def _values_panel(plot: Any, ax: Any, land: landscapes.Landscape, runs: dict) -> None:
    from gdjax.plot._base import gap_above

    if land.minima:
        # Each start's gap to the minimum it ends nearest to: a start settling in a local
        # minimum has converged too, and the log scale shows how fast.
        gaps = {}
        for name, run in runs.items():
            index, _ = land.nearest_minimum(run.final)
            nearest = np.asarray([land.minima[i].value for i in np.asarray(index)])
            values = np.asarray(run.values)
            gaps[name] = run._replace(values=gap_above(values, nearest.astype(values.dtype)))
        plot.values(gaps, ax, log=True, minimum=0.0, legend=None)
        ax.set_ylabel("f - f(nearest minimum)")
    else:
        plot.values(runs, ax, legend=None)
    ax.set_title("value, mean over starts (band: range)", fontsize="medium")


def sweep(result: Any, by: str, title: str) -> Any:
    """The heat-map (or curve) of a sweep's scores."""
    from gdjax import plot

    ax = plot.sweep_heatmap(result, by=by)
    ax.set_title(title)
    return ax.figure


def experiment(name: str, result: Any) -> Any:
    """The figure of a `gdjax.experiments` result: ``plot.<name>_figure(result)``."""
    from gdjax import plot

    return getattr(plot, f"{name}_figure")(result)
