"""Steps that keep only the signs of the gradient: signSGD, Lion and Rprop.

Each step is computed in at least float32 and stored in the dtypes of the
updates and the state, as the adaptive transformations do.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax._validation import _concrete, check_range, check_unscheduled, named
from gdjax.base import EMPTY_INIT, GradientTransformation, Params
from gdjax.bound import bind

# --------------------------------------------------------------------------- sign


def _sign_update(updates, state, params=None):
    del params
    return jax.tree.map(jnp.sign, updates), state


def scale_by_sign() -> GradientTransformation:
    """Replaces every coordinate of the updates by its sign.


        u = sign(g)          (-1, 0 or +1; g / |g| for complex g)

    The direction of signSGD (Bernstein et al. 2018). Stateless.
    """
    return GradientTransformation(EMPTY_INIT, bind(_sign_update))


# --------------------------------------------------------------------------- Lion


class ScaleByLionState(NamedTuple):
    """Lion's step count and its momentum ``m``."""

    count: jax.Array
    mu: Params


_LION_MODES = ("hard", "smooth", "refined")


def _lion_init(params, *, mu_dtype):
    return ScaleByLionState(count=tree.zero_count(), mu=tree.zeros_like(params, dtype=mu_dtype))


def _lion_direction(c, *, mode, smooth_beta):
    if mode == "hard":
        return jnp.sign(c)
    if mode == "smooth":
        return jnp.tanh(tree.scale(smooth_beta, c))
    # "refined": the interpolation itself inside [-1, 1], its sign outside.
    return jnp.where(jnp.abs(c) < 1, c, jnp.sign(c))


def _lion_update(updates, state, params=None, *, b1, b2, mode, smooth_beta):
    del params
    g, m = tree.widen(updates), tree.widen(state.mu)
    # The step looks at b1 (the interpolation), the memory keeps b2 (the momentum).
    interpolation = tree.map(lambda g, m: tree.scale(1 - b1, g) + tree.scale(b1, m), g, m)
    out = jax.tree.map(
        lambda c: _lion_direction(c, mode=mode, smooth_beta=smooth_beta), interpolation
    )
    mu = tree.update_moment(g, m, b2, 1)
    new_state = ScaleByLionState(
        count=tree.safe_increment(state.count), mu=tree.cast_like(mu, state.mu)
    )
    return tree.cast_like(out, updates), new_state


def scale_by_lion(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: DTypeLike | None = None,
    *,
    mode: str = "hard",
    smooth_beta: ArrayLike = 1.0,
) -> GradientTransformation:
    """Lion's direction (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").


        c_t = b1 * m_{t-1} + (1 - b1) * g_t
        u_t = sign(c_t)                                   mode="hard" (the paper's)
        u_t = tanh(smooth_beta * c_t)                     mode="smooth"
        u_t = c_t if |c_t| < 1 else sign(c_t)             mode="refined"
        m_t = b2 * m_{t-1} + (1 - b2) * g_t               (m_0 = 0)

    The step interpolates with ``b1``, the momentum remembers with ``b2``; no
    bias correction (only the sign counts). Every coordinate of a hard step
    has size 1, so Lion takes rates 3-10x smaller than AdamW's.

    Args:
      b1: the interpolation in [0, 1]. Default 0.9.
      b2: the momentum's decay in [0, 1]. Default 0.99.
      mu_dtype: dtype of ``m``; ``None`` (default) follows the params.
      mode: ``"hard"`` (default), ``"smooth"`` or ``"refined"`` (keyword-only).
      smooth_beta: the slope of ``"smooth"``'s tanh, >= 0 (keyword-only). Default 1.

    Returns:
      A transformation with state `ScaleByLionState`.
    """
    owner = "scale_by_lion"
    check_range(owner, "b1", b1, "[0, 1]")
    check_range(owner, "b2", b2, "[0, 1]")
    check_range(owner, "smooth_beta", smooth_beta, "[0, inf)")
    if not (isinstance(mode, str) and mode in _LION_MODES):
        owner, name = named(owner, "mode")
        raise ValueError(f"{owner}: {name} must be 'hard', 'smooth' or 'refined', got {mode!r}")
    return GradientTransformation(
        bind(_lion_init, mu_dtype=mu_dtype),
        bind(_lion_update, b1=b1, b2=b2, mode=mode, smooth_beta=smooth_beta),
    )


# --------------------------------------------------------------------------- Rprop


class ScaleByRpropState(NamedTuple):
    """Rprop's per-coordinate step sizes and the step it took last.

    Attributes:
      step_sizes: the current step size of every coordinate.
      prev_updates: the last step, ``step_size * sign(g)``, or 0 where the
        gradient had just changed sign (which switches the next comparison off).
    """

    step_sizes: Params
    prev_updates: Params


def _rprop_init(params, *, learning_rate):
    # A complex coordinate is two real ones (as in PyTorch), each starting at learning_rate.
    step_sizes = jax.tree.map(
        lambda s: s * (1 + 1j) if jnp.iscomplexobj(s) else s,
        tree.full_like(params, learning_rate),
    )
    return ScaleByRpropState(step_sizes=step_sizes, prev_updates=tree.zeros_like(params))


