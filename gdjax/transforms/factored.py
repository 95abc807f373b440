"""Second moments in sublinear memory: Adafactor's factored estimate and SM3's cover.

Adam keeps one second moment per coordinate. For an ``n x m`` matrix Adafactor
keeps ``n + m`` numbers (the moving averages of the row and column means of
``g**2``) and SM3 keeps one accumulator per row and per column. Both compute in
at least float32 and store their state in the params' dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import check_flag, check_range, check_static_int, check_step, named
from gdjax.base import GradientTransformation, Params
from gdjax.bound import Static, bind

# --------------------------------------------------------------------------- Adafactor


def decay_rate_pow(step: ArrayLike, exponent: ArrayLike = 0.8) -> jax.Array:
    """Adafactor's decay schedule ``beta2_t = 1 - (step + 1)**(-exponent)`` (float32).

    ``step`` counts from 0, so the first step takes ``beta2 = 0`` (the average is
    the first ``g**2``) and ``beta2_t`` rises towards 1 (Shazeer & Stern 2018).
    """
    t = jnp.asarray(step + 1, jnp.float32)
    return 1.0 - t ** (-jnp.asarray(exponent, jnp.float32))


class FactoredState(NamedTuple):
    """Step count and the second-moment statistics, one entry per param leaf.

    A factored leaf keeps ``v_row`` and ``v_col`` (its shape less one of its two
    largest axes, less the other) and a ``(1,)`` placeholder in ``v``; any
    other leaf keeps its full ``v`` and ``(1,)`` placeholders in ``v_row`` and
    ``v_col``, as in optax.
    """

    count: jax.Array
    v_row: Params
    v_col: Params
    v: Params


def _factored_dims(shape: tuple, factored: bool, min_dim_size_to_factor: int):
    """``(d1, d0)``: the second largest and the largest axis, or None if the leaf is not factored.

    A leaf is factored when ``factored`` is set and its two largest axes both
    have at least ``min_dim_size_to_factor`` entries. Ties are broken as
    ``np.argsort`` breaks them, so that the state has optax's shapes.
    """
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def _without_axis(x: jax.Array, axis: int) -> jax.Array:
    """Zeros shaped like ``x`` less ``axis``, in ``x``'s dtype."""
    return jnp.zeros(x.shape[:axis] + x.shape[axis + 1 :], x.dtype)


def _placeholder(x: Any) -> jax.Array:
    return jnp.zeros((1,), tree.dtype_of(x))


def _factored_rms_init(params, *, factored, min_dim_size_to_factor):
    tree.check_floating(params, "scale_by_factored_rms")

    def entries(p):
        p = jnp.asarray(p)
        dims = _factored_dims(p.shape, factored, min_dim_size_to_factor)
        if dims is None:
            return _placeholder(p), _placeholder(p), jnp.zeros_like(p)
        d1, d0 = dims
        return _without_axis(p, d0), _without_axis(p, d1), _placeholder(p)

    leaves, treedef = jax.tree.flatten(params)
    columns = list(zip(*(entries(p) for p in leaves), strict=True)) or [(), (), ()]
    v_row, v_col, v = (treedef.unflatten(c) for c in columns)
    return FactoredState(count=tree.zero_count(), v_row=v_row, v_col=v_col, v=v)


def _factored_leaf(g, v_row, v_col, v, decay, *, epsilon, factored, min_dim_size_to_factor):
    """The update and the new ``(v_row, v_col, v)`` of one leaf, computed in float32 or wider."""
    stored = (v_row, v_col, v)
    g = tree.widen(jnp.asarray(g))
    v_row, v_col, v = tree.widen(stored)
    decay = tree.as_dtype(decay, jnp.promote_types(jnp.result_type(decay), jnp.float32))
    g_sq = tree.abs_sq(g) + epsilon
    dims = _factored_dims(g.shape, factored, min_dim_size_to_factor)
    if dims is None:
        v = decay * v + (1 - decay) * g_sq
        out = g * v**-0.5
    else:
        d1, d0 = dims
        v_row = decay * v_row + (1 - decay) * jnp.mean(g_sq, axis=d0)
        v_col = decay * v_col + (1 - decay) * jnp.mean(g_sq, axis=d1)
        # v_row has lost axis d0: d1 moved one place left if it came after d0.
        row_mean = jnp.mean(v_row, axis=d1 - 1 if d1 > d0 else d1, keepdims=True)
        row_factor = jnp.expand_dims((v_row / row_mean) ** -0.5, d0)
        col_factor = jnp.expand_dims(v_col**-0.5, d1)
        # estimate of E[g**2]_ij = v_row_i * v_col_j / mean(v_row)
        out = g * row_factor * col_factor
    return out, tree.cast_like((v_row, v_col, v), stored)


