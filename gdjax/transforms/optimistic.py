"""Optimistic gradients: extrapolate with the last gradient (optimistic gradient descent)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import check_unscheduled
from gdjax.base import GradientTransformation, Params
from gdjax.bound import bind


class ScaleByOptimisticGradientState(NamedTuple):
    """Whether no update was seen yet, and the last incoming updates ``g_{t-1}``."""

    is_initial_step: jax.Array
    previous_gradient: Params


def _optimistic_init(params):
    return ScaleByOptimisticGradientState(
        is_initial_step=jnp.array(True), previous_gradient=tree.zeros_like(params)
    )


def _optimistic_update(updates, state, params=None, *, alpha, beta):
    del params
    g = tree.widen(updates)

    def extrapolate(g, previous):
        # At the first step there is no g_{t-1}: g_t stands in, so u_1 = alpha * g_1.
        previous = jnp.where(state.is_initial_step, g, previous)
        return tree.scale(alpha + beta, g) - tree.scale(beta, previous)

    out = tree.map(extrapolate, g, tree.widen(state.previous_gradient))
    new_state = ScaleByOptimisticGradientState(
        is_initial_step=jnp.zeros_like(state.is_initial_step),
        previous_gradient=tree.cast_like(updates, state.previous_gradient),
    )
    return tree.cast_like(out, updates), new_state


def scale_by_optimistic_gradient(
    alpha: ArrayLike = 1.0, beta: ArrayLike = 1.0
) -> GradientTransformation:
    """Generalised optimistic gradient (Mokhtari, Ozdaglar & Pattathil 2020).


        u_t = (alpha + beta) * g_t - beta * g_{t-1}        (g_0 = g_1: u_1 = alpha * g_1)

    With ``alpha = beta = 1`` it is optimistic gradient descent's ``2 g_t - g_{t-1}``
    (Popov 1980; Daskalakis et al. 2018): a gradient step extrapolated with the
    last change of the gradient, which damps the cycling of plain descent on
    min-max games. ``beta`` is a negative momentum.

    Args:
      alpha: the weight of the current gradient; a finite number. Default 1.
      beta: the weight of the gradient's change; a finite number. Default 1.

    Returns:
      A transformation with state `ScaleByOptimisticGradientState`.
    """
    check_unscheduled("scale_by_optimistic_gradient", "alpha", alpha, "(-inf, inf)")
    check_unscheduled("scale_by_optimistic_gradient", "beta", beta, "(-inf, inf)")
    return GradientTransformation(
        bind(_optimistic_init), bind(_optimistic_update, alpha=alpha, beta=beta)
    )
