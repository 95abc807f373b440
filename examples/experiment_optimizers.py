"""Seed 001, Fig. 11-11: a small CNN trained with SGD, RMSprop, Adagrad and Adam.

Five runs per optimizer, mini-batches of 128, 12 epochs; test accuracy (mean ±
SE, the standard error) and training time. On digits (the default, 8×8
images, rates tuned for its 132 steps; about a minute on a 2-core CPU) or on
Fashion-MNIST (16,384 training images of 28×28, tf.keras' default rates;
about two hours on a 2-core CPU, extrapolated from one epoch):

    python examples/experiment_optimizers.py --out docs/figures
    python examples/experiment_optimizers.py --dataset fashion-mnist --data-dir ~/data/fashion

``--quick`` trains 2 runs per optimizer for one epoch (a smoke run).
"""

from __future__ import annotations

import _figures  # examples/_figures.py: the shared --out/--quick

from gdjax import experiments, plot


def main(argv: list[str] | None = None) -> None:
    parser = _figures.parser(__doc__)
    parser.add_argument("--dataset", default="digits", choices=experiments.DATASETS)
    parser.add_argument("--data-dir", help="Fashion-MNIST's four IDX files")
    args = parser.parse_args(argv)
    size = {"runs": 2, "epochs": 1} if args.quick else {"runs": 5, "epochs": 12}
    data = experiments.Dataset(args.dataset, args.data_dir)
    result = experiments.optimizers(**size, batch_size=128, data=data)
    print(result.report())
    path = args.out / "experiment_optimizers.png"
    print(f"wrote {plot.save(plot.optimizers_figure(result), path)}")


if __name__ == "__main__":
    main()
