"""The command line: every subcommand's options, and the top-level help.

Each subcommand's parser sets ``run``, the function of its module that runs
it. argparse's own complaints (an unknown option, an invalid choice) become
`UsageError`, so they too end in one line and exit status 2.
"""

from __future__ import annotations

import argparse
import re
import textwrap

import gdjax
from gdjax import landscapes
from gdjax.cli import benchmark, cache, compare, experiment, figures, registry, sweep
from gdjax.cli import landscapes as listing
from gdjax.cli.values import UsageError, choices

# Wrapped by hand (argparse would run the paragraphs together), never inside "seed 001".
DESCRIPTION = "\n\n".join(
    textwrap.fill(paragraph.replace("seed ", "seed\0"), 79).replace("\0", " ")
    for paragraph in (
        "Gradient-descent optimizers for JAX: run them on test landscapes, sweep their "
        "hyperparameters, rerun the training experiments of the texts.",
        "The texts are the five sources (in Chinese) that gdjax reproduces, cited by number: "
        '"seed 000", a '
        'textbook chapter on optimization for deep learning; "seed 001", a book chapter on '
        'gradient descent ("Fig. 11-8", "Table 11-2" are its figures and tables); '
        '"seed 002", a translation of Sebastian Ruder\'s survey "An overview of gradient '
        'descent optimization algorithms"; "seed 003", Dive into Deep Learning §7.4 (momentum); '
        '"seed 004", a blog post on AdaGrad, RMSProp and Adam. The docs and README.md say '
        "more.",
    )
)
EPILOG = "Run gdjax COMMAND --help for a command's options."


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(message, self.prog)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gdjax",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gdjax {gdjax.__version__}")
    parser.add_argument(
        "--compilation-cache",
        metavar="DIR",
        default=cache.default(),
        help="keep the compiled programs in DIR (made if missing, not its parents) and load "
        "them in later runs: another learning rate or grid of the same size compiles nothing "
        f"(default: ${cache.ENVIRONMENT} if set, else {cache.user_directory()}); give it "
        "before the command",
    )
    parser.add_argument(
        "--no-compilation-cache",
        dest="compilation_cache",
        action="store_const",
        const=cache.OFF,
        help="compile every program afresh and keep none",
    )
    commands = parser.add_subparsers(
        dest="command",
        required=True,
        parser_class=_Parser,
        metavar="{compare,sweep,landscapes,figures,experiment,benchmark}",
    )
    _add_compare(commands)
    _add_sweep(commands)
    listed = commands.add_parser("landscapes", help="list the landscapes and their minima")
    listed.add_argument("--json", action="store_true", help="print JSON")
    listed.set_defaults(run=listing.run)
    _add_figures(commands)
    _add_experiment(commands)
    benchmark.add_parser(commands)
    return parser


def _add_compare(commands) -> None:
    parser = commands.add_parser(
        "compare",
        help="run several optimizers on a landscape and tabulate where they end",
        description="Runs each optimizer from each start, prints where it ends, writes a figure.",
    )
    _common(parser, "two_gaussians")
    default = ",".join(registry.COMPARED)
    parser.add_argument(
        "--optimizers",
        default=default,
        help=f"comma-separated, from: {choices(registry.OPTIMIZERS)}; or all (default {default})",
    )
    parser.add_argument("--out", default="compare.png", help="figure path (default compare.png)")
    parser.set_defaults(run=compare.run)


def _add_sweep(commands) -> None:
    parser = commands.add_parser(
        "sweep",
        help="a grid of hyperparameters of one optimizer, as one compiled program",
        description="Runs every setting of the grid and prints the best; writes a heat-map.",
    )
    _common(parser, "two_gaussians")
    parser.add_argument(
        "--optimizer", default="sgd", help=f"one of: {choices(registry.OPTIMIZERS)} (default sgd)"
    )
    parser.add_argument(
        "--grid",
        action="append",
        metavar="PARAM=SPEC",
        help="start:stop:N, start:stop:logN or v1,v2,...; repeat for each axis",
    )
    parser.add_argument(
        "--by",
        choices=("value", "steps"),
        default="value",
        help="rank by mean final value or by steps to --tol (default value)",
    )
    parser.add_argument("--top", type=int, default=5, help="settings to print (default 5)")
    parser.add_argument("--out", default="sweep.png", help="figure path (default sweep.png)")
    parser.set_defaults(run=sweep.run)


