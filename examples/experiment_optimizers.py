"""Seed 001, Fig. 11-11: a small CNN trained with SGD, RMSprop, Adagrad and Adam.

Five runs per optimizer, mini-batches of 128, 12 epochs; test accuracy (mean ±
SE) and training time. On digits (the default, 8×8 images, rates tuned for its
132 steps; about a minute on a 2-core CPU) or on Fashion-MNIST
(16,384 training images of 28×28, tf.keras' default rates; about two hours on a
2-core CPU, extrapolated from one epoch):

    python examples/experiment_optimizers.py --figure-dir docs/figures
    python examples/experiment_optimizers.py --dataset fashion-mnist --data-dir ~/data/fashion
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gdjax.training import experiments


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=experiments.DATASETS)
    parser.add_argument("--data-dir", help="Fashion-MNIST's four IDX files")
    parser.add_argument("--figure-dir", type=Path, help="write experiment_optimizers.png here")
    args = parser.parse_args(argv)
    out = args.figure_dir / "experiment_optimizers.png" if args.figure_dir else None
    result = experiments.optimizers(
        runs=5, epochs=12, batch_size=128, dataset=args.dataset, data_dir=args.data_dir, out=out
    )
    print(result.report())


if __name__ == "__main__":
    main()
