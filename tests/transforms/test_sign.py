import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms.sign import (
    ScaleByLionState,
    ScaleByRpropState,
    scale_by_lion,
    scale_by_rprop,
    scale_by_sign,
)
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


def _layout(state):
    """Every NamedTuple in a state: its class name and its fields, in order."""
    found = []

    def walk(x):
        if isinstance(x, tuple):
            if hasattr(x, "_fields"):
                found.append((type(x).__name__, x._fields))
            for child in x:
                walk(child)

    walk(state)
    return found


PARITY = {
    "sign": (scale_by_sign, optax.scale_by_sign),
    "lion": (scale_by_lion, optax.scale_by_lion),
    "lion-args": (
        lambda: scale_by_lion(0.7, 0.95, jnp.float32),
        lambda: optax.scale_by_lion(0.7, 0.95, jnp.float32),
    ),
    "lion-smooth": (
        lambda: scale_by_lion(mode="smooth", smooth_beta=3.0),
        lambda: optax.scale_by_lion(mode="smooth", smooth_beta=3.0),
    ),
    "lion-refined": (
        lambda: scale_by_lion(0.5, 0.9, mode="refined"),
        lambda: optax.scale_by_lion(0.5, 0.9, mode="refined"),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    got, state = run(gdjax.chain(ours(), gdjax.scale_by_learning_rate(0.003)), params)
    want, expected = run(optax.chain(theirs(), optax.scale_by_learning_rate(0.003)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert _layout(state) == _layout(expected)
    assert_trees_close(jax.tree.leaves(state), jax.tree.leaves(expected))


def test_lion_interpolates_with_b1_and_remembers_with_b2():
    tx = scale_by_lion(b1=0.5, b2=0.25, mode="refined")
    state = tx.init(jnp.zeros(2))
    u, state = tx.update(jnp.array([0.4, -4.0]), state)
    # c = 0.5 * 0 + 0.5 * g: linear inside [-1, 1], the sign outside; m = 0.75 * g.
    np.testing.assert_allclose(u, [0.2, -1.0])
    np.testing.assert_allclose(state.mu, [0.3, -3.0])
    u, state = tx.update(jnp.array([0.0, 0.0]), state)
    np.testing.assert_allclose(u, [0.15, -1.0])
    assert int(state.count) == 2


def _rprop_sequence(seed, steps=60, shape=(7,)):
    rng = np.random.default_rng(seed)
    # Mostly persistent signs with occasional flips and exact zeros.
    base = rng.standard_normal(shape)
    grads = []
    for _ in range(steps):
        g = base * np.where(rng.random(shape) < 0.3, -1, 1) + 0.1 * rng.standard_normal(shape)
        g[rng.random(shape) < 0.1] = 0.0
        grads.append(jnp.asarray(g, jnp.float32))
    return grads


@pytest.mark.parametrize(
    "args", [(0.01,), (0.5, 0.3, 1.5, 0.05, 2.0)], ids=["defaults", "non-default"]
)
def test_rprop_state_is_optax_and_the_step_is_the_one_just_computed(args):
    # optax 0.2.8 computes the same state, but returns the step of the previous call
    # (its pull request 1725): its update at t is ours at t - 1, zeroed on a sign flip.
    ours, theirs = scale_by_rprop(*args), optax.scale_by_rprop(*args)
    x = jnp.zeros(7)
    state, expected = ours.init(x), theirs.init(x)
    assert _layout(state) == _layout(expected)
    previous = jnp.zeros(7)
    flips = 0
    for g in _rprop_sequence(0):
        u, state = ours.update(g, state)
        v, expected = theirs.update(g, expected)
        assert_trees_close(jax.tree.leaves(state), jax.tree.leaves(expected))
        np.testing.assert_array_equal(u, expected.prev_updates)
        flipped = np.sign(g) * np.sign(previous) < 0
        flips += int(flipped.sum())
        np.testing.assert_array_equal(v, np.where(flipped, 0, previous))
        previous = u
    assert flips > 10


def test_rprop_first_step_moves_and_a_sign_flip_pauses():
    tx = scale_by_rprop(0.1)
    state = tx.init(jnp.zeros(1))
    steps = []
    for g in [1.0, 1.0, 1.0, -1.0, -1.0]:
        u, state = tx.update(jnp.array([g]), state)
        steps.append(float(u[0]))
    # Grow by 1.2 while the sign holds; a flip halves the size and skips the step;
    # the next step keeps the halved size (the memory was cleared).
    np.testing.assert_allclose(steps, [0.1, 0.12, 0.144, 0.0, -0.072], rtol=1e-6)


def test_rprop_clips_the_step_sizes():
    tx = scale_by_rprop(1.0, eta_minus=0.1, eta_plus=3.0, min_step_size=0.5, max_step_size=2.0)
    state = tx.init(jnp.zeros(1))
    for _ in range(4):
        _, state = tx.update(jnp.ones(1), state)
    np.testing.assert_allclose(state.step_sizes, [2.0])
    _, state = tx.update(-jnp.ones(1), state)
    np.testing.assert_allclose(state.step_sizes, [0.5])


def test_rprop_complex_coordinates_are_two_real_ones():
    grads = _rprop_sequence(1, steps=20, shape=(2, 3))
    complex_tx, real_tx = scale_by_rprop(0.1), scale_by_rprop(0.1)
    c_state = complex_tx.init(jnp.zeros(3, jnp.complex64))
    r_state = real_tx.init(jnp.zeros((2, 3)))
    for g in grads:
        u, c_state = complex_tx.update(jax.lax.complex(g[0], g[1]), c_state)
        v, r_state = real_tx.update(g, r_state)
        assert u.dtype == jnp.complex64
        np.testing.assert_array_equal(u.real, v[0])
        np.testing.assert_array_equal(u.imag, v[1])
    np.testing.assert_array_equal(c_state.step_sizes.imag, r_state.step_sizes[1])


BAD = [
    (lambda: scale_by_lion(b1=1.5), "scale_by_lion: b1", 1.5),
    (lambda: scale_by_lion(b2=-0.1), "scale_by_lion: b2", -0.1),
    (lambda: scale_by_lion(smooth_beta=-1.0), "scale_by_lion: smooth_beta", -1.0),
    (lambda: scale_by_lion(mode="soft"), "scale_by_lion: mode", "soft"),
    (lambda: scale_by_rprop(-0.1), "scale_by_rprop: learning_rate", -0.1),
    (lambda: scale_by_rprop(lambda c: 0.1), "scale_by_rprop: learning_rate", None),
    (lambda: scale_by_rprop(0.1, eta_minus=1.5), "scale_by_rprop: eta_minus", 1.5),
    (lambda: scale_by_rprop(0.1, eta_plus=0.9), "scale_by_rprop: eta_plus", 0.9),
    (lambda: scale_by_rprop(0.1, min_step_size=-1.0), "scale_by_rprop: min_step_size", -1.0),
    (lambda: scale_by_rprop(0.1, max_step_size=1e-7), "scale_by_rprop: max_step_size", 1e-7),
]


@pytest.mark.parametrize("make,start,value", BAD)
def test_bad_values_are_refused(make, start, value):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value).startswith(start)
    if value is not None:
        assert repr(value) in str(error.value)


@pytest.mark.parametrize("make", [scale_by_sign, scale_by_lion, lambda: scale_by_rprop(0.01)])
def test_bfloat16_params_give_bfloat16_updates_and_state(make):
    params = nested_params(jnp.bfloat16)
    tx = make()
    state = tx.init(params)
    for _ in range(2):
        u, state = tx.update(params, state, params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    leaves = [x for x in jax.tree.leaves(state) if x.shape != ()]
    assert all(x.dtype == jnp.bfloat16 for x in leaves)


@pytest.mark.parametrize("make", [scale_by_sign, scale_by_lion, lambda: scale_by_rprop(0.01)])
def test_zero_gradients_give_zero_updates(make):
    params = nested_params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    tx = make()
    state = tx.init(params)
    for _ in range(3):
        u, state = tx.update(zeros, state, params)
        assert all(not np.any(x) for x in jax.tree.leaves(u))


def test_states_are_the_named_tuples():
    params = nested_params()
    assert isinstance(scale_by_lion().init(params), ScaleByLionState)
    assert isinstance(scale_by_rprop(0.1).init(params), ScaleByRpropState)
    assert ScaleByLionState._fields == optax.ScaleByLionState._fields
    assert ScaleByRpropState._fields == optax.ScaleByRpropState._fields
