"""Small tree math shared by the transformations.

Every function here maps over the leaves of pytrees; ``None`` leaves (as optax
allows for masked or absent parameters) are empty subtrees and are skipped.
Trees that must line up are checked first, so a mismatch is reported with both
structures instead of a bare ``tree_map`` message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_INT32_MAX = np.iinfo(np.int32).max


class StructureError(ValueError):
    """Two pytrees that must have the same structure do not."""


def check_structure(reference: Any, other: Any, names: tuple[str, str]) -> None:
    """Raises `StructureError` naming both structures if they differ."""
    ref_def = jax.tree.structure(reference)
    other_def = jax.tree.structure(other)
    if ref_def != other_def:
        width = max(len(n) for n in names)
        raise StructureError(
            f"{names[0]} and {names[1]} have different tree structures:\n"
            f"  {names[0]:<{width}}: {ref_def}\n"
            f"  {names[1]:<{width}}: {other_def}\n"
            "The optimizer state must come from init() on a params tree with the "
            "structure of the updates."
        )


def map(
    fn: Callable[..., Any], first: Any, *rest: Any, names: tuple[str, str] = ("updates", "state")
) -> Any:
    """``jax.tree.map`` that first checks every tree has the structure of ``first``."""
    for other in rest:
        check_structure(first, other, names)
    return jax.tree.map(fn, first, *rest)


def _check_floating(x: Any) -> None:
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise TypeError(
            f"gdjax optimizers work on floating-point params; got a leaf of dtype {dtype} "
            "(cast integer params to a float dtype first)"
        )


def full_like(tree: Any, fill_value: Any, dtype: Any = None) -> Any:
    """A tree of arrays shaped like ``tree``'s leaves, filled with ``fill_value``.

    ``dtype=None`` keeps each leaf's dtype. Integer leaves are refused with a
    ``TypeError``: an optimizer state of integers would silently truncate.
    """

    def fill(x):
        _check_floating(x)
        return jnp.full(jnp.shape(x), fill_value, dtype=dtype or jnp.result_type(x))

    return jax.tree.map(fill, tree)


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """A tree of zeros shaped like ``tree``; see `full_like`."""
    return full_like(tree, 0, dtype)


def as_dtype(x: Any, dtype: Any) -> Any:
    """``x.astype(dtype)``, skipped in Python when the dtype already matches.

    Tracing runs once per leaf per transformation, so a no-op cast is not free:
    at 1000 leaves it is a visible share of the compile time.
    """
    return x if x.dtype == dtype else x.astype(dtype)


def cast(tree: Any, dtype: Any) -> Any:
    """Casts every leaf to ``dtype``; ``dtype=None`` returns the tree unchanged."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: as_dtype(x, dtype), tree)


def widen(tree: Any) -> Any:
    """Casts float16/bfloat16 leaves to float32 (wider leaves are left alone).

    The adaptive transformations compute in at least float32 and store in the
    params' dtype: an ``eps`` of 1e-8 underflows to 0 in float16, where a
    zero gradient would then give 0/0.
    """
    return jax.tree.map(lambda x: as_dtype(x, jnp.promote_types(x.dtype, jnp.float32)), tree)


def cast_like(tree: Any, like: Any) -> Any:
    """Casts each leaf of ``tree`` to the dtype of the matching leaf of ``like``."""
    return jax.tree.map(lambda x, y: as_dtype(x, y.dtype), tree, like)


def update_moment(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    """Exponential moving average of ``g**order``: ``(1 - decay) * g**order + decay * m``.

    The result is in the promoted dtype; transformations cast it back when they
    store it (`cast_like`).
    """
    return map(lambda g, m: (1 - decay) * g**order + decay * m, updates, moments)


# A jitted (inlined) function: its trace is cached, so debiasing a second tree
# of the same shapes (Adam's v after m) costs no second trace of every leaf.
@functools.partial(jax.jit, inline=True)
def bias_correction(moment: Any, decay: Any, count: jax.Array) -> Any:
    """Divides by ``1 - decay**count`` (computed in float32 or wider, then cast).

    The factor is computed before the cast so that ``decay**count`` does not
    round to 1 in a low-precision dtype.
    """
    correction = 1 - decay**count
    return jax.tree.map(lambda m: m / as_dtype(correction, m.dtype), moment)


def global_norm(tree: Any) -> jax.Array:
    """The Euclidean norm of all leaves taken together: ``sqrt(sum_i sum(x_i**2))``."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in leaves))


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` for an int32 counter that saturates at ``2**31 - 1`` instead of wrapping."""
    return jnp.where(count < _INT32_MAX, count + 1, _INT32_MAX).astype(jnp.int32)


def zero_count() -> jax.Array:
    """A fresh step counter: an int32 scalar zero."""
    return jnp.zeros([], jnp.int32)
