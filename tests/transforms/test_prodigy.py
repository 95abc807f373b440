import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gdjax
from gdjax.base import GradientTransformation
from gdjax.bound import bind
from gdjax.transforms.prodigy import (
    ProdigyHyperparams,
    ProdigyState,
    _prodigy_init,
    _prodigy_update,
)
from tests.helpers import assert_moved, assert_trees_close, nested_params, run

HYPER = {
    "learning_rate": 1.0,
    "betas": (0.9, 0.999),
    "beta3": None,
    "eps": 1e-8,
    "estim_lr0": 1e-6,
    "estim_lr_coef": 1.0,
    "weight_decay": 0.0,
    "safeguard_warmup": False,
}


def _transformation(**changes) -> GradientTransformation:
    h = ProdigyHyperparams(**{**HYPER, **changes})
    return GradientTransformation(
        bind(_prodigy_init, estim_lr0=h.estim_lr0), bind(_prodigy_update, hyper=h)
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"weight_decay": 0.05, "estim_lr_coef": 2.0, "beta3": 0.95, "eps": 1e-6},
        {"learning_rate": 0.5, "betas": (0.8, 0.99), "estim_lr0": 1e-5, "safeguard_warmup": True},
    ],
)
def test_module_functions_match_optax_contrib_over_300_steps(changes):
    h = {**HYPER, **changes}
    ours = _transformation(**changes)
    params = nested_params()
    got, got_state = run(ours, params)
    want, want_state = run(optax.contrib.prodigy(**h), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert type(got_state)._fields == type(want_state)._fields
    assert_trees_close(tuple(got_state), tuple(want_state))
    assert float(got_state.estim_lr) > 10 * h["estim_lr0"]  # d has grown: the test can fail


def test_state_names_are_optax_contribs():
    assert ProdigyState._fields == optax.contrib.ProdigyState._fields


def test_zero_gradients_keep_d_where_optax_gives_nan():
    params = jnp.array([1.0, -2.0])
    init, update = _transformation()
    u, state = update(jnp.zeros(2), init(params), params)
    np.testing.assert_array_equal(u, 0.0)
    assert float(state.estim_lr) == np.float32(1e-6)
    theirs = optax.contrib.prodigy()
    _, their_state = theirs.update(jnp.zeros(2), theirs.init(params), params)
    assert np.isnan(their_state.estim_lr)


def test_scalars_are_at_least_float32_and_the_rest_follows_the_params():
    params = {"a": jnp.ones(3, jnp.bfloat16), "b": jnp.ones(2, jnp.bfloat16)}
    init, update = _transformation()
    state = init(params)
    assert state.estim_lr.dtype == state.numerator_weighted.dtype == jnp.float32
    g = jax.tree.map(lambda p: -p, params)
    u, state = update(g, state, params)
    u, state = update(g, state, jax.tree.map(lambda p, u: p + u, params, u))
    assert state.estim_lr.dtype == state.numerator_weighted.dtype == jnp.float32
    for leaf in jax.tree.leaves(
        (u, state.exp_avg, state.exp_avg_sq, state.grad_sum, state.params0)
    ):
        assert leaf.dtype == jnp.bfloat16


def test_params0_is_an_array_for_python_float_leaves():
    state = bind(_prodigy_init, estim_lr0=1e-6)({"x": 0.5})
    assert state.params0["x"].dtype == jnp.float32
    assert not state.params0["x"].weak_type


def test_update_needs_the_params():
    update = bind(_prodigy_update, hyper=ProdigyHyperparams(**HYPER))
    state = bind(_prodigy_init, estim_lr0=1e-6)(jnp.ones(2))
    with pytest.raises(ValueError, match="prodigy needs the params"):
        update(jnp.ones(2), state)


def test_hyperparameters_bound_whole_are_found_and_replaced_by_name():
    tx = _transformation()
    assert gdjax.tree.get(tx, "estim_lr_coef") == 1.0
    schedule = gdjax.schedules.linear(0.0, 1.0, 20)
    changes = {"learning_rate": schedule, "estim_lr_coef": 2.0, "safeguard_warmup": True}
    params = nested_params()
    got, _ = run(gdjax.tree.set(tx, **changes), params, steps=30)
    want, _ = run(_transformation(**changes), params, steps=30)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(a, b)
