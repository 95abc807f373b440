"""``gdjax landscapes``: the test functions, their boxes, minima and saddle points."""

from __future__ import annotations

import argparse

from gdjax import landscapes
from gdjax.cli import render


def run(args: argparse.Namespace) -> int:
    items = [landscapes.get(name) for name in landscapes.names()]
    print(render.landscapes_json(items) if args.json else render.landscapes_text(items))
    return 0
