"""gdjax.experiments.batchnorm at a tiny size: shapes, statistics, report, programs, figure."""

import importlib
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from gdjax import experiments, plot
from gdjax.experiments import _common
from gdjax.training import models
from tests.experiments.helpers import assert_finite_comparison, assert_png, draw

bn_module = importlib.import_module("gdjax.experiments.batchnorm")
TINY = {
    "runs": 2,
    "steps": 30,
    "learning_rates": (0.5, 3.0, 200.0),
    "scales": (0.5, 2.0),
    "progress": False,
}


@pytest.fixture(scope="module")
def recorded():
    """The tiny run, and its ``fit_many`` calls: (loss, settings, model state)."""
    calls = []
    real = _common.fit_many

    def record(loss_fn, *args, **kwargs):
        calls.append((loss_fn, kwargs["settings"], kwargs["model_state"]))
        return real(loss_fn, *args, **kwargs)

    with mock.patch("gdjax.experiments._common.fit_many", side_effect=record):
        return experiments.batchnorm(**TINY), calls


@pytest.fixture(scope="module")
def result(recorded):
    return recorded[0]


def test_batchnorm_shapes_and_statistics(result):
    r = result
    assert isinstance(r, experiments.BatchnormResult)
    assert r.sizes == (64, 100, 50, 10) and r.runs == 2
    np.testing.assert_array_equal(r.learning_rates, [0.5, 3.0, 200.0])
    np.testing.assert_array_equal(r.scales, [0.5, 2.0])
    for name in ("loss", "accuracy", "mcc", "failed"):
        assert getattr(r, name).shape == (2, 3, 2), name
    assert r.scale_loss.shape == r.scale_failed.shape == (2, 2, 2)
    assert r.trains.shape == (2, 3) and r.best.shape == (2,)
    assert r.seconds.shape == r.scale_seconds.shape == (2,)
    assert np.all(r.seconds > 0) and np.all(r.scale_seconds > 0)
    assert np.all(np.isfinite(r.loss[:, :2])) and np.all(np.isfinite(r.scale_loss))
    np.testing.assert_array_equal(r.trains, np.all(r.loss < r.threshold, axis=-1))
    assert_finite_comparison(r.comparison)
    np.testing.assert_allclose(r.comparison.mean_a, r.mcc[1, r.best[1]].mean())
    np.testing.assert_allclose(r.comparison.mean_b, r.mcc[0, r.best[0]].mean())
    assert r.histories[1].train_loss.shape[:2] == (3, 2)


def test_loss_is_the_trained_networks_training_loss(result):
    # The final loss is the mean over the whole training set of each run's per-example
    # loss: at 30 steps from the book's init every run is well above the perfect 0 and
    # below 1.25 (every output 0.5 against one-hot targets would give 1.25).
    finite = result.loss[np.isfinite(result.loss)]
    assert np.all((finite > 0) & (finite < 1.25))


def test_report_numbers_are_the_arrays(result):
    r, text = result, result.report()
    for v, name in enumerate(r.labels):
        for i in range(3):
            assert _common.mean_se(r.loss[v, i], 4) in text
        for i in range(2):
            assert _common.mean_se(r.scale_loss[v, i], 4) in text
        best = r.best[v]
        line = f"  {name}: lr {r.learning_rates[best]:g}, {_common.mean_se(r.mcc[v, best])}"
        assert line in text
        expected = bn_module.trained_range(r.learning_rates, r.trains[v])
        assert f"  {name}: {expected}" in text
        spread = r.scale_loss[v].mean(axis=1)
        assert f"{name} {spread.max() - spread.min():.4f}" in text
    assert "t-test BN vs no BN (t, p)" in text
    assert "Mann-Whitney U (U, p)" in text and "Cohen's d" in text


def test_trains_and_trained_range():
    loss = np.array([[0.05, 0.02], [0.05, np.nan], [0.2, 0.01], [0.01, 0.02]])
    np.testing.assert_array_equal(bn_module.trains(loss, 0.1), [True, False, False, True])
    rates = np.array([0.1, 1.0, 10.0, 100.0])
    assert bn_module.trained_range(rates, np.array([False, True, True, False])) == "1 to 10"
    assert bn_module.trained_range(rates, np.array([True, False, False, True])) == "0.1, 100"
    assert bn_module.trained_range(rates, np.zeros(4, bool)) == "none"


def test_best_skips_rates_with_a_non_finite_run():
    loss = np.array([[0.3, 0.2], [0.01, np.inf], [0.1, 0.1]])
    assert bn_module._best(loss) == 2


def test_each_variant_is_one_rate_program_then_one_program_per_scale(recorded):
    _, calls = recorded
    losses = [c[0] for c in calls]
    assert (
        losses
        == [models.mlp_loss, models.bn_mlp_loss] + [models.mlp_loss] * 2 + [models.bn_mlp_loss] * 2
    )
    assert calls[0][1] == calls[1][1] == {"learning_rate": [0.5, 3.0, 200.0]}
    assert all(c[1] == {"learning_rate": [1.0]} for c in calls[2:])
    # Only the BN network carries model state: its running averages, one set per run.
    assert [c[2] is None for c in calls] == [True, False, True, True, False, False]


def test_figure(result, tmp_path):
    assert_png(draw(plot.batchnorm_figure, result, tmp_path / "batchnorm.png"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"runs": 1}, "runs must be an integer >= 2"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"learning_rates": (0.1,)}, "learning_rates must be at least two finite numbers > 0"),
        ({"learning_rates": (0.1, -1.0)}, r"learning_rates .* got \(0.1, -1.0\)"),
        ({"scales": (0.5, "x")}, "scales must be at least two finite numbers > 0"),
        ({"scale_rate": 0.0}, r"scale_rate must be in \(0, inf\)"),
        ({"threshold": -1.0}, r"threshold must be in \(0, inf\)"),
        ({"data": experiments.Dataset("mnist")}, "data.name must be one of digits, fashion-mnist"),
        ({"data": experiments.Dataset("fashion-mnist")}, "needs its directory"),
        ({"batch_size": 5000}, "batch_size must be at most the 1347 training examples"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiments.batchnorm(**{**TINY, **kwargs})
