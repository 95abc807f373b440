"""The compiled programs' pieces: masked mean losses, the finite check, one epoch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

import gdjax
from gdjax.bound import split
from gdjax.distributed import data_parallel
from gdjax.distributed.layout import RUN_AXIS, RunParallel, RunsOnMesh, SingleDevice, layout_for
from gdjax.training import Batching, program
from gdjax.training.options import Plan
from gdjax.training.program import (
    Filled,
    Stateless,
    Task,
    all_finite,
    cached,
    epoch_program,
    mean_loss,
)


def test_the_mean_loss_leaves_the_padding_out():
    def losses(params, batch):
        return batch * params

    mask = jnp.array([True, True, False])
    assert mean_loss(losses, 1.0, jnp.array([1.0, 3.0, 100.0]), mask) == 2.0
    assert mean_loss(lambda p, b: jnp.float32(5.0), 1.0, None, mask) == 5.0  # a mean as it is
    with pytest.raises(ValueError, match=r"one loss per example, shape \(3,\), or their mean"):
        mean_loss(lambda p, b: jnp.ones(2), 1.0, None, mask)


def test_all_finite_looks_at_float_leaves_only():
    assert all_finite({"w": jnp.ones(3), "n": jnp.array([2**31 - 1])})
    assert not all_finite({"w": jnp.array([1.0, jnp.nan])})
    assert not all_finite([jnp.array(jnp.inf, jnp.bfloat16)])
    assert all_finite({})


def test_one_epoch_stands_still_from_its_first_non_finite_step():
    # w moves 0.5 towards y = 1 per step: 0.5, then 1.0, where |w - y| has a NaN gradient.
    data = {"y": np.ones((4, 1), np.float32)}

    def distance(params, batch):
        return jnp.sqrt(jnp.sum((params["w"] - batch["y"]) ** 2, axis=-1))

    task = Task(Stateless(distance), lambda hyper: gdjax.sgd(0.5), data)
    plan = Plan(examples=4, per_epoch=4, lengths=(4,))
    epoch = epoch_program(task, Batching(1), plan, False, SingleDevice())
    params = {"w": jnp.zeros(1)}
    state = gdjax.sgd(0.5).init(params)
    args = (jnp.zeros([]), jax.random.key(0), 1, 4, jnp.inf, True, data)
    params, _, none, losses, failed = jax.jit(epoch)(params, state, None, *args)
    assert failed == 2 and none is None
    np.testing.assert_array_equal(params["w"], [1.0])  # step 2's update not applied
    np.testing.assert_array_equal(losses[:2], [1.0, 0.5])
    # Steps from the limit on are skipped: a partial epoch runs the same program.
    params, _, _, _, failed = jax.jit(epoch)(
        {"w": jnp.zeros(1)}, state, None, *args[:3], 1, *args[4:]
    )
    assert failed == -1
    np.testing.assert_array_equal(params["w"], [0.5])

    # A model state (here a count of the steps) moves only with the params.
    def counted(params, count, batch, training):
        return distance(params, batch), count + jnp.sum(training)

    epoch = epoch_program(task._replace(loss_fn=counted), Batching(1), plan, False, SingleDevice())
    _, _, count, _, failed = jax.jit(epoch)({"w": jnp.zeros(1)}, state, jnp.int32(0), *args)
    assert failed == 2 and count == 2  # steps 0 and 1; step 2's state is not kept
    _, _, count, _, _ = jax.jit(epoch)(
        {"w": jnp.zeros(1)}, state, jnp.int32(0), *args[:3], 1, *args[4:]
    )
    assert count == 1


def test_programs_are_kept_by_what_they_close_over():
    made = []

    def make():
        made.append(None)
        return lambda: len(made)

    key = ("test", np.float32, 3)
    assert cached(key, make) is cached(("test", np.float32, 3), make) and len(made) == 1
    cached(("test", [1]), make)  # a key that cannot be hashed: built, not kept
    cached(("test", [1]), make)
    assert len(made) == 3
    for i in range(program.CACHE_SIZE):  # the least recently used go
        cached(("test", "other", i), make)
    cached(key, make)
    assert len(made) == 4 + program.CACHE_SIZE


def test_the_keys_of_options_compare_values():
    one = Batching(4, order=np.arange(8))
    assert program._batching_key(one) == program._batching_key(one._replace(order=np.arange(8)))
    assert program._batching_key(one) != program._batching_key(
        one._replace(order=np.arange(8)[::-1])
    )
    data, skeleton = split(gdjax.adam(1e-3))
    assert Filled(skeleton) == Filled(split(gdjax.adam(0.5))[1])
    assert Filled(skeleton) != Filled(split(gdjax.adam(0.5, nesterov=True))[1])
    assert hash(Filled(skeleton)) == hash(Filled(split(gdjax.adam(0.5))[1]))
    assert jax.tree.leaves(Filled(skeleton)(data)) == jax.tree.leaves(gdjax.adam(1e-3))


def test_the_epoch_is_shared_exactly_between_layouts_of_equal_keys():
    def squares(params, batch):  # a loss of its own: no program kept from another test
        return jnp.sum((batch["x"] - params["w"]) ** 2, axis=-1)

    data = {"x": np.zeros((8, 2), np.float32)}
    task = Task(Stateless(squares), Filled(split(gdjax.adam(0.1))[1]), data)
    plan = Plan(examples=8, per_epoch=2, lengths=(2,))
    params = {"w": np.zeros(2, np.float32)}

    def epoch(layout):
        return program.build(task, Batching(4), None, plan, layout, 0).epoch

    one_device = Mesh(np.array(jax.devices()[:1]), ("data",))
    state = jax.eval_shape(gdjax.adam(0.1).init, params)
    meshes = [layout_for(data_parallel(one_device), params, lambda: state) for _ in range(2)]
    runs = RunsOnMesh(RunParallel(Mesh(np.array(jax.devices()[:1]), (RUN_AXIS,)), (1,)))
    assert epoch(SingleDevice()) is epoch(SingleDevice())
    assert epoch(meshes[0]) is epoch(meshes[1])  # equal meshes and specs: one program
    # A RunsOnMesh places as a SingleDevice inside the epoch, yet compiles for its mesh.
    programs = [epoch(SingleDevice()), epoch(meshes[0]), epoch(runs)]
    assert len({id(p) for p in programs}) == 3
