"""Hyperparameters as data for every alias of the wider family (issue 13).

For each alias: ``jax.vmap`` over the learning rate and over one other float
hyperparameter, inside ``jax.jit``, gives one run per pair of values, equal to
the runs made one pair at a time; a schedule works wherever the rate does; and the
optimizer passed to a jitted step as an argument compiles once for new values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from gdjax.base import extra_args_filter
from tests.helpers import assert_trees_close, convex_loss, nested_params, trees_differ

STEPS = 30


class Case(NamedTuple):
    """An alias, the values of its rate to sweep, and one other float hyperparameter."""

    make: Any  # (**hyperparameters) -> GradientTransformation
    rates: tuple[float, float]
    other: str | None
    values: tuple[float, float] = (0.0, 0.0)
    rate: str = "learning_rate"  # the argument that takes the rate
    schedule: bool = True  # whether the rate may be a schedule
    steps: int = STEPS  # fewer where a method converges before STEPS from any setting


def _lbfgs(learning_rate=1.0, curv_rtol=0.9):
    """L-BFGS with its zoom line search, whose curvature tolerance is a float to sweep."""
    search = gdjax.scale_by_zoom_linesearch(20, curv_rtol=curv_rtol, initial_guess_strategy="one")
    return gdjax.lbfgs(learning_rate, linesearch=search)


def _lbfgs_fixed_rate(learning_rate):
    return gdjax.lbfgs(learning_rate, linesearch=None)


FAMILY = {
    "adabelief": Case(gdjax.adabelief, (0.01, 0.03), "b1", (0.8, 0.9)),
    "adafactor": Case(gdjax.adafactor, (0.01, 0.03), "decay_rate", (0.6, 0.8)),
    "adamaxw": Case(gdjax.adamaxw, (0.01, 0.03), "weight_decay", (1e-3, 1e-1)),
    "adan": Case(gdjax.adan, (0.01, 0.03), "b3", (0.95, 0.99)),
    # The floor must bind somewhere to change a run: every leaf's norm is above 0.1.
    "fromage": Case(gdjax.fromage, (0.01, 0.03), "min_norm", (1e-6, 10.0)),
    "lamb": Case(gdjax.lamb, (0.01, 0.03), "b2", (0.99, 0.999)),
    "lars": Case(gdjax.lars, (0.1, 0.3), "momentum", (0.8, 0.9)),
    "lbfgs": Case(_lbfgs, (0.5, 1.0), "curv_rtol", (0.5, 0.9), steps=3),
    "lbfgs-fixed-rate": Case(_lbfgs_fixed_rate, (0.05, 0.2), None),
    # Lion's step is a sign: b1 changes it only where the sign flips, which it does not
    # here; weight decay changes every step.
    "lion": Case(gdjax.lion, (0.001, 0.003), "weight_decay", (1e-3, 1.0)),
    "nadamw": Case(gdjax.nadamw, (0.01, 0.03), "weight_decay", (1e-3, 1e-1)),
    "novograd": Case(gdjax.novograd, (0.01, 0.03), "b2", (0.25, 0.5)),
    "optimistic_gradient_descent": Case(
        gdjax.optimistic_gradient_descent, (0.01, 0.03), "alpha", (0.5, 1.0)
    ),
    "optimistic_adam": Case(  # a number as its rate, as in optax
        gdjax.optimistic_adam, (0.01, 0.03), "b2", (0.99, 0.999), schedule=False
    ),
    "polyak_sgd": Case(
        gdjax.polyak_sgd, (0.5, 1.0), "max_learning_rate", (0.005, 0.05), "scaling", steps=3
    ),
    "radam": Case(gdjax.radam, (0.01, 0.03), "b2", (0.99, 0.999)),
    "rprop": Case(  # the rate is the initial step size: a number, as in optax
        gdjax.rprop, (0.01, 0.03), "eta_plus", (1.1, 1.3), schedule=False
    ),
    "sign_sgd": Case(gdjax.sign_sgd, (0.001, 0.003), None),
    "signum": Case(gdjax.signum, (0.001, 0.003), "beta", (0.8, 0.9)),
    "sm3": Case(gdjax.sm3, (0.1, 0.3), "momentum", (0.5, 0.9)),
    "yogi": Case(gdjax.yogi, (0.01, 0.03), "eps", (1e-3, 1e-1)),
    "muon": Case(gdjax.muon, (0.01, 0.03), "beta", (0.9, 0.95)),
    "schedule_free_adamw": Case(gdjax.schedule_free_adamw, (0.01, 0.03), "b1", (0.8, 0.9)),
    "schedule_free_sgd": Case(gdjax.schedule_free_sgd, (0.01, 0.03), "b1", (0.8, 0.9)),
    "adopt": Case(gdjax.adopt, (0.01, 0.03), "b2", (0.99, 0.9999)),
    "ademamix": Case(gdjax.ademamix, (0.01, 0.03), "alpha", (5.0, 8.0)),
    "simplified_ademamix": Case(gdjax.simplified_ademamix, (0.005, 0.01), "alpha", (0.0, 5.0)),
    "prodigy": Case(gdjax.prodigy, (0.5, 1.0), "estim_lr_coef", (0.5, 2.0)),
}


def _final(tx: gdjax.GradientTransformation, steps: int = STEPS) -> Any:
    """``STEPS`` steps on the convex loss as one scan, passing optax's extra arguments
    (``value``, ``grad``, ``value_fn``) to the aliases that read them."""
    wanted = extra_args_filter(tx.update)

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(convex_loss)(params)
        extra = wanted({"value": value, "grad": grads, "value_fn": convex_loss})
        updates, state = tx.update(grads, state, params, **extra)
        return (gdjax.apply_updates(params, updates), state), None

    params = nested_params()
    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params


def _cell(grid: Any, i: int, j: int) -> Any:
    return jax.tree.map(lambda x: x[i, j], grid)


@pytest.mark.parametrize("name", list(FAMILY))
def test_vmap_over_the_rate_and_another_float_inside_jit_is_one_run_per_pair(name):
    """A 2 x 2 grid (rate x the other float, one vmap inside the other) in one jitted
    program equals one jitted run per pair, and each axis changes the runs. (One grid
    program instead of one sweep per hyperparameter: half the compilations.)"""
    case = FAMILY[name]

    def final(rate, value):
        hyperparameters = {case.rate: rate} | ({case.other: value} if case.other else {})
        return _final(case.make(**hyperparameters), case.steps)

    rates, values = (jnp.asarray(v, jnp.float32) for v in (case.rates, case.values))
    grid = jax.jit(jax.vmap(jax.vmap(final, (None, 0)), (0, None)))(rates, values)
    one_at_a_time = jax.jit(final)
    for i, j in np.ndindex(2, 2):
        assert_trees_close(_cell(grid, i, j), one_at_a_time(rates[i], values[j]), rtol=1e-5)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(grid))
    # The rate, at the other's second value (L-BFGS's default curvature tolerance, 0.9:
    # at 0.5 its line search ends on the same step from either rate).
    assert trees_differ(_cell(grid, 0, 1), _cell(grid, 1, 1))
    if case.other:
        assert trees_differ(_cell(grid, 0, 0), _cell(grid, 0, 1))


@pytest.mark.parametrize("name", [n for n, c in FAMILY.items() if c.schedule])
def test_a_schedule_works_wherever_the_rate_does(name):
    case, rate = FAMILY[name], FAMILY[name].rates[0]
    constant = _final(case.make(**{case.rate: rate}), case.steps)
    scheduled = _final(case.make(**{case.rate: gdjax.schedules.constant(rate)}), case.steps)
    assert_trees_close(scheduled, constant, rtol=1e-6)
    decaying = gdjax.schedules.exponential_decay(rate, 1, 0.5)
    decayed = _final(case.make(**{case.rate: decaying}), case.steps)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(decayed))
    assert trees_differ(decayed, constant)


@pytest.mark.parametrize("name", list(FAMILY))
def test_a_jitted_run_taking_the_optimizer_compiles_once_for_new_values(name):
    case = FAMILY[name]
    # Three steps: ADOPT's first step is zero whatever the rate.
    three_steps = jax.jit(lambda tx: _final(tx, 3))
    a = three_steps(case.make(**{case.rate: case.rates[0]}))
    b = three_steps(case.make(**{case.rate: case.rates[1]}))
    assert three_steps._cache_size() == 1
    assert trees_differ(a, b)
