import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms.factored import (
    FactoredState,
    ScaleBySM3State,
    decay_rate_pow,
    scale_by_factored_rms,
    scale_by_sm3,
)
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


def big_params():
    """``nested_params`` plus a (130, 128) matrix, which the default
    ``min_dim_size_to_factor=128`` factors, and a rank-3 leaf."""
    k = jax.random.split(jax.random.key(7), 2)
    params = nested_params()
    params["big"] = 0.5 * jax.random.normal(k[0], (130, 128))
    params["conv"] = jax.random.normal(k[1], (3, 5, 4))
    return params


def no_scalars(params):
    """optax's scale_by_sm3 fails on 0-d leaves (IndexError): drop them to compare."""
    return {k: v for k, v in params.items() if k != "scale"}


def _zhai(step, rate):
    """Zhai et al.'s capped decay."""
    return jnp.minimum(rate, 1.0 - (step + 1.0) ** -0.8)


FACTORED = {
    # The default min size 128 factors "big" only.
    "defaults": ({}, big_params, 100),
    "custom": (
        dict(decay_rate=0.6, min_dim_size_to_factor=2, epsilon=1e-20),
        big_params,
        300,
    ),
    "unfactored": (dict(factored=False, decay_rate=0.9), nested_params, 300),
    "decay-fn": (
        dict(min_dim_size_to_factor=3, decay_rate=0.95, decay_rate_fn=_zhai),
        nested_params,
        300,
    ),
}


@pytest.mark.parametrize("name", list(FACTORED))
def test_factored_rms_matches_optax(name):
    kwargs, make, steps = FACTORED[name]
    params = make()
    ours = gdjax.chain(scale_by_factored_rms(**kwargs), gdjax.scale_by_learning_rate(0.01))
    theirs = optax.chain(optax.scale_by_factored_rms(**kwargs), optax.scale_by_learning_rate(0.01))
    got, got_state = run(ours, params, steps=steps)
    want, want_state = run(theirs, params, steps=steps)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert type(got_state[0]).__name__ == type(want_state[0]).__name__ == "FactoredState"
    assert got_state[0]._fields == want_state[0]._fields
    for field in got_state[0]._fields:
        assert_trees_close(getattr(got_state[0], field), getattr(want_state[0], field))


def test_factored_state_has_optax_shapes():
    params = big_params()
    for size in (128, 2, 0):
        ours = scale_by_factored_rms(min_dim_size_to_factor=size).init(params)
        theirs = optax.scale_by_factored_rms(min_dim_size_to_factor=size).init(params)
        shapes = jax.tree.map(jnp.shape, tuple(ours))
        assert shapes == jax.tree.map(jnp.shape, tuple(theirs))
    state = scale_by_factored_rms(min_dim_size_to_factor=2).init(params)
    assert state.v_row["dense"]["w"].shape == (3,)  # (4, 3): the 4 rows' axis is dropped
    assert state.v_col["dense"]["w"].shape == (4,)
    assert state.v["dense"]["w"].shape == (1,)  # the placeholder
    assert state.v["dense"]["b"].shape == (3,)  # a vector is not factored


def test_step_offset_shifts_the_decay_schedule():
    params = nested_params()
    grads = jax.tree.map(lambda x: jnp.cos(3 * x) + 0.1, params)
    ours = scale_by_factored_rms(step_offset=3, min_dim_size_to_factor=2)
    theirs = optax.scale_by_factored_rms(step_offset=3, min_dim_size_to_factor=2)
    state, other = ours.init(params), theirs.init(params)
    # A fine-tuning run resumed at step 5: the schedule sees 5 - 3 = 2.
    state, other = state._replace(count=jnp.int32(5)), other._replace(count=jnp.int32(5))
    for _ in range(3):
        got, state = ours.update(grads, state, params)
        want, other = theirs.update(grads, other, params)
        assert_trees_close(got, want)
    assert int(state.count) == 8
    # Without the offset the schedule differs: the test can fail.
    plain = scale_by_factored_rms(min_dim_size_to_factor=2)
    s = plain.init(params)._replace(count=jnp.int32(5))
    s = plain.update(grads, s, params)[1]
    with pytest.raises(AssertionError):
        assert_trees_close(
            plain.update(grads, s, params)[0],
            ours.update(grads, ours.init(params)._replace(count=jnp.int32(6)), params)[0],
        )


def test_decay_rate_pow_is_adafactors_schedule():
    steps = jnp.arange(5)
    np.testing.assert_allclose(decay_rate_pow(steps), 1 - (steps + 1.0) ** -0.8, rtol=1e-6)
    assert float(decay_rate_pow(0)) == 0.0  # the first average is the first g**2


def test_factored_estimate_is_the_rank_one_formula():
    g = jnp.asarray([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    t = scale_by_factored_rms(min_dim_size_to_factor=2, epsilon=0.0)
    u, _ = t.update(g, t.init(g))
    rows, cols = jnp.mean(g**2, axis=1), jnp.mean(g**2, axis=0)
    v_hat = rows[:, None] * cols[None, :] / jnp.mean(rows)
    np.testing.assert_allclose(u, g / jnp.sqrt(v_hat), rtol=1e-6)


def test_factored_rms_bfloat16_and_zero_gradients():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), big_params())
    t = scale_by_factored_rms(min_dim_size_to_factor=2)
    state = t.init(params)
    grads = jax.tree.map(lambda x: jnp.sin(x) + 0.3, params)
    updates, state = jax.jit(t.update)(grads, state, params)
    for tree_ in (updates, state.v_row, state.v_col, state.v):
        assert {x.dtype for x in jax.tree.leaves(tree_)} == {jnp.dtype(jnp.bfloat16)}
    assert all(jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(updates))
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = jax.jit(t.update)(zeros, t.init(params), params)
    assert all(not jnp.any(x) for x in jax.tree.leaves(updates))


