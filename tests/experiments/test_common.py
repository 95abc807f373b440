"""What the experiments share: one training call to patch, scores, text tables."""

import importlib
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("sklearn")

from gdjax import experiments

_common = importlib.import_module("gdjax.experiments._common")


class Stopped(Exception):
    pass


@pytest.mark.parametrize(
    ("function", "kwargs"),
    [
        (experiments.momentum, {"runs": 2, "steps": 1}),
        (experiments.optimizers, {"runs": 2, "epochs": 1}),
        (experiments.grid, {"steps": 1}),
        (experiments.noise, {"runs": 2, "steps": 1}),
        (experiments.order, {"runs": 2, "epochs": 1}),
        (experiments.early_stopping, {"runs": 2, "epochs": 1}),
    ],
)
def test_every_experiment_trains_through_the_one_patchable_fit_many(function, kwargs):
    with mock.patch("gdjax.experiments._common.fit_many", side_effect=Stopped) as fit_many:
        with pytest.raises(Stopped):
            function(**kwargs, progress=False)
    batching = fit_many.call_args.kwargs["batching"]
    assert batching.shuffle is True and batching.batch_size >= 1


def test_aligned_table_and_mean_se():
    lines = _common.aligned_table([("a", "long header"), ("wide cell", "x")])
    assert lines == ["a          long header", "---------  -----------", "wide cell  x"]
    assert _common.mean_se(np.array([1.0, 2.0, 3.0])) == "2.00000 +/- 0.57735"


def test_failed_notes_name_the_settings_with_failed_runs():
    failed = np.array([[False, False], [True, False]])
    assert _common.failed_notes(failed, ("plain", "noisy")) == [
        "note: 1 of 2 runs of noisy hit a non-finite loss and stood still from that step on"
    ]


def test_mean_loss_and_predict_go_setting_by_setting_in_chunks():
    import jax.numpy as jnp

    params = {"w": jnp.arange(6.0).reshape(2, 3, 1)}  # (settings, seeds, 1)
    data = {"x": np.arange(5.0, dtype=np.float32), "y": np.zeros(5, np.int32)}

    def loss_fn(p, batch):
        return p["w"][0] * batch["x"]

    loss = _common.mean_loss(loss_fn, params, data, chunk=2)
    np.testing.assert_allclose(loss, np.arange(6.0).reshape(2, 3) * 2.0)

    def apply(p, x):
        return jnp.stack([x * p["w"][0], -x * p["w"][0]], axis=-1)

    predictions = _common.predict(apply, params, data["x"], chunk=2)
    assert predictions.shape == (2, 3, 5) and predictions.dtype == np.int32


def _program(**changes):
    program = _common.Program(
        loss_fn=lambda params, batch: params * batch["x"],
        init=lambda key: np.float32(0.0),
        make_optimizer=lambda learning_rate: None,
        data={"x": np.zeros(4, np.float32), "y": np.zeros(4, np.int32)},
        seeds=2,
        settings={"learning_rate": [0.1, 0.2]},
        batch_size=2,
        steps=3,
    )
    return program._replace(**changes)


def test_a_program_shuffles_unless_it_has_an_order():
    assert _program().batching.shuffle is True and _program().batching.order is None
    order = np.array([3, 2, 1, 0])
    batching = _program(order=order).batching
    assert batching.shuffle is False and batching.order is order and batching.batch_size == 2


def test_train_hands_every_part_of_the_program_to_fit_many():
    import jax.numpy as jnp

    program = _program(epochs=None, evaluation=None, model_state=lambda key: 0)
    history = object()
    with mock.patch(
        "gdjax.experiments._common.fit_many", return_value=(jnp.zeros(2), history)
    ) as fit_many:
        trained = _common.train(program, progress=False)
    args, kwargs = fit_many.call_args
    assert args == (program.loss_fn, program.init, program.make_optimizer, program.data)
    assert kwargs["seeds"] == 2 and kwargs["settings"] is program.settings
    assert (kwargs["epochs"], kwargs["steps"], kwargs["evaluation"]) == (None, 3, None)
    assert kwargs["model_state"] is program.model_state and kwargs["progress"] is False
    assert kwargs["batching"].batch_size == 2 and kwargs["batching"].shuffle is True
    assert trained.history is history and trained.seconds >= 0.0
    np.testing.assert_array_equal(trained.params, np.zeros(2))
