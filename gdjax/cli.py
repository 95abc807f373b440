"""The ``gdjax`` command: compare optimizers on a landscape, sweep hyperparameters,
list the landscapes, regenerate the docs' figures.

Bad input (an unknown optimizer, landscape or option, a malformed number or
grid) exits with status 2 and one line that names what was wrong and the
valid choices.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import gdjax
from gdjax import landscapes
from gdjax import trajectories as T


class UsageError(Exception):
    """Bad input on the command line: reported in one line with exit status 2."""

    def __init__(self, message: str, prog: str = "gdjax") -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(message, self.prog)


@dataclasses.dataclass(frozen=True)
class Entry:
    """An optimizer the command knows: its factory and the settings it runs with."""

    factory: Callable[..., gdjax.GradientTransformation]
    settings: dict[str, Any]


# The texts give the rates for plain descent (seed 001 Fig. 11-5: lr 0.4) and for
# momentum (Table 11-2: lr 0.1, mu 0.9). The others are the rounded winners of
#   gdjax sweep --optimizer NAME --grid learning_rate=1e-3:1:log25 --by steps
# on two_gaussians from Table 11-1's five starts (settling within 1e-3 in 100
# steps); AdaDelta's eps by --grid eps=1e-6:1e-1:log11 (its default 1e-6 barely
# moves at this scale), RMSProp's decay by --grid decay=0.9,0.99,0.999. Adam,
# AdaMax and AMSGrad with their own betas settle at no rate (they orbit the
# minimum; with b1=0.5 Adam settles in 31 steps): they keep their betas and
# a rate of 0.1, and the table shows it.
OPTIMIZERS: dict[str, Entry] = {
    "sgd": Entry(gdjax.sgd, {"learning_rate": 0.4}),
    "momentum": Entry(gdjax.sgd, {"learning_rate": 0.1, "momentum": 0.9}),
    "nesterov": Entry(gdjax.sgd, {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    "adagrad": Entry(gdjax.adagrad, {"learning_rate": 0.4}),
    "rmsprop": Entry(gdjax.rmsprop, {"learning_rate": 0.04, "decay": 0.99}),
    "adadelta": Entry(gdjax.adadelta, {"learning_rate": 1.0, "eps": 3e-3}),
    "adam": Entry(gdjax.adam, {"learning_rate": 0.1}),
    "adamax": Entry(gdjax.adamax, {"learning_rate": 0.1}),
    "nadam": Entry(gdjax.nadam, {"learning_rate": 0.7}),
    "amsgrad": Entry(gdjax.amsgrad, {"learning_rate": 0.1}),
    "noisy_sgd": Entry(gdjax.noisy_sgd, {"learning_rate": 0.4}),
}
COMPARED = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam")

# Limits of what one command may ask for: trajectories keep every step, so a
# mistyped 10**11 steps or grid count would exhaust the memory instead of failing.
MAX_STEPS = 1_000_000
MAX_SETTINGS = 100_000
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_SEED_MAX = 2**32 - 1


def _choices(values) -> str:
    return ", ".join(values)


def _optimizer_names(text: str, flag: str = "--optimizers") -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for name in names:
        if name not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {name!r}; choose from: {_choices(OPTIMIZERS)}")
    if not names:
        raise UsageError(f"{flag} is empty; choose from: {_choices(OPTIMIZERS)}")
    return names


def _landscape(name: str) -> landscapes.Landscape:
    try:
        return landscapes.get(name)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _number(text: str, what: str) -> float:
    """A finite number that float32 can hold (the runs are in float32)."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a number") from None
    if not np.isfinite(value):
        raise UsageError(f"{what}: {text!r} is not a finite number")
    if abs(value) > _FLOAT32_MAX:
        raise UsageError(
            f"{what}: {text!r} is outside the float32 range (|x| <= {_FLOAT32_MAX:.4g})"
        )
    return value


def _switch(text: str, what: str) -> bool:
    if text.strip().lower() not in ("true", "false"):
        raise UsageError(f"{what}: {text!r} is not true or false")
    return text.strip().lower() == "true"


