"""``gdjax sweep``: a grid of one optimizer's hyperparameters, as one compiled program."""

from __future__ import annotations

import argparse
import time

import numpy as np

from gdjax import trajectories as T
from gdjax.cli import drawing, outputs, registry, render, values
from gdjax.cli.values import UsageError


def run(args: argparse.Namespace) -> int:
    land = values.landscape(args.landscape)
    name = _one_optimizer(args.optimizer)
    if not args.grid:
        raise UsageError(
            "give at least one --grid param=spec, e.g. --grid learning_rate=1e-4:1:log20"
        )
    grid = _grid(args.grid, name)
    chosen = registry.settings(args.set, [name], default=name)[name]
    fixed = {k: v for k, v in chosen.items() if k not in grid}
    starts = values.starts(args.start, land)
    values.check_steps(args.steps)
    values.positive(args.tol, "--tol")
    values.positive(args.bound, "--bound")
    if args.top < 1:
        raise UsageError(f"--top must be a positive integer, got {args.top}")
    out = None if args.no_plot else outputs.figure_path(args.out)
    _check_grid(name, fixed, grid)

    def make(**hyperparameters):
        return registry.OPTIMIZERS[name].factory(**fixed, **hyperparameters)

    began = time.perf_counter()
    result = T.sweep(make, grid, land, starts, args.steps, bound=args.bound, tol=args.tol)
    seconds = time.perf_counter() - began
    scores = result.scores(args.by)
    summary = render.SweepSummary(
        optimizer=name,
        landscape=land.name,
        fixed=fixed,
        settings=int(scores.size),
        starts=len(starts),
        steps=args.steps,
        seconds=seconds,
        by=args.by,
        tol=args.tol,
        best=_best(result, scores, args.top),
    )
    print(render.sweep_json(summary) if args.json else render.sweep_text(summary))
    if out is not None:
        title = f"{name} on {land.name}"
        outputs.draw(lambda: drawing.sweep(result, args.by, title), out)
    return 0


def _one_optimizer(text: str) -> str:
    names = registry.optimizer_names(text, "--optimizer")
    if len(names) != 1:
        raise UsageError(
            f"--optimizer takes one name, got {text!r}; choose from: "
            f"{values.choices(registry.OPTIMIZERS)}"
        )
    return names[0]


def _grid(texts: list[str], name: str) -> dict[str, np.ndarray]:
    """``--grid param=spec`` (repeatable) as ``{param: values}``."""
    grid = {}
    for text in texts:
        param, sep, spec = text.partition("=")
        if not sep:
            raise UsageError(f"--grid {text!r}: write param=spec, e.g. learning_rate=1e-4:1:log20")
        kind = registry.check_parameter("--grid", text, name, param)
        if kind == "bool":
            raise UsageError(
                f"--grid {text!r}: {param} is a switch, not a number; use --set {param}=true"
            )
        if param in grid:
            raise UsageError(f"--grid {text!r}: {param} is given twice; give each axis once")
        if kind == "key":  # an axis of seeds: integers, each run its own key
            grid[param] = np.asarray([values.seed(v, f"--grid {param}") for v in spec.split(",")])
        else:
            grid[param] = values.grid_values(spec, f"--grid {param}")
    settings = int(np.prod([len(v) for v in grid.values()]))
    if settings > values.MAX_SETTINGS:
        raise UsageError(f"--grid: {settings} settings in all; at most {values.MAX_SETTINGS}")
    return grid


def _check_grid(name: str, fixed: dict, grid: dict[str, np.ndarray]) -> None:
    """The grid is traced data, which the optimizers cannot check: check each axis's
    smallest and largest value here (the allowed ranges are intervals)."""
    first = {k: v[0].item() for k, v in grid.items()}
    for axis, axis_values in grid.items():
        for value in (np.min(axis_values), np.max(axis_values)):
            registry.build(name, {**fixed, **first, axis: value.item()})


def _best(result: T.SweepResult, scores: np.ndarray, top: int) -> list[dict]:
    """The ``top`` settings, best first (`SweepResult.scores` ranks diverged ones last)."""
    diverged = np.asarray(result.diverged)
    best = []
    for flat in np.argsort(scores, axis=None)[:top]:
        index = np.unravel_index(flat, scores.shape)
        best.append(
            {
                **{k: result.grid[k][index].item() for k in result.names},
                "score": float(scores[index]),
                "diverged_starts": int(diverged[index].sum()),
            }
        )
    return best
