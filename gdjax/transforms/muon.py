"""Muon: momentum whose matrices are orthogonalised by a Newton–Schulz iteration.

A matrix update ``G = U S V^T`` is replaced by (approximately) ``U V^T``: every
singular value is pushed toward 1, so the step is steepest descent under the
spectral norm (Bernstein & Newhouse 2024). The orthogonalisation is a few
steps of an odd matrix polynomial (`orthogonalize_via_newton_schulz`), cheap
next to an SVD. Only matrices can be orthogonalised: `gdjax.optimizers.recent.muon`
sends the other leaves to Adam.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from gdjax import tree
from gdjax._validation import check_flag, check_range, check_static_int, named
from gdjax.base import EMPTY_INIT, GradientTransformation, Params
from gdjax.bound import Static, bind

DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)
"""Jordan's quintic ``(a, b, c)``: ``f(X) = a X + b (X X^T) X + c (X X^T)^2 X``, chosen
for the largest slope at 0; it takes singular values to about [0.7, 1.2], not to 1."""

DION_NS_COEFFS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
"""Five quintics, one per step, from Dion (Ahn et al. 2025)."""

NS_COEFFS_PRESETS = {"standard": DEFAULT_NS_COEFFS, "dion": DION_NS_COEFFS}
"""The coefficients `gdjax.optimizers.recent.muon` takes by name, as optax."""

PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
"""How the matrix is scaled before the iteration (see `orthogonalize_via_newton_schulz`)."""

# The first-step rescalings (AOL, Schatten) floor their norm at this value; optax
# 0.2.8 uses it there whatever ``eps`` is given.
_FIRST_STEP_EPS = 1e-8


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a weight form the matrix that is orthogonalised.

    The weight acts as ``x W = y``: ``reduction_axis`` are contracted with the
    input (fan-in), ``output_axis`` make the output (fan-out). Each is an int or
    a sequence of ints (several axes are flattened into one). Every other axis
    is a batch axis: each slice along it is orthogonalised on its own. The
    default is a plain matrix, rows in and columns out.
    """

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


WeightDimNumOrFn = MuonDimensionNumbers | Params | Callable[[Params], Any]
"""A `MuonDimensionNumbers`, a tree of them shaped like the params (None where a
leaf is not a matrix for Muon), or a function ``params -> such a tree``."""


def _is_dim_nums(x: Any) -> bool:
    """A `MuonDimensionNumbers`, gdjax's or optax's (any NamedTuple with its fields)."""
    return isinstance(x, tuple) and getattr(x, "_fields", None) == MuonDimensionNumbers._fields


# --------------------------------------------------------------------------- Newton–Schulz


def _axes(x: jax.Array, dim_nums: MuonDimensionNumbers) -> tuple[tuple, tuple]:
    def normal(axes):
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        return tuple(a % x.ndim for a in axes)

    return normal(dim_nums.reduction_axis), normal(dim_nums.output_axis)


def _fans(x: jax.Array, dim_nums: MuonDimensionNumbers) -> tuple[int, int]:
    """``(fan_in, fan_out)``: the sizes of the reduction and of the output axes."""
    reduction, output = _axes(x, dim_nums)
    return math.prod(x.shape[a] for a in reduction), math.prod(x.shape[a] for a in output)


def _as_batch_of_matrices(x: jax.Array, dim_nums: MuonDimensionNumbers):
    """``x`` as ``(batch, fan_in, fan_out)`` and the function that undoes it."""
    if x.ndim < 2:
        raise ValueError(f"scale_by_muon: Muon needs matrices (rank >= 2), got shape {x.shape}")
    reduction, output = _axes(x, dim_nums)
    if set(reduction) & set(output):
        raise ValueError(
            f"scale_by_muon: reduction and output axes must differ, got {reduction} and "
            f"{output} for shape {x.shape}"
        )
    batch = tuple(a for a in range(x.ndim) if a not in reduction and a not in output)
    order = batch + reduction + output
    moved_shape = tuple(x.shape[a] for a in order)
    sizes = [math.prod(x.shape[a] for a in group) for group in (batch, reduction, output)]
    back = tuple(int(i) for i in np.argsort(order))

    def undo(y):
        return y.reshape(moved_shape).transpose(back)

    return x.transpose(order).reshape(sizes), undo


def _quintic(x: jax.Array, a: jax.Array, coeffs: jax.Array) -> jax.Array:
    """One step ``c0 X + (c1 A + c2 A^2) X`` with ``A = X X^H`` given."""
    return coeffs[0] * x + (coeffs[1] * a + coeffs[2] * a @ a) @ x


def _ns_step(x: jax.Array, coeffs: jax.Array) -> jax.Array:
    return _quintic(x, x @ x.T.conj(), coeffs)