def _seed(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an integer seed") from None
    if not 0 <= value <= _SEED_MAX:
        raise UsageError(f"{what}: the seed must be in [0, {_SEED_MAX}], got {value}")
    return value


def _positive(value: float | None, flag: str) -> None:
    """``--tol`` and ``--bound``: argparse accepts 'nan', 'inf' and negatives as floats."""
    if value is not None and not (0 < value <= _FLOAT32_MAX):
        raise UsageError(f"{flag} must be a finite number > 0, got {value}")


def _check_steps(steps: int) -> None:
    if not 1 <= steps <= MAX_STEPS:
        raise UsageError(f"--steps must be a positive integer <= {MAX_STEPS}, got {steps}")


def _starts(texts: list[str] | None, landscape: landscapes.Landscape) -> np.ndarray:
    if not texts:
        if not landscape.starts:
            raise UsageError(f"{landscape.name} has no default starts; give --start")
        return np.asarray(landscape.starts, np.float32)
    points = []
    for text in texts:
        point = [_number(part, "--start") for part in text.split(",")]
        if len(point) != landscape.dim:
            raise UsageError(
                f"--start {text!r} has {len(point)} coordinates; {landscape.name} is "
                f"{landscape.dim}-D (give x{',y' if landscape.dim == 2 else ''})"
            )
        points.append(point)
    return np.asarray(points, np.float32)


def _kind(name: str, param: str) -> str:
    """How the command line sets ``param`` of optimizer ``name``: 'switch' (a bool
    default), 'seed' (an int default: noisy_sgd's key), 'number', or 'fixed' (dtypes
    and masks, which are not numbers and cannot be set here)."""
    if param.endswith("_dtype") or param.endswith("mask"):
        return "fixed"
    default = inspect.signature(OPTIMIZERS[name].factory).parameters[param].default
    if isinstance(default, bool):
        return "switch"
    if isinstance(default, int):
        return "seed"
    return "number"


def _all_parameters(name: str) -> list[str]:
    return list(inspect.signature(OPTIMIZERS[name].factory).parameters)


def _parameters(name: str) -> list[str]:
    """The parameters of ``name`` that --set and --grid accept."""
    return [p for p in _all_parameters(name) if _kind(name, p) != "fixed"]


def _check_parameter(flag: str, text: str, name: str, param: str) -> None:
    if param not in _all_parameters(name):
        raise UsageError(
            f"{flag} {text!r}: {name} has no parameter {param!r}; it takes: "
            f"{_choices(_parameters(name))}"
        )
    if _kind(name, param) == "fixed":
        raise UsageError(
            f"{flag} {text!r}: {param} cannot be set from the command line; {name} takes: "
            f"{_choices(_parameters(name))}"
        )


def _parse_setting(name: str, param: str, text: str, what: str) -> float | bool | int:
    kind = _kind(name, param)
    if kind == "switch":
        return _switch(text, what)
    if kind == "seed":
        return _seed(text, what)
    return _number(text, what)


def _settings(sets: list[str] | None, names: list[str], default: str | None = None) -> dict:
    """Each optimizer's settings: its defaults, overridden by ``--set name.param=value``."""
    settings = {name: dict(OPTIMIZERS[name].settings) for name in names}
    for text in sets or []:
        key, sep, value = text.partition("=")
        target, dot, param = key.rpartition(".")
        if not sep or not param:
            raise UsageError(
                f"--set {text!r}: write name.param=value, e.g. adam.learning_rate=0.05"
            )
        if not dot and default is None:
            raise UsageError(
                f"--set {text!r}: write name.param=value, e.g. adam.learning_rate=0.05"
            )
        target = target if dot else default
        if target not in settings:
            raise UsageError(
                f"--set {text!r}: {target!r} is not a selected optimizer; choose from: "
                f"{_choices(settings)}"
            )
        _check_parameter("--set", text, target, param)
        settings[target][param] = _parse_setting(target, param, value, f"--set {key}")
    return settings


def _build(name: str, settings: dict) -> gdjax.GradientTransformation:
    try:
        return OPTIMIZERS[name].factory(**settings)
    except (ValueError, TypeError) as error:
        raise UsageError(f"{name}: {error}") from None


def _describe(settings: dict) -> str:
    return ", ".join(
        f"{k}={v:g}" if not isinstance(v, bool) else f"{k}={v}" for k, v in settings.items()
    )


def _point(x) -> str:
    return "(" + ", ".join(f"{float(c):.4f}" for c in np.atleast_1d(x)) + ")"


def _out_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".png", ".gif"):
        raise UsageError(
            f"--out {text!r}: the figure is written as PNG; give a path ending in .png (or .gif)"
        )
    return path


