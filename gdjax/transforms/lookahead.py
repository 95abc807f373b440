"""Lookahead: a fast optimizer explores, and every k steps slow weights move part of
the way toward where it went (Zhang, Lucas, Hinton & Ba 2019)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import check_flag, check_range, check_step
from gdjax.base import GradientTransformation, Params
from gdjax.bound import bind


class LookaheadState(NamedTuple):
    """The fast optimizer's state and the fast steps taken since the last synchronisation."""

    fast_state: Any
    steps_since_sync: jax.Array


class LookaheadParams(NamedTuple):
    """The two copies of the params that `lookahead` updates.

    Take the gradients at ``fast``; evaluate (and ship) ``slow``, the averaged
    weights.
    """

    fast: Params
    slow: Params

    @classmethod
    def init_synced(cls, params: Params) -> LookaheadParams:
        """Fast and slow params both equal to ``params``."""
        return cls(fast=params, slow=params)


def _fast(params: Any) -> Any:
    # init may be given the plain params (as optax allows): they are the fast ones.
    return params.fast if isinstance(params, LookaheadParams) else params


def _lookahead_init(params, *, fast_init):
    return LookaheadState(fast_state=fast_init(_fast(params)), steps_since_sync=tree.zero_count())


def _lookahead_update(
    updates, state, params=None, *, fast_init, fast_update, sync_period, slow_step_size, reset_state
):
    if not isinstance(params, LookaheadParams):
        raise ValueError(
            "lookahead: update needs the params as a LookaheadParams(fast, slow); "
            "start from LookaheadParams.init_synced(params)"
        )
    updates, fast_state = fast_update(updates, state.fast_state, params.fast)
    sync = state.steps_since_sync == jnp.asarray(sync_period) - 1
    alpha = jnp.asarray(slow_step_size)
    # d = fast + u - slow: where the slow weights would go with step size 1.
    # Coefficients first, then one product per leaf, in optax's order of rounding.
    slow_coef = alpha * sync
    fast_coef = sync * (1 - alpha)

    def difference(u, f, s):
        return tree.widen(f) + tree.widen(u) - tree.widen(s)

    diffs = tree.map(difference, updates, params.fast, params.slow, names=("updates", "params"))
    out = LookaheadParams(
        fast=jax.tree.map(
            lambda u, d: tree.as_dtype(tree.widen(u) - fast_coef * d, u.dtype), updates, diffs
        ),
        slow=jax.tree.map(
            lambda s, d: tree.as_dtype(slow_coef * d, tree.dtype_of(s)), params.slow, diffs
        ),
    )
    if reset_state:
        # Restart the fast optimizer where the params will be synchronised.
        fresh = fast_init(params.fast)
        fast_state = jax.tree.map(
            lambda now, new: jnp.where(sync, new, now).astype(jnp.result_type(now)),
            fast_state,
            fresh,
        )
    steps = (state.steps_since_sync + 1) % jnp.asarray(sync_period)
    return out, LookaheadState(fast_state=fast_state, steps_since_sync=steps.astype(jnp.int32))


def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: ArrayLike,
    slow_step_size: ArrayLike,
    reset_state: bool = False,
) -> GradientTransformation:
    """Lookahead (Zhang, Lucas, Hinton & Ba 2019, "Lookahead Optimizer: k steps
    forward, 1 step back").

    The params are a `LookaheadParams` pair: the fast weights ``f`` take the
    fast optimizer's steps; after every ``k = sync_period`` of them the slow
    weights ``s`` move toward the fast ones and the fast restart there:

        f <- f + u_t                        (u_t = fast_optimizer's step)
        every k-th step:   s <- s + alpha * (f - s),   f <- s

    Both moves of the k-th step are returned as one update, so apply the
    updates unchanged (do not chain anything after this).

    Args:
      fast_optimizer: the inner optimizer, updating the fast weights.
      sync_period: fast steps per synchronisation ``k``, an integer >= 1
        (data: it may be traced or vmapped). The paper uses 5 or 10.
      slow_step_size: ``alpha`` in [0, 1]; the paper uses 0.5 or 0.8.
      reset_state: restart the fast optimizer's state (its ``init``) at every
        synchronisation. Default False.

    Returns:
      A transformation with state `LookaheadState`, whose ``update`` takes the
      gradients at ``params.fast`` and the params as a `LookaheadParams`, and
      returns a `LookaheadParams` of updates.
    """
    check_step("lookahead", "sync_period", sync_period, 1)
    check_range("lookahead", "slow_step_size", slow_step_size, "[0, 1]")
    check_flag("lookahead", "reset_state", reset_state)
    return GradientTransformation(
        bind(_lookahead_init, fast_init=fast_optimizer.init),
        bind(
            _lookahead_update,
            fast_init=fast_optimizer.init,
            fast_update=fast_optimizer.update,
            sync_period=sync_period,
            slow_step_size=slow_step_size,
            reset_state=reset_state,
        ),
    )