def _aol_first_step(x: jax.Array, coeffs: jax.Array) -> jax.Array:
    """First step with AOL scaling (Boissin et al. 2025): row ``i`` of ``X`` divided by
    ``sqrt(sum_j |A_ij|)``, which bounds the spectral norm by 1."""
    a = x @ x.T.conj()
    s = jax.lax.rsqrt(jnp.maximum(jnp.abs(a).sum(axis=-1), _FIRST_STEP_EPS))[:, None]
    return _quintic(x * s, a * s * s.T, coeffs)


def _schatten_first_step(x: jax.Array, coeffs: jax.Array) -> jax.Array:
    """First step with ``X`` divided by its Schatten-4 norm ``||X X^T||_F^(1/2)``
    (Grishina et al. 2025)."""
    a = x @ x.T
    s = jax.lax.rsqrt(jnp.maximum(jnp.linalg.norm(a, ord="fro"), _FIRST_STEP_EPS))
    return _quintic(x * s, a * s**2, coeffs)


_FIRST_STEPS = {"aol": _aol_first_step, "schatten": _schatten_first_step}


def _orthogonalize_matrix(x, coeffs, ns_steps, preconditioning, eps):
    # f(X^T) = f(X)^T: iterate on the wide side, where X X^T is the smaller product.
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    if preconditioning == "frobenius":
        x = x / (jnp.linalg.norm(x, ord="fro") + eps)
    elif preconditioning == "spectral":
        x = x / (jnp.linalg.norm(x, ord=2) + eps)
    coeffs = coeffs.astype(x.dtype)
    rows = [coeffs] * ns_steps if coeffs.ndim == 1 else list(coeffs)
    for i, c in enumerate(rows):
        x = _FIRST_STEPS.get(preconditioning, _ns_step)(x, c) if i == 0 else _ns_step(x, c)
    return x.T if tall else x


def orthogonalize_via_newton_schulz(
    x: jax.Array,
    ns_coeffs: ArrayLike,
    ns_steps: int = 5,
    preconditioning: str = "frobenius",
    eps: ArrayLike = 1e-8,
    dimension_numbers: MuonDimensionNumbers | None = None,
) -> jax.Array:
    """Pushes the singular values of a matrix toward 1 by a Newton–Schulz iteration.


        X_0 = G / (||G||_F + eps)                     (preconditioning="frobenius")
        A_k = X_k X_k^H
        X_{k+1} = c0 X_k + (c1 A_k + c2 A_k^2) X_k    (k = 0 .. ns_steps - 1)

    For ``G = U S V^T`` each step maps every singular value ``s`` to
    ``p(s) = c0 s + c1 s^3 + c2 s^5`` and keeps ``U`` and ``V``; with Jordan's
    coefficients five steps take ``s`` in (0, 1] to about [0.7, 1.2]
    (Jordan 2024). Wide or tall, the iteration runs on the side where ``X X^H``
    is smaller. ``"spectral"`` divides by ``||G||_2 + eps`` instead;
    ``"aol"`` (Boissin et al. 2025) and ``"schatten"`` (Grishina et al. 2025)
    do no division first but rescale inside the first step.

    Args:
      x: a matrix, or any array with ``dimension_numbers`` saying which axes are
        the matrix (the others are batch axes, each slice orthogonalised alone).
      ns_coeffs: ``(c0, c1, c2)``, or ``n`` rows of them, one per step (then
        ``ns_steps`` is ignored).
      ns_steps: the number of steps (static). Default 5.
      preconditioning: "frobenius" (default), "spectral", "aol" or "schatten".
      eps: added to the norm divided by. Default 1e-8.
      dimension_numbers: see `MuonDimensionNumbers`; None for a plain matrix.
    """
    if dimension_numbers is None:
        if x.ndim != 2:
            raise ValueError(
                "orthogonalize_via_newton_schulz: x must be a matrix or dimension_numbers "
                f"given, got shape {x.shape}"
            )
        dimension_numbers = MuonDimensionNumbers()
    coeffs = jnp.asarray(ns_coeffs)
    if coeffs.ndim not in (1, 2) or coeffs.shape[-1] != 3:
        raise ValueError(
            "orthogonalize_via_newton_schulz: ns_coeffs must have shape (3,) or (n, 3), "
            f"got {coeffs.shape}"
        )
    if preconditioning not in PRECONDITIONINGS:
        raise ValueError(
            f"orthogonalize_via_newton_schulz: preconditioning must be one of "
            f"{PRECONDITIONINGS}, got {preconditioning!r}"
        )
    matrices, undo = _as_batch_of_matrices(x, dimension_numbers)
    one = lambda m: _orthogonalize_matrix(m, coeffs, ns_steps, preconditioning, eps)  # noqa: E731
    return undo(jax.vmap(one)(matrices))


# --------------------------------------------------------------------------- scale_by_muon


