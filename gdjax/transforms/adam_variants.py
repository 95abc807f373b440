"""Relatives of Adam: AdaBelief, RAdam, Yogi, AMSGrad (as its own transformation), Adan, NovoGrad.

As in `gdjax.transforms.adaptive`, products and powers are elementwise, each
step is computed in at least float32 (`tree.widen`) and the updates and the
state are stored in their own dtypes (`tree.cast_like`): bfloat16 params give
bfloat16 updates and a bfloat16 state.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax._validation import check_flag, check_range
from gdjax.base import GradientTransformation, Params, value_at
from gdjax.bound import bind
from gdjax.transforms.adaptive import (
    ScaleByAdamState,
    _adam_step,
    _amsgrad_init,
    _amsgrad_update,
    _check_eps_convention,
    _second_moment,
)


def _first_moment_estimate(mu, g, b1, count, nesterov):
    """Adam's ``m̂``: ``m / (1 - b1**t)``, or with Nesterov
    ``b1 * m / (1 - b1**(t+1)) + (1 - b1) * g / (1 - b1**t)``."""
    if not nesterov:
        return tree.bias_correction(mu, b1, count)
    return jax.tree.map(
        lambda m, g: tree.scale(b1, m) + tree.scale(1 - b1, g),
        tree.bias_correction(mu, b1, tree.safe_increment(count)),
        tree.bias_correction(g, b1, count),
    )


def _check_betas(owner: str, **betas: Any) -> None:
    for name, value in betas.items():
        check_range(owner, name, value, "[0, 1)")


def _check_nonnegative(owner: str, **values: Any) -> None:
    for name, value in values.items():
        check_range(owner, name, value, "[0, inf)")


# --------------------------------------------------------------------------- AdaBelief


class ScaleByBeliefState(NamedTuple):
    """Step count, first moment ``m`` and ``s``, the moving variance of ``g - m``."""

    count: jax.Array
    mu: Params
    nu: Params


def _belief_init(params):
    return ScaleByBeliefState(
        count=tree.zero_count(), mu=tree.zeros_like(params), nu=tree.zeros_like(params)
    )


def _belief_update(updates, state, params=None, *, b1, b2, eps, eps_root, nesterov):
    del params
    g = tree.widen(updates)
    count = tree.safe_increment(state.count)
    mu = tree.update_moment(g, tree.widen(state.mu), b1, 1)
    surprise = jax.tree.map(lambda g, m: g - m, g, mu)
    nu = tree.update_moment(surprise, tree.widen(state.nu), b2, 2)
    nu = jax.tree.map(lambda s: s + eps_root, nu)
    mu_hat = _first_moment_estimate(mu, g, b1, count, nesterov)
    nu_hat = tree.bias_correction(nu, b2, count)
    out = jax.tree.map(lambda m, s: m / (jnp.sqrt(s) + eps), mu_hat, nu_hat)
    new_state = ScaleByBeliefState(
        count=count, mu=tree.cast_like(mu, state.mu), nu=tree.cast_like(nu, state.nu)
    )
    return tree.cast_like(out, updates), new_state


def scale_by_belief(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020): Adam dividing by the spread of ``g`` around its mean.


        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        s_t = b2 * s_{t-1} + (1 - b2) * (g_t - m_t)**2 + eps_root
        u_t = (m_t / (1 - b1**t)) / (sqrt(s_t / (1 - b2**t)) + eps)

    Where the gradient is where the moving average predicts it (a "belief"),
    ``s`` is small and the step large. ``eps_root`` enters the state at every
    step, as in optax and the paper's code. ``nesterov`` takes
    ``b1 * m_t / (1 - b1**(t+1)) + (1 - b1) * g_t / (1 - b1**t)`` for the
    first moment, as `scale_by_adam` does.

    Args:
      b1: first-moment decay in [0, 1). Default 0.9.
      b2: decay of ``s`` in [0, 1). Default 0.999.
      eps: ≥ 0, added outside the root. Default 1e-16 (the paper: 1e-8).
      eps_root: ≥ 0, added to ``s``. Default 1e-16 (the paper: 0).
      nesterov: Nesterov momentum (keyword-only). Default False.

    Returns:
      A transformation with state `ScaleByBeliefState`.
    """
    owner = "scale_by_belief"
    _check_betas(owner, b1=b1, b2=b2)
    _check_nonnegative(owner, eps=eps, eps_root=eps_root)
    check_flag(owner, "nesterov", nesterov)
    return GradientTransformation(
        bind(_belief_init),
        bind(_belief_update, b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
    )


# --------------------------------------------------------------------------- RAdam


def _radam_init(params):
    return ScaleByAdamState(
        count=tree.zero_count(), mu=tree.zeros_like(params), nu=tree.zeros_like(params)
    )


def _rectification(b2, count, threshold):
    """Whether to rectify at step ``count``, and the factor ``r_t`` (1 where not)."""
    t = jnp.asarray(count, jnp.float32)
    rho_inf = 2 / (1 - b2) - 1
    b2_t = b2**t
    rho = rho_inf - 2 * t * b2_t / (1 - b2_t)
    rectify = rho >= threshold
    square = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
    # Where the step is not rectified the square may be negative or 0/0: never take its root.
    return rectify, jnp.sqrt(jnp.where(rectify, square, 1.0))


def _radam_update(
    updates, state, params=None, *, b1, b2, eps, eps_root, threshold, nesterov, eps_convention
):
    del params
    g = tree.widen(updates)
    count = tree.safe_increment(state.count)
    mu = tree.update_moment(g, tree.widen(state.mu), b1, 1)
    nu = tree.update_moment(g, tree.widen(state.nu), b2, 2)
    mu_hat = _first_moment_estimate(mu, g, b1, count, nesterov)
    rectify, r = _rectification(b2, count, threshold)
    rectified = jax.tree.map(lambda m: tree.as_dtype(r, m.dtype) * m, mu_hat)
    nu_hat = _second_moment(nu, b2, count, eps_convention)
    adaptive = _adam_step(mu_hat, rectified, nu_hat, eps, eps_root, b2, count, eps_convention)
    out = jax.tree.map(lambda a, m: jnp.where(rectify, a, m), adaptive, mu_hat)
    new_state = ScaleByAdamState(
        count=count, mu=tree.cast_like(mu, state.mu), nu=tree.cast_like(nu, state.nu)
    )
    return tree.cast_like(out, updates), new_state


def scale_by_radam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    threshold: ArrayLike = 5.0,
    *,
    nesterov: bool = False,
    eps_convention: str = "optax",
) -> GradientTransformation:
    """Rectified Adam (Liu et al. 2020): Adam once the variance of its step is tractable.


        rho_inf = 2 / (1 - b2) - 1
        rho_t   = rho_inf - 2 * t * b2**t / (1 - b2**t)
        r_t     = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
        u_t     = r_t * m̂_t / (sqrt(v̂_t + eps_root) + eps)     if rho_t >= threshold
        u_t     = m̂_t                                          otherwise

    with Adam's ``m̂_t`` and ``v̂_t`` (see `scale_by_adam`, whose ``nesterov``
    this shares). Early steps, with few gradients in ``v``, are momentum steps.

    PyTorch's ``RAdam`` rectifies where ``rho_t > 5`` and adds ``eps`` to the
    root of the raw ``v_t`` (``r_t * sqrt(1 - b2**t) * m̂_t / (sqrt(v_t) + eps)``):
    that is ``eps_convention="keras"`` (as in `scale_by_adam`) with the default
    threshold.

    Args:
      b1: first-moment decay in [0, 1). Default 0.9.
      b2: second-moment decay in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-8.
      eps_root: ≥ 0. Default 0.
      threshold: the ``rho_t`` from which steps are rectified, >= 4 (below 4
        ``r_t`` is not real: optax returns NaN there). Default 5.
      nesterov: Nesterov momentum (keyword-only). Default False.
      eps_convention: ``"optax"`` (default) or ``"keras"``, where ``eps`` goes
        relative to the bias correction (keyword-only, gdjax's).

    Returns:
      A transformation with state `ScaleByAdamState`.
    """
    owner = "scale_by_radam"
    _check_betas(owner, b1=b1, b2=b2)
    _check_nonnegative(owner, eps=eps, eps_root=eps_root)
    check_range(owner, "threshold", threshold, "[4, inf)")
    check_flag(owner, "nesterov", nesterov)
    _check_eps_convention(owner, eps_convention)
    return GradientTransformation(
        bind(_radam_init),
        bind(
            _radam_update,
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            threshold=threshold,
            nesterov=nesterov,
            eps_convention=eps_convention,
        ),
    )


