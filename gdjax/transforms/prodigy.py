"""Prodigy (Mishchenko & Defazio 2023): Adam whose step size estimates itself.

optax.contrib 0.2.8 has no ``scale_by_prodigy``: its ``prodigy`` is one
transformation that takes the learning rate and returns the descent step
itself (the rate enters the estimate of the distance to the solution, so it
cannot be a final ``scale_by_learning_rate``). gdjax keeps the same split: the
state and the module-level ``init``/``update`` are here, and the alias
`gdjax.optimizers.recent.prodigy` binds them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdjax import tree
from gdjax.base import Params, value_at


class ProdigyState(NamedTuple):
    """Prodigy's moments, its distance estimate and the point it started from.

    Attributes:
      exp_avg: moving average of ``d * g`` (decay ``beta1``).
      exp_avg_sq: moving average of ``(d * g)**2`` (decay ``beta2``).
      grad_sum: the weighted, decaying sum ``s`` of past ``d * g`` (decay ``beta3``).
      params0: the params at ``init``, ``x_0``.
      estim_lr: the current estimate ``d`` of the distance to the solution
        (a scalar in at least float32).
      numerator_weighted: the decaying sum ``r`` of ``<g, x_0 - x>`` terms
        (a scalar in at least float32).
      count: steps taken (int32).
    """

    exp_avg: Params
    exp_avg_sq: Params
    grad_sum: Params
    params0: Params
    estim_lr: jax.Array
    numerator_weighted: jax.Array
    count: jax.Array


def _scalar_dtype(params):
    """The dtype of ``d`` and ``r``: the params' narrowest real dtype, at least float32."""
    dtypes = [jnp.finfo(jnp.result_type(x)).dtype for x in jax.tree.leaves(params)]
    narrowest = min(dtypes, key=lambda d: d.itemsize, default=jnp.dtype(jnp.float32))
    return jnp.promote_types(narrowest, jnp.float32)


def _prodigy_init(params, *, estim_lr0):
    dtype = _scalar_dtype(params)
    return ProdigyState(
        exp_avg=tree.zeros_like(params),
        exp_avg_sq=tree.zeros_like(params),
        grad_sum=tree.zeros_like(params),
        params0=jax.tree.map(lambda p: jnp.asarray(p, jnp.result_type(p)), params),
        estim_lr=jnp.asarray(estim_lr0, dtype),
        numerator_weighted=jnp.zeros([], dtype),
        count=tree.zero_count(),
    )


def _tree_sum(values):
    """The sum of a list of scalars, left to right from 0 (optax's order)."""
    total = 0
    for value in values:
        total = total + value
    return total


def _raised_estimate(d, numerator, grad_sum, estim_lr_coef):
    """``max(d, estim_lr_coef * numerator / sum |s|)``: the estimate of the distance to the
    solution only grows. Where ``s`` is still zero (zero gradients so far) optax's
    estimate is 0/0 = NaN, and the NaN would stick in ``d``; gdjax keeps ``d`` instead."""
    denominator = _tree_sum(jax.tree.leaves(tree.map(lambda s: jnp.sum(jnp.abs(s)), grad_sum)))
    safe = jnp.where(denominator > 0, denominator, 1)
    estimate = jnp.where(denominator > 0, estim_lr_coef * numerator / safe, 0)
    return jnp.asarray(jnp.maximum(d, estimate), d.dtype)


class ProdigyHyperparams(NamedTuple):
    """Prodigy's hyperparameters, bound whole to `_prodigy_update` (the alias
    `gdjax.optimizers.recent.prodigy` checks and documents each one).

    Attributes:
      learning_rate: the multiplier ``lr`` of the learned step: a scalar or a schedule.
      betas: ``(beta1, beta2)``, the decays of the two moments.
      beta3: the decay of ``s`` and ``r``; ``None`` for ``sqrt(beta2)``.
      eps: added to ``sqrt(v)`` after multiplication by ``d``.
      estim_lr0: ``d_0``, the first estimate of ``d``.
      estim_lr_coef: multiplies each new estimate of ``d``.
      weight_decay: AdamW's decoupled weight decay.
      safeguard_warmup: leave the rate out of ``s`` (an option, not data).
    """

    learning_rate: Any
    betas: tuple[Any, Any]
    beta3: Any
    eps: Any
    estim_lr0: Any
    estim_lr_coef: Any
    weight_decay: Any
    safeguard_warmup: bool


def _beta3(hyper: ProdigyHyperparams) -> Any:
    """The decay of ``s`` and ``r``: ``beta3``, or ``sqrt(beta2)`` when it is ``None``."""
    return hyper.betas[1] ** 0.5 if hyper.beta3 is None else hyper.beta3