def test_min_dim_size_to_factor_is_static():
    t = scale_by_factored_rms(min_dim_size_to_factor=2)
    assert jax.tree.leaves(t) == [0.8, 0, 1e-30]  # decay_rate, step_offset, epsilon: data
    with pytest.raises(ValueError, match="min_dim_size_to_factor shapes the program"):
        jax.jit(lambda n: scale_by_factored_rms(min_dim_size_to_factor=n).init(1.0))(3)


def test_vmap_over_decay_rate():
    params = nested_params()

    def final(rate):
        t = gdjax.chain(
            scale_by_factored_rms(decay_rate=rate, min_dim_size_to_factor=2),
            gdjax.scale_by_learning_rate(0.01),
        )
        return run(t, params, steps=50)[0]

    rates = jnp.asarray([0.5, 0.9])
    both = jax.jit(jax.vmap(final))(rates)
    for i, rate in enumerate([0.5, 0.9]):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], both), final(rate))


@pytest.mark.parametrize(
    "name, value",
    [
        ("factored", 1),
        ("decay_rate", -0.1),
        ("decay_rate", float("nan")),
        ("step_offset", -1),
        ("step_offset", 1.5),
        ("min_dim_size_to_factor", -1),
        ("min_dim_size_to_factor", 2.5),
        ("epsilon", -1e-3),
        ("decay_rate_fn", 0.8),
    ],
)
def test_factored_rms_refuses_bad_values(name, value):
    with pytest.raises(ValueError, match=re.escape(f"scale_by_factored_rms: {name} ")) as info:
        scale_by_factored_rms(**{name: value})
    assert repr(value) in str(info.value)


# --------------------------------------------------------------------------- SM3

SM3 = {
    "defaults": {},
    "custom": dict(b1=0.5, b2=0.9, eps=1e-6),
}


@pytest.mark.parametrize("name", list(SM3))
def test_sm3_matches_optax(name):
    kwargs = SM3[name]
    params = no_scalars(big_params())
    ours = gdjax.chain(scale_by_sm3(**kwargs), gdjax.scale_by_learning_rate(0.05))
    theirs = optax.chain(optax.scale_by_sm3(**kwargs), optax.scale_by_learning_rate(0.05))
    got, got_state = run(ours, params)
    want, want_state = run(theirs, params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert type(got_state[0]).__name__ == "ScaleBySM3State"
    assert got_state[0]._fields == want_state[0]._fields == ScaleBySM3State._fields
    assert_trees_close(tuple(got_state[0]), tuple(want_state[0]))


def test_sm3_accumulators_are_the_row_and_column_maxima():
    g = jnp.asarray([[1.0, -2.0, 0.5], [3.0, 0.0, 1.0]])
    t = scale_by_sm3(b1=0.0)
    u, state = t.update(g, t.init(g))
    np.testing.assert_allclose(state.mu[0], jnp.max(g**2, axis=1))
    np.testing.assert_allclose(state.mu[1], jnp.max(g**2, axis=0))
    np.testing.assert_allclose(u, jnp.sign(g), rtol=1e-6)  # first step: g / |g|, 0 at 0
    past = jnp.minimum(state.mu[0][:, None], state.mu[1][None, :])
    u, state = t.update(g, state)
    total = g**2 + past  # b2 = 1: the sum of squares, bounded through the cover
    np.testing.assert_allclose(state.mu[0], jnp.max(total, axis=1))
    np.testing.assert_allclose(state.mu[1], jnp.max(total, axis=0))
    np.testing.assert_allclose(u, g / jnp.sqrt(total + 1e-8), rtol=1e-6)


def test_sm3_scalar_leaf_is_a_one_element_cover():
    """A 0-d leaf (optax fails on it) is treated as a one-element vector."""
    t = scale_by_sm3()
    scalar, vector = jnp.asarray(0.7), jnp.asarray([0.7])
    s_scalar, s_vector = t.init(scalar), t.init(vector)
    assert [m.shape for m in s_scalar.mu] == [()]
    for g in (0.3, -1.2, 0.0, 2.0):
        u_s, s_scalar = t.update(jnp.asarray(g), s_scalar)
        u_v, s_vector = t.update(jnp.asarray([g]), s_vector)
        assert u_s.shape == ()
        np.testing.assert_allclose(u_s, u_v[0])
    params = nested_params()
    final, _ = run(gdjax.chain(t, gdjax.scale_by_learning_rate(0.05)), params)
    assert_moved(params, final)


def test_sm3_bfloat16_and_zero_gradients():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), big_params())
    t = scale_by_sm3()
    grads = jax.tree.map(lambda x: jnp.sin(x) + 0.3, params)
    updates, state = jax.jit(t.update)(grads, t.init(params), params)
    for tree_ in (updates, state.mu, state.nu):
        assert {x.dtype for x in jax.tree.leaves(tree_)} == {jnp.dtype(jnp.bfloat16)}
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = jax.jit(t.update)(zeros, t.init(params), params)
    assert all(not jnp.any(x) for x in jax.tree.leaves(updates))


@pytest.mark.parametrize(
    "name, value",
    [("b1", -0.1), ("b1", 1.5), ("b2", 1.01), ("b2", float("nan")), ("eps", -1.0)],
)
def test_sm3_refuses_bad_values(name, value):
    with pytest.raises(ValueError, match=re.escape(f"scale_by_sm3: {name} ")) as info:
        scale_by_sm3(**{name: value})
    assert repr(value) in str(info.value)


def test_states_are_optax_named():
    assert FactoredState._fields == optax.FactoredState._fields
    assert ScaleBySM3State._fields == optax.ScaleBySM3State._fields
