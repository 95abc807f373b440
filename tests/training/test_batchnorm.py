"""Batch normalization (seed 002 §6.2) against a hand-written NumPy version and flax's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdjax.training import models

flax_linen = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

MOMENTUM, EPS = 0.9, 1e-5


def _inputs(n=12, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, features)) * 3 + 2).astype(np.float32)
    params = {
        "gamma": rng.uniform(0.5, 2.0, features).astype(np.float32),
        "beta": rng.normal(size=features).astype(np.float32),
    }
    state = {
        "mean": rng.normal(size=features).astype(np.float32),
        "var": rng.uniform(0.5, 2.0, features).astype(np.float32),
    }
    upstream = rng.normal(size=(n, features)).astype(np.float32)  # dL/dy of L = sum(g * y)
    return x, params, state, upstream


def _numpy_batch_norm(x, params, state, weights):
    """Forward, new running averages and the gradients of sum(g * y) by hand, in float64:
    y = gamma * xhat + beta with xhat = (x - m) / sqrt(v + eps), m and v the weighted
    mean and biased variance. Differentiating through m and v (sum_i w_i (x_i - m) = 0):
        dL/dx_j = gamma s (g_j - w_j/W sum_i g_i - w_j/W xhat_j sum_i g_i xhat_i)."""
    x, w = np.asarray(x, np.float64), np.asarray(weights, np.float64)
    total = w.sum()
    mean = w @ x / total
    var = w @ (x - mean) ** 2 / total
    s = 1 / np.sqrt(var + EPS)
    xhat = (x - mean) * s
    y = params["gamma"] * xhat + params["beta"]
    new_state = {
        "mean": MOMENTUM * state["mean"] + (1 - MOMENTUM) * mean,
        "var": MOMENTUM * state["var"] + (1 - MOMENTUM) * var,
    }

    def grads(g):
        g = np.asarray(g, np.float64)
        sum_g, sum_gx = g.sum(0), (g * xhat).sum(0)
        dx = params["gamma"] * s * (g - w[:, None] / total * (sum_g + xhat * sum_gx))
        return dx, sum_gx, sum_g

    return y, new_state, grads


def _gdjax_grads(params, state, x, training, g):
    def loss(x, gamma, beta):
        y, _ = models.batch_norm({"gamma": gamma, "beta": beta}, state, x, training, MOMENTUM)
        return jnp.sum(y * g)

    return jax.grad(loss, argnums=(0, 1, 2))(x, params["gamma"], params["beta"])


@pytest.mark.parametrize("masked", [False, True])
def test_training_mode_matches_numpy_forward_running_averages_and_gradients(masked):
    x, params, state, g = _inputs()
    mask = np.arange(len(x)) < (9 if masked else len(x))
    training = mask if masked else True
    y, new_state = models.batch_norm(params, state, x, training, MOMENTUM, EPS)
    want_y, want_state, grads = _numpy_batch_norm(x, params, state, mask)
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
    for name in ("mean", "var"):
        np.testing.assert_allclose(new_state[name], want_state[name], rtol=1e-5, atol=1e-6)
    for got, want in zip(_gdjax_grads(params, state, x, training, g), grads(g), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_evaluation_mode_uses_the_running_averages_and_leaves_them():
    x, params, state, g = _inputs()
    y, new_state = models.batch_norm(params, state, x, False, MOMENTUM, EPS)
    s = 1 / np.sqrt(state["var"].astype(np.float64) + EPS)
    want = params["gamma"] * (x - state["mean"]) * s + params["beta"]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    assert new_state is state
    dx, dgamma, dbeta = _gdjax_grads(params, state, x, False, g)
    np.testing.assert_allclose(dx, g * params["gamma"] * s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dgamma, (g * (x - state["mean"]) * s).sum(0), rtol=1e-4)
    np.testing.assert_allclose(dbeta, g.sum(0), rtol=1e-5)
    # each example on its own: the others do not change its output
    alone, _ = models.batch_norm(params, state, x[:1], False)
    np.testing.assert_allclose(alone, y[:1], rtol=1e-6)


def _linen(x, params, state, training, mask=None):
    """flax.linen's BatchNorm, functional: ``(y, new_state)``."""
    layer = flax_linen.BatchNorm(use_running_average=not training, momentum=MOMENTUM, epsilon=EPS)
    variables = {
        "params": {"scale": params["gamma"], "bias": params["beta"]},
        "batch_stats": dict(state),
    }
    y, updated = layer.apply(variables, x, mask=mask, mutable=["batch_stats"])
    return y, updated["batch_stats"]


