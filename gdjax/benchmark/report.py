"""What the benchmark measures and reports: performance, speed, tunability, pairwise tests.

`gdjax.benchmark.protocol` fills one `Cell` per optimizer and problem with the
raw runs; everything here is computed from those arrays on the host, in
float64, so the Markdown report and the JSON say exactly what the arrays say:

- *performance*: the final test loss (and metric) of the best setting's reruns,
  mean ± standard error over the seeds (`gdjax.training.stats.mean_and_se`);
- *speed*: the first step (epoch) whose loss is at or below the problem's
  target, the median over the seeds that reach it, and how many never do;
- *tunability*: the share of the budget whose validation loss is within
  ``margin`` (relative) of the best, or at or below the target;
- *pairwise*: every two optimizers on a problem compared on the final test
  loss by the Mann-Whitney U test (two-sided), its p-values Holm-corrected
  across the pairs (`gdjax.training.stats.holm`), with Cohen's d.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from gdjax.training import stats


class Cell(NamedTuple):
    """One optimizer on one problem: its tuning and its reruns.

    Attributes:
      optimizer: the optimizer's label.
      problem: the problem's name.
      names: the tuned hyperparameters.
      settings: ``(points, len(names))`` the budget's settings.
      validation: ``(points,)`` each setting's final validation loss, seed 0 (+inf: diverged).
      best: the index of the best setting, -1 when every setting diverged.
      test_loss: ``(seeds,)`` the best setting's final test loss per seed.
      test_metric: ``(seeds,)`` its final test metric (data problems with one), or None.
      curves: the test loss after each step, ``(seeds, steps + 1)`` from the start,
        or after each epoch, ``(seeds, epochs)`` (+inf once diverged).
      paths: a 2-D function problem's ``(seeds, steps + 1, 2)`` points, else None.
      distance: a function problem's final distance to its known minimiser per seed,
        or None.
      tuning_seconds: wall time of the tuning program, compilation included.
      rerun_seconds: wall time of the reruns' program, compilation included.
      first_step: the step (epoch) of ``curves[:, 0]``: 0 for a function problem (its
        start), 1 for a data problem (evaluated after each epoch).
    """

    optimizer: str
    problem: str
    names: tuple[str, ...]
    settings: np.ndarray
    validation: np.ndarray
    best: int
    test_loss: np.ndarray
    test_metric: np.ndarray | None
    curves: np.ndarray
    paths: np.ndarray | None
    distance: np.ndarray | None
    tuning_seconds: float
    rerun_seconds: float
    first_step: int = 0

    @property
    def best_setting(self) -> dict[str, float]:
        """``{hyperparameter: value}`` of the best setting (empty if all diverged)."""
        if self.best < 0:
            return {}
        return {n: float(v) for n, v in zip(self.names, self.settings[self.best], strict=True)}


class Measures(NamedTuple):
    """One cell's measures (see the module docstring)."""

    mean: float
    se: float
    diverged: int
    metric_mean: float | None
    metric_se: float | None
    reached: np.ndarray  # (seeds,) first step at or below the target, -1 never
    speed: float  # the median of the reached steps; nan when none reaches
    never: int
    tunability: float


class Pairwise(NamedTuple):
    """The pairwise tests of one problem's optimizers on the final test loss.

    Attributes:
      problem: the problem's name.
      pairs: ``((a, b), ...)`` every two optimizers, in their order.
      u: ``(pairs,)`` Mann-Whitney U of ``a`` (pairs where ``a``'s loss is larger).
      p: ``(pairs,)`` its two-sided p-value.
      p_holm: ``(pairs,)`` Holm-adjusted across the pairs.
      d: ``(pairs,)`` Cohen's d of ``a`` against ``b`` (nan when a loss is not finite).
    """

    problem: str
    pairs: tuple[tuple[str, str], ...]
    u: np.ndarray
    p: np.ndarray
    p_holm: np.ndarray
    d: np.ndarray


