"""Seed 002 §5.3: delay-tolerant AdaGrad (AdaptiveRevision) against AdaGrad fed stale gradients.

A parameter-server worker's gradient arrives ``tau`` steps late. AdaGrad applied to
the stale gradients (``delayed(gdjax.adagrad(lr), tau)``) never learns that the
gradients in flight overlap, and over-steps; AdaptiveRevision
(``gdjax.distributed.adaptive_revision(lr, tau)``, McMahan & Streeter 2014, rule in
its docstring) adds the backlog to its accumulator and revises the steps already
taken. On a rotated ill-conditioned quadratic f = x'Hx/2 (eigenvalues 1 and 100,
axes at 30 degrees; a diagonal one would not do, per-coordinate AdaGrad is
scale-free there), from (1, 1), float32: the final and the largest loss of each run
for delays 0, 1, 2, 4, 8 and several learning rates.

    python examples/delay_tolerant_adagrad.py --out docs/figures
"""

from __future__ import annotations

import math

import _figures  # examples/_figures.py: the shared --out/--quick
import jax
import jax.numpy as jnp
import numpy as np

import gdjax
from gdjax import plot
from gdjax.distributed import adaptive_revision, delayed

ANGLE = math.pi / 6
_R = np.array([[math.cos(ANGLE), -math.sin(ANGLE)], [math.sin(ANGLE), math.cos(ANGLE)]])
HESSIAN = jnp.asarray(_R @ np.diag([1.0, 100.0]) @ _R.T, jnp.float32)
START = jnp.ones(2, jnp.float32)
RATES = jnp.asarray([0.1, 0.3, 1.0, 3.0], jnp.float32)
DELAYS = (0, 1, 2, 4, 8)
METHODS = {
    "AdaGrad, stale": lambda lr, tau: delayed(gdjax.adagrad(lr), tau),
    "AdaptiveRevision": adaptive_revision,
}


def quadratic(x):
    return 0.5 * x @ HESSIAN @ x


def losses(tx, steps: int):
    """f(x_t) for t = 1..steps."""

    def step(carry, _):
        x, s = carry
        u, s = tx.update(jax.grad(quadratic)(x), s, x)
        x = gdjax.apply_updates(x, u)
        return (x, s), quadratic(x)

    return jax.lax.scan(step, (START, tx.init(START)), None, length=steps)[1]


def sweep(method: str, tau: int, steps: int) -> np.ndarray:
    """Losses for every rate at once, shape (rates, steps): one compile per method and delay."""
    make = METHODS[method]
    return np.asarray(jax.jit(jax.vmap(lambda lr: losses(make(lr, tau), steps)))(RATES))


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    steps, delays = (60, (0, 2)) if args.quick else (200, DELAYS)
    runs = {(m, tau): sweep(m, tau, steps) for m in METHODS for tau in delays}

    print(f"Rotated quadratic (eigenvalues 1, 100), start (1, 1), f_0 = {quadratic(START):.4g}")
    print(
        f"final f after {steps} steps, and (max f over the run); stale AdaGrad vs AdaptiveRevision"
    )
    header = "".join(f"{f'lr {float(lr):g}':>32}" for lr in RATES)
    print(f"{'delay':>5}  {'':<18}{header}")
    for tau in delays:
        for method in METHODS:
            curves = runs[method, tau]
            cells = "".join(f"{c[-1]:>18.3g} ({c.max():>9.3g})" for c in curves)
            print(f"{tau:>5}  {method:<18}{cells}")

    fig, axes = plot.subplots(1, 3, figsize=(15, 4.2))
    lr_index, tau_shown = 2, 4 if 4 in delays else delays[-1]
    ax = axes[0]
    t = np.arange(1, steps + 1)
    ax.plot(t, runs["AdaptiveRevision", 0][lr_index], "k-", label="AdaGrad, delay 0")
    ax.plot(
        t,
        runs["AdaGrad, stale", tau_shown][lr_index],
        color="tab:red",
        label=f"AdaGrad, delay {tau_shown}",
    )
    ax.plot(
        t,
        runs["AdaptiveRevision", tau_shown][lr_index],
        color="tab:blue",
        label=f"AdaptiveRevision, delay {tau_shown}",
    )
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("f(x_t)")
    ax.set_title(f"lr {float(RATES[lr_index]):g}: loss along the run", fontsize="medium")
    ax.legend(fontsize="small")
    colors = ("tab:green", "tab:orange", "tab:purple", "tab:brown")
    for ax, (what, reduce) in zip(
        axes[1:],
        (("largest f over the run", np.max), (f"final f (step {steps})", lambda c: c[-1])),
        strict=True,
    ):
        for i, lr in enumerate(RATES):
            for method, style in zip(METHODS, ("--", "-"), strict=True):
                values = [reduce(runs[method, tau][i]) for tau in delays]
                label = f"{'AdaGrad' if style == '--' else 'AdaRev'} lr {float(lr):g}"
                fill = colors[i] if style == "-" else "none"  # open markers: stale AdaGrad
                ax.plot(delays, values, style, marker="o", color=colors[i], mfc=fill, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("delay tau (steps)")
        ax.set_ylabel(what)
        ax.set_title(f"{what}: dashed: stale AdaGrad; solid: AdaRev", fontsize="small")
    axes[1].legend(fontsize="x-small", ncol=2)
    print(f"wrote {plot.save(fig, args.out / 'delay_tolerant_adagrad.png')}")


if __name__ == "__main__":
    main()
