"""Seed 000, Figs. 3.4-3.10: GD, per-parameter rates, momentum and RMSProp on the bowl x² + y².

The chapter's listings lost their punctuation in the source text; they are
read as follows (the script prints the same list):

* ``pow 2 -7 *16`` is ``pow(2, -7) * 16 = 0.125``, ``0 015`` is ``0.015`` and
  ``pow 2 -2 *16`` is ``4``.
* Figs. 3.4 and 3.5: ``plot_track`` starts at ``start= 15 0 1``, read as
  (15, 0.1). From there the y coordinate hardly shows, yet the text describes
  Fig. 3.5(a) as moving first along x and then slowly along y, so both
  figures are also drawn from (15, 15), the start of the momentum listing.
  GD runs 100 iterations at lr 0.125 (3.4); Fig. 3.5 runs 50 with
  lr = (0.125, 0.015) (a) and (0.015, 0.125) (b).
* Figs. 3.6-3.8: momentum ``v = a*v - (lr[0]*dx, lr[1]*dy); x = x + v`` from
  (15, 15) with v_init = (1, 1) and lr = (0.125, 0.015), 80 iterations (the
  count the velocity listing uses; Figs. 3.6 and 3.8 give none), a = 0.9
  (3.6, 3.7) and 0.8 (3.8).
* Figs. 3.9-3.10: RMSProp from (15, 7.5), lr (4, 4), ro 0.9, d = 1e-6 outside
  the root, 30 iterations. The listing's ``lr 0 = lr 0 d + np sqrt r 0`` is
  ``lr[0] = lr[0] / (d + np.sqrt(r[0]))``: it writes the scaled rate back
  into the list, so the divisions compound from one iteration to the next.
  gdjax runs correct RMSProp (``gdjax.rmsprop(4, 0.9, 1e-6, eps_in_sqrt=False)``);
  the listing is reproduced as printed, in NumPy, for comparison.

Momentum with an initial velocity is ``gdjax.sgd(lr, 0.9)`` whose trace starts
at ``t0 = -v0 / lr`` (the trace holds ``v = -lr * t``); per-parameter rates are
``gdjax.sgd(jnp.array([lr_x, lr_y]))``.

    python examples/bowl_seed000.py --out docs/figures
"""

from __future__ import annotations

from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import _figures  # noqa: E402  (examples/_figures.py: the shared --out/--quick)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gdjax  # noqa: E402
from gdjax import landscapes, plot, trajectories  # noqa: E402

BOWL = landscapes.bowl
LR = 2.0**-7 * 16  # "pow 2 -7 *16"
LR_SMALL = 0.015  # "0 015"
LISTING_START = (15.0, 0.1)  # "start= 15 0 1"
MOMENTUM_START = (15.0, 15.0)
RMS_START = (15.0, 7.5)  # "start= 15 7 5"
RMS_LR, RMS_RHO, RMS_D = 2.0**-2 * 16, 0.9, 1e-6

ASSUMPTIONS = f"""Reading of the garbled listings:
  lr = pow(2,-7)*16 = {LR}, the small rate 0.015, RMSProp lr = pow(2,-2)*16 = {RMS_LR}
  Figs 3.4/3.5 start: listing 'start= 15 0 1' -> {LISTING_START}; also drawn from {MOMENTUM_START}
  Figs 3.6-3.8: start {MOMENTUM_START}, v_init (1, 1), lr ({LR}, {LR_SMALL}), 80 iterations
  Figs 3.9/3.10: start {RMS_START}, rho {RMS_RHO}, d {RMS_D} outside the root, 30 iterations"""


def starts(*points) -> np.ndarray:
    return np.asarray(points, np.float64)


def sgd_with_velocity(learning_rate, momentum: float, velocity) -> gdjax.GradientTransformation:
    """``gdjax.sgd(learning_rate, momentum)`` whose velocity starts at ``velocity``, not 0.

    The trace ``t`` holds the texts' velocity as ``v = -lr * t``.
    """
    base = gdjax.sgd(learning_rate, momentum=momentum)
    trace0 = -jnp.asarray(velocity) / jnp.asarray(learning_rate)

    def init(params):
        _, rest = base.init(params)
        return (gdjax.TraceState(trace=trace0.astype(params.dtype)), rest)

    return gdjax.GradientTransformation(init, base.update)


