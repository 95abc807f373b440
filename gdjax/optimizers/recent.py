"""The methods of the 2020s, each matching optax.contrib 0.2.8's numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gdjax._validation import arguments_of, check_flag, check_range
from gdjax.base import GradientTransformation, ScalarOrSchedule, chain, identity
from gdjax.bound import Static, bind
from gdjax.optimizers.base import Mask, alias
from gdjax.schedules import linear
from gdjax.transforms.adaptive import scale_by_adam, scale_by_rms
from gdjax.transforms.ademamix import scale_by_ademamix, scale_by_simplified_ademamix
from gdjax.transforms.adopt import quarter_power, scale_by_adopt
from gdjax.transforms.muon import (
    DEFAULT_NS_COEFFS,
    NS_COEFFS_PRESETS,
    WeightDimNumOrFn,
    _is_dim_nums,
    scale_by_muon,
    scale_by_shape,
)
from gdjax.transforms.prodigy import ProdigyHyperparams, _prodigy_init, _prodigy_update
from gdjax.transforms.scaling import scale_by_learning_rate
from gdjax.transforms.schedule_free import schedule_free
from gdjax.transforms.weight_decay import add_decayed_weights
from gdjax.transforms.wrappers import partition

# --------------------------------------------------------------------------- ADOPT


def adopt(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.9999,
    eps: ArrayLike = 1e-6,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = quarter_power,
) -> GradientTransformation:
    """ADOPT (Taniguchi et al., NeurIPS 2024): Adam normalised by the previous second moment.


        n = clip(g / max(sqrt(v), eps), -c(t), c(t));   v = b2 * v + (1 - b2) * g**2
        m = b1 * m + (1 - b1) * n;   x = x - lr * m

    The first step only sets ``v = g**2`` (no move). Converges for any ``b2``
    where Adam needs ``b2`` tuned to the problem. See `scale_by_adopt`.

    Args:
      learning_rate: the rate (the paper uses Adam's, 0.001).
      b1: in [0, 1]. Default 0.9.
      b2: in [0, 1]. Default 0.9999.
      eps: ≥ 0. Default 1e-6.
      mu_dtype: dtype of the momentum; ``None`` follows the params.
      nesterov: Nesterov momentum (keyword-only). Default False.
      use_clipping: clip the normalised gradient at ``c(t)`` (keyword-only). Default True.
      clip_value_fn: ``c``, a function of the step count (keyword-only); default
        ``t**0.25`` (`gdjax.transforms.adopt.quarter_power`).
    """
    with arguments_of("adopt"):
        return alias(
            "adopt",
            scale_by_adopt(
                b1,
                b2,
                eps,
                mu_dtype,
                nesterov=nesterov,
                use_clipping=use_clipping,
                clip_value_fn=clip_value_fn,
            ),
            scale_by_learning_rate(learning_rate),
        )


# --------------------------------------------------------------------------- AdEMAMix


def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ArrayLike = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    """AdEMAMix (Pagliardini, Ablin & Grangier 2024): AdamW plus a slow momentum.


        m1 = b1 * m1 + (1 - b1) * g;   m2 = b3 * m2 + (1 - b3) * g;   v = b2 * v + (1 - b2) * g**2
        x = x - lr * ((m1 / (1 - b1**t) + alpha * m2) / (sqrt(v / (1 - b2**t) + eps_root) + eps)
                      + wd * x)

    ``b3`` and ``alpha`` may be schedules (the paper warms both up). Meant for
    long runs: with ``b3 = 0.9999`` the slow average spans about 10,000 steps
    (the paper suggests ``b3 = 0.999`` for short ones). See `scale_by_ademamix`.

    Args:
      learning_rate: the rate.
      b1: fast decay in [0, 1). Default 0.9.
      b2: second-moment decay in [0, 1). Default 0.999.
      b3: slow decay in [0, 1], or a schedule. Default 0.9999.
      alpha: weight of the slow average, ≥ 0, or a schedule. Default 5.0.
      eps: ≥ 0. Default 1e-8.
      eps_root: ≥ 0. Default 0.
      mu_dtype: dtype of the three averages; ``None`` follows the params.
      weight_decay: decoupled weight decay, ≥ 0 (multiplied by the rate). Default 0.
      mask: where weight decay applies (see `add_decayed_weights`).
    """
    with arguments_of("ademamix"):
        return alias(
            "ademamix",
            scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
            add_decayed_weights(weight_decay, mask),
            scale_by_learning_rate(learning_rate),
        )


def simplified_ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.99,
    b2: ArrayLike = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    """Simplified AdEMAMix (Morwani et al. 2025): one undamped momentum plus ``alpha * g``.


        m = b1 * m + g;   v = b2 * v + (1 - b2) * g**2
        x = x - lr * ((m + alpha * g) / (sqrt(v / (1 - b2**t) + eps_root) + eps) + wd * x)

    ``m`` sums rather than averages, so useful rates are about ``1 - b1`` times
    Adam's. ``alpha`` may be a schedule. See `scale_by_simplified_ademamix`.

    Args:
      learning_rate: the rate.
      b1: momentum decay in [0, 1). Default 0.99.
      b2: second-moment decay in [0, 1). Default 0.95.
      alpha: weight of the current gradient, ≥ 0, or a schedule. Default 0.
      eps: ≥ 0. Default 1e-8.
      eps_root: ≥ 0. Default 0.
      weight_decay: decoupled weight decay, ≥ 0 (multiplied by the rate). Default 0.
      mask: where weight decay applies (see `add_decayed_weights`).
    """
    with arguments_of("simplified_ademamix"):
        return alias(
            "simplified_ademamix",
            scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root),
            add_decayed_weights(weight_decay, mask),
            scale_by_learning_rate(learning_rate),
        )


# --------------------------------------------------------------------------- Prodigy


def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    beta3: ArrayLike | None = None,
    eps: ArrayLike = 1e-8,
    estim_lr0: ArrayLike = 1e-6,
    estim_lr_coef: ArrayLike = 1.0,
    weight_decay: ArrayLike = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    """Prodigy (Mishchenko & Defazio 2023): AdamW with a learned step size ``d``.


        lr_t = lr(t) * d * sqrt(1 - beta2**t) / (1 - beta1**t)
        m = beta1 * m + (1 - beta1) * d * g;    v = beta2 * v + (1 - beta2) * (d * g)**2
        s = beta3 * s + lr_t * d * g / d_0      (d * d * g / d_0 with safeguard_warmup)
        r = beta3 * r + (d / d_0) * lr_t * <g, x_0 - x>
        d = max(d, estim_lr_coef * r / sum|s|)
        x = x - lr_t * (m / (sqrt(v) + d * eps) + wd * x)

    ``d`` (``estim_lr``) starts at ``d_0 = estim_lr0`` and only grows, towards
    the distance from ``x_0`` to the solution; ``lr`` is then a dimensionless
    multiplier, 1.0 or a schedule that treats 1.0 as its peak (the authors
    suggest a linear or cosine decay with a short warm-up). ``beta3`` defaults
    to ``sqrt(beta2)``. The learning rate enters the estimate of ``d``, so it
    cannot be a final `scale_by_learning_rate`: the whole step is one
    transformation, as in optax, and the rate is a scalar or a schedule (not
    a per-parameter pytree). While every gradient so far has been zero, ``d``
    keeps its value (optax's estimate is 0/0 there, and ``d`` becomes NaN).

    Args:
      learning_rate: multiplier of the learned step, ≥ 0, or a schedule. Default 1.0.
      betas: ``(beta1, beta2)``, AdamW's decays, each in [0, 1). Default (0.9, 0.999).
      beta3: decay of ``s`` and ``r`` in [0, 1], or ``None`` (default) for ``sqrt(beta2)``.
      eps: ≥ 0, multiplied by ``d`` in the denominator. Default 1e-8.
      estim_lr0: the first, under-estimate ``d_0`` of ``d``, > 0. Default 1e-6.
      estim_lr_coef: multiplies each new estimate of ``d`` (the paper's and
        PyTorch's ``d_coef``), > 0. Default 1.0.
      weight_decay: AdamW's decoupled weight decay, ≥ 0 (multiplied by ``lr_t``). Default 0.
      safeguard_warmup: leave the rate out of ``s`` (for warm-up schedules that
        start at a tiny rate). Default False.
    """
    owner = "prodigy"
    check_range(owner, "learning_rate", learning_rate, "[0, inf)")
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
    check_range(owner, "betas[0]", betas[0], "[0, 1)")
    check_range(owner, "betas[1]", betas[1], "[0, 1)")
    if beta3 is not None:
        check_range(owner, "beta3", beta3, "[0, 1]")
    check_range(owner, "eps", eps, "[0, inf)")
    check_range(owner, "estim_lr0", estim_lr0, "(0, inf)")
    check_range(owner, "estim_lr_coef", estim_lr_coef, "(0, inf)")
    check_range(owner, "weight_decay", weight_decay, "[0, inf)")
    check_flag(owner, "safeguard_warmup", safeguard_warmup)
    step = GradientTransformation(
        bind(_prodigy_init, estim_lr0=estim_lr0),
        bind(
            _prodigy_update,
            hyper=ProdigyHyperparams(
                learning_rate=learning_rate,
                betas=tuple(betas),
                beta3=beta3,
                eps=eps,
                estim_lr0=estim_lr0,
                estim_lr_coef=estim_lr_coef,
                weight_decay=weight_decay,
                safeguard_warmup=safeguard_warmup,
            ),
        ),
    )
    return alias("prodigy", step)


# --------------------------------------------------------------------------- Muon


def _muon_labels(params, *, weight_dimension_numbers):
    """``"muon"`` for the leaves Muon updates, ``"adam"`` for the others."""
    spec = weight_dimension_numbers
    if spec is None:
        return jax.tree.map(lambda x: "muon" if jnp.ndim(x) == 2 else "adam", params)
    if callable(spec) and not _is_dim_nums(spec):
        spec = spec(params)

    def label(dim_nums, subtree):
        return jax.tree.map(lambda _: "adam" if dim_nums is None else "muon", subtree)

    is_leaf = lambda x: x is None or _is_dim_nums(x)  # noqa: E731
    return jax.tree.map(label, spec, params, is_leaf=is_leaf)


def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: Any = DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: ArrayLike = 0.95,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    weight_decay_mask: Mask = None,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: ArrayLike = 0.9,
    adam_b2: ArrayLike = 0.999,
    adam_eps_root: ArrayLike = 0.0,
    adam_weight_decay: ArrayLike = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: WeightDimNumOrFn | None = None,
    consistent_rms: ArrayLike | None = None,
) -> GradientTransformation:
    """Muon (Jordan 2024): orthogonalised momentum for the matrices, AdamW for the rest.


        matrices:  x = x - lr * (s * NS(M) + wd * x)       (M: debiased Nesterov momentum)
        others:    x = x - adam_lr * (adam_direction + adam_wd * x)

    ``NS(M)`` is `scale_by_muon`'s orthogonalised momentum and
    ``s = sqrt(max(1, fan_out / fan_in))`` (or ``sqrt(max(fan_in, fan_out)) *
    consistent_rms``, Liu et al. 2025; see `scale_by_shape`). By default every
    2-D leaf is a Muon matrix and every other leaf (biases, scalars) goes to
    AdamW with ``adam_b1``, ``adam_b2``, this ``eps``, ``mu_dtype`` and
    ``nesterov``, as in optax.contrib. The rate usually differs from Adam's
    (0.02 in Jordan's runs).

    Args:
      learning_rate: the rate for the matrices.
      ns_coeffs: the Newton–Schulz quintic ``(c0, c1, c2)``, rows of them, or a
        preset name, "standard" or "dion". Default Jordan's.
      ns_steps: Newton–Schulz steps, >= 1 (static). Default 5.
      beta: Muon's momentum in [0, 1). Default 0.95.
      eps: ≥ 0, for Muon's normalisation and Adam's denominator. Default 1e-8.
      weight_decay: decoupled weight decay of the matrices, ≥ 0 (times the rate). Default 0.
      weight_decay_mask: where it applies (see `add_decayed_weights`).
      mu_dtype: dtype of both first moments; None follows the params.
      nesterov: Nesterov momentum, for Muon and Adam. Default True.
      adaptive: scale Muon's step by the dual norm (see `scale_by_muon`). Default False.
      preconditioning: "frobenius" (default), "spectral", "aol" or "schatten".
      adam_b1: Adam's first decay in [0, 1). Default 0.9.
      adam_b2: Adam's second decay in [0, 1). Default 0.999.
      adam_eps_root: ≥ 0. Default 0.
      adam_weight_decay: AdamW's decoupled weight decay, ≥ 0. Default 0.
      adam_learning_rate: Adam's rate; None (default) is ``learning_rate``.
      muon_weight_dimension_numbers: which leaves are Muon's and their matrix
        axes: a tree of `MuonDimensionNumbers` (None for an Adam leaf), or a
        function of the params returning one. None (default): the 2-D leaves.
      consistent_rms: None (default) or the update RMS wanted, ≥ 0 (0.2 is AdamW's).
    """
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in NS_COEFFS_PRESETS:
            raise ValueError(
                f"muon: ns_coeffs must be coefficients or one of {sorted(NS_COEFFS_PRESETS)}, "
                f"got {ns_coeffs!r}"
            )
        ns_coeffs = NS_COEFFS_PRESETS[ns_coeffs]
    spec = muon_weight_dimension_numbers
    with arguments_of("muon", weight_dimension_numbers="muon_weight_dimension_numbers"):
        orthogonal = chain(
            scale_by_muon(
                ns_coeffs,
                ns_steps,
                beta,
                eps,
                mu_dtype,
                nesterov=nesterov,
                adaptive=adaptive,
                preconditioning=preconditioning,
                weight_dimension_numbers=spec,
            ),
            scale_by_shape(spec, consistent_rms),
            add_decayed_weights(weight_decay, weight_decay_mask),
            scale_by_learning_rate(learning_rate),
        )
    adam_names = {
        "b1": "adam_b1",
        "b2": "adam_b2",
        "eps_root": "adam_eps_root",
        "weight_decay": "adam_weight_decay",
    }
    if adam_learning_rate is not None:
        adam_names["learning_rate"] = "adam_learning_rate"
    with arguments_of("muon", **adam_names):
        adam = chain(
            scale_by_adam(adam_b1, adam_b2, eps, adam_eps_root, mu_dtype, nesterov=nesterov),
            add_decayed_weights(adam_weight_decay),
            scale_by_learning_rate(
                learning_rate if adam_learning_rate is None else adam_learning_rate
            ),
        )
    labels = bind(_muon_labels, weight_dimension_numbers=Static(spec))
    return alias("muon", partition({"muon": orthogonal, "adam": adam}, labels))


# --------------------------------------------------------------------------- Schedule-Free


def _check_warmup(owner: str, learning_rate: Any, warmup_steps: Any) -> None:
    """A warmup ramps a number up: it cannot ramp a schedule (optax's fails at the first step)."""
    if warmup_steps is not None and callable(learning_rate):
        raise ValueError(
            f"{owner}: learning_rate must be a number when warmup_steps is given (put the "
            f"warmup in the schedule instead), got {learning_rate!r}"
        )


def schedule_free_sgd(
    learning_rate: ArrayLike = 1.0,
    warmup_steps: int | None = None,
    b1: ArrayLike = 0.9,
    weight_decay: ArrayLike | None = None,
    weight_lr_power: ArrayLike = 2.0,
    state_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    """Schedule-Free SGD (Defazio et al. 2024): `schedule_free` around plain gradient descent.


        z = z - lr_t * (g(y) + wd * y)
        x = (1 - c) x + c z;   y = b1 x + (1 - b1) z          (c: see `schedule_free`)

    with ``lr_t`` rising linearly from 0 to ``learning_rate`` over ``warmup_steps``
    (read at the step count, which starts at 0 for ``z`` and at 1 for the
    averaging weights, as in optax). Evaluate at
    `gdjax.transforms.schedule_free.schedule_free_eval_params`.

    Args:
      learning_rate: ≥ 0 (or a schedule, without warmup_steps). Default 1.0.
      warmup_steps: the warmup's length, an integer >= 1, or None (default): none.
      b1: the interpolation ``beta`` in (0, 1]. Default 0.9.
      weight_decay: L2 weight decay added to the gradient, ≥ 0, or None (default).
      weight_lr_power: power of the rate in the averaging weights, ≥ 0. Default 2.
      state_dtype: dtype of ``z``; None follows the params.
    """
    _check_warmup("schedule_free_sgd", learning_rate, warmup_steps)
    with arguments_of("schedule_free_sgd", transition_steps="warmup_steps"):
        rate = learning_rate if warmup_steps is None else linear(0.0, learning_rate, warmup_steps)
        descent = chain(identity(), scale_by_learning_rate(rate))
        if weight_decay is not None:
            descent = chain(add_decayed_weights(weight_decay), descent)
        wrapped = schedule_free(descent, rate, b1, weight_lr_power, state_dtype)
    return alias("schedule_free_sgd", wrapped)


def schedule_free_adamw(
    learning_rate: ArrayLike = 0.0025,
    warmup_steps: int | None = None,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    weight_lr_power: ArrayLike = 2.0,
    state_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    """Schedule-Free AdamW (Defazio et al. 2024): `schedule_free` around AdamW without momentum.


        v = b2 * v + (1 - b2) * g(y)**2
        z = z - lr_t * (g(y) / (sqrt(v / (1 - b2**t)) + eps) + wd * y)
        x = (1 - c) x + c z;   y = b1 x + (1 - b1) z          (c: see `schedule_free`)

    ``lr_t`` warms up as in `schedule_free_sgd`. Adam's momentum is replaced by
    the interpolation, so ``b1`` is Schedule-Free's. Evaluate at
    `gdjax.transforms.schedule_free.schedule_free_eval_params`.

    Args:
      learning_rate: ≥ 0 (or a schedule, without warmup_steps). Default 0.0025.
      warmup_steps: the warmup's length, an integer >= 1, or None (default): none.
      b1: the interpolation ``beta`` in (0, 1]. Default 0.9.
      b2: second-moment decay in [0, 1). Default 0.999.
      eps: ≥ 0, added outside the root. Default 1e-8.
      weight_decay: decoupled weight decay, ≥ 0 (times the rate). Default 0.
      weight_lr_power: power of the rate in the averaging weights, ≥ 0. Default 2.
      state_dtype: dtype of ``z``; None follows the params.
    """
    _check_warmup("schedule_free_adamw", learning_rate, warmup_steps)
    with arguments_of("schedule_free_adamw", transition_steps="warmup_steps", decay="b2"):
        rate = learning_rate if warmup_steps is None else linear(0.0, learning_rate, warmup_steps)
        direction = chain(
            scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True),
            add_decayed_weights(weight_decay),
            scale_by_learning_rate(rate),
        )
        wrapped = schedule_free(direction, rate, b1, weight_lr_power, state_dtype)
    return alias("schedule_free_adamw", wrapped)
