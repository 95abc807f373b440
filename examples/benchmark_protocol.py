"""Which optimizer should I use? DeepOBS' protocol on three problems, each tuning one program.

Seed 002 §4.8 asks the question and answers from experience. The protocol of
DeepOBS answers it with numbers: tune each optimizer's learning rate on a log
grid (36 points from 1e-5 to 1e2), rerun the best with 10 seeds, report
performance, speed and tunability, and test the differences. Here every
optimizer's 36 settings on a problem are one compiled program, and so are its
10 reruns (`gdjax.benchmark`). A problem is a small NamedTuple; one of this
example's is written out below to show how a user adds their own.

It prints the Markdown report and writes the learning-rate sensitivity, the
best runs' learning curves and, for Rosenbrock, the best settings' paths.

    python examples/benchmark_protocol.py --out docs/figures
"""

from __future__ import annotations

import _figures
import jax
import jax.numpy as jnp

from gdjax import benchmark, plot
from gdjax.benchmark import Budget, Problem, Tuned, problems

# A problem of one's own: a 20-D ill-conditioned quadratic started from a random
# point (each seed its own); the target is f(x) ≤ 1e-4.
SCALES = jnp.logspace(0, 2, 20)
OWN = Problem(
    name="quadratic_20d",
    init=lambda key: jax.random.normal(key, (20,)),
    loss=lambda x: 0.5 * jnp.sum(SCALES * x * x),
    target=1e-4,
    steps=300,
    minimum=(jnp.zeros(20), 0.0),
)
OPTIMIZERS = (
    Tuned("sgd"),
    Tuned("sgd", fixed={"momentum": 0.9}, name="momentum"),
    Tuned("adagrad"),
    Tuned("adam"),
)


def main() -> None:
    args = _figures.arguments(__doc__)
    rosenbrock = problems.get("rosenbrock")
    chosen = [OWN, rosenbrock, problems.get("sparse_logistic")]
    budget, seeds = (Budget(8), 3) if args.quick else (Budget(36), 10)
    results = benchmark.benchmark(OPTIMIZERS, chosen, budget, seeds, progress=False)
    print(results.report())
    plot.save(plot.sensitivity_figure(results), args.out / "benchmark_sensitivity.png")
    plot.save(plot.curves_figure(results), args.out / "benchmark_curves.png")
    paths = plot.trajectories_figure(
        results, "rosenbrock", rosenbrock.loss, rosenbrock.box, minimum=rosenbrock.minimum[0]
    )
    plot.save(paths, args.out / "benchmark_rosenbrock.png")


if __name__ == "__main__":
    main()
