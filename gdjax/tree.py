"""Small tree math shared by the transformations, and optax.tree's arithmetic
(`add`, `scale`, `vdot`, `norm`, `where`, `random_like`, ...) with its signatures.

Every function here maps over the leaves of pytrees; ``None`` leaves (as optax
allows for masked or absent parameters) are empty subtrees and are skipped.
Trees that must line up are checked first, so a mismatch is reported with both
structures instead of a bare ``tree_map`` message.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdjax import bound

_INT32_MAX = np.iinfo(np.int32).max


class StructureError(ValueError):
    """Two pytrees that must have the same structure do not."""


_STATE_HINT = (
    "The optimizer state must come from init() on a params tree with the structure of the updates."
)
_PARAMS_HINT = "The updates (gradients) must have the structure of the params."


def check_structure(reference: Any, other: Any, names: tuple[str, str]) -> None:
    """Raises `StructureError` naming both structures if they differ."""
    ref_def = jax.tree.structure(reference)
    other_def = jax.tree.structure(other)
    if ref_def != other_def:
        width = builtins.max(len(n) for n in names)
        raise StructureError(
            f"{names[0]} and {names[1]} have different tree structures:\n"
            f"  {names[0]:<{width}}: {ref_def}\n"
            f"  {names[1]:<{width}}: {other_def}\n"
            + (_STATE_HINT if "state" in names else _PARAMS_HINT)
        )


def check_shapes(reference: Any, other: Any, names: tuple[str, str]) -> None:
    """Raises `StructureError` if two trees differ in structure or in any leaf's shape.

    Without it, a gradient of shape ``(1,)`` or ``(2, 3)`` for a ``(3,)``
    parameter would broadcast silently into updates and state of the wrong shape.
    """
    check_structure(reference, other, names)
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(other), strict=True):
        if _shape(a) != _shape(b):
            paths = jax.tree_util.tree_flatten_with_path(reference)[0]
            at = next(
                jax.tree_util.keystr(path)
                for (path, x), y in zip(paths, jax.tree.leaves(other), strict=True)
                if _shape(x) != _shape(y)
            )
            raise StructureError(
                f"{names[0]} and {names[1]} have different shapes at {at or 'the root'}: "
                f"{names[0]} {_shape(a)}, {names[1]} {_shape(b)}"
            )


def _shape(x: Any) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def map(
    fn: Callable[..., Any], first: Any, *rest: Any, names: tuple[str, str] = ("updates", "state")
) -> Any:
    """``jax.tree.map`` that first checks every tree has the structure of ``first``."""
    for other in rest:
        check_structure(first, other, names)
    return jax.tree.map(fn, first, *rest)


def _leaf_dtype(x: Any) -> Any:
    """The leaf's own dtype (int64 stays int64 in the message), or None if it has none."""
    if hasattr(x, "dtype"):
        return x.dtype
    try:
        return jnp.result_type(x)
    except TypeError:  # a string, an object
        return None


def _floating_error(dtype: Any, x: Any, where: str = "", name: str = "params") -> TypeError:
    what = f"dtype {dtype}" if dtype is not None else f"type {type(x).__name__} ({x!r:.40})"
    return TypeError(
        f"gdjax optimizers work on floating-point {name} (or complex ones); got a leaf"
        f"{where} of {what}: cast integer and bool {name} to a float dtype first, e.g. "
        f"jax.tree.map(lambda x: x.astype(jnp.float32), {name}), or keep them out of the "
        f"{name}"
    )


def _inexact(x: Any) -> bool:
    dtype = _leaf_dtype(x)
    return dtype is not None and jnp.issubdtype(dtype, jnp.inexact)


def _check_floating(x: Any) -> None:
    if not _inexact(x):
        raise _floating_error(_leaf_dtype(x), x)


