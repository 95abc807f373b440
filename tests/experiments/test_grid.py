"""gdjax.experiments.grid: a learning-rate x momentum grid, chosen on validation, tested on test."""

import importlib

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

from gdjax import experiments, plot
from gdjax.training import datasets
from tests.experiments.helpers import assert_png, draw

grid_module = importlib.import_module("gdjax.experiments.grid")


@pytest.fixture(scope="module")
def grid_result():
    return experiments.grid(learning_rates=[0.1, 1.0], momenta=[0.0, 0.9], steps=40, progress=False)


def test_grid_best_cell_and_heatmap(grid_result, tmp_path):
    r = grid_result
    assert isinstance(r, experiments.GridResult)
    shapes = {a.shape for a in (r.validation_loss, r.validation_accuracy, r.test_loss)}
    assert shapes | {r.test_accuracy.shape, r.failed.shape} == {(2, 2)}
    assert np.all(np.isfinite(r.validation_loss)) and np.all(np.isfinite(r.test_loss))
    assert not r.failed.any()
    i, j = np.unravel_index(np.argmin(r.validation_loss), (2, 2))
    assert r.best["learning_rate"] == pytest.approx([0.1, 1.0][i])
    assert r.best["momentum"] == [0.0, 0.9][j]
    assert r.best["validation_loss"] == pytest.approx(r.validation_loss[i, j])
    # The best cell's test scores are reported, not chosen on.
    assert r.best["test_loss"] == pytest.approx(r.test_loss[i, j])
    assert r.best["test_accuracy"] == pytest.approx(r.test_accuracy[i, j])
    np.testing.assert_allclose(r.learning_rates, [0.1, 1.0])
    np.testing.assert_allclose(r.momenta, [0.0, 0.9])
    assert_png(draw(plot.grid_figure, r, tmp_path / "grid.png"))


def test_grid_holds_a_validation_set_out_of_the_training_data(grid_result):
    train, validation, test = grid_result.examples
    assert train + validation == 1347 and test == 450  # digits' training and test split
    assert validation == pytest.approx(0.2 * 1347, abs=10)
    text = grid_result.report()
    assert f"{validation:,} for validation (held out of the training set)" in text
    assert "best on validation: learning_rate=" in text
    assert "its test scores (the test set chose nothing)" in text


def test_validation_split_is_stratified_and_disjoint():
    split = datasets.digits()
    kept, held = grid_module.validation_split(split.train, 0.2)
    assert len(kept["y"]) + len(held["y"]) == len(split.train["y"])
    rows = {tuple(x) for x in np.concatenate([kept["x"], held["x"]]).round(4)}
    assert len(rows) == len({tuple(x) for x in split.train["x"].round(4)})  # a partition
    assert not {tuple(x) for x in kept["x"]} & {tuple(x) for x in held["x"]}
    for label in range(10):
        share = np.mean(held["y"] == label) / np.mean(split.train["y"] == label)
        assert share == pytest.approx(1.0, abs=0.1)  # every class in proportion
    again = grid_module.validation_split(split.train, 0.2)[1]
    np.testing.assert_array_equal(again["y"], held["y"])  # a fixed split


def test_best_is_chosen_on_validation_not_on_test_and_never_failed():
    lrs, moms = np.array([0.1, 1.0]), np.array([0.0, 0.9])
    validation_loss = np.array([[0.3, 0.1], [0.05, 0.4]])
    test_loss = np.array([[0.01, 0.2], [0.3, 0.4]])  # test would pick (0.1, 0.0)
    failed = np.array([[False, False], [True, False]])  # the validation minimum diverged
    cells = grid_module._Cells(
        validation_loss, np.full((2, 2), 0.9), test_loss, np.full((2, 2), 0.8), failed
    )
    best = grid_module._best(lrs, moms, cells)
    assert (best["learning_rate"], best["momentum"]) == (0.1, 0.9)
    assert best["test_loss"] == 0.2 and best["validation_loss"] == 0.1
    everything_failed = cells._replace(failed=np.ones((2, 2), bool))
    assert grid_module._best(lrs, moms, everything_failed) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning_rates": [0.1, 0.0]}, "learning_rates must be"),
        ({"momenta": [0.5, 1.5]}, r"momenta must be .* in \[0, 1\]"),
        ({"momenta": []}, "momenta must be a non-empty"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be in \(0, 1\)"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"data": experiments.Dataset("mnist")}, "data.name must be one of digits"),
        ({"data": experiments.Dataset("fashion-mnist")}, "needs its directory"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiments.grid(**{"progress": False, **kwargs})
