"""fit_many(devices=...) on 4 host devices against one device, run by test_fit_many_mesh.py.

    python fit_many_mesh_run.py DIR      (with XLA's flag for 4 host devices)

Every check compares the runs split over the devices with the same runs on one
device, leaf by leaf: bit for bit where the programs are the same (a device's
share of the runs against one device training as many; a resumed run against
an uninterrupted one), else to within float32 rounding, since XLA may sum in
another order for another number of runs vmapped together. It prints one line
per check passed, with the largest difference found.
``DIR`` holds the checkpoints of the resume check.
"""

from __future__ import annotations

import os
import shutil
import sys

import jax
import numpy as np

import gdjax
from gdjax.distributed import layout
from gdjax.training import (
    Batching,
    Checkpointing,
    EarlyStopping,
    Evaluation,
    datasets,
    fit_many,
    models,
)

SIZES = (64, 16, 10)

# What the epoch gives back passes through the layout's host(): the shardings seen
# there show where the runs were trained.
SEEN: list = []
_host = layout.RunsOnMesh.host


def _recording_host(self, x):
    SEEN.append(x.sharding)
    return _host(self, x)


layout.RunsOnMesh.host = _recording_host


def _problem() -> tuple[dict, dict]:
    split = datasets.digits()
    train = {name: values[:256] for name, values in split.train.items()}
    return train, {name: values[:128] for name, values in split.test.items()}


TRAIN, VALIDATION = _problem()
DEVICES = jax.devices()
assert len(DEVICES) == 4, DEVICES


def init(key):
    return models.mlp_init(key, SIZES)


def mlp_correct(params, batch):
    return models.correct(models.mlp_apply(params, batch["x"]), batch["y"])


def train_many(devices, **more):
    """fit_many of the digits MLP; ``more`` overrides the options."""
    options = dict(
        seeds=2,
        settings={"learning_rate": [0.05, 0.1, 0.2], "momentum": [0.0, 0.5, 0.9]},
        epochs=3,
        batching=Batching(64),
        evaluation=Evaluation(VALIDATION, metric=mlp_correct),
        progress=False,
    )
    options.update(more)
    make = lambda learning_rate, momentum: gdjax.sgd(learning_rate, momentum)  # noqa: E731
    return fit_many(models.mlp_loss, init, make, TRAIN, devices=devices, **options)


def same(one, many, what: str, exact: bool = False) -> float:
    """Every leaf of the params and every array of the history: bit for bit if
    ``exact``, else the floats to within float32 rounding (the ints exactly); the
    largest difference of the floats."""
    (a_params, a_history), (b_params, b_history) = one, many
    assert jax.tree.structure(a_params) == jax.tree.structure(b_params), what
    pairs = list(zip(jax.tree.leaves(a_params), jax.tree.leaves(b_params), strict=True))
    for _, b in pairs:  # as one device gives them
        assert isinstance(b, jax.Array) and len(b.sharding.device_set) == 1, (what, b.sharding)
    for name, a in a_history._asdict().items():
        b = getattr(b_history, name)
        assert (a is None) == (b is None), (what, name)
        if a is not None:
            assert isinstance(b, np.ndarray), (what, name, type(b))
            pairs.append((a, b))
    largest = 0.0
    for a, b in pairs:
        a, b = np.asarray(a), np.asarray(b)
        if exact or not np.issubdtype(a.dtype, np.floating):
            np.testing.assert_array_equal(a, b, err_msg=what)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=what)
            largest = max(largest, float(np.nanmax(np.abs(a - b), initial=0.0)))
    return largest


def check_grid() -> None:
    SEEN.clear()
    many = train_many(DEVICES)
    assert {len(s.device_set) for s in SEEN} == {4}, SEEN
    assert {s.spec for s in SEEN} == {jax.sharding.PartitionSpec(layout.RUN_AXIS)}, SEEN
    assert many[1].train_loss.shape == (3, 2, 3) and many[0][0]["w"].shape == (3, 2, 64, 16)
    largest = same(train_many(None), many, "3 settings x 2 seeds")
    print(f"grid ok: largest difference {largest:.3g}")


