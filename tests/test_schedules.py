import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gdjax import schedules

STEPS = jnp.array([0, 1, 2, 5, 9, 10, 11, 50, 99, 100, 101, 1000, 2**31 - 1], jnp.int32)

PARITY = {
    "constant": (lambda: schedules.constant(0.3), lambda: optax.constant_schedule(0.3)),
    "exponential": (
        lambda: schedules.exponential_decay(0.1, 10, 0.5),
        lambda: optax.exponential_decay(0.1, 10, 0.5),
    ),
    "exponential-staircase-begin-end": (
        lambda: schedules.exponential_decay(0.1, 7, 0.5, 10, True, 0.01),
        lambda: optax.exponential_decay(0.1, 7, 0.5, 10, True, 0.01),
    ),
    "exponential-growth-capped": (
        lambda: schedules.exponential_decay(0.1, 5, 1.5, end_value=1.0),
        lambda: optax.exponential_decay(0.1, 5, 1.5, end_value=1.0),
    ),
    "piecewise": (
        lambda: schedules.piecewise_constant(1.0, {10: 0.5, 100: 0.1}),
        lambda: optax.piecewise_constant_schedule(1.0, {10: 0.5, 100: 0.1}),
    ),
    "polynomial": (
        lambda: schedules.polynomial(1.0, 0.1, 2.0, 100, 5),
        lambda: optax.polynomial_schedule(1.0, 0.1, 2.0, 100, 5),
    ),
    "linear": (
        lambda: schedules.linear(0.0, 1.0, 50),
        lambda: optax.linear_schedule(0.0, 1.0, 50),
    ),
    "cosine": (
        lambda: schedules.cosine_decay(1.0, 100, 0.1, 2.0),
        lambda: optax.cosine_decay_schedule(1.0, 100, 0.1, 2.0),
    ),
    "warmup-cosine": (
        lambda: schedules.warmup_cosine_decay(0.0, 1.0, 10, 100, 0.05),
        lambda: optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100, 0.05),
    ),
    "join": (
        lambda: schedules.join([schedules.constant(1.0), schedules.linear(1.0, 0.0, 10)], [5]),
        lambda: optax.join_schedules(
            [optax.constant_schedule(1.0), optax.linear_schedule(1.0, 0.0, 10)], [5]
        ),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_from_step_zero_to_int32_max(name):
    ours, theirs = PARITY[name]
    got = jax.jit(jax.vmap(ours()))(STEPS)
    want = jax.vmap(theirs())(STEPS)
    assert np.isfinite(np.asarray(got)).all()
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=1e-6, atol=1e-7)


def test_inverse_time_decay_follows_its_formula():
    s = schedules.inverse_time_decay(0.5, 10, 2.0)
    for t in [0, 1, 10, 25, 2**31 - 1]:
        np.testing.assert_allclose(
            s(jnp.asarray(t, jnp.int32)), 0.5 / (1 + 2.0 * t / 10), rtol=1e-6
        )
    stairs = schedules.inverse_time_decay(0.5, 10, 2.0, transition_begin=3, staircase=True)
    np.testing.assert_allclose(stairs(jnp.asarray(22)), 0.5 / (1 + 2.0 * 1), rtol=1e-6)
    np.testing.assert_allclose(stairs(jnp.asarray(2)), 0.5, rtol=1e-6)


def test_numeric_arguments_are_data_that_vmap_sweeps():
    inits = jnp.array([0.1, 0.2, 0.4])
    rates = jnp.array([0.5, 0.9, 0.99])
    values = jax.vmap(lambda a, r: schedules.exponential_decay(a, 1, r)(jnp.asarray(3)))(
        inits, rates
    )
    np.testing.assert_allclose(values, inits * rates**3, rtol=1e-6)


@pytest.mark.parametrize(
    "build,message",
    [
        (
            lambda: schedules.exponential_decay(0.1, 0, 0.5),
            "transition_steps must be an integer >= 1",
        ),
        (lambda: schedules.exponential_decay(0.1, 10, -0.5), r"decay_rate must be in \(0, inf\)"),
        (
            lambda: schedules.exponential_decay(0.1, 10, 0.5, transition_begin=-1),
            "transition_begin",
        ),
        (
            lambda: schedules.inverse_time_decay(0.1, 1.5, 0.5),
            "transition_steps must be an integer",
        ),
        (lambda: schedules.polynomial(1.0, 0.0, 0.0, 10), r"power must be in \(0, inf\)"),
        (lambda: schedules.cosine_decay(1.0, 0), "decay_steps must be an integer >= 1"),
        (lambda: schedules.warmup_cosine_decay(0.0, 1.0, 10, 10), "must exceed warmup_steps"),
        (lambda: schedules.piecewise_constant(1.0, {10: -0.5}), r"a scale must be in \[0, inf\)"),
        (lambda: schedules.join([schedules.constant(1.0)], [5]), "one boundary fewer"),
        (lambda: schedules.join([schedules.constant(1.0)] * 3, [5, 2]), "boundaries must increase"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_range(build, message):
    with pytest.raises(ValueError, match=message):
        build()
