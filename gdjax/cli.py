"""The ``gdjax`` command."""

from __future__ import annotations

import argparse
import sys

import gdjax

OPTIMIZERS = (
    "sgd",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "amsgrad",
    "noisy_sgd",
)


class UsageError(Exception):
    """Bad input on the command line: reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(message)


def _compare(args: argparse.Namespace) -> int:
    print("gdjax optimizers:")
    for name in OPTIMIZERS:
        doc = (getattr(gdjax, name).__doc__ or "").strip().splitlines()[0]
        print(f"  {name:<10} {doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gdjax", description="Gradient-descent optimizers for JAX.")
    parser.add_argument("--version", action="version", version=f"gdjax {gdjax.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    compare = commands.add_parser("compare", help="compare the optimizers")
    compare.set_defaults(run=_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UsageError as error:
        print(f"gdjax: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
