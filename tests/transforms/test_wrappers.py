import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from tests.helpers import assert_moved, assert_trees_close, convex_loss, loss, nested_params, run


def _labels(params):
    return {
        "dense": {"w": "adam", "b": "sgd"},
        "blocks": ["sgd", {"gamma": "adam"}],
        "scale": "sgd",
    }


def test_partition_matches_optax():
    params = nested_params()
    got, _ = run(
        gdjax.partition({"adam": gdjax.adam(0.01), "sgd": gdjax.sgd(0.02, 0.9)}, _labels), params
    )
    want, _ = run(
        optax.partition({"adam": optax.adam(0.01), "sgd": optax.sgd(0.02, 0.9)}, _labels), params
    )
    assert_moved(params, got)
    assert_trees_close(got, want)


def test_partition_applies_each_groups_own_transform():
    params = {"a": jnp.ones(2), "b": jnp.ones(2)}
    tx = gdjax.partition({"x": gdjax.scale(2.0), "y": gdjax.scale(-1.0)}, {"a": "x", "b": "y"})
    u, _ = tx.update(params, tx.init(params))
    np.testing.assert_array_equal(u["a"], 2.0)
    np.testing.assert_array_equal(u["b"], -1.0)


def test_partition_keeps_state_only_for_its_own_leaves():
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    tx = gdjax.partition({"m": gdjax.trace(0.9), "s": gdjax.scale(1.0)}, {"a": "m", "b": "s"})
    state = tx.init(params)
    kept = jax.tree.leaves(state.inner_states["m"])
    assert [x.shape for x in kept] == [(2,)]


def test_partition_refuses_labels_without_a_transform():
    tx = gdjax.partition({"x": gdjax.scale(1.0)}, {"a": "x", "b": "nope"})
    with pytest.raises(ValueError, match="'nope'.*have no transformation.*'x'"):
        tx.init({"a": jnp.ones(1), "b": jnp.ones(1)})


def test_masked_matches_optax():
    params = nested_params()
    mask = {"dense": {"w": True, "b": False}, "blocks": [False, True], "scale": True}
    got, _ = run(gdjax.chain(gdjax.masked(gdjax.trace(0.9), mask), gdjax.scale(-0.01)), params)
    want, _ = run(optax.chain(optax.masked(optax.trace(0.9), mask), optax.scale(-0.01)), params)
    assert_trees_close(got, want)


def test_masked_refuses_non_bool_masks():
    with pytest.raises(ValueError, match="mask leaves must be True or False"):
        gdjax.masked(gdjax.trace(0.9), {"a": jnp.array(True)}).init({"a": jnp.ones(1)})


def test_apply_if_finite_matches_optax_on_finite_runs():
    params = nested_params()
    got, _ = run(gdjax.apply_if_finite(gdjax.adam(0.01), 3), params)
    want, _ = run(optax.apply_if_finite(optax.adam(0.01), 3), params)
    assert_moved(params, got)
    assert_trees_close(got, want)


def test_apply_if_finite_skips_and_counts_nan_steps():
    params = {"a": jnp.array([1.0, 2.0])}
    tx = gdjax.apply_if_finite(gdjax.adam(0.1), max_consecutive_errors=2)
    state = tx.init(params)
    good = {"a": jnp.array([1.0, 1.0])}
    bad = {"a": jnp.array([jnp.nan, 1.0])}
    update = jax.jit(tx.update)

    u, state = update(good, state, params)
    params = gdjax.apply_updates(params, u)
    adam_state = state.inner_state
    for expected_run in (1, 2):
        u, state = update(bad, state, params)
        after = gdjax.apply_updates(params, u)
        np.testing.assert_array_equal(after["a"], params["a"])  # params unchanged
        assert int(state.notfinite_count) == expected_run
        assert int(state.total_notfinite) == expected_run
        assert not bool(state.last_finite)
        assert_trees_close(state.inner_state, adam_state, rtol=0, atol=0)
    # A third bad step in a row exceeds max_consecutive_errors: it is applied and shows.
    u, state = update(bad, state, params)
    assert np.isnan(np.asarray(u["a"][0]))
    assert int(state.total_notfinite) == 3
    # A finite step resets the run but not the total.
    _, state = update(good, state, params)
    assert int(state.notfinite_count) == 0 and int(state.total_notfinite) == 3


def test_inject_hyperparams_matches_optax_and_the_plain_optimizer():
    params = nested_params()
    got, state = run(gdjax.inject_hyperparams(gdjax.adam)(learning_rate=0.01, b1=0.8), params)
    want, _ = run(optax.inject_hyperparams(optax.adam)(learning_rate=0.01, b1=0.8), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    np.testing.assert_allclose(state.hyperparams["learning_rate"], 0.01)
    assert int(state.count) == 300
    # Against the plain optimizer the numbers differ in the last bit (1 - b1 is rounded
    # in float64 for a Python float, in float32 for an injected array), so compare on a
    # convex loss, where such differences do not grow.
    injected, _ = run(
        gdjax.inject_hyperparams(gdjax.adam)(0.01, b1=0.8), params, loss_fn=convex_loss
    )
    plain, _ = run(gdjax.adam(0.01, b1=0.8), params, loss_fn=convex_loss)
    assert_trees_close(injected, plain, atol=1e-5)


def test_inject_hyperparams_stores_the_current_value_of_a_schedule():
    schedule = gdjax.schedules.linear(1.0, 0.0, 10)
    tx = gdjax.inject_hyperparams(gdjax.sgd)(learning_rate=schedule)
    params = {"a": jnp.ones(1)}
    state = tx.init(params)
    np.testing.assert_allclose(state.hyperparams["learning_rate"], 1.0)
    for t in range(3):
        u, state = tx.update(params, state, params)
        np.testing.assert_allclose(u["a"], -schedule(t), rtol=1e-6)
        np.testing.assert_allclose(state.hyperparams["learning_rate"], schedule(t), rtol=1e-6)


def test_inject_hyperparams_changes_between_steps_without_recompiling():
    params = {"a": jnp.ones(2)}
    tx = gdjax.inject_hyperparams(gdjax.sgd)(learning_rate=0.1, momentum=0.5)
    state = tx.init(params)
    step = jax.jit(tx.update)
    u, state = step(params, state, params)
    np.testing.assert_allclose(u["a"], -0.1)
    state.hyperparams["learning_rate"] = jnp.float32(0.01)
    u, state = step(params, state, params)
    np.testing.assert_allclose(u["a"], -0.01 * (1 + 0.5), rtol=1e-6)
    assert step._cache_size() == 1


def test_inject_hyperparams_validates_at_build_time_and_names_static_args():
    with pytest.raises(ValueError, match="learning_rate must be in"):
        gdjax.inject_hyperparams(gdjax.sgd)(learning_rate=-1.0)
    with pytest.raises(ValueError, match="static_args.*'nope'"):
        gdjax.inject_hyperparams(gdjax.sgd, static_args="nope")


def test_extra_arguments_reach_inner_transforms_through_wrappers():
    params = {"a": jnp.ones(2)}
    tx = gdjax.apply_if_finite(gdjax.chain(gdjax.reduce_on_plateau(patience=1), gdjax.sgd(0.1)), 5)
    state = tx.init(params)
    for _ in range(3):
        _, state = tx.update(params, state, params, value=loss(params))
    plateau = state.inner_state[0]
    assert float(plateau.scale) < 1.0
