"""gdjax.experiments.early_stopping at a tiny size: shapes, the replayed rule, report, figure."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

import gdjax
from gdjax import experiments, plot
from gdjax.training import Batching, EarlyStopping, Evaluation, fit_many, metrics, models
from tests.experiments.helpers import assert_finite_comparison, assert_png, draw
from tests.helpers import COMPILES

es = importlib.import_module("gdjax.experiments.early_stopping")
TINY = {
    "runs": 3,
    "epochs": 8,
    "train_size": 60,
    "patience": 2,
    "width": 16,
    "batch_size": 10,
    "progress": False,
}


@pytest.fixture(scope="module")
def result():
    return experiments.early_stopping(**TINY)


def test_shapes_and_statistics(result):
    r = result
    assert isinstance(r, experiments.EarlyStoppingResult)
    assert r.validation_loss.shape == r.test_mcc.shape == (3, 8)
    assert r.chosen_epoch.shape == r.stopped_epoch.shape == (3,)
    assert np.all((1 <= r.chosen_epoch) & (r.chosen_epoch <= r.stopped_epoch))
    assert np.all(r.stopped_epoch <= 8)
    assert np.all(np.isfinite(r.validation_loss)) and np.all(np.abs(r.test_mcc) <= 1)
    rows = np.arange(3)
    np.testing.assert_array_equal(r.mcc_chosen, r.test_mcc[rows, r.chosen_epoch - 1])
    np.testing.assert_array_equal(r.mcc_end, r.test_mcc[:, -1])
    assert_finite_comparison(r.comparison)
    assert r.comparison.name_a == "early stopping"
    assert r.comparison.mean_a == pytest.approx(r.mcc_chosen.mean())


def test_chosen_epochs_are_the_rule_replayed_by_hand(result):
    r = result
    for i, curve in enumerate(r.validation_loss):
        best, kept, waited, stopped = np.inf, 0, 0, len(curve)
        for epoch, loss in enumerate(curve, 1):
            if loss < best:
                best, kept, waited = loss, epoch, 0
            else:
                waited += 1
                if waited == r.patience:
                    stopped = epoch
                    break
        assert (r.chosen_epoch[i], r.stopped_epoch[i]) == (kept, stopped)


@pytest.mark.parametrize(
    ("curve", "patience", "min_delta", "expected"),
    [
        ([3.0, 2.0, 1.0, 2.0, 3.0, 4.0], 2, 0.0, (3, 5)),
        ([3.0, 2.0, 1.0, 2.0, 3.0, 4.0], 5, 0.0, (3, 6)),
        ([3.0, 2.0, 1.0, 0.5], 1, 0.0, (4, 4)),
        ([1.0, 0.95, 0.9, 0.2, 0.1], 2, 0.1, (1, 3)),
        ([2.0, 2.0, 2.0], 1, 0.0, (1, 2)),
    ],
)
def test_stopping_epoch_by_hand(curve, patience, min_delta, expected):
    assert es.stopping_epoch(np.asarray(curve), patience, min_delta) == expected


def test_stopping_epoch_agrees_with_the_training_hook():
    """fit_many with EarlyStopping keeps and stops where the replay on its curve says."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    train, validation = {"x": x[:20], "y": y[:20]}, {"x": x[20:], "y": y[20:]}

    def loss_fn(p, batch):
        return models.cross_entropy(models.deep_mlp_apply(p, batch["x"]), batch["y"])

    _, history = fit_many(
        loss_fn,
        lambda key: models.deep_mlp_init(key, 5, 32, 1, 2),
        lambda: gdjax.adam(0.1),
        train,
        seeds=4,
        epochs=25,
        batching=Batching(batch_size=5),
        evaluation=Evaluation(validation),
        early_stopping=EarlyStopping(patience=3),
        progress=False,
    )
    for curve, kept, stopped in zip(
        history.validation_loss[0], history.best_epoch[0], history.stopped_epoch[0], strict=True
    ):
        assert es.stopping_epoch(curve, 3) == (kept, stopped)


def test_running_it_again_compiles_nothing(result):
    # The test-MCC metric is one function per process (it used to be built per call, so
    # every call compiled the epoch's evaluation again).
    before = COMPILES.count
    again = experiments.early_stopping(**TINY)
    assert COMPILES.count == before
    np.testing.assert_array_equal(again.test_mcc, result.test_mcc)
    np.testing.assert_array_equal(again.validation_loss, result.validation_loss)


def test_mcc_metric_is_the_test_mcc():
    split = gdjax.training.datasets.digits()
    params = models.deep_mlp_init(jax.random.key(0), 64, 8, 1, 10)
    value = es.mcc_metric(split.test)(params, {"ignored": None})
    predictions = jnp.argmax(models.deep_mlp_apply(params, split.test["x"]), axis=-1)
    assert float(value) == pytest.approx(
        float(metrics.matthews_corrcoef(split.test["y"], predictions, 10))
    )


def test_report_numbers_are_the_arrays(result):
    r, text = result, result.report()
    rows = [line.split() for line in text.splitlines() if line[:1].isdigit()]
    assert len(rows) == r.runs
    for i, row in enumerate(rows):
        assert row[:3] == [str(i), str(r.chosen_epoch[i]), str(r.stopped_epoch[i])]
        assert row[4:] == [f"{r.mcc_chosen[i]:.5f}", f"{r.mcc_end[i]:.5f}"]
    assert f"early stopping: {r.mcc_chosen.mean():.5f}" in text
    assert f"last epoch    : {r.mcc_end.mean():.5f}" in text


def test_figure(result, tmp_path):
    assert_png(draw(plot.early_stopping_figure, result, tmp_path / "es.png"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"runs": 1}, "runs must be an integer >= 2"),
        ({"patience": 0}, "patience must be an integer >= 1"),
        ({"train_size": 901}, "train_size must be at most 900, got 901"),
        ({"train_size": 5}, "train_size must be an integer >= 10"),
        ({"batch_size": 100}, "batch_size must be at most the [0-9]+ training examples, got 100"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiments.early_stopping(**{**TINY, **kwargs})