def _rprop_real(g, prev, step, *, eta_minus, eta_plus, min_step_size, max_step_size):
    """One real coordinate array: the step, the new step sizes."""
    # The product of the signs, not of the values: g * prev underflows to 0 for a
    # gradient of 1e-30 and a step of 1e-20, which would read as "no information".
    agreement = jnp.sign(g) * jnp.sign(prev)
    grown = jnp.where(agreement > 0, tree.scale(eta_plus, step), tree.scale(eta_minus, step))
    bounded = jnp.clip(grown, min_step_size, max_step_size).astype(step.dtype)
    new_step = jnp.where(agreement == 0, step, bounded)
    # A sign change means the last step jumped over a minimum: no step now, and a
    # zero memory, so that the next step compares with nothing and keeps its size.
    out = jnp.where(agreement < 0, 0, new_step * jnp.sign(g)).astype(g.dtype)
    return out, new_step


def _rprop_leaf(g, prev, step, **hyperparams):
    if not jnp.iscomplexobj(g):
        return _rprop_real(g, prev, step, **hyperparams)
    # Complex coordinates are two real ones (as in PyTorch): real and imaginary parts
    # each keep their own step size.
    re_out, re_step = _rprop_real(g.real, prev.real, step.real, **hyperparams)
    im_out, im_step = _rprop_real(g.imag, prev.imag, step.imag, **hyperparams)
    return jax.lax.complex(re_out, im_out), jax.lax.complex(re_step, im_step)


def _rprop_update(
    updates, state, params=None, *, eta_minus, eta_plus, min_step_size, max_step_size
):
    del params
    g = tree.widen(updates)
    tree.check_structure(g, state.prev_updates, ("updates", "state"))
    leaves, treedef = jax.tree.flatten(g)
    results = [
        _rprop_leaf(
            *leaf,
            eta_minus=eta_minus,
            eta_plus=eta_plus,
            min_step_size=min_step_size,
            max_step_size=max_step_size,
        )
        for leaf in zip(
            leaves,
            treedef.flatten_up_to(tree.widen(state.prev_updates)),
            treedef.flatten_up_to(tree.widen(state.step_sizes)),
            strict=True,
        )
    ]
    out = treedef.unflatten([step for step, _ in results])
    steps = treedef.unflatten([size for _, size in results])
    new_state = ScaleByRpropState(
        step_sizes=tree.cast_like(steps, state.step_sizes),
        prev_updates=tree.cast_like(out, state.prev_updates),
    )
    return tree.cast_like(out, updates), new_state


def scale_by_rprop(
    learning_rate: ArrayLike,
    eta_minus: ArrayLike = 0.5,
    eta_plus: ArrayLike = 1.2,
    min_step_size: ArrayLike = 1e-6,
    max_step_size: ArrayLike = 50.0,
) -> GradientTransformation:
    """Rprop (Riedmiller & Braun 1993): a step size per coordinate, grown or shrunk by
    whether the gradient keeps its sign.


        a_t   = sign(g_t) * sign(u_{t-1})                       (u_0 = 0)
        s_t   = clip(eta_plus * s_{t-1}, min, max)     if a_t > 0   (s_0 = learning_rate)
              = clip(eta_minus * s_{t-1}, min, max)    if a_t < 0
              = s_{t-1}                                if a_t = 0
        u_t   = s_t * sign(g_t),  or 0 if a_t < 0

    The output is the step to take *up* the gradient: chain with ``scale(-1.0)``
    (as `gdjax.rprop` does) to descend. After a sign change no step is taken and
    the memory ``u`` is zero, so the next step keeps its size (Rprop without
    weight-backtracking, "Rprop-" in Igel & Hüsken 2003); this is PyTorch's
    ``Rprop``. Complex coordinates are two real ones, as there.

    optax 0.2.8 returns ``u_{t-1}`` (zeroed where ``a_t < 0``) instead of ``u_t``:
    its steps lag one behind and its first step is zero (optax pull request
    1725). The state is the same as optax's; the step is ``u_t``.

    Args:
      learning_rate: the initial step size ``s_0`` >= 0 (a number or an array, not
        a schedule). Required.
      eta_minus: the factor in (0, 1] after a sign change. Default 0.5.
      eta_plus: the factor >= 1 while the sign holds. Default 1.2.
      min_step_size: the smallest step size, >= 0. Default 1e-6.
      max_step_size: the largest step size, >= min_step_size. Default 50.

    Returns:
      A transformation with state `ScaleByRpropState`.
    """
    owner = "scale_by_rprop"
    check_unscheduled(
        owner, "learning_rate", learning_rate, "[0, inf)", "Rprop's initial step size"
    )
    check_range(owner, "eta_minus", eta_minus, "(0, 1]")
    check_range(owner, "eta_plus", eta_plus, "[1, inf)")
    check_range(owner, "min_step_size", min_step_size, "[0, inf)")
    check_range(owner, "max_step_size", max_step_size, "[0, inf)")
    low, high = _concrete(min_step_size), _concrete(max_step_size)
    if low is not None and high is not None and (low > high).any():
        owner, name = named(owner, "max_step_size")
        raise ValueError(
            f"{owner}: {name} must be >= min_step_size ({min_step_size!r}), got {max_step_size!r}"
        )
    return GradientTransformation(
        bind(_rprop_init, learning_rate=learning_rate),
        bind(
            _rprop_update,
            eta_minus=eta_minus,
            eta_plus=eta_plus,
            min_step_size=min_step_size,
            max_step_size=max_step_size,
        ),
    )
