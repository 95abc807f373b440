"""Iterating over a dataset: batch, stochastic and mini-batch descent from one function.

Seed 002 §2 distinguishes batch gradient descent (every example per step),
stochastic gradient descent (one example per step) and mini-batch descent (n
examples per step); §6.1 shuffles the data every epoch, or orders it on
purpose (curriculum learning). `epoch_batches` gives the example indices of
one epoch for any of these, as arrays, so a whole epoch can run inside
``jit`` as one ``lax.scan``; `gather` turns them into batches.

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
) -> Batches:
    """The batches of one epoch: shuffled, in a fixed curriculum order, or in order.

    ``batch_size=None`` is batch gradient descent (one batch of every example),
    ``1`` is stochastic gradient descent, ``n`` is mini-batch descent. Every
    example appears exactly once per epoch; with ``drop_last`` the examples
    that do not fill a last batch are left out of this epoch (others are, next
    time, after the reshuffle).

    Traceable: ``key`` may be a tracer; ``examples`` and ``batch_size`` are
    Python ints (they fix the shapes).

    Args:
      key: PRNG key for this epoch's permutation (unused without shuffling).
      examples: the number of examples.
      batch_size: examples per batch; ``None`` for all of them.
      shuffle: a new permutation every epoch (seed 002 §6.1). Default True.
      order: a fixed order of the example indices (a curriculum); used as
        given every epoch, instead of shuffling.
      drop_last: leave out the last, partial batch instead of padding it.
        Default False: it is kept, padded with masked-out examples.

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
    if order is not None:
        permutation = jnp.asarray(order, jnp.int32)
        if permutation.shape != (examples,):
            raise ValueError(
                f"epoch_batches: order must hold each of the {examples} example indices once, "
                f"got shape {permutation.shape}"
            )
    elif shuffle:
        permutation = jax.random.permutation(key, examples).astype(jnp.int32)
    else:
        permutation = jnp.arange(examples, dtype=jnp.int32)
    slots = count * size
    padding = max(slots - examples, 0)
    indices = jnp.concatenate([permutation, jnp.zeros(padding, jnp.int32)])[:slots]
    mask = jnp.arange(slots) < examples
    return Batches(indices.reshape(count, size), mask.reshape(count, size))


def gather(data: Any, indices: jax.Array) -> Any:
    """The examples at ``indices`` (any shape) from every leaf of ``data``."""
    return jax.tree.map(lambda leaf: jnp.take(leaf, indices, axis=0), data)
