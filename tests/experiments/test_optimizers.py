"""gdjax.experiments.optimizers at a tiny size: shapes, times, report, figure, arguments."""

import importlib

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from gdjax import experiments, plot
from tests.experiments.helpers import assert_png, draw, fake_fashion_mnist

_common = importlib.import_module("gdjax.experiments._common")


def test_optimizers_shapes_times_and_figure(tmp_path):
    r = experiments.optimizers(runs=2, epochs=1, names=("sgd", "adam"), progress=False)
    assert isinstance(r, experiments.OptimizersResult)
    assert r.names == ("sgd", "adam") and r.labels == ("SGD", "Adam")
    assert r.learning_rates == (experiments.DIGITS_RATES["sgd"], experiments.DIGITS_RATES["adam"])
    assert r.accuracy.shape == r.failed.shape == (2, 2)
    assert r.mean.shape == r.se.shape == r.seconds.shape == (2,)
    assert np.all(np.isfinite(r.mean)) and np.all(np.isfinite(r.se)) and np.all(r.seconds > 0)
    np.testing.assert_allclose(r.mean, r.accuracy.mean(axis=1))
    np.testing.assert_allclose(r.se, r.accuracy.std(axis=1, ddof=1) / np.sqrt(2))
    np.testing.assert_allclose(r.seconds_per_run, r.seconds / 2)
    assert (r.train_size, r.image_shape, r.steps) == (1347, (8, 8, 1), 11)
    assert_png(draw(plot.optimizers_figure, r, tmp_path / "fig11_11.png"))
    text = r.report()
    assert "SGD" in text and "Adam" in text
    assert "test accuracy (mean +/- SE)" in text and "SE: the standard error of the mean" in text


def test_optimizers_takes_fashion_mnist_as_28x28_images(tmp_path):
    split = _common.cnn_split(_common.Dataset("fashion-mnist", fake_fashion_mnist(tmp_path)))
    assert split.train["x"].shape == (8, 28, 28, 1) and split.test["x"].shape == (4, 28, 28, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"runs": 1}, "runs must be an integer >= 2"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"names": ("sgd", "lbfgs")}, "unknown optimizer 'lbfgs'"),
        ({"names": ()}, "none given"),
        ({"names": ("adam", "adam")}, "must not repeat"),
        ({"learning_rates": {"adam": -1.0}}, r"learning_rates\['adam'\]"),
        ({"learning_rates": {"lbfgs": 1.0}}, "learning_rates keys"),
        ({"data": experiments.Dataset("fashion-mnist")}, "needs its directory"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiments.optimizers(**{"progress": False, **kwargs})
