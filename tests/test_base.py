import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from tests.helpers import assert_trees_close, nested_params, run


def test_gradient_transformation_is_a_two_field_named_tuple():
    tx = gdjax.sgd(0.1)
    assert isinstance(tx, tuple)
    assert gdjax.GradientTransformation._fields == ("init", "update")
    init, update = tx
    assert init is tx.init and update is tx.update


def test_identity_returns_updates_and_empty_state():
    params = nested_params()
    tx = gdjax.identity()
    state = tx.init(params)
    assert state == gdjax.EmptyState()
    updates, new_state = tx.update(params, state)
    assert_trees_close(updates, params, rtol=0, atol=0)
    assert new_state == state


def test_chain_applies_in_order():
    g = {"a": jnp.array([1.0, -2.0])}
    tx = gdjax.chain(gdjax.scale(2.0), gdjax.clip(3.0))
    u, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(u["a"], [2.0, -3.0])
    tx = gdjax.chain(gdjax.clip(3.0), gdjax.scale(2.0))
    u, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(u["a"], [2.0, -4.0])


def test_chain_state_is_a_tuple_of_states():
    params = nested_params()
    state = gdjax.chain(gdjax.trace(0.9), gdjax.scale(1.0)).init(params)
    assert isinstance(state, tuple) and len(state) == 2
    assert isinstance(state[0], gdjax.TraceState)


def test_chain_rejects_a_state_of_another_chain():
    params = {"a": jnp.ones(2)}
    short = gdjax.chain(gdjax.scale(1.0))
    long = gdjax.chain(gdjax.scale(1.0), gdjax.scale(2.0))
    with pytest.raises(ValueError, match="2 transformations"):
        long.update(params, short.init(params))


def test_chain_passes_extra_arguments_only_to_transforms_that_take_them():
    seen = {}

    def recorder(name):
        def update(updates, state, params=None, *, value):
            seen[name] = value
            return updates, state

        return gdjax.GradientTransformation(gdjax.init_empty_state, update)

    def takes_everything(updates, state, params=None, **extra):
        seen["kwargs"] = extra
        return updates, state

    params = {"a": jnp.ones(2)}
    tx = gdjax.chain(
        gdjax.scale(1.0),  # takes no extras: would raise TypeError if it got one
        recorder("needs_value"),
        gdjax.GradientTransformation(gdjax.init_empty_state, takes_everything),
        optax.scale(1.0),  # optax's plain transforms take no extras either
    )
    tx.update(params, tx.init(params), params, value=3.0, other="x")
    assert seen == {"needs_value": 3.0, "kwargs": {"value": 3.0, "other": "x"}}


def test_gdjax_transforms_run_inside_optax_chain():
    params = nested_params()
    ours = optax.chain(gdjax.trace(0.9), optax.scale(-0.01))
    reference = optax.sgd(0.01, momentum=0.9)
    assert_trees_close(run(ours, params)[0], run(reference, params)[0])


def test_optax_transforms_run_inside_gdjax_chain():
    params = nested_params()
    ours = gdjax.chain(optax.clip(0.5), gdjax.trace(0.9), gdjax.scale_by_learning_rate(0.01))
    reference = optax.chain(optax.clip(0.5), optax.sgd(0.01, momentum=0.9))
    assert_trees_close(run(ours, params)[0], run(reference, params)[0])


def test_apply_updates_adds_in_the_params_dtype():
    params = {"a": jnp.ones(3, jnp.bfloat16), "b": jnp.ones(2)}
    updates = {"a": jnp.full(3, 0.5, jnp.float32), "b": jnp.full(2, -1.0)}
    new = gdjax.apply_updates(params, updates)
    assert new["a"].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(new["a"], np.float32), 1.5)
    np.testing.assert_allclose(new["b"], 0.0)


def test_apply_updates_keeps_none_leaves():
    params = {"a": jnp.ones(2), "frozen": None}
    new = gdjax.apply_updates(params, {"a": jnp.ones(2), "frozen": None})
    assert new["frozen"] is None


def test_apply_updates_reports_both_structures():
    with pytest.raises(gdjax.StructureError, match="structure") as error:
        gdjax.apply_updates({"a": jnp.ones(2)}, {"b": jnp.ones(2)})
    assert "'a'" in str(error.value) and "'b'" in str(error.value)


def test_jit_and_grad_through_update():
    # The update is differentiable (meta-gradients through the learning rate).
    params = {"a": jnp.array([1.0, 2.0])}

    def after_one_step(lr):
        tx = gdjax.sgd(lr, momentum=0.9)
        g = jax.grad(lambda p: jnp.sum(p["a"] ** 2))(params)
        u, _ = tx.update(g, tx.init(params))
        return jnp.sum(gdjax.apply_updates(params, u)["a"])

    # d/dlr sum(a - lr * 2a) = -sum(2a) = -6
    np.testing.assert_allclose(jax.jit(jax.grad(after_one_step))(0.1), -6.0)
