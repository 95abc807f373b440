import inspect

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
    "cosine-longer-than-int32": (
        lambda: schedules.cosine_decay(1.0, 10**10, 0.1),
        lambda: optax.cosine_decay_schedule(1.0, 10**10, 0.1),
    ),
    "warmup-cosine-longer-than-int32": (
        lambda: schedules.warmup_cosine_decay(0.0, 1.0, 10, 10**12, 0.05),
        lambda: optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10**12, 0.05),
    ),
    "warmup-cosine-peak-zero-end-zero": (
        lambda: schedules.warmup_cosine_decay(0.5, 0.0, 10, 100),
        lambda: optax.warmup_cosine_decay_schedule(0.5, 0.0, 10, 100),
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


@pytest.mark.parametrize("length", [2**31 - 1, 2**31, 10**10, 10.0**15])
def test_a_cosine_longer_than_the_int32_counter_is_accepted_and_computes(length):
    # Only what really breaks is refused: the cosine is computed in float32, so a
    # length the int32 counter never reaches just never ends. A length past int32 is
    # a float leaf, which JAX can convert (a Python int that large overflows).
    for build in (
        lambda: schedules.cosine_decay(1.0, length),
        lambda: schedules.warmup_cosine_decay(0.0, 1.0, 10, length),
    ):
        schedule = build()
        eager = schedule(STEPS)
        as_argument = jax.jit(lambda s, t: s(t))(schedule, STEPS)
        assert np.isfinite(np.asarray(eager)).all()
        np.testing.assert_array_equal(as_argument, eager)
        values = np.asarray(eager)
        assert ((0.0 <= values) & (values <= 1.0)).all()
        assert np.all(np.diff(values[STEPS >= 10]) <= 0)  # decays once warmed up
        assert float(eager[list(STEPS).index(1000)]) > 0.999  # early in a long cosine


def test_warmup_steps_past_int32_are_still_refused():
    # The warm-up's end is compared with the int32 step: past 2**31 - 1 it would overflow.
    with pytest.raises(ValueError, match=r"warmup_steps must be an integer >= 0 and <= 2\*\*31"):
        schedules.warmup_cosine_decay(0.0, 1.0, 2**31, 10**10)


def test_warmup_cosine_decay_with_peak_zero_rises_to_end_value_unlike_optax():
    # Documented difference: gdjax is continuous in peak_value; optax 0.2.8 returns 0
    # after the warm-up when peak_value == 0 and end_value != 0.
    steps = jnp.array([10, 55, 100, 200], jnp.int32)
    ours = schedules.warmup_cosine_decay(0.0, 0.0, 10, 100, end_value=0.01)(steps)
    near = schedules.warmup_cosine_decay(0.0, 1e-12, 10, 100, end_value=0.01)(steps)
    np.testing.assert_allclose(ours, [0.0, 0.005, 0.01, 0.01], atol=1e-7)
    np.testing.assert_allclose(ours, near, atol=1e-9)
    optax_near = optax.warmup_cosine_decay_schedule(0.0, 1e-12, 10, 100, end_value=0.01)
    np.testing.assert_allclose(ours, jax.vmap(optax_near)(steps), atol=1e-9)
    optax_zero = optax.warmup_cosine_decay_schedule(0.0, 0.0, 10, 100, end_value=0.01)
    np.testing.assert_array_equal(jax.vmap(optax_zero)(steps), 0.0)


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


# --------------------------------------------------------------------------- schedules as pytrees

# name: (schedule, its numeric arguments in the order of its signature)
LEAVES = {
    "constant": (lambda: schedules.constant(0.3), [0.3]),
    "exponential": (lambda: schedules.exponential_decay(0.1, 10, 0.5), [0.1, 10, 0.5, 0]),
    "exponential-all": (
        lambda: schedules.exponential_decay(0.1, 7, 0.5, 10, True, 0.01),
        [0.1, 7, 0.5, 10, 0.01],
    ),
    "inverse-time": (
        lambda: schedules.inverse_time_decay(0.5, 10, 2.0, 3, True),
        [0.5, 10, 2.0, 3],
    ),
    "piecewise": (  # the boundaries (sorted), then their scales
        lambda: schedules.piecewise_constant(1.0, {100: 0.1, 10: 0.5}),
        [1.0, 10, 100, 0.5, 0.1],
    ),
    "polynomial": (lambda: schedules.polynomial(1.0, 0.1, 2.0, 100, 5), [1.0, 0.1, 2.0, 100, 5]),
    "linear": (lambda: schedules.linear(0.0, 1.0, 50), [0.0, 1.0, 50, 0]),
    "cosine": (lambda: schedules.cosine_decay(1.0, 100, 0.1, 2.0), [1.0, 100, 0.1, 2.0]),
    "warmup-cosine": (
        lambda: schedules.warmup_cosine_decay(0.0, 1.0, 10, 100, 0.05),
        [0.0, 1.0, 10, 100, 0.05, 1.0],
    ),
    "join": (  # each schedule's leaves, then the boundaries
        lambda: schedules.join([schedules.constant(1.0), schedules.linear(1.0, 0.0, 10)], [5]),
        [1.0, 1.0, 0.0, 10, 0, 5],
    ),
    "join-a-plain-function": (  # a Python function is an option: no leaves
        lambda: schedules.join([schedules.constant(1.0), _half], [5]),
        [1.0, 5],
    ),
}


def _half(count):
    return jnp.asarray(0.5)


@pytest.mark.parametrize("name", list(LEAVES))
def test_a_schedules_leaves_are_its_numeric_arguments(name):
    build, arguments = LEAVES[name]
    leaves = jax.tree.leaves(build())
    assert leaves == arguments
    assert [type(x) for x in leaves] == [type(x) for x in arguments]
    # Rebuilt from its leaves without the factory, it is the same schedule.
    schedule = build()
    again = jax.tree.unflatten(jax.tree.structure(schedule), jax.tree.leaves(schedule))
    np.testing.assert_array_equal(jax.vmap(again)(STEPS), jax.vmap(schedule)(STEPS))


# name: i -> a schedule whose every number depends on i (0, 1, 2), the options fixed
FAMILIES = {
    "constant": lambda i: schedules.constant(0.1 * (i + 1)),
    "exponential": lambda i: schedules.exponential_decay(0.1 * (i + 1), 7 + i, 0.5 + 0.1 * i),
    "exponential-staircase-end": lambda i: schedules.exponential_decay(
        0.1 * (i + 1), 7 + i, 0.5 + 0.1 * i, 10 * i, True, 0.01 * (i + 1)
    ),
    "exponential-growth-capped": lambda i: schedules.exponential_decay(
        0.1, 5, 1.5 + 0.1 * i, end_value=1.0 + i
    ),
    "inverse-time": lambda i: schedules.inverse_time_decay(
        0.5 * (i + 1), 10 + i, 2.0 - 0.5 * i, 3 * i, True
    ),
    "piecewise": lambda i: schedules.piecewise_constant(
        1.0 + i, {10 + i: 0.5, 100 * (i + 1): 0.1 * (i + 1)}
    ),
    "polynomial": lambda i: schedules.polynomial(1.0 + i, 0.1 * i, 0.5 + i, 10 + 45 * i, 5 * i),
    "linear": lambda i: schedules.linear(0.1 * i, 1.0, 10 + 20 * i, 3 * i),
    "cosine": lambda i: schedules.cosine_decay(1.0 + i, 100 * (i + 1), 0.1 * i, 1.0 + i),
    "warmup-cosine": lambda i: schedules.warmup_cosine_decay(
        0.1 * i, 1.0 + i, (0, 10, 3)[i], 100 + i, 0.05 * i, 1.0 + 0.5 * i
    ),
    "join": lambda i: schedules.join(
        [schedules.constant(1.0 + i), schedules.linear(1.0, 0.1 * i, 10 + i)], [5 + 10 * i]
    ),
}


def _closed_over(schedule):
    return jax.jit(jax.vmap(lambda count: schedule(count)))(STEPS)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_a_schedule_as_a_jit_argument_traces_once(name):
    traces = []

    @jax.jit
    def evaluate(schedule, steps):
        traces.append(None)
        return jax.vmap(schedule)(steps)

    for i in range(3):
        schedule = FAMILIES[name](i)
        got = evaluate(schedule, STEPS)
        np.testing.assert_allclose(got, _closed_over(schedule), rtol=1e-6, atol=1e-7)
        assert np.isfinite(np.asarray(got)).all()
    assert len(traces) == 1


@pytest.mark.parametrize("name", list(FAMILIES))
def test_two_schedules_stacked_vmap(name):
    make = FAMILIES[name]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), make(0), make(1))
    got = jax.jit(jax.vmap(lambda schedule: jax.vmap(schedule)(STEPS)))(stacked)
    for i in range(2):
        np.testing.assert_allclose(got[i], _closed_over(make(i)), rtol=1e-6, atol=1e-7)


