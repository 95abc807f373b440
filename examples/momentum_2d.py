"""Seed 003 (Dive into Deep Learning §7.4): gradient descent and momentum on f = 0.1 x1² + 2 x2².

From (-5, -2), 20 steps. The text's momentum is v = gamma*v + eta*g; x = x - v,
which for a constant eta is ``gdjax.sgd(eta, momentum=gamma)``. Its four printed
results are reproduced here in float64, next to float32 for comparison; with a
bound of 100 the run at eta 0.6 without momentum is flagged as diverged.

    python examples/momentum_2d.py --out docs/figures
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import _figures  # noqa: E402  (examples/_figures.py: the shared --out/--quick)
import numpy as np  # noqa: E402

import gdjax  # noqa: E402
from gdjax import landscapes, plot, trajectories  # noqa: E402

BOWL = landscapes.stretched_bowl
CASES = [
    # label, eta, gamma (None: plain gradient descent), the text's x1, x2
    ("gradient descent", 0.4, None, (-0.943467, -0.000073)),
    ("gradient descent", 0.6, None, (-0.387814, -1673.365109)),
    ("momentum", 0.4, 0.5, (-0.062843, 0.001202)),
    ("momentum", 0.6, 0.5, (0.007188, 0.002553)),
]


def show(x) -> str:
    return f"({float(x[0]):.6f}, {float(x[1]):.6f})"


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)

    print("Seed 003: f = 0.1 x1^2 + 2 x2^2, start (-5, -2), 20 steps")
    columns = ("text (x1, x2)", "gdjax float64", "gdjax float32")
    print(
        f"{'method':<17}{'eta':>5}{'gamma':>7}"
        + "".join(f"   {c:>26}" for c in columns)
        + "   diverged (bound 100)"
    )
    runs = {}
    for label, eta, gamma, text in CASES:
        optimizer = gdjax.sgd(eta, momentum=gamma)
        run = trajectories.run(optimizer, BOWL, np.array([[-5.0, -2.0]]), 20, bound=100.0)
        x32 = trajectories.run(optimizer, BOWL, np.array([[-5.0, -2.0]], np.float32), 20).final[0]
        gamma_text = gamma if gamma is not None else "-"
        print(
            f"{label:<17}{eta:>5}{gamma_text:>7}   {show(text):>26}   {show(run.final[0]):>26}"
            f"   {show(x32):>26}   {'yes' if bool(run.diverged[0]) else 'no'}"
        )
        runs[f"{label}, eta {eta}" + (f", gamma {gamma}" if gamma else "")] = run
    print("eta = 0.6 without momentum diverges along x2; momentum 0.5 at the same eta converges.")

    fig, axes = plot.subplots(2, 2, figsize=(10, 7))
    for ax, (label, run) in zip(axes.ravel(), runs.items(), strict=True):
        plot.paths({label: run}, ax, landscape=BOWL, colors=["tab:orange"], legend=None)
        ax.set_title(f"Seed 003: {label}", fontsize="medium")
    print(f"wrote {plot.save(fig, args.out / 'seed003_momentum.png')}")


if __name__ == "__main__":
    main()
