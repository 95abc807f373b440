"""Seed 002 §5 (Downpour SGD): stale gradients on seed 003's bowl f = 0.1 x1² + 2 x2².

A parameter-server worker's gradient arrives ``tau`` steps late:
``gdjax.distributed.delayed(optimizer, tau)`` applies the gradient of step
``t - tau`` at step ``t`` (zero updates while the first gradients are in flight).
From (-5, -2), 100 steps, at delays 0, 2 and 8. Along x2 (curvature a = 4),
gradient descent with a stale gradient converges only if
``lr * a < 2 sin(pi / (2 (2 tau + 1)))``: the rate 0.4 that seed 003 uses
converges without delay and diverges at delay 2; 0.1 survives delay 2 and
diverges at delay 8. AdaGrad's shrinking steps overshoot at delay 8, then settle.

    python examples/delayed_gradients.py --out docs/figures
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import _figures  # noqa: E402  (examples/_figures.py: the shared --out/--quick)
import numpy as np  # noqa: E402

import gdjax  # noqa: E402
from gdjax import landscapes, plot, trajectories  # noqa: E402
from gdjax.distributed import delayed  # noqa: E402

BOWL = landscapes.stretched_bowl
START = np.array([[-5.0, -2.0]])
STEPS = 100
DELAYS = (0, 2, 8)
CURVATURE = 4.0  # of f along x2: the stiff direction, where staleness bites
CASES = {
    # label: (optimizer factory, learning rate along x2 for the stability limit or None)
    "GD lr 0.4": (lambda: gdjax.sgd(0.4), 0.4),
    "GD lr 0.1": (lambda: gdjax.sgd(0.1), 0.1),
    "momentum lr 0.05, 0.5": (lambda: gdjax.sgd(0.05, momentum=0.5), None),
    "AdaGrad lr 1.0": (lambda: gdjax.adagrad(1.0), None),
}


def limit(tau: int | np.ndarray) -> float | np.ndarray:
    """The largest stable ``lr * a`` of ``x_{t+1} = x_t - lr a x_{t - tau}`` (Levin & May 1976)."""
    return 2 * np.sin(np.pi / (2 * (2 * np.asarray(tau) + 1)))


def show(x) -> str:
    return f"({float(x[0]):.6g}, {float(x[1]):.6g})"


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)

    print(f"Stale gradients on f = 0.1 x1^2 + 2 x2^2, start (-5, -2), {STEPS} steps")
    print("stability limit of lr*a for stale gradient descent, 2 sin(pi/(2(2tau+1))):")
    print("  " + ", ".join(f"tau {tau}: {limit(tau):.4f}" for tau in DELAYS))
    print(
        f"{'optimizer':<23}{'delay':>6}   {'final (x1, x2)':>30}{'f':>14}"
        f"{'max |x2|':>12}   diverged (bound 100)"
    )
    runs: dict[str, dict[int, trajectories.Trajectories]] = {}
    for label, (make, lr) in CASES.items():
        runs[label] = {}
        for tau in DELAYS:
            run = trajectories.run(delayed(make(), tau), BOWL, START, STEPS, bound=100.0)
            runs[label][tau] = run
            peak = float(np.abs(np.asarray(run.positions[:, 0, 1])).max())
            stable = "" if lr is None else f"   lr*a {lr * CURVATURE:.2f} vs {limit(tau):.3f}"
            print(
                f"{label:<23}{tau:>6}   {show(run.final[0]):>30}{float(run.final_value[0]):>14.6g}"
                f"{peak:>12.4g}   {'yes' if bool(run.diverged[0]) else 'no'}{stable}"
            )
    print(
        "Delay-tolerant AdaGrad (McMahan & Streeter 2014): "
        "gdjax.distributed.adaptive_revision, examples/delay_tolerant_adagrad.py."
    )

    fig, axes = plot.subplots(2, 2, figsize=(11, 8))
    for ax, label in zip(axes[0], ("GD lr 0.1", "AdaGrad lr 1.0"), strict=True):
        plot.paths(
            {f"delay {tau}": runs[label][tau] for tau in DELAYS},
            ax,
            landscape=BOWL,
            colors=["black", "tab:blue", "tab:red"],
        )
        ax.set_title(f"{label}, delays {', '.join(map(str, DELAYS))}", fontsize="medium")
    ax = axes[1, 0]
    shown = ("GD lr 0.1", "momentum lr 0.05, 0.5", "AdaGrad lr 1.0")
    curves = {f"{label}, delay {tau}": runs[label][tau] for label in shown for tau in (0, 8)}
    plot.values(curves, ax, log=True, minimum=0.0, legend=None)
    ax.set_ylim(1e-12, 1e8)
    ax.legend(fontsize="x-small", loc="lower left", ncol=2)
    ax.set_title("f(x_t) (log scale): delay 0 against delay 8", fontsize="medium")
    ax = axes[1, 1]
    taus = np.arange(0, 17)
    ax.plot(taus, limit(taus), "k.-", label="stable lr·a below this")
    for lr, color in ((0.4, "tab:red"), (0.1, "tab:blue")):
        ax.axhline(lr * CURVATURE, color=color, ls="--", label=f"lr {lr} along x2 (a = 4)")
    ax.set_xlabel("delay tau (steps)")
    ax.set_ylabel("lr · a")
    ax.set_yscale("log")
    ax.legend(fontsize="small")
    ax.set_title("Stale gradient descent: 2 sin(π / (2(2τ+1)))", fontsize="medium")
    print(f"wrote {plot.save(fig, args.out / 'delayed_gradients.png')}")


if __name__ == "__main__":
    main()
