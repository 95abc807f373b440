"""Seed 004: GD, momentum and NAG against AdaGrad, RMSProp and Adam when the feature is sparse.

The blog (after Mitesh Khapra's CS7015 lecture 5) trains one sigmoid neuron
y = σ(w x + b) on 100 random (x, y) pairs, about 80% of which have x = 0, and
draws the paths in the (w, b) plane: GD black, momentum red, NAG blue, then
AdaGrad (magenta), RMSProp and Adam. Its observations:

1. GD, momentum and NAG first move mostly along b (vertically): w's feature
   is zero for most points, so w's gradient is small.
2. AdaGrad gives w a larger effective learning rate, hence larger updates.
3. AdaGrad then stalls near convergence as its accumulated squares keep
   growing; RMSProp's moving average avoids that.
4. Adam overshoots a little but converges much faster than the others.

The toy data set is `gdjax.training.datasets.sparse_features` (seed 0): x
uniform in [0.5, 2.5] with exactly 80 of the 100 set to 0, and y = σ(2 x - 1)
(noise-free, so the minimum is (w*, b*) = (2, -1) with loss 0). The loss is
the mean squared error 0.5 * mean((σ(w x + b) - y)²) as a function of one (2,)
point (w, b). Every optimizer starts at (-2, -2) and takes the same number of
steps; AdaGrad and RMSProp follow the blog's code (accumulators start at 0,
eps inside the root).
The script prints what each run shows for each observation.

    python examples/sparse_features.py --out docs/figures
"""

from __future__ import annotations

import _figures
import jax
import jax.numpy as jnp
import numpy as np

import gdjax
from gdjax import plot, trajectories
from gdjax.training import datasets

TRUE_W, TRUE_B = 2.0, -1.0
START = (-2.0, -2.0)
STEPS = 300
TOL = 0.05  # distance to (w*, b*) counted as converged
GD_LR, ADAPTIVE_LR, MU = 5.0, 0.1, 0.9
BOUNDS = ((-3.0, 7.5), (-3.0, 1.0))  # momentum overshoots to w = 7


TOY = datasets.sparse_features(n=100, zero_fraction=0.8, seed=0, w=TRUE_W, b=TRUE_B)
X, Y = jnp.asarray(TOY["x"]), jnp.asarray(TOY["y"])


def loss(point: jax.Array) -> jax.Array:
    """Mean squared error of σ(w x + b) at ``point = (..., [w, b])``, batched over leading axes."""
    w, b = point[..., 0:1], point[..., 1:2]
    return 0.5 * jnp.mean((jax.nn.sigmoid(w * X + b) - Y) ** 2, axis=-1)


OPTIMIZERS = {
    "GD": gdjax.sgd(GD_LR),
    "momentum": gdjax.sgd(GD_LR, momentum=MU),
    "NAG": gdjax.sgd(GD_LR, momentum=MU, nesterov=True),
    "AdaGrad": gdjax.adagrad(ADAPTIVE_LR, initial_accumulator_value=0.0, eps=1e-8),
    "RMSProp": gdjax.rmsprop(ADAPTIVE_LR, decay=0.9, eps=1e-8),
    "Adam": gdjax.adam(ADAPTIVE_LR),
}
# The blog's colours: GD black, momentum red, NAG blue, AdaGrad magenta.
COLORS = {"GD": "k", "momentum": "tab:red", "NAG": "tab:blue", "AdaGrad": "m"}
COLORS |= {"RMSProp": "tab:green", "Adam": "tab:orange"}


def run(name: str, steps: int) -> trajectories.Trajectories:
    iterate = trajectories.nesterov_iterate(GD_LR, MU) if name == "NAG" else None
    result = trajectories.run(
        OPTIMIZERS[name],
        loss,
        np.array([START]),
        steps,
        record_state=name == "AdaGrad",
        tol=TOL,
        minima=[(TRUE_W, TRUE_B)],
        iterate=iterate,
    )
    if iterate is not None:  # draw NAG at its iterate, not the look-ahead params
        result = result._replace(positions=result.iterates, final=result.iterates[-1])
    return result


