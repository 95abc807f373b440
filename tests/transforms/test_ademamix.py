import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gdjax
from gdjax.transforms.ademamix import (
    ScaleByAdemamixState,
    ScaleBySimplifiedAdEMAMixState,
    scale_by_ademamix,
    scale_by_simplified_ademamix,
)
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


def _b3_warmup(count):
    """A b3 schedule shared by both libraries: from 0.9 to 0.999 over 100 steps."""
    return 0.9 + 0.099 * jnp.minimum(count / 100, 1.0)


def _alpha_warmup(count):
    """An alpha schedule shared by both libraries: from 0 to 8 over 150 steps."""
    return 8.0 * jnp.minimum(count / 150, 1.0)


# (gdjax transform, optax.contrib transform with the same arguments).
PARITY = {
    "ademamix-defaults": (lambda: scale_by_ademamix(), lambda: optax.contrib.scale_by_ademamix()),
    "ademamix-custom": (
        lambda: scale_by_ademamix(0.8, 0.99, 0.995, 3.0, 1e-6, 1e-9),
        lambda: optax.contrib.scale_by_ademamix(0.8, 0.99, 0.995, 3.0, 1e-6, 1e-9),
    ),
    "ademamix-schedules": (
        lambda: scale_by_ademamix(b3=_b3_warmup, alpha=_alpha_warmup),
        lambda: optax.contrib.scale_by_ademamix(b3=_b3_warmup, alpha=_alpha_warmup),
    ),
    "simplified-defaults": (
        lambda: scale_by_simplified_ademamix(),
        lambda: optax.contrib.scale_by_simplified_ademamix(),
    ),
    "simplified-custom": (
        lambda: scale_by_simplified_ademamix(0.9, 0.99, 2.0, 1e-6, 1e-9),
        lambda: optax.contrib.scale_by_simplified_ademamix(0.9, 0.99, 2.0, 1e-6, 1e-9),
    ),
    "simplified-schedule": (
        lambda: scale_by_simplified_ademamix(alpha=_alpha_warmup),
        lambda: optax.contrib.scale_by_simplified_ademamix(alpha=_alpha_warmup),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_contrib_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    lr = 0.001 if name.startswith("simplified") else 0.01  # simplified: m is a sum
    got, got_state = run(gdjax.chain(ours(), gdjax.scale(-lr)), params)
    want, want_state = run(optax.chain(theirs(), optax.scale(-lr)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert type(got_state[0])._fields == type(want_state[0])._fields
    assert_trees_close(tuple(got_state[0]), tuple(want_state[0]))


def test_state_names_are_optax_contribs():
    assert ScaleByAdemamixState._fields == optax.contrib.ScaleByAdemamixState._fields
    assert (
        ScaleBySimplifiedAdEMAMixState._fields
        == optax.contrib.ScaleBySimplifiedAdEMAMixState._fields
    )


def test_a_gdjax_schedule_matches_optaxs_schedule():
    params = nested_params()
    ours = scale_by_ademamix(b3=gdjax.schedules.linear(0.9, 0.999, 100))
    theirs = optax.contrib.scale_by_ademamix(b3=optax.linear_schedule(0.9, 0.999, 100))
    got, _ = run(gdjax.chain(ours, gdjax.scale(-0.01)), params)
    want, _ = run(optax.chain(theirs, optax.scale(-0.01)), params)
    assert_trees_close(got, want)


def test_alpha_zero_is_adam():
    params = nested_params()
    got, _ = run(gdjax.chain(scale_by_ademamix(alpha=0.0), gdjax.scale(-0.01)), params)
    want, _ = run(gdjax.chain(gdjax.scale_by_adam(), gdjax.scale(-0.01)), params)
    assert_moved(params, got)
    assert_trees_close(got, want, rtol=1e-6)


def test_ademamix_follows_the_written_recursion():
    grads = np.random.default_rng(0).normal(size=(40, 4))
    b1, b2, b3, alpha, eps = 0.8, 0.95, 0.99, 4.0, 1e-8
    tx = scale_by_ademamix(b1, b2, b3, alpha, eps)
    state = tx.init(jnp.zeros(4))
    m1, m2, v = np.zeros(4), np.zeros(4), np.zeros(4)
    for t, g in enumerate(grads, start=1):
        u, state = tx.update(jnp.asarray(g, jnp.float32), state)
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b3 * m2 + (1 - b3) * g
        v = b2 * v + (1 - b2) * g**2
        want = (m1 / (1 - b1**t) + alpha * m2) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(u, want, rtol=1e-4)


def test_simplified_follows_the_written_recursion():
    grads = np.random.default_rng(1).normal(size=(40, 4))
    b1, b2, alpha, eps = 0.9, 0.95, 3.0, 1e-8
    tx = scale_by_simplified_ademamix(b1, b2, alpha, eps)
    state = tx.init(jnp.zeros(4))
    m, n = np.zeros(4), np.zeros(4)
    for t, g in enumerate(grads, start=1):
        u, state = tx.update(jnp.asarray(g, jnp.float32), state)
        m = b1 * m + g
        n = b2 * n + (1 - b2) * g**2
        np.testing.assert_allclose(u, (m + alpha * g) / (np.sqrt(n / (1 - b2**t)) + eps), rtol=1e-4)


@pytest.mark.parametrize("factory", [scale_by_ademamix, scale_by_simplified_ademamix])
def test_bfloat16_params_give_bfloat16_updates_and_state(factory):
    params = nested_params(jnp.bfloat16)
    tx = factory()
    state = tx.init(params)
    g = jax.tree.map(lambda p: (2 * p).astype(jnp.bfloat16), params)
    for _ in range(3):
        u, state = tx.update(g, state)
    for leaf in jax.tree.leaves((u, state)):
        if leaf.ndim or leaf.dtype != jnp.int32:
            assert leaf.dtype == jnp.bfloat16
    assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(u))


def test_mu_dtype_applies_to_all_three_averages():
    state = scale_by_ademamix(mu_dtype=jnp.bfloat16).init(jnp.ones(3))
    assert state.m1.dtype == state.m2.dtype == state.nu.dtype == jnp.bfloat16


@pytest.mark.parametrize("factory", [scale_by_ademamix, scale_by_simplified_ademamix])
def test_zero_gradients_give_zero_updates(factory):
    params = nested_params()
    tx = factory()
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    for _ in range(3):
        u, state = tx.update(zeros, state)
        for leaf in jax.tree.leaves(u):
            np.testing.assert_array_equal(leaf, 0.0)


@pytest.mark.parametrize(
    "kwargs, name, value",
    [
        ({"b1": 1.0}, "b1", 1.0),
        ({"b2": -0.5}, "b2", -0.5),
        ({"b3": 1.5}, "b3", 1.5),
        ({"alpha": -1.0}, "alpha", -1.0),
        ({"eps": -1e-8}, "eps", -1e-8),
        ({"eps_root": float("nan")}, "eps_root", float("nan")),
    ],
)
def test_ademamix_bad_arguments_are_refused(kwargs, name, value):
    with pytest.raises(ValueError, match="^scale_by_ademamix: " + name) as error:
        scale_by_ademamix(**kwargs)
    assert repr(value) in str(error.value)


@pytest.mark.parametrize(
    "kwargs, name, value",
    [
        ({"b1": 1.0}, "b1", 1.0),
        ({"b2": 2.0}, "b2", 2.0),
        ({"alpha": -0.5}, "alpha", -0.5),
        ({"eps": -1.0}, "eps", -1.0),
        ({"eps_root": -1.0}, "eps_root", -1.0),
    ],
)
def test_simplified_bad_arguments_are_refused(kwargs, name, value):
    with pytest.raises(ValueError, match="^scale_by_simplified_ademamix: " + name) as error:
        scale_by_simplified_ademamix(**kwargs)
    assert repr(value) in str(error.value)


def test_vmap_over_alpha_equals_one_run_per_value():
    params = nested_params()

    def final(alpha):
        tx = gdjax.chain(scale_by_ademamix(alpha=alpha), gdjax.scale(-0.01))
        return run(tx, params, steps=50)[0]

    alphas = jnp.array([0.0, 6.0])
    swept = jax.jit(jax.vmap(final))(alphas)
    for i, alpha in enumerate(alphas):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], swept), final(alpha), rtol=1e-6)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (scale_by_ademamix, optax.contrib.scale_by_ademamix),
        (scale_by_simplified_ademamix, optax.contrib.scale_by_simplified_ademamix),
    ],
)
def test_signatures_are_optax_contribs(ours, theirs):
    def described(f):
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    assert described(ours) == described(theirs)