def _step_size(state: ProdigyState, hyper: ProdigyHyperparams) -> tuple[jax.Array, jax.Array]:
    """``(t, lr_t)``: the new step count and ``lr(t) * d * sqrt(1 - beta2**t) / (1 - beta1**t)``
    in the dtype of ``d`` (the schedule is read at the count before the step, as optax does)."""
    beta1, beta2 = hyper.betas
    count = tree.safe_increment(state.count)
    rate = hyper.learning_rate
    rate = value_at(rate, state.count)
    d = state.estim_lr
    bias = (1 - beta2**count) ** 0.5 / (1 - beta1**count)
    return count, jnp.asarray(d * rate * bias, d.dtype)


def _progress(g: Params, p: Params, p0: Params) -> jax.Array:
    """``<g, x_0 - x>``, summed leaf by leaf in optax's order."""
    return _tree_sum(jax.tree.leaves(tree.map(lambda g, p0, p: jnp.sum(g * (p0 - p)), g, p0, p)))


def _moments(dg: Params, state: ProdigyState, hyper: ProdigyHyperparams) -> tuple[Params, Params]:
    """Adam's two moving averages, of ``d * g`` and of ``(d * g)**2`` (widened)."""
    beta1, beta2 = hyper.betas
    exp_avg = tree.update_moment(dg, tree.widen(state.exp_avg), beta1, 1)
    exp_avg_sq = tree.map(
        lambda v, dg: tree.scale(beta2, v) + tree.scale(1 - beta2, dg) * dg,
        tree.widen(state.exp_avg_sq),
        dg,
    )
    return exp_avg, exp_avg_sq


def _weighted_sums(
    dg: Params, progress: jax.Array, d_lr: jax.Array, state: ProdigyState, hyper: ProdigyHyperparams
) -> tuple[Params, jax.Array]:
    """``(s, r)`` after the step: the decaying sums behind the new estimate of ``d``."""
    d, beta3, estim_lr0 = state.estim_lr, _beta3(hyper), hyper.estim_lr0
    # safeguard_warmup leaves the rate out of s, so a warm-up from a zero rate still counts.
    weight = d if hyper.safeguard_warmup else d_lr
    grad_sum = tree.map(
        lambda s, dg: (
            tree.scale(beta3, s) + tree.scale(weight, dg) / tree.as_dtype(estim_lr0, dg.dtype)
        ),
        tree.widen(state.grad_sum),
        dg,
    )
    numerator = beta3 * state.numerator_weighted + (d / estim_lr0) * d_lr * progress
    return grad_sum, jnp.asarray(numerator, d.dtype)


def _descent(
    moments: tuple[Params, Params],
    p: Params,
    d_lr: jax.Array,
    d: jax.Array,
    hyper: ProdigyHyperparams,
) -> Params:
    """The step ``-lr_t * (m / (sqrt(v) + d * eps) + wd * x)``, with the new ``d``."""
    eps, weight_decay = hyper.eps, hyper.weight_decay
    return tree.map(
        lambda m, v, p: (
            -tree.scale(weight_decay * d_lr, p) - tree.scale(d_lr, m) / (jnp.sqrt(v) + d * eps)
        ),
        *moments,
        p,
    )


def _prodigy_update(updates, state, params=None, *, hyper: ProdigyHyperparams):
    """One Prodigy step (the rule is in `gdjax.optimizers.recent.prodigy`'s docstring).

    Args:
      updates: the gradients ``g``.
      state: the `ProdigyState` before the step.
      params: the params ``x`` (required: ``<g, x_0 - x>`` feeds the estimate of ``d``).
      hyper: the `ProdigyHyperparams`.

    Returns:
      ``(step, state)``: the step in the gradients' dtypes and the new `ProdigyState`.
    """
    if params is None and jax.tree.leaves(updates):
        raise ValueError("prodigy needs the params: call update(updates, state, params)")
    count, d_lr = _step_size(state, hyper)
    d = state.estim_lr
    g, p = tree.widen(updates), tree.widen(params)
    dg = tree.map(lambda g: tree.scale(d, g), g)
    exp_avg, exp_avg_sq = _moments(dg, state, hyper)
    progress = _progress(g, p, tree.widen(state.params0))
    grad_sum, numerator = _weighted_sums(dg, progress, d_lr, state, hyper)
    new_d = _raised_estimate(d, numerator, grad_sum, hyper.estim_lr_coef)
    step = _descent((exp_avg, exp_avg_sq), p, d_lr, new_d, hyper)
    new_state = ProdigyState(
        exp_avg=tree.cast_like(exp_avg, state.exp_avg),
        exp_avg_sq=tree.cast_like(exp_avg_sq, state.exp_avg_sq),
        grad_sum=tree.cast_like(grad_sum, state.grad_sum),
        params0=state.params0,
        estim_lr=new_d,
        numerator_weighted=numerator,
        count=count,
    )
    return tree.cast_like(step, updates), new_state
