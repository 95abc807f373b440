"""``gdjax experiment NAME``: one of the texts' training experiments, end to end.

`gdjax.experiments` trains and scores; this prints its report, then draws
``gdjax.plot.<NAME>_figure(result)`` (unless ``--no-plot``). The figure's path
is checked before the training starts.
"""

from __future__ import annotations

import argparse
from typing import Any

from gdjax.cli import drawing, outputs, values
from gdjax.cli.values import UsageError

# Each experiment's options: the function argument each maps to. Options left
# out keep the function's defaults, so the defaults live in one place.
ARGUMENTS = {
    "momentum": ("runs", "steps", "data", "batch_size"),
    "optimizers": ("runs", "epochs", "data", "batch_size", "names", "rates"),
    "grid": ("steps", "data", "seed", "batch_size", "lrs", "momenta"),
    "noise": ("runs", "steps", "eta", "gamma", "learning_rate", "depth", "width", "batch_size"),
    "order": ("runs", "epochs", "learning_rate", "width", "depth", "batch_size"),
    "early_stopping": (
        "runs",
        "epochs",
        "train_size",
        "patience",
        "learning_rate",
        "width",
        "depth",
        "batch_size",
    ),
    "batchnorm": (
        "runs",
        "steps",
        "bn_lrs",
        "scales",
        "scale_rate",
        "threshold",
        "data",
        "batch_size",
    ),
}
# Options whose name on the command line differs from the function's argument.
_RENAMES = {"rates": "learning_rates", "lrs": "learning_rates", "bn_lrs": "learning_rates"}
_GRID_FLAGS = {
    "lrs": "--learning-rates",
    "momenta": "--momenta",
    "bn_lrs": "--learning-rates",
    "scales": "--scales",
}


def run(args: argparse.Namespace) -> int:
    if getattr(args, "dataset", None) == "fashion-mnist" and args.data_dir is None:
        raise UsageError(
            "--dataset fashion-mnist needs --data-dir DIR, the directory of its four IDX files "
            "(see docs/experiments.md); gdjax never downloads"
        )
    out = None
    if not args.no_plot:
        text = f"experiment_{args.experiment}.png" if args.out is None else args.out
        out = outputs.figure_path(text, (".png",))
    try:
        from gdjax import experiments
    except ModuleNotFoundError as error:  # an optional package the experiments need
        raise UsageError(
            f"gdjax experiment needs {error.name}: pip install 'gdjax[train]'"
        ) from None
    kwargs = arguments(args)
    try:
        result = getattr(experiments, args.experiment)(**kwargs, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, ImportError) as error:
        # ImportError: the library's "... needs scikit-learn: pip install ..." (no plot
        # package: the experiments draw nothing, so --no-plot would not help).
        raise UsageError(" ".join(str(error).split())) from None
    print(result.report())
    if out is not None:
        outputs.draw(lambda: drawing.experiment(args.experiment, result), out)
    return 0


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The experiment function's keyword arguments, from the options given."""
    kwargs = {}
    for name in ARGUMENTS[args.experiment]:
        value = _data(args) if name == "data" else getattr(args, name)
        if value is None:
            continue
        if name == "names":
            value = tuple(n.strip() for n in value.split(",") if n.strip())
        elif name == "rates":
            value = _rates(value)
        elif name in _GRID_FLAGS:
            value = values.grid_values(value, _GRID_FLAGS[name])
        kwargs[_RENAMES.get(name, name)] = value
    return kwargs


def _data(args: argparse.Namespace) -> Any:
    """``--dataset`` and ``--data-dir`` as a `gdjax.experiments.Dataset`, or None when
    neither is given (the experiment's default)."""
    if args.dataset is None and args.data_dir is None:
        return None
    from gdjax.experiments import Dataset

    return Dataset("digits" if args.dataset is None else args.dataset, args.data_dir)


def _rates(texts: list[str]) -> dict[str, float]:
    """``--rate NAME=VALUE`` (repeatable) as ``{name: rate}``."""
    rates = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise UsageError(f"--rate {text!r}: write name=value, e.g. adam=0.001")
        rates[name.strip()] = values.number(value, f"--rate {name}")
    return rates