class MuonState(NamedTuple):
    """Muon's state.

    Attributes:
      count: steps taken (int32).
      mu: the moving average of the gradients.
      ns_coeffs: the Newton–Schulz coefficients used, ``(3,)`` or ``(n, 3)``.
    """

    count: jax.Array
    mu: Params
    ns_coeffs: jax.Array


def _resolve_dim_nums(weight_dimension_numbers: Any, updates: Params) -> Params:
    """One `MuonDimensionNumbers` per leaf of ``updates`` (None: every leaf a plain matrix)."""
    spec = weight_dimension_numbers
    if callable(spec) and not _is_dim_nums(spec):
        spec = spec(updates)
    if spec is None:
        spec = MuonDimensionNumbers()

    def spread(dim_nums, subtree):
        if dim_nums is None and jax.tree.leaves(subtree):
            raise ValueError(
                "scale_by_muon: weight_dimension_numbers is None for a parameter it "
                "updates; leave such parameters out (gdjax.partition, gdjax.masked)"
            )
        return jax.tree.map(lambda _: dim_nums, subtree)

    is_leaf = lambda x: x is None or _is_dim_nums(x)  # noqa: E731
    spread_tree = jax.tree.map(spread, spec, updates, is_leaf=is_leaf)
    return jax.tree.leaves(spread_tree, is_leaf=_is_dim_nums)


def _coeffs_rows(ns_coeffs: Any, ns_steps: int) -> jax.Array:
    coeffs = jnp.asarray(ns_coeffs)
    # Rows beyond ns_steps would not be used; optax refuses them (and so does the check).
    return coeffs if coeffs.ndim == 1 else coeffs[-ns_steps:]


def _muon_init(params, *, ns_coeffs, ns_steps, mu_dtype):
    return MuonState(
        count=tree.zero_count(),
        mu=tree.zeros_like(params, dtype=mu_dtype),
        ns_coeffs=_coeffs_rows(ns_coeffs, ns_steps),
    )


def _muon_update(
    updates,
    state,
    params=None,
    *,
    ns_steps,
    beta,
    eps,
    nesterov,
    adaptive,
    preconditioning,
    weight_dimension_numbers,
):
    del params
    g = tree.widen(updates)
    mu = tree.update_moment(g, tree.widen(state.mu), beta, 1)
    count = tree.safe_increment(state.count)
    if nesterov:
        ahead = tree.bias_correction(mu, beta, tree.safe_increment(count))
        now = tree.bias_correction(g, beta, count)
        mu_hat = tree.map(lambda m, x: tree.scale(beta, m) + tree.scale(1 - beta, x), ahead, now)
    else:
        mu_hat = tree.bias_correction(mu, beta, count)
    leaves, treedef = jax.tree.flatten(mu_hat)
    dim_nums = _resolve_dim_nums(weight_dimension_numbers, updates)
    out = [
        orthogonalize_via_newton_schulz(x, state.ns_coeffs, ns_steps, preconditioning, eps, d)
        for x, d in zip(leaves, dim_nums, strict=True)
    ]
    if adaptive:
        # Bernstein & Newhouse 2024: scale by the dual norm <M, O> of the momentum.
        out = [jnp.sum(m.conj() * o) * o for m, o in zip(leaves, out, strict=True)]
    out = jax.tree.unflatten(treedef, out)
    new_state = MuonState(count=count, mu=tree.cast_like(mu, state.mu), ns_coeffs=state.ns_coeffs)
    return tree.cast_like(out, updates), new_state


def _check_coeffs(owner: str, ns_coeffs: Any, ns_steps: int) -> None:
    try:
        shape = jnp.shape(jnp.asarray(ns_coeffs))
    except (TypeError, ValueError):
        shape = None
    if shape is None or len(shape) not in (1, 2) or shape[-1] != 3:
        owner, name = named(owner, "ns_coeffs")
        raise ValueError(f"{owner}: {name} must have shape (3,) or (n, 3), got {ns_coeffs!r}")
    if len(shape) == 2 and shape[0] > ns_steps:
        owner, name = named(owner, "ns_coeffs")
        raise ValueError(
            f"{owner}: {name} has {shape[0]} rows, more than ns_steps={ns_steps}, got {ns_coeffs!r}"
        )


def _check_preconditioning(owner: str, preconditioning: Any) -> None:
    if preconditioning not in PRECONDITIONINGS:
        owner, name = named(owner, "preconditioning")
        raise ValueError(
            f"{owner}: {name} must be one of {PRECONDITIONINGS}, got {preconditioning!r}"
        )


