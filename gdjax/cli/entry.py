"""``gdjax ...``: parse, run the subcommand, and end every failure in one line.

Exit status: 0 done; 2 bad input (one line naming what was wrong and the valid
choices); 1 an example script of ``gdjax figures`` failed; 130 interrupted
(Ctrl-C); 141 the reader of the output went away (``gdjax compare | head``).
"""

from __future__ import annotations

import contextlib
import os
import sys

from gdjax.cli.cache import compilation_cache
from gdjax.cli.parsing import build_parser, join_negative_starts
from gdjax.cli.values import UsageError


def main(argv: list[str] | None = None) -> int:
    """Runs ``gdjax`` with ``argv`` (default: the process's arguments); the exit status."""
    argv = join_negative_starts(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(argv)
        with compilation_cache(args.compilation_cache) as directory:
            args.compilation_cache = directory  # checked and made absolute (figures passes it on)
            return args.run(args)
    except UsageError as error:
        # One line, whatever the message quotes (argparse echoes raw arguments).
        print(f"{error.prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gdjax: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so that the interpreter's last
    flush at exit does not fail again (the recipe of Python's signal docs)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