def test_warmup_cosine_decay_has_one_structure_and_a_zero_step_warm_up_changes_nothing():
    # warmup_steps is data: 0 and 10 give the same tree structure (one program when the
    # schedule is a jit argument), and a traced 0 gives the values of no warm-up at all.
    no_warmup = schedules.warmup_cosine_decay(0.3, 1.0, 0, 100, 0.05, 2.0)
    warmup = schedules.warmup_cosine_decay(0.3, 1.0, 10, 100, 0.05, 2.0)
    assert jax.tree.structure(no_warmup) == jax.tree.structure(warmup)
    decay = schedules.cosine_decay(1.0, 100, 0.05, 2.0)
    want = np.asarray(jax.jit(jax.vmap(decay))(STEPS))
    for form in (
        lambda s: jax.vmap(s)(STEPS),
        lambda s: jax.jit(jax.vmap(s))(STEPS),
        lambda s: jax.jit(lambda s: jax.vmap(s)(STEPS))(s),  # warmup_steps traced
    ):
        np.testing.assert_allclose(form(no_warmup), want, rtol=1e-6, atol=1e-7)
    joined = schedules.join(
        [schedules.linear(0.3, 1.0, 1), schedules.cosine_decay(1.0, 100, 0.05, 2.0)], [0]
    )
    np.testing.assert_array_equal(
        jax.jit(jax.vmap(joined))(STEPS), jax.jit(jax.vmap(no_warmup))(STEPS)
    )


