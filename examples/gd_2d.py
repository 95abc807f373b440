"""Seed 001, Figs. 11-3, 11-4 and 11-5: plain gradient descent in two dimensions.

* Fig. 11-3: the ellipse f = 6x² + 9y² - 12x - 14y + 3 from (-0.5, 2.9)
  (circles), (1.5, -0.8) (squares) and (2.7, 2.3) (triangles), lr 0.02,
  12 steps (Listing 11-1).
* Fig. 11-4: the canyon f = 6x² + 40y² - 12x - 30y + 3 from (-0.5, 2.3) at
  lr 0.02 (bounces across the walls) and (2.3, 2.3) at lr 0.01 (crawls along
  the floor). The text gives no step count for this figure; the 12 steps of
  Listing 11-1, whose code it reuses, are assumed.
* Fig. 11-5: two inverted Gaussians, Table 11-1's five starts and step
  counts at lr 0.4; the text says the triangle (0.7, -0.2) and the square
  (1.5, -1.8) end in the wrong (shallow) minimum.

Every path is one `gdjax.trajectories.run` of ``gdjax.sgd(lr)``, in float64
as the book's NumPy code.

    python examples/gd_2d.py --out docs/figures
"""

from __future__ import annotations

from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import _figures  # noqa: E402  (examples/_figures.py: the shared --out/--quick)
import numpy as np  # noqa: E402

import gdjax  # noqa: E402
from gdjax import landscapes, plot, trajectories  # noqa: E402

# Table 11-1: start, steps, the book's plot symbol (and ours).
TABLE_11_1 = [
    ((-1.5, 1.2), 9, "circle", "o"),
    ((1.5, -1.8), 9, "square", "s"),
    ((0.0, 0.0), 20, "plus", "P"),
    ((0.7, -0.2), 20, "triangle", "^"),
    ((1.5, 1.5), 30, "star", "*"),
]


def descend(learning_rate: float, land, starts, steps: int) -> trajectories.Trajectories:
    return trajectories.run(gdjax.sgd(learning_rate), land, np.asarray(starts, np.float64), steps)


def first_steps(run: trajectories.Trajectories, start: int, steps: int):
    """One start's path cut after ``steps`` steps: Table 11-1 runs each start for its own count."""
    return run._replace(
        positions=run.positions[: steps + 1, start : start + 1],
        values=run.values[: steps + 1, start : start + 1],
    )


def fig_11_3(out: Path) -> None:
    land = landscapes.ellipse
    run = descend(0.02, land, land.starts, 12)
    labels = [f"start {tuple(s)}" for s in land.starts]
    ax = plot.paths(plot.by_start(run, labels), landscape=land, colors=["k"])
    ax.set_title("Seed 001, Fig. 11-3: gradient descent, lr 0.02, 12 steps")
    print("Fig. 11-3 (ellipse, minimum (1, 0.7778)), after 12 steps at lr 0.02:")
    for label, point in zip(labels, np.asarray(run.final), strict=True):
        print(f"  {label:<20} -> ({point[0]:.4f}, {point[1]:.4f})")
    plot.save(ax, out / "fig11_3_ellipse.png")


def fig_11_4(out: Path) -> None:
    land = landscapes.canyon
    fast = descend(0.02, land, [land.starts[0]], 12)
    slow = descend(0.01, land, [land.starts[1]], 12)
    runs = {"(-0.5, 2.3), lr 0.02": fast, "(2.3, 2.3), lr 0.01": slow}
    ax = plot.paths(runs, landscape=land, colors=["k"], legend="upper right")
    ax.set_title("Seed 001, Fig. 11-4: the canyon, 12 steps (assumed)")
    print("Fig. 11-4 (canyon, minimum (1, 0.375)), after 12 steps:")
    for label, run in runs.items():
        x, y = np.asarray(run.final)[0]
        ys = np.asarray(run.positions)[:, 0, 1]
        crossings = int(np.sum(np.diff(np.sign(ys - 0.375)) != 0))
        print(f"  {label:<22} -> ({x:.4f}, {y:.4f}); crosses the floor y = 0.375 {crossings} times")
    plot.save(ax, out / "fig11_4_canyon.png")


def fig_11_5(out: Path) -> None:
    land = landscapes.two_gaussians
    starts = [start for start, *_ in TABLE_11_1]
    run = descend(0.4, land, starts, max(steps for _, steps, *_ in TABLE_11_1))
    runs = {
        f"{start}, {steps} steps": first_steps(run, i, steps)
        for i, (start, steps, *_) in enumerate(TABLE_11_1)
    }
    markers = [marker for *_, marker in TABLE_11_1]
    ax = plot.paths(runs, landscape=land, markers=markers, colors=["k"], legend="lower left")
    ax.set_title("Seed 001, Fig. 11-5: two minima, lr 0.4 (Table 11-1)")
    print("Fig. 11-5 (two Gaussians, lr 0.4): where each start of Table 11-1 ends")
    print("  the book: the triangle and the square end in the wrong (shallow) minimum")
    deep, shallow = (np.asarray(m.point) for m in land.minima)
    for (start, steps, symbol, _), path in zip(TABLE_11_1, runs.values(), strict=True):
        end = np.asarray(path.positions)[-1, 0]
        nearer = "deep" if np.linalg.norm(end - deep) < np.linalg.norm(end - shallow) else "shallow"
        print(
            f"  {symbol:<8} {start!s:<12} {steps:>2} steps -> ({end[0]:.4f}, {end[1]:.4f})"
            f"  {nearer} minimum"
        )
    plot.save(ax, out / "fig11_5_two_gaussians.png")


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    fig_11_3(args.out)
    fig_11_4(args.out)
    fig_11_5(args.out)


if __name__ == "__main__":
    main()
