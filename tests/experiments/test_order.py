"""gdjax.experiments.order at a tiny size: shapes, statistics, report, orders, figure."""

import importlib
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from gdjax import experiments, plot
from gdjax.experiments import _common
from tests.experiments.helpers import assert_finite_comparison, assert_png, draw

order_module = importlib.import_module("gdjax.experiments.order")
TINY = {"runs": 2, "epochs": 2, "width": 8, "depth": 1, "progress": False}


@pytest.fixture(scope="module")
def result():
    return experiments.order(**TINY)


def test_order_shapes_and_statistics(result):
    r = result
    assert isinstance(r, experiments.OrderResult)
    n = r.margin.shape[0]
    assert r.orders.shape == (2, n)
    assert r.curriculum.shape == (2, n)  # one order per epoch
    assert r.validation_loss.shape == (3, 2, 2)
    assert r.curve_mean.shape == r.curve_se.shape == (3, 2)
    assert r.mcc.shape == r.accuracy.shape == (3, 2)
    assert r.seconds.shape == (3,) and np.all(r.seconds > 0)
    assert np.all(np.isfinite(r.validation_loss)) and np.all(np.isfinite(r.curve_se))
    np.testing.assert_allclose(r.curve_mean, r.validation_loss.mean(axis=1))
    assert [(c.name_a, c.name_b) for c in r.comparisons] == [
        ("shuffled", "sorted by class"),
        ("shuffled", "curriculum"),
        ("curriculum", "sorted by class"),
    ]
    for comparison in r.comparisons:
        assert_finite_comparison(comparison)
    np.testing.assert_allclose(r.comparisons[1].mean_b, r.mcc[2].mean())


def test_report_numbers_are_the_arrays(result):
    r, text = result, result.report()
    for v, name in enumerate(r.labels):
        assert f"{name}  " in text
        assert _common.mean_se(r.mcc[v]) in text
        assert _common.mean_se(r.validation_loss[v, :, -1], 4) in text
        first = f"{r.curve_mean[v, 0]:.4f} +/- {r.curve_se[v, 0]:.4f}"
        assert first in text
    assert "t-test shuffled vs sorted by class (t, p)" in text


def test_the_orders_are_by_class_and_easiest_first(result):
    r = result
    train = order_module._split()[0]
    by_class, curriculum = r.orders
    assert np.all(np.diff(train["y"][by_class]) >= 0)
    assert sorted(curriculum) == list(range(len(curriculum)))
    # Easiest (largest logistic-regression margin) first, hardest last.
    assert np.all(np.diff(r.margin[curriculum]) <= 0)
    assert curriculum[0] == np.argmax(r.margin) and curriculum[-1] == np.argmin(r.margin)
    # The fit classifies its training set well: the easy end is positive, a few
    # misclassified examples (negative margin) sit at the hard end.
    assert r.margin[curriculum[: len(curriculum) // 2]].min() > 0


def test_the_curriculum_grows_from_the_easiest_quarter_to_the_full_set(result):
    r = result
    ranking, n = r.orders[1], r.margin.shape[0]
    first, last = r.curriculum
    # Epoch 1: only the easiest 25%, easiest first; the rest of its slots left out.
    easiest = int(np.ceil(order_module.CURRICULUM_START * n))
    np.testing.assert_array_equal(first[:easiest], ranking[:easiest])
    assert np.all(first[easiest:] == -1)
    assert r.margin[first[:easiest]].min() >= r.margin[ranking[easiest:]].max()
    # Epoch 2 of 2 (past the first half): the full set, easiest first.
    np.testing.assert_array_equal(last, ranking)
    text = r.report()
    assert f"epoch 1 takes the easiest {easiest} of the {n} examples, epochs 2-2 take" in text


def test_curriculum_sizes_grow_linearly_over_the_first_half():
    sizes = order_module.curriculum_sizes(1000, 20)
    # 25% in epoch 1, 7.5 points more each epoch of the first 10, then all 1000.
    np.testing.assert_array_equal(sizes[:10], 250 + 75 * np.arange(10))
    assert np.all(sizes[10:] == 1000)
    assert np.all(np.diff(sizes) >= 0)
    orders = order_module.curriculum_orders(np.arange(1000)[::-1], 20)
    assert orders.shape == (20, 1000)
    np.testing.assert_array_equal((orders >= 0).sum(axis=1), sizes)
    np.testing.assert_array_equal(orders[3, : sizes[3]], np.arange(1000)[::-1][: sizes[3]])


def test_logistic_margin_is_true_logit_minus_the_best_other():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(60, 4)).astype(np.float32), "y": np.arange(60) % 3}
    margin = order_module.logistic_margin(data)
    logits = LogisticRegression(C=1.0, max_iter=2000).fit(data["x"], data["y"])
    logits = logits.decision_function(data["x"].astype(np.float64))
    for i in (0, 7, 31):
        others = np.delete(logits[i], data["y"][i])
        assert margin[i] == pytest.approx(logits[i, data["y"][i]] - others.max())


def test_the_variants_are_three_programs_shuffled_sorted_curriculum():
    batchings = []
    real = _common.fit_many

    def record(*args, **kwargs):
        batchings.append(kwargs["batching"])
        return real(*args, **kwargs)

    with mock.patch("gdjax.experiments._common.fit_many", side_effect=record):
        r = experiments.order(**TINY)
    assert [b.shuffle for b in batchings] == [True, False, False]
    assert batchings[0].order is None
    np.testing.assert_array_equal(batchings[1].order, r.orders[0])
    np.testing.assert_array_equal(batchings[2].order, r.curriculum)


def test_figure(result, tmp_path):
    assert_png(draw(plot.order_figure, result, tmp_path / "order.png"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"runs": 1}, "runs must be an integer >= 2"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"learning_rate": 0.0}, r"learning_rate must be in \(0, inf\)"),
        ({"batch_size": 5000}, "batch_size must be at most the 1078 training examples, got 5000"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiments.order(**{**TINY, **kwargs})
