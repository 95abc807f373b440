"""Data-parallel training of the digits MLP on a mesh of devices, and across processes.

The MLP is 64-256-128-10, trained with Adam. Each batch of 128 is split over
the devices of the mesh, XLA reduces the gradients, and the result equals the
one-device run to float tolerance. With ``--zero`` the Adam moments are
sharded over the devices (ZeRO-1): the script prints the optimizer state's
bytes on each device and the layout of its largest leaf, a quarter of it on
each of 4 devices. Without a GPU, host devices stand in for real ones (they
share the CPU's cores):

    python examples/data_parallel.py --devices 4 [--zero]

Across processes on one machine (or several, with the coordinator's address):
each process runs the same script with its own ``--process``; the mesh then
spans every process's devices:

    python examples/data_parallel.py --devices 2 --processes 2 --process 0 --port 12355 &
    python examples/data_parallel.py --devices 2 --processes 2 --process 1 --port 12355
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--devices", type=int, default=4, help="host devices per process")
    parser.add_argument("--zero", action="store_true", help="shard the optimizer state")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--process", type=int, default=0)
    parser.add_argument("--port", type=int, default=12355)
    args = parser.parse_args(argv)
    # Host devices must be asked for before JAX starts.
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"

    import jax

    if args.processes > 1:
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{args.port}",
            num_processes=args.processes,
            process_id=args.process,
        )
    import jax.numpy as jnp
    import numpy as np

    import gdjax
    from gdjax.distributed import data_parallel, to_host
    from gdjax.training import Batching, datasets, fit, models

    data = datasets.digits()
    # Layers of 64x256 and 256x128 weights: Adam's moments of them are large enough
    # for ZeRO-1 to split (leaves of 2**14 elements and more).
    params = models.mlp_init(jax.random.key(0), sizes=(64, 256, 128, 10))
    options = dict(epochs=args.epochs, batching=Batching(128), key=1, progress=False)
    layout = data_parallel(state="sharded" if args.zero else None)
    print(
        f"process {jax.process_index()} of {jax.process_count()}: mesh {dict(layout.mesh.shape)} "
        f"over {len(jax.devices())} devices, {len(jax.local_devices())} of them here"
    )
    for line in state_layout(layout, gdjax.adam(0.01), params):
        print(line)
    sharded, history = fit(
        models.mlp_loss, params, gdjax.adam(0.01), data.train, parallel=layout, **options
    )
    single, single_history = fit(models.mlp_loss, params, gdjax.adam(0.01), data.train, **options)

    def accuracy(p) -> float:
        outputs = models.mlp_apply(p, data.test["x"])
        return float(jnp.mean(models.correct(outputs, data.test["y"])))

    local = jax.tree.map(to_host, sharded)
    difference = max(
        float(np.max(np.abs(a - np.asarray(b))))
        for a, b in zip(jax.tree.leaves(local), jax.tree.leaves(single), strict=True)
    )
    print(
        f"steps: {history.step_loss.size}, final loss {history.step_loss[-1]:.6f} on the mesh, "
        f"{single_history.step_loss[-1]:.6f} on one device"
    )
    print(f"test accuracy {accuracy(local):.4f} on the mesh, {accuracy(single):.4f} on one device")
    print(f"largest difference in the params: {difference:.2e}")


def state_layout(layout, optimizer, params) -> list[str]:
    """Where `fit` keeps the optimizer state on the mesh: the state built as `fit` builds
    it (its ``init`` compiled with the layout's shardings), its bytes on each of this
    process's devices, and the spec of its largest leaf."""
    import jax

    from gdjax.distributed import place

    shardings = layout.state_shardings(jax.eval_shape(optimizer.init, params))
    placed = place(params, layout.param_shardings(params))
    state = jax.jit(optimizer.init, out_shardings=shardings)(placed)
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    total = sum(leaf.nbytes for _, leaf in leaves)
    on_device = {device: 0 for device in jax.local_devices()}
    for _, leaf in leaves:
        for shard in leaf.addressable_shards:
            on_device[shard.device] += shard.data.nbytes
    path, largest = max(leaves, key=lambda item: item[1].size)
    shard = largest.addressable_shards[0].data.shape
    return [
        f"optimizer state: {total:,} bytes, on each device "
        + ", ".join(f"{n:,}" for n in on_device.values()),
        f"its largest leaf state{jax.tree_util.keystr(path)} {largest.shape}: spec "
        f"{largest.sharding.spec}, {shard} on each device",
    ]


if __name__ == "__main__":
    main()
