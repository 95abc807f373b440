"""fit(parallel=data_parallel(...)): sharded equals unsharded, on 4 host devices and 2 processes."""

import json
import socket
import textwrap

import jax
import numpy as np
import pytest
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

import gdjax
from gdjax.distributed import data_parallel, zero_specs
from gdjax.distributed.layout import OnMesh, SingleDevice, layout_for
from gdjax.training import EarlyStopping, fit, models
from tests.helpers import ROOT, finish, run_python, start_python

PROBLEM = """
import jax, numpy as np, gdjax
from gdjax.training import Batching, Checkpointing, EarlyStopping, Evaluation, fit, models

rng = np.random.default_rng(0)
x = rng.normal(size=(256, 64)).astype(np.float32)
y = rng.integers(0, 10, 256).astype(np.int32)
train, validation = {"x": x, "y": y}, {"x": x[:64], "y": y[:64]}
params = models.mlp_init(jax.random.key(0), sizes=(64, 128, 10))
options = dict(epochs=3, batching=Batching(32), key=1, evaluation=Evaluation(validation),
               progress=False, early_stopping=EarlyStopping(patience=5))

def train_with(optimizer, **more):
    return fit(models.mlp_loss, params, optimizer, train, **{**options, **more})
"""


FOUR_DEVICES = PROBLEM + textwrap.dedent(
    """
    from gdjax.distributed import data_parallel
    from jax.sharding import PartitionSpec as P
    assert len(jax.devices()) == 4
    one, one_history = train_with(gdjax.adam(0.01))
    layouts = {
        "replicated": data_parallel(),
        "zero-1": data_parallel(state="sharded"),
        "params by spec": data_parallel(params=[{"w": P(None, "data"), "b": P()}, P()]),
    }
    for name, layout in layouts.items():
        for optimizer in (gdjax.adam(0.01), gdjax.sgd(0.1, momentum=0.9)):
            many, _ = train_with(optimizer, parallel=layout)
            single, _ = train_with(optimizer)
            assert {len(leaf.sharding.device_set) for leaf in jax.tree.leaves(many)} == {4}
            for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(many), strict=True):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
    sharded_w = train_with(gdjax.adam(0.01), parallel=layouts["params by spec"])[0][0]["w"]
    assert sharded_w.sharding.spec == P(None, "data"), sharded_w.sharding
    assert sharded_w.addressable_shards[0].data.shape == (64, 32)
    many, history = train_with(gdjax.adam(0.01), parallel=layouts["zero-1"])
    np.testing.assert_allclose(history.step_loss, one_history.step_loss, rtol=2e-5, atol=2e-6)
    try:
        train_with(gdjax.adam(0.01), parallel=layouts["replicated"], batching=Batching(30))
    except ValueError as error:
        assert "batches of 30 examples cannot be split evenly over the 4 devices" in str(error)
    else:
        raise AssertionError("an uneven batch was accepted")
    # checkpoints of a sharded run resume it exactly
    import tempfile
    directory = tempfile.mkdtemp()
    whole, _ = train_with(gdjax.adam(0.01), parallel=layouts["zero-1"])
    options["epochs"] = 1
    train_with(gdjax.adam(0.01), parallel=layouts["zero-1"],
               checkpointing=Checkpointing(directory))
    options["epochs"] = 3
    resumed, _ = train_with(gdjax.adam(0.01), parallel=layouts["zero-1"],
                            checkpointing=Checkpointing(directory, resume=True))
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    print("four devices ok")
    """
)


def test_data_parallel_on_four_host_devices_equals_one_device():
    pytest.importorskip("orbax.checkpoint")
    assert "four devices ok" in run_python("-c", FOUR_DEVICES, devices=4)


ZERO_COMPILES_ONCE = textwrap.dedent(
    """
    import logging, jax, numpy as np, gdjax
    from jax.sharding import PartitionSpec as P
    from gdjax.distributed import data_parallel
    from gdjax.training import Batching, fit, models
    assert len(jax.devices()) == 4
    rng = np.random.default_rng(0)
    train = {"x": rng.normal(size=(64, 256)).astype(np.float32),
             "y": rng.integers(0, 10, 64).astype(np.int32)}
    # 256 x 128 weights: Adam's moments of them are split over the devices (ZeRO-1).
    params = models.mlp_init(jax.random.key(0), sizes=(256, 128, 10))
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("jax").addHandler(handler)
    with jax.log_compiles():
        trained, _ = fit(models.mlp_loss, params, gdjax.adam(0.01), train, epochs=3,
                         batching=Batching(32), key=1, progress=False,
                         parallel=data_parallel(state="sharded"))
    compiled = [m for m in messages if m.startswith("Compiling jit(epoch)")]
    specs = {repr(leaf.sharding.spec) for leaf in jax.tree.leaves(trained)}
    print(f"epoch compiled {len(compiled)} times; params specs {sorted(specs)}")
    """
)


def test_a_zero_1_fit_compiles_its_epoch_once_and_keeps_the_params_layout():
    """The epoch hands its outputs back as the next epoch takes them: under ZeRO-1 the
    sharded update would otherwise return the replicated params split, and epoch 2
    would compile again."""
    out = run_python("-c", ZERO_COMPILES_ONCE, devices=4)
    assert "epoch compiled 1 times; params specs ['P()']" in out, out


