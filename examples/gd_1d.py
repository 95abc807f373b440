"""Seed 001, Figs. 11-1 and 11-2: plain gradient descent on the parabola f(x) = 6x² - 12x + 3.

The book iterates x = x - eta * f'(x) from x = -0.9 with eta = 0.03 and reaches
x = 0.997648 after 15 steps (Fig. 11-1); from x = 0.75 with eta = 0.15 the steps
overshoot the minimum at x = 1 and oscillate around it (Fig. 11-2). Here each is
one `gdjax.trajectories.run` of ``gdjax.sgd(eta)``, in float64 as the book's NumPy.

    python examples/gd_1d.py --out docs/figures
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import _figures  # noqa: E402  (examples/_figures.py: the shared --out/--quick)
import numpy as np  # noqa: E402

import gdjax  # noqa: E402
from gdjax import landscapes, plot, trajectories  # noqa: E402

PARABOLA = landscapes.parabola


def main(argv: list[str] | None = None) -> None:
    parser = _figures.parser(__doc__)
    parser.add_argument("--steps", type=int, default=15, help="steps per run (the book: 15)")
    args = parser.parse_args(argv)

    small = trajectories.run(gdjax.sgd(0.03), PARABOLA, np.array([-0.9]), args.steps)
    print("Seed 001, Fig. 11-1: start x = -0.9, eta = 0.03")
    print(f"{'step':>4}  {'x':>10}  {'f(x)':>10}")
    for step, x, value in zip(
        small.steps, small.positions[:, 0, 0], small.values[:, 0], strict=True
    ):
        print(f"{step:>4}  {float(x):>10.6f}  {float(value):>10.6f}")
    if args.steps == 15:
        print(f"book: x = 0.997648 after 15 steps;  gdjax: x = {float(small.final[0, 0]):.6f}")

    large = trajectories.run(gdjax.sgd(0.15), PARABOLA, np.array([0.75]), args.steps)
    print("\nSeed 001, Fig. 11-2: start x = 0.75, eta = 0.15 (five times the step: overshoots)")
    sides = "".join("<" if x < 1 else ">" for x in np.asarray(large.positions[1:, 0, 0]))
    print(f"side of the minimum at each step: {sides}")
    print(f"after {args.steps} steps: x = {float(large.final[0, 0]):.6f} (minimum at x = 1)")

    fig, axes = plot.subplots(1, 2, figsize=(10, 4))
    plot.paths({"eta = 0.03": small}, axes[0], landscape=PARABOLA, colors=["tab:red"])
    axes[0].set_title("Seed 001, Fig. 11-1: 15 steps from x = -0.9, eta 0.03")
    plot.paths(
        {"eta = 0.15": large}, axes[1], landscape=PARABOLA, colors=["tab:red"], bounds=((0.6, 1.4),)
    )
    axes[1].set_title("Fig. 11-2: from x = 0.75, eta 0.15 (overshoots)")
    print(f"wrote {plot.save(fig, args.out / 'fig11_1_11_2_gd_1d.png')}")


if __name__ == "__main__":
    main()
