"""A flax TrainState takes gdjax optimizers as its tx (DESIGN §2), step for step like optax's."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax

flax = pytest.importorskip("flax")
from flax import linen as nn  # noqa: E402
from flax.training import train_state  # noqa: E402


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3)(nn.tanh(nn.Dense(8)(x)))


PAIRS = {
    "sgd-momentum": (gdjax.sgd(0.1, momentum=0.9), optax.sgd(0.1, momentum=0.9)),
    "rmsprop": (gdjax.rmsprop(0.01), optax.rmsprop(0.01)),
    "adam": (gdjax.adam(1e-2), optax.adam(1e-2)),
    "adamw": (gdjax.adamw(1e-2), optax.adamw(1e-2)),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_train_state_with_a_gdjax_tx_equals_one_with_optax(name):
    model = MLP()
    x = jax.random.normal(jax.random.key(0), (16, 4))
    y = jax.random.normal(jax.random.key(1), (16, 3))
    params = model.init(jax.random.key(2), x)

    def loss(p):
        return jnp.mean((model.apply(p, x) - y) ** 2)

    @jax.jit
    def step(state):
        return state.apply_gradients(grads=jax.grad(loss)(state.params))

    ours, theirs = (
        train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)
        for tx in PAIRS[name]
    )
    for _ in range(50):
        ours, theirs = step(ours), step(theirs)
    assert int(ours.step) == 50
    assert loss(ours.params) < loss(params)
    for a, b in zip(jax.tree.leaves(ours.params), jax.tree.leaves(theirs.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(PAIRS))
def test_an_nnx_optimizer_with_a_gdjax_tx_equals_one_with_optax(name):
    nnx = pytest.importorskip("flax.nnx")
    x = jax.random.normal(jax.random.key(0), (16, 4))
    y = jax.random.normal(jax.random.key(1), (16, 3))

    def train(tx):
        model = nnx.Sequential(
            nnx.Linear(4, 8, rngs=nnx.Rngs(0)), nnx.tanh, nnx.Linear(8, 3, rngs=nnx.Rngs(1))
        )
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

        @nnx.jit
        def step(model, optimizer):
            loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
            optimizer.update(model, grads)
            return loss

        losses = [float(step(model, optimizer)) for _ in range(50)]
        return np.asarray(losses), nnx.state(model, nnx.Param)

    (ours, ours_params), (theirs, theirs_params) = (train(tx) for tx in PAIRS[name])
    assert ours[-1] < ours[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    for a, b in zip(jax.tree.leaves(ours_params), jax.tree.leaves(theirs_params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
