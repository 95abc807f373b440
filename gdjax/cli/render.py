"""Results as text and JSON: the tables of compare, sweep and landscapes.

Text fits 100 columns for the default commands. JSON is strict: NaN and
infinities, which JSON has not, are written as null (a diverged run says so
in its ``diverged`` field).
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from gdjax import landscapes

WIDTH = 100


def point(x: Any) -> str:
    return "(" + ", ".join(f"{float(c):.4f}" for c in np.atleast_1d(x)) + ")"


def describe(settings: dict) -> str:
    return ", ".join(
        f"{k}={v}" if isinstance(v, bool) else f"{k}={v:g}" for k, v in settings.items()
    )


def finite(x: Any) -> float | None:
    """A float for JSON, or None where it is NaN or infinite (JSON has neither)."""
    x = float(x)
    return x if np.isfinite(x) else None


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, a rule under the first row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


# --------------------------------------------------------------------------- compare


def compare_text(
    land: landscapes.Landscape, steps: int, tol: float, settings: dict, rows: list[dict]
) -> str:
    """Each optimizer's settings once, then a row per optimizer and start."""
    by_minimum = bool(land.minima)
    lines = [
        f"{land.name}, {steps} steps. settled: the step from which the run stays within "
        f"{tol:g} of a minimum.",
        "hyperparameters:",
        *_settings_lines(settings),
        "--json adds each run's final value"
        + (" and its distance to the nearest minimum." if by_minimum else "."),
        "",
    ]
    last = "nearest minimum" if by_minimum else "value"
    header = ("optimizer", "start", "final point", last, "settled", "diverged")
    body = [
        (
            r["optimizer"],
            point(r["start"]),
            point(r["final"]),
            _nearest(r) if by_minimum else f"{r['value']:.6g}",
            "never" if r["steps_to_tol"] is None else str(r["steps_to_tol"]),
            "yes" if r["diverged"] else "no",
        )
        for r in rows
    ]
    return "\n".join([*lines, *table([header, *body])])


def _settings_lines(settings: dict) -> list[str]:
    width = max(len(name) for name in settings)
    return [f"  {name.ljust(width)}  {describe(chosen)}" for name, chosen in settings.items()]


def _nearest(row: dict) -> str:
    if row["nearest_minimum"] is None:
        return "-"
    return f"{point(row['nearest_minimum'])} {row['minimum_kind']}"


def compare_json(land: landscapes.Landscape, steps: int, tol: float, rows: list[dict]) -> str:
    strict = [
        {
            **r,
            "final": [finite(c) for c in r["final"]],
            "value": finite(r["value"]),
            "distance": None if r["distance"] is None else finite(r["distance"]),
        }
        for r in rows
    ]
    document = {"landscape": land.name, "steps": steps, "tol": tol, "rows": strict}
    return json.dumps(document, indent=1, allow_nan=False)


# --------------------------------------------------------------------------- sweep


class SweepSummary(NamedTuple):
    """What `gdjax sweep` reports: the run, and its best settings, best first.

    Each of ``best`` is ``{param: value, ..., "score": float, "diverged_starts": int}``.
    """

    optimizer: str
    landscape: str
    fixed: dict
    settings: int
    starts: int
    steps: int
    seconds: float
    by: str
    tol: float
    best: list[dict]


def sweep_text(s: SweepSummary) -> str:
    score = "mean final value" if s.by == "value" else f"steps to within {s.tol:g} (slowest start)"
    lines = [
        f"{s.optimizer} on {s.landscape}: {s.settings} settings x {s.starts} starts x "
        f"{s.steps} steps, one program, {s.seconds:.2f} s; fixed: {describe(s.fixed) or '-'}",
        f"best by {score}:",
    ]
    for row in s.best:
        row = dict(row)
        failed = row.pop("diverged_starts")
        if np.isfinite(row["score"]):
            text = f"{row['score']:.6g}"
        elif failed:
            text = f"diverged ({failed} of {s.starts} starts)"
        else:
            text = "never" if s.by == "steps" else "inf"
        values = ", ".join(f"{k}={v:.6g}" for k, v in row.items() if k != "score")
        lines.append(f"  {values}, score={text}")
    return "\n".join(lines)


def sweep_json(s: SweepSummary) -> str:
    document = {
        "optimizer": s.optimizer,
        "fixed": s.fixed,
        "landscape": s.landscape,
        "settings": s.settings,
        "by": s.by,
        "best": [{**row, "score": finite(row["score"])} for row in s.best],
    }
    return json.dumps(document, indent=1, allow_nan=False)


# --------------------------------------------------------------------------- landscapes


def landscapes_text(items: list[landscapes.Landscape]) -> str:
    lines = []
    for land in items:
        box = " x ".join(f"[{a:g}, {b:g}]" for a, b in land.bounds)
        lines.append(f"{land.name} ({land.dim}-D, box {box})")
        lines += textwrap.wrap(land.doc, WIDTH, initial_indent="  ", subsequent_indent="  ")
        shown = land.minima if len(land.minima) <= 4 else land.minima[:1]
        lines += [f"  {m.kind} minimum {m.value:.6g} at {point(m.point)}" for m in shown]
        if len(land.minima) > len(shown):
            lines.append(f"  ... and {len(land.minima) - len(shown)} local minima")
        if not land.minima:
            lines.append("  no minimum (unbounded below)")
        lines += [f"  saddle point at {point(s)}" for s in land.saddles]
    return "\n".join(lines)


def landscapes_json(items: list[landscapes.Landscape]) -> str:
    document = [
        {
            "name": land.name,
            "dim": land.dim,
            "bounds": land.bounds,
            "doc": land.doc,
            "minima": [dataclasses.asdict(m) for m in land.minima],
            "saddles": land.saddles,
        }
        for land in items
    ]
    return json.dumps(document, indent=1)
