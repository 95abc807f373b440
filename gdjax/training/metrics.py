"""Classification metrics in pure ``jax.numpy``: accuracy, confusion matrix, MCC.

Seed 001 scores each Fashion-MNIST run by its confusion matrix, its accuracy
and its Matthews correlation coefficient (MCC), "a better measure of a model
than accuracy". These functions run inside ``jit`` (so a whole evaluation,
even a ``vmap`` over 44 runs, stays on the device) and on NumPy arrays alike,
and give scikit-learn's numbers.

Labels are integer class indices ``0 .. num_classes - 1``. Predictions are
class indices of the same shape, or scores (logits, probabilities, the MLP's
sigmoid outputs) with one more, trailing, class axis, of which the argmax is
taken.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _is_traced(*arrays: Any) -> bool:
    return any(isinstance(array, jax.core.Tracer) for array in arrays)


def _labels_and_predictions(owner: str, labels: Any, predictions: Any) -> tuple[jax.Array, ...]:
    """Both as integer class indices of one shape; scores are turned into their argmax."""
    labels, predictions = jnp.asarray(labels), jnp.asarray(predictions)
    if predictions.ndim == labels.ndim + 1:
        predictions = jnp.argmax(predictions, axis=-1)
    if labels.shape != predictions.shape:
        raise ValueError(
            f"{owner}: labels {labels.shape} and predictions {predictions.shape} must have one "
            "shape (or predictions one more, trailing, class axis of scores)"
        )
    # Casting float scores (say one sigmoid output per example) to int would
    # truncate them to class 0 without a word, so class indices must be integers.
    for name, array in (("labels", labels), ("predictions", predictions)):
        if not jnp.issubdtype(array.dtype, jnp.integer) and array.dtype != jnp.bool_:
            raise ValueError(
                f"{owner}: {name} must be integer class indices, got dtype {array.dtype}; "
                "threshold one-output scores first, e.g. (p > 0.5).astype(int)"
            )
    return labels.astype(jnp.int32), predictions.astype(jnp.int32)


def _num_classes(owner: str, labels: jax.Array, predictions: jax.Array, num_classes: Any) -> int:
    """``num_classes`` as given (checked), or inferred as the largest label + 1 outside jit.

    The confusion matrix's shape depends on it, so inside ``jit`` it has to be a
    Python int (mark it static); inferring it would read traced values.
    """
    traced = _is_traced(labels, predictions)
    if num_classes is None:
        if traced:
            raise ValueError(
                f"{owner}: inside jit, num_classes must be given as a Python int (a static "
                "argument): it fixes the shape of the confusion matrix"
            )
        if labels.size == 0:
            raise ValueError(f"{owner}: cannot infer num_classes from no labels; give it")
        _check_range(owner, "labels", labels, None)
        _check_range(owner, "predictions", predictions, None)
        num_classes = int(max(jnp.max(labels), jnp.max(predictions))) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(
            f"{owner}: num_classes must be a Python int (static inside jit), got {num_classes!r}"
        )
    if num_classes < 1:
        raise ValueError(f"{owner}: num_classes must be >= 1, got {num_classes}")
    if not traced:
        _check_range(owner, "labels", labels, num_classes)
        _check_range(owner, "predictions", predictions, num_classes)
    return int(num_classes)


def _check_range(owner: str, name: str, values: jax.Array, num_classes: int | None) -> None:
    """Concrete labels outside ``0 .. num_classes - 1`` (or negative, when ``num_classes``
    is still unknown) are an error; inside jit (where nothing can be raised)
    `confusion_matrix` leaves them out instead."""
    values = np.asarray(values)
    outside = values < 0 if num_classes is None else (values < 0) | (values >= num_classes)
    bad = values[outside]
    if bad.size:
        allowed = "0, 1, 2, ..." if num_classes is None else f"[0, {num_classes - 1}]"
        raise ValueError(
            f"{owner}: {name} must be class indices in {allowed} "
            f"(num_classes={num_classes}), got {bad.size} outside, e.g. {int(bad[0])}"
        )


def accuracy(labels: Any, predictions: Any) -> jax.Array:
    """The fraction of predictions equal to the labels (scikit-learn's ``accuracy_score``).

        accuracy = #{i: predictions_i = labels_i} / n

    Args:
      labels: integer class indices, any shape.
      predictions: class indices of the same shape, or scores with one more,
        trailing, class axis (their argmax is the prediction).

    Returns:
      A float32 scalar (NaN for no examples).
    """
    labels, predictions = _labels_and_predictions("accuracy", labels, predictions)
    return _accuracy(labels, predictions)


@jax.jit
def _accuracy(labels: jax.Array, predictions: jax.Array) -> jax.Array:
    return jnp.mean(labels == predictions, dtype=jnp.float32)


def confusion_matrix(labels: Any, predictions: Any, num_classes: int | None = None) -> jax.Array:
    """Counts of (true class, predicted class) pairs.

        C[i, j] = #{examples of class i predicted as class j}

    Rows are the true classes and columns the predicted ones, as in
    scikit-learn's ``confusion_matrix(labels, predictions, labels=range(K))``
    and seed 001's printouts; the diagonal holds the correct predictions.

    Args:
      labels: integer class indices, any shape.
      predictions: class indices of the same shape, or scores with one more,
        trailing, class axis.
      num_classes: ``K``, a Python int (static inside ``jit``). Default None:
        the largest label or prediction + 1, which only works outside ``jit``.
        Outside ``jit`` labels outside ``0 .. K - 1`` raise a ``ValueError``;
        inside, they are not counted.

    Returns:
      ``(K, K)`` int32 counts.
    """
    owner = "confusion_matrix"
    labels, predictions = _labels_and_predictions(owner, labels, predictions)
    k = _num_classes(owner, labels, predictions, num_classes)
    return _count(labels, predictions, k)


# The arithmetic is jitted (it inlines into a caller's jit) so that eager calls,
# e.g. scoring a test set after training, compile once per shape instead of op by op.
@functools.partial(jax.jit, static_argnames="k")
def _count(labels: jax.Array, predictions: jax.Array, k: int) -> jax.Array:
    labels, predictions = labels.ravel(), predictions.ravel()
    valid = (labels >= 0) & (labels < k) & (predictions >= 0) & (predictions < k)
    # One bin per (true, predicted) pair plus a last bin that collects the invalid
    # pairs, so that they are dropped instead of landing in a wrong cell.
    cell = jnp.where(valid, labels * k + predictions, k * k)
    counts = jnp.bincount(cell, length=k * k + 1)[: k * k]
    return counts.reshape(k, k).astype(jnp.int32)


def matthews_corrcoef(labels: Any, predictions: Any, num_classes: int | None = None) -> jax.Array:
    """The Matthews correlation coefficient, multi-class (Gorodkin's R_K), as scikit-learn.

    From the confusion matrix ``C`` of ``n`` examples, with ``t_k`` the number of
    examples of class ``k`` (row sums), ``p_k`` the number predicted as ``k``
    (column sums) and ``c`` the correct ones (the trace):

        MCC = (c n - sum_k t_k p_k) / sqrt((n² - sum_k p_k²) (n² - sum_k t_k²))

    1 is a perfect prediction, 0 no better than chance, and the minimum lies
    between -1 and 0. As in scikit-learn, the MCC is 0 when the denominator is
    (every label or every prediction in one class). For two classes it is the
    familiar ``(TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``.

    It is computed from the shares ``t_k / n`` and ``p_k / n`` and with
    ``n² - sum p_k² = sum p_k (n - p_k)``, a sum of non-negative terms, so that
    float32 keeps its precision for large ``n`` (float64 is used when
    ``jax_enable_x64`` is on).

    References: B. W. Matthews, Biochim. Biophys. Acta 405, 1975 (two classes);
    J. Gorodkin, *Comparing two K-category assignments by a K-category
    correlation coefficient*, Comput. Biol. Chem. 28, 2004.

    Args:
      labels: integer class indices, any shape.
      predictions: class indices of the same shape, or scores with one more,
        trailing, class axis.
      num_classes: ``K``, a Python int (static inside ``jit``). Default None:
        inferred outside ``jit`` as in `confusion_matrix`. Classes that occur
        nowhere do not change the MCC, so any ``K`` above the largest label
        gives the same value.

    Returns:
      A float scalar (float32, or float64 with x64).
    """
    return _mcc(confusion_matrix(labels, predictions, num_classes))


@jax.jit
def _mcc(counts: jax.Array) -> jax.Array:
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    counts = counts.astype(dtype)
    n = jnp.sum(counts)
    true_share = jnp.sum(counts, axis=1) / n
    predicted_share = jnp.sum(counts, axis=0) / n
    covariance = jnp.trace(counts) / n - jnp.dot(true_share, predicted_share)
    predicted_variance = jnp.sum(predicted_share * (1 - predicted_share))
    true_variance = jnp.sum(true_share * (1 - true_share))
    denominator = predicted_variance * true_variance
    # No examples, or all labels (predictions) in one class: 0, not 0/0.
    degenerate = ~(denominator > 0)
    safe = jnp.where(degenerate, 1.0, denominator)
    return jnp.where(degenerate, 0.0, covariance / jnp.sqrt(safe)).astype(dtype)
