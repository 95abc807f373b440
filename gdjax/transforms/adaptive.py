"""Per-coordinate step sizes from gradient statistics: AdaGrad, RMSProp, AdaDelta, Adam, AdaMax.

All products and powers below are elementwise (the texts' Hadamard product, seed 000 def. 3.1).
Each step is computed in at least float32 and stored in the dtypes of the
updates and the state, so half-precision params neither lose ``eps`` to
underflow nor divide 0 by 0.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdjax import tree
from gdjax._validation import check_flag, check_range, named
from gdjax.base import GradientTransformation, Params
from gdjax.bound import bind


def _inverse_root(v: jax.Array, eps: Any, eps_in_sqrt: bool) -> jax.Array:
    """``1/sqrt(v + eps)`` (optax, Keras, seed 002) or ``1/(sqrt(v) + eps)`` (PyTorch)."""
    if eps_in_sqrt:
        return jax.lax.rsqrt(v + eps)
    return 1 / (jnp.sqrt(v) + eps)


def _centered_variance(m: jax.Array, v: jax.Array) -> jax.Array:
    """``max(v - |m|**2, 0)``, or ``inf`` where ``v`` itself is ``inf``.

    In exact arithmetic ``v >= |m|**2``; rounding can make the difference slightly
    negative, hence the clip (optax and PyTorch return NaN there). A gradient
    above about 1.8e19 in float32 makes ``g**2``, hence ``v``, overflow to
    ``inf``, and ``m**2`` with it: ``inf - inf`` would be NaN. The variance is then
    taken as infinite, which gives the step uncentered RMSProp takes at that
    overflow, ``g / sqrt(inf) = 0``.
    """
    return jnp.where(v == jnp.inf, v, jnp.maximum(v - tree.abs_sq(m), 0))


# --------------------------------------------------------------------------- AdaGrad


class ScaleByAdagradState(NamedTuple):
    """The running sum of squared gradients ``r``."""

    sum_of_squares: Params


# optax's name for this state (optax calls AdaGrad's scaling ``scale_by_rss``).
ScaleByRssState = ScaleByAdagradState


def _adagrad_init(params, *, initial_accumulator_value):
    return ScaleByAdagradState(tree.full_like(params, initial_accumulator_value))


def _adagrad_update(updates, state, params=None, *, eps, eps_in_sqrt):
    del params
    g = tree.widen(updates)
    r = tree.map(lambda g, s: tree.abs_sq(g) + s, g, tree.widen(state.sum_of_squares))
    out = tree.map(lambda g, s: jnp.where(s > 0, _inverse_root(s, eps, eps_in_sqrt), 0) * g, g, r)
    return tree.cast_like(out, updates), ScaleByAdagradState(
        tree.cast_like(r, state.sum_of_squares)
    )


def scale_by_adagrad(
    initial_accumulator_value: Any = 0.1, eps: Any = 1e-7, eps_in_sqrt: bool = True
) -> GradientTransformation:
    """AdaGrad (Duchi, Hazan & Singer 2011): divide by the root of all squared gradients so far.


        r_t = r_{t-1} + g_t**2                  (r_0 = initial_accumulator_value)
        u_t = g_t / sqrt(r_t + eps)             eps_in_sqrt=True  (optax)
        u_t = g_t / (sqrt(r_t) + eps)           eps_in_sqrt=False (PyTorch, seed 000 eq. 3.7)

    Coordinates whose ``r_t`` is still zero get a zero update (no 0/0).
    PyTorch's ``Adagrad(lr, eps=1e-10)`` is ``initial_accumulator_value=0,
    eps=1e-10, eps_in_sqrt=False``; Keras 3's is ``0.1, 1e-7`` (eps inside the root).

    Args:
      initial_accumulator_value: starting value of ``r``, >= 0. Default 0.1.
      eps: ≥ 0. Default 1e-7.
      eps_in_sqrt: where ``eps`` goes. Default True.
    """
    owner = "scale_by_adagrad"
    check_range(owner, "initial_accumulator_value", initial_accumulator_value, "[0, inf)")
    check_range(owner, "eps", eps, "[0, inf)")
    check_flag(owner, "eps_in_sqrt", eps_in_sqrt)
    return GradientTransformation(
        bind(_adagrad_init, initial_accumulator_value=initial_accumulator_value),
        bind(_adagrad_update, eps=eps, eps_in_sqrt=eps_in_sqrt),
    )


# --------------------------------------------------------------------------- RMSProp


class ScaleByRmsState(NamedTuple):
    """RMSProp's moving averages.

    ``nu`` comes first, as the only field of optax's ``ScaleByRmsState``, so
    that ``ScaleByRmsState(nu)`` and ``state[0]`` mean what they mean there.

    Attributes:
      nu: moving average of the squared gradients.
      count: steps taken (int32), kept only with ``bias_correction``; else None.
      mu: moving average of the gradients, kept only if ``centered``; else None.
    """

    nu: Params
    count: jax.Array | None = None
    mu: Params | None = None


# centered and bias_correction are validated bools: they fix the state's structure.
def _rms_init(params, *, initial_scale, centered, bias_correction):
    return ScaleByRmsState(
        count=tree.zero_count() if bias_correction else None,
        mu=tree.zeros_like(params) if centered else None,
        nu=tree.full_like(params, initial_scale),
    )


def _rms_update(updates, state, params=None, *, decay, eps, eps_in_sqrt, centered, bias_correction):
    del params

    def debias(moment, count):
        return tree.bias_correction(moment, decay, count) if bias_correction else moment

    g = tree.widen(updates)
    count = tree.safe_increment(state.count) if bias_correction else None
    nu = tree.update_moment(g, tree.widen(state.nu), decay, 2)
    variance, mu = debias(nu, count), None
    if centered:
        mu = tree.update_moment(g, tree.widen(state.mu), decay, 1)
        variance = tree.map(_centered_variance, debias(mu, count), variance)
        mu = tree.cast_like(mu, state.mu)
    out = tree.map(lambda g, s: _inverse_root(s, eps, eps_in_sqrt) * g, g, variance)
    new_state = ScaleByRmsState(count=count, mu=mu, nu=tree.cast_like(nu, state.nu))
    return tree.cast_like(out, updates), new_state


def scale_by_rms(
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    centered: bool = False,
) -> GradientTransformation:
    """RMSProp scaling (Hinton 2012, lecture 6e): divide by a moving root mean square.


        v_t = decay * v_{t-1} + (1 - decay) * g_t**2           (v_0 = initial_scale)
        m_t = decay * m_{t-1} + (1 - decay) * g_t              (centered only, m_0 = 0)
        s_t = v_t                        or  max(v_t - m_t**2, 0)   if centered (Graves 2013)
        u_t = g_t / sqrt(s_t + eps)      or  g_t / (sqrt(s_t) + eps)   (eps_in_sqrt=False)

    With ``bias_correction`` the averages are divided by ``1 - decay**t`` first.
    The texts write ``decay`` as gamma (seed 001 eq. 11.7), rho or alpha
    (seed 000 eq. 3.8). PyTorch's ``RMSprop(alpha=a, eps=e)`` is
    ``decay=a, eps=e, eps_in_sqrt=False``; Keras 3's is ``decay=rho, eps=1e-7``
    (eps inside the root). The centered variance is clipped at zero so
    that rounding cannot make it negative, and is infinite where ``v`` overflowed
    (optax and PyTorch return NaN in both cases).

    Args:
      decay: in [0, 1). Default 0.9.
      eps: ≥ 0. Default 1e-8.
      initial_scale: starting value of ``v``, >= 0. Default 0.
      eps_in_sqrt: where ``eps`` goes. Default True.
      bias_correction: debias the averages. Default False.
      centered: divide by the moving standard deviation instead (keyword-only,
        after optax's arguments). Default False.
    """
    owner = "scale_by_rms"
    check_range(owner, "decay", decay, "[0, 1)")
    check_range(owner, "eps", eps, "[0, inf)")
    check_range(owner, "initial_scale", initial_scale, "[0, inf)")
    for name, flag in (
        ("eps_in_sqrt", eps_in_sqrt),
        ("centered", centered),
        ("bias_correction", bias_correction),
    ):
        check_flag(owner, name, flag)
    return GradientTransformation(
        bind(
            _rms_init,
            initial_scale=initial_scale,
            centered=centered,
            bias_correction=bias_correction,
        ),
        bind(
            _rms_update,
            decay=decay,
            eps=eps,
            eps_in_sqrt=eps_in_sqrt,
            centered=centered,
            bias_correction=bias_correction,
        ),
    )


# --------------------------------------------------------------------------- AdaDelta


class ScaleByAdadeltaState(NamedTuple):
    """Moving averages of squared gradients ``E[g²]`` and of squared steps ``E[Δx²]``."""

    e_g: Params
    e_x: Params


# optax's name for this state.
ScaleByAdaDeltaState = ScaleByAdadeltaState


def _adadelta_init(params):
    return ScaleByAdadeltaState(e_g=tree.zeros_like(params), e_x=tree.zeros_like(params))


def _adadelta_update(updates, state, params=None, *, rho, eps):
    del params
    g, e_x_before = tree.widen(updates), tree.widen(state.e_x)
    e_g = tree.update_moment(g, tree.widen(state.e_g), rho, 2)
    step = tree.map(
        lambda g, eg, ex: jnp.sqrt(ex + eps) / jnp.sqrt(eg + eps) * g, g, e_g, e_x_before
    )
    e_x = tree.update_moment(step, e_x_before, rho, 2)
    new_state = ScaleByAdadeltaState(
        e_g=tree.cast_like(e_g, state.e_g), e_x=tree.cast_like(e_x, state.e_x)
    )
    return tree.cast_like(step, updates), new_state


def scale_by_adadelta(rho: Any = 0.9, eps: Any = 1e-6) -> GradientTransformation:
    """AdaDelta (Zeiler 2012): a unit-corrected step that needs no learning rate.


        E[g²]_t  = rho * E[g²]_{t-1} + (1 - rho) * g_t**2
        u_t      = sqrt(E[Δx²]_{t-1} + eps) / sqrt(E[g²]_t + eps) * g_t
        E[Δx²]_t = rho * E[Δx²]_{t-1} + (1 - rho) * u_t**2

    (seed 002 §4.4, where rho is written gamma). Chain with
    ``scale_by_learning_rate(1.0)`` for the paper's step ``Δx = -u``.

    Args:
      rho: in [0, 1]. Default 0.9 (the paper and Keras use 0.95). ``rho = 1``
        freezes both averages at zero, so that ``u_t = g_t`` (with ``eps > 0``),
        as in TensorFlow, Keras, PyTorch and optax, which all accept it.
      eps: ≥ 0. Default 1e-6.
    """
    check_range("scale_by_adadelta", "rho", rho, "[0, 1]")
    check_range("scale_by_adadelta", "eps", eps, "[0, inf)")
    return GradientTransformation(bind(_adadelta_init), bind(_adadelta_update, rho=rho, eps=eps))


# --------------------------------------------------------------------------- Adam


class ScaleByAdamState(NamedTuple):
    """Step count, first moment ``m`` and second moment ``v``."""

    count: jax.Array
    mu: Params
    nu: Params


class ScaleByAmsgradState(NamedTuple):
    """Adam's state plus the running maximum of the second moment.

    The maximum is over the debiased ``v̂`` (optax), or over the raw ``v``
    with ``eps_convention="keras"`` (Keras, which debiases afterwards).
    """

    count: jax.Array
    mu: Params
    nu: Params
    nu_max: Params


class ScaleByNadamState(NamedTuple):
    """Adam's state plus ``mu_product``, the product of Dozat's momentum schedule so far."""

    count: jax.Array
    mu: Params
    nu: Params
    mu_product: jax.Array


_EPS_CONVENTIONS = ("optax", "keras")


def _check_eps_convention(owner: str, value: Any) -> None:
    """``"optax"`` or ``"keras"``: an option (it selects code), reported in the alias's words."""
    if not (isinstance(value, str) and value in _EPS_CONVENTIONS):
        owner, name = named(owner, "eps_convention")
        raise ValueError(f"{owner}: {name} must be 'optax' or 'keras', got {value!r}")


def _dozat_mu(b1, count, momentum_decay):
    """Dozat's momentum schedule ``b1 * (1 - 0.5 * 0.96**(t * momentum_decay))`` (float32)."""
    t = jnp.asarray(count, jnp.float32)
    return b1 * (1 - 0.5 * jnp.float32(0.96) ** (t * momentum_decay))


def _adam_moments(updates, state, b1, b2, nesterov, momentum_decay=None):
    """The new count and moments, and the debiased first moment the step divides."""
    g = tree.widen(updates)
    count = tree.safe_increment(state.count)
    mu = tree.update_moment(g, tree.widen(state.mu), b1, 1)
    nu = tree.update_moment(g, tree.widen(state.nu), b2, 2)
    mu_product = None
    if momentum_decay is not None:
        mu_t = _dozat_mu(b1, count, momentum_decay)
        mu_next = _dozat_mu(b1, tree.safe_increment(count), momentum_decay)
        mu_product = state.mu_product * mu_t
        mu_product_next = mu_product * mu_next

        def nesterov_step(m, g):
            c_m = tree.as_dtype(mu_next / (1 - mu_product_next), m.dtype)
            c_g = tree.as_dtype((1 - mu_t) / (1 - mu_product), g.dtype)
            return c_m * m + c_g * g

        mu_hat = jax.tree.map(nesterov_step, mu, g)
    elif nesterov:
        mu_hat = jax.tree.map(
            lambda m, g: tree.scale(b1, m) + tree.scale(1 - b1, g),
            tree.bias_correction(mu, b1, tree.safe_increment(count)),
            tree.bias_correction(g, b1, count),
        )
    else:
        mu_hat = tree.bias_correction(mu, b1, count)
    return count, mu, nu, mu_hat, mu_product


def _second_moment(nu, b2, count, eps_convention):
    """``v̂ = v / (1 - b2**t)`` (optax); Keras divides the step instead, so ``v`` as is."""
    return nu if eps_convention == "keras" else tree.bias_correction(nu, b2, count)


def _adam_step(updates, mu_hat, nu_hat, eps, eps_root, b2, count, eps_convention):
    if eps_convention == "keras":
        # Keras: lr * sqrt(1 - b2**t) * m̂ / (sqrt(v) + eps), eps outside the debiasing.
        root = jnp.sqrt(1 - b2 ** jnp.asarray(count, jnp.float32))
        out = tree.map(
            lambda m, v: tree.as_dtype(root, m.dtype) * m / (jnp.sqrt(v + eps_root) + eps),
            mu_hat,
            nu_hat,
        )
    else:
        out = tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
    return tree.cast_like(out, updates)


def _adam_init(params, *, mu_dtype):
    return ScaleByAdamState(
        count=tree.zero_count(),
        mu=tree.zeros_like(params, dtype=mu_dtype),
        nu=tree.zeros_like(params),
    )


def _adam_update(updates, state, params=None, *, b1, b2, eps, eps_root, nesterov, eps_convention):
    del params
    count, mu, nu, mu_hat, _ = _adam_moments(updates, state, b1, b2, nesterov)
    new_state = ScaleByAdamState(
        count=count, mu=tree.cast_like(mu, state.mu), nu=tree.cast_like(nu, state.nu)
    )
    nu_hat = _second_moment(nu, b2, count, eps_convention)
    step = _adam_step(updates, mu_hat, nu_hat, eps, eps_root, b2, count, eps_convention)
    return step, new_state


def _amsgrad_init(params, *, mu_dtype):
    return ScaleByAmsgradState(
        *_adam_init(params, mu_dtype=mu_dtype), nu_max=tree.zeros_like(params)
    )


def _amsgrad_update(
    updates,
    state,
    params=None,
    *,
    b1,
    b2,
    eps,
    eps_root,
    nesterov,
    eps_convention,
    bias_correction_mu=True,
    bias_correction_nu=True,
):
    # The switches are scale_by_amsgrad's (optax's); scale_by_adam(amsgrad=True) debiases both.
    del params
    count, mu, nu, mu_hat, _ = _adam_moments(updates, state, b1, b2, nesterov)
    mu_hat = mu_hat if bias_correction_mu else mu
    nu_hat = _second_moment(nu, b2, count, eps_convention) if bias_correction_nu else nu
    nu_max = tree.map(jnp.maximum, tree.widen(state.nu_max), nu_hat)
    new_state = ScaleByAmsgradState(
        count=count,
        mu=tree.cast_like(mu, state.mu),
        nu=tree.cast_like(nu, state.nu),
        nu_max=tree.cast_like(nu_max, state.nu_max),
    )
    step = _adam_step(updates, mu_hat, nu_max, eps, eps_root, b2, count, eps_convention)
    return step, new_state


def _nadam_init(params, *, mu_dtype):
    return ScaleByNadamState(
        *_adam_init(params, mu_dtype=mu_dtype), mu_product=jnp.ones([], jnp.float32)
    )


def _nadam_update(
    updates,
    state,
    params=None,
    *,
    b1,
    b2,
    eps,
    eps_root,
    nesterov,
    eps_convention,
    momentum_decay,
):
    del params, nesterov
    count, mu, nu, mu_hat, mu_product = _adam_moments(updates, state, b1, b2, True, momentum_decay)
    new_state = ScaleByNadamState(
        count=count,
        mu=tree.cast_like(mu, state.mu),
        nu=tree.cast_like(nu, state.nu),
        mu_product=mu_product,
    )
    nu_hat = _second_moment(nu, b2, count, eps_convention)
    step = _adam_step(updates, mu_hat, nu_hat, eps, eps_root, b2, count, eps_convention)
    return step, new_state


def scale_by_adam(
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    amsgrad: bool = False,
    eps_convention: str = "optax",
    momentum_decay: float | None = None,
) -> GradientTransformation:
    """Adam (Kingma & Ba 2015): momentum on the gradient, RMS scaling, bias correction.


        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = b2 * v_{t-1} + (1 - b2) * g_t**2
        m̂_t = m_t / (1 - b1**t)
        v̂_t = v_t / (1 - b2**t)
        u_t = m̂_t / (sqrt(v̂_t + eps_root) + eps)                     eps_convention="optax"
        u_t = sqrt(1 - b2**t) * m̂_t / (sqrt(v_t + eps_root) + eps)   eps_convention="keras"

    ``nesterov`` (NAdam, Dozat 2016) uses
    ``m̂_t = b1 * m_t / (1 - b1**(t+1)) + (1 - b1) * g_t / (1 - b1**t)``;
    ``amsgrad`` (Reddi, Kale & Kumar 2018) replaces ``v̂_t`` by its running
    maximum. It is the texts' composition of RMS scaling and momentum
    (seed 000 eq. 3.9, seed 001 eq. 11.10, seed 002 §4.6).

    Keras's Adam family computes ``lr * sqrt(1 - b2**t) / (1 - b1**t)`` first
    and adds ``eps`` to the raw ``sqrt(v_t)``: in optax's terms its ``eps`` is
    ``eps / sqrt(1 - b2**t)``, larger in early steps. ``eps_convention="keras"``
    reproduces it (with ``amsgrad``, the maximum is then over the raw ``v``,
    as in Keras).

    A ``momentum_decay`` ψ (with ``nesterov``) switches to Dozat's momentum
    schedule, as PyTorch's ``NAdam`` (ψ = 0.004) and Keras's ``Nadam`` (ψ = 1):

        mu_t = b1 * (1 - 0.5 * 0.96**(t * ψ)),   P_t = mu_1 * ... * mu_t
        m̂_t = mu_{t+1} * m_t / (1 - P_t * mu_{t+1}) + (1 - mu_t) * g_t / (1 - P_t)

    and the state gains ``mu_product`` (``P_t``, float32).

    Args:
      b1: first-moment decay in [0, 1). Default 0.9.
      b2: second-moment decay in [0, 1). Default 0.999.
      eps: ≥ 0, added outside the root. Default 1e-8.
      eps_root: ≥ 0, added inside the root. Default 0.
      mu_dtype: dtype of ``m``; ``None`` (default) follows the params.
      nesterov: Nesterov momentum (keyword-only, as in optax). Default False.
      amsgrad: keep the maximum second moment (keyword-only). Default False.
      eps_convention: ``"optax"`` (default) or ``"keras"``, where ``eps`` goes
        relative to the bias correction (keyword-only).
      momentum_decay: ``None`` (default, optax's NAdam) or ψ ≥ 0 for Dozat's
        schedule; needs ``nesterov=True`` and no ``amsgrad`` (keyword-only).
    """
    owner = "scale_by_adam"
    check_range(owner, "b1", b1, "[0, 1)")
    check_range(owner, "b2", b2, "[0, 1)")
    check_range(owner, "eps", eps, "[0, inf)")
    check_range(owner, "eps_root", eps_root, "[0, inf)")
    check_flag(owner, "amsgrad", amsgrad)
    check_flag(owner, "nesterov", nesterov)
    _check_eps_convention(owner, eps_convention)
    if momentum_decay is not None:
        check_range(owner, "momentum_decay", momentum_decay, "[0, inf)")
        if not nesterov or amsgrad:
            raise ValueError(
                f"{owner}: momentum_decay (Dozat's NAdam schedule) needs nesterov=True "
                "and amsgrad=False"
            )
        init, update = _nadam_init, _nadam_update
        dozat = {"momentum_decay": momentum_decay}
    else:
        # amsgrad is a validated bool: it fixes the state's type.
        init, update = (_amsgrad_init, _amsgrad_update) if amsgrad else (_adam_init, _adam_update)
        dozat = {}
    return GradientTransformation(
        bind(init, mu_dtype=mu_dtype),
        bind(
            update,
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            nesterov=nesterov,
            eps_convention=eps_convention,
            **dozat,
        ),
    )


def _adamax_init(params):
    return ScaleByAdamState(
        count=tree.zero_count(), mu=tree.zeros_like(params), nu=tree.zeros_like(params)
    )


def _adamax_update(updates, state, params=None, *, b1, b2, eps, eps_convention="optax"):
    del params
    g = tree.widen(updates)
    count = tree.safe_increment(state.count)
    mu = tree.update_moment(g, tree.widen(state.mu), b1, 1)
    keras = eps_convention == "keras"
    nu = tree.map(
        lambda g, v: jnp.maximum(jnp.abs(g) + (0 if keras else eps), tree.scale(b2, v)),
        g,
        tree.widen(state.nu),
    )
    denominator = tree.map(lambda v: v + eps, nu) if keras else nu
    out = tree.map(lambda m, v: m / v, tree.bias_correction(mu, b1, count), denominator)
    new_state = ScaleByAdamState(
        count=count, mu=tree.cast_like(mu, state.mu), nu=tree.cast_like(nu, state.nu)
    )
    return tree.cast_like(out, updates), new_state


def scale_by_adamax(
    b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *, eps_convention: str = "optax"
) -> GradientTransformation:
    """AdaMax (Kingma & Ba 2015, §7.1): Adam with the infinity norm in place of the RMS.


        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = max(b2 * v_{t-1}, |g_t| + eps)     u_t = m_t / (1 - b1**t) / v_t          "optax"
        v_t = max(b2 * v_{t-1}, |g_t|)           u_t = m_t / (1 - b1**t) / (v_t + eps)  "keras"

    optax and PyTorch put ``eps`` inside the maximum; Keras adds it after.

    Args:
      b1: in [0, 1). Default 0.9.
      b2: in [0, 1). Default 0.999.
      eps: positive keeps ``v_t`` positive. Default 1e-8.
      eps_convention: ``"optax"`` (default) or ``"keras"`` (keyword-only).
    """
    check_range("scale_by_adamax", "b1", b1, "[0, 1)")
    check_range("scale_by_adamax", "b2", b2, "[0, 1)")
    check_range("scale_by_adamax", "eps", eps, "[0, inf)")
    _check_eps_convention("scale_by_adamax", eps_convention)
    return GradientTransformation(
        bind(_adamax_init),
        bind(_adamax_update, b1=b1, b2=b2, eps=eps, eps_convention=eps_convention),
    )
