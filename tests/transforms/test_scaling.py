import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


def test_scale_matches_optax():
    params = nested_params()
    got, _ = run(gdjax.scale(-0.01), params)
    want, _ = run(optax.scale(-0.01), params)
    assert_moved(params, got)
    assert_trees_close(got, want)


def test_scale_by_learning_rate_matches_optax_for_floats_and_schedules():
    params = nested_params()
    for ours, theirs in [
        (0.02, 0.02),
        (gdjax.schedules.exponential_decay(0.05, 10, 0.8), optax.exponential_decay(0.05, 10, 0.8)),
    ]:
        got, _ = run(gdjax.scale_by_learning_rate(ours), params)
        want, _ = run(optax.scale_by_learning_rate(theirs), params)
        assert_moved(params, got)
        assert_trees_close(got, want)


def test_scale_by_schedule_matches_optax():
    params = nested_params()
    got, _ = run(gdjax.scale_by_schedule(lambda t: -0.05 / (1.0 + t)), params)
    want, _ = run(optax.scale_by_schedule(lambda t: -0.05 / (1.0 + t)), params)
    assert_trees_close(got, want)


def test_schedule_sees_step_counts_from_zero():
    seen = []
    tx = gdjax.scale_by_learning_rate(lambda t: seen.append(int(t)) or 1.0)
    state = tx.init(jnp.zeros(1))
    for _ in range(3):
        _, state = tx.update(jnp.ones(1), state)
    assert seen == [0, 1, 2]


def test_per_parameter_learning_rates_scale_each_leaf_by_its_own_rate():
    # Seed 000 §3.5: x and y of f = x^2 + y^2 get their own rates lr[0] and lr[1].
    grads = {"x": jnp.array(2.0), "y": jnp.array(2.0)}
    tx = gdjax.scale_by_learning_rate({"x": 2**-7 * 16, "y": 0.015})
    u, _ = tx.update(grads, tx.init(grads))
    np.testing.assert_allclose(u["x"], -2 * 2**-7 * 16)
    np.testing.assert_allclose(u["y"], -2 * 0.015, rtol=1e-6)


def test_per_parameter_rates_may_be_a_prefix_and_mix_schedules():
    params = nested_params()
    rates = {"dense": 0.1, "blocks": [0.0, lambda t: 0.2 * (t + 1)], "scale": jnp.asarray(0.3)}
    tx = gdjax.scale_by_learning_rate(rates)
    ones = jax.tree.map(jnp.ones_like, params)
    state = tx.init(params)
    for step in range(2):
        u, state = tx.update(ones, state)
        np.testing.assert_allclose(u["dense"]["w"], -0.1)
        np.testing.assert_allclose(u["dense"]["b"], -0.1)
        np.testing.assert_allclose(u["blocks"][0], 0.0)
        np.testing.assert_allclose(u["blocks"][1]["gamma"], -0.2 * (step + 1), rtol=1e-6)
        np.testing.assert_allclose(u["scale"], -0.3)


def test_per_coordinate_rates_as_an_array():
    tx = gdjax.scale_by_learning_rate(jnp.array([0.1, 0.01]))
    u, _ = tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
    np.testing.assert_allclose(u, [-0.1, -0.01])


def test_per_parameter_rates_of_another_structure_are_refused():
    tx = gdjax.scale_by_learning_rate({"a": 0.1, "c": 0.2})
    with pytest.raises(gdjax.StructureError, match="structure"):
        tx.update({"a": jnp.ones(1), "b": jnp.ones(1)}, tx.init({"a": 0, "b": 0}))


def test_scaling_keeps_bfloat16_under_a_float32_traced_rate():
    g = jnp.ones(3, jnp.bfloat16)

    @jax.jit
    def step(lr):
        tx = gdjax.scale_by_learning_rate(lr)
        return tx.update(g, tx.init(g))[0]

    assert step(jnp.float32(0.1)).dtype == jnp.bfloat16


def test_a_plain_function_as_a_rate_is_an_option_and_the_numbers_are_leaves():
    def halved(t):
        return 0.5 / (1.0 + t)

    tx = gdjax.scale_by_learning_rate({"a": halved, "b": 0.1})
    assert jax.tree.leaves(tx) == [0.1]
    assert isinstance(tx.init(None), gdjax.ScaleByScheduleState)
    assert jax.tree.structure(tx) != jax.tree.structure(
        gdjax.scale_by_learning_rate({"a": lambda t: 0.5, "b": 0.1})
    )


def test_the_structure_error_names_the_alias_after_a_trip_through_jit():
    from gdjax._validation import arguments_of

    with arguments_of("my_sgd", learning_rate="lr"):
        tx = gdjax.scale_by_learning_rate({"a": 0.1, "c": 0.2})
    g = {"a": jnp.ones(1), "b": jnp.ones(1)}
    with pytest.raises(gdjax.StructureError, match="my_sgd: a per-parameter lr"):
        jax.jit(lambda tx: tx.update(g, tx.init(g)))(tx)
