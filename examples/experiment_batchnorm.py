"""Seed 002 §6.2: the texts' MLP with and without batch normalization.

The sigmoid MLP (64-100-50-10, squared error) trained on digits with SGD,
with and without batch normalization, 5 seeds at each of 7 learning rates
(0.1 to 100) and at each of 5 init scales (weights uniform in [-s, s], s 0.1
to 4, at lr 1); prints the final training loss per grid point, the rates that
train, the spread over init scales and the test MCC at each variant's best
rate with their comparison; draws both grids. A little over a minute on a 2-core
CPU:

    python examples/experiment_batchnorm.py --out docs/figures

``--quick`` trains 2 seeds for 50 steps on 3 rates and 2 scales.
"""

from __future__ import annotations

import _figures  # examples/_figures.py: the shared --out/--quick

from gdjax import experiments, plot

QUICK = {"runs": 2, "steps": 50, "learning_rates": (0.3, 3.0, 30.0), "scales": (0.5, 2.0)}


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    result = experiments.batchnorm(**(QUICK if args.quick else {}))
    print(result.report())
    path = plot.save(plot.batchnorm_figure(result), args.out / "experiment_batchnorm.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