def _common(parser: argparse.ArgumentParser, land: str) -> None:
    parser.add_argument(
        "--landscape", default=land, help=f"one of: {choices(landscapes.names())} (default {land})"
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


def _add_figures(commands) -> None:
    parser = commands.add_parser(
        "figures",
        help="regenerate every figure of the docs (from a source checkout)",
        description="Runs the figure scripts of examples/ (trajectories and experiments) and "
        "the commands whose figures the docs show, writing every figure into --out.",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="directory to write into, made if missing (its parent must exist); "
        "--out docs/figures rewrites the docs' own",
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.set_defaults(run=figures.run)


def _add_experiment(commands) -> None:
    parser = commands.add_parser(
        "experiment",
        help="the texts' training experiments: momentum, optimizers, grid, noise, order, "
        "early_stopping, batchnorm",
        description="Trains, scores and compares as the texts do; prints the report, then "
        "writes the figure. See docs/experiments.md.",
    )
    kinds = parser.add_subparsers(
        dest="experiment",
        required=True,
        parser_class=_Parser,
        metavar="{momentum,optimizers,grid,noise,order,early_stopping,batchnorm}",
    )
    _add_momentum(kinds)
    _add_optimizers(kinds)
    _add_grid(kinds)
    _add_noise(kinds)
    _add_order(kinds)
    _add_early_stopping(kinds)
    _add_batchnorm(kinds)
    for name, sub in kinds.choices.items():
        sub.add_argument("--out", help=f"figure path, .png (default experiment_{name}.png)")
        sub.add_argument("--no-plot", action="store_true", help="write no figure")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=experiment.run)


def _add_momentum(kinds) -> None:
    parser = kinds.add_parser(
        "momentum",
        help="seed 001: the MLP with and without momentum, MCC statistics (Fig. 11-8)",
    )
    _runs(parser, 22)
    parser.add_argument(
        "--steps", type=int, help="mini-batches per run (default 10000 digits, 40000 fashion-mnist)"
    )
    _data(parser, 64)


def _add_optimizers(kinds) -> None:
    parser = kinds.add_parser(
        "optimizers", help="seed 001 Fig. 11-11: a CNN with SGD, RMSprop, Adagrad, Adam"
    )
    _runs(parser, 5)
    parser.add_argument("--epochs", type=int, help="passes over the data (default 12)")
    _data(parser, 128)
    parser.add_argument(
        "--optimizers",
        dest="names",
        help="comma-separated, from: sgd, rmsprop, adagrad, adam (default all four)",
    )
    parser.add_argument(
        "--rate",
        dest="rates",
        action="append",
        metavar="NAME=LR",
        help="an optimizer's learning rate, e.g. adam=0.001 (repeatable)",
    )


def _add_grid(kinds) -> None:
    parser = kinds.add_parser(
        "grid", help="a learning-rate x momentum grid on the MLP as one program (heat-map)"
    )
    parser.add_argument("--steps", type=int, help="mini-batches per run (default 10000)")
    _data(parser, 64)
    parser.add_argument("--seed", type=int, help="seed of the params and shuffling (default 0)")
    parser.add_argument(
        "--learning-rates",
        dest="lrs",
        metavar="SPEC",
        help="start:stop:logN, start:stop:N or v1,v2,... (default 0.01:3:log8)",
    )
    parser.add_argument(
        "--momenta", metavar="SPEC", help="as --learning-rates (default 0,0.5,0.9,0.95)"
    )


def _add_noise(kinds) -> None:
    parser = kinds.add_parser(
        "noise", help="seed 002 §6.4: plain SGD against annealed gradient noise, deep MLP"
    )
    _runs(parser, 10)
    parser.add_argument("--steps", type=int, help="mini-batches per run (default 2000)")
    parser.add_argument("--eta", type=float, help="initial noise variance (default 0.3)")
    parser.add_argument("--gamma", type=float, help="annealing exponent (default 0.55)")
    parser.add_argument("--learning-rate", type=float, help="SGD's rate (default 0.005)")
    parser.add_argument("--depth", type=int, help="hidden layers (default 30)")
    parser.add_argument("--width", type=int, help="units per hidden layer (default 50)")
    parser.add_argument("--batch-size", type=int, help="examples per mini-batch (default 64)")


def _add_order(kinds) -> None:
    parser = kinds.add_parser(
        "order", help="seed 002 §6.1: shuffled against class-sorted against curriculum order"
    )
    _runs(parser, 10)
    parser.add_argument("--epochs", type=int, help="passes over the data (default 20)")
    parser.add_argument("--learning-rate", type=float, help="SGD's rate (default 0.05)")
    parser.add_argument("--width", type=int, help="units per hidden layer (default 100)")
    parser.add_argument("--depth", type=int, help="hidden layers (default 2)")
    parser.add_argument("--batch-size", type=int, help="examples per mini-batch (default 32)")


def _add_early_stopping(kinds) -> None:
    parser = kinds.add_parser(
        "early_stopping",
        help="seed 002 §6.3: validation curves past overfitting, the epoch early stopping keeps",
    )
    _runs(parser, 10)
    parser.add_argument("--epochs", type=int, help="passes over the data (default 60)")
    parser.add_argument("--train-size", type=int, help="training examples (default 200)")
    parser.add_argument("--patience", type=int, help="early stopping's patience (default 10)")
    parser.add_argument("--learning-rate", type=float, help="Adam's rate (default 0.001)")
    parser.add_argument("--width", type=int, help="units per hidden layer (default 256)")
    parser.add_argument("--depth", type=int, help="hidden layers (default 2)")
    parser.add_argument("--batch-size", type=int, help="examples per mini-batch (default 20)")


def _add_batchnorm(kinds) -> None:
    parser = kinds.add_parser(
        "batchnorm",
        help="seed 002 §6.2: the MLP with and without batch normalization over learning "
        "rates and init scales",
    )
    _runs(parser, 5)
    parser.add_argument("--steps", type=int, help="mini-batches per run (default 1000)")
    parser.add_argument(
        "--learning-rates",
        dest="bn_lrs",
        metavar="SPEC",
        help="start:stop:logN, start:stop:N or v1,v2,... (default 0.1,0.3,1,3,10,30,100)",
    )
    parser.add_argument(
        "--scales",
        metavar="SPEC",
        help="init half-widths, as --learning-rates (default 0.1,0.5,1,2,4)",
    )
    parser.add_argument(
        "--scale-rate", type=float, help="learning rate of the init-scale grid (default 1)"
    )
    parser.add_argument(
        "--threshold", type=float, help="final loss below which a run trains (default 0.1)"
    )
    _data(parser, 64)


def _runs(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument(
        "--runs", type=int, help=f"runs (seeds) per setting, >= 2 (default {default})"
    )


def _data(parser: argparse.ArgumentParser, batch_size: int) -> None:
    parser.add_argument(
        "--dataset", choices=("digits", "fashion-mnist"), help="the data (default digits)"
    )
    parser.add_argument(
        "--data-dir", help="directory of Fashion-MNIST's four IDX files (gdjax never downloads)"
    )
    parser.add_argument(
        "--batch-size", type=int, help=f"examples per mini-batch (default {batch_size})"
    )


_COORDINATES = re.compile(r"^-?[\d.]+(e[-+]?\d+)?(,-?[\d.]+(e[-+]?\d+)?)*$", re.IGNORECASE)


def join_negative_starts(argv: list[str]) -> list[str]:
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
