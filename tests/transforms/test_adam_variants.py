"""AdaBelief, RAdam, Yogi, AMSGrad, Adan and NovoGrad transformations against optax 0.2.8,
against their written recursions, and in bfloat16."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms import adaptive
from gdjax.transforms.adam_variants import (
    ScaleByAdanState,
    ScaleByBeliefState,
    ScaleByNovogradState,
    scale_by_adan,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_novograd,
    scale_by_radam,
    scale_by_yogi,
)
from tests.helpers import assert_moved, assert_trees_close, nested_params, run

# name -> (gdjax transform, the optax transform with the same numbers); each is chained
# with scale(-lr) into a descent and run 300 steps on a nested pytree.
PARITY = {
    "belief-defaults": (lambda: scale_by_belief(), lambda: optax.scale_by_belief()),
    "belief-custom": (
        lambda: scale_by_belief(0.8, 0.99, 1e-8, 0.0, nesterov=True),
        lambda: optax.scale_by_belief(0.8, 0.99, 1e-8, 0.0, nesterov=True),
    ),
    "radam-defaults": (lambda: scale_by_radam(), lambda: optax.scale_by_radam()),
    "radam-custom": (
        lambda: scale_by_radam(0.8, 0.99, 1e-6, 1e-9, 6.0, nesterov=True),
        lambda: optax.scale_by_radam(0.8, 0.99, 1e-6, 1e-9, 6.0, nesterov=True),
    ),
    "yogi-defaults": (lambda: scale_by_yogi(), lambda: optax.scale_by_yogi()),
    "yogi-custom": (
        lambda: scale_by_yogi(0.8, 0.99, 1e-4, 1e-9, 0.1),
        lambda: optax.scale_by_yogi(0.8, 0.99, 1e-4, 1e-9, 0.1),
    ),
    "amsgrad-defaults": (lambda: scale_by_amsgrad(), lambda: optax.scale_by_amsgrad()),
    "amsgrad-custom": (
        lambda: scale_by_amsgrad(0.8, 0.99, 1e-6, 1e-9, None, False, False),
        lambda: optax.scale_by_amsgrad(0.8, 0.99, 1e-6, 1e-9, None, False, False),
    ),
    "adan-defaults": (lambda: scale_by_adan(), lambda: optax.scale_by_adan()),
    "adan-custom": (
        lambda: scale_by_adan(0.9, 0.8, 0.95, 1e-6, 1e-8),
        lambda: optax.scale_by_adan(0.9, 0.8, 0.95, 1e-6, 1e-8),
    ),
    "novograd-defaults": (lambda: scale_by_novograd(), lambda: optax.scale_by_novograd()),
    "novograd-custom": (
        lambda: scale_by_novograd(0.8, 0.5, 1e-6, 1e-8, 0.01),
        lambda: optax.scale_by_novograd(0.8, 0.5, 1e-6, 1e-8, 0.01),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    got, our_state = run(gdjax.chain(ours(), gdjax.scale(-0.01)), params)
    want, their_state = run(optax.chain(theirs(), optax.scale(-0.01)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    # The same state: class name, field names and order, and values.
    ours_, theirs_ = our_state[0], their_state[0]
    assert type(ours_).__name__ == type(theirs_).__name__
    assert ours_._fields == theirs_._fields
    # NovoGrad's momentum sums g / |g| per leaf, entries of order 1: near the minimum,
    # where |g| is small, last-bit differences in g turn its direction by ~1e-4 absolute
    # (the params, which move by lr times it, agree to 1e-5).
    atol = 1e-3 if name.startswith("novograd") else 1e-6
    assert_trees_close(tuple(ours_), tuple(theirs_), rtol=1e-4, atol=atol)


def test_state_classes_are_shared_where_optax_shares_them():
    params = nested_params()
    assert isinstance(scale_by_belief().init(params), ScaleByBeliefState)
    assert isinstance(scale_by_adan().init(params), ScaleByAdanState)
    assert isinstance(scale_by_novograd().init(params), ScaleByNovogradState)
    # optax's RAdam and Yogi keep Adam's state; its AMSGrad's is the one of adam(amsgrad=True).
    assert type(scale_by_radam().init(params)) is adaptive.ScaleByAdamState
    assert type(scale_by_yogi().init(params)) is adaptive.ScaleByAdamState
    assert type(scale_by_amsgrad().init(params)) is adaptive.ScaleByAmsgradState


def test_amsgrad_with_both_corrections_is_adam_amsgrad():
    params = nested_params()
    got, _ = run(gdjax.chain(scale_by_amsgrad(0.8, 0.99), gdjax.scale(-0.01)), params)
    want, _ = run(
        gdjax.chain(gdjax.scale_by_adam(0.8, 0.99, amsgrad=True), gdjax.scale(-0.01)), params
    )
    assert_trees_close(got, want, rtol=1e-6)


def _steps(tx, grads, params=None):
    state = tx.init(jnp.zeros_like(grads[0]) if params is None else params)
    update = jax.jit(tx.update)
    out = []
    for g in grads:
        u, state = update(jnp.asarray(g, jnp.float32), state, params)
        out.append(np.asarray(u))
    return np.array(out)


def test_radam_follows_the_written_recursion():
    # b2 = 0.75: rho_inf = 7, and rho_t first reaches the threshold 5 at t = 8.
    grads = np.random.default_rng(0).normal(size=(20, 4))
    b1, b2, eps = 0.5, 0.75, 1e-6
    got = _steps(scale_by_radam(b1, b2, eps), grads)
    m = v = np.zeros(4)
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho >= 5:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            want = r * m_hat / (np.sqrt(v_hat) + eps)
        else:
            want = m_hat
        assert (rho >= 5) == (t >= 8)
        np.testing.assert_allclose(got[t - 1], want, rtol=2e-5)


def test_radam_keras_eps_adds_eps_to_the_raw_root():
    grads = np.random.default_rng(1).normal(size=(12, 3)) * 1e-3
    b1, b2, eps = 0.5, 0.75, 1e-3  # eps comparable to sqrt(v): the conventions differ
    got = _steps(scale_by_radam(b1, b2, eps, eps_convention="keras"), grads)
    other = _steps(scale_by_radam(b1, b2, eps), grads)
    m = v = np.zeros(3)
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho >= 5:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            want = r * np.sqrt(1 - b2**t) * m / (1 - b1**t) / (np.sqrt(v) + eps)
            assert not np.allclose(other[t - 1], want, rtol=1e-3)
        else:
            want = m / (1 - b1**t)
        np.testing.assert_allclose(got[t - 1], want, rtol=2e-5)


def test_adan_follows_the_written_recursion():
    grads = np.random.default_rng(2).normal(size=(15, 4))
    b1, b2, b3, eps = 0.7, 0.6, 0.9, 1e-6
    got = _steps(scale_by_adan(b1, b2, b3, eps), grads)
    m = v = n = previous = np.zeros(4)
    for t, g in enumerate(grads, start=1):
        d = g - previous if t > 1 else np.zeros(4)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * d
        n = b3 * n + (1 - b3) * (g + (1 - b2) * d) ** 2
        m_hat, v_hat, n_hat = m / (1 - b1**t), v / (1 - b2**t), n / (1 - b3**t)
        want = (m_hat + (1 - b2) * v_hat) / (np.sqrt(n_hat) + eps)
        np.testing.assert_allclose(got[t - 1], want, rtol=2e-5)
        previous = g


def test_novograd_follows_the_written_recursion_per_leaf():
    rng = np.random.default_rng(3)
    params = {"a": jnp.asarray(rng.normal(size=3), jnp.float32), "b": jnp.float32(0.5)}
    grads = [{"a": rng.normal(size=3), "b": rng.normal()} for _ in range(10)]
    b1, b2, eps, wd = 0.8, 0.5, 1e-6, 0.01
    tx = scale_by_novograd(b1, b2, eps, weight_decay=wd)
    state = tx.init(params)
    update = jax.jit(tx.update)
    m = {"a": np.zeros(3), "b": 0.0}
    v = {"a": 0.0, "b": 0.0}
    for t, g in enumerate(grads, start=1):
        u, state = update(jax.tree.map(jnp.float32, g), state, params)
        for k in g:
            square = np.sum(np.square(g[k]))
            v[k] = square if t == 1 else b2 * v[k] + (1 - b2) * square
            step = g[k] / (np.sqrt(v[k]) + eps) + wd * np.asarray(params[k])
            m[k] = step if t == 1 else b1 * m[k] + step
            np.testing.assert_allclose(u[k], m[k], rtol=2e-5)
            assert state.nu[k].shape == ()


def test_novograd_weight_decay_schedule():
    params = nested_params()
    constant = scale_by_novograd(weight_decay=gdjax.schedules.constant(0.05))
    got, _ = run(gdjax.chain(constant, gdjax.scale(-0.01)), params, steps=50)
    fixed = scale_by_novograd(weight_decay=0.05)
    want, _ = run(gdjax.chain(fixed, gdjax.scale(-0.01)), params, steps=50)
    assert_trees_close(got, want, rtol=1e-6)
    none, _ = run(gdjax.chain(scale_by_novograd(), gdjax.scale(-0.01)), params, steps=50)
    assert not np.allclose(got["scale"], none["scale"])


def test_novograd_needs_the_params():
    tx = scale_by_novograd()
    params = nested_params()
    with pytest.raises(ValueError, match="needs the params"):
        tx.update(params, tx.init(params))


def test_yogi_second_moment_moves_by_at_most_its_rate():
    # From v = 1, a gradient of 0.1 moves v by (1 - b2) * 0.01 down, not to ~0.01.
    tx = scale_by_yogi(b2=0.9, initial_accumulator_value=1.0)
    _, state = tx.update(jnp.array([0.1]), tx.init(jnp.zeros(1)))
    np.testing.assert_allclose(state.nu, [1 - 0.1 * 0.01], rtol=1e-6)
    _, state = tx.update(jnp.array([10.0]), state)
    np.testing.assert_allclose(state.nu, [0.999 + 0.1 * 100], rtol=1e-6)


FACTORIES = {
    "belief": scale_by_belief,
    "radam": scale_by_radam,
    "yogi": scale_by_yogi,
    "amsgrad": scale_by_amsgrad,
    "adan": scale_by_adan,
    "novograd": scale_by_novograd,
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_bfloat16_params_give_bfloat16_updates_and_state(name):
    tx = FACTORIES[name]()
    params = nested_params(jnp.bfloat16)
    state = tx.init(params)
    update = jax.jit(tx.update)
    for _ in range(3):
        updates, state = update(params, state, params)
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.bfloat16)}
    # Every leaf of the state is the int32 step count or in the params' dtype.
    for leaf in jax.tree.leaves(state):
        assert leaf.dtype == jnp.bfloat16 or (leaf.dtype == jnp.int32 and leaf.ndim == 0)
    assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(updates))


@pytest.mark.parametrize("name", ["belief", "radam", "amsgrad", "adan", "novograd"])
def test_zero_gradients_give_zero_updates(name):
    # Not Yogi: its moments start at 1e-6, so its first steps move even without a gradient.
    tx = FACTORIES[name]()
    params = nested_params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = tx.init(params)
    update = jax.jit(tx.update)
    for _ in range(8):  # past RAdam's first rectified step
        u, state = update(zeros, state, params)
        for leaf in jax.tree.leaves(u):
            np.testing.assert_array_equal(np.asarray(leaf), 0.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: scale_by_belief(b1=1.0), "scale_by_belief: b1 must be in [0, 1), got 1.0"),
        (lambda: scale_by_belief(eps_root=-1.0), "scale_by_belief: eps_root must be in"),
        (lambda: scale_by_radam(threshold=3.0), "scale_by_radam: threshold must be in [4, inf)"),
        (lambda: scale_by_radam(eps_convention="torch"), "eps_convention must be 'optax'"),
        (lambda: scale_by_yogi(initial_accumulator_value=-1e-6), "initial_accumulator_value"),
        (lambda: scale_by_amsgrad(bias_correction_mu=1), "bias_correction_mu must be True"),
        (lambda: scale_by_adan(b3=1.5), "scale_by_adan: b3 must be in [0, 1), got 1.5"),
        (lambda: scale_by_novograd(b2=1.5), "scale_by_novograd: b2 must be in [0, 1], got 1.5"),
        (lambda: scale_by_novograd(weight_decay=-0.1), "weight_decay must be in [0, inf)"),
    ],
)
def test_bad_hyperparameters_are_refused(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
