"""Many training runs as one program: gdjax.training.fit_many against runs one after another.

(1) Seed 001's momentum experiment on scikit-learn's digits: the 64-100-50-10
    sigmoid MLP, mini-batches of 64, 22 runs at lr 1.0 without momentum and 22
    at lr 0.2 with momentum 0.9 (44 runs), as one `fit_many`, against the same
    44 runs one after another with optax (one jitted training program per
    setting, compiled once, then run 22 times).
(2) A 64-learning-rate sweep of SGD on the same model, as one `fit_many`,
    against a loop that builds an optax optimizer from each Python float (a new
    program, compiled, for every rate).

Wall times include compiling; both sides train the same model on the same
batches for the same number of steps.

    python benchmarks/repeated_runs.py           # full run, updates RESULTS.md
    python benchmarks/repeated_runs.py --quick   # a smoke run, prints only
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, write_section

import gdjax
from gdjax.training import Batching, datasets, epoch_batches, fit_many, gather, models

SIZES = (64, 100, 50, 10)


def init(key):
    return models.mlp_init(key, SIZES)


def sequential(optimizer, train, keys, steps: int, batch_size: int) -> float:
    """Trains one run after another with one jitted program (the whole run, a scan)."""
    examples = len(train["y"])
    per_epoch = -(-examples // batch_size)

    @jax.jit
    def run(key):
        params = init(jax.random.fold_in(key, 0))
        state = optimizer.init(params)

        def step(carry, number):
            params, state = carry
            epoch, index = number // per_epoch, number % per_epoch
            batches = epoch_batches(
                jax.random.fold_in(jax.random.fold_in(key, 1), epoch + 1), examples, batch_size
            )
            batch = gather(train, batches.indices[index])
            mask = batches.mask[index].astype(jnp.float32)
            grads = jax.grad(lambda p: jnp.sum(models.mlp_loss(p, batch) * mask) / jnp.sum(mask))(
                params
            )
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(step, (params, state), jnp.arange(steps))
        return params

    began = time.perf_counter()
    for key in keys:
        jax.block_until_ready(run(key))
    return time.perf_counter() - began


def momentum_experiment(train, runs: int, steps: int, batch_size: int) -> dict:
    settings = {"learning_rate": [1.0, 0.2], "momentum": [0.0, 0.9]}
    began = time.perf_counter()
    params, _ = fit_many(
        models.mlp_loss,
        init,
        lambda learning_rate, momentum: gdjax.sgd(learning_rate, momentum),
        train,
        seeds=runs,
        settings=settings,
        steps=steps,
        batching=Batching(batch_size),
        progress=False,
    )
    jax.block_until_ready(params)
    ours = time.perf_counter() - began
    keys = [jax.random.key(s) for s in range(runs)]
    theirs = sum(
        sequential(optax.sgd(lr, momentum=mu or None), train, keys, steps, batch_size)
        for lr, mu in zip(settings["learning_rate"], settings["momentum"], strict=True)
    )
    return {"gdjax fit_many": ours, f"optax, {2 * runs} runs one after another": theirs}


def learning_rate_sweep(train, rates: np.ndarray, steps: int, batch_size: int) -> dict:
    began = time.perf_counter()
    params, _ = fit_many(
        models.mlp_loss,
        init,
        lambda learning_rate: gdjax.sgd(learning_rate),
        train,
        seeds=1,
        settings={"learning_rate": rates},
        steps=steps,
        batching=Batching(batch_size),
        progress=False,
    )
    jax.block_until_ready(params)
    ours = time.perf_counter() - began
    key = [jax.random.key(0)]
    theirs = sum(sequential(optax.sgd(float(lr)), train, key, steps, batch_size) for lr in rates)
    return {"gdjax fit_many": ours, f"optax from Python floats, {len(rates)} programs": theirs}


def table(title: str, rows: dict) -> str:
    base = rows["gdjax fit_many"]
    lines = [
        f"**{title}**",
        "",
        "| variant | seconds (compile included) | speed-up of gdjax |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {name} | {seconds:.3g} | {seconds / base:.3g}x |" for name, seconds in rows.items()
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no RESULTS.md")
    parser.add_argument("--steps", type=int, default=4000, help="steps per run")
    args = parser.parse_args(argv)
    runs, steps, rates = 22, args.steps, np.geomspace(1e-3, 3.0, 64).astype(np.float32)
    if args.quick:
        runs, steps, rates = 2, 20, rates[::16]
    split = datasets.digits()
    sections = [
        table(
            f"(1) the momentum experiment: 2 x {runs} runs x {steps} steps of 64",
            momentum_experiment(split.train, runs, steps, 64),
        ),
        table(
            f"(2) an SGD learning-rate sweep: {len(rates)} rates x {steps} steps of 64",
            learning_rate_sweep(split.train, rates, steps, 64),
        ),
    ]
    for section in sections:
        print(section + "\n", flush=True)
    if not args.quick:
        body = (
            "## Repeated training runs (`benchmarks/repeated_runs.py`)\n\n"
            f"Machine: {machine()}.\n\n"
            "The digits MLP (64-100-50-10, sigmoid), mini-batches of 64; wall times with "
            "compilation. Targets: the 44-run experiment under 2 minutes, and at least 5x "
            "the runs one after another.\n\n" + "\n\n".join(sections)
        )
        write_section("repeated_runs", body)


if __name__ == "__main__":
    main()
