"""Hogwild! for real (Niu et al. 2011; seed 002 §5.1): two processes, one shared vector, no lock.

A sparse logistic regression (20 000 examples, 2 000 features, 10 non-zeros
each, labels from a planted weight vector) trained by SGD in mini-batches of 8,
once by one worker process (serial SGD) and once by two workers that update
the same float32 vector in shared memory without locks
(`gdjax.distributed.hogwild`). Each update touches at most 80 of the 2 000
coordinates, so the two workers rarely write the same ones and their stale
reads hardly matter: both end at about the same loss. The staleness column
counts, per update, the other worker's updates written between its read and
its write. Wall times exclude spawning the workers and compiling their
gradients; any speed-up needs two idle cores.

    python examples/hogwild.py
"""

from __future__ import annotations

import numpy as np

from gdjax.distributed.hogwild import HogwildOptions, hogwild, logistic_loss, sparse_logistic

OPTIONS = HogwildOptions(learning_rate=2.0, epochs=3, batch_size=8, seed=0, timeout=300.0)


def main() -> None:
    design, _ = sparse_logistic(n=20_000, d=2_000, nnz=10, seed=0)
    print(
        f"sparse logistic regression: {design.labels.size:,} examples x 2,000 features, "
        f"{design.indices.shape[1]} non-zeros each; lr {OPTIONS.learning_rate}, "
        f"batch {OPTIONS.batch_size}, {OPTIONS.epochs} epochs"
    )
    print(
        f"{'workers':>7} {'wall time (s)':>14} {'updates per worker':>20} "
        f"{'final loss':>11} {'mean staleness':>15}"
    )
    for workers in (1, 2):
        result = hogwild(
            logistic_loss, np.zeros(2_000, np.float32), design, workers=workers, options=OPTIONS
        )
        updates = ", ".join(str(count) for count in result.updates_per_worker)
        staleness = float(result.staleness_per_worker.mean())
        print(
            f"{workers:>7} {result.wall_time:>14.2f} {updates:>20} "
            f"{result.losses[-1]:>11.4f} {staleness:>15.2f}"
        )
    print(f"(the loss starts at log 2 = {np.log(2):.4f})")


if __name__ == "__main__":
    main()
