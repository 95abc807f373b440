"""``gdjax figures --out DIR``: regenerate every figure of the docs into DIR.

Runs each figure script of ``examples/`` (those taking the shared ``--out``
and ``--quick`` of ``examples/_figures.py``: the trajectory figures and the
experiments) and the two commands whose figures the docs show, each in a
process of its own. Needs a source checkout. DIR is made if it does not
exist (its parent must); the closing line counts the files this run wrote.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from gdjax.cli import cache, outputs
from gdjax.cli.values import UsageError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

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


def run(args: argparse.Namespace) -> int:
    scripts = figure_scripts()
    out = outputs.directory(args.out)
    quick = ["--quick"] if args.quick else []
    jobs = [(s.name, [sys.executable, str(s), "--out", str(out), *quick]) for s in scripts]
    jobs += [
        (f"gdjax {argv[0]}", [sys.executable, "-m", "gdjax", *argv[:-1], str(out / argv[-1])])
        for argv in DOCS_COMMANDS
    ]
    before = _files(out)
    environment = cache.environment(args.compilation_cache)  # the jobs share the cache
    for i, (label, command) in enumerate(jobs, 1):
        print(f"[{i}/{len(jobs)}] {label}", flush=True)
        result = subprocess.run(command, capture_output=True, text=True, env=environment)
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            print(f"gdjax: error: {label} failed (exit {result.returncode})", file=sys.stderr)
            return 1
    written = sorted(name for name, stat in _files(out).items() if before.get(name) != stat)
    print(f"wrote {len(written)} figures in {out}: {', '.join(written) or '-'}")
    return 0


def figure_scripts() -> list[Path]:
    """The examples that take ``--out DIR`` (and ``--quick``), in name order."""
    scripts = []
    if EXAMPLES.is_dir():
        for path in sorted(EXAMPLES.glob("*.py")):
            text = path.read_text(encoding="utf-8")
            if not path.name.startswith("_") and ("import _figures" in text or "--out" in text):
                scripts.append(path)
    if not scripts:
        raise UsageError(
            f"no example scripts found in {EXAMPLES}: gdjax figures runs the examples of a "
            "source checkout (pip install -e .)"
        )
    return scripts


def _files(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Each figure in ``directory`` with what tells a rewrite: (mtime, size, inode)."""
    files = {}
    for path in directory.iterdir():
        if path.suffix in (".png", ".gif"):
            stat = path.stat()
            files[path.name] = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    return files
