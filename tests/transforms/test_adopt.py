import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gdjax
from gdjax.transforms.adopt import quarter_power, scale_by_adopt
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


def _linear_bound(count):
    """A clipping bound other than the default, shared by both libraries."""
    return 0.5 + 0.01 * count


# (gdjax transform, optax.contrib transform with the same arguments).
PARITY = {
    "defaults": (lambda: scale_by_adopt(), lambda: optax.contrib.scale_by_adopt()),
    "custom": (
        lambda: scale_by_adopt(0.8, 0.99, 1e-5),
        lambda: optax.contrib.scale_by_adopt(0.8, 0.99, 1e-5),
    ),
    "nesterov": (
        lambda: scale_by_adopt(0.85, nesterov=True),
        lambda: optax.contrib.scale_by_adopt(0.85, nesterov=True),
    ),
    "no-clipping": (
        lambda: scale_by_adopt(0.9, 0.999, use_clipping=False),
        lambda: optax.contrib.scale_by_adopt(0.9, 0.999, use_clipping=False),
    ),
    "clip-fn": (
        lambda: scale_by_adopt(clip_value_fn=_linear_bound),
        lambda: optax.contrib.scale_by_adopt(clip_value_fn=_linear_bound),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_contrib_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    got, got_state = run(gdjax.chain(ours(), gdjax.scale(-0.01)), params)
    want, want_state = run(optax.chain(theirs(), optax.scale(-0.01)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert type(got_state[0])._fields == type(want_state[0])._fields
    assert_trees_close(tuple(got_state[0]), tuple(want_state[0]))


def test_the_first_step_is_zero_and_fills_v_with_the_squared_gradient():
    tx = scale_by_adopt()
    g = jnp.array([0.5, -2.0, 3.0])
    u, state = tx.update(g, tx.init(jnp.zeros(3)))
    np.testing.assert_array_equal(u, 0.0)
    np.testing.assert_allclose(state.nu, g**2)
    np.testing.assert_array_equal(state.mu, 0.0)


def test_follows_the_written_recursion():
    # An independent reference in NumPy float64: normalise by the previous v, clip, average.
    grads = np.random.default_rng(0).normal(size=(30, 4))
    b1, b2, eps = 0.8, 0.95, 1e-6
    tx = scale_by_adopt(b1, b2, eps)
    state = tx.init(jnp.zeros(4))
    m, v = np.zeros(4), np.zeros(4)
    for t, g in enumerate(grads):
        u, state = tx.update(jnp.asarray(g, jnp.float32), state)
        if t == 0:
            v = g**2
            np.testing.assert_array_equal(u, 0.0)
            continue
        n = np.clip(g / np.maximum(np.sqrt(v), eps), -(t**0.25), t**0.25)
        m = b1 * m + (1 - b1) * n
        v = b2 * v + (1 - b2) * g**2
        np.testing.assert_allclose(u, m, rtol=1e-4, atol=1e-7)


def test_clipping_bounds_the_normalised_gradient():
    tx = scale_by_adopt(b1=0.0, eps=1e-6)
    state = tx.init(jnp.zeros(2))
    _, state = tx.update(jnp.array([1e-3, 1.0]), state)
    # With b1 = 0 the update is the clipped normalised gradient: 1e3 and 1 clipped at 1**0.25.
    u, _ = tx.update(jnp.array([1.0, 1.0]), state)
    np.testing.assert_allclose(u, [1.0, 1.0])
    unclipped = scale_by_adopt(b1=0.0, eps=1e-6, use_clipping=False)
    state = unclipped.init(jnp.zeros(2))
    _, state = unclipped.update(jnp.array([1e-3, 1.0]), state)
    u, _ = unclipped.update(jnp.array([1.0, 1.0]), state)
    np.testing.assert_allclose(u, [1e3, 1.0], rtol=1e-5)


def test_default_bound_is_the_quarter_power():
    np.testing.assert_allclose(quarter_power(jnp.arange(5)), np.arange(5) ** 0.25, rtol=1e-6)


def test_bfloat16_params_give_bfloat16_updates_and_state():
    params = nested_params(jnp.bfloat16)
    tx = gdjax.chain(scale_by_adopt(), gdjax.scale(-0.01))
    state = tx.init(params)
    for _ in range(3):
        g = jax.grad(
            lambda p: sum(jnp.sum(x.astype(jnp.float32) ** 2) for x in jax.tree.leaves(p))
        )(params)
        u, state = tx.update(g, state, params)
        params = gdjax.apply_updates(params, u)
    for leaf in jax.tree.leaves((u, params, state[0].mu, state[0].nu)):
        assert leaf.dtype == jnp.bfloat16
    assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(u))


def test_mu_dtype_is_kept():
    tx = scale_by_adopt(mu_dtype=jnp.float32)
    params = jnp.ones(3, jnp.bfloat16)
    state = tx.init(params)
    u, state = tx.update(jnp.ones(3, jnp.bfloat16), state)
    u, state = tx.update(jnp.ones(3, jnp.bfloat16), state)
    assert state.mu.dtype == jnp.float32 and state.nu.dtype == jnp.bfloat16
    assert u.dtype == jnp.bfloat16


def test_zero_gradients_give_zero_updates():
    params = nested_params()
    tx = scale_by_adopt()
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    for _ in range(3):
        u, state = tx.update(zeros, state)
        for leaf in jax.tree.leaves(u):
            np.testing.assert_array_equal(leaf, 0.0)


@pytest.mark.parametrize(
    "kwargs, name, value",
    [
        ({"b1": 1.5}, "b1", 1.5),
        ({"b1": -0.1}, "b1", -0.1),
        ({"b2": 1.01}, "b2", 1.01),
        ({"eps": -1e-6}, "eps", -1e-6),
        ({"nesterov": 1}, "nesterov", 1),
        ({"use_clipping": "yes"}, "use_clipping", "yes"),
        ({"clip_value_fn": 0.25}, "clip_value_fn", 0.25),
    ],
)
def test_bad_arguments_are_refused(kwargs, name, value):
    with pytest.raises(ValueError, match="^scale_by_adopt: " + name) as error:
        scale_by_adopt(**kwargs)
    assert repr(value) in str(error.value)


def test_vmap_over_b1_equals_one_run_per_value():
    params = nested_params()

    def final(b1):
        return run(gdjax.chain(scale_by_adopt(b1), gdjax.scale(-0.01)), params, steps=50)[0]

    b1s = jnp.array([0.5, 0.9])
    swept = jax.jit(jax.vmap(final))(b1s)
    for i, b1 in enumerate(b1s):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], swept), final(b1), rtol=1e-6)


def test_signature_is_optax_contribs():
    mine = list(inspect.signature(scale_by_adopt).parameters.values())
    other = list(inspect.signature(optax.contrib.scale_by_adopt).parameters.values())
    assert [(p.name, p.kind) for p in mine] == [(p.name, p.kind) for p in other]
    # All defaults equal but clip_value_fn's: optax's is a lambda, gdjax's quarter_power.
    assert [p.default for p in mine[:-1]] == [p.default for p in other[:-1]]
    np.testing.assert_allclose(mine[-1].default(jnp.arange(9)), other[-1].default(jnp.arange(9)))
