"""Layouts name their own program key, and pin the epoch's outputs where its inputs were.

In this process's one device: a mesh of one device compiles other programs than
no mesh, so the keys tell them apart all the same. The 4-device check that a
ZeRO-1 epoch compiles once is in test_data_parallel.py (a subprocess).
"""

import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

import gdjax
from gdjax.distributed import data_parallel
from gdjax.distributed.layout import (
    RUN_AXIS,
    OnMesh,
    RunParallel,
    RunsOnMesh,
    SingleDevice,
    layout_for,
)

# 128 x 128 = 2**14 weights: large enough for ZeRO-1 to split Adam's moments of them.
PARAMS = {"w": np.zeros((128, 128), np.float32), "b": np.zeros(128, np.float32)}


def on_mesh(parallel) -> OnMesh:
    state = jax.eval_shape(gdjax.adam(0.1).init, PARAMS)
    layout = layout_for(parallel, PARAMS, lambda: state)
    assert isinstance(layout, OnMesh)
    return layout


def runs_on(shape: tuple[int, ...]) -> RunsOnMesh:
    mesh = Mesh(np.array(jax.devices()[:1]), (RUN_AXIS,))
    return RunsOnMesh(RunParallel(mesh, shape))


def test_equal_layouts_have_equal_hashable_keys():
    assert SingleDevice().key() == SingleDevice().key()
    assert on_mesh(data_parallel()).key() == on_mesh(data_parallel()).key()
    # The run axes' shape is the programs' input shapes (and their count of run axes
    # is a key of its own): the layout's program is the mesh's.
    assert runs_on((2, 3)).key() == runs_on((6,)).key()
    for layout in (SingleDevice(), on_mesh(data_parallel(state="sharded")), runs_on((2,))):
        hash(layout.key())


def test_layouts_that_compile_differently_have_different_keys():
    mesh = data_parallel(Mesh(np.array(jax.devices()[:1]), ("data",)))
    keys = [
        SingleDevice().key(),
        runs_on((2,)).key(),  # a SingleDevice inside the epoch, yet its own program
        on_mesh(mesh).key(),
        on_mesh(mesh._replace(state="sharded")).key(),  # ZeRO-1
        on_mesh(mesh._replace(params={"w": P("data"), "b": P()})).key(),
        on_mesh(data_parallel(Mesh(np.array(jax.devices()[:1]), ("batch",)), axis="batch")).key(),
    ]
    assert len(set(keys)) == len(keys), keys


def test_a_subclass_is_not_keyed_as_its_base():
    class Elsewhere(SingleDevice):
        def batch(self, tree):
            return jax.tree.map(lambda x: x + 0, tree)

    assert Elsewhere().key() != SingleDevice().key()


def test_the_epoch_hands_its_outputs_back_where_it_took_them():
    assert SingleDevice().epoch_shardings is None  # one device: as JAX chooses
    layout = on_mesh(data_parallel(state="sharded"))
    params, state, *rest = layout.epoch_shardings
    assert params is layout.param_shardings and state is layout.state_shardings
    # The model state, the losses and the failed step are replicated, as placed.
    assert [sharding.spec for sharding in rest] == [P(), P(), P()]
    runs = runs_on((2,))
    assert runs.epoch_shardings.spec == P(RUN_AXIS)  # every output has the run axis
