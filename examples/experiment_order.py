"""Seed 002 §6.1: shuffling every epoch against a class-sorted order and a curriculum.

A ReLU MLP (2 hidden layers of 100) trained on digits with mini-batch SGD, ten
seeds in each of three orders: shuffled every epoch, sorted by class, and an
easy-first curriculum (the margin of a logistic regression) that grows from the
easiest 25% to the full set over the first half of the epochs; prints the
learning curves and the final test MCC of each with their comparisons; draws
the validation curves and the MCCs. About half a minute on a 2-core CPU:

    python examples/experiment_order.py --out docs/figures

``--quick`` trains 2 seeds per order for 2 epochs.
"""

from __future__ import annotations

import _figures  # examples/_figures.py: the shared --out/--quick

from gdjax import experiments, plot


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    size = {"runs": 2, "epochs": 2} if args.quick else {"runs": 10}
    result = experiments.order(**size)
    print(result.report())
    print(f"wrote {plot.save(plot.order_figure(result), args.out / 'experiment_order.png')}")


if __name__ == "__main__":
    main()
