"""A second call with new hyperparameter values: compiled again, or not (issue 17).

Each measurement runs in a fresh process, for the code of this checkout
("after") and, with ``--before DIR``, for another checkout of gdjax ("before",
e.g. ``git worktree add /tmp/before HEAD`` made before a change), run from DIR
with ``PYTHONPATH=DIR``.

(1) `gdjax.trajectories.run(gdjax.sgd(lr), landscapes.two_gaussians, 10,000
    starts, 1000 steps, record_every=0)`: the first call (it compiles), then a
    second call with a NEW optimizer, ``gdjax.sgd`` of another rate, then that
    same object once more. Wall time of each call, blocked on the result.
(2) The command line, two processes in a row sharing a fresh persistent
    compilation cache (``JAX_COMPILATION_CACHE_DIR``, with JAX's thresholds at
    0 so that every program is cached, the way ``gdjax --compilation-cache``
    sets them): the second process gives other learning rates. Wall time of
    each whole process (interpreter start and imports included), and the
    entries the second process added to the cache (0: it compiled nothing that
    was not there).

Medians of ``--repeats`` fresh processes (a fresh cache for each pair), the
before and after processes taking turns.

    python benchmarks/recompile.py --before /tmp/before   # updates RESULTS.md
    python benchmarks/recompile.py --quick                 # a smoke run, prints only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, write_section

ROOT = Path(__file__).resolve().parents[1]

RUN = """
import json, sys, time
import jax, numpy as np
import gdjax
from gdjax import landscapes, trajectories as T

n, steps = int(sys.argv[1]), int(sys.argv[2])
starts = np.random.default_rng(0).uniform(-2, 2, (n, 2)).astype(np.float32)

def call(optimizer):
    began = time.perf_counter()
    result = T.run(optimizer, landscapes.two_gaussians, starts, steps, record_every=0)
    jax.block_until_ready(result.final)
    return time.perf_counter() - began

first = call(gdjax.sgd(0.05))
new = gdjax.sgd(0.06)
second = call(new)
again = call(new)
print(json.dumps({"first": first, "second": second, "again": again}))
"""

# The command's compared optimizers at their own rates, then every rate halved.
RATES = {
    "sgd": 0.4,
    "momentum": 0.1,
    "nesterov": 0.1,
    "adagrad": 0.4,
    "rmsprop": 0.04,
    "adadelta": 1.0,
    "adam": 0.1,
}


def _compare(scale: float, quick: bool) -> list[str]:
    names = ["sgd", "nesterov", "adam"] if quick else list(RATES)
    argv = ["compare", "--no-plot", "--optimizers", ",".join(names)]
    argv += ["--steps", "5"] if quick else []
    return argv + [f"--set={n}.learning_rate={RATES[n] * scale:g}" for n in names]


def _sweep(grid: str, momentum: float | None, quick: bool) -> list[str]:
    argv = ["sweep", "--no-plot", "--optimizer", "momentum", "--grid", f"learning_rate={grid}"]
    argv += ["--steps", "5"] if quick else []
    return argv + ([] if momentum is None else ["--set", f"momentum={momentum}"])


def commands(quick: bool) -> dict[str, tuple[list[str], list[str]]]:
    """Each row's (first, second) command line."""
    count = 3 if quick else 20
    return {
        "`gdjax compare`, every rate halved": (_compare(1.0, quick), _compare(0.5, quick)),
        f"`gdjax sweep`, {count} other rates": (
            _sweep(f"1e-3:1:log{count}", None, quick),
            _sweep(f"2e-3:0.5:log{count}", None, quick),
        ),
        f"`gdjax sweep`, {count} other rates and `--set momentum` 0.9 then 0.8": (
            _sweep(f"1e-3:1:log{count}", 0.9, quick),
            _sweep(f"2e-3:0.5:log{count}", 0.8, quick),
        ),
    }


# --------------------------------------------------------------------------- processes


