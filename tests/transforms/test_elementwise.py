import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms import elementwise
from gdjax.transforms.wrappers import masked
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


def _half_plus_decay(updates, params):
    # A function of whole trees (for stateless): params may be None.
    if params is None:
        return jax.tree.map(lambda g: 0.5 * g, updates)
    return jax.tree.map(lambda g, p: 0.5 * g + 0.1 * p, updates, params)


def _leaf_rule(g, p):
    # A function of one leaf (for stateless_with_tree_map).
    return g if p is None else g * jnp.tanh(jnp.abs(p) + 0.5)


def _squash(updates, params):
    del params
    return jax.tree.map(jnp.tanh, updates)


# name: (ours, optax's): every transformation, and each function in two forms
TRANSFORMS = {
    "centralize": (elementwise.centralize, optax.centralize),
    "set_to_zero": (elementwise.set_to_zero, optax.set_to_zero),
    "zero_nans": (elementwise.zero_nans, optax.zero_nans),
    "stateless": (
        lambda: elementwise.stateless(_half_plus_decay),
        lambda: optax.stateless(_half_plus_decay),
    ),
    "stateless-squash": (
        lambda: elementwise.stateless(_squash),
        lambda: optax.stateless(_squash),
    ),
    "stateless_with_tree_map": (
        lambda: elementwise.stateless_with_tree_map(_leaf_rule),
        lambda: optax.stateless_with_tree_map(_leaf_rule),
    ),
    "stateless_with_tree_map-sin": (
        lambda: elementwise.stateless_with_tree_map(lambda g, p: jnp.sin(g)),
        lambda: optax.stateless_with_tree_map(lambda g, p: jnp.sin(g)),
    ),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_matches_optax_over_300_steps(name):
    ours, theirs = TRANSFORMS[name]
    params = nested_params()
    got, state = run(gdjax.chain(ours(), gdjax.scale(-0.05)), params)
    want, their_state = run(optax.chain(theirs(), optax.scale(-0.05)), params)
    if name != "set_to_zero":
        assert_moved(params, got)
    assert_trees_close(got, want)
    assert type(state[0]).__name__ == type(their_state[0]).__name__
    assert state[0]._fields == their_state[0]._fields
    # Different NamedTuple classes: compare the fields' trees.
    assert_trees_close(tuple(state[0]), tuple(their_state[0]))


def test_keep_params_nonnegative_matches_optax_over_300_steps():
    # Last in the chain, after the step: params start >= 0 and stay >= 0.
    params = jax.tree.map(jnp.abs, nested_params())
    ours = gdjax.chain(gdjax.scale(-0.05), elementwise.keep_params_nonnegative())
    theirs = optax.chain(optax.scale(-0.05), optax.keep_params_nonnegative())
    got, _ = run(ours, params)
    want, _ = run(theirs, params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert all(np.all(np.asarray(x) >= 0) for x in jax.tree.leaves(got))
    # Some params were stopped at exactly 0 (the test is not vacuous).
    assert any(np.any(np.asarray(x) == 0) for x in jax.tree.leaves(got))


def _nan_grads(params, step):
    return jax.tree.map(
        lambda p: jnp.where(jnp.arange(p.size).reshape(p.shape) % 3 == step % 3, jnp.nan, p),
        params,
    )


def test_zero_nans_matches_optax_step_by_step():
    params = nested_params()
    ours, theirs = elementwise.zero_nans(), optax.zero_nans()
    state, their_state = ours.init(params), theirs.init(params)
    assert_trees_close(state.found_nan, their_state.found_nan)
    update, their_update = jax.jit(ours.update), jax.jit(theirs.update)
    for step in range(4):
        grads = _nan_grads(params, step) if step < 3 else params
        got, state = update(grads, state)
        want, their_state = their_update(grads, their_state)
        assert_trees_close(got, want, rtol=0, atol=0)
        assert type(state).__name__ == "ZeroNansState" and state._fields == ("found_nan",)
        assert jax.tree.leaves(state) == jax.tree.leaves(their_state)
        assert all(x.dtype == jnp.bool_ for x in jax.tree.leaves(state))
        assert not any(np.isnan(np.asarray(x)).any() for x in jax.tree.leaves(got))
    assert not any(bool(x) for x in jax.tree.leaves(state))  # the last step had none
    found = ours.update(_nan_grads(params, 0), state)[1].found_nan
    assert all(bool(x) for x in jax.tree.leaves(found))  # element 0 of every leaf


def test_centralize_subtracts_the_mean_of_each_row():
    g = {"m": jnp.array([[1.0, 2.0, 6.0], [4.0, 5.0, 6.0]]), "v": jnp.array([1.0, 2.0])}
    tx = elementwise.centralize()
    out, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(out["m"], [[-2.0, -1.0, 3.0], [-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(out["v"], g["v"])  # vectors are left alone


def test_keep_params_nonnegative_needs_the_params():
    tx = elementwise.keep_params_nonnegative()
    g = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="keep_params_nonnegative needs the params"):
        tx.update(g, tx.init(g))
    out, _ = tx.update({"w": jnp.array([-3.0, -0.5])}, tx.init(g), {"w": jnp.array([1.0, 1.0])})
    np.testing.assert_array_equal(out["w"], [-1.0, -0.5])


def test_stateless_without_params_passes_none():
    tx = elementwise.stateless(_half_plus_decay)
    out, state = tx.update({"w": jnp.array([2.0])}, tx.init({"w": jnp.zeros(1)}))
    np.testing.assert_array_equal(out["w"], [1.0])
    assert state == gdjax.EmptyState()
    leafwise = elementwise.stateless_with_tree_map(_leaf_rule)
    out, _ = leafwise.update({"w": jnp.array([2.0])}, gdjax.EmptyState())
    np.testing.assert_array_equal(out["w"], [2.0])


def test_the_users_function_is_structure_and_a_bound_one_brings_its_data():
    # A plain function is an option: no leaves, and two transformations from the same
    # function share a structure; a gdjax Bound (a schedule, say) contributes its leaves.
    tx = elementwise.stateless(_half_plus_decay)
    assert jax.tree.leaves(tx) == []
    assert jax.tree.structure(tx) == jax.tree.structure(elementwise.stateless(_half_plus_decay))
    assert jax.tree.structure(tx) != jax.tree.structure(elementwise.stateless(_squash))
    scaled = elementwise.stateless(gdjax.bound.bind(_scaled_by, factor=0.25))
    assert jax.tree.leaves(scaled) == [0.25]
    traces = []

    @jax.jit
    def apply(tx, g):
        traces.append(None)
        return tx.update(g, tx.init(g))[0]

    g = {"w": jnp.array([4.0])}
    np.testing.assert_array_equal(apply(scaled, g)["w"], [1.0])
    doubled = jax.tree.map(lambda x: 2 * x, scaled)
    np.testing.assert_array_equal(apply(doubled, g)["w"], [2.0])
    assert len(traces) == 1


def _scaled_by(updates, params, *, factor):
    del params
    return jax.tree.map(lambda g: factor * g, updates)


@pytest.mark.parametrize("build", [elementwise.stateless, elementwise.stateless_with_tree_map])
def test_stateless_refuses_what_is_not_a_function(build):
    with pytest.raises(ValueError, match=r"^stateless(_with_tree_map)?: f must be a function.*0.5"):
        build(0.5)


@pytest.mark.parametrize(
    "name", [*TRANSFORMS, "keep_params_nonnegative"]
)  # every transformation keeps bfloat16
def test_bfloat16_updates_stay_bfloat16(name):
    if name == "keep_params_nonnegative":
        ours = elementwise.keep_params_nonnegative()
    else:
        ours = TRANSFORMS[name][0]()
    params = jax.tree.map(jnp.abs, nested_params(jnp.bfloat16))
    grads = jax.tree.map(lambda p: -2.0 * p + 0.25, params)
    out, state = jax.jit(ours.update)(grads, ours.init(params), params)
    assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(out))
    assert all(s.dtype in (jnp.bfloat16, jnp.bool_) for s in jax.tree.leaves(state))


@pytest.mark.parametrize(
    "name", ["centralize", "set_to_zero", "zero_nans", "keep_params_nonnegative"]
)
def test_zero_gradients_leave_params_unchanged(name):
    if name == "keep_params_nonnegative":
        ours = gdjax.chain(gdjax.scale(-0.05), elementwise.keep_params_nonnegative())
        params = jax.tree.map(jnp.abs, nested_params())
    else:
        ours = gdjax.chain(TRANSFORMS[name][0](), gdjax.scale(-0.05))
        params = nested_params()
    got, _ = run(ours, params, 5, lambda p: 0.0 * sum(jnp.sum(x) for x in jax.tree.leaves(p)))
    assert_trees_close(got, params, rtol=0, atol=0)


def test_set_to_zero_freezes_a_group_of_params():
    params = nested_params()
    tx = gdjax.chain(
        masked(elementwise.set_to_zero(), {"dense": True, "blocks": False, "scale": False}),
        gdjax.scale(-0.05),
    )
    got, _ = run(tx, params, 20)
    assert_trees_close(got["dense"], params["dense"], rtol=0, atol=0)
    assert_moved(params["blocks"], got["blocks"])


@pytest.mark.parametrize(
    "name",
    [
        "centralize",
        "keep_params_nonnegative",
        "zero_nans",
        "set_to_zero",
        "stateless",
        "stateless_with_tree_map",
    ],
)
def test_optax_signatures(name):
    def signature(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert signature(getattr(elementwise, name)) == signature(getattr(optax, name))


def test_zero_nans_state_has_optax_fields():
    assert elementwise.ZeroNansState._fields == optax.ZeroNansState._fields