def check_padding() -> None:
    """5 runs over 4 devices: 8 slots, 2 a device, the last 3 copies of run 4."""
    rates, momenta = [0.05, 0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.9, 0.9, 0.5]
    many = train_many(DEVICES, seeds=[7], settings={"learning_rate": rates, "momentum": momenta})
    assert many[1].train_loss.shape == (5, 1, 3) and many[0][0]["w"].shape == (5, 1, 64, 16)
    one = train_many(None, seeds=[7], settings={"learning_rate": rates, "momentum": momenta})
    largest = same(one, many, "5 runs over 4 devices")
    print(f"padding ok: largest difference {largest:.3g}")
    # A device's share of the runs is what one device gives training those 2 runs.
    for device in (0, 1):
        share = slice(2 * device, 2 * device + 2)
        settings = {"learning_rate": rates[share], "momentum": momenta[share]}
        mine = jax.tree.map(lambda x, share=share: x[share], many)
        same(train_many(None, seeds=[7], settings=settings), mine, f"share {device}", exact=True)
    print("shares ok")


def check_early_stopping() -> None:
    rule = EarlyStopping(patience=1, min_delta=0.05)
    many = train_many(DEVICES, epochs=6, early_stopping=rule)
    stopped = many[1].stopped_epoch
    assert stopped.min() < 6, stopped  # some run stopped early, so the rule was at work
    largest = same(train_many(None, epochs=6, early_stopping=rule), many, "early stopping")
    print(f"early stopping ok: stopped after {stopped.tolist()}, largest difference {largest:.3g}")


def check_model_state() -> None:
    def bn_init(key):
        return models.bn_mlp_init(key, SIZES)[0]

    def bn_state(key):
        return models.bn_mlp_init(key, SIZES)[1]

    options = dict(
        seeds=[1, 2, 3],
        settings={"learning_rate": [0.1], "momentum": [0.9]},
        evaluation=Evaluation(VALIDATION, metric=models.bn_mlp_correct),
        model_state=bn_state,
        epochs=2,
        batching=Batching(64),
        progress=False,
    )
    make = lambda learning_rate, momentum: gdjax.sgd(learning_rate, momentum)  # noqa: E731
    one, many = (
        fit_many(models.bn_mlp_loss, bn_init, make, TRAIN, devices=devices, **options)
        for devices in (None, DEVICES)
    )
    assert many[0][1][0]["mean"].shape == (1, 3, 16)
    largest = same(one, many, "model state")
    print(f"model state ok: largest difference {largest:.3g}")


def check_resume(directory: str) -> None:
    """A checkpoint of 5 runs on 4 devices resumes on them bit for bit, and on one device."""
    settings = {"learning_rate": [0.05, 0.1, 0.2, 0.3, 0.4], "momentum": [0.9] * 5}
    options = dict(seeds=[7], settings=settings, early_stopping=EarlyStopping(patience=2))
    whole = train_many(DEVICES, **options)
    here, there = os.path.join(directory, "devices"), os.path.join(directory, "one")
    train_many(DEVICES, **options, epochs=1, checkpointing=Checkpointing(here))
    shutil.copytree(here, there)
    resumed = train_many(DEVICES, **options, checkpointing=Checkpointing(here, resume=True))
    same(whole, resumed, "resumed on the devices", exact=True)
    on_one = train_many(None, **options, checkpointing=Checkpointing(there, resume=True))
    largest = same(whole, on_one, "resumed on one device")
    print(f"resume ok: on one device, largest difference {largest:.3g}")


if __name__ == "__main__":
    check_grid()
    check_padding()
    check_early_stopping()
    check_model_state()
    check_resume(sys.argv[1])
