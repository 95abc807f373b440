"""Seed 002 §6.4: plain SGD against SGD with annealed gradient noise on a deep, narrow MLP.

Neelakantan et al. (2015) add N(0, eta / (1 + t)^gamma) to every gradient and
find that very deep networks train better with it. Ten seeds per variant, a
30-layer ReLU network of width 50 on digits; prints the final training loss
and test accuracy of both and compares them; draws the training loss of
every run. About a minute on a 2-core CPU:

    python examples/experiment_noise.py --out docs/figures

``--quick`` trains 2 seeds per variant of a 10-layer network for 200 mini-batches.
"""

from __future__ import annotations

import _figures  # examples/_figures.py: the shared --out/--quick

from gdjax import experiments, plot


def main(argv: list[str] | None = None) -> None:
    parser = _figures.parser(__doc__)
    parser.add_argument("--eta", type=float, default=0.3, help="initial noise variance")
    args = parser.parse_args(argv)
    size = {"runs": 2, "steps": 200, "depth": 10} if args.quick else {"runs": 10}
    result = experiments.noise(**size, eta=args.eta, gamma=0.55)
    print(result.report())
    print(f"wrote {plot.save(plot.noise_figure(result), args.out / 'experiment_noise.png')}")


if __name__ == "__main__":
    main()
