import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms.trust_ratio import (
    scale_by_param_block_norm,
    scale_by_param_block_rms,
    scale_by_trust_ratio,
)
from tests.helpers import assert_moved, assert_trees_close, nested_params, run

PARITY = {
    "trust_ratio": (scale_by_trust_ratio, optax.scale_by_trust_ratio),
    "trust_ratio-args": (
        lambda: scale_by_trust_ratio(0.5, 0.1, 1e-3),
        lambda: optax.scale_by_trust_ratio(0.5, 0.1, 1e-3),
    ),
    "block_norm": (scale_by_param_block_norm, optax.scale_by_param_block_norm),
    "block_norm-args": (
        lambda: scale_by_param_block_norm(1.5),
        lambda: optax.scale_by_param_block_norm(1.5),
    ),
    "block_rms": (scale_by_param_block_rms, optax.scale_by_param_block_rms),
    "block_rms-args": (
        lambda: scale_by_param_block_rms(0.9),
        lambda: optax.scale_by_param_block_rms(0.9),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    got, state = run(gdjax.chain(ours(), gdjax.scale_by_learning_rate(0.01)), params)
    want, expected = run(optax.chain(theirs(), optax.scale_by_learning_rate(0.01)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert [type(s).__name__ for s in state] == [type(s).__name__ for s in expected]


def test_trust_ratio_by_hand():
    params = {"w": jnp.array([[3.0, 0.0], [0.0, 4.0]]), "b": jnp.zeros(2), "s": jnp.asarray(2.0)}
    updates = {
        "w": jnp.array([[0.0, 1.0], [0.0, 0.0]]),
        "b": jnp.array([1.0, 2.0]),
        "s": jnp.asarray(0.5),
    }
    tx = scale_by_trust_ratio(trust_coefficient=0.1, eps=1.0)
    u, _ = tx.update(updates, tx.init(params), params)
    # w: 0.1 * 5 / (1 + 1) = 0.25; b: params of norm 0 keep their update; s: 0.1 * 2 / 1.5.
    np.testing.assert_allclose(u["w"], [[0.0, 0.25], [0.0, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(u["b"], [1.0, 2.0])
    np.testing.assert_allclose(u["s"], 0.5 * 0.2 / 1.5, rtol=1e-6)


def test_min_norm_floors_both_norms():
    tx = scale_by_trust_ratio(min_norm=2.0)
    p, g = jnp.array([0.0, 0.5]), jnp.array([0.0, 0.1])
    u, _ = tx.update(g, tx.init(p), p)
    np.testing.assert_allclose(u, g * 2.0 / 2.0)
    u, _ = tx.update(jnp.array([0.0, 8.0]), tx.init(p), p)
    np.testing.assert_allclose(u, [0.0, 8.0 * 2.0 / 8.0])


def test_block_scalings_by_hand():
    p = jnp.array([3.0, 4.0, 0.0, 0.0])
    g = jnp.ones(4)
    u, _ = scale_by_param_block_norm(0.1).update(g, (), p)
    np.testing.assert_allclose(u, 5.0 * g)
    u, _ = scale_by_param_block_rms(0.1).update(g, (), p)
    np.testing.assert_allclose(u, 2.5 * g)
    u, _ = scale_by_param_block_rms(3.0).update(g, (), p)
    np.testing.assert_allclose(u, 3.0 * g)


@pytest.mark.parametrize(
    "make", [scale_by_trust_ratio, scale_by_param_block_norm, scale_by_param_block_rms]
)
def test_the_params_are_required(make):
    tx = make()
    with pytest.raises(ValueError, match="needs the params"):
        tx.update({"a": jnp.ones(2)}, tx.init({"a": jnp.ones(2)}))
    # Nothing to scale, nothing needed.
    assert tx.update({}, tx.init({}))[0] == {}


def test_the_meta_gradient_is_finite_at_a_zero_block():
    # Differentiating through the step: the norm's root at 0 must not give NaN.
    def step(p):
        u, _ = scale_by_trust_ratio(min_norm=1e-3).update(jnp.ones(3), (), p)
        return jnp.sum(u)

    grad = jax.grad(step)(jnp.zeros(3))
    assert np.all(np.isfinite(grad))


BAD = [
    (lambda: scale_by_trust_ratio(min_norm=-1.0), "scale_by_trust_ratio: min_norm", -1.0),
    (
        lambda: scale_by_trust_ratio(trust_coefficient=-0.5),
        "scale_by_trust_ratio: trust_coefficient",
        -0.5,
    ),
    (lambda: scale_by_trust_ratio(eps=float("nan")), "scale_by_trust_ratio: eps", float("nan")),
    (lambda: scale_by_param_block_norm(-1e-3), "scale_by_param_block_norm: min_scale", -1e-3),
    (lambda: scale_by_param_block_rms(-2.0), "scale_by_param_block_rms: min_scale", -2.0),
]


@pytest.mark.parametrize("make,start,value", BAD)
def test_bad_values_are_refused(make, start, value):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value).startswith(start)
    assert repr(value) in str(error.value)


@pytest.mark.parametrize(
    "make", [scale_by_trust_ratio, scale_by_param_block_norm, scale_by_param_block_rms]
)
def test_bfloat16_params_give_bfloat16_updates(make):
    params = nested_params(jnp.bfloat16)
    tx = make()
    u, _ = tx.update(params, tx.init(params), params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))


@pytest.mark.parametrize(
    "make", [scale_by_trust_ratio, scale_by_param_block_norm, scale_by_param_block_rms]
)
def test_zero_gradients_give_zero_updates(make):
    params = nested_params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    tx = make()
    u, _ = tx.update(zeros, tx.init(params), params)
    assert all(not np.any(x) for x in jax.tree.leaves(u))
