"""Line searches: a learning rate found by evaluating the objective along the update.

A line search is the last transformation of a chain. It receives a direction
``u`` (for instance ``-g``, or L-BFGS's ``-P g``) and returns ``eta * u``, with
``eta`` chosen by calling the objective at ``w + eta * u``. So its ``update``
takes three more keyword arguments than most:

* ``value``: the objective at the current params ``w``;
* ``grad``: its gradient at ``w``;
* ``value_fn``: the objective itself, ``value_fn(params, **kwargs)``;

and any further keyword arguments are passed on to ``value_fn`` (a batch, say)
if its signature names them; a keyword that ``value_fn`` does not take is an
error (``TypeError``), as in optax. Through a gdjax `chain` (or an alias) these
extra arguments reach the line search, and no transformation that does not ask
for them.

The line search stores the value (and the gradient) at the point it accepts,
so a deterministic objective need not be evaluated twice: `value_and_grad_from_state`
reads them back at the next step::

    value_and_grad = value_and_grad_from_state(f)
    value, grad = value_and_grad(params, state=state)
    updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)

Both searches run as a ``jax.lax.while_loop`` over traced values: they compile
once, under ``jit`` and ``vmap`` alike, and their numeric hyperparameters
(the step counts too) are data.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gdjax import tree
from gdjax._validation import check_flag, check_range, check_step, named
from gdjax.base import GradientTransformation, Params, Updates
from gdjax.bound import bind

# --------------------------------------------------------------------------- shared pieces


def _scalar_dtype(params: Params) -> Any:
    """The dtype of the search's scalars (step sizes, values, slopes): the real dtype of
    the first leaf, at least float32 (a bfloat16 step size has 8 bits of mantissa)."""
    leaves = jax.tree.leaves(params)
    dtype = tree.dtype_of(leaves[0]) if leaves else jnp.float32
    real = jnp.real(jnp.empty((), dtype)).dtype
    return jnp.promote_types(real, jnp.float32)


def _dot(a: jax.Array, b: jax.Array) -> jax.Array:
    """``sum(a * b)`` over every axis, at the highest matmul precision."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    return jnp.tensordot(a, b, a.ndim, precision=jax.lax.Precision.HIGHEST)


def _slope(grad: Updates, updates: Updates) -> jax.Array:
    """The derivative of ``eta -> f(w + eta * u)``: ``Re sum(g * u)`` (JAX's gradient of a
    real function of complex params is the conjugate of the steepest ascent)."""
    dots = jax.tree.leaves(jax.tree.map(_dot, tree.widen(grad), tree.widen(updates)))
    return jnp.real(functools.reduce(operator.add, dots, 0))


def _step(params: Params, stepsize: jax.Array, updates: Updates) -> Params:
    """``w + eta * u`` in the params' dtypes."""
    moved = jax.tree.map(lambda w, u: w + stepsize * u, params, updates)
    return tree.cast_like(moved, params)


def _split_kwargs(owner: str, value_fn: Callable, extra: dict) -> dict:
    """The extra keyword arguments ``value_fn`` names; any other one is an error."""
    try:
        accepted = set(inspect.signature(value_fn).parameters)
    except (TypeError, ValueError):  # a builtin without a signature
        accepted = set()
    unknown = sorted(k for k in extra if k not in accepted)
    if unknown:
        raise TypeError(
            f"{owner}: the keyword arguments {unknown} of update() are not arguments of "
            "value_fn; extra keyword arguments of a line search are passed to value_fn "
            "only, and it must accept them"
        )
    return extra


def _checked_inputs(owner: str, value: Any, grad: Any, value_fn: Any) -> None:
    if value is None or grad is None or value_fn is None:
        raise TypeError(
            f"{owner}: update() needs the keyword arguments value= (the objective at the "
            "params), grad= (its gradient) and value_fn= (the objective); through a chain, "
            "pass them to the chain's update"
        )


def _where(condition: jax.Array, if_true: Any, if_false: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), if_true, if_false)


def _cast_like(new: Any, old: Any) -> Any:
    """``new`` with the dtypes of ``old`` (a ``while_loop`` carry keeps its types)."""
    return jax.tree.map(lambda x, y: jnp.asarray(x).astype(jnp.result_type(y)), new, old)


# --------------------------------------------------------------------------- backtracking


class BacktrackingLinesearchInfo(NamedTuple):
    """What the last backtracking search did, for debugging.

    Attributes:
      num_linesearch_steps: the objective's evaluations in the search.
      decrease_error: how far the accepted step misses the sufficient
        decrease (0 when it meets it; ``inf`` when every try was NaN or inf).
    """

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array