class Results(NamedTuple):
    """The benchmark's runs: one `Cell` per optimizer and problem.

    Attributes:
      cells: the cells, problem by problem, optimizers in the order given.
      targets: ``{problem: target}``.
      points: the budget's points.
      search: the budget's search, ``"grid"`` or ``"sobol"``.
      seeds: reruns of each best setting.
      margin: tunability's relative margin.
    """

    cells: tuple[Cell, ...]
    targets: Mapping[str, float]
    points: int
    search: str
    seeds: int
    margin: float

    @property
    def optimizers(self) -> tuple[str, ...]:
        """The optimizers' labels, in order."""
        return tuple(dict.fromkeys(c.optimizer for c in self.cells))

    @property
    def problems(self) -> tuple[str, ...]:
        """The problems' names, in order."""
        return tuple(dict.fromkeys(c.problem for c in self.cells))

    def cell(self, optimizer: str, problem: str) -> Cell:
        """The cell of ``optimizer`` on ``problem``."""
        for c in self.cells:
            if c.optimizer == optimizer and c.problem == problem:
                return c
        raise KeyError(f"no cell for optimizer {optimizer!r} on problem {problem!r}")

    def measures(self, optimizer: str, problem: str) -> Measures:
        """The measures of ``optimizer`` on ``problem``."""
        return measures(self.cell(optimizer, problem), self.targets[problem], self.margin)

    def pairwise(self, problem: str) -> Pairwise:
        """The pairwise tests on ``problem``."""
        return pairwise([c for c in self.cells if c.problem == problem])

    def report(self) -> str:
        """The Markdown report."""
        return markdown(self)

    def to_json(self) -> dict:
        """Everything as JSON-ready data (non-finite numbers as ``"inf"``, ``"nan"``)."""
        return to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Results:
        """The `Results` that `to_json` wrote."""
        return from_json(data)


# --------------------------------------------------------------------------- measures


def first_reached(curves: np.ndarray, target: float, first_step: int = 0) -> np.ndarray:
    """``(seeds,)`` the first step whose loss is at or below ``target``, counting
    ``curves[:, 0]`` as step ``first_step``; -1 for never."""
    hit = np.asarray(curves) <= target
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1) + first_step, -1)


def tunability(validation: np.ndarray, target: float, margin: float) -> float:
    """The share of the budget within ``margin`` (relative) of the best validation loss,
    or at or below ``target``; a diverged setting never counts."""
    validation = np.asarray(validation, np.float64)
    finite = np.isfinite(validation)
    if not finite.any():
        return 0.0
    best = validation[finite].min()
    near = finite & ((validation <= best + margin * abs(best)) | (validation <= target))
    return float(near.mean())


def measures(cell: Cell, target: float, margin: float) -> Measures:
    """A cell's performance, speed and tunability."""
    mean, se, diverged = _mean_se(cell.test_loss)
    metric_mean = metric_se = None
    if cell.test_metric is not None:
        metric_mean, metric_se, _ = _mean_se(cell.test_metric)
    reached = first_reached(cell.curves, target, cell.first_step)
    hit = reached[reached >= 0]
    return Measures(
        mean=mean,
        se=se,
        diverged=diverged,
        metric_mean=metric_mean,
        metric_se=metric_se,
        reached=reached,
        speed=float(np.median(hit)) if hit.size else math.nan,
        never=int((reached < 0).sum()),
        tunability=tunability(cell.validation, target, margin),
    )


def _mean_se(values: np.ndarray) -> tuple[float, float, int]:
    """Mean and standard error over the finite values, and how many were not finite."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    diverged = values.size - finite.size
    if finite.size >= 2:
        return (*stats.mean_and_se(finite), diverged)
    return (float(finite[0]) if finite.size else math.inf), math.nan, diverged


def pairwise(cells: list[Cell]) -> Pairwise:
    """Mann-Whitney U, Holm-adjusted p and Cohen's d for every two of ``cells`` (one problem)."""
    from scipy.stats import mannwhitneyu

    pairs = list(itertools.combinations(cells, 2))
    u, p, d = (np.full(len(pairs), np.nan) for _ in range(3))
    for i, (a, b) in enumerate(pairs):
        # A NaN loss ranks as a diverged one: the worst.
        x, y = (np.where(np.isnan(c.test_loss), np.inf, c.test_loss) for c in (a, b))
        if _constant(x) and _constant(y):
            continue  # a deterministic problem: the seeds agree, there is nothing to test
        result = mannwhitneyu(x, y, alternative="two-sided")
        u[i], p[i] = result.statistic, result.pvalue
        if np.isfinite(x).all() and np.isfinite(y).all():
            d[i] = stats.cohens_d(x, y)
    p_holm = np.full(len(pairs), np.nan)
    tested = np.isfinite(p)
    p_holm[tested] = stats.holm(p[tested])
    problem = cells[0].problem if cells else ""
    names = tuple((a.optimizer, b.optimizer) for a, b in pairs)
    return Pairwise(problem, names, u, p, p_holm, d)


def _constant(values: np.ndarray) -> bool:
    return bool(np.all(values == values[0]))


# --------------------------------------------------------------------------- Markdown