def _finite(x: Any) -> float | None:
    """A float for JSON, or None where it is NaN or infinite (JSON has neither)."""
    x = float(x)
    return x if np.isfinite(x) else None


# --------------------------------------------------------------------------- compare


def _compare(args: argparse.Namespace) -> int:
    landscape = _landscape(args.landscape)
    names = _optimizer_names(args.optimizers)
    starts = _starts(args.start, landscape)
    settings = _settings(args.set, names)
    _check_steps(args.steps)
    _positive(args.tol, "--tol")
    _positive(args.bound, "--bound")
    out = None if args.no_plot else _out_path(args.out)

    runs, rows = {}, []
    for name in names:
        iterate = None
        chosen = settings[name]
        # Only sgd's Nesterov momentum keeps the look-ahead point as its params (adam's
        # and rmsprop's nesterov are other methods); report the NAG iterate for it.
        if (
            OPTIMIZERS[name].factory is gdjax.sgd
            and chosen.get("nesterov") is True
            and chosen.get("momentum") is not None
        ):
            _build(name, chosen)  # validates the values before they reach the iterate
            iterate = T.nesterov_iterate(chosen["learning_rate"], chosen["momentum"])
        run = T.run(
            _build(name, settings[name]),
            landscape,
            starts,
            args.steps,
            bound=args.bound,
            tol=args.tol,
            iterate=iterate,
        )
        runs[name] = run
        index, distance = landscape.nearest_minimum(run.final)
        for i, start in enumerate(starts):
            nearest = landscape.minima[int(index[i])] if int(index[i]) >= 0 else None
            value = float(run.final_value[i])
            final = np.asarray(run.final[i], np.float64)
            rows.append(
                {
                    "optimizer": name,
                    "hyperparameters": settings[name],
                    "start": start.tolist(),
                    "final": final.tolist(),
                    "value": value,
                    "nearest_minimum": None if nearest is None else list(nearest.point),
                    "minimum_kind": None if nearest is None else nearest.kind,
                    "distance": None if nearest is None else float(distance[i]),
                    "steps_to_tol": int(run.steps_to_tol[i])
                    if int(run.steps_to_tol[i]) >= 0
                    else None,
                    "diverged": bool(run.diverged[i]),
                }
            )
    if args.json:
        strict = [
            {
                **r,
                "final": [_finite(c) for c in r["final"]],
                "value": _finite(r["value"]),
                "distance": None if r["distance"] is None else _finite(r["distance"]),
            }
            for r in rows
        ]
        document = {"landscape": landscape.name, "steps": args.steps, "tol": args.tol}
        print(json.dumps({**document, "rows": strict}, indent=1, allow_nan=False))
    else:
        _print_compare(landscape, args, rows)
    if out is not None:
        _figure(lambda: _plot_compare(landscape, runs, starts, out, args.steps), out)
    return 0


