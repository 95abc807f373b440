"""Checkpoints and exact resume: the digits MLP trained in two sittings equals one run.

Trains the 64-100-50-10 MLP with Adam and annealed gradient noise for 10
epochs in one go, then again in two sittings: 5 epochs saving a checkpoint
after each (``checkpointing=Checkpointing(directory)``), and a second call
with ``Checkpointing(directory, resume=True)`` that continues from the last
one. The two runs end bit for bit equal (params, optimizer state with the
noise key, history). Then it shows `gdjax.checkpoint.restore` refusing a
model of another shape. A few seconds on a CPU:

    python examples/checkpoint_resume.py --dir /tmp/gdjax-run
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import gdjax
from gdjax import checkpoint
from gdjax.training import Batching, Checkpointing, Evaluation, datasets, fit, models


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--dir", type=Path, help="checkpoint directory (default: a temporary one)")
    args = parser.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="gdjax-run-"))
    shutil.rmtree(root / "two-sittings", ignore_errors=True)

    data = datasets.digits()
    params = models.mlp_init(jax.random.key(0), sizes=(64, 100, 50, 10))
    optimizer = gdjax.chain(gdjax.add_noise(1e-6, key=1), gdjax.adam(0.01))
    options = dict(batching=Batching(64), key=2, evaluation=Evaluation(data.test), progress=False)

    def accuracy(p) -> float:
        return float(jnp.mean(models.correct(models.mlp_apply(p, data.test["x"]), data.test["y"])))

    straight, history = fit(models.mlp_loss, params, optimizer, data.train, epochs=10, **options)
    print(f"one run of 10 epochs:        test accuracy {accuracy(straight):.4f}")

    directory = root / "two-sittings"
    fit(
        models.mlp_loss,
        params,
        optimizer,
        data.train,
        epochs=5,
        checkpointing=Checkpointing(directory),
        **options,
    )
    print(f"first sitting, 5 epochs:     checkpoints at steps {checkpoint.steps(directory)}")
    resumed, resumed_history = fit(
        models.mlp_loss,
        params,
        optimizer,
        data.train,
        epochs=10,
        checkpointing=Checkpointing(directory, resume=True),
        **options,
    )
    print(f"second sitting, to epoch 10: test accuracy {accuracy(resumed):.4f}")
    pairs = zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True)
    same = all(np.array_equal(a, b) for a, b in pairs)
    same_history = np.array_equal(history.step_loss, resumed_history.step_loss)
    print(f"bit-identical params: {same}; identical loss history: {same_history}")

    wider = models.mlp_init(jax.random.key(0), sizes=(64, 120, 50, 10))
    try:
        checkpoint.restore(directory, like=(wider, optimizer.init(wider)))
    except checkpoint.CheckpointError as error:
        print(f"restoring into a wider model is refused:\n  {error}")


if __name__ == "__main__":
    main()
