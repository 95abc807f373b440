"""Seed 002, Fig. 4 (Alec Radford's animations): seven optimizers in a long valley and on a saddle.

The text (Ruder's overview, §4.7) says of Fig. 4a that Adagrad, Adadelta and
RMSprop head in the right direction at once and converge at similar speed,
while momentum and NAG go off track like a ball rolling down a hill, NAG
correcting its course sooner; and of Fig. 4b that SGD, momentum and NAG
struggle to break the symmetry of the saddle, the latter two escaping in the
end, while Adagrad, RMSprop and Adadelta leave along the descending
direction quickly, Adadelta first.

The valley is the canyon of seed 001 Fig. 11-4 (f = 6x² + 40y² - 12x - 30y + 3)
from (-0.8, 2.5), high on its steep wall: entering a narrow valley from the
side is where momentum overshoots and the adaptive methods differ. On
Rosenbrock's valley every method drops to the curved floor within a few steps
and then crawls along it, so all seven paths lie on top of each other. The
saddle is f = x² - y² from (1, 0.001), slightly off the ridge y = 0.

One set of hyperparameters serves both panels (printed); they were tuned so
that each method moves visibly within the steps shown. Every path is a
`gdjax.trajectories.run`; NAG is drawn at its iterate x (not the look-ahead
params), via `gdjax.trajectories.nesterov_iterate`. An animated GIF of the
saddle is written too.

    python examples/saddle_and_valley.py --out docs/figures
"""

from __future__ import annotations

import _figures
import numpy as np

import gdjax
from gdjax import landscapes, plot, trajectories

MU, MOMENTUM_LR = 0.9, 0.005
SETTINGS = {
    "SGD": ("sgd(0.02)", gdjax.sgd(0.02)),
    "Momentum": ("sgd(0.005, momentum=0.9)", gdjax.sgd(MOMENTUM_LR, momentum=MU)),
    "NAG": ("sgd(0.005, momentum=0.9, nesterov=True)", gdjax.sgd(MOMENTUM_LR, MU, nesterov=True)),
    "Adagrad": ("adagrad(0.5)", gdjax.adagrad(0.5)),
    "Adadelta": ("adadelta(1.0, rho=0.95, eps=1e-3)", gdjax.adadelta(1.0, rho=0.95, eps=1e-3)),
    "RMSprop": ("rmsprop(0.05)", gdjax.rmsprop(0.05)),
    "Adam": ("adam(0.1)", gdjax.adam(0.1)),
}
VALLEY, VALLEY_START, VALLEY_STEPS = landscapes.canyon, (-0.8, 2.5), 100
SADDLE, SADDLE_START, SADDLE_STEPS = landscapes.saddle, (1.0, 1e-3), 120


def run_all(land, start, steps: int) -> dict[str, trajectories.Trajectories]:
    runs = {}
    for name, (_, optimizer) in SETTINGS.items():
        iterate = trajectories.nesterov_iterate(MOMENTUM_LR, MU) if name == "NAG" else None
        run = trajectories.run(optimizer, land, np.array([start]), steps, tol=1e-2, iterate=iterate)
        if iterate is not None:
            run = run._replace(positions=run.iterates, final=run.iterates[-1])
        runs[name] = run
    return runs


def first_step(mask: np.ndarray) -> str:
    hits = np.flatnonzero(mask)
    return str(hits[0]) if hits.size else "never"


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)

    valley = run_all(VALLEY, VALLEY_START, VALLEY_STEPS)
    saddle = run_all(SADDLE, SADDLE_START, SADDLE_STEPS)

    fig, (left, right) = plot.subplots(1, 2, figsize=(13, 5.5))
    plot.paths(valley, left, landscape=VALLEY, markersize=3, legend=None)
    left.set_title(f"Seed 002, Fig. 4a: a long valley (canyon), {VALLEY_STEPS} steps")
    plot.paths(saddle, right, landscape=SADDLE, markersize=3, legend="outside")
    right.set_title(f"Seed 002, Fig. 4b: the saddle x² - y², {SADDLE_STEPS} steps")
    plot.save(fig, args.out / "fig4_saddle_and_valley.png")

    every = 6 if args.quick else 3
    plot.animate(
        SADDLE,
        saddle,
        args.out / "fig4b_saddle.gif",
        fps=10,
        every=every,
        title="Seed 002, Fig. 4b: the saddle",
    )

    print("Seed 002, Fig. 4: hyperparameters (the same on both landscapes)")
    for name, (text, _) in SETTINGS.items():
        print(f"  {name:<9} gdjax.{text}")
    minimum = np.asarray(VALLEY.minima[0].point)
    print(f"\nFig. 4a, the canyon from {VALLEY_START}, minimum (1, 0.375): how far each run")
    print("  overshoots the floor (below y = 0.375) and the minimum (beyond x = 1)")
    columns = ("steps to 0.01", "below floor", "beyond x=1", "final dist")
    print(f"  {'optimizer':<9}" + "".join(f"{c:>15}" for c in columns))
    for name, run in valley.items():
        path = np.asarray(run.positions)[:, 0]
        below = max(0.0, (minimum[1] - path[:, 1]).max())
        beyond = max(0.0, (path[:, 0] - minimum[0]).max())
        distance = np.linalg.norm(path[-1] - minimum)
        arrived = int(run.steps_to_tol[0])
        arrived = "never" if arrived < 0 else str(arrived)
        print(f"  {name:<9}{arrived:>15}{below:>15.3f}{beyond:>15.3f}{distance:>15.2e}")
    print(f"\nFig. 4b, the saddle from {SADDLE_START}: first step with |y| > 1 (escaped)")
    away = {}
    for name, run in saddle.items():
        y = np.abs(np.asarray(run.positions)[:, 0, 1])
        away[name] = y[30]
        print(f"  {name:<9} {first_step(y > 1):>6}   |y| after 30 steps: {y[30]:.3g}")
    print(f"  farthest down the saddle after 30 steps: {max(away, key=away.get)}")


if __name__ == "__main__":
    main()
