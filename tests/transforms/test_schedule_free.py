"""The schedule_free wrapper and schedule_free_eval_params against optax.contrib 0.2.8."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

from gdjax.base import chain, identity
from gdjax.schedules import linear
from gdjax.transforms.adaptive import scale_by_rms
from gdjax.transforms.scaling import scale_by_learning_rate
from gdjax.transforms.schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_eval_params,
)
from tests.helpers import assert_moved, assert_trees_close, convex_loss, nested_params, run


def _ours(rate, adam=False, **kwargs):
    if adam:
        base = chain(
            scale_by_rms(0.99, 1e-8, eps_in_sqrt=False, bias_correction=True),
            scale_by_learning_rate(rate),
        )
    else:
        base = chain(identity(), scale_by_learning_rate(rate))
    return schedule_free(base, rate, **kwargs)


def _theirs(rate, adam=False, **kwargs):
    if adam:
        base = optax.chain(
            optax.scale_by_rms(0.99, 1e-8, eps_in_sqrt=False, bias_correction=True),
            optax.scale_by_learning_rate(rate),
        )
    else:
        base = optax.sgd(rate)
    return optax.contrib.schedule_free(base, rate, **kwargs)


@pytest.mark.parametrize(
    ("adam", "kwargs"),
    [(False, {}), (True, {"b1": 0.8, "weight_lr_power": 1.0})],
    ids=["sgd-defaults", "rms-non-default"],
)
def test_matches_optax(adam, kwargs):
    params = nested_params()
    rate = 0.01
    got, state = run(_ours(rate, adam, **kwargs), params)
    want, their_state = run(_theirs(rate, adam, **kwargs), params, apply=optax.apply_updates)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert ScheduleFreeState._fields == optax.contrib.ScheduleFreeState._fields
    for name in ("b1", "weight_sum", "step_count", "max_lr", "z"):
        assert_trees_close(getattr(state, name), getattr(their_state, name))
    assert_trees_close(
        schedule_free_eval_params(state, got),
        optax.contrib.schedule_free_eval_params(their_state, want),
    )


def test_warmup_schedule_matches_optax():
    params = nested_params()
    ours = _ours(linear(0.0, 0.05, 30))
    theirs = _theirs(optax.linear_schedule(0.0, 0.05, 30))
    got, state = run(ours, params, loss_fn=convex_loss)
    want, their_state = run(theirs, params, loss_fn=convex_loss, apply=optax.apply_updates)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert_trees_close(state.max_lr, their_state.max_lr)


def test_eval_params_finds_the_state_in_a_chain_and_refuses_others():
    params = nested_params()
    t = _ours(0.1)
    state = t.init(params)
    assert_trees_close(schedule_free_eval_params((state,), params), params)
    with pytest.raises(ValueError, match="^schedule_free_eval_params: state must be"):
        schedule_free_eval_params((), params)


def test_eval_params_is_the_average():
    # A constant rate gives uniform weights: x is the mean of z_1..z_T (z_1 = params).
    params = {"x": jnp.asarray([1.0, -2.0])}
    t = _ours(0.1, b1=0.5)
    state = t.init(params)
    zs = [params["x"]]
    y = params
    for _ in range(4):
        g = {"x": 2 * y["x"]}
        u, state = t.update(g, state, y)
        y = jax.tree.map(jnp.add, y, u)
        zs.append(state.z["x"])
    x = schedule_free_eval_params(state, y)["x"]
    np.testing.assert_allclose(x, jnp.mean(jnp.stack(zs[1:]), axis=0), rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "value"),
    [("b1", 0.0), ("b1", 1.5), ("weight_lr_power", -1.0), ("learning_rate", -0.1)],
)
def test_validation(name, value):
    kwargs = {"base_optimizer": identity(), "learning_rate": 0.1, name: value}
    with pytest.raises(ValueError, match=r"^schedule_free: " + name + " ") as error:
        schedule_free(**kwargs)
    assert repr(value) in str(error.value)


def test_needs_params():
    t = _ours(0.1)
    params = nested_params()
    with pytest.raises(ValueError, match="needs the params"):
        t.update(params, t.init(params))


def test_bfloat16_and_state_dtype():
    params = nested_params(jnp.bfloat16)
    t = _ours(0.1, adam=True)
    state = t.init(params)
    updates, state = t.update(params, state, params)
    for leaf in jax.tree.leaves((updates, state.z, state.b1, state.weight_sum, state.max_lr)):
        assert leaf.dtype == jnp.bfloat16
    wide = _ours(0.1, state_dtype=jnp.float32)
    wide_state = wide.update(params, wide.init(params), params)[1]
    assert all(z.dtype == jnp.float32 for z in jax.tree.leaves(wide_state.z))


def test_zero_gradients_leave_params_unchanged():
    params = nested_params()
    flat = lambda p: 0.0 * sum(jnp.sum(x) for x in jax.tree.leaves(p))  # noqa: E731
    got, _ = run(_ours(0.1, adam=True), params, steps=5, loss_fn=flat)
    # y is rebuilt from x = (y - (1 - b1) z) / b1 each step: exact up to a float32 ulp.
    assert_trees_close(got, params, rtol=1e-6, atol=0)


def test_extra_arguments_reach_the_base_optimizer():
    seen = []

    def update(updates, state, params=None, *, value):
        seen.append(value)
        return updates, state

    t = schedule_free(optax.GradientTransformationExtraArgs(lambda p: (), update), 0.1)
    params = {"x": jnp.ones(2)}
    t.update(params, t.init(params), params, value=3.0, other=1)
    assert seen == [3.0]


def test_learning_rate_and_b1_are_data():
    params = nested_params()
    rates = jnp.asarray([0.01, 0.03])

    @jax.jit
    def runs(rates):
        return jax.vmap(lambda r: run(_ours(r, b1=0.8), params, steps=100)[0])(rates)

    both = runs(rates)
    for i, rate in enumerate([0.01, 0.03]):
        alone, _ = run(_ours(rate, b1=0.8), params, steps=100)
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], both), alone, rtol=1e-5, atol=1e-6)