def test_schedules_of_the_same_kind_share_a_structure_and_options_change_it():
    assert jax.tree.structure(schedules.linear(0.0, 1.0, 50)) == jax.tree.structure(
        schedules.linear(1.0, 0.0, 7, 3)
    )
    one = schedules.exponential_decay(0.1, 10, 0.5)
    assert jax.tree.structure(one) != jax.tree.structure(
        schedules.exponential_decay(0.1, 10, 0.5, staircase=True)
    )
    assert jax.tree.structure(one) != jax.tree.structure(
        schedules.exponential_decay(0.1, 10, 0.5, end_value=0.01)
    )
    assert jax.tree.structure(schedules.piecewise_constant(1.0, {10: 0.5})) != jax.tree.structure(
        schedules.piecewise_constant(1.0, {10: 0.5, 20: 0.5})
    )


# --------------------------------------------------------------------------- the newer schedules

NEW_STEPS = jnp.array(
    [
        *(0, 1, 2, 4, 5, 9, 10, 11, 24, 25, 26, 29, 30, 31, 49, 50, 51, 59, 60, 61, 84, 85, 86),
        *(99, 100, 101, 149, 150, 151, 159, 160, 161, 199, 200, 201, 1000, 2**31 - 1),
    ],
    jnp.int32,
)

CYCLES = [
    {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 5, "decay_steps": 50},
    {
        "init_value": 0.1,
        "peak_value": 0.5,
        "warmup_steps": 10,
        "decay_steps": 100,
        "end_value": 0.01,
        "exponent": 2.0,
    },
    {"init_value": 0.2, "peak_value": 0.3, "warmup_steps": 0, "decay_steps": 10},
]