def panel(ax, runs: dict, names: list[str], title: str) -> None:
    plot.contour(loss, ax, bounds=BOUNDS, levels=15)
    every = max(1, len(runs[names[0]].steps) // 100)
    plot.paths(
        {name: runs[name] for name in names},
        ax,
        colors=[COLORS[name] for name in names],
        every=every,
        markersize=3,
        legend="lower right",
    )
    ax.plot(TRUE_W, TRUE_B, "k+", ms=12, mew=2)
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.set_title(title)


def report(runs: dict, steps: int) -> None:
    target = np.array([TRUE_W, TRUE_B])
    print(
        f"Seed 004: sigmoid neuron, {int(np.sum(X == 0))}/{len(X)} inputs x = 0, "
        f"(w*, b*) = ({TRUE_W}, {TRUE_B}), start {START}, {steps} steps"
    )
    print(f"  GD/momentum/NAG lr {GD_LR} (mu {MU}); AdaGrad/RMSProp/Adam lr {ADAPTIVE_LR}")
    print(f"  {'optimizer':<9}{'final (w, b)':>20}{'loss':>11}{'steps to 0.05':>15}")
    hits = {name: int(r.steps_to_tol[0]) for name, r in runs.items()}
    for name, r in runs.items():
        w, b = np.asarray(r.final)[0]
        hit = hits[name] if hits[name] >= 0 else "never"
        print(f"  {name:<9}{f'({w:.3f}, {b:.3f})':>20}{float(r.final_value[0]):>11.2e}{hit:>15}")

    print("1. GD-family, share of the first 10 steps' movement along b:")
    shares = {}
    for name in ("GD", "momentum", "NAG"):
        path = np.asarray(runs[name].positions)[:11, 0]
        dw, db = np.abs(np.diff(path, axis=0)).sum(axis=0)
        shares[name] = db / (dw + db)
        print(f"   {name:<9} |dw| {dw:.3f}  |db| {db:.3f}  along b: {shares[name]:.0%}")
    print(f"   mostly along b at first: {all(share > 0.5 for share in shares.values())}")

    # The state recorded at step k is the accumulator after k updates.
    accumulated = np.asarray(runs["AdaGrad"].states[0].sum_of_squares)[:, 0]
    print("2. AdaGrad's effective learning rate lr / sqrt(r), for w and for b:")
    for k in (1, 10, steps // 3, steps):
        w_rate, b_rate = ADAPTIVE_LR / np.sqrt(accumulated[k] + 1e-8)
        print(
            f"   after {k:>3} steps: w {w_rate:8.4f}  b {b_rate:8.4f}  w/b {w_rate / b_rate:5.2f}"
        )

    print("3. distance to (w*, b*) at 1/3, 2/3 and the end of the run:")
    thirds = [steps // 3, 2 * steps // 3, steps]
    final_gap = {}
    for name in ("AdaGrad", "RMSProp", "Adam"):
        path = np.asarray(runs[name].positions)[:, 0]
        gaps = [np.linalg.norm(path[k] - target) for k in thirds]
        final_gap[name] = gaps[-1]
        columns = "".join(f"  {k:>3} steps: {gap:.4f}" for k, gap in zip(thirds, gaps, strict=True))
        print(f"   {name:<9}{columns}")
    print(f"   farthest after {steps} steps: {max(final_gap, key=final_gap.get)}")

    print("4. overshoot past w* (max w - w*) and steps to within 0.05:")
    for name in ("AdaGrad", "RMSProp", "Adam"):
        overshoot = max(0.0, np.asarray(runs[name].positions)[:, 0, 0].max() - TRUE_W)
        hit = hits[name] if hits[name] >= 0 else "never"
        print(f"   {name:<9} overshoot {overshoot:.3f}  steps {hit}")
    arrived = {name: hit for name, hit in hits.items() if hit >= 0}
    if arrived:
        fastest = min(arrived, key=arrived.get)
        print(f"   fastest of all six to within 0.05: {fastest} ({arrived[fastest]} steps)")


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    runs = {name: run(name, STEPS) for name in OPTIMIZERS}

    figures = (
        [
            ("GD", "momentum", "NAG"),
            "Seed 004, first figure: GD (black), momentum (red), NAG (blue)",
            "seed004_gd_momentum_nag.png",
        ],
        [
            ("AdaGrad", "RMSProp", "Adam"),
            "Seed 004: AdaGrad (magenta), RMSProp (green), Adam (orange)",
            "seed004_adagrad_rmsprop_adam.png",
        ],
    )
    for names, title, filename in figures:
        ax = plot.subplots(figsize=(9, 5))[1]
        panel(ax, runs, list(names), title)
        plot.save(ax, args.out / filename)
    report(runs, STEPS)


if __name__ == "__main__":
    main()
