import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


def _mask(params):
    return {"dense": {"w": True, "b": False}, "blocks": [True, {"gamma": False}], "scale": True}


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda: gdjax.add_decayed_weights(0.1), lambda: optax.add_decayed_weights(0.1)),
        (
            lambda: gdjax.add_decayed_weights(0.1, mask=_mask),
            lambda: optax.add_decayed_weights(0.1, mask=_mask),
        ),
        (
            lambda: gdjax.add_decayed_weights(gdjax.schedules.linear(0.3, 0.0, 100)),
            lambda: optax.add_decayed_weights(optax.linear_schedule(0.3, 0.0, 100)),
        ),
    ],
)
def test_matches_optax_over_300_steps(ours, theirs):
    params = nested_params()
    got, _ = run(gdjax.chain(ours(), gdjax.scale(-0.01)), params)
    want, _ = run(optax.chain(theirs(), optax.scale(-0.01)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)


def test_mask_leaves_unmasked_updates_untouched():
    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    tx = gdjax.add_decayed_weights(0.5, mask={"w": True, "b": False})
    zeros = {"w": jnp.zeros(2), "b": jnp.zeros(2)}
    u, _ = tx.update(zeros, tx.init(params), params)
    np.testing.assert_array_equal(u["w"], 0.5)
    np.testing.assert_array_equal(u["b"], 0.0)


def test_needs_params():
    tx = gdjax.add_decayed_weights(0.1)
    with pytest.raises(ValueError, match="needs the params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_a_python_zero_is_skipped_in_update_but_keeps_the_structure():
    # An optimizer's structure never depends on a value; the constant 0 still costs
    # no g + 0 * p pass, and, like identity, needs no params.
    g = {"w": jnp.array([1.0, -0.0]), "b": jnp.array([2.0])}
    tx = gdjax.add_decayed_weights(0)
    assert jax.tree.structure(tx) == jax.tree.structure(gdjax.add_decayed_weights(1))
    assert jax.tree.leaves(tx) == [0]
    u, _ = tx.update(g, tx.init(g))
    assert u is g


def test_weight_decay_as_a_jit_argument_traces_once():
    params = {"w": jnp.array([1.0, -2.0])}
    g = {"w": jnp.array([0.5, 0.5])}
    traces = []

    @jax.jit
    def step(tx):
        traces.append(1)
        return tx.update(g, tx.init(params), params)[0]

    for wd in (0.0, 0.1, 0.3):
        np.testing.assert_allclose(
            step(gdjax.add_decayed_weights(wd))["w"], [0.5 + wd, 0.5 - 2 * wd], rtol=1e-6
        )
    assert len(traces) == 1
