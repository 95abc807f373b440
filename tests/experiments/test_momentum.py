"""gdjax.experiments.momentum at a tiny size: shapes, scores, statistics, report, figure."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from gdjax import experiments, plot
from gdjax.training import metrics
from tests.experiments.helpers import (
    assert_finite_comparison,
    assert_png,
    draw,
    fake_fashion_mnist,
)
from tests.helpers import COMPILES


@pytest.fixture(scope="module")
def momentum_result():
    return experiments.momentum(runs=2, steps=60, progress=False)


def test_momentum_shapes_scores_and_figure(momentum_result, tmp_path):
    r = momentum_result
    assert isinstance(r, experiments.MomentumResult)
    assert r.accuracy.shape == r.mcc.shape == (2, 2)
    assert r.confusion.shape == (2, 10, 10)
    assert r.history.train_loss.shape[:2] == (2, 2)
    assert (r.learning_rates, r.momenta, r.steps, r.dataset) == (
        (1.0, 0.2),
        (0.0, 0.9),
        60,
        "digits",
    )
    assert (r.sizes, r.batch_size, r.runs) == ((64, 100, 50, 10), 64, 2)
    assert np.all((r.accuracy >= 0) & (r.accuracy <= 1)) and np.all(np.abs(r.mcc) <= 1)
    # Run 0's confusion matrix is the run scored: its trace over its total is its accuracy.
    trace = np.trace(r.confusion, axis1=1, axis2=2) / r.confusion.sum(axis=(1, 2))
    np.testing.assert_allclose(trace, r.accuracy[:, 0], rtol=1e-6)
    assert_finite_comparison(r.comparison)
    assert (r.comparison.name_a, r.comparison.name_b) == ("momentum", "no momentum")
    assert r.comparison.mean_a == pytest.approx(r.mcc[1].mean())
    assert r.seconds > 0
    assert_png(draw(plot.momentum_figure, r, tmp_path / "fig11_8.png"))
    text = r.report()
    assert text.count("accuracy = ") == 2 and text.count("MCC = ") == 2
    assert "t-test momentum vs no momentum (t, p)" in text and "Cohen's d" in text


def test_momentum_report_says_the_spread_is_a_standard_error(momentum_result):
    text = momentum_result.report()
    assert "mean +/- SE (standard error of the mean)" in text
    means = text.split("mean +/- SE (standard error of the mean):")[1]
    assert means.lstrip().startswith("momentum   : ")  # the labelled lines follow it


def test_momentum_mcc_matches_the_metrics_on_run_0(momentum_result):
    # Recomputed from the confusion matrix with the metrics module's own MCC.
    r = momentum_result
    for i in (0, 1):
        labels = np.repeat(np.arange(10), r.confusion[i].sum(axis=1))
        predictions = np.concatenate(
            [np.repeat(np.arange(10), row) for row in r.confusion[i]]
        ).astype(np.int32)
        want = float(metrics.matthews_corrcoef(labels.astype(np.int32), predictions, 10))
        assert r.mcc[i, 0] == pytest.approx(want, abs=1e-6)


def test_running_it_again_compiles_nothing(momentum_result):
    # The init, the epoch and the scoring programs are kept on functions that are the
    # same in every call (a new lambda per call would compile its program again).
    before = COMPILES.count
    again = experiments.momentum(runs=2, steps=60, progress=False)
    assert COMPILES.count == before
    np.testing.assert_array_equal(again.mcc, momentum_result.mcc)


def test_momentum_draws_nothing_and_takes_no_out():
    with pytest.raises(TypeError, match="out"):
        experiments.momentum(runs=2, steps=1, out="figure.png", progress=False)


def test_momentum_on_fashion_mnist_files_uses_the_196_input_network(tmp_path):
    data = fake_fashion_mnist(tmp_path)
    r = experiments.momentum(
        runs=2,
        steps=3,
        batch_size=4,
        data=experiments.Dataset("fashion-mnist", data),
        progress=False,
    )
    assert r.accuracy.shape == (2, 2)
    assert "MLP 196-100-50-10" in r.report().splitlines()[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"runs": 1}, "runs must be an integer >= 2"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"data": experiments.Dataset("mnist")}, "data.name must be one of digits, fashion-mnist"),
        ({"data": experiments.Dataset("fashion-mnist")}, "needs its directory"),
        ({"batch_size": 5000}, "batch_size must be at most the 1347 training examples"),
        ({"progress": 1}, "progress must be True or False"),
        ({"data": "digits"}, "data must be a gdjax.experiments.Dataset"),
        ({"data": ("fashion-mnist", "d")}, "data must be a gdjax.experiments.Dataset"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiments.momentum(**{"progress": False, **kwargs})


def test_missing_fashion_mnist_files_are_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        experiments.momentum(data=experiments.Dataset("fashion-mnist", tmp_path), progress=False)
