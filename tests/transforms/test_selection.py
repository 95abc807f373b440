import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms.selection import (
    ConditionallyMaskState,
    ConditionallyTransformState,
    conditionally_mask,
    conditionally_transform,
    freeze,
    selective_transform,
)
from tests.helpers import assert_moved, assert_trees_close, loss, nested_params, run

MASK = {"dense": {"w": True, "b": False}, "blocks": [False, {"gamma": True}], "scale": False}


def _every_third(step):
    return step % 3 == 0


def _signature(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_signatures_and_states_match_optax():
    for ours, theirs in (
        (freeze, optax.freeze),
        (selective_transform, optax.selective_transform),
        (conditionally_mask, optax.conditionally_mask),
        (conditionally_transform, optax.conditionally_transform),
    ):
        assert _signature(ours) == _signature(theirs)
    assert ConditionallyMaskState._fields == optax.ConditionallyMaskState._fields
    assert ConditionallyTransformState._fields == optax.ConditionallyTransformState._fields


# --------------------------------------------------------------------------- freeze


@pytest.mark.parametrize("mask", [MASK, False, {"dense": True, "blocks": False, "scale": True}])
def test_freeze_matches_optax(mask):
    params = nested_params()
    got, state = run(gdjax.chain(freeze(mask), gdjax.adam(0.01)), params)
    want, wstate = run(optax.chain(optax.freeze(mask), optax.adam(0.01)), params)
    assert_trees_close(got, want)
    assert type(state[0]).__name__ == type(wstate[0]).__name__ == "MaskedState"
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.any(a != b)), got, params))
    frozen = jax.tree.leaves(jax.tree.map(lambda m, p: jax.tree.map(lambda _: m, p), mask, params))
    assert moved == [not f for f in frozen]


def test_freeze_everything_and_a_jax_bool():
    params = nested_params()
    got, _ = run(gdjax.chain(freeze(jnp.array(True)), gdjax.adam(0.01)), params, 5)
    assert_trees_close(got, params, rtol=0, atol=0)


def test_freeze_refuses_non_bool_masks():
    with pytest.raises(ValueError, match=r"^freeze: .*True or False.*1"):
        freeze({"a": 1})
    with pytest.raises(ValueError, match=r"^selective_transform: .*True or False.*'x'"):
        selective_transform(gdjax.sgd(0.1), freeze_mask={"a": "x"})


def test_freeze_bfloat16():
    params = nested_params(jnp.bfloat16)
    tx = freeze(MASK)
    u, _ = tx.update(params, tx.init(params))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    np.testing.assert_array_equal(np.asarray(u["dense"]["w"], np.float32), 0)


# --------------------------------------------------------------------------- selective_transform


@pytest.mark.parametrize("mask", [MASK, False])
def test_selective_transform_matches_optax(mask):
    params = nested_params()
    got, state = run(
        selective_transform(gdjax.adamw(0.01, weight_decay=0.1), freeze_mask=mask), params
    )
    want, wstate = run(
        optax.selective_transform(optax.adamw(0.01, weight_decay=0.1), freeze_mask=mask), params
    )
    assert_moved(params["dense"]["b"], got["dense"]["b"])
    assert_trees_close(got, want)
    assert sorted(state.inner_states) == sorted(wstate.inner_states) == ["freeze", "train"]
    # The optimizer keeps state for the trained leaves only.
    assert len(jax.tree.leaves(state)) == len(jax.tree.leaves(wstate))
    if mask is MASK:
        # Weight decay moves no frozen leaf.
        np.testing.assert_array_equal(got["dense"]["w"], params["dense"]["w"])


