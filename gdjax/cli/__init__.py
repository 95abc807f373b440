"""The ``gdjax`` command: compare optimizers on a landscape, sweep hyperparameters,
list the landscapes, regenerate the docs' figures, rerun the texts' experiments.

Modules: `parsing` (every option and the help), one per subcommand (`compare`,
`sweep`, `landscapes`, `figures`, `experiment`), `values` (reading option
values), `registry` (the optimizers and their settings), `outputs` (output
paths checked before any work; drawing last), `render` (tables and JSON),
`drawing` (the command's figures), `cache` (``--compilation-cache``: JAX's
persistent compilation cache) and `entry` (`main`).

Bad input (an unknown optimizer, landscape or option, a malformed number or
grid, an output path that cannot be written) exits with status 2 and one line
that names what was wrong and the valid choices; Ctrl-C exits with status 130
and one line.
"""

from gdjax.cli.entry import main
from gdjax.cli.parsing import build_parser
from gdjax.cli.registry import COMPARED, OPTIMIZERS
from gdjax.cli.values import UsageError

__all__ = ["COMPARED", "OPTIMIZERS", "UsageError", "build_parser", "main"]
