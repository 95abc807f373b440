"""Showing progress: the package's one progress bar (`progress_bar`), and the hook that
shows a training run's epochs with it.

Every long loop of the package (fit's epochs, Hogwild!'s updates, Downpour's
pushes, the benchmark's runs) shows its progress through `progress_bar`, so the
optional tqdm import, its fallback without tqdm (`Lines`) and the bar that shows
nothing (`Quiet`) are written once.
"""

from __future__ import annotations

import sys
from typing import Any

from gdjax.training.history import finite_mean
from gdjax.training.hooks import Epoch, Hook, RunState


class Progress(Hook):
    """A bar over the ``total`` epochs, labelled ``description``, showing the mean
    training loss, validation loss and metric over the runs."""

    def __init__(self, total: int, description: str) -> None:
        self.total, self.description = total, description
        self.bar: Any = None

    def start(self, run: RunState) -> None:
        self.bar = progress_bar(self.total, self.description, unit="epoch")
        if run.epochs:  # a resumed run starts part way
            self.bar.update(run.epochs)

    def after_epoch(self, run: RunState, epoch: Epoch) -> None:
        self.bar.set_postfix(**postfix(epoch))
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def postfix(epoch: Epoch) -> dict[str, str]:
    """What the bar shows after ``epoch``: its losses and metric, averaged over the runs."""
    shown = {"loss": f"{finite_mean(epoch.train_loss):.4g}"}
    if epoch.validation_loss is not None:
        shown["val"] = f"{finite_mean(epoch.validation_loss):.4g}"
    if epoch.metric is not None:
        shown["metric"] = f"{finite_mean(epoch.metric):.4g}"
    return shown


def progress_bar(total: int, description: str, *, unit: str = "it", enabled: bool = True) -> Any:
    """The one progress bar of the package: tqdm's when installed, else `Lines`.

    tqdm is an optional dependency (the ``train`` extra), so it is imported here,
    when a bar is first wanted, and nowhere else.

    Args:
      total: the units of work the bar counts to.
      description: the label in front of the bar.
      unit: what one unit of work is called ("epoch", "update", "run"). Default "it".
      enabled: ``False`` gives a `Quiet` bar that shows nothing. Default True.

    Returns:
      A ``tqdm.auto.tqdm`` bar, a `Lines` one without tqdm, or a `Quiet` one when
      disabled; all three have ``n``, ``total``, ``update``, ``set_postfix``,
      ``set_postfix_str``, ``reset``, ``refresh`` and ``close``.
    """
    if not enabled:
        return Quiet(total, description, unit)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: a line at each postfix instead
        return Lines(total, description, unit)
    return tqdm(total=total, desc=description, unit=unit, dynamic_ncols=True)


class Quiet:
    """The part of tqdm's interface that the package's bars use, counting and showing nothing."""

    def __init__(self, total: int, description: str, unit: str = "it") -> None:
        self.total, self.description, self.unit, self.n = total, description, unit, 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values: Any) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def reset(self, total: int | None = None) -> None:
        self.n = 0
        if total is not None:
            self.total = total

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


class Lines(Quiet):
    """A bar without tqdm: a line on stderr at each postfix, e.g. ``fit: epoch 2/3, loss=1.5``."""

    def set_postfix(self, **values: Any) -> None:
        self.set_postfix_str(", ".join(f"{k}={v}" for k, v in values.items()))

    def set_postfix_str(self, text: str) -> None:
        where = f"{self.description}: {self.unit} {self.n + 1}/{self.total}"
        print(f"{where}, {text}", file=sys.stderr)