@pytest.mark.parametrize("training", [True, False])
def test_forward_running_averages_and_gradients_match_flax_linen(training):
    x, params, state, g = _inputs(seed=1)
    y, new_state = models.batch_norm(params, state, x, training, MOMENTUM, EPS)
    want_y, want_state = _linen(x, params, state, training)
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
    for name in ("mean", "var"):
        np.testing.assert_allclose(new_state[name], want_state[name], rtol=1e-5, atol=1e-6)

    def flax_loss(x, gamma, beta):
        y, _ = _linen(x, {"gamma": gamma, "beta": beta}, state, training)
        return jnp.sum(y * g)

    want = jax.grad(flax_loss, argnums=(0, 1, 2))(x, params["gamma"], params["beta"])
    got = _gdjax_grads(params, state, x, training, g)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_masked_statistics_match_flax_linen_with_a_mask():
    x, params, state, _ = _inputs(seed=2)
    mask = np.arange(len(x)) < 7
    y, new_state = models.batch_norm(params, state, x, mask, MOMENTUM, EPS)
    want_y, want_state = _linen(
        x, params, state, True, mask=np.broadcast_to(mask[:, None], x.shape)
    )
    np.testing.assert_allclose(y[mask], want_y[mask], rtol=1e-5, atol=1e-5)
    for name in ("mean", "var"):
        np.testing.assert_allclose(new_state[name], want_state[name], rtol=1e-5, atol=1e-6)
    # and equal to the real examples alone: the padding changes nothing
    alone, alone_state = models.batch_norm(params, state, x[mask], True, MOMENTUM, EPS)
    np.testing.assert_allclose(y[mask], alone, rtol=1e-6)
    np.testing.assert_allclose(new_state["var"], alone_state["var"], rtol=1e-6)


def test_nnx_batch_norm_agrees_in_training_then_evaluation_mode():
    x, params, _, _ = _inputs(seed=3)
    layer = nnx.BatchNorm(5, momentum=MOMENTUM, epsilon=EPS, rngs=nnx.Rngs(0))
    layer.scale[...] = jnp.asarray(params["gamma"])
    layer.bias[...] = jnp.asarray(params["beta"])
    _, state = models.batch_norm_init(5)
    for seed in range(3):  # three training steps move the running averages
        batch = _inputs(seed=10 + seed)[0]
        y, state = models.batch_norm(params, state, batch, True, MOMENTUM, EPS)
        np.testing.assert_allclose(y, layer(batch), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state["mean"], layer.mean[...], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state["var"], layer.var[...], rtol=1e-5, atol=1e-6)
    y, _ = models.batch_norm(params, state, x, False, MOMENTUM, EPS)
    np.testing.assert_allclose(y, layer(x, use_running_average=True), rtol=1e-5, atol=1e-5)


def test_bn_mlp_normalises_the_hidden_layers_and_keeps_a_state_per_layer():
    params, state = models.bn_mlp_init(jax.random.key(0), (6, 8, 4, 3))
    assert [sorted(layer) for layer in params] == [
        ["beta", "gamma", "w"],
        ["beta", "gamma", "w"],
        ["b", "w"],
    ]
    assert [jax.tree.map(jnp.shape, s) for s in state] == [
        {"mean": (8,), "var": (8,)},
        {"mean": (4,), "var": (4,)},
    ]
    x = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32) * 5 + 3
    outputs, trained = models.bn_mlp_apply(params, state, x, True)
    assert outputs.shape == (10, 3) and np.all((outputs > 0) & (outputs < 1))
    # the first hidden layer's pre-activations are standardised per unit
    pre, _ = models.batch_norm(params[0], state[0], x @ params[0]["w"], True)
    np.testing.assert_allclose(pre.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(pre.std(0), 1, atol=1e-3)
    np.testing.assert_allclose(trained[0]["mean"], 0.1 * (x @ params[0]["w"]).mean(0), rtol=1e-5)
    evaluated, same = models.bn_mlp_apply(params, state, x, False)
    assert all(a is b for a, b in zip(same, state, strict=True))  # left as they were
    assert not np.allclose(evaluated, outputs)  # the running averages are not the batch's
    losses, _ = models.bn_mlp_loss(params, state, {"x": x, "y": np.zeros(10, int)}, True)
    assert losses.shape == (10,)
    correct = models.bn_mlp_correct(params, state, {"x": x, "y": np.zeros(10, int)})
    np.testing.assert_array_equal(correct, np.argmax(evaluated, -1) == 0)


def test_a_bad_training_argument_is_named():
    x, params, state, _ = _inputs()
    with pytest.raises(ValueError, match=r"training must be a bool or a mask of shape \(12,\)"):
        models.batch_norm(params, state, x, np.ones(5, bool))
