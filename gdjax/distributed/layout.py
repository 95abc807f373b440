"""Where a training run's arrays live: on one device, or on the mesh of a `DataParallel`.

A layout answers the training driver's few questions about devices: where its
inputs go before the first epoch, how the compiled epoch pins its batches,
gradients, params and optimizer state, and how results come back to the host.
`SingleDevice` answers each with "as they are", so the driver runs one device
and a mesh through the same code; `OnMesh` answers from a `DataParallel`'s specs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import numpy as np

from gdjax.distributed.data_parallel import DataParallel, constrain, place, to_host


class Layout(Protocol):
    """What the training driver asks of a layout."""

    state_shardings: Any
    """``out_shardings`` of the optimizer state's ``init`` (None: as JAX chooses)."""

    def place_params(self, params: Any) -> Any:
        """The initial params, on the run's devices."""

    def replicate(self, tree: Any) -> Any:
        """Inputs every device reads whole: data, hyperparameters, keys."""

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

    def place_params(self, params: Any) -> Any:
        return params

    def replicate(self, tree: Any) -> Any:
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

    def place_params(self, params: Any) -> Any:
        return place(params, self.param_shardings)

    def replicate(self, tree: Any) -> Any:
        return place(tree, self.parallel.replicated())

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


def layout_for(
    parallel: DataParallel | None, params: Any, state_shapes: Callable[[], Any]
) -> Layout:
    """The layout of a run: `SingleDevice` for ``parallel=None``, else `OnMesh`.

    ``state_shapes`` gives the optimizer state's shapes; it is called only for a
    mesh, whose specs need them (it traces the optimizer's ``init``).
    """
    if parallel is None:
        return SingleDevice()
    return OnMesh(parallel, params, state_shapes())
