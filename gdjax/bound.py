"""Functions bound to their hyperparameters, as pytrees: what makes an optimizer data.

Every gdjax ``init``, ``update`` and schedule is a `Bound`: a function defined
once at module level together with the hyperparameters it was given. It is a
pytree whose leaves are the numeric hyperparameters and whose structure holds
the function and the options. So an optimizer passes through ``jax.jit`` as an
argument (one compile per kind and options, any values), stacks and vmaps
(``jax.tree.map(lambda *x: jnp.stack(x), adam(1e-3), adam(1e-2))``), and is
saved like any other pytree.

Which part of a hyperparameter is data, and which is an option, is read from
its leaves by `is_data`: numbers and arrays (tracers too) are data; bools,
``None``, strings, dtypes and plain Python functions are options. A schedule or
transformation given as a hyperparameter is a `Bound` itself and contributes
its own leaves. An integer that shapes the program (a buffer length, a label)
is marked an option with `Static`.

Writing a transformation this way is as short as with closures::

    def _update(updates, state, params=None, *, decay, nesterov): ...

    def trace(decay, nesterov=False):
        return GradientTransformation(bind(_init), bind(_update, decay=decay, nesterov=nesterov))

`split` and `Skeleton` do the same for any tree (an optax transformation's
closures become options): the library's compiled programs take the data as
arguments and are cached on the skeleton.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.tree_util import GetAttrKey, register_pytree_with_keys_class


class Static(NamedTuple):
    """Marks a hyperparameter as an option: every leaf of ``value`` becomes part of
    the tree structure (so it must be hashable), none of its leaves data."""

    value: Any


@register_pytree_with_keys_class
class _Option:
    """An option inside a `Bound`'s hyperparameters: a leafless node holding its value."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def tree_flatten_with_keys(self):
        return (), self.value

    def tree_flatten(self):
        return (), self.value

    @classmethod
    def tree_unflatten(cls, value, children):
        del children
        return cls(value)

    def __repr__(self) -> str:
        return f"Static({self.value!r})"


def is_data(leaf: Any) -> bool:
    """Whether a leaf is a hyperparameter's data: a number or an array (bools are options)."""
    if isinstance(leaf, (bool, np.bool_)):
        return False
    return isinstance(leaf, (int, float, complex, np.ndarray, np.generic, jax.Array))


def _wrap(value: Any) -> Any:
    """The hyperparameter as stored: options wrapped as `_Option` nodes, data as it is."""
    if isinstance(value, Static):
        return jax.tree.map(_Option, value.value)

    def classify(leaf):
        if isinstance(leaf, (Bound, _Option)) or is_data(leaf):
            return leaf
        if isinstance(leaf, Static):
            return _wrap(leaf)
        return _Option(leaf)

    return jax.tree.map(classify, value, is_leaf=lambda x: isinstance(x, (Bound, Static)))


def _unwrap(stored: Any) -> Any:
    return jax.tree.map(
        lambda x: x.value if isinstance(x, _Option) else x,
        stored,
        is_leaf=lambda x: isinstance(x, (Bound, _Option)),
    )


class _Kind(NamedTuple):
    """A `Bound`'s structure: its function and the names bound. Printed by module and
    name, so a treedef's text (which checkpoints compare) is the same in every process."""

    fn: Callable
    names: tuple[str, ...]

    def __repr__(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}{list(self.names)}"


@register_pytree_with_keys_class
class Bound:
    """``fn`` with keyword hyperparameters bound: ``bind(fn, **h)(*args) == fn(*args, **h)``.

    A pytree: its children are the hyperparameters, by name (key paths read
    ``.update.learning_rate``); ``fn`` and the options are its structure. Build
    one with `bind`, which sorts data from options; JAX rebuilds it from new
    leaves without looking at them again. Its signature is ``fn``'s without the
    bound names, so extra-argument filters see what it accepts.
    """

    __slots__ = ("__weakref__", "_fn", "_names", "_stored", "_values")

    def __init__(self, fn: Callable, names: tuple[str, ...], stored: tuple):
        self._fn = fn
        self._names = names
        self._stored = stored
        self._values = None

    @property
    def fn(self) -> Callable:
        """The module-level function."""
        return self._fn

    @property
    def hyperparams(self) -> dict[str, Any]:
        """The bound hyperparameters by name, options unwrapped."""
        if self._values is None:
            self._values = dict(zip(self._names, _unwrap(self._stored), strict=True))
        return self._values

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs, **self.hyperparams)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.hyperparams[name]
        except KeyError:
            raise AttributeError(
                f"{self._fn.__name__} has no hyperparameter {name!r}; it has {list(self._names)}"
            ) from None

    @property
    def __signature__(self) -> inspect.Signature:
        signature = inspect.signature(self._fn)
        kept = [p for p in signature.parameters.values() if p.name not in self._names]
        return signature.replace(parameters=kept)

    def replace(self, **hyperparams: Any) -> Bound:
        """The same function with some hyperparameters replaced (sorted again)."""
        return bind(self._fn, **{**self.hyperparams, **hyperparams})

    def tree_flatten_with_keys(self):
        children = [(GetAttrKey(n), v) for n, v in zip(self._names, self._stored, strict=True)]
        return children, _Kind(self._fn, self._names)

    def tree_flatten(self):
        return self._stored, _Kind(self._fn, self._names)

    @classmethod
    def tree_unflatten(cls, aux, children):
        fn, names = aux
        return cls(fn, names, tuple(children))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={v!r}" for n, v in self.hyperparams.items())
        return f"{self._fn.__name__}({shown})"