def _print_compare(landscape, args, rows) -> None:
    print(
        f"{landscape.name}, {args.steps} steps. 'steps to {args.tol:g}': the step from which "
        f"the run stays within {args.tol:g} of a minimum."
    )
    header = (
        "optimizer",
        "hyperparameters",
        "start",
        "final point",
        "value",
        "nearest minimum",
        "distance",
        f"steps to {args.tol:g}",
        "diverged",
    )
    table = [header]
    for r in rows:
        table.append(
            (
                r["optimizer"],
                _describe(r["hyperparameters"]),
                _point(r["start"]),
                _point(r["final"]),
                f"{r['value']:.6f}",
                "-"
                if r["nearest_minimum"] is None
                else f"{_point(r['nearest_minimum'])} {r['minimum_kind']}",
                "-" if r["distance"] is None else f"{r['distance']:.2e}",
                "never" if r["steps_to_tol"] is None else str(r["steps_to_tol"]),
                "yes" if r["diverged"] else "no",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for j, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _figure(draw: Callable[[], Path], out: Path) -> None:
    try:
        draw()
    except ImportError as error:
        print(f"gdjax: {out} not written: {error}", file=sys.stderr)
        return
    except OSError as error:
        raise UsageError(f"--out {str(out)!r}: cannot write the figure: {error}") from None
    print(f"wrote {out}")


def _plot_compare(landscape, runs, starts, out: Path, steps: int) -> Path:
    """One panel per start (every optimizer's path) and a panel of value against step."""
    from gdjax import plot

    panels = len(starts) + 1
    columns = min(3, panels)
    rows = -(-panels // columns)
    fig, axes = plot.subplots(rows, columns, figsize=(4.6 * columns, 4.2 * rows), squeeze=False)
    axes = axes.ravel()
    log = landscape.name in ("rosenbrock", "beale", "himmelblau", "rastrigin")
    for i, start in enumerate(starts):
        per_start = {name: run.take(i) for name, run in runs.items()}
        plot.paths(per_start, axes[i], landscape=landscape, legend=None, markersize=3, log=log)
        axes[i].set_title(f"from {_point(start)}", fontsize="medium")
    values_ax = axes[len(starts)]
    if landscape.minima:
        # Each start's gap to the minimum it ends nearest to: a start settling in a local
        # minimum has converged too, and the log scale shows how fast.
        gaps = {}
        for name, run in runs.items():
            index, _ = landscape.nearest_minimum(run.final)
            nearest = np.asarray([landscape.minima[i].value for i in np.asarray(index)])
            values = np.asarray(run.values)
            gaps[name] = run._replace(values=values - nearest.astype(values.dtype))
        plot.values(gaps, values_ax, log=True, minimum=0.0, legend=None)
        values_ax.set_ylabel("f - f(nearest minimum)")
    else:
        plot.values(runs, values_ax, legend=None)
    values_ax.set_title("value, mean over starts (band: range)", fontsize="medium")
    for ax in axes[panels:]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    fig.suptitle(f"gdjax compare: {landscape.name}, {steps} steps")
    return plot.save(fig, out)


# --------------------------------------------------------------------------- sweep


def _grid_values(spec: str) -> np.ndarray:
    """``a:b:logN`` (N log-spaced), ``a:b:N`` (N evenly spaced) or ``v1,v2,...``."""
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise UsageError(
                f"--grid value {spec!r}: write start:stop:N, start:stop:logN or v1,v2,..."
            )
        start, stop = _number(parts[0], "--grid start"), _number(parts[1], "--grid stop")
        log = parts[2].startswith("log")
        count_text = parts[2][3:] if log else parts[2]
        # isdecimal, not isdigit: int() refuses superscripts such as '²', which isdigit accepts.
        if not count_text.isdecimal() or int(count_text) < 1:
            raise UsageError(f"--grid value {spec!r}: {parts[2]!r} is not a count like 20 or log20")
        if log and (start <= 0 or stop <= 0):
            raise UsageError(f"--grid value {spec!r}: a log range needs positive ends")
        count = int(count_text)
        if count > MAX_SETTINGS:
            raise UsageError(
                f"--grid value {spec!r}: {count} values; at most {MAX_SETTINGS} settings in all"
            )
        return np.geomspace(start, stop, count) if log else np.linspace(start, stop, count)
    return np.asarray([_number(v, "--grid value") for v in spec.split(",")])


def _grid(texts: list[str], name: str) -> dict[str, np.ndarray]:
    grid = {}
    for text in texts:
        param, sep, spec = text.partition("=")
        if not sep:
            raise UsageError(f"--grid {text!r}: write param=spec, e.g. learning_rate=1e-4:1:log20")
        _check_parameter("--grid", text, name, param)
        if _kind(name, param) == "switch":
            raise UsageError(
                f"--grid {text!r}: {param} is a switch, not a number; use --set {param}=true"
            )
        if param in grid:
            raise UsageError(f"--grid {text!r}: {param} is given twice; give each axis once")
        if _kind(name, param) == "seed":  # an axis of seeds: integers, each run its own key
            grid[param] = np.asarray([_seed(v, f"--grid {param}") for v in spec.split(",")])
        else:
            grid[param] = _grid_values(spec)
    settings = int(np.prod([len(v) for v in grid.values()]))
    if settings > MAX_SETTINGS:
        raise UsageError(f"--grid: {settings} settings in all; at most {MAX_SETTINGS}")
    return grid


def _sweep(args: argparse.Namespace) -> int:
    landscape = _landscape(args.landscape)
    names = _optimizer_names(args.optimizer, "--optimizer")
    if len(names) != 1:
        raise UsageError(
            f"--optimizer takes one name, got {args.optimizer!r}; choose from: "
            f"{_choices(OPTIMIZERS)}"
        )
    name = names[0]
    if not args.grid:
        raise UsageError(
            "give at least one --grid param=spec, e.g. --grid learning_rate=1e-4:1:log20"
        )
    grid = _grid(args.grid, name)
    fixed = {
        k: v for k, v in _settings(args.set, [name], default=name)[name].items() if k not in grid
    }
    starts = _starts(args.start, landscape)
    _check_steps(args.steps)
    _positive(args.tol, "--tol")
    _positive(args.bound, "--bound")
    if args.top < 1:
        raise UsageError(f"--top must be a positive integer, got {args.top}")
    out = None if args.no_plot else _out_path(args.out)
    # The grid is traced data, which the optimizers cannot check: check each axis's
    # smallest and largest value here (the allowed ranges are intervals).
    first = {k: v[0].item() for k, v in grid.items()}
    for axis, values in grid.items():
        for value in (np.min(values), np.max(values)):
            _build(name, {**fixed, **first, axis: value.item()})

    def make(**hyperparameters):
        return OPTIMIZERS[name].factory(**fixed, **hyperparameters)

    began = time.perf_counter()
    result = T.sweep(make, grid, landscape, starts, args.steps, bound=args.bound, tol=args.tol)
    seconds = time.perf_counter() - began
    scores = result.scores(args.by)
    diverged = np.asarray(result.diverged)
    order = np.argsort(scores, axis=None)[: args.top]
    best = []
    for flat in order:
        index = np.unravel_index(flat, scores.shape)
        best.append(
            {
                **{k: result.grid[k][index].item() for k in result.names},
                "score": float(scores[index]),
                "diverged_starts": int(diverged[index].sum()),
            }
        )
    if args.json:
        print(
            json.dumps(
                {
                    "optimizer": name,
                    "fixed": fixed,
                    "landscape": landscape.name,
                    "settings": int(scores.size),
                    "by": args.by,
                    "best": [{**row, "score": _finite(row["score"])} for row in best],
                },
                indent=1,
                allow_nan=False,
            )
        )
    else:
        score = (
            "mean final value"
            if args.by == "value"
            else f"steps to within {args.tol:g} (slowest start)"
        )
        print(
            f"{name} on {landscape.name}: {scores.size} settings x {len(starts)} starts x "
            f"{args.steps} steps, one program, {seconds:.2f} s; fixed: {_describe(fixed) or '-'}"
        )
        print(f"best by {score}:")
        for row in best:
            row = dict(row)
            failed = row.pop("diverged_starts")
            if np.isfinite(row["score"]):
                text = f"{row['score']:.6g}"
            elif failed:
                text = f"diverged ({failed} of {len(starts)} starts)"
            else:
                text = "never" if args.by == "steps" else "inf"
            shown = {**row, "score": text}
            print(
                "  "
                + ", ".join(
                    f"{k}={v:.6g}" if k != "score" else f"{k}={v}" for k, v in shown.items()
                )
            )
    if out is not None:
        _figure(lambda: _plot_sweep(result, args.by, out, f"{name} on {landscape.name}"), out)
    return 0


def _plot_sweep(result, by, out: Path, title: str) -> Path:
    from gdjax import plot

    ax = plot.sweep_heatmap(result, by=by)
    ax.set_title(title)
    return plot.save(ax.figure, out)


# --------------------------------------------------------------------------- landscapes


def _landscapes(args: argparse.Namespace) -> int:
    items = [landscapes.get(n) for n in landscapes.names()]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": land.name,
                        "dim": land.dim,
                        "bounds": land.bounds,
                        "doc": land.doc,
                        "minima": [dataclasses.asdict(m) for m in land.minima],
                        "saddles": land.saddles,
                    }
                    for land in items
                ],
                indent=1,
            )
        )
        return 0
    for land in items:
        box = " x ".join(f"[{a:g}, {b:g}]" for a, b in land.bounds)
        print(f"{land.name} ({land.dim}-D, box {box})")
        print(f"  {land.doc}")
        shown = land.minima if len(land.minima) <= 4 else land.minima[:1]
        for m in shown:
            print(f"  {m.kind} minimum {m.value:.6g} at {_point(m.point)}")
        if len(land.minima) > len(shown):
            print(f"  ... and {len(land.minima) - len(shown)} local minima")
        if not land.minima:
            print("  no minimum (unbounded below)")
        for s in land.saddles:
            print(f"  saddle point at {_point(s)}")
    return 0


