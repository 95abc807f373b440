"""Seed 002 §6.4: plain SGD against SGD with annealed gradient noise on a deep, narrow MLP.

Neelakantan et al. (2015) add Gaussian noise to every gradient,

    g_t = g_t + N(0, sigma_t²),    sigma_t² = eta / (1 + t)^gamma

and report that it makes very deep networks train better and more robustly
to bad initialisation. Here the deep ReLU MLP of
`gdjax.training.models.deep_mlp_init` (``depth`` hidden layers of ``width``,
He init) is trained on digits with softmax cross-entropy, ``runs`` seeds
each with plain SGD and with `gdjax.noisy_sgd` (same rate), as one
`gdjax.training.fit_many` program: the settings are ``eta = 0`` (exactly
plain SGD: the noise is multiplied by 0) and ``eta``. fit_many folds each
run's index into its optimizer's key (`gdjax.keys.for_run`), so every run
draws noise of its own. A seed starts both variants from the same params
and shuffling, so they differ by the noise only. Nothing is drawn:
`gdjax.plot.noise_figure` draws the loss curves from the result.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import gdjax
from gdjax._validation import check_int, check_range
from gdjax.experiments import _common
from gdjax.training import History, datasets, models, stats


class NoiseResult(NamedTuple):
    """What `noise` found. Variants are ``(plain SGD, noisy SGD)``, in that order.

    Attributes:
      depth: hidden layers of the network.
      width: units per hidden layer.
      steps: mini-batches per run.
      batch_size: examples per mini-batch.
      learning_rate: the rate of both variants.
      eta: the noise's initial variance.
      gamma: its annealing exponent.
      train_loss: ``(2, runs)`` the final loss on the whole training set
        (non-finite: the run diverged).
      accuracy: ``(2, runs)`` the final test accuracy.
      comparison: `gdjax.training.stats.Comparison` of the test accuracies, noisy first.
      loss_comparison: the same for the final training losses, or None when some
        are not finite.
      history: the `gdjax.training.History` of all runs, arrays ``(2, runs, ...)``;
        ``history.train_loss`` ``(2, runs, epochs)`` holds each epoch's mean loss.
      epoch_steps: ``(epochs,)`` the step at the end of each epoch (the x of those losses).
      seconds: wall time of all runs, one program, compilation included.
    """

    depth: int
    width: int
    steps: int
    batch_size: int
    learning_rate: float
    eta: float
    gamma: float
    train_loss: np.ndarray
    accuracy: np.ndarray
    comparison: stats.Comparison
    loss_comparison: stats.Comparison | None
    history: History
    epoch_steps: np.ndarray
    seconds: float

    @property
    def runs(self) -> int:
        """Seeds per variant."""
        return int(self.accuracy.shape[1])

    @property
    def labels(self) -> tuple[str, str]:
        """The two variants in words: ``("plain SGD", "noisy SGD (eta 0.3)")``."""
        return "plain SGD", f"noisy SGD (eta {self.eta:g})"

    def report(self) -> str:
        """The printable report: the variants' final loss and accuracy, run by run, and
        their comparison."""
        return _report(self)


def noise(
    runs: int = 10,
    steps: int = 2000,
    eta: float = 0.3,
    gamma: float = 0.55,
    learning_rate: float = 0.005,
    depth: int = 30,
    width: int = 50,
    batch_size: int = 64,
    progress: bool = True,
) -> NoiseResult:
    """Seed 002 §6.4: does annealed gradient noise help a deep, narrow network?

    Plain SGD against `gdjax.noisy_sgd` at the same rate, whose noise is

        g_t = g_t + N(0, sigma_t²),    sigma_t² = eta / (1 + t)^gamma

    The method and its results at the defaults: docs/experiments.md, "Gradient noise".
    The method also heads gdjax/experiments/noise.py.

    Args:
      runs: seeds per variant, >= 2. Default 10.
      steps: mini-batches per run. Default 2,000.
      eta: the noise's initial variance, >= 0. Default 0.3 (the paper uses 0.01,
        0.3 and 1.0).
      gamma: the annealing exponent, >= 0. Default 0.55, the paper's.
      learning_rate: the rate of both variants, > 0. Default 0.005.
      depth: hidden layers, >= 1. Default 30.
      width: units per hidden layer, >= 1. Default 50.
      batch_size: examples per mini-batch. Default 64.
      progress: show a progress bar over the epochs.

    Returns:
      `NoiseResult`.
    """
    owner = "noise"
    runs = check_int(owner, "runs", runs, 2)
    steps = check_int(owner, "steps", steps, 1)
    eta = float(check_range(owner, "eta", eta, "[0, inf)"))
    gamma = float(check_range(owner, "gamma", gamma, "[0, inf)"))
    learning_rate = float(check_range(owner, "learning_rate", learning_rate, "(0, inf)"))
    depth = check_int(owner, "depth", depth, 1)
    width = check_int(owner, "width", width, 1)
    batch_size, split = _common.checked_data(owner, batch_size, progress, datasets.digits)

    program = _common.Program(
        _common.deep_mlp_loss,
        _common.init_of(models.deep_mlp_init, 64, width, depth, _common.CLASSES),
        lambda eta: gdjax.noisy_sgd(learning_rate, eta, gamma),
        split.train,
        seeds=runs,
        settings={"eta": [0.0, eta]},
        batch_size=batch_size,
        steps=steps,
    )
    return NoiseResult(
        depth=depth,
        width=width,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        eta=eta,
        gamma=gamma,
        **_measured(program, _common.train(program, progress), split.test),
    )


def _measured(
    program: _common.Program, trained: _common.Trained, test: datasets.Data
) -> dict[str, Any]:
    """The measured fields of `NoiseResult`: every run's final mean loss on the whole
    training set and its test accuracy, their comparisons, the loss curves' steps."""
    train_loss = _common.mean_loss(_common.deep_mlp_loss, trained.params, program.data)
    predictions = _common.predict(models.deep_mlp_apply, trained.params, test["x"])
    accuracy = _common.scores(test["y"], predictions)[0]
    comparison, loss_comparison = _compare(accuracy, train_loss)
    return {
        "train_loss": train_loss,
        "accuracy": accuracy,
        "comparison": comparison,
        "loss_comparison": loss_comparison,
        "history": trained.history,
        "epoch_steps": _epoch_steps(program, trained.history),
        "seconds": trained.seconds,
    }


