"""Small models as plain functions over pytrees of params.

`mlp` is seed 001's network (its ``NN.py``): fully connected layers
initialised uniformly in [-0.5, 0.5], a sigmoid after every layer (the
output's too), trained on the squared error against one-hot labels. With
sizes ``(196, 100, 50, 10)`` it is the Fashion-MNIST model of the momentum
experiment; ``(64, 100, 50, 10)`` takes scikit-learn's 8×8 digits. `cnn` is a
small convolutional network for the optimizer comparison (seed 001 Fig. 11-11).
`batch_norm` is seed 002 §6.2's batch normalisation, and `bn_mlp` the MLP with
it between each hidden dense layer and its sigmoid; their running averages are
model state, trained beside the params by ``fit(..., model_state=...)``.

Every ``*_loss`` and `correct` returns one value per example, as
`gdjax.training.fit` expects.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Params = Any


# --------------------------------------------------------------------------- the MLP


def mlp_init(
    key: jax.Array, sizes: Sequence[int] = (196, 100, 50, 10), scale: float = 0.5
) -> Params:
    """Weights and biases uniform in ``[-scale, scale]`` (NN.py: ``np.random.rand(...) - 0.5``).

    Args:
      key: PRNG key.
      sizes: layer widths, input first. Default the texts' 196-100-50-10.
      scale: half-width of the uniform initialisation. Default 0.5.

    Returns:
      ``[{"w": (n_in, n_out), "b": (n_out,)}, ...]``, one dict per layer.
    """
    keys = jax.random.split(key, 2 * (len(sizes) - 1))
    return [
        {
            "w": jax.random.uniform(keys[2 * i], (n_in, n_out), minval=-scale, maxval=scale),
            "b": jax.random.uniform(keys[2 * i + 1], (n_out,), minval=-scale, maxval=scale),
        }
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
    ]


def mlp_apply(params: Params, x: jax.Array, activation=jax.nn.sigmoid) -> jax.Array:
    """The network's outputs: ``activation(x @ w + b)`` layer after layer, the last one too."""
    for layer in params:
        x = activation(x @ layer["w"] + layer["b"])
    return x


def mlp_loss(params: Params, batch: dict) -> jax.Array:
    """Per example: half the squared error between the outputs and the one-hot label.

    NN.py's mean-squared-error layer, ``0.5 * sum((y - one_hot)**2)``.
    """
    outputs = mlp_apply(params, batch["x"])
    targets = jax.nn.one_hot(batch["y"], outputs.shape[-1], dtype=outputs.dtype)
    return 0.5 * jnp.sum((outputs - targets) ** 2, axis=-1)


def deep_mlp_init(
    key: jax.Array, inputs: int = 64, width: int = 50, depth: int = 10, classes: int = 10
) -> Params:
    """A deep, narrow ReLU network for the gradient-noise experiment (seed 002 §6.4).

    He-scaled normal weights, zero biases; ``depth`` hidden layers of ``width``.
    """
    sizes = [inputs, *([width] * depth), classes]
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {
            "w": jax.random.normal(k, (n_in, n_out)) * jnp.sqrt(2.0 / n_in),
            "b": jnp.zeros((n_out,)),
        }
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def deep_mlp_apply(params: Params, x: jax.Array) -> jax.Array:
    """Logits of the deep network: ReLU hidden layers, a linear output."""
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


# --------------------------------------------------------------------------- batch normalization

ModelState = Any


def batch_norm_init(features: int) -> tuple[Params, ModelState]:
    """``({"gamma": ones, "beta": zeros}, {"mean": zeros, "var": ones})`` of ``features``
    channels: the layer starts as the identity on standardised inputs."""
    params = {"gamma": jnp.ones((features,)), "beta": jnp.zeros((features,))}
    state = {"mean": jnp.zeros((features,)), "var": jnp.ones((features,))}
    return params, state


