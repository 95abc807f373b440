"""A learning-rate × momentum grid on seed 001's MLP (digits), all 32 cells as one program.

Where do the book's two settings (lr 1.0 without momentum, lr 0.2 with 0.9)
lie in the plane? A fifth of the training data is held out for validation:
prints the final validation loss of every cell, the best cell on validation
and its test scores; draws the heat map. About 30 s on a 2-core CPU:

    python examples/experiment_grid.py --out docs/figures

``--quick`` trains 4 learning rates × the 4 momenta for 300 mini-batches (a smoke run).
"""

from __future__ import annotations

import _figures  # examples/_figures.py: the shared --out/--quick
import numpy as np

from gdjax import experiments, plot


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    rates = np.geomspace(0.01, 3, 4 if args.quick else 8)
    result = experiments.grid(
        learning_rates=rates, momenta=(0.0, 0.5, 0.9, 0.95), steps=300 if args.quick else 10_000
    )
    print(result.report())
    print(f"wrote {plot.save(plot.grid_figure(result), args.out / 'experiment_grid.png')}")


if __name__ == "__main__":
    main()
