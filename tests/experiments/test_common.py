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
