"""A learning-rate × momentum grid on seed 001's MLP (digits), all 32 cells as one program.

Where do the book's two settings (lr 1.0 without momentum, lr 0.2 with 0.9)
lie in the plane? Prints the final validation loss of every cell and the best
one; draws the heat-map. About 30 s on a 2-core CPU:

    python examples/experiment_sweep.py --figure-dir docs/figures
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gdjax.training import experiments


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--figure-dir", type=Path, help="write experiment_sweep.png here")
    args = parser.parse_args(argv)
    out = args.figure_dir / "experiment_sweep.png" if args.figure_dir else None
    result = experiments.sweep(
        learning_rates=np.geomspace(0.01, 3, 8), momenta=(0.0, 0.5, 0.9, 0.95), out=out
    )
    print(result.report())


if __name__ == "__main__":
    main()
