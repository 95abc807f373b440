"""Stateless reshaping of the updates leaf by leaf: centring, constraints, NaN guards,
zeroing, and transformations made from a user's function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdjax import tree
from gdjax.base import EMPTY_INIT, EmptyState, GradientTransformation, Params, Updates
from gdjax.bound import bind


def _need_params(owner: str, updates: Any, params: Any) -> None:
    if params is None and jax.tree.leaves(updates):
        raise ValueError(f"{owner} needs the params: call update(updates, state, params)")


def _centred(g: jax.Array) -> jax.Array:
    if jnp.ndim(g) <= 1:
        return g
    return g - jnp.mean(g, axis=tuple(range(1, g.ndim)), keepdims=True).astype(g.dtype)


def _centralize_update(updates, state, params=None):
    del params
    return jax.tree.map(_centred, updates), state


def centralize() -> GradientTransformation:
    """Gradient centralisation (Yong et al. 2020): each row of a matrix (each slice along
    axis 0 of a higher-rank leaf) has its mean subtracted.


        u[i, ...] = g[i, ...] - mean(g[i, ...])       for leaves of rank >= 2
        u = g                                          for scalars and vectors

    Stateless.
    """
    return GradientTransformation(EMPTY_INIT, bind(_centralize_update))


def _keep_params_nonnegative_update(updates, state, params=None):
    _need_params("keep_params_nonnegative", updates, params)
    out = tree.map(
        lambda u, p: jnp.where(p + u < 0, -p, u).astype(u.dtype),
        updates,
        params,
        names=("updates", "params"),
    )
    return out, state


def keep_params_nonnegative() -> GradientTransformation:
    """Keeps the params ``>= 0`` after the update: a step that would take a param below
    zero is replaced by the step to zero.


        u = -p     where p + g < 0
        u = g      elsewhere

    Put it last in a chain (after the learning rate). It needs the params and
    expects them ``>= 0``: a negative param is moved to 0. Stateless.
    """
    return GradientTransformation(EMPTY_INIT, bind(_keep_params_nonnegative_update))


class ZeroNansState(NamedTuple):
    """Per leaf of the params, whether the last updates held a NaN (a bool scalar)."""

    found_nan: Any


def _zero_nans_init(params):
    return ZeroNansState(found_nan=jax.tree.map(lambda _: jnp.zeros([], jnp.bool_), params))


def _zero_nans_update(updates, state, params=None):
    del params
    found = tree.map(lambda g, _: jnp.any(jnp.isnan(g)), updates, state.found_nan)
    out = jax.tree.map(lambda g: jnp.where(jnp.isnan(g), jnp.zeros_like(g), g), updates)
    return out, ZeroNansState(found_nan=found)


def zero_nans() -> GradientTransformation:
    """Replaces NaNs in the updates by zeros and records, per leaf, whether there were any.


        u = 0 where g is NaN, else g
        found_nan = any(isnan(g))       per leaf, in the state

    Returns:
      A transformation with state `ZeroNansState`.
    """
    return GradientTransformation(bind(_zero_nans_init), bind(_zero_nans_update))


def _set_to_zero_update(updates, state, params=None):
    del params
    return jax.tree.map(jnp.zeros_like, updates), state


def set_to_zero() -> GradientTransformation:
    """Zero updates: ``u = 0``, in the updates' shapes and dtypes. Stateless.

    In one group of `gdjax.transforms.wrappers.partition` (or under `masked`),
    this freezes those params.
    """
    return GradientTransformation(EMPTY_INIT, bind(_set_to_zero_update))


def _stateless_update(updates, state, params=None, *, f):
    del state
    return f(updates, params), EmptyState()


def stateless(f: Callable[[Updates, Params | None], Updates]) -> GradientTransformation:
    """A stateless transformation from a function of the whole trees: ``u = f(g, params)``.

    ``params`` is ``None`` when the update is called without them. ``f`` is
    kept as given: a plain Python function is part of the structure (compared
    by identity), a gdjax `gdjax.bound.Bound` contributes its hyperparameters
    as data.
    """
    if not callable(f):
        raise ValueError(f"stateless: f must be a function (updates, params) -> updates, got {f!r}")
    return GradientTransformation(EMPTY_INIT, bind(_stateless_update, f=f))


def _stateless_with_tree_map_update(updates, state, params=None, *, f):
    del state
    if params is None:
        return jax.tree.map(lambda g: f(g, None), updates), EmptyState()
    return tree.map(f, updates, params, names=("updates", "params")), EmptyState()


def stateless_with_tree_map(
    f: Callable[[jax.Array, jax.Array | None], jax.Array],
) -> GradientTransformation:
    """A stateless transformation from a function of one leaf: ``u_i = f(g_i, p_i)``.

    ``p_i`` is ``None`` when the update is called without params. ``f`` is kept
    as in `stateless`.
    """
    if not callable(f):
        raise ValueError(
            f"stateless_with_tree_map: f must be a function (update, param) -> update, got {f!r}"
        )
    return GradientTransformation(EMPTY_INIT, bind(_stateless_with_tree_map_update, f=f))
