"""fit_many(devices=...): the runs split over the devices of a mesh, results as on one device.

The comparisons run on 4 host devices in a subprocess (XLA's flag must be set
before JAX starts): `fit_many_mesh_run.py`. Here, in this process's one device:
what ``devices`` accepts, and the layout's padding of the run axis.
"""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

import gdjax
from gdjax.distributed.layout import RUN_AXIS, RunParallel, RunsOnMesh, layout_for, run_parallel
from gdjax.training import Batching, fit_many
from tests.helpers import ROOT, run_python


def test_runs_on_four_host_devices_equal_one_device(tmp_path):
    pytest.importorskip("orbax.checkpoint")
    pytest.importorskip("sklearn")
    worker = ROOT / "tests" / "training" / "fit_many_mesh_run.py"
    out = run_python(str(worker), str(tmp_path), devices=4, timeout=900)
    for check in ("grid", "padding", "shares", "early stopping", "model state", "resume"):
        assert f"{check} ok" in out, out


def _train(devices):
    data = {"x": np.arange(24, dtype=np.float32).reshape(12, 2) / 10}
    return fit_many(
        lambda p, b: (b["x"] @ p["w"] - 1.0) ** 2,
        {"w": np.zeros(2, np.float32)},
        lambda learning_rate: gdjax.sgd(learning_rate),
        data,
        seeds=2,
        settings={"learning_rate": [0.1, 0.2]},
        epochs=2,
        batching=Batching(4),
        progress=False,
        devices=devices,
    )


@pytest.mark.parametrize(
    ("devices", "error", "match"),
    [
        ("cpu", TypeError, r"devices must be a sequence of jax.Device .* got 'cpu'"),
        (4, TypeError, r"devices must be a sequence of jax.Device .* got 4"),
        ([0, 1], TypeError, r"devices must be a sequence of jax.Device .* it holds 0"),
        ([], ValueError, "devices is empty"),
    ],
)
def test_devices_that_are_not_devices_are_refused(devices, error, match):
    with pytest.raises(error, match=f"fit_many: {match}"):
        _train(devices)


def test_a_device_named_twice_is_refused():
    device = jax.devices()[0]
    with pytest.raises(ValueError, match="fit_many: devices names a device twice"):
        run_parallel([device, device], (2, 2))


def test_one_device_is_the_default_device():
    assert run_parallel(None, (2, 2)) is None and run_parallel(jax.devices()[:1], (2, 2)) is None
    (params, history), (again, again_history) = _train(None), _train(jax.devices()[:1])
    np.testing.assert_array_equal(params["w"], again["w"])
    np.testing.assert_array_equal(history.step_loss, again_history.step_loss)


def test_the_run_axis_is_padded_with_the_last_run_and_unpadded_back():
    # Padding reads only the mesh's size: a stand-in for 4 devices.
    split = RunParallel(SimpleNamespace(devices=np.empty(4)), (5, 1))
    assert (split.count, split.size, split.slots) == (5, 4, 8)
    grid = np.arange(5 * 3, dtype=np.float32).reshape(5, 1, 3)
    keys = jax.random.split(jax.random.key(0), 5).reshape(5, 1)
    padded = split.padded({"host": grid, "key": keys, "device": jnp.asarray(grid)})
    assert isinstance(padded["host"], np.ndarray) and padded["host"].shape == (8, 3)
    for slot in range(5, 8):  # copies of the last run
        np.testing.assert_array_equal(padded["host"][slot], grid[4, 0])
        np.testing.assert_array_equal(padded["device"][slot], grid[4, 0])
    assert padded["key"].shape == (8,)
    back = split.unpadded(padded)
    np.testing.assert_array_equal(back["host"], grid)
    assert isinstance(back["device"], jax.Array) and back["device"].shape == (5, 1, 3)
    np.testing.assert_array_equal(jax.random.key_data(back["key"]), jax.random.key_data(keys))


def test_runs_on_a_mesh_split_per_run_inputs_and_replicate_the_data():
    split = RunParallel(Mesh(np.array(jax.devices()[:1]), (RUN_AXIS,)), (2, 3))
    layout = layout_for(split, None, lambda: pytest.fail("no state shapes needed"))
    assert isinstance(layout, RunsOnMesh) and layout.state_shardings.spec == P(RUN_AXIS)
    keys = layout.per_run(jax.random.split(jax.random.key(0), 6))
    assert keys.sharding.spec == P(RUN_AXIS)
    assert layout.replicate({"x": np.ones((4, 2))})["x"].sharding.spec == P()
    tree = {"w": jnp.ones(3)}  # inside the epoch a run's values follow its params
    for pinned in (layout.batch, layout.grads, layout.params, layout.state):
        assert pinned(tree) is tree
