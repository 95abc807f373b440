"""``gdjax compare``: several optimizers on one landscape, from the same starts."""

from __future__ import annotations

import argparse

import numpy as np

from gdjax import landscapes
from gdjax import trajectories as T
from gdjax.cli import drawing, outputs, registry, render, values


def run(args: argparse.Namespace) -> int:
    land = values.landscape(args.landscape)
    names = registry.optimizer_names(args.optimizers)
    starts = values.starts(args.start, land)
    settings = registry.settings(args.set, names)
    values.check_steps(args.steps)
    values.positive(args.tol, "--tol")
    values.positive(args.bound, "--bound")
    out = None if args.no_plot else outputs.figure_path(args.out)
    # Every optimizer is built (its values checked) before the first one runs.
    optimizers = {name: registry.build(name, settings[name]) for name in names}

    runs, rows = {}, []
    for name in names:
        runs[name] = T.run(
            optimizers[name],
            land,
            starts,
            args.steps,
            bound=args.bound,
            tol=args.tol,
            iterate=registry.iterate(name, settings[name]),
        )
        rows += _rows(land, name, settings[name], starts, runs[name])
    if args.json:
        print(render.compare_json(land, args.steps, args.tol, rows))
    else:
        print(render.compare_text(land, args.steps, args.tol, settings, rows))
    if out is not None:
        outputs.draw(lambda: drawing.compare(land, runs, starts, args.steps), out)
    return 0


def _rows(
    land: landscapes.Landscape, name: str, chosen: dict, starts: np.ndarray, run: T.Trajectories
) -> list[dict]:
    """A row per start: where the run ended, the minimum nearest to it, how it got there."""
    index, distance = land.nearest_minimum(run.final)
    rows = []
    for i, start in enumerate(starts):
        nearest = land.minima[int(index[i])] if int(index[i]) >= 0 else None
        settled = int(run.steps_to_tol[i])
        rows.append(
            {
                "optimizer": name,
                "hyperparameters": chosen,
                "start": start.tolist(),
                "final": np.asarray(run.final[i], np.float64).tolist(),
                "value": float(run.final_value[i]),
                "nearest_minimum": None if nearest is None else list(nearest.point),
                "minimum_kind": None if nearest is None else nearest.kind,
                "distance": None if nearest is None else float(distance[i]),
                "steps_to_tol": settled if settled >= 0 else None,
                "diverged": bool(run.diverged[i]),
            }
        )
    return rows
