"""Seed 002 §6.1, §6.2 and §6.3 experiments: their runs as fit_many programs against runs
one after another.

(1) `gdjax.experiments.order`: the digits ReLU MLP (64-100-100-10), SGD lr
    0.05, mini-batches of 32, 20 epochs, 10 seeds in each of three orders
    (shuffled, sorted by class, easy-first curriculum), the validation loss
    after every epoch: three `fit_many` programs (one per order, vmapped over
    the seeds), against the same 30 runs one after another with optax (one
    jitted program per order, the whole run a scan, compiled once and run 10
    times).
(2) `gdjax.experiments.early_stopping`: the 64-256-256-10 MLP, Adam lr 1e-3,
    200 training digits in mini-batches of 20, 60 epochs, 10 seeds, the
    validation loss and the test MCC after every epoch: one `fit_many`
    program against 10 runs of one jitted optax program.
(3) `gdjax.experiments.batchnorm`: the sigmoid MLP 64-100-50-10 with and without
    batch normalization, SGD, mini-batches of 64, 1,000 steps, 5 seeds at 7
    learning rates and at 5 init scales (lr 1): two `fit_many` programs (one
    per network, vmapped over rates × seeds) and one per network and init scale,
    against the same 120 runs one after another with optax (a hand-written
    loop that carries the running averages beside the params; one jitted
    program per network, the rate and the scale its arguments, compiled once).

Wall times include compiling (gdjax's: the experiments' own ``seconds``, the
training programs alone); both sides train the same model on the same
batches for the same number of steps and evaluate after every epoch. This
script prints its tables and writes nothing:

    python benchmarks/experiments_order.py           # the defaults, updates RESULTS.md
    python benchmarks/experiments_order.py --quick   # a smoke run, prints only
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, write_section

import gdjax
from gdjax.training import datasets, epoch_batches, gather, models

order_module = importlib.import_module("gdjax.experiments.order")
early_module = importlib.import_module("gdjax.experiments.early_stopping")
bn_module = importlib.import_module("gdjax.experiments.batchnorm")


def loss_fn(params, batch):
    return models.cross_entropy(models.deep_mlp_apply(params, batch["x"]), batch["y"])


def sequential(run_setup: dict, optimizer, keys: list, order: Any = None) -> float:
    """Trains one run after another with one jitted program (every epoch a scan, then
    the evaluation); returns the wall time of all of them."""
    train, evaluate = run_setup["train"], run_setup["evaluate"]
    examples, batch_size = len(train["y"]), run_setup["batch_size"]

    @jax.jit
    def run(key):
        params = run_setup["init"](jax.random.fold_in(key, 0))
        state = optimizer.init(params)

        def epoch(carry, number):
            def step(carry, batch):
                params, state = carry
                indices, mask = batch
                examples_ = gather(train, indices)
                weights = mask.astype(jnp.float32)

                def batch_loss(p):
                    return jnp.sum(loss_fn(p, examples_) * weights) / jnp.sum(weights)

                updates, state = optimizer.update(jax.grad(batch_loss)(params), state, params)
                return (optax.apply_updates(params, updates), state), None

            batches = epoch_batches(
                jax.random.fold_in(jax.random.fold_in(key, 1), number),
                examples,
                batch_size,
                shuffle=order is None,
                order=order,
            )
            carry, _ = jax.lax.scan(step, carry, (batches.indices, batches.mask))
            return carry, evaluate(carry[0])

        _, curves = jax.lax.scan(epoch, (params, state), jnp.arange(1, run_setup["epochs"] + 1))
        return curves

    began = time.perf_counter()
    for key in keys:
        jax.block_until_ready(run(key))
    return time.perf_counter() - began


def order_benchmark(runs: int, epochs: int) -> dict:
    # The training programs' own time (result.seconds): not the margin fit, scoring, stats.
    ours = float(gdjax.experiments.order(runs=runs, epochs=epochs, progress=False).seconds.sum())
    train, validation, _ = order_module._split()
    orders = (
        order_module.class_order(train["y"]),
        order_module.curriculum_order(order_module.logistic_margin(train)),
    )
    run_setup = {
        "train": train,
        "batch_size": 32,
        "epochs": epochs,
        "init": lambda key: models.deep_mlp_init(key, 64, 100, 2, 10),
        "evaluate": lambda p: jnp.mean(loss_fn(p, validation)),
    }
    keys = [jax.random.key(s) for s in range(runs)]
    theirs = sum(sequential(run_setup, optax.sgd(0.05), keys, order) for order in (None, *orders))
    return {
        "gdjax fit_many (3 programs)": ours,
        f"optax, {3 * runs} runs one after another": theirs,
    }


def early_stopping_benchmark(runs: int, epochs: int) -> dict:
    ours = gdjax.experiments.early_stopping(runs=runs, epochs=epochs, progress=False).seconds
    train, validation = early_module._split(200)
    mcc = early_module._digits_test_mcc()
    run_setup = {
        "train": train,
        "batch_size": 20,
        "epochs": epochs,
        "init": lambda key: models.deep_mlp_init(key, 64, 256, 2, 10),
        "evaluate": lambda p: (jnp.mean(loss_fn(p, validation)), mcc(p, None)),
    }
    keys = [jax.random.key(s) for s in range(runs)]
    theirs = sequential(run_setup, optax.adam(1e-3), keys)
    return {"gdjax fit_many (1 program)": ours, f"optax, {runs} runs one after another": theirs}


def _plain_loss(params, state, batch, mask):
    return models.mlp_loss(params, batch), state


def _bn_loss(params, state, batch, mask):
    return models.bn_mlp_loss(params, state, batch, mask)


def _plain_init(key, scale):
    return models.mlp_init(key, (64, 100, 50, 10), scale), {}


def _bn_init(key, scale):
    return models.bn_mlp_init(key, (64, 100, 50, 10), scale)


def sequential_stateful(train: dict, loss: Any, init: Any, steps: int, runs: list) -> float:
    """Trains ``runs`` ``[(seed, learning_rate, scale), ...]`` one after another with
    optax SGD and the model state carried by hand (every step the loss in training
    mode over the batch's real examples returns the new running averages); one jitted
    program, the rate and scale its arguments. Returns the wall time of all of them."""
    examples, batch_size = len(train["y"]), 64
    per_epoch = -(-examples // batch_size)
    epochs = -(-steps // per_epoch)

    @jax.jit
    def run(key, learning_rate, scale):
        params, model_state = init(jax.random.fold_in(key, 0), scale)
        optimizer = optax.sgd(learning_rate)

        def epoch(carry, number):
            def step(carry, batch):
                params, model_state, opt_state, count = carry
                indices, mask = batch
                examples_ = gather(train, indices)
                weights = mask.astype(jnp.float32)

                def batch_loss(p):
                    losses, new_state = loss(p, model_state, examples_, mask)
                    return jnp.sum(losses * weights) / jnp.sum(weights), new_state

                grads, new_state = jax.grad(batch_loss, has_aux=True)(params)
                updates, new_opt = optimizer.update(grads, opt_state, params)
                # Steps past ``steps`` (the tail of the last epoch) change nothing.
                live = count < steps
                new = (optax.apply_updates(params, updates), new_state, new_opt)
                kept = jax.tree.map(
                    lambda a, b: jnp.where(live, a, b), new, (params, model_state, opt_state)
                )
                return (*kept, count + 1), None

            batches = epoch_batches(
                jax.random.fold_in(jax.random.fold_in(key, 1), number), examples, batch_size
            )
            carry, _ = jax.lax.scan(step, carry, (batches.indices, batches.mask))
            return carry, None

        start = (params, model_state, optimizer.init(params), jnp.int32(0))
        (params, model_state, _, _), _ = jax.lax.scan(epoch, start, jnp.arange(epochs))
        return params, model_state

    began = time.perf_counter()
    for seed, learning_rate, scale in runs:
        jax.block_until_ready(run(jax.random.key(seed), learning_rate, scale))
    return time.perf_counter() - began


def batchnorm_benchmark(runs: int, steps: int, axes: dict) -> dict:
    """``axes``: the experiment's ``learning_rates`` and ``scales`` (empty: its own)."""
    result = gdjax.experiments.batchnorm(runs=runs, steps=steps, progress=False, **axes)
    ours = float(result.seconds.sum() + result.scale_seconds.sum())
    train = datasets.digits().train
    grid = [(s, float(lr), 0.5) for lr in result.learning_rates for s in range(runs)]
    grid += [(s, result.scale_rate, float(sc)) for sc in result.scales for s in range(runs)]
    theirs = sum(
        sequential_stateful(train, loss, init, steps, grid)
        for loss, init in ((_plain_loss, _plain_init), (_bn_loss, _bn_init))
    )
    calls = 2 + 2 * len(result.scales)
    return {
        f"gdjax fit_many ({calls} calls)": ours,
        f"optax, {2 * len(grid)} runs one after another": theirs,
    }


def table(title: str, rows: dict) -> str:
    base = next(iter(rows.values()))
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
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    args = parser.parse_args(argv)
    runs, order_epochs, early_epochs = (2, 2, 3) if args.quick else (10, 20, 60)
    bn_runs, bn_steps = (2, 50) if args.quick else (5, 1000)
    # --quick: 2 rates and 2 scales, 6 fit_many calls instead of 12.
    bn_grid = {"learning_rates": (0.5, 3.0), "scales": (0.5, 2.0)} if args.quick else {}
    bn_rates = len(bn_grid.get("learning_rates", bn_module.BATCHNORM_RATES))
    bn_scales = len(bn_grid.get("scales", bn_module.BATCHNORM_SCALES))
    sections = [
        table(
            f"(1) order: 3 orders x {runs} runs x {order_epochs} epochs",
            order_benchmark(runs, order_epochs),
        ),
        table(
            f"(2) early stopping: {runs} runs x {early_epochs} epochs",
            early_stopping_benchmark(runs, early_epochs),
        ),
        table(
            f"(3) batch normalization: 2 networks x ({bn_rates} rates + {bn_scales} scales) x "
            f"{bn_runs} runs x {bn_steps} steps",
            batchnorm_benchmark(bn_runs, bn_steps, bn_grid),
        ),
    ]
    for section in sections:
        print(section + "\n", flush=True)
    if not args.quick:
        body = (
            "## Seed 002 §6.1, §6.2 and §6.3 experiments: fit_many against runs one after "
            "another "
            "(`benchmarks/experiments_order.py`)\n\n"
            f"Machine: {machine()}.\n\n"
            "Wall times, compilation included; both sides train the same model on the same "
            "batches and evaluate after every epoch. At these sizes the runs one after "
            "another are faster: `fit_many`'s fixed costs (compiling the vmapped init and "
            "some twenty small programs, a host round trip per epoch) exceed what vmapping "
            "ten small runs saves; and the batch-normalization grid is 12 fit_many calls "
            "(fit_many varies the optimizer, not init's scale), which share their compiled "
            "programs (each network's init takes the scale as data) where the loop takes "
            "the rate and scale as arguments of its one program per network.\n\n"
            + "\n\n".join(sections)
        )
        write_section("experiments_order", body)


if __name__ == "__main__":
    main()
