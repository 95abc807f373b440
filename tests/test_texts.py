"""The numbers printed in the texts (DESIGN §4), reproduced with gdjax's optimizers.

The texts ran in float64; float32 agrees to about 1e-4.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax


def parabola(x):
    return 6 * x**2 - 12 * x + 3  # seed 001 eq. 11.2


def stretched_bowl(x):
    return 0.1 * x[0] ** 2 + 2 * x[1] ** 2  # seed 003


def two_gaussians(x):
    # seed 001 eq. 11.4: minima -2 at (-1, 1) and -1 at (1, -1)
    return -2 * jnp.exp(-0.5 * ((x[0] + 1) ** 2 + (x[1] - 1) ** 2)) - jnp.exp(
        -0.5 * ((x[0] - 1) ** 2 + (x[1] + 1) ** 2)
    )


def descend(optimizer, fn, start, steps, dtype):
    x = jnp.asarray(start, dtype)
    state = optimizer.init(x)
    for _ in range(steps):
        updates, state = optimizer.update(jax.grad(fn)(x), state, x)
        x = gdjax.apply_updates(x, updates)
    return np.asarray(x), state


PRECISIONS = [(jnp.float64, 5e-7), (jnp.float32, 1e-4)]


@pytest.fixture(params=PRECISIONS, ids=["float64", "float32"])
def precision(request):
    dtype, tol = request.param
    with jax.enable_x64(dtype == jnp.float64):
        yield dtype, tol


def test_seed_001_parabola_15_steps(precision):
    dtype, tol = precision
    x, _ = descend(gdjax.sgd(0.03), parabola, -0.9, 15, dtype)
    np.testing.assert_allclose(x, 0.997648, atol=tol)


@pytest.mark.parametrize(
    "lr,momentum,expected",
    [
        (0.4, None, (-0.943467, -0.000073)),
        (0.6, None, (-0.387814, -1673.365109)),
        (0.4, 0.5, (-0.062843, 0.001202)),
        (0.6, 0.5, (0.007188, 0.002553)),
    ],
)
def test_seed_003_stretched_bowl_20_steps(precision, lr, momentum, expected):
    dtype, tol = precision
    x, _ = descend(gdjax.sgd(lr, momentum=momentum), stretched_bowl, [-5.0, -2.0], 20, dtype)
    np.testing.assert_allclose(x, expected, rtol=tol, atol=tol)


TABLE_11_2 = [
    # start, lr, steps, momentum column (book), exact look-ahead NAG (DESIGN §4)
    ((1.5, 1.5), 0.02, 90, (-0.9496, 0.9809), (-0.9717, 0.9804)),
    ((0.7, -0.2), 0.1, 25, (0.8807, -0.9063), (0.8990, -0.8983)),
]


@pytest.mark.parametrize("start,lr,steps,momentum,_", TABLE_11_2)
def test_seed_001_table_11_2_momentum_column(precision, start, lr, steps, momentum, _):
    dtype, _tol = precision
    x, _ = descend(gdjax.sgd(lr, momentum=0.9), two_gaussians, start, steps, dtype)
    np.testing.assert_allclose(x, momentum, atol=5e-5)  # printed to 4 decimals


@pytest.mark.parametrize("start,lr,steps,_,nag", TABLE_11_2)
def test_seed_001_table_11_2_exact_nesterov_from_the_state(precision, start, lr, steps, _, nag):
    # trace(nesterov=True) keeps the look-ahead point p = x + mu*v with v = -lr * trace,
    # so the NAG iterate is x = p + mu * lr * trace.
    dtype, _tol = precision
    p, state = descend(
        gdjax.sgd(lr, momentum=0.9, nesterov=True), two_gaussians, start, steps, dtype
    )
    x = p + 0.9 * lr * np.asarray(state[0].trace)
    np.testing.assert_allclose(x, nag, atol=5e-5)
    # Both are closer to their minimum than plain momentum is.
    minimum = np.array([-1.0, 1.0]) if start == (1.5, 1.5) else np.array([1.0, -1.0])
    plain, _ = descend(gdjax.sgd(lr, momentum=0.9), two_gaussians, start, steps, dtype)
    assert np.linalg.norm(x - minimum) < np.linalg.norm(plain - minimum)


def test_seed_000_exponential_decay_is_eps0_times_beta_to_the_t():
    schedule = gdjax.schedules.exponential_decay(0.1, 1, 0.9)
    for t in range(6):
        np.testing.assert_allclose(schedule(jnp.asarray(t)), 0.1 * 0.9**t, rtol=1e-6)