def _factored_rms_update(
    updates,
    state,
    params=None,
    *,
    decay_rate,
    step_offset,
    epsilon,
    decay_rate_fn,
    factored,
    min_dim_size_to_factor,
):
    del params
    for name, part in (("v_row", state.v_row), ("v_col", state.v_col), ("v", state.v)):
        tree.check_structure(updates, part, ("updates", f"state.{name}"))
    decay = decay_rate_fn(state.count - step_offset, decay_rate)
    leaf = functools.partial(
        _factored_leaf,
        decay=decay,
        epsilon=epsilon,
        factored=factored,
        min_dim_size_to_factor=min_dim_size_to_factor,
    )
    leaves, treedef = jax.tree.flatten(updates)
    results = [
        leaf(g, r, c, v)
        for g, r, c, v in zip(
            leaves,
            treedef.flatten_up_to(state.v_row),
            treedef.flatten_up_to(state.v_col),
            treedef.flatten_up_to(state.v),
            strict=True,
        )
    ]
    out = treedef.unflatten([o for o, _ in results])
    stats = [s for _, s in results]
    v_row, v_col, v = (treedef.unflatten([s[i] for s in stats]) for i in range(3))
    new_state = FactoredState(count=tree.safe_increment(state.count), v_row=v_row, v_col=v_col, v=v)
    return tree.cast_like(out, updates), new_state


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: ArrayLike = 0.8,
    step_offset: ArrayLike = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: ArrayLike = 1e-30,
    decay_rate_fn: Callable[[ArrayLike, ArrayLike], ArrayLike] = decay_rate_pow,
) -> GradientTransformation:
    """Adafactor's scaling (Shazeer & Stern 2018): divide by a factored root mean square.

    With ``k = t - step_offset`` (``t = 0, 1, ...`` counts past updates) and
    ``beta_k = decay_rate_fn(k, decay_rate)``, by default ``1 - (k + 1)**(-decay_rate)``:

        s     = g**2 + epsilon
        leaf not factored:
          v     = beta_k * v + (1 - beta_k) * s
          u     = g / sqrt(v)
        leaf factored over its two largest axes a (rows) and b (columns):
          r     = beta_k * r + (1 - beta_k) * mean_b(s)
          c     = beta_k * c + (1 - beta_k) * mean_a(s)
          u_ij  = g_ij / sqrt(r_i * c_j / mean(r))

    A leaf is factored when ``factored`` is set and its two largest axes both
    have at least ``min_dim_size_to_factor`` entries: an ``n x m`` matrix then
    keeps ``n + m`` statistics instead of ``n * m``. The update is not clipped
    or scaled by a learning rate here (see `gdjax.adafactor`).

    Args:
      factored: factor the statistics of matrices and higher-rank leaves.
        Default True.
      decay_rate: the schedule's parameter, >= 0 (the exponent of the default
        schedule). Default 0.8. PyTorch's ``Adafactor(beta2_decay=b)`` is ``-b``.
      step_offset: subtracted from the step count in the schedule (for
        fine-tuning: the step the fine-tuning starts at), an integer >= 0. Default 0.
      min_dim_size_to_factor: static: factor only leaves whose two largest axes
        are at least this long, an integer >= 0. Default 128.
      epsilon: added to ``g**2``, >= 0. Default 1e-30.
      decay_rate_fn: ``(k, decay_rate) -> beta_k``; default `decay_rate_pow`.
        Zhai et al. 2021 cap ``beta_k`` below 1 with their own function.

    Returns:
      A transformation with state `FactoredState`.
    """
    owner = "scale_by_factored_rms"
    check_flag(owner, "factored", factored)
    check_range(owner, "decay_rate", decay_rate, "[0, inf)")
    step_offset = check_step(owner, "step_offset", step_offset, 0)
    min_dim_size_to_factor = check_static_int(
        owner, "min_dim_size_to_factor", min_dim_size_to_factor, 0
    )
    check_range(owner, "epsilon", epsilon, "[0, inf)")
    if not callable(decay_rate_fn):
        owner, name = named(owner, "decay_rate_fn")
        raise ValueError(f"{owner}: {name} must be callable, got {decay_rate_fn!r}")
    static = {"factored": factored, "min_dim_size_to_factor": Static(min_dim_size_to_factor)}
    return GradientTransformation(
        bind(_factored_rms_init, **static),
        bind(
            _factored_rms_update,
            decay_rate=decay_rate,
            step_offset=step_offset,
            epsilon=epsilon,
            decay_rate_fn=decay_rate_fn,
            **static,
        ),
    )


