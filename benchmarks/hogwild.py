"""Hogwild! on shared memory (`gdjax.distributed.hogwild`): 1 vs 2 worker processes.

(1) Sparse logistic regression, `sparse_logistic(n=100_000, d=10_000, nnz=10)`:
    Hogwild!'s regime (an update of 8 examples touches 80 of 10 000
    coordinates). ``hogwild(logistic_loss, zeros, design, workers=1 or 2)`` with
    ``learning_rate=2, batch_size=8`` for 4 epochs (the same total work for
    both). Reported: wall time (from the release of the compiled workers to the
    end; spawning and compiling excluded), updates per second, the wall time to
    reach a target loss, the final loss, and the mean staleness (other workers'
    updates written between a worker's read and its write). The target is fixed
    after the runs from the serial ones: 90% of the way from the starting loss
    (log 2) to the median final loss of serial SGD; each run's time to it is read
    off its loss curve (the params are copied every 0.1 s and evaluated after the
    run), so its resolution is 0.1 s.
(2) A dense, correlated problem, `dense_correlated(n=10_000, d=100,
    correlation=0.8)`: every update writes all 100 coordinates, so concurrent
    updates always collide. Final loss (and wall time) after 3 epochs, 1 vs 2
    workers, at two learning rates.
(3) Seed 004's sigmoid neuron on its sparse feature (`datasets.sparse_features`,
    100 points, 80% of the inputs zero): the params ``(w, b)``; an example with
    ``x = 0`` touches only ``b``. Squared error, one example per update, final loss.

Every figure is the median of ``--repeats`` runs. The machine's 2 cores are
shared by the 2 workers and the parent (which only copies the params every
0.1 s); run it on a quiet machine.

    python benchmarks/hogwild.py           # full run (about 3-4 minutes), updates RESULTS.md
    python benchmarks/hogwild.py --quick   # a smoke run on small problems, prints only
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, write_section

from gdjax.distributed.hogwild import (
    HogwildOptions,
    HogwildResult,
    SparseDesign,
    dense_correlated,
    hogwild,
    logistic_loss,
    sparse_logistic,
)
from gdjax.training import datasets

SPARSE = {"n": 100_000, "d": 10_000, "nnz": 10}
SPARSE_QUICK = {"n": 20_000, "d": 2_000, "nnz": 10}
SPARSE_OPTIONS = HogwildOptions(
    learning_rate=2.0, epochs=4, batch_size=8, record_every=0.1, timeout=600.0
)
DENSE = {"n": 10_000, "d": 100, "correlation": 0.8}
DENSE_QUICK = {"n": 2_000, "d": 100, "correlation": 0.8}
DENSE_OPTIONS = HogwildOptions(epochs=3, batch_size=8, record_every=0.1, timeout=600.0)
DENSE_RATES = (0.01, 0.04)
SEED004_OPTIONS = HogwildOptions(
    learning_rate=1.0, epochs=100, batch_size=1, record_every=0.1, timeout=600.0
)
TARGET_SHARE = 0.9


def sigmoid_squared_loss(rows: jax.Array, values: jax.Array, labels: jax.Array) -> jax.Array:
    """Seed 004's loss of one sigmoid neuron: mean of ``(σ(w x + b) - y)²``."""
    prediction = jax.nn.sigmoid(jnp.sum(rows * values, axis=1))
    return jnp.mean((prediction - labels) ** 2)


def seed004_design(n: int = 100) -> SparseDesign:
    """`datasets.sparse_features` as a sparse design over ``(w, b)``: ``[w, b]·[x, 1]``,
    and for ``x = 0`` ``[b, b]·[0, 1]`` (the example touches only ``b``)."""
    data = datasets.sparse_features(n=n)
    x = data["x"]
    indices = np.where((x == 0)[:, None], [1, 1], [0, 1]).astype(np.int32)
    values = np.stack([x, np.ones_like(x)], axis=1).astype(np.float32)
    return SparseDesign(indices, values, data["y"])


def run(loss, design: SparseDesign, workers: int, options: HogwildOptions) -> HogwildResult:
    dim = int(design.indices.max()) + 1
    return hogwild(loss, np.zeros(dim, np.float32), design, workers=workers, options=options)


