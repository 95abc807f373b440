"""One process of a two-process `fit` on a ZeRO-1 mesh with checkpoints, which
test_multiprocess_checkpoint.py starts, kills and resumes.

    python multiprocess_fit.py DIR OUT --port P --process I [--resume] [--block]

Each process has 2 host CPU devices (the test sets ``XLA_FLAGS``); after
``jax.distributed.initialize`` on loopback the mesh spans all 4, so Adam's
moments of the large layer (ZeRO-1) and that layer's weights are split across
the two processes. The loss holds a `jax.debug.callback` in every run, so
every run compiles the same program.
With ``--block`` the callback, once the checkpoint of epoch 1 is on disk and
epoch 2 has begun, writes ``OUT/blocked{I}`` and sleeps: the run is then
mid-epoch for as long as the test takes to SIGKILL it, and no timing decides
where it stops. Without ``--block`` the process writes ``OUT/process{I}.json``
(its params, history, and the layout of a restored optimizer state); with
``--check-damage`` also what restoring a copy of the last checkpoint says when
the digest of a shard that only process 1 holds was altered in its index.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

EPOCHS = 3
PER_EPOCH = 8  # 256 examples in batches of 32
# The large layer's weights split over the 4 devices too, so that the checkpoints hold
# split params as well as split optimizer moments.
PARAMS = [{"w": P("data"), "b": P()}, P()]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--process", type=int, required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--block", action="store_true")
    parser.add_argument("--check-damage", action="store_true")
    return parser.parse_args()


def watcher(directory: Path, marker: Path | None):
    """The loss's callback: with a ``marker``, blocks once epoch 1's checkpoint exists
    and this process has seen two more calls of the loss (it is then inside epoch 2,
    which has 8 steps)."""
    seen = [0]
    lock = threading.Lock()

    def watch(_) -> None:
        if marker is None or not (directory / str(PER_EPOCH)).is_dir():
            return
        with lock:
            seen[0] += 1
            block = seen[0] >= 2
        if block:
            marker.write_text("blocked in epoch 2")
            time.sleep(600)  # until the test kills this process

    return watch


def problem():
    import gdjax
    from gdjax.training import models

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 64)).astype(np.float32)
    y = rng.integers(0, 10, 256).astype(np.int32)
    # A 64x256 layer: Adam's moments of it (2**14 elements) are split by ZeRO-1.
    params = models.mlp_init(jax.random.key(0), sizes=(64, 256, 10))
    optimizer = gdjax.chain(gdjax.add_noise(0.01, key=1), gdjax.adam(0.01))
    return params, optimizer, {"x": x, "y": y}, {"x": x[:64], "y": y[:64]}


def state_layout(directory: Path, parallel, params, optimizer) -> tuple[list[dict], tuple]:
    """Restores the latest checkpoint into a ZeRO-1 layout: where each leaf of the
    optimizer state went, and whether it is the layout asked for; and the ``like``
    it restored into."""
    from gdjax import checkpoint
    from gdjax.distributed import place
    from gdjax.distributed.layout import OnMesh

    layout = OnMesh(parallel, params, jax.eval_shape(optimizer.init, params))
    like = (
        place(params, layout.param_shardings),
        place(optimizer.init(params), layout.state_shardings),
    )
    restored = checkpoint.restore(directory, like=like)
    layouts = [
        {
            "spec": str(leaf.sharding.spec),
            "same_sharding": leaf.sharding == want.sharding,
            "global": not leaf.is_fully_addressable,
            "local_shapes": [list(s.data.shape) for s in leaf.addressable_shards],
        }
        for leaf, want in zip(
            jax.tree.leaves(restored.opt_state), jax.tree.leaves(like[1]), strict=True
        )
    ]
    return layouts, like


def damaged_restore(directory: Path, like: tuple) -> str:
    """Copies the checkpoints, alters the digest of the last shard of a split leaf in
    the copy's index (a shard process 1 holds), and restores it on both processes:
    each should raise, process 0 too, whose own shards are intact."""
    import shutil

    from jax.experimental import multihost_utils

    from gdjax import checkpoint

    copy = directory.parent / (directory.name + "-damaged")
    step = checkpoint.latest(directory)  # on every process: orbax's listing syncs them
    if jax.process_index() == 0:
        shutil.copytree(directory, copy)
        index_file = copy / str(step) / "index" / "metadata"
        index = json.loads(index_file.read_text())
        leaf = next(
            leaf
            for leaf in index["leaves"]
            if leaf["path"].startswith("opt_state") and len(leaf.get("shards", {})) == 4
        )
        last = max(leaf["shards"], key=lambda name: int(name.split(":")[0]))
        leaf["shards"][last] = "0" * 64
        index_file.write_text(json.dumps(index))
    multihost_utils.sync_global_devices("damaged copy written")
    try:
        checkpoint.restore(copy, like=like)
    except checkpoint.CheckpointError as error:
        return str(error)
    return "restored"


def main() -> None:
    args = arguments()
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{args.port}",
        num_processes=2,
        process_id=args.process,
        initialization_timeout=60,
    )
    from gdjax.distributed import data_parallel, to_host
    from gdjax.training import Batching, Checkpointing, EarlyStopping, Evaluation, fit, models

    params, optimizer, train, validation = problem()
    marker = args.out / f"blocked{args.process}" if args.block else None
    watch = watcher(args.directory, marker)

    def loss(params, batch):
        losses = models.mlp_loss(params, batch)
        jax.debug.callback(watch, losses[0])
        return losses

    parallel = data_parallel(state="sharded", params=PARAMS)
    trained, history = fit(
        loss,
        params,
        optimizer,
        train,
        epochs=EPOCHS,
        batching=Batching(32),
        key=3,
        evaluation=Evaluation(validation),
        early_stopping=EarlyStopping(patience=10),
        progress=False,
        parallel=parallel,
        checkpointing=Checkpointing(args.directory, resume=args.resume),
    )
    report = {
        "devices": len(jax.devices()),
        "params": [to_host(leaf).tolist() for leaf in jax.tree.leaves(trained)],
        "params_dtypes": [str(leaf.dtype) for leaf in jax.tree.leaves(trained)],
        "params_specs": [str(leaf.sharding.spec) for leaf in jax.tree.leaves(trained)],
        "history": {
            name: None if value is None else np.asarray(value).tolist()
            for name, value in history._asdict().items()
        },
    }
    report["state_layout"], like = state_layout(args.directory, parallel, params, optimizer)
    if args.check_damage:
        report["damaged"] = damaged_restore(args.directory, like)
    # A file, not stdout: a full pipe would block the exit barrier.
    (args.out / f"process{args.process}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
