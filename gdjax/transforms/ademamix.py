"""AdEMAMix (Pagliardini, Ablin & Grangier 2024) and its simplified form (Morwani et al. 2025).

Adam's momentum forgets a gradient within about ``1/(1 - b1)`` steps. AdEMAMix
adds a second, slow moving average (``b3`` close to 1) that remembers tens of
thousands of steps, mixed in with a weight ``alpha``. The numbers are those of
optax.contrib 0.2.8's ``scale_by_ademamix`` and ``scale_by_simplified_ademamix``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax._validation import check_range
from gdjax.base import GradientTransformation, Params, ScalarOrSchedule, value_at
from gdjax.bound import bind

# --------------------------------------------------------------------------- AdEMAMix


class ScaleByAdemamixState(NamedTuple):
    """Step counts and AdEMAMix's three moving averages.

    Attributes:
      count: steps taken, for the fast average's and ``v``'s bias correction (int32).
      count_m2: steps taken, the argument of the ``b3`` and ``alpha`` schedules (int32).
      m1: fast moving average of the gradients (decay ``b1``).
      m2: slow moving average of the gradients (decay ``b3``).
      nu: moving average of the squared gradients (decay ``b2``).
    """

    count: jax.Array
    count_m2: jax.Array
    m1: Params
    m2: Params
    nu: Params


def _ademamix_init(params, *, mu_dtype):
    return ScaleByAdemamixState(
        count=tree.zero_count(),
        count_m2=tree.zero_count(),
        m1=tree.zeros_like(params, dtype=mu_dtype),
        m2=tree.zeros_like(params, dtype=mu_dtype),
        nu=tree.zeros_like(params, dtype=mu_dtype),
    )


def _ademamix_update(updates, state, params=None, *, b1, b2, b3, alpha, eps, eps_root):
    del params
    b3_now, alpha_now = value_at(b3, state.count_m2), value_at(alpha, state.count_m2)
    g = tree.widen(updates)
    m1 = tree.update_moment(g, tree.widen(state.m1), b1, 1)
    m2 = tree.update_moment(g, tree.widen(state.m2), b3_now, 1)
    nu = tree.update_moment(g, tree.widen(state.nu), b2, 2)
    count = tree.safe_increment(state.count)
    # The slow average is not debiased: it is meant to fill up slowly.
    m1_hat = tree.bias_correction(m1, b1, count)
    nu_hat = tree.bias_correction(nu, b2, count)
    out = tree.map(
        lambda m1, m2, v: (m1 + tree.scale(alpha_now, m2)) / (jnp.sqrt(v + eps_root) + eps),
        m1_hat,
        m2,
        nu_hat,
    )
    new_state = ScaleByAdemamixState(
        count=count,
        count_m2=tree.safe_increment(state.count_m2),
        m1=tree.cast_like(m1, state.m1),
        m2=tree.cast_like(m2, state.m2),
        nu=tree.cast_like(nu, state.nu),
    )
    return tree.cast_like(out, updates), new_state


def scale_by_ademamix(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    """AdEMAMix (Pagliardini, Ablin & Grangier 2024): Adam plus a slow momentum.


        m1_t = b1 * m1_{t-1} + (1 - b1) * g_t
        m2_t = b3 * m2_{t-1} + (1 - b3) * g_t
        v_t  = b2 * v_{t-1}  + (1 - b2) * g_t**2
        u_t  = (m1_t / (1 - b1**t) + alpha * m2_t) / (sqrt(v_t / (1 - b2**t) + eps_root) + eps)

    ``b3`` and ``alpha`` may be schedules of the step count ``t - 1`` (the
    paper warms both up over many steps: a slow average at full weight from
    the start makes early training unstable). ``m2`` is not debiased. With
    ``alpha = 0`` this is Adam.

    Args:
      b1: fast decay in [0, 1). Default 0.9.
      b2: second-moment decay in [0, 1). Default 0.999.
      b3: slow decay in [0, 1], or a schedule. Default 0.9999.
      alpha: weight of the slow average, ≥ 0, or a schedule. Default 6.0
        (the alias `gdjax.optimizers.recent.ademamix` defaults to 5.0, as optax).
      eps: ≥ 0, added outside the root. Default 1e-8.
      eps_root: ≥ 0, added inside the root. Default 0.
      mu_dtype: dtype of ``m1``, ``m2`` and ``v`` (all three, as in optax);
        ``None`` (default) follows the params.

    Returns:
      A transformation with state `ScaleByAdemamixState`.
    """
    owner = "scale_by_ademamix"
    check_range(owner, "b1", b1, "[0, 1)")
    check_range(owner, "b2", b2, "[0, 1)")
    check_range(owner, "b3", b3, "[0, 1]")
    check_range(owner, "alpha", alpha, "[0, inf)")
    check_range(owner, "eps", eps, "[0, inf)")
    check_range(owner, "eps_root", eps_root, "[0, inf)")
    return GradientTransformation(
        bind(_ademamix_init, mu_dtype=mu_dtype),
        bind(_ademamix_update, b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, eps_root=eps_root),
    )


# --------------------------------------------------------------------------- simplified


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
    """Simplified AdEMAMix's step count and its two sums.

    Attributes:
      t: steps taken (int32), the argument of an ``alpha`` schedule.
      m: the undamped momentum ``m_t = b1 * m_{t-1} + g_t``.
      n: moving average of the squared gradients (decay ``b2``).
    """

    t: jax.Array
    m: Params
    n: Params


def _simplified_ademamix_init(params):
    return ScaleBySimplifiedAdEMAMixState(
        t=tree.zero_count(), m=tree.zeros_like(params), n=tree.zeros_like(params)
    )


def _simplified_ademamix_update(updates, state, params=None, *, b1, b2, alpha, eps, eps_root):
    del params
    alpha_now = value_at(alpha, state.t)
    g = tree.widen(updates)
    m = tree.map(lambda g, m: g + tree.scale(b1, m), g, tree.widen(state.m))
    # The average in optax's order of operations: g² + b2 * (n - g²).
    n = tree.map(
        lambda g, n: tree.abs_sq(g) + tree.scale(b2, n - tree.abs_sq(g)), g, tree.widen(state.n)
    )
    t = tree.safe_increment(state.t)
    n_hat = tree.bias_correction(n, b2, t)
    out = tree.map(
        lambda m, g, n: (m + tree.scale(alpha_now, g)) / (jnp.sqrt(n + eps_root) + eps),
        m,
        g,
        n_hat,
    )
    new_state = ScaleBySimplifiedAdEMAMixState(
        t=t, m=tree.cast_like(m, state.m), n=tree.cast_like(n, state.n)
    )
    return tree.cast_like(out, updates), new_state


def scale_by_simplified_ademamix(
    b1: ArrayLike = 0.99,
    b2: ArrayLike = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
) -> GradientTransformation:
    """Simplified AdEMAMix (Morwani et al. 2025): one undamped momentum plus ``alpha * g``.


        m_t = b1 * m_{t-1} + g_t                       (a sum, not an average)
        n_t = b2 * n_{t-1} + (1 - b2) * g_t**2
        u_t = (m_t + alpha * g_t) / (sqrt(n_t / (1 - b2**t) + eps_root) + eps)

    One momentum buffer instead of AdEMAMix's two, and ``alpha`` weighs the
    current gradient. Since ``m_t`` is ``1 / (1 - b1)`` times the moving average
    of the gradients, ``alpha = 0`` is Adam without the first moment's bias
    correction, at ``1 / (1 - b1)`` times the rate. ``alpha`` may be a schedule
    of the step count ``t - 1``.

    Args:
      b1: momentum decay in [0, 1). Default 0.99.
      b2: second-moment decay in [0, 1). Default 0.95.
      alpha: weight of the current gradient, ≥ 0, or a schedule. Default 0.
      eps: ≥ 0, added outside the root. Default 1e-8.
      eps_root: ≥ 0, added inside the root. Default 0.

    Returns:
      A transformation with state `ScaleBySimplifiedAdEMAMixState`.
    """
    owner = "scale_by_simplified_ademamix"
    check_range(owner, "b1", b1, "[0, 1)")
    check_range(owner, "b2", b2, "[0, 1)")
    check_range(owner, "alpha", alpha, "[0, inf)")
    check_range(owner, "eps", eps, "[0, inf)")
    check_range(owner, "eps_root", eps_root, "[0, inf)")
    return GradientTransformation(
        bind(_simplified_ademamix_init),
        bind(_simplified_ademamix_update, b1=b1, b2=b2, alpha=alpha, eps=eps, eps_root=eps_root),
    )