class ScaleByBacktrackingLinesearchState(NamedTuple):
    """The accepted rate, and the objective at the accepted point.

    Attributes:
      learning_rate: the rate of the last step (the next search starts from it).
      value: the objective at the accepted point (``inf`` before the first step).
      grad: its gradient there if ``store_grad``, else None.
      info: `BacktrackingLinesearchInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates | None
    info: BacktrackingLinesearchInfo


class _Backtrack(NamedTuple):
    """The carry of the backtracking loop."""

    learning_rate: jax.Array
    new_value: jax.Array
    new_grad: Updates
    decrease_error: jax.Array
    iter_num: jax.Array


def _backtracking_init(params, *, store_grad):
    dtype = _scalar_dtype(params)
    return ScaleByBacktrackingLinesearchState(
        learning_rate=jnp.ones([], dtype),
        value=jnp.full([], jnp.inf, dtype),
        grad=tree.zeros_like(params) if store_grad else None,
        info=BacktrackingLinesearchInfo(
            num_linesearch_steps=tree.zero_count(),
            decrease_error=jnp.full([], jnp.inf, dtype),
        ),
    )


def _decrease_error(stepsize, slope, value, new_value, *, slope_rtol, rtol):
    """``max(f(w + eta u) - (1 + rtol) f(w) - eta c slope, 0)``, NaN counted as inf."""
    error = new_value - (1.0 + rtol) * value - stepsize * slope_rtol * slope
    return jnp.maximum(jnp.where(jnp.isnan(error), jnp.inf, error), 0.0)


class _BacktrackingSettings(NamedTuple):
    """The search's numbers (data: they may be traced), as `scale_by_backtracking_linesearch`
    documents them."""

    max_backtracking_steps: Any
    slope_rtol: Any
    decrease_factor: Any
    increase_factor: Any
    max_learning_rate: Any
    atol: Any
    rtol: Any


class _Line(NamedTuple):
    """The line searched: ``objective(params + eta * updates)``, with ``value`` and
    ``slope`` the objective and its directional derivative at ``eta = 0``."""

    params: Params
    updates: Updates
    value: jax.Array
    slope: jax.Array
    objective: Any


def _backtrack_body(carry, *, line, cfg, store_grad):
    rate = jnp.where(
        carry.iter_num > 0, cfg.decrease_factor * carry.learning_rate, carry.learning_rate
    )
    trial = _step(line.params, rate, line.updates)

    def error_of(new_value):
        return _decrease_error(
            rate, line.slope, line.value, new_value, slope_rtol=cfg.slope_rtol, rtol=cfg.rtol
        )

    if store_grad:
        new_value, linear = jax.linearize(line.objective, trial)
        error = error_of(new_value)
        # The gradient only where the search ends: accepted, or out of tries.
        new_grad = jax.lax.cond(
            (error <= cfg.atol) | (carry.iter_num == cfg.max_backtracking_steps),
            lambda p: jax.linear_transpose(linear, p)(jnp.ones_like(new_value))[0],
            lambda p: carry.new_grad,
            trial,
        )
    else:
        new_value = line.objective(trial)
        error, new_grad = error_of(new_value), carry.new_grad
    new = _Backtrack(rate, new_value, new_grad, error, carry.iter_num + 1)
    return _cast_like(new, carry)


def _backtrack(line: _Line, cfg: _BacktrackingSettings, start: jax.Array, store_grad: bool):
    """The search's loop, from the rate ``start``: its final carry."""
    carry = _Backtrack(
        learning_rate=start,
        new_value=line.value,
        new_grad=tree.zeros_like(line.params),
        decrease_error=jnp.full([], jnp.inf, line.value.dtype),
        iter_num=tree.zero_count(),
    )
    return jax.lax.while_loop(
        lambda c: ~(c.decrease_error <= cfg.atol) & (c.iter_num <= cfg.max_backtracking_steps),
        functools.partial(_backtrack_body, line=line, cfg=cfg, store_grad=store_grad),
        carry,
    )


