"""L-BFGS: the gradient preconditioned by a quasi-Newton inverse Hessian built from
the last few steps."""

from __future__ import annotations

import functools
import operator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdjax import tree
from gdjax._validation import check_flag, check_static_int
from gdjax.base import GradientTransformation, Params, Updates
from gdjax.bound import Static, bind


class ScaleByLBFGSState(NamedTuple):
    """The step count, the last params and updates, and the memory of differences.

    Attributes:
      count: the number of updates so far (an int32 scalar).
      params: the params at the last update.
      updates: the updates (gradients) at the last update.
      diff_params_memory: the last ``memory_size`` differences of params,
        ``s_j = w_{j+1} - w_j``, stacked along a new first axis (a ring buffer).
      diff_updates_memory: the matching differences of updates,
        ``y_j = g_{j+1} - g_j``.
      weights_memory: ``rho_j = 1 / <y_j, s_j>`` (0 where that product is 0).
    """

    count: jax.Array
    params: Params
    updates: Updates
    diff_params_memory: Any
    diff_updates_memory: Any
    weights_memory: jax.Array


def _vdot(a: Any, b: Any) -> jax.Array:
    """``sum(conj(a) * b)`` over all leaves, at the highest matmul precision."""

    def leaf(x, y):
        x = jnp.conj(x) if jnp.iscomplexobj(x) else x
        return jnp.tensordot(x, y, jnp.ndim(x), precision=jax.lax.Precision.HIGHEST)

    return functools.reduce(operator.add, jax.tree.leaves(jax.tree.map(leaf, a, b)), 0)


def _sq_norm(a: Any) -> jax.Array:
    sums = [jnp.sum(tree.abs_sq(x)) for x in jax.tree.leaves(a)]
    return functools.reduce(operator.add, sums, 0)


def _add_scaled(x: Any, factor: jax.Array, y: Any) -> Any:
    return jax.tree.map(lambda a, b: a + factor * b, x, y)


def _two_loop(updates, s_memory, y_memory, rhos, gamma, newest):
    """``P u`` by the two-loop recursion (Nocedal & Wright 1999, Algorithm 7.4), from the
    oldest memory slot ``newest`` on (the ring buffer's order) with ``P_0 = gamma I``."""
    size = rhos.shape[0]
    order = (newest + jnp.arange(size)) % size

    def backward(q, i):
        s, y = jax.tree.map(lambda m: m[i], (s_memory, y_memory))
        alpha = rhos[i] * jnp.real(_vdot(s, q))
        return tree.cast_like(_add_scaled(q, -alpha, y), q), alpha

    q, alphas = jax.lax.scan(backward, updates, order, reverse=True)
    r = jax.tree.map(lambda x: gamma * x, q)

    def forward(r, i_alpha):
        i, alpha = i_alpha
        s, y = jax.tree.map(lambda m: m[i], (s_memory, y_memory))
        beta = rhos[i] * jnp.real(_vdot(y, r))
        return tree.cast_like(_add_scaled(r, alpha - beta, s), r), beta

    r, _ = jax.lax.scan(forward, r, (order, alphas))
    return r


def _lbfgs_init(params, *, memory_size):
    def stack(x):
        return jnp.zeros((memory_size, *jnp.shape(x)), tree.dtype_of(x))

    tree.check_floating(params, "scale_by_lbfgs")
    return ScaleByLBFGSState(
        count=tree.zero_count(),
        params=tree.zeros_like(params),
        updates=tree.zeros_like(params),
        diff_params_memory=jax.tree.map(stack, params),
        diff_updates_memory=jax.tree.map(stack, params),
        weights_memory=jnp.zeros([memory_size], jnp.float32),
    )


