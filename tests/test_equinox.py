"""equinox: a gdjax optimizer trains an eqx.Module step for step like optax's, and,
being a pytree, is an argument of ``eqx.filter_jit`` like the model itself."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax

eqx = pytest.importorskip("equinox")

PAIRS = {
    "sgd-nesterov": (gdjax.sgd(0.05, 0.9, nesterov=True), optax.sgd(0.05, 0.9, nesterov=True)),
    "rmsprop": (gdjax.rmsprop(0.01), optax.rmsprop(0.01)),
    "adam": (gdjax.adam(1e-2), optax.adam(1e-2)),
}


def problem():
    model = eqx.nn.MLP(4, 3, 8, 2, key=jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (32, 4))
    y = jax.random.normal(jax.random.key(2), (32, 3))
    return model, x, y


def loss(model, x, y):
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def train(model, optimizer, x, y, steps=200):
    @eqx.filter_jit
    def step(model, state):
        grads = eqx.filter_grad(loss)(model, x, y)
        updates, state = optimizer.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state

    state = optimizer.init(eqx.filter(model, eqx.is_array))
    for _ in range(steps):
        model, state = step(model, state)
    return model


@pytest.mark.parametrize("name", list(PAIRS))
def test_a_module_trained_with_gdjax_equals_one_trained_with_optax(name):
    model, x, y = problem()
    ours, theirs = (train(model, tx, x, y) for tx in PAIRS[name])
    for a, b in zip(
        jax.tree.leaves(eqx.filter(ours, eqx.is_array)),
        jax.tree.leaves(eqx.filter(theirs, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert loss(ours, x, y) < 0.9 * loss(model, x, y)


def test_the_optimizer_is_a_filter_jit_argument_compiled_once_for_array_rates():
    # filter_jit keeps Python numbers static (equinox's rule), arrays traced: rates as
    # arrays are data, so three rates are one program.
    model, x, y = problem()
    traces = 0

    @eqx.filter_jit
    def step(model, optimizer, state):
        nonlocal traces
        traces += 1
        grads = eqx.filter_grad(loss)(model, x, y)
        updates, state = optimizer.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates)

    moves = []
    for rate in (0.1, 0.01, 0.001):
        optimizer = gdjax.adam(jnp.float32(rate))
        stepped = step(model, optimizer, optimizer.init(eqx.filter(model, eqx.is_array)))
        moves.append(float(jnp.max(jnp.abs(stepped.layers[0].weight - model.layers[0].weight))))
    assert traces == 1
    # Adam's first step moves every weight by about the rate: each rate was used.
    np.testing.assert_allclose(moves, [0.1, 0.01, 0.001], rtol=1e-3)


def test_adamw_with_a_module_of_bools_as_mask_trains_like_optaxs():
    # The mask is itself an eqx.Module (callable, and a pytree of bools): decay the
    # weights, not the biases. It is read as a tree, as optax reads it.
    model, x, y = problem()
    params = eqx.filter(model, eqx.is_array)
    mask = jax.tree.map(lambda leaf: leaf.ndim == 2, params)
    assert callable(mask)
    ours, theirs = (
        train(model, adamw(1e-2, weight_decay=0.1, mask=mask), x, y, steps=100)
        for adamw in (gdjax.adamw, optax.adamw)
    )
    for a, b in zip(
        jax.tree.leaves(eqx.filter(ours, eqx.is_array)),
        jax.tree.leaves(eqx.filter(theirs, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The mask mattered: decaying everything gives another model.
    everywhere = train(model, gdjax.adamw(1e-2, weight_decay=0.1), x, y, steps=100)
    assert not np.allclose(everywhere.layers[0].bias, ours.layers[0].bias, atol=1e-4)
