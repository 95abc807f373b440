"""The command line every figure example shares: ``--out DIR`` and ``--quick``.

``gdjax figures --out DIR`` runs each example with these; ``--quick`` asks for
a smoke run (most of the texts' runs are already short and ignore it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def parser(doc: str) -> argparse.ArgumentParser:
    """A parser with the shared flags; an example adds its own before parsing."""
    parsed = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parsed.add_argument("--out", type=Path, default=Path("docs/figures"), help="figure directory")
    parsed.add_argument("--quick", action="store_true", help="a smoke run (gdjax figures --quick)")
    return parsed


def arguments(doc: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The shared flags, parsed."""
    return parser(doc).parse_args(argv)