# --------------------------------------------------------------------------- Yogi


def _yogi_init(params, *, initial_accumulator_value):
    return ScaleByAdamState(
        count=tree.zero_count(),
        mu=tree.full_like(params, initial_accumulator_value),
        nu=tree.full_like(params, initial_accumulator_value),
    )


def _yogi_second_moment(g, v, b2):
    square = tree.abs_sq(g)
    return v - tree.scale(1 - b2, jnp.sign(v - square) * square)


def _yogi_update(updates, state, params=None, *, b1, b2, eps, eps_root):
    del params
    g = tree.widen(updates)
    count = tree.safe_increment(state.count)
    mu = tree.update_moment(g, tree.widen(state.mu), b1, 1)
    nu = tree.map(lambda g, v: _yogi_second_moment(g, v, b2), g, tree.widen(state.nu))
    mu_hat = tree.bias_correction(mu, b1, count)
    nu_hat = tree.bias_correction(nu, b2, count)
    out = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
    new_state = ScaleByAdamState(
        count=count, mu=tree.cast_like(mu, state.mu), nu=tree.cast_like(nu, state.nu)
    )
    return tree.cast_like(out, updates), new_state


def scale_by_yogi(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-3,
    eps_root: ArrayLike = 0.0,
    initial_accumulator_value: ArrayLike = 1e-6,
) -> GradientTransformation:
    """Yogi (Zaheer et al. 2018): Adam whose second moment moves additively.


        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = v_{t-1} - (1 - b2) * sign(v_{t-1} - g_t**2) * g_t**2
        u_t = (m_t / (1 - b1**t)) / (sqrt(v_t / (1 - b2**t) + eps_root) + eps)

    ``v`` moves toward ``g**2`` by at most ``(1 - b2) * g**2`` per step, so a
    burst of small gradients cannot shrink it (and raise the step) as fast as
    in Adam. Both moments start at ``initial_accumulator_value``, and both are
    divided by the bias corrections, as in optax.

    Args:
      b1: first-moment decay in [0, 1). Default 0.9.
      b2: second-moment rate in [0, 1). Default 0.999.
      eps: ≥ 0. Default 1e-3 (the paper's).
      eps_root: ≥ 0. Default 0.
      initial_accumulator_value: starting ``m`` and ``v``, >= 0 (``v`` then
        stays >= 0). Default 1e-6.

    Returns:
      A transformation with state `ScaleByAdamState`.
    """
    owner = "scale_by_yogi"
    _check_betas(owner, b1=b1, b2=b2)
    _check_nonnegative(
        owner, eps=eps, eps_root=eps_root, initial_accumulator_value=initial_accumulator_value
    )
    return GradientTransformation(
        bind(_yogi_init, initial_accumulator_value=initial_accumulator_value),
        bind(_yogi_update, b1=b1, b2=b2, eps=eps, eps_root=eps_root),
    )


