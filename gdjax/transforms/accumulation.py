"""Gradient accumulation: `MultiSteps` (an inner optimizer stepped every k mini-steps)
and `apply_every` (sums emitted every k steps).

Both let a small batch stand in for a large one: the gradients of ``k``
consecutive mini-batches are combined before a step is taken. `MultiSteps`
holds the inner optimizer's state still in between (the large-batch run, step
for step); `apply_every` only delays what it passes on, so transformations
chained before it still update their state at every mini-step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax._validation import check_flag, check_step
from gdjax.base import GradientTransformation, Params, Updates, extra_args_filter, value_at
from gdjax.bound import bind

# --------------------------------------------------------------------------- skip rules


class ShouldSkipUpdateFunction(Protocol):
    """Decides whether `MultiSteps` ignores a mini-step's gradients.

    Called as ``fn(updates, gradient_step, params)``; returns ``(skip, info)``
    where ``skip`` is a bool scalar array and ``info`` any pytree, stored as
    ``MultiStepsState.skip_state`` (its structure must not change between
    steps).
    """

    def __call__(
        self, updates: Updates, gradient_step: ArrayLike, params: Params | None
    ) -> tuple[ArrayLike, Any]: ...


def skip_not_finite(
    updates: Updates, gradient_step: ArrayLike, params: Params | None
) -> tuple[jax.Array, dict]:
    """Skips the mini-steps whose gradients hold a NaN or an infinity.

    Returns:
      ``(skip, {"should_skip": skip, "num_not_finite": n})``, ``n`` being the
      number of non-finite entries in ``updates`` (int32).
    """
    del gradient_step, params
    counts = [jnp.sum(~jnp.isfinite(x)) for x in jax.tree.leaves(updates)]
    num_not_finite = jnp.sum(jnp.array(counts or [0], jnp.int32))
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(
    updates: Updates, gradient_step: ArrayLike, params: Params | None, max_squared_norm: ArrayLike
) -> tuple[jax.Array, dict]:
    """Skips the mini-steps whose gradients have a squared global norm of at least
    ``max_squared_norm`` (or a NaN one).

    Bind the threshold to use it with `MultiSteps`:
    ``gdjax.bound.bind(skip_large_updates, max_squared_norm=42.0)`` keeps it data
    (``functools.partial`` works too, and makes it part of the program).

    Returns:
      ``(skip, {"should_skip": skip, "norm_squared": s})``, ``s`` the squared norm.
    """
    del gradient_step, params
    squares = [jnp.sum(x**2) for x in jax.tree.leaves(updates)]
    norm_squared = jnp.sum(jnp.array(squares or [0.0]))
    should_skip = ~(norm_squared < max_squared_norm)  # NaN < t is False: skipped
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_squared}


# --------------------------------------------------------------------------- MultiSteps


class MultiStepsState(NamedTuple):
    """The state of `MultiSteps`.

    Attributes:
      mini_step: mini-steps accumulated since the last inner step (0 after one).
      gradient_step: inner steps taken so far.
      inner_opt_state: the inner optimizer's state.
      acc_grads: the gradients accumulated since the last inner step.
      skip_state: the information the ``should_skip_update_fn`` returned at the
        last mini-step; ``()`` without one.
    """

    mini_step: jax.Array
    gradient_step: jax.Array
    inner_opt_state: Any
    acc_grads: Any
    skip_state: Any = ()


def _no_skip(updates, gradient_step, params):
    del updates, gradient_step, params
    return jnp.array(False), ()


def _k_steps(every_k_schedule: Any, gradient_step: jax.Array) -> jax.Array:
    k = value_at(every_k_schedule, gradient_step)
    return jnp.asarray(k).astype(jnp.int32)


def _multi_steps_init(params, *, inner, should_skip_update_fn, accumulator_dtype):
    skip_fn = should_skip_update_fn or _no_skip
    gradient_step = tree.zero_count()
    _, skip_state = skip_fn(tree.zeros_like(params), gradient_step, params)
    return MultiStepsState(
        mini_step=tree.zero_count(),
        gradient_step=gradient_step,
        inner_opt_state=inner(params),
        acc_grads=tree.zeros_like(params, dtype=accumulator_dtype),
        skip_state=skip_state,
    )


def _multi_steps_update(
    updates,
    state,
    params=None,
    *,
    inner,
    every_k_schedule,
    use_grad_mean,
    should_skip_update_fn,
    **extra,
):
    extra = extra_args_filter(inner)(extra)
    skip_fn = should_skip_update_fn or _no_skip
    k = _k_steps(every_k_schedule, state.gradient_step)
    skip, skip_state = skip_fn(updates, state.gradient_step, params)
    skip = jnp.asarray(skip)
    if (skip.dtype, skip.shape) != (jnp.bool_, ()):
        raise ValueError(
            "MultiSteps: should_skip_update_fn must return a bool scalar as its first "
            f"value, got an array of dtype {skip.dtype} and shape {skip.shape}"
        )
    n = state.mini_step
    if use_grad_mean:
        # Welford's running mean: stable, and exact for equal gradients.
        acc = tree.map(lambda g, a: a + (g - a) / (n + 1), updates, state.acc_grads)
    else:
        acc = tree.map(lambda g, a: g + a, updates, state.acc_grads)
    last = n == k - 1
    emit = last & ~skip
    grads = tree.cast_like(acc, updates)

    def step(_):
        out, inner_state = inner(grads, state.inner_opt_state, params, **extra)
        return out, tree.cast_like(inner_state, state.inner_opt_state)

    # The inner optimizer runs only at the k-th mini-step; in between the
    # updates are zeros of the shape and dtype it would return.
    out_shape = jax.eval_shape(lambda: step(None)[0])

    def hold(_):
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shape)
        return zeros, state.inner_opt_state

    out, inner_state = jax.lax.cond(emit, step, hold, None)
    acc_grads = jax.tree.map(
        lambda new, old: jnp.where(skip, old, jnp.where(last, 0, new)).astype(old.dtype),
        acc,
        state.acc_grads,
    )
    return out, MultiStepsState(
        mini_step=jnp.where(skip, n, tree.safe_increment(n) % k).astype(jnp.int32),
        gradient_step=jnp.where(
            emit, tree.safe_increment(state.gradient_step), state.gradient_step
        ),
        inner_opt_state=inner_state,
        acc_grads=acc_grads,
        skip_state=skip_state,
    )


class MultiSteps:
    """Accumulates the gradients of ``k`` mini-steps and then steps the inner optimizer once.


        a_j = a_{j-1} + (g_j - a_{j-1}) / j      (the running mean; the sum if not use_grad_mean)
        u   = opt(a_k)   at the k-th mini-step, then a = 0
        u   = 0          at the others (the inner state does not change)

    With ``use_grad_mean`` the inner optimizer sees the mean gradient of ``k``
    mini-batches, the gradient of their union: ``MultiSteps(opt, k)`` on
    batches of ``B`` is ``opt`` on batches of ``k*B`` (Goyal et al. 2017 use
    accumulation this way). A mini-step that ``should_skip_update_fn`` rejects
    is as if it never happened: zero updates, nothing accumulated or counted.

    The instance builds a gdjax transformation, ``gradient_transformation()``,
    a pytree of the hyperparameters (``k`` is data: vmap over it), and its
    ``init``/``update`` are that transformation's.

    Args:
      opt: the inner optimizer.
      every_k_schedule: mini-steps per inner step, an integer >= 1, or a
        schedule: a function of the inner step count returning it (so the
        effective batch size can grow during training).
      use_grad_mean: average the accumulated gradients (default True); sum
        them if False.
      should_skip_update_fn: ``None`` (default), or a function
        ``(updates, gradient_step, params) -> (skip, info)`` such as
        `skip_not_finite` or `skip_large_updates`; see
        `ShouldSkipUpdateFunction`. ``info`` is kept as ``state.skip_state``.
      accumulator_dtype: dtype of the accumulated gradients; default float32
        (``None`` follows the params).
    """

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[jax.Array], ArrayLike],
        use_grad_mean: bool = True,
        should_skip_update_fn: ShouldSkipUpdateFunction | None = None,
        accumulator_dtype: DTypeLike | None = jnp.float32,
    ):
        if not callable(every_k_schedule):
            check_step("MultiSteps", "every_k_schedule", every_k_schedule, 1)
        check_flag("MultiSteps", "use_grad_mean", use_grad_mean)
        if should_skip_update_fn is not None and not callable(should_skip_update_fn):
            raise ValueError(
                "MultiSteps: should_skip_update_fn must be None or a function, got "
                f"{should_skip_update_fn!r}"
            )
        self._opt = opt
        self._transformation = GradientTransformation(
            bind(
                _multi_steps_init,
                inner=opt.init,
                should_skip_update_fn=should_skip_update_fn,
                accumulator_dtype=accumulator_dtype,
            ),
            bind(
                _multi_steps_update,
                inner=opt.update,
                every_k_schedule=every_k_schedule,
                use_grad_mean=use_grad_mean,
                should_skip_update_fn=should_skip_update_fn,
            ),
        )

    @property
    def inner_opt(self) -> GradientTransformation:
        """The inner optimizer."""
        return self._opt

    def init(self, params: Params) -> MultiStepsState:
        """The initial state: no mini-step yet, zero accumulated gradients."""
        return self._transformation.init(params)

    def update(
        self, updates: Updates, state: MultiStepsState, params: Params | None = None, **extra: Any
    ) -> tuple[Updates, MultiStepsState]:
        """Accumulates ``updates``; returns the inner step at every k-th mini-step, else zeros."""
        return self._transformation.update(updates, state, params, **extra)

    def has_updated(self, state: MultiStepsState) -> jax.Array:
        """Whether the last ``update`` stepped the inner optimizer."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """The transformation itself: a pytree of the hyperparameters."""
        return self._transformation


# --------------------------------------------------------------------------- apply_every


class ApplyEvery(NamedTuple):
    """The step count (modulo k) and the sum of the updates since the last emission."""

    count: jax.Array
    grad_acc: Updates


def _apply_every_init(params):
    return ApplyEvery(count=tree.zero_count(), grad_acc=tree.zeros_like(params))


def _apply_every_update(updates, state, params=None, *, k):
    del params
    k = jnp.asarray(k).astype(jnp.int32)
    c = state.count % k
    keep = c != 0
    emit = c == k - 1
    grad_acc = tree.map(lambda g, a: jnp.where(keep, a, 0) + g, updates, state.grad_acc)
    out = jax.tree.map(lambda a, g: jnp.where(emit, a, 0).astype(g.dtype), grad_acc, updates)
    return out, ApplyEvery(
        count=tree.safe_increment(state.count) % k,
        grad_acc=tree.cast_like(grad_acc, state.grad_acc),
    )


def apply_every(k: ArrayLike = 1) -> GradientTransformation:
    """Sums the updates of ``k`` steps and passes the sum on every ``k``-th step.


        s_t = g_t + s_{t-1}   (s restarts at every t = 0 mod k)
        u_t = s_t             if t = k-1 mod k,   else 0

    The transformations chained before it still update their state at every
    step, so this is not a larger batch; `MultiSteps` is.

    Args:
      k: steps per emission, an integer >= 1 (data: it may be traced); default 1.

    Returns:
      A transformation with state `ApplyEvery`.
    """
    check_step("apply_every", "k", k, 1)
    return GradientTransformation(bind(_apply_every_init), bind(_apply_every_update, k=k))