def _backtracking_update(
    updates,
    state,
    params=None,
    *,
    value=None,
    grad=None,
    value_fn=None,
    settings,
    store_grad,
    verbose,
    **extra_args,
):
    owner = "scale_by_backtracking_linesearch"
    _checked_inputs(owner, value, grad, value_fn)
    cfg = _BacktrackingSettings(**settings)
    dtype = state.value.dtype
    line = _Line(
        params=params,
        updates=updates,
        value=jnp.asarray(value).astype(dtype),
        slope=_slope(grad, updates).astype(dtype),
        objective=functools.partial(value_fn, **_split_kwargs(owner, value_fn, extra_args)),
    )
    start = jnp.minimum(cfg.increase_factor * state.learning_rate, cfg.max_learning_rate)
    carry = _backtrack(line, cfg, start.astype(dtype), store_grad)
    # Nothing but NaN or inf along the line: do not move.
    rate = jnp.where(jnp.isinf(carry.decrease_error), 0.0, carry.learning_rate).astype(dtype)
    if verbose:
        _print_if(
            carry.decrease_error > cfg.atol,
            "scale_by_backtracking_linesearch: no step size gives a sufficient decrease "
            "(value {value}, slope {slope}, step size {stepsize}, decrease error {error}); "
            "a step size of 0 is used if the error is inf",
            value=line.value,
            slope=line.slope,
            stepsize=carry.learning_rate,
            error=carry.decrease_error,
        )
    new_state = ScaleByBacktrackingLinesearchState(
        learning_rate=rate,
        value=carry.new_value,
        grad=carry.new_grad if store_grad else None,
        info=BacktrackingLinesearchInfo(carry.iter_num, carry.decrease_error),
    )
    out = jax.tree.map(lambda u: tree.as_dtype(rate * u, tree.dtype_of(u)), updates)
    return out, _cast_like(new_state, state)