def check_floating(tree: Any, owner: str, name: str = "params") -> None:
    """Raises ``TypeError`` unless every leaf of ``tree`` is a float or complex array.

    The message names ``owner``, the leaf's path in the tree (``name`` is the
    tree's name) and its dtype, and says to cast. Integer and bool params cannot
    take a gradient step: an integer state would truncate every update to zero.
    """
    if all(_inexact(x) for x in jax.tree.leaves(tree)):
        return
    path, bad = next(
        (p, x) for p, x in jax.tree_util.tree_flatten_with_path(tree)[0] if not _inexact(x)
    )
    error = _floating_error(_leaf_dtype(bad), bad, f" at {name}{jax.tree_util.keystr(path)}", name)
    raise TypeError(f"{owner}: {error}") from None


def full_like(tree: Any, fill_value: Any, dtype: Any = None) -> Any:
    """A tree of arrays shaped like ``tree``'s leaves, filled with ``fill_value``.

    ``dtype=None`` keeps each leaf's dtype. Integer leaves are refused with a
    ``TypeError``: an optimizer state of integers would silently truncate.

    Each array is built from its leaf (``jnp.full_like``), so it also takes the
    leaf's sharding: a committed array's outside ``jit``, and under an
    explicit-sharding mesh (where sharding is part of the type) inside ``jit``
    and ``jax.eval_shape`` too. There the state has the type ``update`` returns,
    as a ``lax.scan`` carry must. (Inside ``jit`` on an ``Auto`` mesh, XLA lays
    the state out, as for any array made in a jitted function.) The result is
    never weakly typed.
    """

    def fill(x):
        _check_floating(x)
        return jnp.full_like(x, fill_value, dtype=dtype or jnp.result_type(x))

    return jax.tree.map(fill, tree)


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """A tree of zeros shaped like ``tree``; see `full_like`."""
    return full_like(tree, 0, dtype)


def dtype_of(x: Any) -> Any:
    """``x.dtype``, or the dtype JAX gives a Python number leaf (``jnp.result_type``)."""
    return x.dtype if hasattr(x, "dtype") else jnp.result_type(x)


def as_dtype(x: Any, dtype: Any) -> Any:
    """``x.astype(dtype)``, skipped in Python when the dtype already matches.

    Tracing runs once per leaf per transformation, so a no-op cast is not free:
    at 1000 leaves it is a visible share of the compile time.
    """
    if not hasattr(x, "dtype"):  # a Python number as a leaf
        return jnp.asarray(x, dtype)
    return x if x.dtype == dtype else x.astype(dtype)


def scale(scalar: Any, tree: Any) -> Any:
    """``scalar * tree`` in each leaf's dtype: a hyperparameter times an update, a moment
    or a param (one array, or a whole tree of them).

    ``scalar`` may be spelled any way a hyperparameter may, with the same result:

    * a Python number is weakly typed: JAX rounds it to the leaf's dtype and
      multiplies there (optax's numbers, bit for bit);
    * a NumPy scalar or 0-d array (``np.float64(0.1)`` from a ``np.logspace``
      sweep) is replaced by the Python number it holds, so it takes that same
      path; left as it is, JAX types it strongly and promotes bfloat16 to float32;
    * a JAX array (a traced, vmapped or injected hyperparameter) or a NumPy
      array is cast to the leaf's dtype first, for the same reason.
    """
    if isinstance(scalar, (np.generic, np.ndarray)) and np.ndim(scalar) == 0:
        scalar = scalar.item()
    if isinstance(tree, (jax.Array, np.ndarray, np.generic, int, float, complex)):
        return _scale_leaf(scalar, tree)  # one array: no tree traversal (tracing time)
    return jax.tree.map(lambda x: _scale_leaf(scalar, x), tree)


def _scale_leaf(scalar: Any, x: Any) -> Any:
    if isinstance(scalar, (int, float, complex)):
        return scalar * x
    return as_dtype(jnp.asarray(scalar), dtype_of(x)) * x


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
    return jax.tree.map(lambda x: as_dtype(x, jnp.promote_types(dtype_of(x), jnp.float32)), tree)