# name: (ours, optax's), defaults and non-default arguments
NEW_PARITY = {
    "warmup-constant": (
        lambda: schedules.warmup_constant(0.1, 1.0, 10),
        lambda: optax.warmup_constant_schedule(0.1, 1.0, 10),
    ),
    "warmup-constant-falling": (
        lambda: schedules.warmup_constant(2.0, 0.5, 150),
        lambda: optax.warmup_constant_schedule(2.0, 0.5, 150),
    ),
    "warmup-exponential": (
        lambda: schedules.warmup_exponential_decay(0.0, 1.0, 10, 7, 0.5),
        lambda: optax.warmup_exponential_decay_schedule(0.0, 1.0, 10, 7, 0.5),
    ),
    "warmup-exponential-all": (
        lambda: schedules.warmup_exponential_decay(0.1, 1.0, 10, 7, 0.5, 5, True, 0.05),
        lambda: optax.warmup_exponential_decay_schedule(0.1, 1.0, 10, 7, 0.5, 5, True, 0.05),
    ),
    "warmup-exponential-growth-no-warmup": (
        lambda: schedules.warmup_exponential_decay(0.1, 0.2, 0, 5, 1.5, end_value=1.0),
        lambda: optax.warmup_exponential_decay_schedule(0.1, 0.2, 0, 5, 1.5, end_value=1.0),
    ),
    "sgdr-one": (
        lambda: schedules.sgdr(CYCLES[:1]),
        lambda: optax.sgdr_schedule(CYCLES[:1]),
    ),
    "sgdr-three": (lambda: schedules.sgdr(CYCLES), lambda: optax.sgdr_schedule(CYCLES)),
    "interpolate-linear": (
        lambda: schedules.piecewise_interpolate("linear", 1.0, {10: 0.5, 100: 0.1, 50: 2.0}),
        lambda: optax.piecewise_interpolate_schedule("linear", 1.0, {10: 0.5, 100: 0.1, 50: 2.0}),
    ),
    "interpolate-cosine": (
        lambda: schedules.piecewise_interpolate("cosine", 2.0, {0: 0.5, 25: 3.0, 150: 0.0}),
        lambda: optax.piecewise_interpolate_schedule("cosine", 2.0, {0: 0.5, 25: 3.0, 150: 0.0}),
    ),
    "interpolate-nothing": (
        lambda: schedules.piecewise_interpolate("linear", 0.3),
        lambda: optax.piecewise_interpolate_schedule("linear", 0.3),
    ),
    "cosine-onecycle": (
        lambda: schedules.cosine_onecycle(100, 1.0),
        lambda: optax.cosine_onecycle_schedule(100, 1.0),
    ),
    "cosine-onecycle-all": (
        lambda: schedules.cosine_onecycle(200, 2.0, 0.25, 10.0, 100.0),
        lambda: optax.cosine_onecycle_schedule(200, 2.0, 0.25, 10.0, 100.0),
    ),
    "linear-onecycle": (
        lambda: schedules.linear_onecycle(100, 1.0),
        lambda: optax.linear_onecycle_schedule(100, 1.0),
    ),
    "linear-onecycle-all": (
        lambda: schedules.linear_onecycle(200, 2.0, 0.25, 0.75, 10.0, 100.0),
        lambda: optax.linear_onecycle_schedule(200, 2.0, 0.25, 0.75, 10.0, 100.0),
    ),
}


@pytest.mark.parametrize("name", list(NEW_PARITY))
def test_newer_schedules_match_optax_at_every_boundary(name):
    ours, theirs = NEW_PARITY[name]
    got = jax.jit(jax.vmap(ours()))(NEW_STEPS)
    want = jax.vmap(theirs())(NEW_STEPS)
    assert np.isfinite(np.asarray(got)).all()
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=1e-6, atol=1e-7)
    # Not constant (the steps cross the boundaries), except the one without boundaries.
    assert name == "interpolate-nothing" or np.ptp(np.asarray(got)) > 0