def scale_by_backtracking_linesearch(
    max_backtracking_steps: ArrayLike,
    slope_rtol: ArrayLike = 1e-4,
    decrease_factor: ArrayLike = 0.8,
    increase_factor: ArrayLike = 1.5,
    max_learning_rate: ArrayLike = 1.0,
    atol: ArrayLike = 0.0,
    rtol: ArrayLike = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformation:
    """Backtracking line search: shrinks the step until the objective decreases enough.

    Armijo's sufficient decrease (Armijo 1966; Nocedal & Wright 1999, §3.1),
    with a relative and an absolute slack:

        f(w + eta u) <= (1 + rtol) f(w) + eta * slope_rtol * <u, grad f(w)> + atol

    Each search starts at ``eta = min(increase_factor * eta_prev, max_learning_rate)``
    (``eta_prev`` = 1 at the first step) and multiplies ``eta`` by
    ``decrease_factor`` until the condition holds or ``max_backtracking_steps``
    reductions are spent; the last ``eta`` is then used anyway, unless every
    try gave NaN or inf, in which case ``eta = 0``. The update is ``eta * u``.
    The direction ``u`` must be a descent direction (``<u, grad> < 0``), as
    ``-g`` is; Vaswani et al. 2019 use this search with SGD.

    ``update`` takes the keyword arguments ``value``, ``grad`` and ``value_fn``
    (see the module docstring), and passes any others to ``value_fn``.

    Args:
      max_backtracking_steps: how many times ``eta`` may be reduced, >= 0.
      slope_rtol: ``c`` above, in [0, 1). Default 1e-4.
      decrease_factor: the reduction factor, in (0, 1). Default 0.8.
      increase_factor: the growth of the first try over the last rate, >= 1
        (1 keeps it; ``inf`` starts at ``max_learning_rate``). Default 1.5.
      max_learning_rate: the largest ``eta``, > 0. Default 1.
      atol: the absolute slack, >= 0. Default 0.
      rtol: the relative slack, >= 0. Default 0.
      store_grad: also compute the gradient at the accepted point and keep it
        in the state, for `value_and_grad_from_state`. Default False.
      verbose: print a message when the search fails. Default False.

    Returns:
      A transformation with state `ScaleByBacktrackingLinesearchState`.
    """
    owner = "scale_by_backtracking_linesearch"
    check_step(owner, "max_backtracking_steps", max_backtracking_steps, 0)
    check_range(owner, "slope_rtol", slope_rtol, "[0, 1)")
    check_range(owner, "decrease_factor", decrease_factor, "(0, 1)")
    check_range(owner, "increase_factor", increase_factor, "[1, inf]")
    check_range(owner, "max_learning_rate", max_learning_rate, "(0, inf]")
    check_range(owner, "atol", atol, "[0, inf)")
    check_range(owner, "rtol", rtol, "[0, inf)")
    check_flag(owner, "store_grad", store_grad)
    check_flag(owner, "verbose", verbose)
    return GradientTransformation(
        bind(_backtracking_init, store_grad=store_grad),
        bind(
            _backtracking_update,
            settings={
                "max_backtracking_steps": max_backtracking_steps,
                "slope_rtol": slope_rtol,
                "decrease_factor": decrease_factor,
                "increase_factor": increase_factor,
                "max_learning_rate": max_learning_rate,
                "atol": atol,
                "rtol": rtol,
            },
            store_grad=store_grad,
            verbose=verbose,
        ),
    )


# --------------------------------------------------------------------------- zoom


class ZoomLinesearchInfo(NamedTuple):
    """What the last zoom search did, for debugging.

    Attributes:
      num_linesearch_steps: the objective's evaluations in the search.
      decrease_error: how far the accepted step misses the sufficient decrease
        (0 when it meets it). A positive value means the objective may not
        decrease from step to step.
      curvature_error: how far it misses the curvature condition (0 when it
        meets it). Positive when, say, ``max_learning_rate`` is too small.
    """

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array


class ScaleByZoomLinesearchState(NamedTuple):
    """The accepted rate, and the objective and its gradient at the accepted point.

    Attributes:
      learning_rate: the rate of the last step (the next first try with
        ``initial_guess_strategy="keep"``).
      value: the objective at the accepted point (``inf`` before the first step).
      grad: its gradient there, for `value_and_grad_from_state`.
      info: `ZoomLinesearchInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates
    info: ZoomLinesearchInfo


class ZoomLinesearchState(NamedTuple):
    """The carry of the zoom loop: the line (``params``, ``updates``), the last try,
    the conditions' errors, the bracket ``[low, high]``, the point the cubic is fit
    through, and the best step with a sufficient decrease found so far (``safe_*``)."""

    count: jax.Array
    params: Params
    updates: Updates
    stepsize_guess: jax.Array
    stepsize: jax.Array
    value: jax.Array
    grad: Updates
    slope: jax.Array
    value_init: jax.Array
    slope_init: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array
    error: jax.Array
    interval_found: jax.Array
    done: jax.Array
    failed: jax.Array
    low: jax.Array
    value_low: jax.Array
    slope_low: jax.Array
    high: jax.Array
    value_high: jax.Array
    slope_high: jax.Array
    cubic_ref: jax.Array
    value_cubic_ref: jax.Array
    safe_stepsize: jax.Array
    safe_value: jax.Array
    safe_grad: Updates


class _ZoomSettings(NamedTuple):
    """The hyperparameters of one zoom search (values; ``None`` where unused)."""

    max_linesearch_steps: Any
    max_learning_rate: Any
    tol: Any
    increase_factor: Any
    slope_rtol: Any
    curv_rtol: Any
    approx_dec_rtol: Any
    stepsize_precision: Any


def _zoom_init(params):
    dtype = _scalar_dtype(params)
    return ScaleByZoomLinesearchState(
        learning_rate=jnp.ones([], dtype),
        value=jnp.full([], jnp.inf, dtype),
        grad=tree.zeros_like(params),
        info=ZoomLinesearchInfo(
            num_linesearch_steps=tree.zero_count(),
            decrease_error=jnp.full([], jnp.inf, dtype),
            curvature_error=jnp.full([], jnp.inf, dtype),
        ),
    )


def _on_line(s: ZoomLinesearchState, stepsize, gradient, fn_kwargs):
    """The objective, its gradient and its slope at ``w + stepsize * u``."""
    value, grad = gradient(_step(s.params, stepsize, s.updates), **fn_kwargs)
    return jnp.asarray(value).astype(s.value.dtype), grad, _slope(grad, s.updates)


def _zoom_errors(cfg: _ZoomSettings, stepsize, value, slope, value_init, slope_init):
    """The sufficient-decrease and curvature errors (each >= 0, NaN counted as inf).

    Sufficient decrease is Armijo's, or (where ``approx_dec_rtol`` is given) the
    smaller of it and Hager & Zhang's approximate one, which holds where the
    value is within ``approx_dec_rtol |f(w)|`` of ``f(w)`` and the slope is at
    most ``(2 c1 - 1)`` times the first: it sees decreases below float precision.
    """
    decrease = value - value_init - cfg.slope_rtol * stepsize * slope_init
    if cfg.approx_dec_rtol is not None:
        approx = slope - (2 * cfg.slope_rtol - 1.0) * slope_init
        near = value - value_init - cfg.approx_dec_rtol * jnp.abs(value_init)
        decrease = jnp.minimum(jnp.maximum(approx, near), decrease)
    decrease = jnp.maximum(decrease, 0.0)
    decrease = jnp.where(jnp.isnan(decrease), jnp.inf, decrease)
    curvature = jnp.maximum(jnp.abs(slope) - cfg.curv_rtol * jnp.abs(slope_init), 0.0)
    curvature = jnp.where(jnp.isnan(curvature), jnp.inf, curvature)
    return decrease, curvature


def _search_interval(s: ZoomLinesearchState, cfg: _ZoomSettings, gradient, fn_kwargs):
    """Grows the step until a bracket holding an acceptable step is found
    (Nocedal & Wright 1999, Algorithm 3.5)."""
    first = s.count == 0
    stepsize = jnp.where(first, s.stepsize_guess, cfg.increase_factor * s.stepsize)
    if cfg.max_learning_rate is not None:
        at_max = stepsize >= cfg.max_learning_rate
        stepsize = jnp.minimum(stepsize, cfg.max_learning_rate)
    else:
        at_max = jnp.asarray(False)
    value, grad, slope = _on_line(s, stepsize, gradient, fn_kwargs)
    decrease, curvature = _zoom_errors(cfg, stepsize, value, slope, s.value_init, s.slope_init)
    error = jnp.maximum(decrease, curvature)
    safe_stepsize, safe_value, safe_grad = _where(
        decrease <= cfg.tol,
        (stepsize, value, grad),
        (s.safe_stepsize, s.safe_value, s.safe_grad),
    )
    # Too far (no sufficient decrease, or worse than the last try): the bracket is
    # [last, new]. Uphill slope at a good point: [new, last]. Else keep growing.
    new_is_high = (decrease > 0.0) | ((value >= s.value) & ~first)
    new_is_low = (slope >= 0.0) & ~new_is_high
    low, value_low, slope_low, high, value_high, slope_high = _where(
        new_is_low,
        (stepsize, value, slope, s.stepsize, s.value, s.slope),
        (s.stepsize, s.value, s.slope, stepsize, value, slope),
    )
    found = new_is_high | new_is_low | (error <= cfg.tol)
    done = (error <= cfg.tol) | (at_max & ~found)
    failed = (s.count + 1 >= cfg.max_linesearch_steps) & ~done
    new = s._replace(
        count=tree.safe_increment(s.count),
        stepsize=stepsize,
        value=value,
        grad=grad,
        slope=slope,
        decrease_error=decrease,
        curvature_error=curvature,
        error=error,
        interval_found=found,
        done=done,
        failed=failed,
        low=low,
        value_low=value_low,
        slope_low=slope_low,
        high=high,
        value_high=value_high,
        slope_high=slope_high,
        cubic_ref=low,
        value_cubic_ref=value_low,
        safe_stepsize=safe_stepsize,
        safe_value=safe_value,
        safe_grad=safe_grad,
    )
    return _cast_like(new, s)


def _cubic_minimizer(a, fa, fpa, b, fb, c, fc):
    """The critical point of the cubic through ``(a, fa)``, ``(b, fb)``, ``(c, fc)`` with
    slope ``fpa`` at ``a`` (NaN where it has none; the caller then rejects it)."""
    db, dc = b - a, c - a
    rb, rc = fb - fa - fpa * db, fc - fa - fpa * dc
    denominator = (db * dc) ** 2 * (db - dc)
    matrix = jnp.array([[dc**2, -(db**2)], [-(dc**3), db**3]])
    cubic, square = (
        jnp.dot(matrix, jnp.array([rb, rc]), precision=jax.lax.Precision.HIGHEST) / denominator
    )
    radical = square * square - 3.0 * cubic * fpa
    return a + (-square + jnp.sqrt(radical)) / (3.0 * cubic)


def _quadratic_minimizer(a, fa, fpa, b, fb):
    """The critical point of the parabola through ``(a, fa)``, ``(b, fb)`` with slope
    ``fpa`` at ``a``."""
    db = b - a
    curvature = (fb - fa - fpa * db) / (db**2)
    return a - fpa / (2.0 * curvature)


def _zoom_into_interval(s: ZoomLinesearchState, cfg: _ZoomSettings, gradient, fn_kwargs):
    """Shrinks the bracket ``[low, high]`` (Nocedal & Wright 1999, Algorithm 3.6): tries
    the cubic's minimizer, else the parabola's, else the midpoint."""
    width = jnp.abs(s.high - s.low)
    left, right = jnp.minimum(s.high, s.low), jnp.maximum(s.high, s.low)
    too_narrow = width <= cfg.stepsize_precision
    cubic = _cubic_minimizer(
        s.low, s.value_low, s.slope_low, s.high, s.value_high, s.cubic_ref, s.value_cubic_ref
    )
    use_cubic = (cubic > left + 0.2 * width) & (cubic < right - 0.2 * width)
    quadratic = _quadratic_minimizer(s.low, s.value_low, s.slope_low, s.high, s.value_high)
    quadratic_inside = (quadratic > left + 0.1 * width) & (quadratic < right - 0.1 * width)
    use_quadratic = ~use_cubic & quadratic_inside
    use_midpoint = ~use_cubic & ~use_quadratic
    middle = jnp.where(use_cubic, cubic, s.cubic_ref)
    middle = jnp.where(use_quadratic, quadratic, middle)
    middle = jnp.where(use_midpoint, (s.low + s.high) / 2.0, middle)

    value, grad, slope = _on_line(s, middle, gradient, fn_kwargs)
    decrease, curvature = _zoom_errors(cfg, middle, value, slope, s.value_init, s.slope_init)
    error = jnp.maximum(decrease, curvature)
    safe_stepsize, safe_value, safe_grad = _where(
        (decrease <= cfg.tol) & (value < s.safe_value),
        (middle, value, grad),
        (s.safe_stepsize, s.safe_value, s.safe_grad),
    )
    done = error <= cfg.tol
    middle_is_high = (decrease > 0.0) | (value >= s.value_low)
    low_is_high = (slope * (s.high - s.low) >= 0.0) & ~middle_is_high
    middle_is_low = ~middle_is_high
    high, value_high, slope_high = _where(
        middle_is_high, (middle, value, slope), (s.high, s.value_high, s.slope_high)
    )
    high, value_high, slope_high = _where(
        low_is_high, (s.low, s.value_low, s.slope_low), (high, value_high, slope_high)
    )
    low, value_low, slope_low = _where(
        middle_is_low, (middle, value, slope), (s.low, s.value_low, s.slope_low)
    )
    cubic_ref, value_cubic_ref = _where(
        middle_is_high | low_is_high, (s.high, s.value_high), (s.low, s.value_low)
    )
    out_of_steps = (s.count + 1) >= cfg.max_linesearch_steps
    failed = (out_of_steps | (too_narrow & (safe_stepsize > 0.0))) & ~done
    new = s._replace(
        count=tree.safe_increment(s.count),
        stepsize=middle,
        value=value,
        grad=grad,
        slope=slope,
        decrease_error=decrease,
        curvature_error=curvature,
        error=error,
        done=done,
        failed=failed,
        low=low,
        value_low=value_low,
        slope_low=slope_low,
        high=high,
        value_high=value_high,
        slope_high=slope_high,
        cubic_ref=cubic_ref,
        value_cubic_ref=value_cubic_ref,
        safe_stepsize=safe_stepsize,
        safe_value=safe_value,
        safe_grad=safe_grad,
    )
    return _cast_like(new, s)


def _fall_back(s: ZoomLinesearchState) -> ZoomLinesearchState:
    """At a failure: the best step with a sufficient decrease if there is one (or if the
    last try left the domain, where that is the step 0), else the last try."""
    use_safe = (s.safe_stepsize > 0.0) | jnp.isinf(s.decrease_error)
    stepsize, value, grad = _where(
        use_safe, (s.safe_stepsize, s.safe_value, s.safe_grad), (s.stepsize, s.value, s.grad)
    )
    return _cast_like(s._replace(stepsize=stepsize, value=value, grad=grad), s)


def _zoom_body(s: ZoomLinesearchState, *, cfg, gradient, fn_kwargs, verbose):
    new = jax.lax.cond(
        s.interval_found,
        functools.partial(_zoom_into_interval, cfg=cfg, gradient=gradient, fn_kwargs=fn_kwargs),
        functools.partial(_search_interval, cfg=cfg, gradient=gradient, fn_kwargs=fn_kwargs),
        s,
    )
    if verbose:
        _print_if(
            new.failed,
            "scale_by_zoom_linesearch: no step size meets both conditions (value {value}, "
            "slope {slope}, last step size {stepsize}, decrease error {decrease}, "
            "curvature error {curvature}, best step with sufficient decrease {safe}; a "
            "positive slope means the update is not a descent direction)",
            value=new.value_init,
            slope=new.slope_init,
            stepsize=new.stepsize,
            decrease=new.decrease_error,
            curvature=new.curvature_error,
            safe=new.safe_stepsize,
        )
    new = jax.lax.cond(new.failed, _fall_back, lambda x: x, new)
    return _cast_like(new, s)


def _zoom_start(params, updates, value, grad, slope, guess) -> ZoomLinesearchState:
    """The search's first state: nothing tried, every bracket at the step size 0."""
    dtype = value.dtype
    zero = jnp.zeros([], dtype)
    return ZoomLinesearchState(
        count=tree.zero_count(),
        params=params,
        updates=updates,
        stepsize_guess=guess,
        stepsize=zero,
        value=value,
        grad=grad,
        slope=slope,
        value_init=value,
        slope_init=slope,
        decrease_error=jnp.full([], jnp.inf, dtype),
        curvature_error=jnp.full([], jnp.inf, dtype),
        error=jnp.full([], jnp.inf, dtype),
        interval_found=jnp.asarray(False),
        done=jnp.asarray(False),
        failed=jnp.asarray(False),
        low=zero,
        value_low=value,
        slope_low=slope,
        high=zero,
        value_high=value,
        slope_high=slope,
        cubic_ref=zero,
        value_cubic_ref=value,
        safe_stepsize=zero,
        safe_value=value,
        safe_grad=grad,
    )


def _zoom_update(
    updates,
    state,
    params=None,
    *,
    value=None,
    grad=None,
    value_fn=None,
    settings,
    initial_guess_strategy,
    verbose,
    **extra_args,
):
    owner = "scale_by_zoom_linesearch"
    _checked_inputs(owner, value, grad, value_fn)
    cfg = _ZoomSettings(**settings)
    fn_kwargs = _split_kwargs(owner, value_fn, extra_args)
    dtype = state.value.dtype
    value = jnp.asarray(value).astype(dtype)
    slope = _slope(grad, updates).astype(dtype)
    guess = state.learning_rate if initial_guess_strategy == "keep" else jnp.ones([], dtype)
    start = _zoom_start(params, updates, value, grad, slope, guess.astype(dtype))
    body = functools.partial(
        _zoom_body,
        cfg=cfg,
        gradient=jax.value_and_grad(value_fn),
        fn_kwargs=fn_kwargs,
        verbose=verbose,
    )
    final = jax.lax.while_loop(lambda s: ~(s.done | s.failed), body, start)
    rate = final.stepsize
    out = jax.tree.map(lambda u: tree.as_dtype(rate * u, tree.dtype_of(u)), updates)
    new_state = ScaleByZoomLinesearchState(
        learning_rate=rate,
        value=final.value,
        grad=final.grad,
        info=ZoomLinesearchInfo(final.count, final.decrease_error, final.curvature_error),
    )
    return out, _cast_like(new_state, state)


def scale_by_zoom_linesearch(
    max_linesearch_steps: ArrayLike,
    max_learning_rate: ArrayLike | None = None,
    tol: ArrayLike = 0.0,
    increase_factor: ArrayLike = 2.0,
    slope_rtol: ArrayLike = 1e-4,
    curv_rtol: ArrayLike = 0.9,
    approx_dec_rtol: ArrayLike | None = 1e-6,
    stepsize_precision: ArrayLike = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformation:
    """Zoom line search: a step meeting the strong Wolfe conditions.

    Finds ``eta`` with a sufficient decrease (Armijo) and a small slope
    (the strong Wolfe curvature condition), up to ``tol``:

        f(w + eta u) <= f(w) + slope_rtol * eta * <u, grad f(w)> + tol
        |<grad f(w + eta u), u>| <= curv_rtol * |<grad f(w), u>| + tol

    Nocedal & Wright 1999, Algorithms 3.5 and 3.6: first ``eta`` grows by
    ``increase_factor`` from a first guess until a bracket holding such a step
    is found; then the bracket is shrunk, trying the minimizer of a cubic (else
    a parabola, else the midpoint) fit to the values and slopes seen. Where
    ``approx_dec_rtol`` is given, sufficient decrease may also be met by Hager
    & Zhang's (2006) approximate condition, which sees decreases below float
    precision:

        <grad f(w + eta u), u> <= (2 slope_rtol - 1) <grad f(w), u>   and
        f(w + eta u) <= f(w) + approx_dec_rtol |f(w)|

    After ``max_linesearch_steps`` evaluations, or once the bracket is
    narrower than ``stepsize_precision`` with a sufficient decrease found, the
    best step with a sufficient decrease is taken (else the last try; the step
    0 if the objective was NaN or inf there). The update is ``eta * u``, for a
    descent direction ``u``. Setting ``curv_rtol=inf`` drops the curvature
    condition (a backtracking search with interpolation).

    ``update`` takes the keyword arguments ``value``, ``grad`` and ``value_fn``
    (see the module docstring), and passes any others to ``value_fn``. The
    value and gradient at the accepted point are kept in the state, for
    `value_and_grad_from_state`.

    Args:
      max_linesearch_steps: the most evaluations of the objective per search,
        ≥ 0 (0 acts as 1). No default; `gdjax.optimizers.lbfgs.lbfgs` uses 20.
      max_learning_rate: the largest ``eta``, > 0, or ``None`` (default) for none.
      tol: slack in both conditions, >= 0. Default 0.
      increase_factor: growth of ``eta`` while bracketing, > 1. Default 2.
      slope_rtol: ``c1``, in [0, 1). Default 1e-4.
      curv_rtol: ``c2``, >= 0 (``inf`` to ignore the curvature). Default 0.9.
      approx_dec_rtol: ``c3`` of the approximate condition, >= 0, or ``None``
        for Armijo's alone. Default 1e-6.
      stepsize_precision: the bracket width at which a step with a sufficient
        decrease is taken, >= 0. Default 1e-5.
      initial_guess_strategy: the first try: ``"keep"`` (default) the last
        accepted ``eta`` (for gradient descent), ``"one"`` 1 (for Newton-like
        directions such as L-BFGS's).
      verbose: print a diagnosis when a search fails. Default False.

    Returns:
      A transformation with state `ScaleByZoomLinesearchState`.
    """
    owner = "scale_by_zoom_linesearch"
    check_step(owner, "max_linesearch_steps", max_linesearch_steps, 0)
    if max_learning_rate is not None:
        check_range(owner, "max_learning_rate", max_learning_rate, "(0, inf]")
    check_range(owner, "tol", tol, "[0, inf)")
    check_range(owner, "increase_factor", increase_factor, "(1, inf)")
    check_range(owner, "slope_rtol", slope_rtol, "[0, 1)")
    check_range(owner, "curv_rtol", curv_rtol, "[0, inf]")
    if approx_dec_rtol is not None:
        check_range(owner, "approx_dec_rtol", approx_dec_rtol, "[0, inf)")
    check_range(owner, "stepsize_precision", stepsize_precision, "[0, inf)")
    if initial_guess_strategy not in ("one", "keep"):
        who, name = named(owner, "initial_guess_strategy")
        raise ValueError(f"{who}: {name} must be 'one' or 'keep', got {initial_guess_strategy!r}")
    check_flag(owner, "verbose", verbose)
    settings = {
        "max_linesearch_steps": max_linesearch_steps,
        "max_learning_rate": max_learning_rate,
        "tol": tol,
        "increase_factor": increase_factor,
        "slope_rtol": slope_rtol,
        "curv_rtol": curv_rtol,
        "approx_dec_rtol": approx_dec_rtol,
        "stepsize_precision": stepsize_precision,
    }
    return GradientTransformation(
        bind(_zoom_init),
        bind(
            _zoom_update,
            settings=settings,
            initial_guess_strategy=initial_guess_strategy,
            verbose=verbose,
        ),
    )


# --------------------------------------------------------------------------- reuse


def _value_and_grad_from_state(params, *fn_args, state, value_fn, **fn_kwargs):
    value = tree.get(state, "value")
    grad = tree.get(state, "grad")
    if value is None or grad is None:
        raise ValueError(
            "value_and_grad_from_state: the state holds no value or no grad; use it with a "
            "line search that stores both (scale_by_zoom_linesearch, or "
            "scale_by_backtracking_linesearch(..., store_grad=True))"
        )

    def compute(p, a, k):
        new_value, new_grad = jax.value_and_grad(value_fn)(p, *a, **k)
        return jnp.asarray(new_value).astype(value.dtype), tree.cast_like(new_grad, grad)

    return jax.lax.cond(
        jnp.isfinite(value), lambda p, a, k: (value, grad), compute, params, fn_args, fn_kwargs
    )


def value_and_grad_from_state(value_fn: Callable[..., Any]) -> Callable[..., tuple]:
    """``jax.value_and_grad(value_fn)`` that reuses what a line search stored.

    The result is called as ``(params, *args, state=opt_state, **kwargs)``.
    It returns the ``value`` and ``grad`` fields found in ``opt_state`` (the
    objective and gradient at the point the last line search accepted, which
    are those at ``params`` if the params were updated with its step), or
    computes ``jax.value_and_grad(value_fn)(params, *args, **kwargs)`` where
    the stored value is NaN or inf (before the first step). Only for
    deterministic objectives: a new batch needs a new gradient.

    Raises ``ValueError`` if the state holds no ``value`` or ``grad`` (the
    backtracking search keeps the gradient only with ``store_grad=True``), and
    ``KeyError`` if it holds several.

    Args:
      value_fn: the objective, differentiable by ``jax.value_and_grad``.

    Returns:
      A `gdjax.bound.Bound` function of ``(params, *args, state, **kwargs)``.
    """
    return bind(_value_and_grad_from_state, value_fn=value_fn)


def _print_if(condition: jax.Array, message: str, **values: Any) -> None:
    jax.lax.cond(
        condition,
        lambda v: jax.debug.print(message, ordered=True, **v),
        lambda v: None,
        values,
    )
