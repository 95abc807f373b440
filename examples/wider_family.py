"""The wider family on the texts' landscape: ten methods after Adam, from Table 11-1's starts.

Seed 001 (Table 11-1, Figs. 11-5 to 11-10) runs gradient descent, momentum and
Nesterov on two Gaussian wells from five starts. Here the same five starts
meet the methods that came after the texts: Lion (a sign step), AdaBelief,
RAdam, Yogi, ADOPT and AdEMAMix (Adam's relatives), Schedule-Free AdamW,
Prodigy (no rate to tune), Muon and L-BFGS with its zoom line search (a
quasi-Newton method; it reads the loss value and the function, which
`gdjax.trajectories.run` passes as optax's extra arguments), with Adam as
the reference. Every panel is one `trajectories.run`: all five starts as one
program. The rates are those of ``gdjax compare`` (each the rounded winner of
a sweep on this landscape; see `gdjax.cli.registry`).

It prints, per method, how many starts end in the global minimum, how many
settle within 1e-3 of a minimum in 100 steps, and the median settling step.

    python examples/wider_family.py --out docs/figures
"""

from __future__ import annotations

import _figures
import numpy as np

import gdjax
from gdjax import landscapes, plot, trajectories

STEPS = 100
METHODS = {
    "Adam": ("adam(0.1)", gdjax.adam(0.1)),
    "Lion": ("lion(0.08)", gdjax.lion(0.08)),
    "AdaBelief": ("adabelief(0.4)", gdjax.adabelief(0.4)),
    "RAdam": ("radam(1.7)", gdjax.radam(1.7)),
    "Yogi": ("yogi(0.4)", gdjax.yogi(0.4)),
    "ADOPT": ("adopt(1.3)", gdjax.adopt(1.3)),
    "AdEMAMix": ("ademamix(0.4)", gdjax.ademamix(0.4)),
    "Schedule-Free AdamW": ("schedule_free_adamw(1.3)", gdjax.schedule_free_adamw(1.3)),
    "Prodigy": ("prodigy(1.3)", gdjax.prodigy(1.3)),
    "Muon": ("muon(0.75)", gdjax.muon(0.75)),
    "L-BFGS": ("lbfgs()", gdjax.lbfgs()),
}


def summary(land: landscapes.Landscape, run: trajectories.Trajectories) -> tuple[int, int, str]:
    """Starts ending in the global minimum, starts settled, and the median settling step."""
    index, _ = land.nearest_minimum(run.final)
    global_index = [m.kind for m in land.minima].index("global")
    settled = np.asarray(run.steps_to_tol)
    settled = settled[settled >= 0]
    median = f"{np.median(settled):.0f}" if settled.size else "-"
    return int(np.sum(np.asarray(index) == global_index)), int(settled.size), median


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    land = landscapes.two_gaussians
    starts = np.array(land.starts)
    runs = {name: trajectories.run(tx, land, starts, STEPS) for name, (_, tx) in METHODS.items()}

    print(f"two_gaussians, {len(starts)} starts (Table 11-1), {STEPS} steps, tol 1e-3")
    print(f"{'method':<21} {'optimizer':<26} {'global':>6} {'settled':>7} {'median step':>11}")
    for name, run in runs.items():
        in_global, settled, median = summary(land, run)
        print(f"{name:<21} {METHODS[name][0]:<26} {in_global:>6} {settled:>7} {median:>11}")

    fig, axes = plot.subplots(3, 4, figsize=(17, 12), squeeze=False)
    for ax, (name, run) in zip(axes.ravel(), runs.items(), strict=False):
        plot.paths(run, ax, landscape=land, markersize=2.5)
        ax.set_title(f"{name}: {METHODS[name][0]}", fontsize="medium")
    axes[-1, -1].set_visible(False)
    fig.suptitle(f"The wider family on seed 001's two Gaussian wells, {STEPS} steps")
    print(f"wrote {plot.save(fig, args.out / 'wider_family.png')}")


if __name__ == "__main__":
    main()
