"""Seed 002 §6.4 on the two-Gaussian landscape: 256 noisy runs from one start, each its own.

Seed 001's Fig. 11-5 start (0.7, -0.2) lies in the basin of the shallow
minimum, and plain gradient descent at the book's rate 0.4 ends there. Seed
002 §6.4 suggests annealed gradient noise (Neelakantan et al. 2015) to shake a
run out of such a basin. Here 256 runs start from that one point as one
program: plain SGD gives 256 copies of one path, and noisy SGD gives 256
different ones, because each run's noise key is folded with its index
(`gdjax.keys.for_run`). The table counts where they are after 1,000 steps
(within 0.3 of a minimum: the annealed noise still jitters them) for a few
noise levels; the figure draws the first 40 steps of 8 runs and where all
256 end.

    python examples/noisy_ensemble.py --out docs/figures
"""

from __future__ import annotations

import _figures  # examples/_figures.py: the shared --out/--quick
import numpy as np

import gdjax
from gdjax import landscapes, plot, trajectories

LAND = landscapes.two_gaussians
START = (0.7, -0.2)
RUNS, STEPS, RATE = 256, 1000, 0.4


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    starts = np.tile(np.asarray(START, np.float32), (RUNS, 1))
    print(f"two_gaussians: {RUNS} runs from {START}, {STEPS} steps at rate {RATE}")
    print(
        f"{'eta':>6}  {'distinct paths':>14}  {'deep minimum':>12}  {'shallow':>8}  {'neither':>8}"
    )
    noisy = {}
    for eta in (0.0, 0.1, 0.3, 1.0):
        optimizer = gdjax.noisy_sgd(RATE, eta=eta, key=0)
        run = trajectories.run(optimizer, LAND, starts, STEPS)
        nearest, distance = LAND.nearest_minimum(run.final)
        near = np.asarray(distance) < 0.3
        kinds = np.asarray([LAND.minima[int(i)].kind for i in np.asarray(nearest)])
        deep = int((near & (kinds == "global")).sum())
        shallow = int((near & (kinds == "local")).sum())
        distinct = len(np.unique(np.asarray(run.final), axis=0))
        print(f"{eta:>6g}  {distinct:>14}  {deep:>12}  {shallow:>8}  {RUNS - deep - shallow:>8}")
        noisy[eta] = run
    again = trajectories.run(gdjax.noisy_sgd(RATE, eta=1.0, key=0), LAND, starts, STEPS)
    same = bool(np.array_equal(np.asarray(again.positions), np.asarray(noisy[1.0].positions)))
    print(f"the same call again is bit-identical: {same}")

    fig, axes = plot.subplots(1, 2, figsize=(11, 5))
    for ax, eta in zip(axes, (0.0, 1.0), strict=True):
        first = noisy[eta].take(slice(0, 8))
        first = first._replace(positions=first.positions[:41], values=first.values[:41])
        plot.paths(first, ax, landscape=LAND, markersize=2)
        final = np.asarray(noisy[eta].final)
        ax.scatter(final[:, 0], final[:, 1], s=6, color="tab:red", zorder=4)
        ax.set_title(
            f"eta = {eta:g}: 8 runs' first 40 steps, all {RUNS} ends (red)", fontsize="medium"
        )
    print(f"wrote {plot.save(fig, args.out / 'noisy_ensemble.png')}")


if __name__ == "__main__":
    main()
