"""Figures in the texts' style: grey contours, dotted paths, value and state curves, sweeps,
and the figures of the training experiments.

One module per kind of figure: `landscapes` (contours, curves), `trajectories`
(paths, values, state curves, animations), `grids` (heat maps), `groups`
(bands, histograms, error bars, bars), `experiments` (the experiments'
figures); `_base` holds what they share. Everything is reached from here.

Every function draws plain arrays (or the NamedTuples of `gdjax.trajectories`
and `gdjax.experiments`, read by their field names); nothing here trains or
imports `gdjax.experiments`. Generic pieces: `contour`, `curve`, `paths`,
`values`, `state_curves`, `heatmap` (its axes `GridAxis`), `bands`, `histograms`, `errorbars`,
`bars`; the experiments' figures compose them: `momentum_figure`,
`optimizers_figure`, `grid_figure`, `noise_figure`, `order_figure`,
`early_stopping_figure`, `batchnorm_figure`, and `gdjax benchmark`'s
`sensitivity_figure`, `curves_figure`, `trajectories_figure` (each returns a
matplotlib ``Figure``).

matplotlib is imported only when a function here draws something, so
``import gdjax.plot`` works without it; drawing without it raises an
`ImportError` that names the ``plot`` extra (``pip install 'gdjax[plot]'``).
Unless ``MPLBACKEND`` is set or pyplot is already in use, the headless ``Agg``
backend is selected, so the functions work on servers and in tests.

Every generic drawing function takes an optional ``ax`` and returns the axes
it drew on; `save` writes and closes the figure:

```python
from gdjax import landscapes, plot, trajectories
import gdjax

land = landscapes.ellipse
run = trajectories.run(gdjax.sgd(0.02), land, land.starts, 12)
ax = plot.paths({"GD, lr 0.02": run}, landscape=land)
plot.save(ax.figure, "docs/figures/ellipse.png")
```
"""

from gdjax.plot._base import (
    COLORS,
    MARKERS,
    Axes,
    Bounds,
    Runs,
    legend_handles,
    save,
    subplots,
)
from gdjax.plot.benchmark import (
    curves_figure,
    sensitivity_figure,
    trajectories_figure,
)
from gdjax.plot.experiments import (
    batchnorm_figure,
    early_stopping_figure,
    grid_figure,
    momentum_figure,
    noise_figure,
    optimizers_figure,
    order_figure,
)
from gdjax.plot.grids import (
    GridAxis,
    heatmap,
    sweep_heatmap,
)
from gdjax.plot.groups import (
    bands,
    bars,
    errorbars,
    histograms,
)
from gdjax.plot.landscapes import (
    contour,
    curve,
)
from gdjax.plot.trajectories import (
    animate,
    by_start,
    paths,
    state_curves,
    values,
)

__all__ = [
    "COLORS",
    "MARKERS",
    "Axes",
    "Bounds",
    "GridAxis",
    "Runs",
    "animate",
    "bands",
    "bars",
    "batchnorm_figure",
    "by_start",
    "contour",
    "curve",
    "curves_figure",
    "early_stopping_figure",
    "errorbars",
    "grid_figure",
    "heatmap",
    "histograms",
    "legend_handles",
    "momentum_figure",
    "noise_figure",
    "optimizers_figure",
    "order_figure",
    "paths",
    "save",
    "sensitivity_figure",
    "state_curves",
    "subplots",
    "sweep_heatmap",
    "trajectories_figure",
    "values",
]
