"""Showing a run's progress: a tqdm bar over the epochs, or a line per epoch without tqdm."""

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
        self.bar = _bar(self.total, self.description)
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


def _bar(total: int, description: str) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: a line per epoch instead
        return Lines(total, description)
    return tqdm(total=total, desc=description, unit="epoch", dynamic_ncols=True)


class Lines:
    """The part of tqdm's interface that `Progress` uses, as a line per epoch on stderr."""

    def __init__(self, total: int, description: str) -> None:
        self.total, self.description, self.n = total, description, 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values: Any) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        print(f"{self.description}: epoch {self.n + 1}/{self.total}, {shown}", file=sys.stderr)

    def close(self) -> None:
        pass