def test_selective_transform_bfloat16_and_zero_gradients():
    params = nested_params(jnp.bfloat16)
    tx = selective_transform(gdjax.adam(0.01), freeze_mask=MASK)
    u, _ = jax.jit(tx.update)(params, tx.init(params), params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    zero = lambda p: 0.0 * loss(p)  # noqa: E731
    got, _ = run(tx, nested_params(), 10, zero)
    assert_trees_close(got, nested_params(), rtol=0, atol=0)


# --------------------------------------------------------------------------- conditionally_*


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (conditionally_transform, optax.conditionally_transform),
        (conditionally_mask, optax.conditionally_mask),
    ],
)
def test_conditionally_matches_optax(ours, theirs):
    params = nested_params()
    got, state = run(gdjax.chain(ours(gdjax.trace(0.9), _every_third), gdjax.scale(-0.01)), params)
    want, wstate = run(
        optax.chain(theirs(optax.trace(0.9), _every_third), optax.scale(-0.01)), params
    )
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert state[0]._fields == wstate[0]._fields
    assert int(state[0].step) == int(wstate[0].step) == 300
    assert_trees_close(
        jax.tree.leaves(state[0].inner_state), jax.tree.leaves(wstate[0].inner_state)
    )


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (conditionally_transform, optax.conditionally_transform),
        (conditionally_mask, optax.conditionally_mask),
    ],
)
def test_conditionally_forwards_extra_args_to_the_condition(ours, theirs):
    def above(step, value):
        return value > 20.0

    # Descends slowly while the loss is above 20; then faster (transform) or not at all (mask).
    params = nested_params()
    got, _ = run(
        gdjax.chain(ours(gdjax.scale(0.2), above, forward_extra_args=True), gdjax.scale(-0.01)),
        params,
        pass_value=True,
    )
    want, _ = run(
        optax.chain(theirs(optax.scale(0.2), above, forward_extra_args=True), optax.scale(-0.01)),
        params,
        pass_value=True,
    )
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert float(loss(got)) <= 20.0


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (conditionally_transform, optax.conditionally_transform),
        (conditionally_mask, optax.conditionally_mask),
    ],
)
def test_conditionally_without_forwarding_the_condition_gets_only_the_step(ours, theirs):
    tx = ours(gdjax.scale(0.2), lambda step, value: value > 20.0)
    params = {"a": jnp.ones(2)}
    with pytest.raises(TypeError):
        tx.update(params, tx.init(params), params, value=jnp.float32(1.0))


def test_conditionally_mask_gives_zeros_and_keeps_the_state():
    params = {"a": jnp.array([1.0, 2.0])}
    tx = conditionally_mask(gdjax.trace(0.5), lambda step: step == 1)
    state = tx.init(params)
    u, state = tx.update(params, state)
    np.testing.assert_array_equal(u["a"], 0.0)
    np.testing.assert_array_equal(state.inner_state.trace["a"], 0.0)
    u, state = tx.update(params, state)
    np.testing.assert_array_equal(u["a"], [1.0, 2.0])
    tx = conditionally_transform(gdjax.scale(3.0), lambda step: step == 1)
    u, _ = tx.update(params, tx.init(params))
    np.testing.assert_array_equal(u["a"], [1.0, 2.0])


@pytest.mark.parametrize("make", [conditionally_mask, conditionally_transform])
def test_conditionally_validation_and_bfloat16(make):
    owner = make.__name__
    with pytest.raises(ValueError, match=rf"^{owner}: forward_extra_args .*1"):
        make(gdjax.sgd(0.1), _every_third, forward_extra_args=1)
    with pytest.raises(ValueError, match=rf"^{owner}: should_transform_fn .*3"):
        make(gdjax.sgd(0.1), 3)
    params = nested_params(jnp.bfloat16)
    tx = make(gdjax.adam(0.01), _every_third)
    state = tx.init(params)
    u, state = jax.jit(tx.update)(params, state, params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state.inner_state[0].mu))


@pytest.mark.parametrize("make", [conditionally_mask, conditionally_transform])
def test_conditionally_zero_gradients_and_vmap_over_the_inner_rate(make):
    params = nested_params()
    zero = lambda p: 0.0 * loss(p)  # noqa: E731
    got, _ = run(make(gdjax.adam(0.1), _every_third), params, 10, zero)
    assert_trees_close(got, params, rtol=0, atol=0)

    def final(lr):
        return run(make(gdjax.sgd(lr, 0.9), _every_third), params, 30)[0]

    rates = jnp.array([0.01, 0.03])
    batched = jax.jit(jax.vmap(final))(rates)
    for i in range(2):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), final(float(rates[i])))
