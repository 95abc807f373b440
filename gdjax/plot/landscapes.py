"""Landscapes as the texts draw them: grey contours with their critical points, 1-D curves."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gdjax.landscapes import Landscape
from gdjax.plot._base import (
    _CRITICAL_POINTS,
    Axes,
    Bounds,
    _axes,
    _legend,
)


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
    legend: str | None = None,
) -> Axes:
    """Filled grey contours with thin black contour lines, as the texts draw them.

    Lighter grey is lower. A landscape's global minima are marked ``+``, its
    local minima ``x`` and its saddles with a small diamond; every legend that
    this module draws on the axes (``legend=`` here, `paths`' legend) has an
    entry for each kind marked.

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
      legend: draw a legend of the marked critical points at this location (a
        matplotlib ``loc``, or ``"outside"``); None (default) for none.

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
    if legend:
        _legend(ax, legend)
    return ax


def _mark_critical_points(ax, landscape: Landscape) -> None:
    # Under the paths (zorder 3), so that a path ending on a minimum stays visible.
    style = {"color": "k", "linestyle": "none", "zorder": 2.5}
    for minimum in landscape.minima:
        gid = "gdjax-global-minimum" if minimum.kind == "global" else "gdjax-local-minimum"
        ax.plot(*minimum.point, gid=gid, **_CRITICAL_POINTS[gid][1], **style)
    for saddle in landscape.saddles:
        gid = "gdjax-saddle-point"
        ax.plot(*saddle, gid=gid, **_CRITICAL_POINTS[gid][1], **style)


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
