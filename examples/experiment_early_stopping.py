"""Seed 002 §6.3: early stopping on validation curves trained well past overfitting.

A ReLU MLP (2 hidden layers of 256) trained with Adam on 200 digits for 60
epochs, ten seeds as one program, recording the validation loss and the test
MCC after every epoch; early stopping (patience 10) is replayed on each curve;
prints the epochs it keeps and the test MCC there and at the end; draws the
curves with those epochs marked. About a minute on a 2-core CPU:

    python examples/experiment_early_stopping.py --out docs/figures

``--quick`` trains 2 seeds for 12 epochs with patience 3.
"""

from __future__ import annotations

import _figures  # examples/_figures.py: the shared --out/--quick

from gdjax import experiments, plot


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    size = {"runs": 2, "epochs": 12, "patience": 3} if args.quick else {"runs": 10}
    result = experiments.early_stopping(**size)
    print(result.report())
    path = args.out / "experiment_early_stopping.png"
    print(f"wrote {plot.save(plot.early_stopping_figure(result), path)}")


if __name__ == "__main__":
    main()
