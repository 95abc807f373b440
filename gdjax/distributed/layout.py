"""Where a training run's arrays live: on one device, on the mesh of a `DataParallel`,
or, for `fit_many`, its runs split over the devices of a `RunParallel`.

A layout answers the training driver's few questions about devices: where its
inputs go before the first epoch, how the compiled epoch pins its batches,
gradients, params and optimizer state, and how results come back to the host.
`SingleDevice` answers each with "as they are", so the driver runs one device
and a mesh through the same code; `OnMesh` answers from a `DataParallel`'s specs;
`RunsOnMesh` puts each run whole on one device, the data on every device.

Each layout names its own ``key()``: what the compiled epoch depends on, so the
training programs are shared between layouts that compile the same program and
never between two that do not. And each pins the epoch's outputs where its
inputs were (``epoch_shardings``): the arrays one epoch returns are those the
next one takes, so the second epoch reuses the first one's program.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gdjax.distributed.data_parallel import DataParallel, constrain, place, to_host


class Layout(Protocol):
    """What the training driver asks of a layout."""

    state_shardings: Any
    """``out_shardings`` of the optimizer state's ``init`` (None: as JAX chooses)."""

    epoch_shardings: Any
    """``out_shardings`` of the epoch, whose outputs are ``(params, state, model_state,
    losses, failed)``: where the next epoch takes them (None: as JAX chooses)."""

    def key(self) -> Hashable:
        """What the compiled epoch depends on: equal keys, one program."""

    def place_params(self, params: Any) -> Any:
        """The initial params, on the run's devices."""

    def replicate(self, tree: Any) -> Any:
        """Inputs every device reads whole: the data."""

    def per_run(self, tree: Any) -> Any:
        """Inputs with the run axes in front: hyperparameters, keys, model state."""

    def batch(self, tree: Any) -> Any:
        """Inside the epoch: a batch, split over the devices."""

    def grads(self, tree: Any) -> Any:
        """Inside the epoch: the reduced gradients, where the update needs them."""

    def params(self, tree: Any) -> Any:
        """Inside the epoch: the updated params, kept in their layout."""

    def state(self, tree: Any) -> Any:
        """Inside the epoch: the updated optimizer state, kept in its layout."""

    def host(self, x: Any) -> np.ndarray:
        """``x`` as a NumPy array on this process."""


class SingleDevice:
    """One run on the default device: every placement leaves its arrays as they are."""

    state_shardings = None
    epoch_shardings = None

    def key(self) -> Hashable:
        # The type, not SingleDevice: a subclass that places otherwise is another program.
        return (type(self),)

    def place_params(self, params: Any) -> Any:
        return params

    def replicate(self, tree: Any) -> Any:
        return tree

    def per_run(self, tree: Any) -> Any:
        return tree

    def batch(self, tree: Any) -> Any:
        return tree

    def grads(self, tree: Any) -> Any:
        return tree

    def params(self, tree: Any) -> Any:
        return tree

    def state(self, tree: Any) -> Any:
        return tree

    def host(self, x: Any) -> np.ndarray:
        return np.asarray(x)


class OnMesh:
    """One run spread over the mesh of a `DataParallel`: batches split along its data
    axis, params and optimizer state laid out by its specs (ZeRO-1 with
    ``state="sharded"``), the gradients reduced by XLA.

    ``state`` is the optimizer state, or only its shapes (`jax.eval_shape`).
    """

    def __init__(self, parallel: DataParallel, params: Any, state: Any) -> None:
        self.parallel = parallel
        self.param_shardings = parallel.param_shardings(params)
        self.state_shardings = parallel.state_shardings(state)
        self.grad_shardings = parallel.grad_shardings(params)
        # As they came in: left to XLA, ZeRO-1's sharded update hands the params back
        # split, unlike their specs, and the next epoch would compile again for them.
        replicated = parallel.replicated()  # the model state, the losses, the failed step
        self.epoch_shardings = (
            self.param_shardings,
            self.state_shardings,
            replicated,
            replicated,
            replicated,
        )

    def key(self) -> Hashable:
        # The shardings hold the mesh; the axis splits the batches. The epoch's
        # shardings are made of these, so they change nothing more.
        shardings = (self.param_shardings, self.state_shardings, self.grad_shardings)
        return (type(self), self.parallel.mesh, self.parallel.axis, *map(tree_key, shardings))

    def place_params(self, params: Any) -> Any:
        return place(params, self.param_shardings)

    def replicate(self, tree: Any) -> Any:
        return place(tree, self.parallel.replicated())

    def per_run(self, tree: Any) -> Any:
        return self.replicate(tree)  # one run: every device reads it whole

    def batch(self, tree: Any) -> Any:
        sharding = self.parallel.batch_sharding()
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)

    def grads(self, tree: Any) -> Any:
        # None: XLA lays the reduced gradients out as it likes (the params' layout).
        if self.grad_shardings is None:
            return tree
        return constrain(tree, self.grad_shardings)

    def params(self, tree: Any) -> Any:
        return constrain(tree, self.param_shardings)

    def state(self, tree: Any) -> Any:
        return constrain(tree, self.state_shardings)

    def host(self, x: Any) -> np.ndarray:
        return to_host(x)


RUN_AXIS = "runs"
"""The axis of a `RunParallel`'s mesh."""


