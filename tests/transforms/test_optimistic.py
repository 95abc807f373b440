import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms.optimistic import (
    ScaleByOptimisticGradientState,
    scale_by_optimistic_gradient,
)
from tests.helpers import assert_moved, assert_trees_close, nested_params, run

CASES = {"defaults": {}, "custom": dict(alpha=0.5, beta=2.0)}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_optax_over_300_steps(name):
    kwargs = CASES[name]
    params = nested_params()
    ours = gdjax.chain(scale_by_optimistic_gradient(**kwargs), gdjax.scale_by_learning_rate(0.01))
    theirs = optax.chain(
        optax.scale_by_optimistic_gradient(**kwargs), optax.scale_by_learning_rate(0.01)
    )
    got, got_state = run(ours, params)
    want, want_state = run(theirs, params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert type(got_state[0]).__name__ == type(want_state[0]).__name__
    assert got_state[0]._fields == want_state[0]._fields
    assert_trees_close(tuple(got_state[0]), tuple(want_state[0]))


def test_update_is_the_extrapolated_gradient():
    t = scale_by_optimistic_gradient(alpha=0.5, beta=2.0)
    g1, g2 = jnp.asarray([1.0, -2.0]), jnp.asarray([3.0, 1.0])
    state = t.init(g1)
    assert isinstance(state, ScaleByOptimisticGradientState)
    u1, state = t.update(g1, state)
    np.testing.assert_allclose(u1, 0.5 * g1)  # the first step has no g_0: g_1 stands in
    u2, state = t.update(g2, state)
    np.testing.assert_allclose(u2, 2.5 * g2 - 2.0 * g1)
    assert not state.is_initial_step
    np.testing.assert_allclose(state.previous_gradient, g2)


def test_zero_gradients_and_bfloat16():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), nested_params())
    t = scale_by_optimistic_gradient()
    zeros = jax.tree.map(jnp.zeros_like, params)
    u, state = jax.jit(t.update)(zeros, t.init(params), params)
    assert all(not jnp.any(x) for x in jax.tree.leaves(u))
    u, state = jax.jit(t.update)(params, state, params)
    assert {x.dtype for x in jax.tree.leaves(u)} == {jnp.dtype(jnp.bfloat16)}
    assert {x.dtype for x in jax.tree.leaves(state.previous_gradient)} == {jnp.dtype(jnp.bfloat16)}


def test_vmap_over_beta():
    params = nested_params()

    def final(beta):
        t = gdjax.chain(scale_by_optimistic_gradient(beta=beta), gdjax.scale_by_learning_rate(0.01))
        return run(t, params, steps=50)[0]

    both = jax.jit(jax.vmap(final))(jnp.asarray([0.5, 2.0]))
    for i, beta in enumerate([0.5, 2.0]):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], both), final(beta))


@pytest.mark.parametrize(
    "name, value",
    [
        ("alpha", float("nan")),
        ("alpha", float("-inf")),
        ("beta", float("inf")),
        ("beta", "1.0"),
    ],
)
def test_refuses_bad_values(name, value):
    with pytest.raises(ValueError, match=re.escape(f"scale_by_optimistic_gradient: {name} ")) as e:
        scale_by_optimistic_gradient(**{name: value})
    assert repr(value) in str(e.value)


def test_refuses_a_schedule():
    match = r"scale_by_optimistic_gradient: beta must be a number .*, not a schedule; got"
    with pytest.raises(ValueError, match=match):
        scale_by_optimistic_gradient(beta=lambda t: 1.0)