def _lbfgs_update(updates, state, params=None, *, memory_size, scale_init_precond):
    if params is None:
        raise ValueError("scale_by_lbfgs: update() needs the params")
    slot = state.count % memory_size
    last_slot = (state.count - 1) % memory_size
    started = state.count > 0
    # Computed in at least float32, stored in the state's dtypes.
    g, w = tree.widen(updates), tree.widen(params)
    s = jax.tree.map(operator.sub, w, tree.widen(state.params))
    y = jax.tree.map(operator.sub, g, tree.widen(state.updates))
    ys = jnp.real(_vdot(y, s))
    rho = jnp.where(ys == 0.0, 0.0, 1.0 / ys)
    # No difference before the first step: zeros in the memory.
    s, y, rho = jax.tree.map(lambda x: jnp.where(started, x, jnp.zeros_like(x)), (s, y, rho))
    s_memory = jax.tree.map(
        lambda m, x: m.at[last_slot].set(x.astype(m.dtype)), state.diff_params_memory, s
    )
    y_memory = jax.tree.map(
        lambda m, x: m.at[last_slot].set(x.astype(m.dtype)), state.diff_updates_memory, y
    )
    rhos = state.weights_memory.at[last_slot].set(rho.astype(state.weights_memory.dtype))
    if scale_init_precond:
        yy = _sq_norm(y)
        gamma = jnp.where(yy > 0.0, jnp.real(_vdot(y, s)) / yy, 1.0)
        # The first step has no curvature: a step of length at most 1.
        first = jnp.minimum(1.0, 1.0 / jnp.sqrt(_sq_norm(jax.lax.stop_gradient(g))))
        gamma = jnp.where(started, gamma, first)
    else:
        gamma = 1.0
    direction = _two_loop(g, tree.widen(s_memory), tree.widen(y_memory), rhos, gamma, slot)
    new_state = ScaleByLBFGSState(
        count=tree.safe_increment(state.count),
        params=tree.cast_like(params, state.params),
        updates=tree.cast_like(updates, state.updates),
        diff_params_memory=s_memory,
        diff_updates_memory=y_memory,
        weights_memory=rhos,
    )
    return tree.cast_like(direction, updates), new_state


def scale_by_lbfgs(
    memory_size: int = 10, scale_init_precond: bool = True
) -> GradientTransformation:
    """Multiplies the updates by the L-BFGS approximation of the inverse Hessian.

    From the last ``m`` (``memory_size``) differences of params and updates,

        s_j = w_{j+1} - w_j,   y_j = u_{j+1} - u_j,   rho_j = 1 / <y_j, s_j>,

    the approximation is ``P_k = H_k^k`` with ``H_k^{k-m} = gamma_k I`` and

        H_k^{j+1} = (I - rho_j s_j y_j^T) H_k^j (I - rho_j y_j s_j^T) + rho_j s_j s_j^T,

    and the output is ``P_k u_k``, computed by the two-loop recursion (Nocedal &
    Wright 1999, Algorithms 7.4 and 7.5; Liu & Nocedal 1989). With
    ``scale_init_precond``, ``gamma_k = <s_{k-1}, y_{k-1}> / <y_{k-1}, y_{k-1}>``
    (1 where ``y`` is 0), else ``gamma_k = 1``. At the first update, where there
    is no difference yet, ``gamma_0 = min(1, 1 / |u_0|)`` with the scaling (the
    first step is at most 1 long; a heuristic, as in optax), 1 without.

    The memory is updated before the preconditioning, from the params and
    updates this call receives, so a line search chained after it (see
    `gdjax.optimizers.lbfgs.lbfgs`) chooses the step length of the direction
    ``-P_k u_k``. The state holds ``2 m + 2`` copies of the params.

    Args:
      memory_size: ``m``, the number of differences kept, a static int >= 1.
        Default 10.
      scale_init_precond: scale ``P``'s starting identity by ``gamma_k``.
        Default True.

    Returns:
      A transformation with state `ScaleByLBFGSState`.
    """
    size = check_static_int("scale_by_lbfgs", "memory_size", memory_size, 1)
    check_flag("scale_by_lbfgs", "scale_init_precond", scale_init_precond)
    return GradientTransformation(
        bind(_lbfgs_init, memory_size=Static(size)),
        bind(_lbfgs_update, memory_size=Static(size), scale_init_precond=scale_init_precond),
    )
