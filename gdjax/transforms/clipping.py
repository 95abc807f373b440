"""Limiting the size of updates: elementwise and by the global norm."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gdjax import tree
from gdjax._validation import check_range
from gdjax.base import EMPTY_INIT, GradientTransformation
from gdjax.bound import bind


def _clip_update(updates, state, params=None, *, max_delta):
    del params
    clipped = jax.tree.map(lambda g: jnp.clip(g, -max_delta, max_delta).astype(g.dtype), updates)
    return clipped, state


def clip(max_delta: Any) -> GradientTransformation:
    """Clips every coordinate to ``[-max_delta, max_delta]``.

    Update: ``u = min(max(g, -max_delta), max_delta)``. Stateless.

    Args:
      max_delta: ≥ 0.
    """
    check_range("clip", "max_delta", max_delta, "[0, inf)")
    return GradientTransformation(EMPTY_INIT, bind(_clip_update, max_delta=max_delta))


def _clip_by_global_norm_update(updates, state, params=None, *, max_norm):
    del params
    norm = tree.global_norm(updates)
    small = norm < max_norm

    def rescale(g):
        return jax.lax.select(small, g, (g / norm.astype(g.dtype)) * jnp.asarray(max_norm, g.dtype))

    return jax.tree.map(rescale, updates), state


def clip_by_global_norm(max_norm: Any) -> GradientTransformation:
    """Rescales the updates so that their global norm is at most ``max_norm``.


        n = sqrt(sum over all leaves of sum(g**2))
        u = g                    if n < max_norm
        u = g / n * max_norm     otherwise

    (Pascanu, Mikolov & Bengio 2013.) Stateless.

    Args:
      max_norm: positive.
    """
    check_range("clip_by_global_norm", "max_norm", max_norm, "(0, inf)")
    return GradientTransformation(EMPTY_INIT, bind(_clip_by_global_norm_update, max_norm=max_norm))