# name: (ours with one numeric argument given, optax's with it given), and values to sweep
NEW_SWEEPS = {
    "warmup-constant-peak": (
        lambda v: schedules.warmup_constant(0.1, v, 10),
        lambda v: optax.warmup_constant_schedule(0.1, v, 10),
        [0.5, 1.0, 3.0],
    ),
    "warmup-constant-warmup-steps": (
        lambda v: schedules.warmup_constant(0.1, 1.0, v),
        lambda v: optax.warmup_constant_schedule(0.1, 1.0, v),
        [1, 10, 100],
    ),
    "warmup-exponential-rate": (
        lambda v: schedules.warmup_exponential_decay(0.0, 1.0, 10, 7, v),
        lambda v: optax.warmup_exponential_decay_schedule(0.0, 1.0, 10, 7, v),
        [0.3, 0.5, 0.9],
    ),
    "warmup-exponential-transition-steps": (
        lambda v: schedules.warmup_exponential_decay(0.0, 1.0, 10, v, 0.5),
        lambda v: optax.warmup_exponential_decay_schedule(0.0, 1.0, 10, v, 0.5),
        [3, 7, 20],
    ),
    "sgdr-peak": (
        lambda v: schedules.sgdr([{**CYCLES[0], "peak_value": v}, CYCLES[1]]),
        lambda v: optax.sgdr_schedule([{**CYCLES[0], "peak_value": v}, CYCLES[1]]),
        [0.5, 1.0, 2.0],
    ),
    "sgdr-decay-steps": (  # moves the restart too
        lambda v: schedules.sgdr([{**CYCLES[0], "decay_steps": v}, CYCLES[1]]),
        lambda v: optax.sgdr_schedule([{**CYCLES[0], "decay_steps": v}, CYCLES[1]]),
        [20, 50, 90],
    ),
    "interpolate-init": (
        lambda v: schedules.piecewise_interpolate("cosine", v, {10: 0.5, 100: 0.1}),
        lambda v: optax.piecewise_interpolate_schedule("cosine", v, {10: 0.5, 100: 0.1}),
        [0.5, 1.0, 4.0],
    ),
    "cosine-onecycle-peak": (
        lambda v: schedules.cosine_onecycle(100, v),
        lambda v: optax.cosine_onecycle_schedule(100, v),
        [0.1, 1.0, 5.0],
    ),
    "cosine-onecycle-transition-steps": (
        lambda v: schedules.cosine_onecycle(v, 1.0),
        lambda v: optax.cosine_onecycle_schedule(v, 1.0),
        [50, 100, 200],
    ),
    "linear-onecycle-pct-start": (
        lambda v: schedules.linear_onecycle(200, 1.0, v),
        lambda v: optax.linear_onecycle_schedule(200, 1.0, v),
        [0.1, 0.25, 0.5],
    ),
    "linear-onecycle-div-factor": (
        lambda v: schedules.linear_onecycle(100, 1.0, div_factor=v),
        lambda v: optax.linear_onecycle_schedule(100, 1.0, div_factor=v),
        [5.0, 25.0, 100.0],
    ),
}


@pytest.mark.parametrize("name", list(NEW_SWEEPS))
def test_newer_schedules_vmap_over_a_numeric_argument(name):
    # Step counts included: they are data, so one program serves every value.
    ours, theirs, values = NEW_SWEEPS[name]
    kind = jnp.int32 if isinstance(values[0], int) else jnp.float32
    got = jax.jit(jax.vmap(lambda v: jax.vmap(ours(v))(NEW_STEPS)))(jnp.asarray(values, kind))
    assert got.shape == (len(values), len(NEW_STEPS))
    for row, value in zip(got, values, strict=True):
        np.testing.assert_allclose(row, jax.vmap(theirs(value))(NEW_STEPS), rtol=1e-6, atol=1e-7)
    assert not np.allclose(got[0], got[1])