def book_rmsprop(lr, d: float, ro: float, start, iterations: int):
    """The book's RMSProp listing as printed, ``lr[i] = lr[i] / (d + sqrt(r[i]))`` written back.

    Returns the (iterations + 1, 2) positions and the accumulators r before each step.
    """
    lr = list(lr)
    x, y = start
    r = np.zeros(2)
    positions, accumulators = [(x, y)], [r]
    for _ in range(iterations):
        g = np.array([2 * x, 2 * y])
        r = ro * r + (1 - ro) * g * g
        lr[0] = lr[0] / (d + np.sqrt(r[0]))
        lr[1] = lr[1] / (d + np.sqrt(r[1]))
        x = x - lr[0] * g[0]
        y = y - lr[1] * g[1]
        positions.append((x, y))
        accumulators.append(r)
    return np.asarray(positions), np.asarray(accumulators)


def show(point) -> str:
    return f"({point[0]:.4f}, {point[1]:.4f})"


def start_labels(run) -> dict:
    return plot.by_start(run, [f"start ({x:g}, {y:g})" for x, y in np.asarray(run.positions)[0]])


def fig_3_4(out: Path) -> None:
    run = trajectories.run(gdjax.sgd(LR), BOWL, starts(LISTING_START, MOMENTUM_START), 100)
    ax = plot.paths(start_labels(run), landscape=BOWL, colors=["tab:red", "k"])
    ax.set_title(f"Seed 000, Fig. 3.4: gradient descent, lr {LR}, 100 iterations")
    plot.save(ax, out / "fig3_4_gd.png")
    print(f"Fig. 3.4: GD at lr {LR} contracts each coordinate by 1 - 2*lr = {1 - 2 * LR}")
    for p0, p1, p5 in zip(*(np.asarray(run.positions)[k] for k in (0, 1, 5)), strict=True):
        print(f"  {show(p0)} -> {show(p1)} after 1, {show(p5)} after 5 (a straight line)")


def fig_3_5(out: Path) -> None:
    fig, axes = plot.subplots(1, 2, figsize=(12, 5))
    print("Fig. 3.5: per-parameter learning rates, 50 iterations")
    for ax, (name, rates) in zip(
        axes, [("(a)", (LR, LR_SMALL)), ("(b)", (LR_SMALL, LR))], strict=True
    ):
        optimizer = gdjax.sgd(jnp.asarray(rates))
        run = trajectories.run(optimizer, BOWL, starts(LISTING_START, MOMENTUM_START), 50)
        plot.paths(start_labels(run), ax, landscape=BOWL, colors=["tab:red", "k"])
        ax.set_title(f"Seed 000, Fig. 3.5{name}: lr (x, y) = {rates}")
        after10 = np.asarray(run.positions)[10, 1]
        print(
            f"  {name} lr {rates}: from {show(MOMENTUM_START)}: {show(after10)} after 10, "
            f"{show(np.asarray(run.final)[1])} after 50"
        )
    plot.save(fig, out / "fig3_5_per_parameter_lr.png")


def momentum_run(mu: float, iterations: int):
    rates = jnp.asarray([LR, LR_SMALL])
    optimizer = sgd_with_velocity(rates, mu, (1.0, 1.0))
    run = trajectories.run(optimizer, BOWL, starts(MOMENTUM_START), iterations, record_state=True)
    velocity = -np.asarray(rates) * np.asarray(run.states[0].trace)[:, 0]
    return run, velocity