# --------------------------------------------------------------------------- AMSGrad


def scale_by_amsgrad(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> GradientTransformation:
    """AMSGrad (Reddi, Kale & Kumar 2018): Adam dividing by the largest second moment so far.


        m_t    = b1 * m_{t-1} + (1 - b1) * g_t
        v_t    = b2 * v_{t-1} + (1 - b2) * g_t**2
        vmax_t = max(vmax_{t-1}, v_t / (1 - b2**t))
        u_t    = (m_t / (1 - b1**t)) / (sqrt(vmax_t + eps_root) + eps)

    The step size never grows. Without ``bias_correction_mu`` the step uses
    ``m_t`` itself, without ``bias_correction_nu`` the maximum is over the raw
    ``v_t``: both False is the paper's algorithm. With both True (default) it
    is ``scale_by_adam(amsgrad=True)``.

    Args:
      b1: first-moment decay in [0, 1). Default 0.9.
      b2: second-moment decay in [0, 1). Default 0.999.
      eps: ≥ 0, added outside the root. Default 1e-8.
      eps_root: ≥ 0, added inside the root. Default 0.
      mu_dtype: dtype of ``m``; ``None`` (default) follows the params.
      bias_correction_mu: debias ``m``. Default True.
      bias_correction_nu: debias ``v`` before the maximum. Default True.

    Returns:
      A transformation with state `ScaleByAmsgradState`.
    """
    owner = "scale_by_amsgrad"
    _check_betas(owner, b1=b1, b2=b2)
    _check_nonnegative(owner, eps=eps, eps_root=eps_root)
    check_flag(owner, "bias_correction_mu", bias_correction_mu)
    check_flag(owner, "bias_correction_nu", bias_correction_nu)
    return GradientTransformation(
        bind(_amsgrad_init, mu_dtype=mu_dtype),
        bind(
            _amsgrad_update,
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            nesterov=False,
            eps_convention="optax",
            bias_correction_mu=bias_correction_mu,
            bias_correction_nu=bias_correction_nu,
        ),
    )


# --------------------------------------------------------------------------- Adan


class ScaleByAdanState(NamedTuple):
    """Adan's moving averages, the last gradient and the step count.

    Attributes:
      m: moving average of the gradients.
      v: moving average of the gradients' differences ``g_t - g_{t-1}``.
      n: moving average of ``(g_t + (1 - b2) * (g_t - g_{t-1}))**2``.
      g: the last gradient.
      t: steps taken (int32).
    """

    m: Params
    v: Params
    n: Params
    g: Params
    t: jax.Array


def _adan_init(params):
    return ScaleByAdanState(
        m=tree.zeros_like(params),
        v=tree.zeros_like(params),
        n=tree.zeros_like(params),
        g=tree.zeros_like(params),
        t=tree.zero_count(),
    )


def _adan_update(updates, state, params=None, *, b1, b2, b3, eps, eps_root):
    del params
    g = tree.widen(updates)
    first = state.t == 0
    # The first step has no previous gradient: its difference is zero.
    diff = tree.map(lambda g, p: jnp.where(first, jnp.zeros_like(g), g - p), g, tree.widen(state.g))
    m = tree.update_moment(g, tree.widen(state.m), b1, 1)
    v = tree.update_moment(diff, tree.widen(state.v), b2, 1)
    ahead = jax.tree.map(lambda g, d: g + tree.scale(1 - b2, d), g, diff)
    n = tree.update_moment(ahead, tree.widen(state.n), b3, 2)
    t = tree.safe_increment(state.t)
    m_hat = tree.bias_correction(m, b1, t)
    v_hat = tree.bias_correction(v, b2, t)
    n_hat = tree.bias_correction(n, b3, t)
    out = jax.tree.map(
        lambda m, v, n: (m + tree.scale(1 - b2, v)) / (jnp.sqrt(n + eps_root) + eps),
        m_hat,
        v_hat,
        n_hat,
    )
    new_state = ScaleByAdanState(
        m=tree.cast_like(m, state.m),
        v=tree.cast_like(v, state.v),
        n=tree.cast_like(n, state.n),
        g=tree.cast_like(updates, state.g),
        t=t,
    )
    return tree.cast_like(out, updates), new_state


def scale_by_adan(
    b1: ArrayLike = 0.98,
    b2: ArrayLike = 0.92,
    b3: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
) -> GradientTransformation:
    """Adan (Xie et al. 2022, Algorithm 1): Nesterov momentum estimated from gradient differences.


        d_t = g_t - g_{t-1}                              (d_1 = 0)
        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = b2 * v_{t-1} + (1 - b2) * d_t
        n_t = b3 * n_{t-1} + (1 - b3) * (g_t + (1 - b2) * d_t)**2
        u_t = (m̂_t + (1 - b2) * v̂_t) / (sqrt(n̂_t + eps_root) + eps)

    where the hats divide by ``1 - b1**t``, ``1 - b2**t`` and ``1 - b3**t``.
    The betas are the decays of the moving averages, as in optax (the paper
    writes them as ``1 - beta``).

    Args:
      b1: decay of ``m`` in [0, 1). Default 0.98.
      b2: decay of ``v`` in [0, 1). Default 0.92.
      b3: decay of ``n`` in [0, 1). Default 0.99.
      eps: ≥ 0, added outside the root. Default 1e-8.
      eps_root: ≥ 0, added inside the root. Default 0.

    Returns:
      A transformation with state `ScaleByAdanState`.
    """
    owner = "scale_by_adan"
    _check_betas(owner, b1=b1, b2=b2, b3=b3)
    _check_nonnegative(owner, eps=eps, eps_root=eps_root)
    return GradientTransformation(
        bind(_adan_init),
        bind(_adan_update, b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
    )


# --------------------------------------------------------------------------- NovoGrad


class ScaleByNovogradState(NamedTuple):
    """Step count, the momentum ``m`` and ``v``, one moving squared gradient norm per leaf.

    ``v`` holds one scalar per leaf of the params, in that leaf's dtype.
    """

    count: jax.Array
    mu: Params
    nu: Params


def _novograd_init(params, *, mu_dtype):
    return ScaleByNovogradState(
        count=tree.zero_count(),
        mu=tree.zeros_like(params, dtype=mu_dtype),
        nu=jax.tree.map(lambda p: jnp.zeros([], tree.dtype_of(p)), params),
    )


def _novograd_update(updates, state, params=None, *, b1, b2, eps, eps_root, weight_decay):
    # An empty tree (None among them) has no weights to decay: params=None is fine.
    if params is None and jax.tree.leaves(updates):
        raise ValueError("scale_by_novograd needs the params: call update(updates, state, params)")
    count = tree.safe_increment(state.count)
    first = count == 1
    wd = value_at(weight_decay, state.count)
    g = tree.widen(updates)

    def norm_average(g, v):
        square = jnp.sum(tree.abs_sq(g))
        return jnp.where(first, square, tree.scale(b2, v) + tree.scale(1 - b2, square))

    nu = tree.map(norm_average, g, tree.widen(state.nu))

    def momentum(g, v, p, m):
        step = g / (jnp.sqrt(v + eps_root) + eps) + tree.scale(wd, p)
        return jnp.where(first, step, tree.scale(b1, m) + step)

    mu = tree.map(momentum, g, nu, tree.widen(params), tree.widen(state.mu))
    new_state = ScaleByNovogradState(
        count=count, mu=tree.cast_like(mu, state.mu), nu=tree.cast_like(nu, state.nu)
    )
    return tree.cast_like(mu, updates), new_state


def scale_by_novograd(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.25,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    """NovoGrad (Ginsburg et al. 2019): momentum on gradients normalised layer by layer.

    For each leaf (layer) of the params, with ``|g_t|`` that leaf's gradient's
    Euclidean norm:

        v_1 = |g_1|**2,               v_t = b2 * v_{t-1} + (1 - b2) * |g_t|**2
        m_1 = g_1 / (sqrt(v_1 + eps_root) + eps) + wd * x_1
        m_t = b1 * m_{t-1} + g_t / (sqrt(v_t + eps_root) + eps) + wd * x_t
        u_t = m_t

    No bias correction: the first step starts the averages at its own values.
    ``update`` needs the params. The weight decay may be a schedule of the step
    count (``wd(t - 1)``, as `add_decayed_weights` counts).

    Args:
      b1: momentum in [0, 1]. Default 0.9.
      b2: decay of ``v`` in [0, 1]. Default 0.25.
      eps: ≥ 0. Default 1e-8.
      eps_root: ≥ 0. Default 0.
      weight_decay: ``wd`` >= 0, or a schedule. Default 0.
      mu_dtype: dtype of ``m``; ``None`` (default) follows the params.

    Returns:
      A transformation with state `ScaleByNovogradState`.
    """
    owner = "scale_by_novograd"
    check_range(owner, "b1", b1, "[0, 1]")
    check_range(owner, "b2", b2, "[0, 1]")
    _check_nonnegative(owner, eps=eps, eps_root=eps_root, weight_decay=weight_decay)
    return GradientTransformation(
        bind(_novograd_init, mu_dtype=mu_dtype),
        bind(
            _novograd_update,
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            weight_decay=weight_decay,
        ),
    )
