import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms.polyak import scale_by_polyak
from tests.helpers import assert_moved, assert_trees_close, loss, nested_params, run

CASES = {
    "defaults": {},
    "custom": dict(f_min=-1.5, max_learning_rate=0.2, eps=1e-3, variant="sps+"),
    "sps-negative-gap": dict(f_min=50.0, max_learning_rate=0.5),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_optax_step_by_step(name):
    kwargs = CASES[name]
    params = nested_params()
    ours, theirs = scale_by_polyak(**kwargs), optax.scale_by_polyak(**kwargs)
    state, other = ours.init(params), theirs.init(params)
    update = jax.jit(ours.update)
    for seed in range(5):
        value, grads = jax.value_and_grad(loss)(params)
        grads = jax.tree.map(lambda g, s=seed: g * (0.5 + s), grads)
        got, state = update(grads, state, params, value=value)
        want, other = theirs.update(grads, other, params, value=value)
        assert_trees_close(got, want)
    assert type(state).__name__ == "EmptyState"


@pytest.mark.parametrize("name", list(CASES)[:2])
def test_descent_matches_optax_over_300_steps(name):
    kwargs = CASES[name]
    params = nested_params()
    ours = gdjax.chain(scale_by_polyak(**kwargs), gdjax.scale_by_learning_rate(0.5))
    theirs = optax.chain(optax.scale_by_polyak(**kwargs), optax.scale_by_learning_rate(0.5))
    got, _ = run(ours, params, pass_value=True)
    want, _ = run(theirs, params, pass_value=True)
    assert_moved(params, got)
    assert_trees_close(got, want)


def test_step_is_polyaks():
    g = {"a": jnp.asarray([3.0, 4.0])}  # |g|**2 = 25
    t = scale_by_polyak(f_min=1.0, max_learning_rate=10.0)
    u, _ = t.update(g, t.init(g), value=6.0)
    np.testing.assert_allclose(u["a"], 0.2 * g["a"])  # (6 - 1) / 25
    capped, _ = scale_by_polyak(max_learning_rate=0.1).update(g, None, value=6.0)
    np.testing.assert_allclose(capped["a"], 0.1 * g["a"])
    # Below f_min "sps" steps uphill (a negative step); "sps+" stays put.
    uphill, _ = scale_by_polyak(f_min=10.0).update(g, None, value=5.0)
    np.testing.assert_allclose(uphill["a"], -0.2 * g["a"])
    still, _ = scale_by_polyak(f_min=10.0, variant="sps+").update(g, None, value=5.0)
    assert not jnp.any(still["a"])


def test_zero_gradients_and_bfloat16():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), nested_params())
    t = scale_by_polyak()
    zeros = jax.tree.map(jnp.zeros_like, params)
    u, _ = jax.jit(t.update)(zeros, t.init(params), params, value=jnp.float32(3.0))
    assert all(not jnp.any(x) for x in jax.tree.leaves(u))  # no 0/0
    grads = jax.tree.map(lambda x: x + 0.5, params)
    u, _ = jax.jit(t.update)(grads, t.init(params), params, value=jnp.float32(3.0))
    assert {x.dtype for x in jax.tree.leaves(u)} == {jnp.dtype(jnp.bfloat16)}
    assert all(jnp.any(x) for x in jax.tree.leaves(u))


def test_needs_the_value():
    t = scale_by_polyak()
    with pytest.raises(ValueError, match="value=loss"):
        t.update({"a": jnp.ones(2)}, t.init({"a": jnp.ones(2)}))


def test_vmap_over_max_learning_rate():
    params = nested_params()

    def final(cap):
        t = gdjax.chain(scale_by_polyak(max_learning_rate=cap), gdjax.scale_by_learning_rate(1.0))
        return run(t, params, steps=50, pass_value=True)[0]

    both = jax.jit(jax.vmap(final))(jnp.asarray([0.005, 0.05]))
    for i, cap in enumerate([0.005, 0.05]):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], both), final(cap))
    with pytest.raises(AssertionError):  # the cap binds: the two runs differ
        assert_trees_close(final(0.005), final(0.05))


@pytest.mark.parametrize(
    "name, value",
    [
        ("f_min", float("nan")),
        ("f_min", float("inf")),
        ("max_learning_rate", -0.5),
        ("eps", -1e-3),
        ("variant", "sps-"),
        ("variant", None),
    ],
)
def test_refuses_bad_values(name, value):
    with pytest.raises(ValueError, match=re.escape(f"scale_by_polyak: {name} ")) as info:
        scale_by_polyak(**{name: value})
    assert repr(value) in str(info.value)