def test_newer_schedules_leaves_are_their_numeric_arguments():
    assert jax.tree.leaves(schedules.warmup_constant(0.1, 1.0, 10)) == [0.1, 1.0, 10]
    assert jax.tree.leaves(schedules.warmup_exponential_decay(0.0, 1.0, 10, 7, 0.5)) == [
        0.0, 1.0, 10, 7, 0.5, 0
    ]  # fmt: skip
    assert jax.tree.leaves(schedules.cosine_onecycle(100, 1.0)) == [100, 1.0, 0.3, 25.0, 1e4]
    assert jax.tree.leaves(schedules.linear_onecycle(100, 1.0, 0.2, 0.8, 5.0, 10.0)) == [
        100, 1.0, 0.2, 0.8, 5.0, 10.0
    ]  # fmt: skip
    # The boundaries sorted, then their scales; the interpolation is an option.
    interpolate = schedules.piecewise_interpolate("cosine", 1.0, {100: 0.1, 10: 0.5})
    assert jax.tree.leaves(interpolate) == [1.0, 10, 100, 0.5, 0.1]
    linear = schedules.piecewise_interpolate("linear", 1.0, {100: 0.1, 10: 0.5})
    assert jax.tree.structure(linear) != jax.tree.structure(interpolate)
    # sgdr: each cycle's warmup_cosine_decay leaves (the restarts are their decay_steps).
    assert jax.tree.leaves(schedules.sgdr(CYCLES[:2])) == [
        0.0, 1.0, 5, 50, 0.0, 1.0, 0.1, 0.5, 10, 100, 0.01, 2.0
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["sgdr-three", "cosine-onecycle-all", "linear-onecycle-all"])
def test_newer_schedules_as_jit_arguments_trace_once(name):
    traces = []

    @jax.jit
    def evaluate(schedule):
        traces.append(None)
        return jax.vmap(schedule)(NEW_STEPS)

    ours, theirs = NEW_PARITY[name]
    first = ours()
    doubled = jax.tree.map(lambda x: x * 2 if isinstance(x, float) else x, first)
    want = jax.vmap(theirs())(NEW_STEPS)
    np.testing.assert_allclose(evaluate(first), want, rtol=1e-6, atol=1e-7)
    assert not np.allclose(evaluate(doubled), evaluate(first))
    assert len(traces) == 1


def test_warmup_constant_without_warm_up_is_the_peak_unlike_optax():
    # optax 0.2.8 builds a linear schedule of 0 steps (a constant init_value) and never
    # switches to the peak; here 0 steps of warm-up means none, as in warmup_cosine_decay.
    steps = jnp.arange(5)
    np.testing.assert_array_equal(jax.vmap(schedules.warmup_constant(0.1, 1.0, 0))(steps), 1.0)
    np.testing.assert_allclose(jax.vmap(optax.warmup_constant_schedule(0.1, 1.0, 0))(steps), 0.1)


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: schedules.warmup_constant(0.1, 1.0, -1), "warmup_constant: warmup_steps "),
        (lambda: schedules.warmup_constant(0.1, 1.0, 2.5), "warmup_constant: warmup_steps "),
        (
            lambda: schedules.warmup_exponential_decay(0.0, 1.0, -3, 7, 0.5),
            "warmup_exponential_decay: warmup_steps ",
        ),
        (
            lambda: schedules.warmup_exponential_decay(0.0, 1.0, 3, 0, 0.5),
            "warmup_exponential_decay: transition_steps ",
        ),
        (
            lambda: schedules.warmup_exponential_decay(0.0, 1.0, 3, 7, -0.5),
            r"warmup_exponential_decay: decay_rate must be in \(0, inf\), got -0.5",
        ),
        (
            lambda: schedules.warmup_exponential_decay(0.0, 1.0, 3, 7, 0.5, -2),
            "warmup_exponential_decay: transition_begin ",
        ),
        (
            lambda: schedules.warmup_exponential_decay(0.0, 1.0, 3, 7, 0.5, staircase=1),
            "warmup_exponential_decay: staircase ",
        ),
        (lambda: schedules.sgdr([]), "sgdr: cosine_kwargs "),
        (
            lambda: schedules.sgdr([{**CYCLES[0], "decay_steps": 5}]),
            "warmup_cosine_decay: decay_steps counts the warm-up",
        ),
        (
            lambda: schedules.piecewise_interpolate("cubic", 1.0),
            "piecewise_interpolate: interpolate_type .*'cubic'",
        ),
        (
            lambda: schedules.piecewise_interpolate("linear", 1.0, {10: -0.5}),
            r"piecewise_interpolate: a scale must be in \[0, inf\), got -0.5",
        ),
        (
            lambda: schedules.piecewise_interpolate("linear", 1.0, {-10: 0.5}),
            "piecewise_interpolate: a boundary .*-10",
        ),
        (lambda: schedules.cosine_onecycle(0, 1.0), "cosine_onecycle: transition_steps .*0"),
        (
            lambda: schedules.cosine_onecycle(100, 1.0, 1.5),
            r"cosine_onecycle: pct_start must be in \[0, 1\], got 1.5",
        ),
        (
            lambda: schedules.cosine_onecycle(100, 1.0, div_factor=0.0),
            r"cosine_onecycle: div_factor must be in \(0, inf\), got 0.0",
        ),
        (
            lambda: schedules.cosine_onecycle(100, 1.0, final_div_factor=-1.0),
            r"cosine_onecycle: final_div_factor must be in \(0, inf\), got -1.0",
        ),
        (lambda: schedules.linear_onecycle(-5, 1.0), "linear_onecycle: transition_steps .*-5"),
        (
            lambda: schedules.linear_onecycle(100, 1.0, -0.1),
            r"linear_onecycle: pct_start must be in \[0, 1\], got -0.1",
        ),
        (
            lambda: schedules.linear_onecycle(100, 1.0, pct_final=1.2),
            r"linear_onecycle: pct_final must be in \[0, 1\], got 1.2",
        ),
        (
            lambda: schedules.linear_onecycle(100, 1.0, 0.6, 0.5),
            "linear_onecycle: pct_final must be >= pct_start, got pct_start=0.6",
        ),
        (
            lambda: schedules.linear_onecycle(100, 1.0, div_factor=-2.0),
            r"linear_onecycle: div_factor must be in \(0, inf\), got -2.0",
        ),
        (
            lambda: schedules.linear_onecycle(100, 1.0, final_div_factor=0),
            r"linear_onecycle: final_div_factor must be in \(0, inf\), got 0",
        ),
    ],
)
def test_newer_schedules_refuse_bad_arguments_by_name(build, message):
    with pytest.raises(ValueError, match="^" + message):
        build()


