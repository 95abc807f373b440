"""Polyak's step size: the step that would reach a known minimum value along the gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import check_range, named
from gdjax.base import EMPTY_INIT, GradientTransformation
from gdjax.bound import bind

_VARIANTS = ("sps", "sps+")

# A squared norm below float64's machine epsilon counts as zero (as in optax).
_TINY = float(np.finfo(np.float64).eps)


def _polyak_update(
    updates, state, params=None, *, value=None, f_min, max_learning_rate, eps, variant
):
    del params
    if value is None:
        raise ValueError(
            "scale_by_polyak needs the loss at the params: call "
            "update(updates, state, params, value=loss)"
        )
    leaves = jax.tree.leaves(tree.widen(updates))
    dtype = jnp.result_type(*leaves) if leaves else jnp.float32
    squared_norm = sum((jnp.sum(tree.abs_sq(g)) for g in leaves), jnp.zeros([], dtype))
    squared_norm = jnp.real(squared_norm)
    gap = (jnp.asarray(value) - f_min).astype(squared_norm.dtype)
    if variant == "sps+":
        gap = jnp.maximum(gap, 0)
    denominator = squared_norm + eps
    step = jnp.where(denominator <= _TINY, 0.0, jnp.minimum(gap / denominator, max_learning_rate))
    return jax.tree.map(lambda g: tree.as_dtype(tree.scale(step, g), g.dtype), updates), state


def scale_by_polyak(
    f_min: ArrayLike = 0.0,
    max_learning_rate: ArrayLike = 1.0,
    eps: ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    """Scales the updates by Polyak's step size, from the loss ``value`` given to ``update``.


        gap = f(x) - f_min                 ("sps")   or   max(f(x) - f_min, 0)   ("sps+")
        s   = min(gap / (|g|**2 + eps), max_learning_rate)
        u   = s * g                        (u = 0 where |g|**2 + eps <= 2.2e-16)

    ``|g|`` is the norm of all the updates taken together. Polyak (1987) takes
    ``s = (f(x) - f*) / |g|**2`` with the optimal value ``f*``; Loizou et al.
    (2021) cap it (stochastic Polyak step, "sps"), Garrigos et al. (2023) keep
    the gap's non-negative part ("sps+"). ``update`` takes the loss at the
    params as the keyword argument ``value`` (``update(g, state, params, value=f)``).

    Args:
      f_min: a lower bound on (a guess of) the minimum value. Default 0.
      max_learning_rate: the cap on ``s``, >= 0. Default 1.
      eps: added to ``|g|**2``, >= 0. Default 0.
      variant: ``"sps"`` (default) or ``"sps+"``.

    Returns:
      A stateless transformation (``EmptyState``).
    """
    owner = "scale_by_polyak"
    check_range(owner, "f_min", f_min, "(-inf, inf)")
    check_range(owner, "max_learning_rate", max_learning_rate, "[0, inf)")
    check_range(owner, "eps", eps, "[0, inf)")
    if not (isinstance(variant, str) and variant in _VARIANTS):
        owner, name = named(owner, "variant")
        raise ValueError(f"{owner}: {name} must be 'sps' or 'sps+', got {variant!r}")
    return GradientTransformation(
        EMPTY_INIT,
        bind(
            _polyak_update,
            f_min=f_min,
            max_learning_rate=max_learning_rate,
            eps=eps,
            variant=variant,
        ),
    )