def batch_norm(
    params: Params,
    state: ModelState,
    x: jax.Array,
    training: bool | jax.Array,
    momentum: float = 0.9,
    eps: float = 1e-5,
) -> tuple[jax.Array, ModelState]:
    """Batch normalization (seed 002 §6.2): ``gamma * (x - mean) / sqrt(var + eps) + beta``.

    In training mode ``mean`` and ``var`` are the batch's (the biased variance,
    over axis 0), so each step sees activations of mean ``beta`` and scale
    ``gamma`` whatever the layers before did, and the gradient flows through the
    statistics too; the running averages move towards them,
    ``running = momentum * running + (1 - momentum) * batch`` (flax's convention;
    PyTorch's ``momentum=0.1`` is ``0.9`` here). In evaluation mode the running
    averages stand in for the batch's, so an example's output does not depend on
    the others.

    Args:
      params: ``{"gamma", "beta"}``, each ``(features,)``.
      state: the running averages ``{"mean", "var"}``, each ``(features,)``.
      x: ``(batch, features)``.
      training: False for evaluation mode; True for training mode; or a boolean
        mask ``(batch,)`` of the examples that count (training mode over those only:
        `gdjax.training.fit` passes the mask of its padded last batch).
      momentum: of the running averages, in [0, 1]. Default 0.9.
      eps: added to the variance, > 0. Default 1e-5.

    Returns:
      ``(y, new_state)``: ``y`` like ``x``; ``new_state`` is ``state`` in evaluation mode.
    """
    if isinstance(training, (bool, np.bool_)) and not training:
        mean, var, new_state = state["mean"], state["var"], state
    else:
        mean, var = _moments(x, _weights(training, x))
        new_state = {
            "mean": momentum * state["mean"] + (1 - momentum) * mean,
            "var": momentum * state["var"] + (1 - momentum) * var,
        }
    y = (x - mean) * jax.lax.rsqrt(var + eps) * params["gamma"] + params["beta"]
    return y, new_state


def _weights(training: bool | jax.Array, x: jax.Array) -> jax.Array:
    """Each example's weight in the batch statistics: 1 for an example that counts, else 0."""
    if isinstance(training, (bool, np.bool_)):
        return jnp.ones(x.shape[:1], x.dtype)
    if jnp.shape(training) != x.shape[:1]:
        raise ValueError(
            f"batch_norm: training must be a bool or a mask of shape {x.shape[:1]} (one "
            f"entry per example), got {training!r}"
        )
    return jnp.asarray(training).astype(x.dtype)