def number(x: float | None) -> str:
    """How the report writes a number: 4 significant digits, ``inf``, ``—`` for none."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.4g}"


def markdown(results: Results) -> str:
    """The report: the protocol, then per problem a table of measures and of pairwise tests."""
    r = results
    lines = [
        "# gdjax benchmark",
        "",
        f"Protocol: for each optimizer and problem, {r.points} settings ({r.search}, "
        "log-uniform ranges) tuned from one seed as one program; the best by final "
        f"validation loss (a diverged run counts +inf); rerun with {r.seeds} seeds. "
        "Performance: final test loss, mean ± SE over the seeds. Speed: the median "
        "first step (epoch) at or below the target; *never*: seeds that never reach it. "
        f"Tunability: the share of the budget within {r.margin:.0%} of the best validation "
        "loss or at or below the target.",
    ]
    for problem in r.problems:
        lines += ["", *_problem_section(r, problem)]
    return "\n".join(lines) + "\n"


def _problem_section(r: Results, problem: str) -> list[str]:
    cells = [c for c in r.cells if c.problem == problem]
    metric = any(c.test_metric is not None for c in cells)
    distance = any(c.distance is not None for c in cells)
    steps = cells[0].curves.shape[-1] - 1 + cells[0].first_step
    header = ["optimizer", "best setting", "test loss", "diverged"]
    header += ["test metric"] * metric + ["distance to min"] * distance
    header += ["speed", "never", "tunability", "seconds"]
    rows = [_row(r, c, metric, distance) for c in cells]
    lines = [
        f"## {problem}",
        "",
        f"Target: loss ≤ {number(r.targets[problem])} within {steps} steps (epochs).",
        "",
        *_table(header, rows),
    ]
    if len(cells) > 1:
        lines += ["", *_pairwise_section(r.pairwise(problem))]
    return lines


def _row(r: Results, c: Cell, metric: bool, distance: bool) -> list[str]:
    m = r.measures(c.optimizer, c.problem)
    setting = ", ".join(f"{n}={number(v)}" for n, v in c.best_setting.items()) or "all diverged"
    row = [c.optimizer, setting, f"{number(m.mean)} ± {number(m.se)}", f"{m.diverged}"]
    if metric:
        row.append(
            "—" if m.metric_mean is None else f"{number(m.metric_mean)} ± {number(m.metric_se)}"
        )
    if distance:
        row.append("—" if c.distance is None else number(float(np.mean(c.distance))))
    row += [
        number(m.speed),
        f"{m.never} of {len(m.reached)}",
        f"{m.tunability:.0%}",
        f"{c.tuning_seconds + c.rerun_seconds:.1f}",
    ]
    return row


def _pairwise_section(pw: Pairwise) -> list[str]:
    rows = [
        [a, b, number(u), number(p), number(q), number(d)]
        for (a, b), u, p, q, d in zip(pw.pairs, pw.u, pw.p, pw.p_holm, pw.d, strict=True)
    ]
    return [
        f"Pairwise, final test loss: Mann-Whitney U (two-sided), p Holm-adjusted over the "
        f"{len(pw.pairs)} pairs; Cohen's d of a against b (negative: a lower); — where both "
        "optimizers' seeds end alike (a problem whose start the seed does not move).",
        "",
        *_table(["a", "b", "U", "p", "p (Holm)", "d"], rows),
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


# --------------------------------------------------------------------------- JSON

_ARRAYS = ("settings", "validation", "test_loss", "test_metric", "curves", "paths", "distance")


def to_json(results: Results) -> dict:
    """``results`` as JSON-ready data: the runs, each cell's measures, the pairwise tests."""
    cells = []
    for c in results.cells:
        data = {name: _encode(value) for name, value in c._asdict().items()}
        data["names"] = list(c.names)
        m = results.measures(c.optimizer, c.problem)
        data["measures"] = {name: _encode(value) for name, value in m._asdict().items()}
        cells.append(data)
    pairwise = []
    for problem in results.problems:
        pw = results.pairwise(problem)
        pairwise.append({name: _encode(value) for name, value in pw._asdict().items()})
    return {
        "budget": {"points": results.points, "search": results.search},
        "seeds": results.seeds,
        "margin": results.margin,
        "targets": {name: _encode(t) for name, t in results.targets.items()},
        "cells": cells,
        "pairwise": pairwise,
    }


def from_json(data: Mapping[str, Any]) -> Results:
    """The `Results` of `to_json`'s data (the measures and tests are recomputed)."""
    cells = []
    for entry in data["cells"]:
        fields = {name: entry[name] for name in Cell._fields if name in entry}
        for name in _ARRAYS:
            fields[name] = (
                None if fields[name] is None else np.asarray(_decode(fields[name]), np.float64)
            )
        fields["names"] = tuple(fields["names"])
        fields["best"] = int(fields["best"])
        cells.append(Cell(**fields))
    targets = {name: float(_decode(t)) for name, t in data["targets"].items()}
    budget = data["budget"]
    return Results(
        tuple(cells), targets, budget["points"], budget["search"], data["seeds"], data["margin"]
    )


def _encode(value: Any) -> Any:
    """Arrays and numbers as lists and floats; ``inf``, ``-inf`` and ``nan`` as strings."""
    if isinstance(value, np.ndarray):
        return _encode(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, (np.integer, bool)):
        return value if isinstance(value, bool) else int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(float(value))
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, str):
        return float(value)
    return value