def figs_3_6_to_3_8(out: Path, iterations: int) -> None:
    print(f"Figs. 3.6-3.8: momentum, v_init (1, 1), lr ({LR}, {LR_SMALL}), {iterations} iterations")
    for mu, figure in ((0.9, "3.6"), (0.8, "3.8")):
        run, velocity = momentum_run(mu, iterations)
        ax = plot.paths({f"momentum {mu}": run}, landscape=BOWL, colors=["tab:red"])
        ax.set_title(f"Seed 000, Fig. {figure}: momentum {mu}, initial velocity (1, 1)")
        plot.save(ax, out / f"fig{figure.replace('.', '_')}_momentum_{mu}.png")
        distance = np.linalg.norm(np.asarray(run.positions)[:, 0], axis=-1)
        within = np.flatnonzero(distance < 0.5)
        print(
            f"  mu {mu}: ends at {show(np.asarray(run.final)[0])}; first within 0.5 of the "
            f"minimum at iteration {within[0] if within.size else 'never'}"
        )
        if mu == 0.9:
            ax = plot.state_curves(
                run.steps, {"x": velocity[:, 0], "y": velocity[:, 1]}, ylabel="velocity v"
            )
            ax.set_title("Seed 000, Fig. 3.7: momentum velocity at mu = 0.9")
            plot.save(ax, out / "fig3_7_velocity.png")
            peak = np.argmax(np.abs(velocity), axis=0)
            print(
                f"  Fig. 3.7: v starts at {show(velocity[0])}; |v_x| peaks at iteration "
                f"{peak[0]} (x = {np.asarray(run.positions)[peak[0], 0, 0]:.3f}), "
                f"|v_y| at {peak[1]}; max |v| = {show(np.abs(velocity).max(axis=0))}"
            )


def figs_3_9_3_10(out: Path) -> None:
    iterations = 30
    optimizer = gdjax.rmsprop(RMS_LR, decay=RMS_RHO, eps=RMS_D, eps_in_sqrt=False)
    run = trajectories.run(optimizer, BOWL, starts(RMS_START), iterations, record_state=True)
    accumulated = np.asarray(run.states[0].nu)[:, 0]
    listing, listing_r = book_rmsprop((RMS_LR, RMS_LR), RMS_D, RMS_RHO, RMS_START, iterations)

    ax = plot.paths(
        {
            "RMSProp (gdjax)": run,
            "the book's listing (compounding lr)": trajectories.from_path(listing, BOWL),
        },
        landscape=BOWL,
        colors=["tab:blue", "tab:red"],
        bounds=((-8, 16), (-8, 10)),
    )
    ax.set_title("Seed 000, Fig. 3.9: RMSProp, lr 4, rho 0.9, 30 iterations")
    plot.save(ax, out / "fig3_9_rmsprop.png")

    fig, (left, right) = plot.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    steps = np.arange(iterations + 1)
    plot.state_curves(
        steps, {"x": listing_r[:, 0], "y": listing_r[:, 1]}, left, ylabel="accumulated g∘g (r)"
    )
    left.set_title("Seed 000, Fig. 3.10: r, the book's listing")
    plot.state_curves(run.steps, {"x": accumulated[:, 0], "y": accumulated[:, 1]}, right)
    right.set_title("r, correct RMSProp (gdjax)")
    plot.save(fig, out / "fig3_10_accumulator.png")

    print(f"Figs. 3.9/3.10: RMSProp from {RMS_START}, {iterations} iterations")
    rows = {"correct RMSProp (gdjax)": (np.asarray(run.positions)[:, 0], accumulated)}
    rows["the listing (compounding)"] = (listing, listing_r)
    stalled, rising = {}, {}
    for name, (path, r) in rows.items():
        stalled[name] = path_length(path[-11:]) < 1e-3 and np.linalg.norm(path[-1]) > 0.1
        rising[name] = bool(np.all(np.diff(r[1:, 1]) > 0))
        print(
            f"  {name:<26} ends {show(path[-1])}, {np.linalg.norm(path[-1]):.4f} from the minimum;"
            f" moved {path_length(path[-11:]):.2e} in the last 10 iterations"
        )
        print(
            f"  {'':<26} r_x peaks at iteration {int(np.argmax(r[:, 0]))}, ends {r[-1, 0]:.2f};"
            f" r_y ends {r[-1, 1]:.2f}, rising at every step after the first: {rising[name]}"
        )
    for name in rows:
        if stalled[name] and rising[name]:
            print(
                f"  The text's 'stops before reaching the minimum' and its slowly rising r_y "
                f"(Figs. 3.9, 3.10) match {name}."
            )


def path_length(points: np.ndarray) -> float:
    return float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=-1)))


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    print(ASSUMPTIONS)
    fig_3_4(args.out)
    fig_3_5(args.out)
    figs_3_6_to_3_8(args.out, 80)
    figs_3_9_3_10(args.out)


if __name__ == "__main__":
    main()
