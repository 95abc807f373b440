"""gdjax.experiments.noise at a tiny size: shapes, statistics, report, figure, arguments."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from gdjax import experiments, plot
from tests.experiments.helpers import assert_finite_comparison, assert_png, draw


def test_noise_shapes_statistics_and_figure(tmp_path):
    r = experiments.noise(runs=2, steps=40, depth=3, progress=False)
    assert isinstance(r, experiments.NoiseResult)
    assert r.train_loss.shape == r.accuracy.shape == (2, 2)
    assert np.all(np.isfinite(r.train_loss))
    assert_finite_comparison(r.comparison)
    assert r.loss_comparison is not None
    assert_finite_comparison(r.loss_comparison)
    assert r.comparison.name_a == "noisy SGD"
    # 1,347 training examples in batches of 64: 22 steps per epoch, 40 steps in two epochs.
    np.testing.assert_array_equal(r.epoch_steps, [22, 40])
    assert r.history.train_loss.shape == (2, 2, 2)
    assert_png(draw(plot.noise_figure, r, tmp_path / "noise.png"))
    text = r.report()
    assert "test accuracy, mean +/- SE:" in text and "(mean +/- SE)" in text
    assert "noisy SGD (eta 0.3)" in text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eta": -0.1}, r"eta must be in \[0, inf\)"),
        ({"learning_rate": 0.0}, r"learning_rate must be in \(0, inf\)"),
        ({"depth": 0}, "depth must be an integer >= 1"),
        ({"runs": 1}, "runs must be an integer >= 2"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiments.noise(**{"progress": False, **kwargs})
