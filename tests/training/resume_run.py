"""A training run that the resume tests start, kill and resume in subprocesses.

One model holds a linear regressor per optimizer, and `gdjax.partition` gives
each its own optimizer, so one run covers every optimizer: add_noise's key,
apply_if_finite's counters, inject_hyperparams' values, and reduce_on_plateau's
state (chained after the partition) are all in the one optimizer state.

    python resume_run.py DIR --epochs E [--kill-after-calls K] [--resume]

``--kill-after-calls K`` sends this process SIGKILL from inside the compiled
program at the loss's call ``K + 1`` (the loss runs once per step and once per
validation), in the middle of an epoch.
"""

from __future__ import annotations

import argparse
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np

import gdjax
from gdjax.training import Batching, Checkpointing, EarlyStopping, Evaluation, fit

OPTIMIZERS = {
    "sgd": lambda: gdjax.sgd(0.05),
    "momentum": lambda: gdjax.sgd(0.05, momentum=0.9),
    "nesterov": lambda: gdjax.sgd(0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda: gdjax.adagrad(0.1),
    "rmsprop": lambda: gdjax.rmsprop(0.01, centered=True, momentum=0.5),
    "adadelta": lambda: gdjax.adadelta(1.0),
    "adam": lambda: gdjax.adam(0.05),
    "adam_nesterov": lambda: gdjax.adam(0.05, nesterov=True),
    "nadam": lambda: gdjax.nadam(0.05),
    "adamw": lambda: gdjax.adamw(0.05),
    "adamax": lambda: gdjax.adamax(0.05),
    "amsgrad": lambda: gdjax.amsgrad(0.05),
    "noisy_sgd": lambda: gdjax.noisy_sgd(0.05, eta=0.01, key=3),
    "apply_if_finite": lambda: gdjax.apply_if_finite(gdjax.adam(0.05), 3),
    "inject_hyperparams": lambda: gdjax.inject_hyperparams(gdjax.sgd)(learning_rate=0.05),
}
PER_EPOCH = 4  # 100 examples in batches of 32, the last one padded


def data() -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32) + 0.3).astype(np.float32)
    return {"x": x, "y": y}, {"x": x[:25], "y": y[:25]}


def initial() -> tuple[dict, gdjax.GradientTransformation]:
    params = {name: {"w": jnp.zeros(3), "b": jnp.zeros(())} for name in OPTIMIZERS}
    labels = {name: {"w": name, "b": name} for name in OPTIMIZERS}
    optimizer = gdjax.chain(
        gdjax.partition({name: make() for name, make in OPTIMIZERS.items()}, labels),
        gdjax.reduce_on_plateau(factor=0.5, patience=1),
    )
    return params, optimizer


def make_loss(kill_after_calls: int | None):
    calls = [0]

    def tick(_):
        calls[0] += 1
        if kill_after_calls is not None and calls[0] > kill_after_calls:
            os.kill(os.getpid(), signal.SIGKILL)

    def loss(params, batch):
        per_model = [batch["x"] @ p["w"] + p["b"] - batch["y"] for p in params.values()]
        losses = sum(r**2 for r in per_model)
        if kill_after_calls is not None:
            jax.debug.callback(tick, losses[0])
        return losses

    return loss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--kill-after-calls", type=int)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    train, validation = data()
    params, optimizer = initial()
    fit(
        make_loss(args.kill_after_calls),
        params,
        optimizer,
        train,
        epochs=args.epochs,
        batching=Batching(32),
        key=11,
        evaluation=Evaluation(validation),
        early_stopping=EarlyStopping(patience=100),
        progress=False,
        checkpointing=Checkpointing(args.directory, resume=args.resume),
    )


if __name__ == "__main__":
    main()