# --------------------------------------------------------------------------- SM3


class ScaleBySM3State(NamedTuple):
    """SM3's accumulators and momentum.

    Attributes:
      mu: per leaf, a list of one accumulator per axis (the maxima of the
        second-moment sums over the other axes); a 0-d leaf keeps one 0-d
        accumulator (optax keeps none, and fails on its first update).
      nu: the momentum, shaped like the params.
    """

    mu: Params
    nu: Params


def _sm3_init(params):
    tree.check_floating(params, "scale_by_sm3")

    def accumulators(p):
        p = jnp.asarray(p)
        if p.ndim == 0:
            return [jnp.zeros((), p.dtype)]
        return [jnp.zeros((n,), p.dtype) for n in p.shape]

    return ScaleBySM3State(mu=jax.tree.map(accumulators, params), nu=tree.zeros_like(params))


def _sm3_leaf(g, mu, *, b2):
    """The new sum ``nu'`` of one leaf (float32 or wider) from its accumulators."""
    g = tree.widen(jnp.asarray(g))
    accumulators = tree.widen(mu)
    # Each accumulator broadcast along its own axis; a leaf is covered by its axes.
    if g.ndim < 2:
        past = accumulators[0]
    else:
        shaped = [
            jnp.reshape(a, [1] * i + [a.shape[0]] + [1] * (g.ndim - i - 1))
            for i, a in enumerate(accumulators)
        ]
        past = functools.reduce(jnp.minimum, shaped)
    # b2 = 1 (the default, SM3's sums) adds g**2 with weight 1, not 1 - b2 = 0.
    weight = jnp.where(b2 == 1, 1.0, 1 - b2)
    return tree.scale(weight, tree.abs_sq(g)) + tree.scale(b2, past)


def _sm3_maxima(accum, like):
    if accum.ndim < 2:
        return [tree.as_dtype(accum, m.dtype) for m in like]
    axes = range(accum.ndim)
    return [
        tree.as_dtype(jnp.max(accum, axis=tuple(j for j in axes if j != i)), m.dtype)
        for i, m in zip(axes, like, strict=True)
    ]


def _sm3_update(updates, state, params=None, *, b1, b2, eps):
    del params
    tree.check_structure(updates, state.nu, ("updates", "state"))
    leaves, treedef = jax.tree.flatten(updates)
    mus = treedef.flatten_up_to(state.mu)
    sums = [_sm3_leaf(g, m, b2=b2) for g, m in zip(leaves, mus, strict=True)]
    scaled = [
        tree.widen(jnp.asarray(g)) * jnp.where(s > 0, jax.lax.rsqrt(s + eps), 0)
        for g, s in zip(leaves, sums, strict=True)
    ]
    nu = tree.update_moment(treedef.unflatten(scaled), tree.widen(state.nu), b1, 1)
    mu = treedef.unflatten([_sm3_maxima(s, m) for s, m in zip(sums, mus, strict=True)])
    new_nu = tree.cast_like(nu, state.nu)
    return tree.cast_like(nu, updates), ScaleBySM3State(mu=mu, nu=new_nu)


def scale_by_sm3(
    b1: ArrayLike = 0.9, b2: ArrayLike = 1.0, eps: ArrayLike = 1e-8
) -> GradientTransformation:
    """SM3 (Anil, Gupta, Koren & Singer 2019): AdaGrad with one accumulator per row and column.

    For a leaf of rank ``k >= 2`` with accumulators ``mu_1 .. mu_k`` (one entry per
    index of each axis):

        nu'_i  = w * g_i**2 + b2 * min over axes a of mu_a[i_a]    (w = 1 if b2 = 1, else 1 - b2)
        mu_a   = max of nu' over every axis but a
        s_i    = g_i / sqrt(nu'_i + eps)    (0 where nu'_i = 0)
        m      = b1 * m + (1 - b1) * s;     u = m

    A vector or a 0-d leaf keeps its full sum ``nu'`` (its single cover). With
    ``b2 = 1`` (default) ``nu'`` is the paper's SM3-II sum of squared gradients.

    Args:
      b1: momentum in [0, 1]. Default 0.9.
      b2: decay of the sums in [0, 1]; 1 (default) sums without decay.
      eps: ≥ 0. Default 1e-8.

    Returns:
      A transformation with state `ScaleBySM3State`.
    """
    owner = "scale_by_sm3"
    check_range(owner, "b1", b1, "[0, 1]")
    check_range(owner, "b2", b2, "[0, 1]")
    check_range(owner, "eps", eps, "[0, inf)")
    return GradientTransformation(bind(_sm3_init), bind(_sm3_update, b1=b1, b2=b2, eps=eps))
