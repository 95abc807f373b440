"""What a benchmark problem is: a start, a loss, the data, how long to train, and a target.

Two kinds share one NamedTuple. A *function* problem (``data is None``) is a
deterministic function of one point, run for ``steps`` steps as one jitted
program, a scan over steps of a vmap over the runs, as `gdjax.trajectories` runs
its starts (the texts' landscapes, Rosenbrock, an ill-conditioned quadratic). A
*data* problem trains a model with `gdjax.training.fit_many` for ``steps`` epochs,
tuned on the validation set and reported on the test set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax


class Datasets(NamedTuple):
    """A data problem's three datasets, each a pytree of arrays sharing their first axis."""

    train: Any
    validation: Any
    test: Any


class Problem(NamedTuple):
    """A benchmark problem.

    Attributes:
      name: short name, as the CLI spells it (``"rosenbrock"``, ``"digits_mlp"``).
      init: ``key -> params``, a seed's start (a function problem's params are one
        point ``(D,)``; it may ignore the key when the protocol fixes the start).
      loss: with ``data=None``, ``point (D,) -> scalar``, the function minimised;
        otherwise `fit`'s ``loss_fn``, ``(params, batch) -> per-example losses``.
      target: the loss (function problems: ``f(x) - f*``; data problems: the test
        loss) at or below which a run has reached the target; "speed" is the first
        step (epoch) at which it does.
      steps: steps of a function problem, epochs of a data problem.
      data: the `Datasets` of a data problem; None for a function problem.
      batch_size: a data problem's batch size (None: the full batch).
      metric: a data problem's ``(params, batch) -> per-example values``, higher
        is better (whether a digit is classified correctly); None for none.
      minimum: a function problem's minimiser ``(D,)`` and value, as
        ``(point, value)``, when known: distances and ``f(x) - f*`` are reported.
      box: a 2-D problem's drawing box ``((xmin, xmax), (ymin, ymax))``, or None.
    """

    name: str
    init: Callable[[jax.Array], Any]
    loss: Callable[..., jax.Array]
    target: float
    steps: int
    data: Datasets | None = None
    batch_size: int | None = None
    metric: Callable[..., jax.Array] | None = None
    minimum: tuple[Any, float] | None = None
    box: tuple[tuple[float, float], tuple[float, float]] | None = None