def cast_like(tree: Any, other_tree: Any) -> Any:
    """Casts each leaf of ``tree`` to the dtype of the matching leaf of ``other_tree``."""
    return jax.tree.map(lambda x, y: as_dtype(x, dtype_of(y)), tree, other_tree)


def update_moment(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    """Exponential moving average of ``g**order``: ``(1 - decay) * g**order + decay * m``.

    For ``order=2`` the power is `abs_sq` (``|g|**2``), so complex gradients give real
    second moments, as in optax.

    The result is in the promoted dtype; transformations cast it back when they
    store it (`cast_like`). ``decay`` may be spelled any way `scale` takes.
    """
    if order == 2:
        return map(lambda g, m: scale(1 - decay, abs_sq(g)) + scale(decay, m), updates, moments)
    return map(lambda g, m: scale(1 - decay, g**order) + scale(decay, m), updates, moments)


def abs_sq(x: Any) -> Any:
    """``|x|**2``: ``x**2`` for real ``x``, ``re(x)**2 + im(x)**2`` for complex ``x``.

    The second moments of complex gradients are real (as in optax): ``g**2``
    would rotate them in the complex plane.
    """
    if _is_complex(x):
        return jnp.real(jnp.conj(x) * x)
    return x**2


def _is_complex(x: Any) -> bool:
    return np.dtype(dtype_of(x)).kind == "c"


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
    squares = (jnp.sum(abs_sq(x) if _is_complex(x) else jnp.square(x)) for x in leaves)
    return jnp.sqrt(builtins.sum(squares))


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` for an int32 counter that saturates at ``2**31 - 1`` instead of wrapping."""
    return jnp.where(count < _INT32_MAX, count + 1, _INT32_MAX).astype(jnp.int32)


def zero_count() -> jax.Array:
    """A fresh step counter: an int32 scalar zero."""
    return jnp.zeros([], jnp.int32)


# --------------------------------------------------------------------------- by name

KeyPath = tuple
"""A path of JAX key entries (``GetAttrKey``, ``DictKey``, ``SequenceKey``) from the root."""


def get_all_with_path(
    tree: Any, key: str, filtering: Callable[[KeyPath, Any], bool] | None = None
) -> list[tuple[KeyPath, Any]]:
    """Every ``(path, value)`` in ``tree`` called ``key``, outermost first.

    A value is called ``key`` when it is an optimizer's hyperparameter of that
    name (``gdjax.adam(1e-3)`` has ``learning_rate``, ``b1``, ...), a
    NamedTuple's field (a state's ``count``), a dict's key, or a NamedTuple of
    that type name (``"ScaleByAdamState"``). A match is not searched inside.
    ``filtering(path, value)`` keeps only some (as optax's ``tree_get_all_with_path``).
    """
    found = list(bound.find(tree, key))
    return found if filtering is None else [(p, v) for p, v in found if filtering(p, v)]


def get(
    tree: Any,
    key: str,
    default: Any = None,
    filtering: Callable[[KeyPath, Any], bool] | None = None,
) -> Any:
    """The one value in ``tree`` called ``key`` (see `get_all_with_path`), or ``default``.

    ``get(gdjax.adam(1e-3), "learning_rate")`` is ``0.001``; ``get(state, "count")``
    is Adam's step count. Raises ``KeyError`` if several values match (narrow
    them with ``filtering``), as optax's ``tree.get`` does.
    """
    found = get_all_with_path(tree, key, filtering)
    if not found:
        return default
    if len(found) > 1:
        paths = ", ".join(jax.tree_util.keystr(p) for p, _ in found)
        raise KeyError(
            f"tree.get: {len(found)} values are called {key!r}, at {paths}; pass "
            "filtering=lambda path, value: ... to choose one"
        )
    return found[0][1]


def set(
    tree: Any, filtering: Callable[[KeyPath, Any], bool] | None = None, /, **kwargs: Any
) -> Any:
    """A copy of ``tree`` with every value called a key of ``kwargs`` replaced.

    On an optimizer this replaces hyperparameters without building it again:
    ``tree.set(gdjax.adam(1e-3), learning_rate=1e-2)`` is ``gdjax.adam(1e-2)``,
    with the same structure, so a program compiled for one runs the other. On
    a state it replaces fields (``tree.set(state, count=0)``). Raises ``KeyError``
    naming the keys that match nothing, as optax's ``tree.set`` does.
    """
    keep = filtering or (lambda path, value: True)
    new, found = bound.replace(tree, kwargs, keep)
    missing = [name for name in kwargs if name not in found]
    if missing:
        raise KeyError(f"tree.set: nothing in the tree is called {missing}")
    return new


# --------------------------------------------------------------------------- tree math
# The arithmetic of optax.tree, leaf by leaf. ``None`` leaves are empty subtrees.


def add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
    """``tree_x + tree_y (+ ...)`` leaf by leaf."""
    return jax.tree.map(
        lambda *xs: functools.reduce(operator.add, xs), tree_x, tree_y, *other_trees
    )


def sub(tree_x: Any, tree_y: Any) -> Any:
    """``tree_x - tree_y`` leaf by leaf."""
    return jax.tree.map(operator.sub, tree_x, tree_y)


def mul(tree_x: Any, tree_y: Any) -> Any:
    """``tree_x * tree_y`` leaf by leaf."""
    return jax.tree.map(operator.mul, tree_x, tree_y)


def div(tree_x: Any, tree_y: Any) -> Any:
    """``tree_x / tree_y`` leaf by leaf."""
    return jax.tree.map(operator.truediv, tree_x, tree_y)


def add_scale(tree_x: Any, scalar: Any, tree_y: Any) -> Any:
    """``tree_x + scalar * tree_y``, the product in ``tree_y``'s dtype (see `scale`)."""
    return jax.tree.map(lambda x, y: x + _scale_leaf(_plain(scalar), y), tree_x, tree_y)


def _plain(scalar: Any) -> Any:
    """A NumPy scalar as the Python number it holds (the weakly typed path of `scale`)."""
    if isinstance(scalar, (np.generic, np.ndarray)) and np.ndim(scalar) == 0:
        return scalar.item()
    return scalar


def _leaf_vdot(a: Any, b: Any) -> jax.Array:
    return jnp.vdot(jnp.asarray(a), jnp.asarray(b), precision=jax.lax.Precision.HIGHEST)


def vdot(tree_x: Any, tree_y: Any) -> Any:
    """The inner product ``sum_i <conj(x_i), y_i>`` over all leaves (full precision).

    An empty tree gives ``0``.
    """
    products = jax.tree.leaves(jax.tree.map(_leaf_vdot, tree_x, tree_y))
    return functools.reduce(operator.add, products, 0)


def sum(tree: Any, associative_reduction: bool = False) -> Any:
    """The sum of every element of every leaf (``0`` for an empty tree).

    ``associative_reduction=True`` adds the leaves' sums as a balanced tree
    (``jax.tree.reduce_associative``) instead of left to right: shorter programs
    for many leaves, and a different rounding order.
    """
    sums = jax.tree.map(jnp.sum, tree)
    if associative_reduction:
        return jax.tree.reduce_associative(operator.add, sums, identity=0)
    return jax.tree.reduce(operator.add, sums, initializer=0)


def _nonempty(reduce: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: None if jnp.size(x) == 0 else reduce(x)


def max(tree: Any) -> Any:
    """The largest element of all leaves (``-inf`` for an empty tree; empty leaves skipped)."""
    maxima = jax.tree.map(_nonempty(jnp.max), tree)
    return jax.tree.reduce(jnp.maximum, maxima, initializer=-float("inf"))


def min(tree: Any) -> Any:
    """The smallest element of all leaves (``inf`` for an empty tree; empty leaves skipped)."""
    minima = jax.tree.map(_nonempty(jnp.min), tree)
    return jax.tree.reduce(jnp.minimum, minima, initializer=float("inf"))


def size(tree: Any) -> int:
    """The number of elements in all leaves, as a Python int."""
    return builtins.sum(int(jnp.size(x)) for x in jax.tree.leaves(tree))


def conj(tree: Any) -> Any:
    """The complex conjugate of every leaf."""
    return jax.tree.map(jnp.conj, tree)


def real(tree: Any) -> Any:
    """The real part of every leaf."""
    return jax.tree.map(jnp.real, tree)


def norm(tree: Any, ord: int | str | float | None = None, squared: bool = False) -> jax.Array:
    """A norm of all leaves taken together as one vector.

    ``ord``: ``None`` or ``2`` (Euclidean: ``sqrt(sum |x|**2)``), ``1``
    (``sum |x|``) or ``inf`` / ``"inf"`` / ``"infinity"`` (``max |x|``); any
    other value raises ``ValueError``. ``squared=True`` returns the norm's square
    (for ``ord=2`` without the square root). Complex leaves count ``|x|``.
    """
    if ord is None or ord == 2:
        total = sum(jax.tree.map(_abs_sq_parts, tree))
        return jnp.array(total if squared else jnp.sqrt(total))
    if ord == 1:
        value = sum(jax.tree.map(jnp.abs, tree))
    elif ord == jnp.inf or ord in ("inf", "infinity"):
        value = max(jax.tree.map(jnp.abs, tree))
    else:
        raise ValueError(
            f"tree.norm: ord must be None, 1, 2, inf, 'inf' or 'infinity', got {ord!r}"
        )
    return jnp.array(_abs_sq_parts(jnp.asarray(value)) if squared else value)


def _abs_sq_parts(x: Any) -> Any:
    """``re(x)**2 + im(x)**2`` (for real ``x``, ``x**2 + 0``), as optax's tree norm squares."""
    return jnp.square(jnp.real(x)) + jnp.square(jnp.imag(x))


l1_norm = functools.partial(norm, ord=1)
"""``norm(tree, ord=1)``: the sum of absolute values."""
l2_norm = functools.partial(norm, ord=2)
"""``norm(tree, ord=2)``: the Euclidean norm."""
linf_norm = functools.partial(norm, ord="inf")
"""``norm(tree, ord="inf")``: the largest absolute value."""


def ones_like(tree: Any, dtype: Any = None) -> Any:
    """A tree of ones shaped like ``tree``; see `full_like` (integer leaves are refused)."""
    return full_like(tree, 1, dtype)


def clip(tree: Any, min_value: Any = None, max_value: Any = None) -> Any:
    """Clips every element to ``[min_value, max_value]`` (``None``: no bound on that side),
    keeping each leaf's dtype."""
    return jax.tree.map(lambda x: as_dtype(jnp.clip(x, min_value, max_value), dtype_of(x)), tree)


def where(condition: Any, tree_x: Any, tree_y: Any) -> Any:
    """``jnp.where(condition, x, y)`` leaf by leaf: ``condition`` broadcasts against every leaf."""
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def dtype(tree: Any, mixed_dtype_handler: str | None = None) -> Any:
    """The dtype of the leaves of ``tree``.

    ``mixed_dtype_handler``: ``None`` (default) requires every leaf to have the
    same dtype and raises ``ValueError`` naming the leaves that do not;
    ``"promote"`` returns the dtype JAX promotes them all to; ``"highest"`` /
    ``"lowest"`` the highest / lowest of them in the promotion order (a
    ``ValueError`` if two cannot be ordered). An empty tree gives JAX's default
    float dtype.
    """
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray([]).dtype
    dtypes = [jnp.asarray(x).dtype for x in leaves]
    if mixed_dtype_handler is None:
        paths = jax.tree_util.tree_flatten_with_path(tree)[0]
        wrong = [
            f"{jax.tree_util.keystr(path) or 'the root'} has {d}"
            for (path, _), d in zip(paths, dtypes, strict=True)
            if d != dtypes[0]
        ]
        if wrong:
            raise ValueError(
                f"tree.dtype: the leaves have different dtypes (the first is {dtypes[0]}): "
                + "; ".join(wrong)
                + ". Pass mixed_dtype_handler='promote', 'highest' or 'lowest'."
            )
        return dtypes[0]
    if mixed_dtype_handler == "promote":
        return functools.reduce(jnp.promote_types, dtypes)
    if mixed_dtype_handler == "highest":
        return functools.reduce(_higher_dtype, dtypes)
    if mixed_dtype_handler == "lowest":
        return functools.reduce(_lower_dtype, dtypes)
    raise ValueError(
        "tree.dtype: mixed_dtype_handler must be None, 'promote', 'highest' or 'lowest', "
        f"got {mixed_dtype_handler!r}"
    )


def _lower_dtype(a: Any, b: Any) -> Any:
    promoted = jnp.promote_types(a, b)
    if promoted == a:
        return b
    if promoted == b:
        return a
    raise ValueError(
        f"tree.dtype: {a} and {b} cannot be ordered (neither promotes to the other); "
        "pass mixed_dtype_handler='promote'"
    )


def _higher_dtype(a: Any, b: Any) -> Any:
    return b if _lower_dtype(a, b) == a else a


def allclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False) -> Any:
    """Whether every leaf of ``a`` is close to the matching leaf of ``b``
    (``jnp.allclose``); ``True`` for empty trees."""
    close = jax.tree.map(
        lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b
    )
    return functools.reduce(operator.and_, jax.tree.leaves(close), True)


def batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
    """Every leaf broadcast to ``(*shape, *leaf.shape)``."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def split_key_like(rng_key: jax.Array, target_tree: Any) -> Any:
    """One key per leaf of ``target_tree`` (``jax.random.split``), in its structure."""
    treedef = jax.tree.structure(target_tree)
    return jax.tree.unflatten(treedef, list(jax.random.split(rng_key, treedef.num_leaves)))


def random_like(
    rng_key: jax.Array,
    target_tree: Any,
    sampler: Callable[..., Any] = jax.random.normal,
    dtype: Any = None,
) -> Any:
    """A tree of random arrays shaped like ``target_tree``: ``sampler(key, shape, dtype)``
    with one key per leaf (`split_key_like`).

    ``dtype=None`` uses each leaf's dtype. A sampler that takes ``out_sharding``
    (as ``jax.random.normal`` does) is given the leaf's sharding.
    """
    keys = split_key_like(rng_key, target_tree)
    sharded = "out_sharding" in inspect.signature(sampler).parameters

    def draw(x, key):
        kind = dtype or dtype_of(x)
        if sharded:
            return sampler(key, jnp.shape(x), kind, out_sharding=jax.typeof(x).sharding)
        return sampler(key, jnp.shape(x), kind)

    return jax.tree.map(draw, target_tree, keys)


def update_infinity_moment(updates: Any, moments: Any, decay: Any, eps: Any) -> Any:
    """The infinity-norm moment of Adamax: ``max(|g| + eps, decay * u)``.

    In the promoted dtype, as `update_moment`.
    """
    return map(lambda g, u: jnp.maximum(jnp.abs(g) + eps, scale(decay, u)), updates, moments)


def update_moment_per_elem_norm(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    """`update_moment` of ``|g|**order``: the same for real ``g``; for complex ``g``,
    ``(|g|**2)**(order/2)`` (an integer power when ``order`` is even)."""

    def power(g):
        if not _is_complex(g):
            return g**order
        half = order / 2
        return abs_sq(g) ** (int(half) if float(half).is_integer() else half)

    return map(lambda g, m: scale(1 - decay, power(g)) + scale(decay, m), updates, moments)
