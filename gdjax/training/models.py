"""Small models as plain functions over pytrees of params.

`mlp` is seed 001's network (its ``NN.py``): fully connected layers
initialised uniformly in [-0.5, 0.5], a sigmoid after every layer (the
output's too), trained on the squared error against one-hot labels. With
sizes ``(196, 100, 50, 10)`` it is the Fashion-MNIST model of the momentum
experiment; ``(64, 100, 50, 10)`` takes scikit-learn's 8×8 digits. `cnn` is a
small convolutional network for the optimizer comparison (seed 001 Fig. 11-11).

Every ``*_loss`` and `correct` returns one value per example, as
`gdjax.training.fit` expects.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

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
