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
    # A mask tree is checked when the transformation is built, a mask function at init.
    with pytest.raises(ValueError, match="mask leaves must be True or False"):
        gdjax.masked(gdjax.trace(0.9), {"a": 1})
    tx = gdjax.masked(gdjax.trace(0.9), lambda p: {"a": 1})
    with pytest.raises(ValueError, match="mask leaves must be True or False"):
        tx.init({"a": jnp.ones(1)})


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


# --------------------------------------------------------------------------- as pytrees


def _int_labels(params):
    return {"a": 0, "b": 1}


# name -> wrapper of a trace (and a scale) whose decay is ``v``, other options fixed.
WRAPPERS = {
    "masked": lambda v: gdjax.masked(gdjax.trace(v), {"a": True, "b": False}),
    "apply_if_finite": lambda v: gdjax.apply_if_finite(gdjax.sgd(0.1, v), 3),
    "partition": lambda v: gdjax.partition(
        {"m": gdjax.trace(v), "s": gdjax.scale(-0.5)}, {"a": "m", "b": "s"}
    ),
    "partition-int-labels": lambda v: gdjax.partition(
        {0: gdjax.trace(v), 1: gdjax.scale(-0.5)}, {"a": 0, "b": 1}
    ),
    "partition-label-function": lambda v: gdjax.partition(
        {0: gdjax.trace(v), 1: gdjax.scale(-0.5)}, _int_labels
    ),
    "inject_hyperparams": lambda v: gdjax.inject_hyperparams(gdjax.sgd)(0.1, momentum=v),
}


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_wrappers_are_pytrees_of_their_inner_hyperparameters(name):
    make = WRAPPERS[name]
    params = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([0.5, 3.0])}
    grads = {"a": jnp.array([0.3, -0.1]), "b": jnp.array([2.0, 1.0])}
    values = (0.5, 0.7, 0.9)
    txs = [make(v) for v in values]
    # The leaves are the numbers only (labels, masks and functions are structure).
    assert all(isinstance(x, float | int) for x in jax.tree.leaves(txs[0]))
    assert 0.5 in jax.tree.leaves(txs[0])
    assert len({jax.tree.structure(tx) for tx in txs}) == 1
    traces = []

    @jax.jit
    def two_steps(tx, grads):
        traces.append(None)
        state = tx.init(params)
        _, state = tx.update(grads, state, params)
        return tx.update(grads, state, params)

    for tx in txs:
        got = two_steps(tx, grads)
        want = jax.jit(lambda g, tx=tx: two_steps.__wrapped__(tx, g))(grads)
        assert_trees_close(got, want, rtol=1e-6)
    assert len(traces) == 1 + len(txs)  # once for all optimizers, once per closed-over one
    # A stack of them vmaps, each row the separate run.
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *txs)
    swept = jax.vmap(two_steps, in_axes=(0, None))(stacked, grads)
    for i, tx in enumerate(txs):
        assert_trees_close(
            jax.tree.map(lambda x, i=i: x[i], swept), two_steps(tx, grads), rtol=1e-6
        )


def test_partition_labels_are_structure_and_groups_keep_their_transforms():
    a = gdjax.partition({0: gdjax.trace(0.9), 1: gdjax.scale(-0.5)}, {"a": 0, "b": 1})
    b = gdjax.partition({0: gdjax.trace(0.9), 1: gdjax.scale(-0.5)}, {"a": 1, "b": 0})
    assert sorted(jax.tree.leaves(a)) == [-0.5, 0.9]  # no label among the leaves
    assert jax.tree.structure(a) != jax.tree.structure(b)
    paths = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_leaves_with_path(a)]
    assert any("transforms[0]" in path and "decay" in path for path in paths)


def test_apply_if_finite_max_consecutive_errors_is_data():
    tx = gdjax.apply_if_finite(gdjax.sgd(0.1), max_consecutive_errors=2)
    assert sorted(jax.tree.leaves(tx)) == [0.1, 2]
    params = {"a": jnp.ones(2)}
    bad = {"a": jnp.array([jnp.nan, 1.0])}
    step = jax.jit(lambda tx, s: tx.update(bad, s, params))
    for patience, skipped in ((0, 0), (2, 1)):
        tx = gdjax.apply_if_finite(gdjax.sgd(0.1), max_consecutive_errors=patience)
        u, _ = step(tx, tx.init(params))
        assert bool(np.isnan(u["a"][0])) != bool(skipped)
    assert step._cache_size() == 1


def test_inject_hyperparams_returns_a_pytree_whose_state_still_holds_the_values():
    def schedule(count):  # a plain function: an option, compared by identity
        return 0.1 / (1 + count)

    inject = gdjax.inject_hyperparams(gdjax.sgd, static_args="nesterov")
    tx = inject(learning_rate=0.1, momentum=0.5)
    # The initial values are the leaves (once each), the factory and options structure.
    assert sorted(jax.tree.leaves(tx)) == [0.1, 0.5]
    assert jax.tree.structure(tx) == jax.tree.structure(inject(learning_rate=0.3, momentum=0.9))
    assert jax.tree.leaves(inject(schedule, momentum=0.5)) == [0.5]
    params = {"a": jnp.ones(2)}
    step = jax.jit(lambda tx, s: tx.update(params, s, params))
    state = jax.jit(lambda tx: tx.init(params))(tx)
    u, state = step(tx, state)
    np.testing.assert_allclose(u["a"], -0.1)
    # Set between steps, as in optax: the state's value is used, not the initial one.
    state.hyperparams["learning_rate"] = jnp.float32(0.01)
    u, state = step(tx, state)
    np.testing.assert_allclose(u["a"], -0.01 * (1 + 0.5), rtol=1e-6)
    other = inject(learning_rate=0.2, momentum=0.0)
    step(other, other.init(params))
    assert step._cache_size() == 1


def _larger_than(params, *, size):
    return jax.tree.map(lambda x: x.size > size, params)


def test_masked_calls_a_bound_mask_even_with_numeric_hyperparameters():
    # A Bound's leaves are its hyperparameters (here a number): it is still a function.
    mask = gdjax.bound.bind(_larger_than, size=2.5)
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    state = gdjax.masked(gdjax.trace(0.9), mask).init(params)
    assert isinstance(state.inner_state.trace["a"], gdjax.MaskedNode)
    assert state.inner_state.trace["b"].shape == (3,)


def test_masked_passes_leafless_params_through():
    # optax.tree.map_params's placeholder is leafless and fits no mask.
    tx = gdjax.masked(gdjax.trace(0.9), {"a": True, "b": False})
    assert tx.init(()) == gdjax.MaskedState(gdjax.TraceState(()))
    u, state = tx.update((), tx.init(()))
    assert u == () and state == gdjax.MaskedState(gdjax.TraceState(()))
    with pytest.raises(gdjax.tree.StructureError):
        tx.init((jnp.ones(1),))  # params with leaves must still fit the mask
