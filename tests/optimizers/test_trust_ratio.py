import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.optimizers.trust_ratio import fromage, lamb, lars
from tests.helpers import (
    assert_moved,
    assert_trees_close,
    convex_loss,
    nested_params,
    run,
)


def _layout(state):
    """Every NamedTuple in a state: its class name and its fields, in order."""
    found = []

    def walk(x):
        if isinstance(x, tuple):
            if hasattr(x, "_fields"):
                found.append((type(x).__name__, x._fields))
            for child in x:
                walk(child)

    walk(state)
    return found


_MASK = {"dense": {"w": True, "b": False}, "blocks": True, "scale": False}

PARITY = {
    "lamb": (lambda: lamb(0.01), lambda: optax.lamb(0.01)),
    "lamb-args": (
        lambda: lamb(0.02, 0.8, 0.99, 1e-4, 1e-8, 0.05, _MASK),
        lambda: optax.lamb(0.02, 0.8, 0.99, 1e-4, 1e-8, 0.05, _MASK),
    ),
    "lars": (lambda: lars(0.1), lambda: optax.lars(0.1)),
    "lars-args": (
        lambda: lars(0.5, 0.01, _MASK, 0.01, 1e-3, _MASK, 0.5, True),
        lambda: optax.lars(0.5, 0.01, _MASK, 0.01, 1e-3, _MASK, 0.5, True),
    ),
    "lars-mask-function": (
        lambda: lars(0.3, 0.1, lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
        lambda: optax.lars(0.3, 0.1, lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
    ),
    "fromage": (lambda: fromage(0.01), lambda: optax.fromage(0.01)),
    "fromage-args": (lambda: fromage(0.05, 0.5), lambda: optax.fromage(0.05, 0.5)),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    got, state = run(ours(), params)
    want, expected = run(theirs(), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert _layout(state) == _layout(expected)
    assert_trees_close(jax.tree.leaves(state), jax.tree.leaves(expected))


def test_fromage_with_a_schedule_matches_optax():
    params = nested_params()
    got, state = run(fromage(gdjax.schedules.exponential_decay(0.05, 10, 0.5)), params)
    want, expected = run(optax.fromage(optax.exponential_decay(0.05, 10, 0.5)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    # The same fields; gdjax's weight-decay counter is called WeightDecayScheduleState
    # (optax's WeightDecaySchedule).
    assert [f for _, f in _layout(state)] == [f for _, f in _layout(expected)]
    assert_trees_close(jax.tree.leaves(state), jax.tree.leaves(expected))


def test_fromage_keeps_the_norm_matched():
    # x_new = (x - lr * ||x|| / ||g|| * g) / sqrt(1 + lr**2): for g orthogonal to x the
    # norm is kept; with g = 0 the params only shrink.
    x, g, lr = jnp.array([3.0, 0.0]), jnp.array([0.0, 1.0]), 0.5
    tx = fromage(lr)
    u, _ = tx.update(g, tx.init(x), x)
    new = gdjax.apply_updates(x, u)
    np.testing.assert_allclose(new, np.array([3.0, -1.5]) / np.sqrt(1.25), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(new), 3.0, rtol=1e-6)
    u, _ = tx.update(jnp.zeros(2), tx.init(x), x)
    np.testing.assert_allclose(gdjax.apply_updates(x, u), x / np.sqrt(1.25), rtol=1e-6)


def test_fromage_per_parameter_rates_are_separate_runs():
    # Fromage acts on each leaf alone, so a per-parameter rate is a run per leaf.
    params = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([[0.3, 0.2], [-1.0, 2.0]])}
    curvature = {"a": 1.0, "b": 3.0}

    def leaf_loss(x, name):
        return curvature[name] * jnp.sum((x - 0.3) ** 2 + 0.05 * x**4)

    def loss(p):
        return leaf_loss(p["a"], "a") + leaf_loss(p["b"], "b")

    got, _ = run(fromage({"a": 0.01, "b": 0.05}), params, steps=50, loss_fn=loss)
    for name, rate in (("a", 0.01), ("b", 0.05)):
        alone, _ = run(
            fromage(rate), params[name], steps=50, loss_fn=lambda x, n=name: leaf_loss(x, n)
        )
        assert_moved(params[name], alone)
        assert_trees_close(got[name], alone)
    with pytest.raises(ValueError, match="fromage: a per-parameter learning_rate"):
        run(fromage({"a": 0.01, "c": 0.05}), params, steps=1)


def test_lars_without_the_trust_ratio_mask_wrapper_is_the_same_run():
    params = nested_params()
    masked, _ = run(lars(0.1, weight_decay=0.01), params, steps=50)
    plain, _ = run(lars(0.1, weight_decay=0.01, trust_ratio_mask=None), params, steps=50)
    assert_trees_close(plain, masked)


def test_lars_masks_exclude_leaves():
    # A leaf outside both masks takes plain momentum SGD steps.
    params = nested_params()
    mask = jax.tree.map(lambda _: False, params)
    mask["blocks"] = True
    got, _ = run(lars(0.01, 0.1, mask, 0.001, 0.0, mask, 0.9), params, steps=30)
    sgd, _ = run(gdjax.sgd(0.01, momentum=0.9), params, steps=30)
    assert_trees_close(got["dense"], sgd["dense"])
    assert_trees_close(got["scale"], sgd["scale"])
    assert not np.allclose(got["blocks"][0], sgd["blocks"][0])


BAD = [
    (lambda: lamb(-0.01), "lamb: learning_rate", -0.01),
    (lambda: lamb(0.01, b1=1.0), "lamb: b1", 1.0),
    (lambda: lamb(0.01, b2=-0.9), "lamb: b2", -0.9),
    (lambda: lamb(0.01, eps=-1e-6), "lamb: eps", -1e-6),
    (lambda: lamb(0.01, eps_root=-1.0), "lamb: eps_root", -1.0),
    (lambda: lamb(0.01, weight_decay=-0.1), "lamb: weight_decay", -0.1),
    (lambda: lars(-0.1), "lars: learning_rate", -0.1),
    (lambda: lars(0.1, weight_decay=-0.1), "lars: weight_decay", -0.1),
    (lambda: lars(0.1, trust_coefficient=-1.0), "lars: trust_coefficient", -1.0),
    (lambda: lars(0.1, eps=-1e-3), "lars: eps", -1e-3),
    (lambda: lars(0.1, momentum=1.5), "lars: momentum", 1.5),
    (lambda: fromage(-0.01), "fromage: learning_rate", -0.01),
    (lambda: fromage({"a": 0.01, "b": -0.5}), "fromage: learning_rate", -0.5),
    (lambda: fromage(0.01, min_norm=-1e-6), "fromage: min_norm", -1e-6),
]


@pytest.mark.parametrize("make,start,value", BAD)
def test_bad_values_are_refused(make, start, value):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value).startswith(start + " ")
    assert repr(value) in str(error.value)


def test_lars_nesterov_must_be_a_bool():
    with pytest.raises(ValueError, match="lars: nesterov must be True or False"):
        lars(0.1, nesterov=1)


ALIASES = {"lamb": lamb, "lars": lars, "fromage": fromage}


@pytest.mark.parametrize("name", list(ALIASES))
def test_bfloat16_params_give_bfloat16_updates_and_state(name):
    params = nested_params(jnp.bfloat16)
    tx = ALIASES[name](0.01)
    state = tx.init(params)
    update = jax.jit(tx.update)
    for _ in range(2):
        u, state = update(params, state, params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state) if x.shape != ())


@pytest.mark.parametrize("name", ["lamb", "lars"])
def test_zero_gradients_leave_the_params_unchanged(name):
    # (Fromage shrinks the params whatever the gradient: see test_fromage_keeps_the_norm_matched.)
    params = nested_params()
    got, _ = run(ALIASES[name](0.01), params, steps=20, loss_fn=lambda p: 0.0 * convex_loss(p))
    assert_trees_close(got, params, rtol=0, atol=0)