def scale_by_muon(
    ns_coeffs: Any = DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: ArrayLike = 0.95,
    eps: ArrayLike = 1e-8,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: WeightDimNumOrFn | None = None,
) -> GradientTransformation:
    """Muon (Jordan 2024): debiased momentum, each matrix orthogonalised.


        m_t = beta * m_{t-1} + (1 - beta) * g_t                 (m_0 = 0)
        M_t = m_t / (1 - beta**t)                              nesterov=False
        M_t = beta * m_t / (1 - beta**(t+1)) + (1 - beta) * g_t / (1 - beta**t)   nesterov
        u_t = NS(M_t)                                           (`orthogonalize_via_newton_schulz`)
        u_t = <M_t, NS(M_t)> * NS(M_t)                          adaptive

    ``NS(M) ≈ U V^T`` for ``M = U S V^T``: steepest descent under the spectral
    norm (Bernstein & Newhouse 2024, "Old optimizer, new norm"), whose dual
    norm ``<M, U V^T> = sum(S)`` the adaptive form multiplies by. Chain with
    `gdjax.scale_by_learning_rate`; `gdjax.optimizers.recent.muon` is the whole
    optimizer. Every updated leaf must be a matrix (or say its matrix axes in
    ``weight_dimension_numbers``).

    Args:
      ns_coeffs: the quintic's ``(c0, c1, c2)``, or rows of them, one per step
        (at most ``ns_steps`` rows). Default Jordan's (3.4445, -4.7750, 2.0315).
      ns_steps: Newton–Schulz steps, an integer >= 1 (static: it shapes the
        program). Default 5.
      beta: momentum decay in [0, 1). Default 0.95.
      eps: added to the norm the matrix is divided by, >= 0. Default 1e-8.
      mu_dtype: dtype of ``m``; None (default) follows the params.
      nesterov: the Nesterov form above. Default True.
      adaptive: scale by the dual norm. Default False.
      preconditioning: "frobenius" (default), "spectral", "aol" or "schatten"
        (see `orthogonalize_via_newton_schulz`).
      weight_dimension_numbers: `MuonDimensionNumbers` for every leaf, a tree of
        them, or a function of the updates returning one; None (default):
        every leaf is a plain matrix.

    Returns:
      A transformation with state `MuonState`.
    """
    owner = "scale_by_muon"
    ns_steps = check_static_int(owner, "ns_steps", ns_steps, 1)
    _check_coeffs(owner, ns_coeffs, ns_steps)
    check_range(owner, "beta", beta, "[0, 1)")
    check_range(owner, "eps", eps, "[0, inf)")
    check_flag(owner, "nesterov", nesterov)
    check_flag(owner, "adaptive", adaptive)
    _check_preconditioning(owner, preconditioning)
    return GradientTransformation(
        bind(_muon_init, ns_coeffs=ns_coeffs, ns_steps=Static(ns_steps), mu_dtype=mu_dtype),
        bind(
            _muon_update,
            ns_steps=Static(ns_steps),
            beta=beta,
            eps=eps,
            nesterov=nesterov,
            adaptive=adaptive,
            preconditioning=preconditioning,
            # Axis numbers shape the program: options, not data.
            weight_dimension_numbers=Static(weight_dimension_numbers),
        ),
    )


# --------------------------------------------------------------------------- scale_by_shape


def _shape_update(updates, state, params=None, *, weight_dimension_numbers, consistent_rms):
    del params
    leaves, treedef = jax.tree.flatten(updates)
    dim_nums = _resolve_dim_nums(weight_dimension_numbers, updates)
    out = []
    for u, d in zip(leaves, dim_nums, strict=True):
        fan_in, fan_out = _fans(u, d)
        if consistent_rms is None:
            factor = jnp.sqrt(jnp.maximum(1, fan_out / fan_in))
        else:
            factor = jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms
        out.append(tree.scale(factor, u))
    return jax.tree.unflatten(treedef, out), state


def scale_by_shape(
    weight_dimension_numbers: WeightDimNumOrFn | None = None,
    consistent_rms: ArrayLike | None = None,
) -> GradientTransformation:
    """Scales each matrix's update by a factor of its shape ``(fan_in, fan_out)``.


        u = sqrt(max(1, fan_out / fan_in)) * g                 consistent_rms=None (Jordan)
        u = sqrt(max(fan_in, fan_out)) * consistent_rms * g     (Liu et al. 2025)

    An orthogonal ``fan_in x fan_out`` matrix has RMS ``1/sqrt(max(fan_in, fan_out))``;
    the second form gives every matrix the RMS ``consistent_rms`` (0.2 is about
    AdamW's). Stateless.

    Args:
      weight_dimension_numbers: as in `scale_by_muon`.
      consistent_rms: None (default) or the RMS wanted, >= 0.
    """
    if consistent_rms is not None:
        check_range("scale_by_shape", "consistent_rms", consistent_rms, "[0, inf)")
    return GradientTransformation(
        EMPTY_INIT,
        bind(
            _shape_update,
            weight_dimension_numbers=Static(weight_dimension_numbers),
            consistent_rms=consistent_rms,
        ),
    )
