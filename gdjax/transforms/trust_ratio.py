"""Layer-wise scalings: each parameter block's step sized by the block's own norm.

A block is one leaf of the params (a weight matrix, a bias vector). The norms
are computed in at least float32 and the updates keep their dtype. Each of
these needs the params: ``update(updates, state, params)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import check_range
from gdjax.base import EMPTY_INIT, GradientTransformation
from gdjax.bound import bind


def _params_needed(owner: str, updates, params) -> bool:
    """Whether there are blocks to scale; raises if there are but the params are missing.

    An empty tree (None among them) has no blocks: params=None is fine there."""
    if not jax.tree.leaves(updates):
        return False
    if params is None:
        raise ValueError(f"{owner} needs the params: call update(updates, state, params)")
    return True


def _floored(x: jax.Array, statistic, floor) -> jax.Array:
    """``max(statistic(x), floor)``, with a finite derivative where ``x`` is 0.

    The root's derivative at 0 is infinite; where the floor applies, the root is
    taken of ones instead, so that differentiating through the optimizer (a
    meta-gradient) gets 0 there, not NaN.
    """
    value = statistic(x)
    below = value <= floor
    safe = statistic(jnp.where(below, jnp.ones_like(x), x))
    return jnp.where(below, jnp.asarray(floor, safe.dtype), safe)


def _norm(x: jax.Array) -> jax.Array:
    """The Euclidean (Frobenius) norm of all of ``x``'s entries."""
    return jnp.sqrt(jnp.sum(tree.abs_sq(x)))


def _rms(x: jax.Array) -> jax.Array:
    """The root mean square of ``x``'s entries."""
    return jnp.sqrt(jnp.mean(tree.abs_sq(x)))


# --------------------------------------------------------------------------- trust ratio


def _trust_ratio_leaf(u, p, *, min_norm, trust_coefficient, eps):
    param_norm = _floored(p, _norm, min_norm)
    update_norm = _floored(u, _norm, min_norm)
    ratio = tree.scale(trust_coefficient, param_norm) / (update_norm + eps)
    # A zero block (a bias at its zero init, a zero gradient) keeps its update as it is:
    # a ratio of 0 would freeze a zero-initialised block forever.
    ratio = jnp.where((param_norm == 0) | (update_norm == 0), jnp.ones_like(ratio), ratio)
    return u * ratio.astype(u.dtype)


def _trust_ratio_update(updates, state, params=None, *, min_norm, trust_coefficient, eps):
    if not _params_needed("scale_by_trust_ratio", updates, params):
        return updates, state
    out = tree.map(
        lambda u, p: _trust_ratio_leaf(
            u, p, min_norm=min_norm, trust_coefficient=trust_coefficient, eps=eps
        ),
        tree.widen(updates),
        tree.widen(params),
        names=("updates", "params"),
    )
    return tree.cast_like(out, updates), state


def scale_by_trust_ratio(
    min_norm: ArrayLike = 0.0, trust_coefficient: ArrayLike = 1.0, eps: ArrayLike = 0.0
) -> GradientTransformation:
    """The trust ratio of LARS and LAMB: each block's update rescaled to the block's norm.


        r = trust_coefficient * max(||p||, min_norm) / (max(||u||, min_norm) + eps)
        u' = r * u           per leaf; r = 1 where either norm is 0

    ``||.||`` is the Euclidean norm of the whole leaf (Frobenius for a matrix).
    The step of a block is then ``lr * trust_coefficient * ||p||`` (for
    ``eps = 0``): proportional to the weights it changes, whatever the gradient's
    scale (You, Gitman & Ginsburg 2017; You et al. 2020). Stateless.

    Args:
      min_norm: the floor of both norms, >= 0. Default 0 (no floor).
      trust_coefficient: the factor of the ratio, >= 0 (LARS's eta). Default 1.
      eps: added to the update's norm, >= 0. Default 0.
    """
    owner = "scale_by_trust_ratio"
    check_range(owner, "min_norm", min_norm, "[0, inf)")
    check_range(owner, "trust_coefficient", trust_coefficient, "[0, inf)")
    check_range(owner, "eps", eps, "[0, inf)")
    return GradientTransformation(
        EMPTY_INIT,
        bind(_trust_ratio_update, min_norm=min_norm, trust_coefficient=trust_coefficient, eps=eps),
    )


# --------------------------------------------------------------------------- block scalings


def _block_update(updates, state, params=None, *, min_scale, statistic, owner):
    if not _params_needed(owner, updates, params):
        return updates, state
    out = tree.map(
        lambda u, p: u * _floored(p, statistic, min_scale).astype(u.dtype),
        tree.widen(updates),
        tree.widen(params),
        names=("updates", "params"),
    )
    return tree.cast_like(out, updates), state


def scale_by_param_block_norm(min_scale: ArrayLike = 1e-3) -> GradientTransformation:
    """Multiplies each block's update by the norm of the block's params.


        u' = max(||p||, min_scale) * u           per leaf

    ``||.||`` is the Euclidean norm of the whole leaf. Stateless.

    Args:
      min_scale: the floor of the factor, >= 0. Default 1e-3.
    """
    check_range("scale_by_param_block_norm", "min_scale", min_scale, "[0, inf)")
    return GradientTransformation(
        EMPTY_INIT,
        bind(
            _block_update,
            min_scale=min_scale,
            statistic=_norm,
            owner="scale_by_param_block_norm",
        ),
    )


def scale_by_param_block_rms(min_scale: ArrayLike = 1e-3) -> GradientTransformation:
    """Multiplies each block's update by the root mean square of the block's params.


        u' = max(sqrt(mean(p**2)), min_scale) * u           per leaf

    Stateless.

    Args:
      min_scale: the floor of the factor, >= 0. Default 1e-3.
    """
    check_range("scale_by_param_block_rms", "min_scale", min_scale, "[0, inf)")
    return GradientTransformation(
        EMPTY_INIT,
        bind(
            _block_update,
            min_scale=min_scale,
            statistic=_rms,
            owner="scale_by_param_block_rms",
        ),
    )
