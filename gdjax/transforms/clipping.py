"""Limiting the size of updates: elementwise, by block, by the global norm, relative to the
params (AGC), per example (differential privacy), and normalising by the norm."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import check_range
from gdjax.base import EMPTY_INIT, GradientTransformation
from gdjax.bound import Static, bind


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


def _clip_by_block_rms_update(updates, state, params=None, *, threshold):
    del params

    def clip_block(g):
        rms = jnp.sqrt(jnp.mean(tree.abs_sq(g)))
        return g / jnp.maximum(1.0, rms / threshold)

    out = jax.tree.map(clip_block, tree.widen(updates))
    return tree.cast_like(out, updates), state


def clip_by_block_rms(threshold: ArrayLike) -> GradientTransformation:
    """Rescales each leaf (block) whose root mean square exceeds ``threshold``.


        rms = sqrt(mean(|g|**2))          over the leaf's elements
        u = g / max(1, rms / threshold)

    Computed in at least float32, returned in the updates' dtype. Stateless.

    Args:
      threshold: the largest RMS a leaf keeps, positive.
    """
    check_range("clip_by_block_rms", "threshold", threshold, "(0, inf)")
    return GradientTransformation(EMPTY_INIT, bind(_clip_by_block_rms_update, threshold=threshold))


def _need_params(owner: str, updates: Any, params: Any) -> None:
    if params is None and jax.tree.leaves(updates):
        raise ValueError(f"{owner} needs the params: call update(updates, state, params)")


def _unitwise_norm(x: jax.Array, axis: Any) -> jax.Array:
    """The L2 norm of each unit of ``x``, broadcast back to ``x``'s shape.

    The units, for ``axis=None``, by rank: a scalar or (squeezed) vector is one
    unit; a matrix (or rank 3, multi-head) has one unit per column (sum over
    axis 0); rank 4 (HWIO) sums over (0, 1, 2); rank 5 over (0, 1, 2, 3).
    """
    squares = tree.abs_sq(x)
    if axis is not None:
        total = jnp.sum(squares, axis=axis, keepdims=True)
    elif jnp.squeeze(x).ndim <= 1:
        total = jnp.sum(squares, keepdims=True)
    elif x.ndim in (2, 3):
        total = jnp.sum(squares, axis=0, keepdims=True)
    elif x.ndim in (4, 5):
        total = jnp.sum(squares, axis=tuple(range(x.ndim - 1)), keepdims=True)
    else:
        raise ValueError(
            f"adaptive_grad_clip: cannot tell the units of a parameter of shape {x.shape}; "
            "pass axis= (the axes to take each unit's norm over)"
        )
    return jnp.broadcast_to(jnp.sqrt(total), x.shape)


# Guards the division by a unit's gradient norm; it can only matter when clipping.
_AGC_DIV_EPS = 1e-6


def _adaptive_grad_clip_update(updates, state, params=None, *, clipping, eps, axis):
    _need_params("adaptive_grad_clip", updates, params)

    def clip_unit(g, p):
        g_norm = _unitwise_norm(g, axis)
        max_norm = clipping * jnp.maximum(_unitwise_norm(p, axis), eps)
        clipped = g * (max_norm / jnp.maximum(g_norm, _AGC_DIV_EPS))
        return jnp.where(g_norm < max_norm, g, clipped)

    out = tree.map(clip_unit, tree.widen(updates), tree.widen(params), names=("updates", "params"))
    return tree.cast_like(out, updates), state


def adaptive_grad_clip(
    clipping: ArrayLike, eps: ArrayLike = 1e-3, axis: int | tuple[int, ...] | None = None
) -> GradientTransformation:
    """Adaptive gradient clipping, unit by unit (Brock et al. 2021, NFNets).

    For each unit (a slice of a leaf, see ``axis``) of the gradient ``g`` and
    the params ``p``:

        m = clipping * max(||p||, eps)
        u = g                               if ||g|| < m
        u = g * m / max(||g||, 1e-6)        otherwise

    Needs the params. Computed in at least float32, returned in the updates'
    dtype. Stateless.

    Args:
      clipping: the largest ratio of gradient norm to param norm, ≥ 0.
      eps: the smallest param norm used (so zero-initialised params can move),
        ≥ 0. Default 1e-3.
      axis: static; the axes each unit's norm is taken over; ``None`` (default)
        chooses by rank: a vector is one unit; a matrix (or rank 3) one per
        column (axis 0); rank 4 and 5 (convolution kernels) one per output
        channel (all axes but the last). Other ranks need ``axis``.
    """
    owner = "adaptive_grad_clip"
    check_range(owner, "clipping", clipping, "[0, inf)")
    check_range(owner, "eps", eps, "[0, inf)")
    axes = axis if isinstance(axis, tuple) else (axis,)
    if axis is not None and not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"{owner}: axis must be None, an int or a tuple of ints, got {axis!r}")
    return GradientTransformation(
        EMPTY_INIT,
        bind(_adaptive_grad_clip_update, clipping=clipping, eps=eps, axis=Static(axis)),
    )


def _normalize_by_update_norm_update(updates, state, params=None, *, scale_factor, eps):
    del params
    wide = tree.widen(updates)
    divisor = (tree.global_norm(wide) + eps) / scale_factor
    return tree.cast_like(jax.tree.map(lambda g: g / divisor, wide), updates), state


def normalize_by_update_norm(
    scale_factor: ArrayLike = 1.0, eps: ArrayLike = 1e-6
) -> GradientTransformation:
    """Divides the updates by their global norm (normalised gradient descent).


        n = sqrt(sum over all leaves of sum(|g|**2))
        u = g * scale_factor / (n + eps)

    Computed in at least float32, returned in the updates' dtype. Stateless.

    Args:
      scale_factor: the norm of the result (up to ``eps``); any real number
        (a negative one also flips the sign). Default 1.
      eps: added to the norm, so that zero updates stay zero; ≥ 0. Default 1e-6.
    """
    owner = "normalize_by_update_norm"
    check_range(owner, "scale_factor", scale_factor, "(-inf, inf)")
    check_range(owner, "eps", eps, "[0, inf)")
    return GradientTransformation(
        EMPTY_INIT, bind(_normalize_by_update_norm_update, scale_factor=scale_factor, eps=eps)
    )


# --------------------------------------------------------------------------- per example
# Plain functions (not transformations): they reduce a batch of per-example gradients.


def _check_batched(owner: str, grads: Any) -> None:
    leaves = jax.tree.leaves(grads)
    if not leaves:
        return
    batch = jnp.shape(leaves[0])[:1]
    if not all(jnp.ndim(g) >= 1 and jnp.shape(g)[:1] == batch for g in leaves):
        raise ValueError(
            f"{owner}: every leaf of grads must have the batch (one row per example) on "
            f"axis 0, and the same batch size; got shapes {jax.tree.map(jnp.shape, grads)}"
        )


def _restore_dtype(x: jax.Array, like: Any) -> jax.Array:
    """``x`` in ``like``'s dtype when that is a float one (integer gradients give floats)."""
    kind = tree.dtype_of(like)
    return tree.as_dtype(x, kind) if jnp.issubdtype(kind, jnp.inexact) else x


