"""``gdjax benchmark``: which optimizer should I use? The DeepOBS protocol, as one program each.

For every optimizer and problem it tunes the budget's settings from one seed as
one program, reruns the best with ``--seeds`` seeds, and prints the Markdown
report of `gdjax.benchmark.report` (performance, speed, tunability, pairwise
tests). ``--out DIR`` also writes report.md, results.json and the figures;
``--quick`` is a small run of the small problems (under a minute on 2 cores).
Bad input (an unknown optimizer or problem, an empty budget, a range with
low ≥ high) ends in one line with exit status 2, before any work.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, NamedTuple

from gdjax.cli import outputs
from gdjax.cli.values import MAX_SETTINGS, UsageError, listed

QUICK_POINTS = 8
QUICK_SEEDS = 3
DEFAULT_POINTS = 36
DEFAULT_SEEDS = 10


def add_parser(commands: Any) -> None:
    """Registers ``benchmark`` on the subparsers ``commands`` (``add_subparsers``' result)."""
    parser = commands.add_parser(
        "benchmark",
        help="which optimizer should I use? tune, rerun and compare them on the problems",
        description="The DeepOBS protocol: tune each optimizer's settings on each problem "
        "(one program), rerun the best with several seeds, report performance, speed, "
        "tunability and pairwise tests (Mann-Whitney U with Holm's correction, Cohen's d).",
    )
    parser.add_argument(
        "--optimizers",
        help="comma-separated optimizers, or all (default: the seed optimizers, adamw, lion, "
        "sf_adamw)",
    )
    parser.add_argument("--problems", help="comma-separated problems, or all (default the set)")
    parser.add_argument(
        "--budget", type=int, help=f"settings per optimizer and problem (default {DEFAULT_POINTS})"
    )
    parser.add_argument(
        "--search", choices=("grid", "sobol"), default="grid", help="log grid or Sobol points"
    )
    parser.add_argument(
        "--range",
        dest="ranges",
        action="append",
        metavar="PARAM=LOW:HIGH",
        help="the range to tune, for every optimizer (default learning_rate=1e-5:100); repeat",
    )
    parser.add_argument("--seeds", type=int, help=f"reruns of the best (default {DEFAULT_SEEDS})")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: sgd, momentum, adam on the small problems, {QUICK_POINTS} settings, "
        f"{QUICK_SEEDS} seeds (under a minute)",
    )
    parser.add_argument("--out", metavar="DIR", help="write report.md, results.json, figures")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    parser.add_argument("--data-dir", help="directory of Fashion-MNIST's four IDX files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


class Request(NamedTuple):
    """What the command line asks for, checked."""

    optimizers: list[Any]
    problems: list[Any]
    points: int
    search: str
    seeds: int
    out: Path | None
    json: Path | None


def run(args: argparse.Namespace) -> int:
    """Runs the benchmark that ``args`` ask for; prints the report. Exit status 0."""
    from gdjax.benchmark import protocol

    request = parse(args)
    try:
        results = protocol.benchmark(
            request.optimizers,
            request.problems,
            protocol.Budget(request.points, request.search),
            request.seeds,
            progress=not args.no_progress,
        )
    except ValueError as error:
        raise UsageError(" ".join(str(error).split())) from None
    print(results.report(), end="")
    write(results, request)
    return 0


def parse(args: argparse.Namespace) -> Request:
    """The checked request, or a `UsageError` naming the bad option."""
    catalogue = problems_module()
    points = _count("--budget", args.budget, QUICK_POINTS if args.quick else DEFAULT_POINTS, 1)
    seeds = _count("--seeds", args.seeds, QUICK_SEEDS if args.quick else DEFAULT_SEEDS, 2)
    space = ranges(args.ranges)
    optimizers = optimizer_specs(args.optimizers, space, args.quick)
    # With --data-dir, the default set has Fashion-MNIST too.
    default = catalogue.QUICK if args.quick else catalogue.defaults(args.data_dir)
    names = _names(args.problems, default, tuple(catalogue.names()))
    problems = [_problem(catalogue, n, args.data_dir) for n in names]
    out = None if args.out is None else outputs.directory(args.out, what="the results")
    if out is not None:
        outputs.require_matplotlib()
    target = None if args.json is None else _json_path(args.json)
    return Request(optimizers, problems, points, args.search, seeds, out, target)


def problems_module() -> Any:
    """`gdjax.benchmark.problems`, or a `UsageError` naming the extra its datasets need."""
    try:
        from gdjax.benchmark import problems
    except ModuleNotFoundError as error:
        raise UsageError(
            f"gdjax benchmark needs {error.name}: pip install 'gdjax[train]'"
        ) from None
    return problems


def _count(flag: str, value: int | None, default: int, least: int) -> int:
    """A count from ``least`` to `values.MAX_SETTINGS` (every run is held in memory at once)."""
    if value is None:
        return default
    if not least <= value <= MAX_SETTINGS:
        raise UsageError(f"{flag} {value}: give at least {least} and at most {MAX_SETTINGS}")
    return value


def ranges(texts: list[str] | None) -> dict[str, tuple[float, float]] | None:
    """``--range PARAM=LOW:HIGH`` (repeatable) as ``{param: (low, high)}``; None if none given."""
    if not texts:
        return None
    from gdjax.cli.values import number

    space = {}
    for text in texts:
        name, sep, bounds = text.partition("=")
        low, colon, high = bounds.partition(":")
        if not sep or not colon or not name.strip():
            raise UsageError(f"--range {text!r}: write PARAM=LOW:HIGH, e.g. learning_rate=1e-4:1")
        low, high = number(low, f"--range {name}"), number(high, f"--range {name}")
        if not 0 < low < high:
            raise UsageError(
                f"--range {text!r}: the range is searched in log space, so it needs "
                f"0 < LOW < HIGH; got LOW {low:g}, HIGH {high:g}"
            )
        space[name.strip()] = (low, high)
    return space


def optimizer_specs(text: str | None, space: dict | None, quick: bool = False) -> list[Any]:
    """The `Tuned` specs of ``--optimizers`` (names of `protocol.KNOWN`), with ``space``;
    by default `protocol.DEFAULT_OPTIMIZERS` (``quick``: `protocol.QUICK_OPTIMIZERS`)."""
    from gdjax.benchmark import protocol

    if text is None and quick:
        specs = [protocol.KNOWN[n] for n in protocol.QUICK_OPTIMIZERS]
    elif text is None:
        specs = list(protocol.DEFAULT_OPTIMIZERS)
    else:
        names = _names(text, (), tuple(protocol.KNOWN), what="optimizer")
        specs = [protocol.KNOWN[n] for n in names]
    if space is not None:
        specs = [s._replace(space=space) for s in specs]
    try:
        return [protocol.tuned(s) for s in specs]
    except ValueError as error:
        raise UsageError(" ".join(str(error).split())) from None


def _names(
    text: str | None, default: tuple[str, ...], known: tuple[str, ...], what: str = "problem"
) -> list[str]:
    """The names of ``text`` (`values.listed`), or ``default`` when it is not given."""
    return list(default) if text is None else listed(text, known, what, f"--{what}s")


def _problem(catalogue: Any, name: str, data_dir: str | None) -> Any:
    try:
        return catalogue.get(name, data_dir=data_dir)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(f"problem {name}: {' '.join(str(error).split())}") from None


def _json_path(text: str) -> Path:
    path = Path(text)
    if path.is_dir() or not path.parent.resolve().is_dir():
        raise UsageError(f"--json {text!r}: give a file in an existing directory")
    return path


def write(results: Any, request: Request) -> None:
    """Writes ``--json`` and, with ``--out``, report.md, results.json and the figures."""
    data = results.to_json()
    if request.json is not None:
        request.json.write_text(json.dumps(data, indent=1))
        print(f"wrote {request.json}")
    if request.out is None:
        return
    (request.out / "report.md").write_text(results.report())
    (request.out / "results.json").write_text(json.dumps(data, indent=1))
    print(f"wrote {request.out / 'report.md'} and results.json")
    from gdjax.plot import benchmark as figures

    outputs.draw(lambda: figures.sensitivity_figure(results), request.out / "sensitivity.png")
    outputs.draw(lambda: figures.curves_figure(results), request.out / "curves.png")
    for problem in request.problems:
        if problem.box is not None and problem.data is None:
            outputs.draw(
                lambda p=problem: figures.trajectories_figure(
                    results,
                    p.name,
                    p.loss,
                    p.box,
                    minimum=None if p.minimum is None else p.minimum[0],
                ),
                request.out / f"trajectories_{problem.name}.png",
            )
