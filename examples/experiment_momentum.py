"""Seed 001, Fig. 11-8: the MLP trained 22 times without momentum and 22 times with it.

Without momentum at lr 1.0, with momentum 0.9 at lr 0.2; then one run's
confusion matrix, accuracy and MCC per setting, and the MCCs' mean ± SE
(standard error), t-test, Mann-Whitney U and Cohen's d; the figure is the
histogram of every run's MCC. On digits (the default, about 40 s on a 2-core
CPU) or on Fashion-MNIST, the book's data (give the directory of its four IDX
files; about four minutes on a 2-core CPU):

    python examples/experiment_momentum.py --out docs/figures
    python examples/experiment_momentum.py --dataset fashion-mnist --data-dir ~/data/fashion

``--quick`` trains 2 runs per setting for 300 mini-batches (a smoke run).
"""

from __future__ import annotations

import _figures  # examples/_figures.py: the shared --out/--quick

from gdjax import experiments, plot


def main(argv: list[str] | None = None) -> None:
    parser = _figures.parser(__doc__)
    parser.add_argument("--dataset", default="digits", choices=experiments.DATASETS)
    parser.add_argument("--data-dir", help="Fashion-MNIST's four IDX files")
    args = parser.parse_args(argv)
    size = {"runs": 2, "steps": 300} if args.quick else {"runs": 22}
    data = experiments.Dataset(args.dataset, args.data_dir)
    result = experiments.momentum(**size, data=data)
    print(result.report())
    print(f"wrote {plot.save(plot.momentum_figure(result), args.out / 'experiment_momentum.png')}")


if __name__ == "__main__":
    main()