def time_to(result: HogwildResult, target: float) -> float:
    """The first recorded time at which the loss is ≤ ``target`` (NaN if never)."""
    reached = np.flatnonzero(result.losses <= target)
    return float(result.times[reached[0]]) if reached.size else float("nan")


def median(values) -> float:
    return float(statistics.median(values))


def sparse_table(size: dict, repeats: int) -> str:
    design, _ = sparse_logistic(**size, seed=0)
    runs = {
        workers: [run(logistic_loss, design, workers, SPARSE_OPTIONS) for _ in range(repeats)]
        for workers in (1, 2)
    }
    start = float(runs[1][0].losses[0])
    serial_end = median(r.losses[-1] for r in runs[1])
    target = serial_end + (1 - TARGET_SHARE) * (start - serial_end)
    lines = [
        f"Sparse logistic regression {size['n']:,} x {size['d']:,}, nnz {size['nnz']}, "
        f"lr {SPARSE_OPTIONS.learning_rate}, batch {SPARSE_OPTIONS.batch_size}, "
        f"{SPARSE_OPTIONS.epochs} epochs; target loss {target:.4f} (start {start:.4f}).",
        "",
        "| workers | wall time (s) | updates/s | time to target (s) | final loss | "
        "mean staleness |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, results in runs.items():
        rate = median(r.updates_per_worker.sum() / r.wall_time for r in results)
        lines.append(
            f"| {workers} | {median(r.wall_time for r in results):.2f} | {rate:,.0f} | "
            f"{median(time_to(r, target) for r in results):.2f} | "
            f"{median(r.losses[-1] for r in results):.4f} | "
            f"{median(r.staleness_per_worker.mean() for r in results):.2f} |"
        )
    return "\n".join(lines)


def dense_table(size: dict, repeats: int) -> str:
    design, _ = dense_correlated(**size, seed=0)
    lines = [
        f"Dense correlated logistic regression {size['n']:,} x {size['d']}, correlation "
        f"{size['correlation']} (every update writes every coordinate), batch "
        f"{DENSE_OPTIONS.batch_size}, {DENSE_OPTIONS.epochs} epochs.",
        "",
        "| learning rate | workers | final loss | wall time (s) | mean staleness |",
        "|---:|---:|---:|---:|---:|",
    ]
    for rate in DENSE_RATES:
        options = DENSE_OPTIONS._replace(learning_rate=rate)
        for workers in (1, 2):
            results = [run(logistic_loss, design, workers, options) for _ in range(repeats)]
            lines.append(
                f"| {rate} | {workers} | {median(r.losses[-1] for r in results):.4f} | "
                f"{median(r.wall_time for r in results):.2f} | "
                f"{median(r.staleness_per_worker.mean() for r in results):.2f} |"
            )
    return "\n".join(lines)


def seed004_table(repeats: int, epochs: int) -> str:
    design = seed004_design()
    options = SEED004_OPTIONS._replace(epochs=epochs)
    lines = [
        f"Seed 004's sigmoid neuron on its sparse feature (100 points, 80% zero inputs), "
        f"squared error, lr {options.learning_rate}, one example per update, {epochs} epochs.",
        "",
        "| workers | final loss | wall time (s) |",
        "|---:|---:|---:|",
    ]
    for workers in (1, 2):
        results = [run(sigmoid_squared_loss, design, workers, options) for _ in range(repeats)]
        lines.append(
            f"| {workers} | {median(r.losses[-1] for r in results):.3g} | "
            f"{median(r.wall_time for r in results):.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problems, print only")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    tables = [
        sparse_table(SPARSE_QUICK if args.quick else SPARSE, repeats),
        dense_table(DENSE_QUICK if args.quick else DENSE, repeats),
        seed004_table(repeats, 10 if args.quick else SEED004_OPTIONS.epochs),
    ]
    body = "\n\n".join(
        [
            "## Hogwild! on shared memory (`benchmarks/hogwild.py`)",
            f"Machine: {machine()}. Median of {repeats} runs; wall times from the release "
            "of the compiled workers (spawning and compiling excluded).",
            *tables,
        ]
    )
    print(body)
    if not args.quick:
        write_section("hogwild", body)


if __name__ == "__main__":
    main()