class RunParallel(NamedTuple):
    """How `gdjax.training.fit_many` splits its runs over the devices of ``mesh``.

    The runs' axes ``shape`` (settings, seeds) are flattened to one run axis (run
    ``r`` in C order) and padded to a multiple of the devices with copies of the
    last run (a copy computes what its run computes, so it never stops or fails
    on its own), then split along the mesh's one axis ``"runs"``: each device
    trains its runs whole, on the data every device holds. Build it with
    `run_parallel`.
    """

    mesh: Mesh
    shape: tuple[int, ...]  # the run axes, before flattening

    @property
    def size(self) -> int:
        """The devices."""
        return int(self.mesh.devices.size)

    @property
    def count(self) -> int:
        """The runs; the slots after them pad the run axis."""
        return math.prod(self.shape)

    @property
    def slots(self) -> int:
        """The padded run axis's length: the runs rounded up to a multiple of the devices."""
        return -(-self.count // self.size) * self.size

    def run_sharding(self) -> NamedSharding:
        """Arrays with the run axis in front: split along it."""
        return NamedSharding(self.mesh, P(RUN_AXIS))

    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    def padded(self, tree: Any) -> Any:
        """Every leaf's run axes ``shape`` flattened and padded to ``slots`` (NumPy
        stays NumPy; nothing is placed)."""

        def pad(x: Any) -> Any:
            xp = np if isinstance(x, np.ndarray) else jnp
            flat = xp.reshape(x, (self.count, *np.shape(x)[len(self.shape) :]))
            return xp.concatenate([flat, xp.repeat(flat[-1:], self.slots - self.count, axis=0)])

        return jax.tree.map(pad, tree)

    def unpadded(self, tree: Any) -> Any:
        """Every leaf without its padding and with the run axes ``shape`` again, read
        back through the host: NumPy stays NumPy, a jax array (a typed key too)
        comes back on the default device, as one device gives it."""

        def unpad(x: np.ndarray) -> np.ndarray:
            return x[: self.count].reshape(*self.shape, *x.shape[1:])

        def leaf(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                return unpad(x)
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                data = jnp.asarray(unpad(to_host(jax.random.key_data(x))))
                return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
            return jnp.asarray(unpad(to_host(x)))

        return jax.tree.map(leaf, tree)


def run_parallel(
    devices: Sequence[jax.Device] | None, shape: tuple[int, ...], caller: str = "fit_many"
) -> RunParallel | None:
    """The `RunParallel` of runs with the axes ``shape`` over ``devices``, or None for
    None or one device (nothing to split).

    Raises:
      TypeError: ``devices`` is not a sequence of `jax.Device` (a string, a count).
      ValueError: it is empty, names a device twice, or names another process's
        device (each process trains its own runs: its results come back whole).
    """
    if devices is None:
        return None
    if isinstance(devices, (str, bytes)) or not isinstance(devices, Sequence):
        raise TypeError(
            f"{caller}: devices must be a sequence of jax.Device (say jax.local_devices()) "
            f"or None, got {devices!r}"
        )
    devices = list(devices)
    wrong = [d for d in devices if not isinstance(d, jax.Device)]
    if wrong:
        raise TypeError(
            f"{caller}: devices must be a sequence of jax.Device (say jax.local_devices()) "
            f"or None; it holds {wrong[0]!r}"
        )
    if not devices:
        raise ValueError(f"{caller}: devices is empty; give at least one jax.Device, or None")
    if len(set(devices)) < len(devices):
        raise ValueError(f"{caller}: devices names a device twice: {devices}")
    others = [d for d in devices if d.process_index != jax.process_index()]
    if others:
        raise ValueError(
            f"{caller}: devices must be this process's (jax.local_devices()); {others[0]} is "
            f"process {others[0].process_index}'s"
        )
    if len(devices) == 1:
        return None
    return RunParallel(Mesh(np.array(devices), (RUN_AXIS,)), tuple(shape))


class RunsOnMesh(SingleDevice):
    """Many runs, each whole on one device of a `RunParallel`'s mesh: every per-run
    input split along the run axis, the data replicated. Inside the epoch nothing
    is pinned (`SingleDevice`'s placements): each run's values follow its params,
    so XLA keeps a run's work on its device and no collective is needed."""

    def __init__(self, parallel: RunParallel) -> None:
        self.parallel = parallel
        # init's and the epoch's out_shardings: one sharding for every leaf (each has
        # the run axis in front), as the per-run inputs are placed.
        self.state_shardings = parallel.run_sharding()
        self.epoch_shardings = parallel.run_sharding()

    def key(self) -> Hashable:
        # Its own type first: inside the epoch it places as SingleDevice does, but
        # its programs are compiled for the mesh.
        return (type(self), self.parallel.mesh)

    def place_params(self, params: Any) -> Any:
        return self.per_run(params)

    def replicate(self, tree: Any) -> Any:
        return place(tree, self.parallel.replicated())

    def per_run(self, tree: Any) -> Any:
        return place(tree, self.parallel.run_sharding())

    def host(self, x: Any) -> np.ndarray:
        return to_host(x)


def tree_key(tree: Any) -> Hashable:
    """A tree of hashable leaves (shardings) as a key: its structure and leaves."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple(leaves)


def layout_for(
    parallel: DataParallel | RunParallel | None, params: Any, state_shapes: Callable[[], Any]
) -> Layout:
    """The layout of a run: `SingleDevice` for ``parallel=None``, `OnMesh` for a
    `DataParallel`, `RunsOnMesh` for a `RunParallel`.

    ``state_shapes`` gives the optimizer state's shapes; it is called only for a
    `DataParallel`, whose specs need them (it traces the optimizer's ``init``).
    """
    if parallel is None:
        return SingleDevice()
    if isinstance(parallel, RunParallel):
        return RunsOnMesh(parallel)
    return OnMesh(parallel, params, state_shapes())
