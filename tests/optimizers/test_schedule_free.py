"""schedule_free_adamw and schedule_free_sgd against optax.contrib 0.2.8."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import optax.contrib
import pytest

from gdjax.optimizers.recent import schedule_free_adamw, schedule_free_sgd
from gdjax.schedules import linear
from gdjax.transforms.schedule_free import schedule_free_eval_params
from tests.helpers import assert_moved, assert_trees_close, nested_params, run

CASES = {
    "adamw-defaults": (schedule_free_adamw, optax.contrib.schedule_free_adamw, {}),
    "adamw-non-default": (
        schedule_free_adamw,
        optax.contrib.schedule_free_adamw,
        {
            "learning_rate": 0.01,
            "warmup_steps": 20,
            "b1": 0.8,
            "b2": 0.99,
            "eps": 1e-6,
            "weight_decay": 0.1,
            "weight_lr_power": 1.0,
        },
    ),
    "sgd-defaults": (
        schedule_free_sgd,
        optax.contrib.schedule_free_sgd,
        {"learning_rate": 0.01},  # the default 1.0 diverges on this loss
    ),
    "sgd-non-default": (
        schedule_free_sgd,
        optax.contrib.schedule_free_sgd,
        {"learning_rate": 0.02, "warmup_steps": 20, "b1": 0.8, "weight_decay": 0.1},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_optax(case):
    ours, theirs, kwargs = CASES[case]
    params = nested_params()
    got, state = run(ours(**kwargs), params)
    want, their_state = run(theirs(**kwargs), params, apply=optax.apply_updates)
    assert_moved(params, got)
    assert_trees_close(got, want)
    # The alias's state is a chain's tuple around optax's ScheduleFreeState.
    assert type(state[0])._fields == type(their_state)._fields
    assert_trees_close(state[0].weight_sum, their_state.weight_sum)
    assert_trees_close(
        schedule_free_eval_params(state, got),
        optax.contrib.schedule_free_eval_params(their_state, want),
    )


def test_defaults_match_optax():
    assert schedule_free_sgd().update.transforms[0].learning_rate == 1.0
    assert schedule_free_adamw().update.transforms[0].learning_rate == 0.0025


@pytest.mark.parametrize("alias", [schedule_free_adamw, schedule_free_sgd])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("learning_rate", -0.1),
        ("warmup_steps", 0),
        ("warmup_steps", 2.5),
        ("b1", 0.0),
        ("weight_decay", -0.1),
        ("weight_lr_power", -1.0),
    ],
)
def test_validation(alias, name, value):
    with pytest.raises(ValueError, match=rf"^{alias.__name__}: {name} ") as error:
        alias(**{name: value})
    assert repr(value) in str(error.value)


@pytest.mark.parametrize(("name", "value"), [("b2", 1.0), ("eps", -1e-8)])
def test_validation_adamw(name, value):
    with pytest.raises(ValueError, match=rf"^schedule_free_adamw: {name} ") as error:
        schedule_free_adamw(**{name: value})
    assert repr(value) in str(error.value)


def test_a_warmup_cannot_ramp_a_schedule():
    with pytest.raises(ValueError, match="^schedule_free_sgd: learning_rate must be a number"):
        schedule_free_sgd(linear(0.0, 0.1, 10), warmup_steps=5)


@pytest.mark.parametrize("alias", [schedule_free_adamw, schedule_free_sgd])
def test_bfloat16(alias):
    params = nested_params(jnp.bfloat16)
    opt = alias(0.01)
    state = opt.init(params)
    updates, state = opt.update(params, state, params)
    for leaf in jax.tree.leaves((updates, state[0].z)):
        assert leaf.dtype == jnp.bfloat16
    wide = alias(0.01, state_dtype=jnp.float32)
    wide_state = wide.update(params, wide.init(params), params)[1]
    assert all(z.dtype == jnp.float32 for z in jax.tree.leaves(wide_state[0].z))


@pytest.mark.parametrize("alias", [schedule_free_adamw, schedule_free_sgd])
def test_zero_gradients_leave_params_unchanged(alias):
    params = nested_params()
    flat = lambda p: 0.0 * sum(jnp.sum(x) for x in jax.tree.leaves(p))  # noqa: E731
    got, _ = run(alias(0.1, warmup_steps=3), params, steps=5, loss_fn=flat)
    # y is rebuilt from x = (y - (1 - b1) z) / b1 each step: exact up to a float32 ulp.
    assert_trees_close(got, params, rtol=1e-6, atol=0)


def _final(opt):
    return run(opt, nested_params(), steps=60)[0]


def test_vmap_over_learning_rate_and_warmup_inside_jit():
    # The warmup is data too (test_family sweeps the rate with b1).
    rates, warmups = jnp.asarray([0.01, 0.03]), jnp.asarray([10, 20])
    swept = jax.jit(jax.vmap(lambda r, w: _final(schedule_free_sgd(r, warmup_steps=w))))(
        rates, warmups
    )
    for i in range(2):
        alone = _final(schedule_free_sgd(rates[i], warmup_steps=int(warmups[i])))
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], swept), alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (schedule_free_adamw, optax.contrib.schedule_free_adamw),
        (schedule_free_sgd, optax.contrib.schedule_free_sgd),
    ],
)
def test_a_schedule_works_where_the_rate_does(ours, theirs):
    got = _final(ours(linear(0.0, 0.02, 30)))
    want = run(
        theirs(optax.linear_schedule(0.0, 0.02, 30)),
        nested_params(),
        steps=60,
        apply=optax.apply_updates,
    )[0]
    assert_moved(nested_params(), got)
    assert_trees_close(got, want)