def _environment(code: Path, cache: str | None, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_PERSISTENT_CACHE")}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["PYTHONPATH"] = str(code)
    # The CLI's default cache (in the user's cache directory) must not serve a process
    # meant to start cold: each gets an empty one of its own, ``home``.
    env["XDG_CACHE_HOME"] = home
    if cache is not None:
        env.update(
            JAX_COMPILATION_CACHE_DIR=cache,
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1",
        )
    return env


def _python(code: Path, args: list[str], cache: str | None = None) -> tuple[float, str]:
    """(wall seconds, stdout) of ``python *args`` run from ``code`` on its own gdjax."""
    with tempfile.TemporaryDirectory(prefix="gdjax-recompile-") as home:
        began = time.perf_counter()
        result = subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            cwd=code,
            env=_environment(code, cache, home),
        )
        seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(f"{args} failed in {code}:\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def _entries(directory: str) -> int:
    return sum(1 for path in Path(directory).rglob("*") if path.is_file())


def interleaved(codes: dict[str, Path], repeats: int, measure, *args) -> dict[str, list]:
    """``measure(code, *args)`` ``repeats`` times for each code, round-robin (before,
    after, before, ...), so that drift in the machine's load hits both alike."""
    samples = {name: [] for name in codes}
    for _ in range(repeats):
        for name, code in codes.items():
            samples[name].append(measure(code, *args))
    return samples


def run_calls(code: Path, n: int, steps: int) -> dict[str, float]:
    """Seconds of the three calls of (1), in a fresh process."""
    return json.loads(_python(code, ["-c", RUN, str(n), str(steps)])[1])


def command_pair(code: Path, first: list[str], second: list[str]) -> dict:
    """Wall seconds of the two processes of (2), the cache's entries after the first,
    and the entries the second added."""
    with tempfile.TemporaryDirectory(prefix="gdjax-recompile-") as cache:
        one, _ = _python(code, ["-m", "gdjax", *first], cache)
        entries = _entries(cache)
        two, _ = _python(code, ["-m", "gdjax", *second], cache)
        return {"first": one, "second": two, "entries": entries, "new": _entries(cache) - entries}


def medians(samples: list[dict]) -> dict:
    """Each key's median; for counts of new entries, the largest (any recompile shows)."""
    return {
        key: max(s[key] for s in samples)
        if key == "new"
        else statistics.median(s[key] for s in samples)
        for key in samples[0]
    }


def import_seconds(code: Path) -> float:
    """The floor of a command's process: the interpreter and ``import gdjax.cli``."""
    return _python(code, ["-c", "import gdjax.cli"])[0]


# --------------------------------------------------------------------------- report


def run_table(title: str, results: dict[str, dict]) -> str:
    labels = {
        "first": "first call, `sgd(0.05)` (compiles)",
        "second": "second call, a new `sgd(0.06)`",
        "again": "third call, that `sgd(0.06)` again",
    }
    codes = list(results)
    head = "| call | " + " | ".join(f"{c} (s)" for c in codes) + " |"
    if len(codes) == 2:
        head += " after / before |"
    lines = [f"**{title}**", "", head, "|---|" + "---:|" * (len(codes) + (len(codes) == 2))]
    for key, label in labels.items():
        cells = [f"{results[c][key]:.4g}" for c in codes]
        if len(codes) == 2:
            cells.append(f"{results['after'][key] / results['before'][key]:.3g}x")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = [f"{results[c]['second'] / results[c]['first']:.3g}x" for c in codes]
    lines.append("| second / first | " + " | ".join(cells) + (" |" if len(codes) == 1 else " | |"))
    return "\n".join(lines)


def command_table(title: str, results: dict[str, dict], floor: dict[str, float]) -> str:
    lines = [
        f"**{title}**",
        "",
        "| command | code | first process (s) | second process, new rates (s) | second / first "
        "| entries after the first | new entries from the second |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for command, by_code in results.items():
        for code, r in by_code.items():
            lines.append(
                f"| {command} | {code} | {r['first']:.3g} | {r['second']:.3g} | "
                f"{r['second'] / r['first']:.2f}x | {r['entries']:g} | {r['new']} |"
            )
    for code, seconds in floor.items():
        lines.append(f"| `python -c 'import gdjax.cli'` alone | {code} | {seconds:.3g} | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no RESULTS.md")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--before", type=Path, help="a checkout of the earlier code, e.g. a git worktree"
    )
    args = parser.parse_args(argv)
    n, steps = (256, 20) if args.quick else (10_000, 1000)
    if args.quick:
        args.repeats = 1
    codes = {"after": ROOT} if args.before is None else {"before": args.before, "after": ROOT}

    samples = interleaved(codes, args.repeats, run_calls, n, steps)
    runs = {name: medians(runs) for name, runs in samples.items()}
    first = run_table(
        f"(1) `trajectories.run(gdjax.sgd(lr), two_gaussians, ...)`, {n:,} starts x {steps} "
        f"steps, `record_every=0`: seconds per call in a fresh process, median of "
        f"{args.repeats}",
        runs,
    )
    print(first + "\n", flush=True)
    results = {}
    for command, (one, two) in commands(args.quick).items():
        samples = interleaved(codes, args.repeats, command_pair, one, two)
        results[command] = {name: medians(pairs) for name, pairs in samples.items()}
    samples = interleaved(codes, args.repeats, import_seconds)
    floor = {name: statistics.median(seconds) for name, seconds in samples.items()}
    second = command_table(
        "(2) the command, two processes sharing a fresh persistent compilation cache: wall "
        f"seconds per process, median of {args.repeats}",
        results,
        floor,
    )
    print(second + "\n", flush=True)
    if not args.quick:
        body = (
            "## A second call with new values (`benchmarks/recompile.py`)\n\n"
            f"Machine: {machine()}.\n\n"
            "Issue 17: an optimizer is a pytree of its hyperparameters, and the library's "
            "programs take them as arguments. *before*: the code before the change (its "
            "`run` cached the program on the optimizer object, which closed over its "
            "values); *after*: this checkout. Each measurement is a fresh process; in (2) "
            "the second process gives other learning rates and shares the first's "
            "persistent compilation cache (`JAX_COMPILATION_CACHE_DIR`, thresholds 0, as "
            "`gdjax --compilation-cache DIR` sets them); `new entries` counts the "
            "programs the second compiled that the first had not."
            "\n\n" + first + "\n\n" + second + "\n\n" + readout(runs, results, floor)
        )
        write_section("recompile", body)


def readout(runs: dict, results: dict, floor: dict) -> str:
    """What the tables say, from their numbers."""
    after = runs["after"]
    compare = next(iter(results.values()))
    fixed = list(results.values())[-1]
    text = (
        f"Read: after, the second call of (1), a new optimizer with another rate, takes "
        f"{after['second']:.3g} s (the same object run again: {after['again']:.3g} s): it "
        "compiles nothing. The second `gdjax compare` adds "
        f"{compare['after']['new']} programs to the cache and takes "
        f"{compare['after']['second']:.3g} s, of which {floor['after']:.3g} s are the "
        "interpreter and the imports; the rest is tracing the programs (their cache key is "
        "the traced program), loading them and running."
    )
    if "before" not in runs:
        return text
    before = runs["before"]
    slower = before["second"] / after["second"]
    command = compare["before"]["second"] / compare["after"]["second"]
    first_process = compare["after"]["first"] / compare["before"]["first"]
    return text + (
        f" Before, that second call took {before['second']:.3g} s "
        f"({before['second'] / before['first']:.2f} of the first): the new optimizer object "
        f"was a new program, {slower:.3g}x the time after; the second `gdjax compare` "
        f"compiled {compare['before']['new']} programs again (each optimizer's rate was a "
        f"constant in its program) and took {compare['before']['second']:.3g} s, "
        f"{command:.3g}x the time after. `gdjax sweep` already passed the grid's values to "
        "its program, so a new grid of rates compiled nothing before either; a value fixed "
        f"by `--set` was a constant before ({fixed['before']['new']} new program for `--set "
        f"momentum`) and is an argument after ({fixed['after']['new']}). The first call, "
        f"compile included, costs {after['first'] / before['first']:.2f}x before's, the "
        f"first `gdjax compare` process {first_process:.2f}x."
    )


if __name__ == "__main__":
    main()