TWO_PROCESSES = (
    textwrap.dedent(
        """
    import sys, json, jax
    port, process, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process
    )
    """
    )
    + PROBLEM
    + textwrap.dedent(
        """
    from gdjax.distributed import data_parallel, to_host
    trained, history = train_with(gdjax.adam(0.01), parallel=data_parallel(state="sharded"))
    with open(out, "w") as f:  # a file: a full pipe would block the exit barrier
        json.dump({
            "process": jax.process_index(), "devices": len(jax.devices()),
            "leaves": [to_host(leaf).tolist() for leaf in jax.tree.leaves(trained)],
            "step_loss": history.step_loss.tolist(),
        }, f)
    """
    )
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_over_loopback_equal_one_device(tmp_path):
    """jax.distributed on one machine: 2 processes x 2 host devices, one global mesh."""
    port = str(_free_port())
    outs = [tmp_path / f"process{i}.json" for i in range(2)]
    processes = [
        start_python("-c", TWO_PROCESSES, port, str(i), str(outs[i]), devices=2) for i in range(2)
    ]
    for process in processes:
        finish(process)
    reports = [json.loads(out.read_text()) for out in outs]
    namespace: dict = {}
    exec(PROBLEM, namespace)
    single, history = namespace["train_with"](gdjax.adam(0.01))
    for report in reports:
        assert report["devices"] == 4
        for a, b in zip(jax.tree.leaves(single), report["leaves"], strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(report["step_loss"], history.step_loss, rtol=2e-5, atol=2e-6)


# --------------------------------------------------------------------------- in this process


def test_one_device_mesh_equals_no_mesh():
    namespace: dict = {}
    exec(PROBLEM, namespace)
    plain, _ = namespace["train_with"](gdjax.adam(0.01))
    meshed, _ = namespace["train_with"](gdjax.adam(0.01), parallel=data_parallel())
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(meshed), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_zero_specs_split_large_leaves_on_a_divisible_dimension():
    state = gdjax.adam(1e-3).init(
        {"big": np.zeros((6, 4096), np.float32), "odd": np.zeros((3, 9001)), "b": np.zeros(8)}
    )
    specs = zero_specs(state, 4, "data")
    mu = specs[0].mu
    assert mu["big"] == P(None, "data")  # 6 is not a multiple of 4, 4096 is
    assert mu["odd"] == P()  # neither 3 nor 9001
    assert mu["b"] == P()  # small
    assert specs[0].count == P()


def test_unknown_mesh_axes_are_refused_naming_the_mesh_axes():
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    with pytest.raises(ValueError, match=r"axis 'data' is not an axis of the mesh.*\['batch'\]"):
        data_parallel(mesh)
    with pytest.raises(ValueError, match=r"unknown mesh axis 'model'.*\['data'\]"):
        data_parallel(params=P("model"))
    with pytest.raises(ValueError, match="state must be None, 'sharded'"):
        data_parallel(state="zero")
    with pytest.raises(ValueError, match=r"params\['w'\] is sharded over an unknown mesh axis"):
        fit(
            lambda p, b: (b["x"] @ p["w"]) ** 2,
            {"w": np.zeros(3, np.float32)},
            gdjax.sgd(0.1),
            {"x": np.zeros((8, 3), np.float32)},
            epochs=1,
            progress=False,
            parallel=data_parallel(params={"w": P("model")}),
        )


def test_early_stopping_runs_on_the_mesh():
    namespace: dict = {}
    exec(PROBLEM, namespace)
    options = namespace["options"]
    options["early_stopping"] = EarlyStopping(patience=1)
    _, history = fit(
        models.mlp_loss,
        namespace["params"],
        gdjax.sgd(0.5),
        namespace["train"],
        parallel=data_parallel(),
        **options,
    )
    assert history.best_epoch <= history.stopped_epoch


def test_the_example_trains_on_four_devices_like_on_one():
    out = run_python(
        str(ROOT / "examples" / "data_parallel.py"), "--zero", "--devices", "4", "--epochs", "2"
    )
    assert "mesh {'data': 4} over 4 devices" in out
    # ZeRO-1 at work: Adam's moments of the 256x128 layer, a quarter on each device
    assert "state[0].mu[1]['w'] (256, 128): spec P('data',), (64, 128) on each device" in out
    (line,) = (line for line in out.splitlines() if line.startswith("test accuracy"))
    words = line.replace(",", "").split()  # test accuracy A on the mesh B on one device
    assert words[2] == words[6]


# --------------------------------------------------------------------------- layouts


def test_one_device_is_a_layout_that_places_nothing():
    def state_shapes():
        raise AssertionError("one device needs no state shapes (no trace of init)")

    layout = layout_for(None, {"w": np.zeros(3)}, state_shapes)
    assert isinstance(layout, SingleDevice) and layout.state_shardings is None
    tree = {"w": jax.numpy.ones(3)}
    for place in (layout.place_params, layout.replicate, layout.batch, layout.grads):
        assert place(tree) is tree
    assert layout.params(tree) is tree and layout.state(tree) is tree
    host = layout.host(tree["w"])
    assert isinstance(host, np.ndarray) and host.tolist() == [1.0, 1.0, 1.0]


def test_a_mesh_layout_places_by_the_specs():
    params = {"w": np.zeros((len(jax.devices()), 2), np.float32)}
    state = gdjax.sgd(0.1, momentum=0.9).init(params)
    layout = layout_for(data_parallel(), params, lambda: state)
    assert isinstance(layout, OnMesh)
    placed = layout.place_params(params)
    assert placed["w"].sharding.spec == P() and layout.grad_shardings is None
    assert {s.spec for s in jax.tree.leaves(layout.state_shardings)} == {P()}
    keys = layout.replicate(jax.random.key(0))
    assert keys.sharding.spec == P()
    zero = layout_for(data_parallel(state="sharded"), params, lambda: state)
    assert zero.grad_shardings is not None  # laid out like the moments
