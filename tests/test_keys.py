"""gdjax.keys: one reading of a PRNG key, and one way to give each run its own."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from gdjax.keys import as_key, for_run


@pytest.mark.parametrize(
    "key",
    [3, np.int64(3), np.uint32(3), jnp.int32(3), jax.random.key(3), jax.random.PRNGKey(3)],
    ids=["int", "np.int64", "np.uint32", "jnp.int32", "typed", "legacy"],
)
def test_every_spelling_of_a_seed_is_the_same_key(key):
    expected = jax.random.key_data(jax.random.key(3))
    np.testing.assert_array_equal(jax.random.key_data(as_key(key)), expected)


def test_a_traced_integer_is_a_key_too():
    data = jax.jit(lambda seed: jax.random.key_data(as_key(seed)))(jnp.int32(3))
    np.testing.assert_array_equal(data, jax.random.key_data(jax.random.key(3)))


@pytest.mark.parametrize(
    "key,detail",
    [
        (True, "got the bool True"),
        (1.5, "got 1.5"),
        ("seed", "got 'seed'"),
        (np.ones(3, np.uint32), "where a legacy key has shape (2,)"),
        (jax.random.split(jax.random.key(0), 2), "must be one key"),
    ],
)
def test_anything_else_is_refused_naming_the_argument(key, detail):
    with pytest.raises(ValueError, match=r"^fit: key must be") as error:
        as_key(key, "fit", "key")
    assert detail in str(error.value)


def test_for_run_folds_every_key_leaf_and_leaves_the_rest():
    state = {"a": jax.random.key(1), "b": [jnp.ones(2), (jax.random.key(2),)], "c": None}
    out = for_run(state, 5)
    np.testing.assert_array_equal(
        jax.random.key_data(out["a"]), jax.random.key_data(jax.random.fold_in(state["a"], 5))
    )
    np.testing.assert_array_equal(
        jax.random.key_data(out["b"][1][0]),
        jax.random.key_data(jax.random.fold_in(state["b"][1][0], 5)),
    )
    assert out["b"][0] is state["b"][0] and out["c"] is None


def test_for_run_leaves_a_state_without_keys_unbatched_under_vmap():
    state = gdjax.adam(0.1).init(jnp.zeros(3))
    batched = jax.vmap(lambda i: for_run(state, i), axis_size=4)(jnp.arange(4))
    # Nothing was folded, so nothing depends on the run: vmap returns the leaves
    # broadcast, equal in every run.
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, jnp.broadcast_to(b, a.shape))


def test_runs_draw_distinct_noise_and_each_is_reproducible_alone():
    optimizer = gdjax.noisy_sgd(1.0, eta=1.0, key=0)

    def first_draw(index):
        state = for_run(optimizer.init(jnp.zeros(4)), index)
        return optimizer.update(jnp.zeros(4), state)[0]

    draws = np.asarray(jax.vmap(first_draw)(jnp.arange(8)))
    assert len(np.unique(draws, axis=0)) == 8
    np.testing.assert_array_equal(draws[6], first_draw(6))
