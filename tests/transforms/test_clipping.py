import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda: gdjax.clip(0.5), lambda: optax.clip(0.5)),
        (lambda: gdjax.clip_by_global_norm(1.0), lambda: optax.clip_by_global_norm(1.0)),
    ],
)
def test_matches_optax_over_300_steps(ours, theirs):
    params = nested_params()
    got, _ = run(gdjax.chain(ours(), gdjax.scale(-0.05)), params)
    want, _ = run(optax.chain(theirs(), optax.scale(-0.05)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)


def test_clip_bounds_every_coordinate():
    u, _ = gdjax.clip(1.0).update(jnp.array([-3.0, 0.5, 2.0]), gdjax.EmptyState())
    np.testing.assert_array_equal(u, [-1.0, 0.5, 1.0])


def test_clip_by_global_norm_rescales_only_large_updates():
    tx = gdjax.clip_by_global_norm(5.0)
    small = {"a": jnp.array([3.0]), "b": jnp.array([3.0])}
    np.testing.assert_array_equal(tx.update(small, tx.init(small))[0]["a"], [3.0])
    large = {"a": jnp.array([30.0]), "b": jnp.array([40.0])}
    u, _ = tx.update(large, tx.init(large))
    np.testing.assert_allclose([u["a"][0], u["b"][0]], [3.0, 4.0], rtol=1e-6)