# --------------------------------------------------------------------------- figures


# The figures of the command itself that the docs show (the last word is the file).
DOCS_COMMANDS = (
    ("compare", "--out", "compare.png"),
    (
        "sweep",
        "--optimizer",
        "momentum",
        "--grid",
        "learning_rate=1e-3:1:log20",
        "--grid",
        "momentum=0,0.5,0.8,0.9,0.95",
        "--by",
        "steps",
        "--out",
        "sweep_momentum.png",
    ),
)


def _figures(args: argparse.Namespace) -> int:
    examples = Path(__file__).resolve().parents[1] / "examples"
    scripts = (
        sorted(p for p in examples.glob("*.py") if "--out" in p.read_text())
        if examples.is_dir()
        else []
    )
    if not scripts:
        raise UsageError(
            f"no example scripts found in {examples}: gdjax figures runs the examples of a "
            "source checkout (pip install -e .)"
        )
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {args.out!r}: cannot make the directory: {error}") from None
    for i, script in enumerate(scripts, 1):
        print(f"[{i}/{len(scripts)}] {script.name}", flush=True)
        command = [
            sys.executable,
            str(script),
            "--out",
            str(out),
            *(["--quick"] if args.quick else []),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            print(f"gdjax: error: {script.name} failed (exit {result.returncode})", file=sys.stderr)
            return 1
    # The command's own figures, as the docs show them.
    print("[+] gdjax compare and gdjax sweep", flush=True)
    for argv in DOCS_COMMANDS:
        with contextlib.redirect_stdout(io.StringIO()):
            main([*argv[:-1], str(out / argv[-1])])
    written = sorted(p.name for p in out.iterdir() if p.suffix in (".png", ".gif"))
    print(f"{len(written)} figures in {out}: {', '.join(written)}")
    return 0


# --------------------------------------------------------------------------- experiment

# Each experiment's options: the function argument each maps to. Options left
# out keep the function's defaults, so the defaults live in one place.
EXPERIMENT_ARGUMENTS = {
    "momentum": ("runs", "steps", "dataset", "data_dir", "batch_size"),
    "optimizers": ("runs", "epochs", "dataset", "data_dir", "batch_size", "names", "rates"),
    "sweep": ("steps", "dataset", "data_dir", "seed", "batch_size", "lrs", "momenta"),
    "noise": ("runs", "steps", "eta", "gamma", "learning_rate", "depth", "width", "batch_size"),
}
# Options whose name on the command line differs from the function's argument.
_EXPERIMENT_RENAMES = {"rates": "learning_rates", "lrs": "learning_rates"}


def _rates(texts: list[str]) -> dict[str, float]:
    """``--rate NAME=VALUE`` (repeatable) as ``{name: rate}``."""
    rates = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise UsageError(f"--rate {text!r}: write name=value, e.g. adam=0.001")
        rates[name.strip()] = _number(value, f"--rate {name}")
    return rates


def _experiment_arguments(args: argparse.Namespace) -> dict[str, Any]:
    kwargs = {}
    for name in EXPERIMENT_ARGUMENTS[args.experiment]:
        value = getattr(args, name)
        if value is None:
            continue
        if name == "names":
            value = tuple(n.strip() for n in value.split(",") if n.strip())
        elif name == "rates":
            value = _rates(value)
        elif name in ("lrs", "momenta"):
            flag = "--learning-rates" if name == "lrs" else "--momenta"
            try:
                value = _grid_values(value)
            except UsageError as error:
                raise UsageError(str(error).replace("--grid value", flag)) from None
        kwargs[_EXPERIMENT_RENAMES.get(name, name)] = value
    return kwargs


def _experiment(args: argparse.Namespace) -> int:
    from gdjax.training import experiments

    kwargs = _experiment_arguments(args)
    if kwargs.get("dataset") == "fashion-mnist" and "data_dir" not in kwargs:
        raise UsageError(
            "--dataset fashion-mnist needs --data-dir DIR, the directory of its four IDX files "
            "(see docs/experiments.md); gdjax never downloads"
        )
    default = f"experiment_{args.experiment}.png"
    out = None if args.no_plot else Path(default if args.out is None else args.out)
    run = getattr(experiments, args.experiment)
    try:
        result = run(**kwargs, out=out, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(" ".join(str(error).split())) from None
    except ImportError as error:
        raise UsageError(f"{' '.join(str(error).split())} (or pass --no-plot)") from None
    print(result.report())
    return 0


def _add_experiment(commands) -> None:
    experiment = commands.add_parser(
        "experiment",
        help="the texts' training experiments: momentum, optimizers, sweep, noise",
        description="Trains, scores and compares as the texts do; prints the report and "
        "writes the figure. See docs/experiments.md.",
    )
    kinds = experiment.add_subparsers(
        dest="experiment",
        required=True,
        parser_class=_Parser,
        metavar="{momentum,optimizers,sweep,noise}",
    )
    momentum = kinds.add_parser(
        "momentum",
        help="seed 001: the MLP with and without momentum, MCC statistics (Fig. 11-8)",
    )
    _experiment_runs(momentum, 22)
    momentum.add_argument(
        "--steps", type=int, help="mini-batches per run (default 10000 digits, 40000 fashion-mnist)"
    )
    _experiment_data(momentum, 64)
    optimizers = kinds.add_parser(
        "optimizers", help="seed 001 Fig. 11-11: a CNN with SGD, RMSprop, Adagrad, Adam"
    )
    _experiment_runs(optimizers, 5)
    optimizers.add_argument("--epochs", type=int, help="passes over the data (default 12)")
    _experiment_data(optimizers, 128)
    optimizers.add_argument(
        "--optimizers",
        dest="names",
        help="comma-separated, from: sgd, rmsprop, adagrad, adam (default all four)",
    )
    optimizers.add_argument(
        "--rate",
        dest="rates",
        action="append",
        metavar="NAME=LR",
        help="an optimizer's learning rate, e.g. adam=0.001 (repeatable)",
    )
    sweep = kinds.add_parser(
        "sweep", help="a learning-rate x momentum grid on the MLP as one program (heat-map)"
    )
    sweep.add_argument("--steps", type=int, help="mini-batches per run (default 10000)")
    _experiment_data(sweep, 64)
    sweep.add_argument("--seed", type=int, help="seed of the params and shuffling (default 0)")
    sweep.add_argument(
        "--learning-rates",
        dest="lrs",
        metavar="SPEC",
        help="start:stop:logN, start:stop:N or v1,v2,... (default 0.01:3:log8)",
    )
    sweep.add_argument(
        "--momenta", metavar="SPEC", help="as --learning-rates (default 0,0.5,0.9,0.95)"
    )
    noise = kinds.add_parser(
        "noise", help="seed 002 §6.4: plain SGD against annealed gradient noise, deep MLP"
    )
    _experiment_runs(noise, 10)
    noise.add_argument("--steps", type=int, help="mini-batches per run (default 2000)")
    noise.add_argument("--eta", type=float, help="initial noise variance (default 0.3)")
    noise.add_argument("--gamma", type=float, help="annealing exponent (default 0.55)")
    noise.add_argument("--learning-rate", type=float, help="SGD's rate (default 0.005)")
    noise.add_argument("--depth", type=int, help="hidden layers (default 30)")
    noise.add_argument("--width", type=int, help="units per hidden layer (default 50)")
    noise.add_argument("--batch-size", type=int, help="examples per mini-batch (default 64)")
    for name, parser in kinds.choices.items():
        parser.add_argument("--out", help=f"figure path, .png (default experiment_{name}.png)")
        parser.add_argument("--no-plot", action="store_true", help="write no figure")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    experiment.set_defaults(run=_experiment)


def _experiment_runs(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument(
        "--runs", type=int, help=f"runs (seeds) per setting, >= 2 (default {default})"
    )


def _experiment_data(parser: argparse.ArgumentParser, batch_size: int) -> None:
    parser.add_argument(
        "--dataset", choices=("digits", "fashion-mnist"), help="the data (default digits)"
    )
    parser.add_argument(
        "--data-dir", help="directory of Fashion-MNIST's four IDX files (gdjax never downloads)"
    )
    parser.add_argument(
        "--batch-size", type=int, help=f"examples per mini-batch (default {batch_size})"
    )


# --------------------------------------------------------------------------- the parser


def _common(parser: argparse.ArgumentParser, landscape: str) -> None:
    parser.add_argument(
        "--landscape",
        default=landscape,
        help=f"one of: {_choices(landscapes.names())} (default {landscape})",
    )
    parser.add_argument(
        "--start",
        action="append",
        metavar="X,Y",
        help="a start point; repeat for several (default: the texts' starts)",
    )
    parser.add_argument("--steps", type=int, default=100, help="steps per run (default 100)")
    parser.add_argument(
        "--tol",
        type=float,
        default=1e-3,
        help="distance to a minimum that counts as arrived (default 1e-3)",
    )
    parser.add_argument(
        "--bound",
        type=float,
        default=None,
        help="flag a run as diverged beyond this |coordinate| (default: non-finite only)",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="NAME.PARAM=VALUE",
        help="override a hyperparameter, e.g. adam.learning_rate=0.05 (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--no-plot", action="store_true", help="write no figure")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gdjax", description="Gradient-descent optimizers for JAX.")
    parser.add_argument("--version", action="version", version=f"gdjax {gdjax.__version__}")
    commands = parser.add_subparsers(
        dest="command",
        required=True,
        parser_class=_Parser,
        metavar="{compare,sweep,landscapes,figures,experiment}",
    )

    compare = commands.add_parser(
        "compare",
        help="run several optimizers on a landscape and tabulate where they end",
        description="Runs each optimizer from each start, prints where it ends, writes a figure.",
    )
    _common(compare, "two_gaussians")
    compare.add_argument(
        "--optimizers",
        default=",".join(COMPARED),
        help=f"comma-separated, from: {_choices(OPTIMIZERS)} (default {','.join(COMPARED)})",
    )
    compare.add_argument("--out", default="compare.png", help="figure path (default compare.png)")
    compare.set_defaults(run=_compare)

    sweep = commands.add_parser(
        "sweep",
        help="a grid of hyperparameters of one optimizer, as one compiled program",
        description="Runs every setting of the grid and prints the best; writes a heat-map.",
    )
    _common(sweep, "two_gaussians")
    sweep.add_argument(
        "--optimizer", default="sgd", help=f"one of: {_choices(OPTIMIZERS)} (default sgd)"
    )
    sweep.add_argument(
        "--grid",
        action="append",
        metavar="PARAM=SPEC",
        help="start:stop:N, start:stop:logN or v1,v2,...; repeat for each axis",
    )
    sweep.add_argument(
        "--by",
        choices=("value", "steps"),
        default="value",
        help="rank by mean final value or by steps to --tol (default value)",
    )
    sweep.add_argument("--top", type=int, default=5, help="settings to print (default 5)")
    sweep.add_argument("--out", default="sweep.png", help="figure path (default sweep.png)")
    sweep.set_defaults(run=_sweep)

    listing = commands.add_parser("landscapes", help="list the landscapes and their minima")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=_landscapes)

    figures = commands.add_parser("figures", help="regenerate every trajectory figure the docs use")
    figures.add_argument("--out", default="docs/figures", help="directory (default docs/figures)")
    figures.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    figures.set_defaults(run=_figures)

    _add_experiment(commands)
    return parser


_COORDINATES = re.compile(r"^-?[\d.]+(e[-+]?\d+)?(,-?[\d.]+(e[-+]?\d+)?)*$", re.IGNORECASE)


def _join_negative_starts(argv: list[str]) -> list[str]:
    """``--start -5,-2`` as ``--start=-5,-2``: argparse would read -5,-2 as an option."""
    joined, i = [], 0
    while i < len(argv):
        if argv[i] == "--start" and i + 1 < len(argv) and _COORDINATES.match(argv[i + 1]):
            joined.append(f"--start={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    return joined


def main(argv: list[str] | None = None) -> int:
    argv = _join_negative_starts(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UsageError as error:
        # One line, whatever the message quotes (argparse echoes raw arguments).
        print(f"{error.prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
