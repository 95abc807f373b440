import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as sk

from gdjax.training import metrics

# Seed 001's first confusion matrix (Fashion-MNIST, no momentum), printed with
# "accuracy = 0.8721000" and "MCC = 0.8584048".
BOOK_MATRIX = np.array(
    [
        [866, 1, 14, 28, 8, 1, 68, 0, 14, 0],
        [5, 958, 2, 25, 5, 0, 3, 0, 2, 0],
        [20, 1, 790, 14, 126, 0, 44, 1, 3, 1],
        [29, 21, 15, 863, 46, 1, 20, 0, 5, 0],
        [0, 0, 91, 22, 849, 1, 32, 0, 5, 0],
        [0, 0, 0, 1, 0, 960, 0, 22, 2, 15],
        [161, 2, 111, 38, 115, 0, 556, 0, 17, 0],
        [0, 0, 0, 0, 0, 29, 0, 942, 0, 29],
        [1, 0, 7, 5, 6, 2, 2, 4, 973, 0],
        [0, 0, 0, 0, 0, 6, 0, 29, 1, 964],
    ]
)


def labels_from_matrix(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cells = np.indices(matrix.shape).reshape(2, -1)
    true, predicted = (np.repeat(c, matrix.ravel()) for c in cells)
    return true, predicted


def noisy_predictions(seed: int, n: int, k: int, right: float = 0.6):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    predictions = np.where(rng.random(n) < right, labels, rng.integers(0, k, n))
    return labels, predictions


jitted_mcc = jax.jit(metrics.matthews_corrcoef, static_argnames="num_classes")
jitted_matrix = jax.jit(metrics.confusion_matrix, static_argnames="num_classes")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [2, 3, 10])
def test_against_sklearn_on_random_labels(seed, k):
    labels, predictions = noisy_predictions(seed, 500, k, right=0.3 * (seed + 1))
    want = sk.matthews_corrcoef(labels, predictions)
    assert float(metrics.matthews_corrcoef(labels, predictions)) == pytest.approx(want, abs=1e-6)
    assert float(jitted_mcc(labels, predictions, num_classes=k)) == pytest.approx(want, abs=1e-6)
    want_matrix = sk.confusion_matrix(labels, predictions, labels=range(k))
    np.testing.assert_array_equal(metrics.confusion_matrix(labels, predictions, k), want_matrix)
    np.testing.assert_array_equal(jitted_matrix(labels, predictions, num_classes=k), want_matrix)
    accuracy = sk.accuracy_score(labels, predictions)
    assert float(metrics.accuracy(labels, predictions)) == pytest.approx(accuracy)
    assert float(jax.jit(metrics.accuracy)(labels, predictions)) == pytest.approx(accuracy)


def test_reproduces_the_books_printed_accuracy_and_mcc():
    labels, predictions = labels_from_matrix(BOOK_MATRIX)
    np.testing.assert_array_equal(metrics.confusion_matrix(labels, predictions), BOOK_MATRIX)
    assert float(metrics.accuracy(labels, predictions)) == pytest.approx(0.8721, abs=1e-7)
    # float32 keeps the MCC to a few units in the last place (~2e-7 here) ...
    mcc = metrics.matthews_corrcoef(labels, predictions)
    assert mcc.dtype == jnp.float32
    assert float(mcc) == pytest.approx(0.8584048, abs=5e-7)
    # ... and with x64 it is sklearn's float64 number, 0.8584047925937331.
    with jax.enable_x64(True):
        mcc = metrics.matthews_corrcoef(labels, predictions)
        assert mcc.dtype == jnp.float64
        assert float(mcc) == pytest.approx(sk.matthews_corrcoef(labels, predictions), abs=1e-14)
    assert round(float(mcc), 7) == 0.8584048


def test_binary_mcc_is_the_two_class_formula():
    labels = np.array([1, 1, 1, 0, 0, 1, 0, 1])
    predictions = np.array([1, 0, 1, 1, 0, 1, 0, 0])
    tp, tn, fp, fn = 3, 2, 1, 2
    want = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert float(metrics.matthews_corrcoef(labels, predictions)) == pytest.approx(want, abs=1e-7)
    # sklearn's docstring example, with the classes 0/1 instead of -1/+1
    got = metrics.matthews_corrcoef(np.array([1, 1, 1, 0]), np.array([1, 0, 1, 1]))
    assert float(got) == pytest.approx(-0.33, abs=5e-3)


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")  # sklearn's
@pytest.mark.parametrize(
    "labels,predictions",
    [
        ([1, 1, 1, 1], [1, 1, 1, 1]),  # one class everywhere
        ([0, 1, 2, 1], [2, 2, 2, 2]),  # every prediction one class
        ([3, 3, 3], [0, 1, 2]),  # every label one class
    ],
)
def test_degenerate_cases_give_zero_like_sklearn(labels, predictions):
    labels, predictions = np.array(labels), np.array(predictions)
    assert sk.matthews_corrcoef(labels, predictions) == 0.0
    assert float(metrics.matthews_corrcoef(labels, predictions)) == 0.0
    assert float(jitted_mcc(labels, predictions, num_classes=4)) == 0.0


def test_perfect_and_extra_empty_classes():
    labels, _ = noisy_predictions(5, 100, 4)
    assert float(metrics.matthews_corrcoef(labels, labels)) == pytest.approx(1.0)
    _, predictions = noisy_predictions(5, 100, 4)
    base = metrics.matthews_corrcoef(labels, predictions)
    assert float(metrics.matthews_corrcoef(labels, predictions, 9)) == pytest.approx(float(base))


def test_scores_with_a_class_axis_are_argmaxed_and_vmap_works():
    labels, predictions = noisy_predictions(3, 64, 10)
    noise = jax.random.uniform(jax.random.key(0), (64, 10))
    scores = jax.nn.one_hot(predictions, 10) + 0.01 * noise
    assert float(metrics.accuracy(labels, scores)) == pytest.approx(np.mean(labels == predictions))
    runs = jnp.stack([scores, scores[::-1]])  # two runs' scores on one test set
    per_run = jax.vmap(functools.partial(metrics.matthews_corrcoef, num_classes=10), (None, 0))(
        labels, runs
    )
    assert per_run.shape == (2,)
    want = sk.matthews_corrcoef(labels, predictions)
    assert float(per_run[0]) == pytest.approx(want, abs=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="must have one shape"):
        metrics.accuracy(np.zeros(3, int), np.zeros(4, int))
    with pytest.raises(ValueError, match="integer class indices"):
        metrics.matthews_corrcoef(np.zeros(3, int), np.array([0.2, 0.9, 0.4]))
    with pytest.raises(ValueError, match=r"in \[0, 2\].*e.g. 5"):
        metrics.confusion_matrix(np.array([0, 1, 5]), np.array([0, 1, 2]), 3)
    with pytest.raises(ValueError, match="e.g. -1"):
        metrics.confusion_matrix(np.array([0, -1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="inside jit, num_classes must be given"):
        jax.jit(metrics.matthews_corrcoef)(np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="Python int"):
        metrics.confusion_matrix(np.array([0, 1]), np.array([0, 1]), 2.0)


def test_out_of_range_labels_are_not_counted_inside_jit():
    matrix = jitted_matrix(jnp.array([0, 1, 7, -1]), jnp.array([0, 1, 1, 0]), num_classes=2)
    np.testing.assert_array_equal(matrix, [[1, 0], [0, 1]])
