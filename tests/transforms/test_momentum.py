import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from tests.helpers import assert_moved, assert_trees_close, nested_params, run

PARITY = {
    "trace": (lambda: gdjax.trace(0.9), lambda: optax.trace(0.9)),
    "trace-half": (lambda: gdjax.trace(0.5), lambda: optax.trace(0.5)),
    "trace-nesterov": (lambda: gdjax.trace(0.9, nesterov=True), lambda: optax.trace(0.9, True)),
    "ema": (lambda: gdjax.ema(0.9), lambda: optax.ema(0.9)),
    "ema-raw": (lambda: gdjax.ema(0.7, debias=False), lambda: optax.ema(0.7, debias=False)),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    got, _ = run(gdjax.chain(ours(), gdjax.scale(-0.01)), params)
    want, _ = run(optax.chain(theirs(), optax.scale(-0.01)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)


def test_trace_with_zero_decay_is_the_identity():
    g = jnp.array([1.0, -2.0])
    tx = gdjax.trace(0.0)
    state = tx.init(g)
    for _ in range(3):
        u, state = tx.update(g, state)
        np.testing.assert_array_equal(u, g)


def _descend(tx, grad, x0, steps):
    x = jnp.asarray(x0)
    state = tx.init(x)
    for _ in range(steps):
        u, state = tx.update(grad(x), state, x)
        x = gdjax.apply_updates(x, u)
    return x


@pytest.mark.parametrize("mu,eta", [(0.9, 0.02), (0.5, 0.4)])
def test_both_sign_conventions_of_the_texts_equal_sgd_with_momentum(mu, eta):
    def grad(x):
        return jnp.array([0.2, 4.0]) * x  # f = 0.1 x1^2 + 2 x2^2 (seed 003)

    x0 = np.array([-5.0, -2.0])
    # Seeds 000/001: v = mu*v - eta*g; x = x + v.
    x, v = x0.copy(), np.zeros(2)
    for _ in range(20):
        v = mu * v - eta * np.asarray(grad(jnp.asarray(x)))
        x = x + v
    book = x
    # Seeds 002/003: v = gamma*v + eta*g; x = x - v.
    x, v = x0.copy(), np.zeros(2)
    for _ in range(20):
        v = mu * v + eta * np.asarray(grad(jnp.asarray(x)))
        x = x - v
    d2l = x
    ours = _descend(gdjax.sgd(eta, momentum=mu), grad, x0.astype(np.float32), 20)
    np.testing.assert_allclose(book, d2l, rtol=1e-12)
    np.testing.assert_allclose(ours, book, rtol=1e-4, atol=1e-6)


def test_nesterov_params_are_the_look_ahead_of_the_nag_iterate():
    # NAG (seed 001 eq. 11.6): v = mu*v - eta*grad(x + mu*v); x = x + v.
    # trace(nesterov=True) stores p = x + mu*v, and v = -eta * trace.
    def grad(x):
        return jnp.array([0.2, 4.0]) * x

    mu, eta = 0.9, 0.05
    x, v = np.array([-5.0, -2.0]), np.zeros(2)
    tx = gdjax.sgd(eta, momentum=mu, nesterov=True)
    p = jnp.asarray(x, jnp.float32)
    state = tx.init(p)
    for _ in range(30):
        v = mu * v - eta * np.asarray(grad(jnp.asarray(x + mu * v)))
        x = x + v
        u, state = tx.update(grad(p), state, p)
        p = gdjax.apply_updates(p, u)
        velocity = -eta * np.asarray(state[0].trace)
        np.testing.assert_allclose(np.asarray(p) - mu * velocity, x, rtol=1e-4, atol=1e-5)


def test_accumulator_dtype():
    params = nested_params()
    tx = gdjax.trace(0.9, accumulator_dtype=jnp.bfloat16)
    state = tx.init(params)
    u, state = tx.update(params, state)
    assert all(t.dtype == jnp.bfloat16 for t in state.trace.values() if hasattr(t, "dtype"))
    assert u["scale"].dtype == jnp.float32