def _moments(x: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The weighted mean and biased variance of ``x`` over axis 0 (two passes: the
    variance as the mean square about the mean, not E[x²] - E[x]², which cancels)."""
    total = jnp.maximum(jnp.sum(weights), 1)
    mean = weights @ x / total
    var = weights @ jnp.square(x - mean) / total
    return mean, var


def bn_mlp_init(
    key: jax.Array, sizes: Sequence[int] = (196, 100, 50, 10), scale: float = 0.5
) -> tuple[Params, ModelState]:
    """The texts' MLP (`mlp_init`) with batch normalization in every hidden layer.

    A hidden layer is ``sigmoid(batch_norm(x @ w))``: its bias is left out, since
    the normalisation subtracts it again and ``beta`` takes its place. The output
    layer is `mlp`'s, ``sigmoid(x @ w + b)``, so the outputs stay in (0, 1) for
    the squared error against one-hot labels.

    Args:
      key: PRNG key.
      sizes: layer widths, input first. Default the texts' 196-100-50-10.
      scale: half-width of the uniform initialisation of ``w`` and ``b``. Default 0.5.

    Returns:
      ``(params, model_state)``: params ``[{"w", "gamma", "beta"}, ..., {"w", "b"}]``,
      one dict per layer; model state the running averages ``[{"mean", "var"}, ...]``,
      one per hidden layer.
    """
    params, state = mlp_init(key, sizes, scale), []
    for layer in params[:-1]:
        norm, running = batch_norm_init(layer.pop("b").shape[0])
        layer.update(norm)
        state.append(running)
    return params, state


def bn_mlp_apply(
    params: Params,
    model_state: ModelState,
    x: jax.Array,
    training: bool | jax.Array,
    momentum: float = 0.9,
    eps: float = 1e-5,
) -> tuple[jax.Array, ModelState]:
    """``(outputs, new_model_state)`` of the BN MLP; ``training``, ``momentum`` and
    ``eps`` as for `batch_norm` (every hidden layer in the same mode)."""
    new_state = []
    for layer, running in zip(params[:-1], model_state, strict=True):
        x, running = batch_norm(layer, running, x @ layer["w"], training, momentum, eps)
        x = jax.nn.sigmoid(x)
        new_state.append(running)
    return jax.nn.sigmoid(x @ params[-1]["w"] + params[-1]["b"]), new_state


def bn_mlp_loss(
    params: Params, model_state: ModelState, batch: dict, training: bool | jax.Array
) -> tuple[jax.Array, ModelState]:
    """`mlp_loss` of the BN MLP, per example, and the new model state: the loss
    ``fit(..., model_state=...)`` calls (``training`` the batch's mask, or False)."""
    outputs, new_state = bn_mlp_apply(params, model_state, batch["x"], training)
    targets = jax.nn.one_hot(batch["y"], outputs.shape[-1], dtype=outputs.dtype)
    return 0.5 * jnp.sum((outputs - targets) ** 2, axis=-1), new_state


def bn_mlp_correct(params: Params, model_state: ModelState, batch: dict) -> jax.Array:
    """Per example, in evaluation mode: 1.0 where the largest output is the label, else
    0.0 (``Evaluation(metric=...)`` with ``model_state=``)."""
    outputs, _ = bn_mlp_apply(params, model_state, batch["x"], False)
    return correct(outputs, batch["y"])


# --------------------------------------------------------------------------- the CNN


def cnn_init(
    key: jax.Array,
    image_shape: Sequence[int] = (8, 8, 1),
    classes: int = 10,
    channels: Sequence[int] = (16, 32),
) -> Params:
    """Two 3×3 convolutions (ReLU, 2×2 max-pooling) and a dense output layer.

    Args:
      key: PRNG key.
      image_shape: ``(height, width, channels)`` of one image; height and width
        must be divisible by 4.
      classes: outputs.
      channels: feature maps of the two convolutions.
    """
    height, width, depth = image_shape
    if height % 4 or width % 4:
        raise ValueError(
            f"cnn_init: image height and width must be divisible by 4, got {image_shape}"
        )
    k1, k2, k3 = jax.random.split(key, 3)
    c1, c2 = channels

    def he(k, shape, fan_in):
        return jax.random.normal(k, shape) * jnp.sqrt(2.0 / fan_in)

    flat = (height // 4) * (width // 4) * c2
    return {
        "conv1": {"w": he(k1, (3, 3, depth, c1), 9 * depth), "b": jnp.zeros((c1,))},
        "conv2": {"w": he(k2, (3, 3, c1, c2), 9 * c1), "b": jnp.zeros((c2,))},
        "dense": {"w": he(k3, (flat, classes), flat), "b": jnp.zeros((classes,))},
    }


def _conv(x: jax.Array, layer: dict) -> jax.Array:
    y = jax.lax.conv_general_dilated(
        x,
        layer["w"],
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    y = jax.nn.relu(y + layer["b"])
    return jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def cnn_apply(params: Params, images: jax.Array) -> jax.Array:
    """Logits for a batch of images ``(n, height, width, channels)``."""
    x = _conv(_conv(images, params["conv1"]), params["conv2"])
    return x.reshape(x.shape[0], -1) @ params["dense"]["w"] + params["dense"]["b"]


# --------------------------------------------------------------------------- losses and metrics


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per example: softmax cross-entropy of integer labels."""
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[..., None], axis=-1)[..., 0]


def correct(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Per example: 1.0 where the largest output is the label, else 0.0."""
    return (jnp.argmax(outputs, axis=-1) == labels).astype(jnp.float32)