def _epoch_steps(program: _common.Program, history: History) -> np.ndarray:
    """``(epochs,)`` the step at the end of each epoch of a ``steps``-long program:
    the x of the per-epoch losses in ``history.train_loss`` (the last epoch may be
    cut short)."""
    per_epoch = -(-len(program.data["y"]) // program.batch_size)
    epochs = np.shape(history.train_loss)[-1]
    return np.minimum(np.arange(1, epochs + 1) * per_epoch, program.steps)


def _compare(accuracy, train_loss) -> tuple[stats.Comparison, stats.Comparison | None]:
    """Noisy against plain: the test accuracies, and the final training losses when all
    are finite."""
    names = ("noisy SGD", "plain SGD")
    comparison = stats.compare(accuracy[1], accuracy[0], names=names)
    if not np.isfinite(train_loss).all():
        return comparison, None
    return comparison, stats.compare(train_loss[1], train_loss[0], names=names)


def _report(result: NoiseResult) -> str:
    r = result
    lines = [
        f"seed 002 §6.4 gradient noise on digits: ReLU MLP, {r.depth} hidden layers of "
        f"{r.width}, He init, {r.steps:,} mini-batches of {r.batch_size}, lr "
        f"{r.learning_rate:g}, {r.runs} runs per variant",
        f"noise: sigma_t^2 = {r.eta:g} / (1 + t)^{r.gamma:g}; plain SGD is the same program "
        "with eta = 0",
        f"training: {2 * r.runs} runs as one vmapped program, {r.seconds:.1f} s "
        "(compilation included)",
        "",
        *_common.aligned_table(_summary_rows(r)),
        "SE: the standard error of the mean over the runs",
        "",
        "per run, final training loss / test accuracy:",
    ]
    for i, name in enumerate(("plain", "noisy")):
        pairs = zip(r.train_loss[i], r.accuracy[i], strict=True)
        lines.append(f"  {name}: " + "  ".join(f"{lo:.3f}/{ac:.3f}" for lo, ac in pairs))
    lines += ["", "test accuracy, mean +/- SE:", r.comparison.table()]
    if r.loss_comparison is not None:
        lines += ["", "final training loss (lower is better), mean +/- SE:"]
        lines.append(r.loss_comparison.table())
    lines += _common.failed_notes(_common.failed(r.history), ("plain SGD", "noisy SGD"))
    return "\n".join(lines)


def _summary_rows(r: NoiseResult) -> list[tuple[str, ...]]:
    rows = [("variant", "final training loss (mean +/- SE)", "test accuracy (mean +/- SE)")]
    for i, name in enumerate(r.labels):
        finite = np.isfinite(r.train_loss[i])
        shown = _common.mean_se(r.train_loss[i][finite]) if finite.sum() >= 2 else "-"
        if not finite.all():
            shown += f" ({int((~finite).sum())} diverged, left out)"
        rows.append((name, shown, _common.mean_se(r.accuracy[i])))
    return rows
