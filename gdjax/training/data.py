"""Iterating over a dataset: batch, stochastic and mini-batch descent from one function.

Seed 002 §2 distinguishes batch gradient descent (every example per step),
stochastic gradient descent (one example per step) and mini-batch descent (n
examples per step); §6.1 shuffles the data every epoch, or orders it on
purpose (curriculum learning: one order for every epoch, or one per epoch,
easy examples first and growing to the full set). `epoch_batches` gives the
example indices of one epoch for any of these, as arrays, so a whole epoch
can run inside ``jit`` as one ``lax.scan``; `gather` turns them into batches.

A dataset is any pytree of arrays whose leaves share their first axis (the
examples), e.g. ``{"x": images, "y": labels}``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdjax._validation import check_flag, check_int


class Batches(NamedTuple):
    """The examples of one epoch, batch by batch.

    Attributes:
      indices: ``(num_batches, batch_size)`` int32 example indices.
      mask: ``(num_batches, batch_size)`` bool; False marks the padding of a
        last, partial batch (kept with ``drop_last=False``), True elsewhere.
    """

    indices: jax.Array
    mask: jax.Array


def num_examples(data: Any) -> int:
    """The length of the examples axis; every leaf must agree."""
    sizes = {int(np.shape(leaf)[0]) for leaf in jax.tree.leaves(data) if np.ndim(leaf) > 0}
    if len(sizes) != 1:
        raise ValueError(
            "a dataset's leaves must share their first (examples) axis; got lengths "
            f"{sorted(sizes) or 'none (no arrays)'}"
        )
    return sizes.pop()


def batches_per_epoch(examples: int, batch_size: int | None, drop_last: bool = False) -> int:
    """How many batches an epoch has: ``examples / batch_size``, rounded down with
    ``drop_last`` and up without; 1 for a full batch (``batch_size=None``)."""
    if batch_size is None:
        return 1
    return examples // batch_size if drop_last else -(-examples // batch_size)


def epoch_batches(
    key: jax.Array,
    examples: int,
    batch_size: int | None = None,
    *,
    shuffle: bool = True,
    order: Any = None,
    drop_last: bool = False,
    epoch: int | jax.Array = 0,
) -> Batches:
    """The batches of one epoch: shuffled, in a fixed or per-epoch order, or in order.

    ``batch_size=None`` is batch gradient descent (one batch of every example),
    ``1`` is stochastic gradient descent, ``n`` is mini-batch descent. Every
    example appears exactly once per epoch; with ``drop_last`` the examples
    that do not fill a last batch are left out of this epoch (others are, next
    time, after the reshuffle).

    An ``order`` may leave examples out of an epoch (a curriculum that grows):
    its -1 slots. The epoch keeps its number of batches, so every epoch is the
    same program: its examples fill the first batches, in the row's order, as
    a loop over them alone would cut them, and the slots after them are masked
    out like the padding of a partial last batch (whole batches of them are
    steps that train nothing).

    Traceable: ``key`` and ``epoch`` may be tracers; ``examples``, ``batch_size``
    and ``order`` are concrete (they fix the shapes).

    Args:
      key: PRNG key for this epoch's permutation (unused without shuffling).
      examples: the number of examples.
      batch_size: examples per batch; ``None`` for all of them.
      shuffle: a new permutation every epoch (seed 002 §6.1). Default True.
      order: instead of shuffling, the example indices in the order to take
        them, with -1 for a slot left out: one row ``(examples,)`` used every
        epoch, or one row per epoch ``(epochs, examples)``, an epoch past the
        last row taking the last row (a curriculum ends on its full set).
        See `epoch_orders`.
      drop_last: leave out the last, partial batch instead of padding it.
        Default False: it is kept, padded with masked-out examples.
      epoch: the epoch, from 0: which row of a 2-D ``order`` is used.

    Returns:
      `Batches`.
    """
    check_int("epoch_batches", "examples", examples, 1)
    if batch_size is not None:
        check_int("epoch_batches", "batch_size", batch_size, 1)
        if batch_size > examples:
            raise ValueError(
                f"epoch_batches: batch_size {batch_size} is larger than the {examples} examples"
            )
    check_flag("epoch_batches", "shuffle", shuffle)
    check_flag("epoch_batches", "drop_last", drop_last)
    size = examples if batch_size is None else batch_size
    count = batches_per_epoch(examples, batch_size, drop_last)
    # drop_last cuts batches of the examples taken, so each row must fill one.
    dropping = drop_last and batch_size is not None
    if order is not None:
        try:
            rows = epoch_orders(order, examples, size if dropping else 1).reshape(-1, examples)
        except ValueError as error:
            raise ValueError(f"epoch_batches: order {error}") from None
        row = jnp.asarray(rows)[jnp.clip(epoch, 0, len(rows) - 1)]
        permutation, taken = jnp.maximum(row, 0), jnp.sum(row >= 0)
    elif shuffle:
        permutation = jax.random.permutation(key, examples).astype(jnp.int32)
        taken = examples
    else:
        permutation, taken = jnp.arange(examples, dtype=jnp.int32), examples
    if dropping:
        taken = taken // size * size
    slots = count * size
    padding = max(slots - examples, 0)
    indices = jnp.concatenate([permutation, jnp.zeros(padding, jnp.int32)])[:slots]
    mask = jnp.arange(slots) < taken
    return Batches(indices.reshape(count, size), mask.reshape(count, size))


def epoch_orders(order: Any, examples: int, least: int = 1) -> np.ndarray:
    """``order`` (see `epoch_batches`) checked and as the epochs take it: int32, each
    row's examples first, in the row's order, and its -1 after them.

    Args:
      order: one row ``(examples,)`` or one row per epoch ``(epochs, examples)`` of
        distinct example indices in ``[0, examples)``, -1 for a slot left out.
      examples: the number of examples.
      least: the examples a row must hold, >= 1 (a batch's worth with ``drop_last``).

    Raises:
      ValueError: ``order`` is not such an array. The message starts with what it
        must be, for the caller to prefix with the argument's name.
    """
    array = np.asarray(order)
    problem = _order_problem(array, examples, least)
    if problem:
        raise ValueError(
            f"must be a 1-D ({examples},) or 2-D (epochs, {examples}) integer array whose "
            f"every row holds distinct example indices in [0, {examples}), -1 in a slot "
            f"left out, and at least {least} example{'s' if least > 1 else ''}; got "
            f"{_shown(array)}: {problem}"
        )
    # Stable: the examples keep the row's order, the slots left out go last.
    ranks = np.argsort(array < 0, axis=-1, kind="stable")
    return np.take_along_axis(array, ranks, axis=-1).astype(np.int32)


def _order_problem(array: np.ndarray, examples: int, least: int) -> str:
    """What is wrong with ``array`` as an order (see `epoch_orders`); "" if nothing."""
    if not np.issubdtype(array.dtype, np.integer):
        return f"its dtype is {array.dtype}"
    if array.ndim not in (1, 2) or array.shape[-1] != examples or array.size == 0:
        return f"its shape is {array.shape}"
    if array.min() < -1 or array.max() >= examples:
        return f"it holds {array.min() if array.min() < -1 else array.max()}"
    rows = np.atleast_2d(array)
    for e, row in enumerate(rows):
        taken = row[row >= 0]
        name = "it" if array.ndim == 1 else f"row {e}"
        if len(taken) < least:
            return f"{name} holds {len(taken)} example{'s' if len(taken) != 1 else ''}"
        values, counts = np.unique(taken, return_counts=True)
        if counts.max() > 1:
            return f"{name} repeats example {values[counts.argmax()]}"
    return ""


def _shown(order: np.ndarray) -> str:
    if order.ndim != 1 or order.size > 8:
        return f"an array of shape {order.shape} and dtype {order.dtype}"
    return repr(order.tolist())


def gather(data: Any, indices: jax.Array) -> Any:
    """The examples at ``indices`` (any shape) from every leaf of ``data``."""
    return jax.tree.map(lambda leaf: jnp.take(leaf, indices, axis=0), data)
