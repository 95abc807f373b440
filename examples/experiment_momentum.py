"""Seed 001, Fig. 11-8: the MLP trained 22 times without momentum and 22 times with it.

Without momentum at lr 1.0, with momentum 0.9 at lr 0.2; then one run's
confusion matrix, accuracy and MCC per setting, and the MCCs' mean ± SE,
t-test, Mann-Whitney U and Cohen's d. On digits (the default, about 40 s on
a 2-core CPU) or on Fashion-MNIST, the book's data (give the directory of its
four IDX files; about four minutes on a 2-core CPU):

    python examples/experiment_momentum.py --figure-dir docs/figures
    python examples/experiment_momentum.py --dataset fashion-mnist --data-dir ~/data/fashion
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gdjax.training import experiments


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=experiments.DATASETS)
    parser.add_argument("--data-dir", help="Fashion-MNIST's four IDX files")
    parser.add_argument("--figure-dir", type=Path, help="write experiment_momentum.png here")
    args = parser.parse_args(argv)
    out = args.figure_dir / "experiment_momentum.png" if args.figure_dir else None
    result = experiments.momentum(runs=22, dataset=args.dataset, data_dir=args.data_dir, out=out)
    print(result.report())


if __name__ == "__main__":
    main()
