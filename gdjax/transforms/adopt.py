"""ADOPT (Taniguchi et al. 2024): Adam with the second moment of the *previous* step.

Adam divides the gradient by a moment that already contains it, which ties its
convergence to the choice of ``b2``. ADOPT normalises ``g_t`` by ``v_{t-1}``
before the momentum, and only then folds ``g_t`` into ``v``. The numbers are
those of optax.contrib 0.2.8's ``scale_by_adopt``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax._validation import check_flag, check_range, named
from gdjax.base import GradientTransformation
from gdjax.bound import bind
from gdjax.transforms.adaptive import ScaleByAdamState


def quarter_power(count: jax.Array) -> jax.Array:
    """``count**0.25``: ADOPT's default clipping bound at step ``count`` (0, 1, 2, ...)."""
    return count**0.25


def _adopt_init(params, *, mu_dtype):
    return ScaleByAdamState(
        count=tree.zero_count(),
        mu=tree.zeros_like(params, dtype=mu_dtype),
        nu=tree.zeros_like(params),
    )


def _adopt_update(
    updates, state, params=None, *, b1, b2, eps, nesterov, use_clipping, clip_value_fn
):
    del params
    first = state.count == 0
    # The first step only records g_1**2 in v; the momentum stays at zero.
    b1_now = jnp.where(first, 1.0, b1)
    b2_now = jnp.where(first, 0.0, b2)
    g, nu_before = tree.widen(updates), tree.widen(state.nu)
    nu = tree.update_moment(g, nu_before, b2_now, 2)
    normalized = tree.map(lambda g, v: g / jnp.maximum(jnp.sqrt(v), eps), g, nu_before)
    if use_clipping:
        bound = clip_value_fn(state.count)
        normalized = tree.map(lambda n: jnp.clip(n, -bound, bound), normalized)
    mu = tree.update_moment(normalized, tree.widen(state.mu), b1_now, 1)
    direction = tree.update_moment(normalized, mu, b1_now, 1) if nesterov else mu
    new_state = ScaleByAdamState(
        count=tree.safe_increment(state.count),
        mu=tree.cast_like(mu, state.mu),
        nu=tree.cast_like(nu, state.nu),
    )
    return tree.cast_like(direction, updates), new_state


def scale_by_adopt(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.9999,
    eps: ArrayLike = 1e-6,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = quarter_power,
) -> GradientTransformation:
    """ADOPT (Taniguchi et al., NeurIPS 2024): normalise by the previous second moment.


        n_t = g_t / max(sqrt(v_{t-1}), eps)
        n_t = clip(n_t, -c(t-1), c(t-1))             if use_clipping, c = clip_value_fn
        m_t = b1 * m_{t-1} + (1 - b1) * n_t          (t >= 2; m_1 = m_0 = 0)
        v_t = b2 * v_{t-1} + (1 - b2) * g_t**2       (t >= 2; v_1 = g_1**2)
        u_t = m_t        or   b1 * m_t + (1 - b1) * n_t   with nesterov

    The first step only fills ``v``: its update is zero. No bias correction is
    needed, since ``v`` starts from ``g_1**2`` and ``m`` from zero by design.
    The clipping bound is called with the count of past steps (0 at the first
    step), so the default ``c(t) = t**0.25`` grows slowly from zero; it keeps
    early steps small where ``v`` is still a poor estimate.

    Args:
      b1: momentum decay in [0, 1]. Default 0.9.
      b2: second-moment decay in [0, 1]. Default 0.9999.
      eps: ≥ 0, the floor of ``sqrt(v)``. Default 1e-6.
      mu_dtype: dtype of ``m``; ``None`` (default) follows the params.
      nesterov: Nesterov's look-ahead on ``m`` (keyword-only). Default False.
      use_clipping: clip the normalised gradient (keyword-only). Default True.
      clip_value_fn: the bound as a function of the step count (keyword-only);
        default `quarter_power`, ``t**0.25`` (optax's default is a lambda of the
        same formula). A plain function is an option of the transformation, a
        gdjax schedule is data.

    Returns:
      A transformation with state `ScaleByAdamState`.
    """
    owner = "scale_by_adopt"
    check_range(owner, "b1", b1, "[0, 1]")
    check_range(owner, "b2", b2, "[0, 1]")
    check_range(owner, "eps", eps, "[0, inf)")
    check_flag(owner, "nesterov", nesterov)
    check_flag(owner, "use_clipping", use_clipping)
    if not callable(clip_value_fn):
        who, name = named(owner, "clip_value_fn")
        raise ValueError(
            f"{who}: {name} must be a function of the step count, got {clip_value_fn!r}"
        )
    return GradientTransformation(
        bind(_adopt_init, mu_dtype=mu_dtype),
        bind(
            _adopt_update,
            b1=b1,
            b2=b2,
            eps=eps,
            nesterov=nesterov,
            use_clipping=use_clipping,
            clip_value_fn=clip_value_fn,
        ),
    )