def bind(fn: Callable, /, **hyperparams: Any) -> Bound:
    """``fn`` with ``hyperparams`` bound as keyword arguments, as a pytree (see `Bound`)."""
    names = tuple(hyperparams)
    return Bound(fn, names, tuple(_wrap(hyperparams[n]) for n in names))


# --------------------------------------------------------------------------- any tree


class Skeleton(NamedTuple):
    """A tree without its data: its structure and its other leaves (closures, flags).

    Hashable, so a compiled program can be cached on it; `fill` puts data back.
    Two optimizers of the same kind and options have equal skeletons.
    """

    treedef: Any
    options: tuple  # the non-data leaves, None where a data leaf goes

    def fill(self, data: list) -> Any:
        """The tree with ``data`` (the leaves `split` returned, or new ones) put back."""
        it = iter(data)
        leaves = [next(it) if option is _DATA else option for option in self.options]
        return jax.tree.unflatten(self.treedef, leaves)


class _DataSlot:
    def __repr__(self) -> str:
        return "<data>"


_DATA = _DataSlot()


def split(tree: Any) -> tuple[list, Skeleton]:
    """``(data, skeleton)``: the tree's data leaves (`is_data`), and the rest.

    ``skeleton.fill(data)`` is the tree again. For a gdjax optimizer the data
    are its numeric hyperparameters; an optax transformation's closures (or a
    schedule given as a lambda) are options, compared by identity.
    """
    leaves, treedef = jax.tree.flatten(tree)
    data = [leaf for leaf in leaves if is_data(leaf)]
    options = tuple(_DATA if is_data(leaf) else leaf for leaf in leaves)
    return data, Skeleton(treedef, options)


def is_pure(tree: Any) -> bool:
    """Whether every leaf of ``tree`` is data: it can be a ``jax.jit`` argument as it is."""
    return all(is_data(leaf) for leaf in jax.tree.leaves(tree))


def stacked_calls(
    factory: Callable[..., Any], columns: dict[str, Any]
) -> tuple[list, Skeleton] | None:
    """``factory(**row)`` for every row of ``columns`` as one tree: its data stacked on a
    leading axis, and the skeleton every call shares; None if the calls do not share one.

    ``columns`` maps argument names to arrays with one row per call. The
    factory runs twice on the first row (so concrete values are validated) and
    once under ``jax.vmap`` for all rows. A factory whose options differ from
    call to call (it builds an optax transformation, or a schedule from a
    lambda, each time) returns None: its values may live in those closures, so
    the caller must call it inside its program instead.
    """
    first = {name: column[0] for name, column in columns.items()}
    _, probe = split(factory(**first))
    _, again = split(factory(**first))
    if probe != again:
        return None
    skeletons = []

    def data(row):
        leaves, skeleton = split(factory(**row))
        skeletons.append(skeleton)
        return leaves

    rows = len(next(iter(columns.values()))) if columns else 1
    stacked = jax.vmap(data, axis_size=rows)(dict(columns))
    if skeletons[0] != probe:
        return None
    return stacked, probe


# --------------------------------------------------------------------------- by name


def _key_name(key: Any) -> Any:
    for attribute in ("name", "key"):
        if hasattr(key, attribute):
            return getattr(key, attribute)
    return None


def children(node: Any) -> tuple[list, Any]:
    """The node's immediate children with their keys, and the treedef that rebuilds it."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if treedef.num_nodes == 1 and treedef.num_leaves == 1:  # a leaf
        return [], None
    return [(path[0], child) for path, child in flat], treedef


def _matches(key: Any, child: Any, name: str) -> bool:
    """A child is called ``name`` by its key (a hyperparameter, a field, a dict key) or,
    for a NamedTuple, by its type's name (``"ScaleByAdamState"``)."""
    return _key_name(key) == name or (
        isinstance(child, tuple) and hasattr(child, "_fields") and type(child).__name__ == name
    )


def find(tree: Any, name: str, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every ``(path, subtree)`` called ``name`` (see `_matches`), outermost first; a
    match is not searched further."""
    entries, _ = children(tree)
    for key, child in entries:
        if _matches(key, child, name):
            yield (*path, key), child
        else:
            yield from find(child, name, (*path, key))


def replace(tree: Any, values: dict[str, Any], keep: Callable, path: tuple = ()) -> tuple[Any, set]:
    """The tree with every subtree called a name in ``values`` (and for which
    ``keep(path, subtree)`` holds) replaced by that value, and the names replaced.
    A `Bound` whose hyperparameter is replaced is bound again (its data and options
    sorted anew), so a float may be replaced by a schedule."""
    entries, treedef = children(tree)
    if treedef is None:
        return tree, set()
    found: set = set()
    new = []
    for key, child in entries:
        here = (*path, key)
        name = next((n for n in values if _matches(key, child, n)), None)
        if name is not None and keep(here, child):
            new.append(values[name])
            found.add(name)
        else:
            child, inside = replace(child, values, keep, here)
            new.append(child)
            found |= inside
    if isinstance(tree, Bound):
        return bind(tree.fn, **dict(zip(tree._names, _unwrap(tuple(new)), strict=True))), found
    return jax.tree.unflatten(treedef, new), found
