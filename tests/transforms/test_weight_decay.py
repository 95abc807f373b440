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