def test_newer_schedules_accept_traced_arguments():
    # Inside jit the checks pass tracers through; the values are still right.
    @jax.jit
    def values(steps, pct):
        return jax.vmap(schedules.linear_onecycle(steps, 1.0, pct))(NEW_STEPS)

    want = jax.vmap(optax.linear_onecycle_schedule(200, 1.0, 0.25))(NEW_STEPS)
    np.testing.assert_allclose(values(200, 0.25), want, rtol=1e-6, atol=1e-7)


# optax's name for each gdjax schedule whose signature is optax's (gdjax's own name first)
OPTAX_NAMES = {
    "constant": "constant_schedule",
    "exponential_decay": "exponential_decay",
    "piecewise_constant": "piecewise_constant_schedule",
    "polynomial": "polynomial_schedule",
    "linear": "linear_schedule",
    "cosine_decay": "cosine_decay_schedule",
    "join": "join_schedules",
    "warmup_cosine_decay": "warmup_cosine_decay_schedule",
    "warmup_constant": "warmup_constant_schedule",
    "warmup_exponential_decay": "warmup_exponential_decay_schedule",
    "sgdr": "sgdr_schedule",
    "piecewise_interpolate": "piecewise_interpolate_schedule",
    "cosine_onecycle": "cosine_onecycle_schedule",
    "linear_onecycle": "linear_onecycle_schedule",
}


def _signature(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("ours", list(OPTAX_NAMES))
def test_optax_spellings_are_aliases_with_optax_signatures(ours):
    theirs = OPTAX_NAMES[ours]
    assert getattr(schedules, theirs) is getattr(schedules, ours)
    assert _signature(getattr(schedules, ours)) == _signature(getattr(optax.schedules, theirs))


def test_every_optax_schedule_has_a_gdjax_spelling():
    wanted = {
        name
        for name in dir(optax.schedules)
        if name.endswith(("_schedule", "_schedules", "_decay")) and not name.startswith("_")
    }
    assert wanted <= set(OPTAX_NAMES.values())