def _clipped_sum(grads: Any, l2_norm_clip: Any) -> tuple[Any, jax.Array]:
    norms = jax.vmap(tree.norm)(grads)
    # A zero gradient (0/0) is not clipped; +inf/inf (an infinite bound) neither.
    multipliers = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
    clipped = jnp.sum(multipliers < 1.0)
    total = jax.tree.map(lambda g: _restore_dtype(jnp.tensordot(multipliers, g, axes=1), g), grads)
    return total, clipped


def per_example_global_norm_clip(grads: Any, l2_norm_clip: ArrayLike) -> tuple[Any, jax.Array]:
    """Clips each example's gradient to global norm ``l2_norm_clip`` and sums them
    (Abadi et al. 2016, DP-SGD).

    Every leaf of ``grads`` holds one row per example on axis 0. For example ``i``
    with global norm ``n_i`` (over all leaves):

        sum_i g_i * min(1, l2_norm_clip / n_i)       (a zero gradient is kept)

    Args:
      grads: per-example gradients, batch on axis 0 of every leaf.
      l2_norm_clip: the largest norm an example keeps, ≥ 0 (``inf`` for none).

    Returns:
      ``(summed, num_clipped)``: the sum of the clipped gradients (the leaves
      without their batch axis) and the number of examples that were clipped.
    """
    owner = "per_example_global_norm_clip"
    check_range(owner, "l2_norm_clip", l2_norm_clip, "[0, inf]")
    _check_batched(owner, grads)
    return _clipped_sum(grads, l2_norm_clip)


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: ArrayLike, uniform: bool = True
) -> tuple[Any, Any]:
    """Clips each example's gradient leaf by leaf (layer by layer) and sums them
    (McMahan et al. 2018).

    Every leaf of ``grads`` holds one row per example on axis 0. Leaf ``k`` of
    ``K`` (``D_k`` elements per example, ``D`` in all) is clipped as in
    `per_example_global_norm_clip` to

        C_k = global_l2_norm_clip / sqrt(K)           if uniform
        C_k = global_l2_norm_clip * sqrt(D_k / D)     otherwise

    so that the whole clipped gradient has norm at most ``global_l2_norm_clip``.

    Args:
      grads: per-example gradients, batch on axis 0 of every leaf.
      global_l2_norm_clip: the overall bound, ≥ 0.
      uniform: the same bound for every leaf (default True), or bounds in
        proportion to the square roots of the leaves' sizes.

    Returns:
      ``(summed, num_clipped)``: two trees of the structure of ``grads``, the sum
      of the clipped gradients and, per leaf, the number of examples clipped.
    """
    owner = "per_example_layer_norm_clip"
    check_range(owner, "global_l2_norm_clip", global_l2_norm_clip, "[0, inf]")
    _check_batched(owner, grads)
    leaves, treedef = jax.tree.flatten(grads)
    total = sum(int(jnp.size(g[0])) for g in leaves)  # elements per example
    sums, counts = [], []
    for g in leaves:
        if uniform:
            bound = global_l2_norm_clip * (1.0 / len(leaves)) ** 0.5
        else:
            bound = global_l2_norm_clip * (int(jnp.size(g[0])) / total) ** 0.5
        summed, clipped = _clipped_sum(g, bound)
        sums.append(summed)
        counts.append(clipped)
    return jax.tree.unflatten(treedef, sums), jax.tree.unflatten(treedef, counts)
