"""What every alias is built from: `alias` (a chain behind input checks), `Mask`, `optional_trace`.

Every alias ends with `gdjax.scale_by_learning_rate`, so its updates are
added to the params: ``params = gdjax.apply_updates(params, updates)``. The
learning rate may be a float, an array (a tracer too), a schedule, or a pytree
of per-parameter rates.

Each alias checks its input at the boundary (DESIGN §6), before any transform
sees it: ``init`` refuses integer and bool params naming the leaf and its
dtype; ``update`` refuses integer updates, and updates whose structure or leaf
shapes differ from the params' (when the params are given), naming both.
Without the checks ``sgd`` would accept integer params and, being stateless,
any gradient tree. Complex params are supported (second moments use ``|g|²``,
as in optax).

A bad hyperparameter is reported in the alias's words (`arguments_of`):
``sgd(0.1, momentum=-0.2)`` raises ``sgd: momentum must be in [0, 1], got -0.2``,
though the value reaches `trace` as its ``decay``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gdjax import tree
from gdjax._validation import check_flag
from gdjax.base import GradientTransformation, Params, _chain_init, _chain_update, identity
from gdjax.bound import bind
from gdjax.transforms.momentum import trace

Mask = Params | Callable[[Params], Params] | None
"""Where weight decay applies: a pytree of bools shaped like the params, a
function of the params returning one, or None (everywhere)."""


def _as_array(x: Any) -> Any:
    return x if hasattr(x, "dtype") else jnp.asarray(x)


def _alias_init(params, *, name, transforms):
    tree.check_floating(params, name)
    return _chain_init(params, transforms=transforms)


def _alias_update(updates, state, params=None, *, name, transforms, **extra):
    if not all(hasattr(x, "dtype") for x in jax.tree.leaves(updates)):
        updates = jax.tree.map(_as_array, updates)
    tree.check_floating(updates, name, "updates")
    if params is not None:
        tree.check_shapes(updates, params, ("updates", "params"))
    return _chain_update(updates, state, params, transforms=transforms, **extra)


def alias(name: str, *transforms: GradientTransformation) -> GradientTransformation:
    """``chain(*transforms)`` with the boundary checks of the module docstring.

    Python numbers among the updates' leaves become arrays (as they would under
    ``jit``), so an eager ``update(1.0, state, 1.0)`` works as a jitted one does.
    The transformations are held as `chain` holds them (``.update.transforms``),
    so an alias's hyperparameters are its transformations' leaves.
    """
    return GradientTransformation(
        bind(_alias_init, name=name, transforms=tuple(t.init for t in transforms)),
        bind(_alias_update, name=name, transforms=tuple(t.update for t in transforms)),
    )


def optional_trace(
    momentum: Any, nesterov: bool, accumulator_dtype: Any = None
) -> GradientTransformation:
    """`trace` where an alias's ``momentum`` is a number, `identity` where it is None."""
    check_flag("trace", "nesterov", nesterov)  # also without momentum, where it is unused
    if momentum is None:
        return identity()
    return trace(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
