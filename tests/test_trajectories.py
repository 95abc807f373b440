import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gdjax
from gdjax import landscapes
from gdjax import trajectories as T
from tests.helpers import COMPILES, run_python

ROOT = Path(__file__).resolve().parents[1]


def hand_loop(optimizer, fn, starts, num_steps):
    """The texts' way: one start at a time, one step at a time; returns (steps+1, N, D)."""
    paths = []
    for start in np.asarray(starts, np.float32):
        x = jnp.asarray(start)
        state = optimizer.init(x)
        path = [x]
        for _ in range(num_steps):
            updates, state = optimizer.update(jax.grad(fn)(x), state, x)
            x = gdjax.apply_updates(x, updates)
            path.append(x)
        paths.append(jnp.stack(path))
    return np.stack(paths, axis=1)


# --------------------------------------------------------------------------- the texts


def test_seed_001_parabola():
    result = T.run(gdjax.sgd(0.03), landscapes.parabola, [-0.9], 15)
    np.testing.assert_allclose(result.final[0, 0], 0.997648, atol=1e-5)
    assert result.positions.shape == (16, 1, 1)
    np.testing.assert_array_equal(result.steps, np.arange(16))
    np.testing.assert_allclose(result.positions[0, 0, 0], -0.9)


@pytest.mark.parametrize(
    "lr,momentum,expected,diverges",
    [
        (0.4, None, (-0.943467, -0.000073), False),
        (0.6, None, (-0.387814, -1673.365109), True),
        (0.4, 0.5, (-0.062843, 0.001202), False),
        (0.6, 0.5, (0.007188, 0.002553), False),
    ],
)
def test_seed_003_four_results_and_the_divergent_one_is_flagged(lr, momentum, expected, diverges):
    result = T.run(
        gdjax.sgd(lr, momentum=momentum), landscapes.stretched_bowl, [[-5.0, -2.0]], 20, bound=100.0
    )
    np.testing.assert_allclose(result.final[0], expected, rtol=1e-4, atol=1e-4)
    assert bool(result.diverged[0]) is diverges
    unbounded = T.run(
        gdjax.sgd(lr, momentum=momentum), landscapes.stretched_bowl, [[-5.0, -2.0]], 20
    )
    assert not bool(unbounded.diverged[0])  # finite: only a bound flags it


def test_seed_001_table_11_2_both_columns():
    starts = [[1.5, 1.5], [0.7, -0.2]]
    for start, lr, steps, momentum, nag in [
        (starts[0], 0.02, 90, (-0.9496, 0.9809), (-0.9717, 0.9804)),
        (starts[1], 0.1, 25, (0.8807, -0.9063), (0.8990, -0.8983)),
    ]:
        plain = T.run(gdjax.sgd(lr, momentum=0.9), landscapes.two_gaussians, [start], steps)
        np.testing.assert_allclose(plain.final[0], momentum, atol=5e-5)
        nesterov = T.run(
            gdjax.sgd(lr, momentum=0.9, nesterov=True),
            landscapes.two_gaussians,
            [start],
            steps,
            iterate=T.nesterov_iterate(lr, 0.9),
        )
        np.testing.assert_allclose(nesterov.iterates[-1, 0], nag, atol=5e-5)
        np.testing.assert_allclose(nesterov.iterates[0, 0], start)  # x_0 = p_0


# --------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    "optimizer",
    [
        gdjax.adam(0.05),
        gdjax.rmsprop(0.02, momentum=0.5),
        gdjax.sgd(0.1, momentum=0.9, nesterov=True),
    ],
)
def test_run_equals_the_per_start_python_loop(optimizer):
    starts = np.array(landscapes.two_gaussians.starts, np.float32)
    result = T.run(optimizer, landscapes.two_gaussians, starts, 40)
    # run passes the hyperparameters to its program as float32 data; the loop gets them
    # so too. (With Python floats, 1 - b2 is computed in float64 but b2**t in float32:
    # Adam's bias correction then differs by the float32 rounding of b2, 1e-5 relative.)
    float32 = jax.tree.map(np.float32, optimizer)
    expected = hand_loop(float32, landscapes.two_gaussians.fn, starts, 40)
    np.testing.assert_allclose(result.positions, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        result.values, landscapes.two_gaussians.fn(expected), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(result.final, expected[-1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("record_every", [0, 7])
@pytest.mark.parametrize("land", [landscapes.two_gaussians, landscapes.rosenbrock])
def test_steps_between_records_equal_the_per_start_python_loop(land, record_every):
    # The plain steps (final points only, and between records) write the gradient out
    # first where it is assembled from costly pieces (two_gaussians' exponentials).
    fn = land.fn
    written = T._gradient_worth_writing_out(fn, jnp.zeros(2))
    assert written == (land is landscapes.two_gaussians)
    starts = np.array([[0.5, -0.3], [1.2, 0.4], [-0.7, 0.9]], np.float32)
    optimizer = gdjax.sgd(np.float32(0.01), momentum=np.float32(0.9))
    result = T.run(optimizer, land, starts, 30, record_every)
    expected = hand_loop(optimizer, fn, starts, 30)
    np.testing.assert_allclose(result.final, expected[-1], rtol=1e-5, atol=1e-6)
    if record_every:
        np.testing.assert_allclose(result.positions, expected[result.steps], rtol=1e-5, atol=1e-6)


def test_the_gradient_is_written_out_only_around_shared_costly_pieces():
    def written(fn):
        return T._gradient_worth_writing_out(fn, jnp.zeros(2))

    def two_shared(x):  # both coordinates need both exponentials, as in two_gaussians
        return -jnp.exp(-(x[0] ** 2) - x[1] ** 2) - jnp.exp(-((x[0] - 1) ** 2) - x[1] ** 2)

    assert written(two_shared)
    assert not written(lambda x: -jnp.exp(-(x[0] ** 2) - 2 * x[1] ** 2))  # only one
    assert not written(lambda x: jnp.sin(x[0]) + jnp.exp(-(x[1] ** 2)))  # none shared
    assert not written(lambda x: -jnp.exp(-jnp.sum(x**2)) - jnp.exp(-jnp.sum((x - 1) ** 2)))
    assert not written(lambda x: x[0] ** 2 + 3 * x[1] ** 2)  # nothing costly
    assert not written(landscapes.rastrigin.fn)


def _start_flags(optimizer, fn=landscapes.two_gaussians.fn):
    """The carry leaves of a run that `_per_start` keeps per start (True) or once (False)."""
    options = T._options(10, 1, False, None, None, None)
    descent = T._Descent(optimizer, fn, options, None, 2, 1e30)
    return T._per_start(descent, jnp.zeros(2), jnp.int32(0))


def test_state_is_kept_once_only_where_no_start_can_change_it():
    adam = _start_flags(gdjax.adam(0.1))
    # Adam's count is one scalar for the ensemble; its moments, start at zeros or not,
    # are per start after one step.
    assert jax.tree.leaves(adam["state"]) == [False, True, True]
    assert adam["x"] and not adam["k"]
    momentum = _start_flags(gdjax.sgd(0.1, momentum=0.9))
    assert jax.tree.leaves(momentum["state"]) == [True]
    # Noise keys are folded with each run's index: per start though no gradient reaches them.
    noisy = _start_flags(gdjax.noisy_sgd(0.1, key=3))
    assert any(jax.tree.leaves(noisy["state"]))
    # A line search keeps scalars that differ between starts (its step, the value
    # there); L-BFGS's count does not. A rule by shape would share all of them.
    lbfgs = _start_flags(optax.lbfgs(), landscapes.rosenbrock.fn)
    count, _, search = lbfgs["state"]
    assert not count.count
    assert search.learning_rate and search.value and search.info.num_linesearch_steps


def test_a_line_search_from_many_starts_equals_each_start_alone():
    land = landscapes.rosenbrock
    starts = np.array([[-1.5, 2.0], [-1.0, 1.5], [0.5, -0.5], [1.2, 1.2]], np.float32)
    together = T.run(optax.lbfgs(), land, starts, 15, record_state=True)
    # Rosenbrock's valley grows rounding: the two programs agree to 1e-5 as XLA compiles
    # by default, to 3.4e-3 under the suite's cheaper compilation (tests/conftest.py).
    close = {"rtol": 1e-2, "atol": 1e-6}
    for n, start in enumerate(starts):
        alone = T.run(optax.lbfgs(), land, start[None], 15, record_state=True)
        np.testing.assert_allclose(together.positions[:, n], alone.positions[:, 0], **close)
        steps = together.states[2].learning_rate[:, n], alone.states[2].learning_rate[:, 0]
        np.testing.assert_allclose(*steps, **close)
    # The runs took different line-search steps: had they shared one, they would not.
    steps = np.asarray(together.states[2].learning_rate)
    assert (steps != steps[:, :1]).any()


def test_record_every_keeps_every_kth_step_and_the_end():
    starts = np.array([[1.5, 1.5], [0.0, 0.0]], np.float32)
    full = T.run(gdjax.adam(0.05), landscapes.two_gaussians, starts, 30)
    sparse = T.run(gdjax.adam(0.05), landscapes.two_gaussians, starts, 30, record_every=7)
    np.testing.assert_array_equal(sparse.steps, [0, 7, 14, 21, 30])
    # Three programs, compiled separately, round a few steps differently (2e-7 before the
    # hyperparameters became arguments too): an absolute floor for coordinates near 0.1.
    close = {"rtol": 1e-6, "atol": 3e-7}
    np.testing.assert_allclose(sparse.positions, full.positions[sparse.steps], **close)
    np.testing.assert_allclose(sparse.final, full.final, **close)
    final_only = T.run(gdjax.adam(0.05), landscapes.two_gaussians, starts, 30, record_every=0)
    assert final_only.positions is None and final_only.steps is None
    np.testing.assert_allclose(final_only.final, full.final, **close)


@pytest.mark.parametrize("record_every", [5, 20, 50])
def test_record_every_that_divides_or_exceeds_num_steps(record_every):
    # No steps are left after the last full chunk (5 and 20 divide 20), and a period
    # beyond num_steps records the start and the end only.
    starts = np.array([[1.5, 1.5], [0.0, 0.3], [4.0, -4.0]], np.float32)
    args = (gdjax.sgd(0.3, momentum=0.5), landscapes.bowl, starts, 20)
    full = T.run(*args, bound=3.0, tol=1e-2)
    np.testing.assert_array_equal(full.steps_to_tol, [15, 9, 19])
    np.testing.assert_array_equal(full.diverged, [False, False, True])
    sparse = T.run(*args, record_every=record_every, bound=3.0, tol=1e-2)
    np.testing.assert_array_equal(sparse.steps, np.arange(0, 21, min(record_every, 20)))
    close = {"rtol": 1e-6, "atol": 3e-7}
    np.testing.assert_allclose(sparse.positions, full.positions[sparse.steps], **close)
    np.testing.assert_allclose(sparse.final, full.final, **close)
    np.testing.assert_array_equal(sparse.diverged, full.diverged)
    np.testing.assert_array_equal(sparse.steps_to_tol, full.steps_to_tol)


def test_record_state_gives_the_velocity_history():
    result = T.run(
        gdjax.sgd(0.1, momentum=0.9), landscapes.bowl, [[15.0, 15.0]], 10, record_state=True
    )
    trace = result.states[0].trace  # (R, N, D)
    assert trace.shape == (11, 1, 2)
    np.testing.assert_allclose(trace[0], 0.0)
    # x_{k+1} - x_k = -lr * t_{k+1}: the recorded trace is the velocity up to -lr.
    np.testing.assert_allclose(
        np.diff(result.positions, axis=0), -0.1 * np.asarray(trace[1:]), rtol=1e-5, atol=1e-5
    )


def test_steps_to_tol_is_the_step_from_which_the_run_stays_within_tol():
    starts = np.array(landscapes.two_gaussians.starts, np.float32)
    for optimizer in (gdjax.adam(0.05), gdjax.rmsprop(0.07)):
        result = T.run(optimizer, landscapes.two_gaussians, starts, 200, tol=1e-2)
        _, distance = landscapes.two_gaussians.nearest_minimum(result.positions)  # (R, N)
        for i in range(len(starts)):
            inside = np.asarray(distance[:, i]) < 1e-2
            outside = np.flatnonzero(~inside)
            settled = -1 if not inside[-1] else (outside[-1] + 1 if len(outside) else 0)
            assert result.steps_to_tol[i] == settled
    # RMSProp with a constant rate passes through the ball and keeps oscillating: such a
    # run must not count as arrived (a first-hit time would say it had). Which starts
    # oscillate is chaotic (one of the five settles when XLA compiles with LLVM -O0).
    rms = T.run(gdjax.rmsprop(0.07), landscapes.two_gaussians, starts, 100, tol=1e-3)
    _, distance = landscapes.two_gaussians.nearest_minimum(rms.positions)
    inside = np.asarray(distance) < 1e-3
    passed_through = inside.any(axis=0) & ~inside[-1]
    assert passed_through.sum() >= 3
    assert (np.asarray(rms.steps_to_tol)[passed_through] == -1).all()


def test_non_finite_trajectories_are_flagged_diverged():
    result = T.run(gdjax.sgd(1.0), landscapes.rosenbrock, [[-2.0, 2.0], [1.0, 1.0]], 50)
    assert bool(result.diverged[0]) and not bool(result.diverged[1])
    assert not np.isfinite(np.asarray(result.final[0])).all()


@pytest.mark.parametrize("record_every", [1, 2, 0])
def test_the_step_after_the_end_moves_no_clock(record_every):
    # x**2 with sgd: x_k = (1 - 2 lr)**k. Step 6 would cross the bound (lr 1.5: |x_6| =
    # 64 > 40 > |x_5| = 32) or enter the tol ball (lr 0.25: x_6 = 1/64 < 0.02 < 1/32);
    # recording every step takes that step too and must drop it.
    def square(x):
        return jnp.sum(x**2)

    out = T.run(gdjax.sgd(1.5), square, [[1.0]], 5, record_every, bound=40.0, minima=[[0.0]])
    assert not bool(out.diverged[0])
    np.testing.assert_array_equal(out.final, [[-32.0]])
    into = T.run(gdjax.sgd(0.25), square, [[1.0]], 5, record_every, tol=0.02, minima=[[0.0]])
    assert int(into.steps_to_tol[0]) == -1
    np.testing.assert_array_equal(into.final, [[1 / 32]])
    np.testing.assert_array_equal(into.final_value, [1 / 1024])
    if record_every:
        np.testing.assert_array_equal(into.positions[-1], into.final)


def test_a_plain_function_and_its_own_minima():
    result = T.run(
        gdjax.sgd(0.1),
        lambda x: jnp.sum((x - 2.0) ** 2),
        [[0.0, 0.0, 0.0]],
        50,
        minima=[[2.0, 2.0, 2.0]],
    )
    np.testing.assert_allclose(result.final[0], 2.0, atol=1e-4)
    assert result.steps_to_tol[0] > 0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"starts must be an array of shape \(num_starts, dim\)"):
        T.run(gdjax.sgd(0.1), landscapes.bowl, np.zeros((2, 2, 2)), 5)
    with pytest.raises(ValueError, match="dimension 3 but bowl is 2-D"):
        T.run(gdjax.sgd(0.1), landscapes.bowl, np.zeros((2, 3)), 5)
    with pytest.raises(ValueError, match="num_steps must be an integer >= 0"):
        T.run(gdjax.sgd(0.1), landscapes.bowl, np.zeros((2, 2)), -1)
    with pytest.raises(ValueError, match="bound must be in"):
        T.run(gdjax.sgd(0.1), landscapes.bowl, np.zeros((2, 2)), 5, bound=-1.0)


# --------------------------------------------------------------------------- sweeps


def test_sweep_equals_one_by_one_runs_and_compiles_once():
    lrs = np.array([0.001, 0.01, 0.05, 0.1, 0.3], np.float32)
    momenta = np.array([0.0, 0.5, 0.9], np.float32)
    starts = np.array([[1.5, 1.5], [0.7, -0.2]], np.float32)

    def make(learning_rate, momentum):
        return gdjax.sgd(learning_rate, momentum=momentum)

    before = COMPILES.count
    result = T.sweep(
        make, {"learning_rate": lrs, "momentum": momenta}, landscapes.two_gaussians, starts, 60
    )
    assert COMPILES.count - before == 1
    assert result.final.shape == (5, 3, 2, 2)
    for i, lr in enumerate(lrs):
        for j, mu in enumerate(momenta):
            one = T.run(make(lr, mu), landscapes.two_gaussians, starts, 60, record_every=0)
            np.testing.assert_allclose(result.final[i, j], one.final, rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(result.steps_to_tol[i, j], one.steps_to_tol)
    np.testing.assert_allclose(result.grid["momentum"][2, 1], 0.5)


def test_sweep_picks_the_best_setting_by_value_and_by_steps():
    lrs = np.array([1e-3, 0.02, 0.05, 0.2], np.float32)
    result = T.sweep(
        lambda learning_rate: gdjax.adam(learning_rate),
        {"learning_rate": lrs},
        landscapes.two_gaussians,
        [[-1.5, 1.2]],
        150,
    )
    scores = result.scores("value")
    assert result.best("value")["learning_rate"] == pytest.approx(float(lrs[np.argmin(scores)]))
    assert result.best("value")["score"] == pytest.approx(float(scores.min()))
    steps = result.scores("steps")
    assert np.isinf(steps[0])  # lr 1e-3 does not arrive in 150 steps
    assert result.best("steps")["learning_rate"] == pytest.approx(float(lrs[np.argmin(steps)]))


def test_sweep_records_trajectories_on_request():
    result = T.sweep(
        lambda learning_rate: gdjax.sgd(learning_rate),
        {"learning_rate": [0.1, 0.2]},
        landscapes.bowl,
        [[1.0, 1.0]],
        10,
        record_every=5,
    )
    assert result.trajectories.positions.shape == (2, 3, 1, 2)
    np.testing.assert_array_equal(result.trajectories.steps, [0, 5, 10])


# --------------------------------------------------------------------------- several devices

SHARDED = textwrap.dedent(
    """
    import jax, numpy as np, gdjax
    from gdjax import landscapes, trajectories as T
    assert len(jax.local_devices()) == 4, jax.local_devices()
    one = [jax.local_devices()[0]]
    for n in (8, 7):  # divisible by 4, and padded
        starts = np.random.default_rng(n).uniform(-2, 2, (n, 2)).astype(np.float32)
        args = (gdjax.adam(0.05), landscapes.two_gaussians, starts, 50)
        sharded = T.run(*args, record_state=True)
        single = T.run(*args, record_state=True, devices=one)
        assert len(sharded.final.sharding.device_set) == 4
        for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(single)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    grid = {"learning_rate": np.linspace(0.01, 0.3, 5), "momentum": [0.0, 0.9]}
    make = lambda learning_rate, momentum: gdjax.sgd(learning_rate, momentum)
    sharded = T.sweep(make, grid, landscapes.two_gaussians, [[1.5, 1.5]], 40)
    single = T.sweep(make, grid, landscapes.two_gaussians, [[1.5, 1.5]], 40, devices=one)
    np.testing.assert_allclose(np.asarray(sharded.final), np.asarray(single.final), rtol=1e-6)
    print("sharded ok")
    """
)


def test_sharded_over_four_host_devices_equals_one_device():
    assert "sharded ok" in run_python("-c", SHARDED, devices=4)


def test_running_the_same_optimizer_again_compiles_nothing():
    optimizer = gdjax.adam(0.05)
    starts = np.array([[1.5, 1.5], [0.0, 0.0]], np.float32)
    T.run(optimizer, landscapes.two_gaussians, starts, 20)
    before = COMPILES.count
    again = T.run(optimizer, landscapes.two_gaussians, starts + 0.1, 20)
    assert COMPILES.count == before
    assert again.final.shape == (2, 2)


def test_a_new_optimizer_of_the_same_kind_compiles_nothing():
    # The hyperparameters are the program's arguments: a new object, a new rate, the
    # NAG iterate of that rate, compile nothing once the kind has run.
    starts = np.array([[1.5, 1.5], [0.7, -0.2]], np.float32)

    def nag(lr):
        return T.run(
            gdjax.sgd(lr, momentum=0.9, nesterov=True),
            landscapes.two_gaussians,
            starts,
            25,
            iterate=T.nag_iterate(gdjax.sgd, lr, momentum=0.9, nesterov=True),
        )

    def adam(lr):
        return T.run(gdjax.adam(lr), landscapes.two_gaussians, starts, 20)

    first = adam(0.05)
    nag(0.02)
    before = COMPILES.count
    same, other, nesterov = adam(0.05), adam(0.1), nag(0.1)
    assert COMPILES.count == before
    np.testing.assert_array_equal(same.final, first.final)
    assert not np.allclose(other.final, same.final)
    # The iterate recorded follows the rate it was given (Table 11-2's NAG column).
    np.testing.assert_allclose(nesterov.iterates[-1, 1], (0.8990, -0.8983), atol=5e-5)


def test_an_optax_optimizer_still_runs_and_is_cached_on_itself():
    optax = pytest.importorskip("optax")
    starts = np.array([[1.5, 1.5], [0.7, -0.2]], np.float32)
    optimizer = optax.sgd(0.1, momentum=0.9)
    ours = T.run(gdjax.sgd(0.1, momentum=0.9), landscapes.two_gaussians, starts, 30)
    theirs = T.run(optimizer, landscapes.two_gaussians, starts, 30)
    np.testing.assert_allclose(theirs.positions, ours.positions, rtol=1e-6, atol=1e-7)
    before = COMPILES.count
    T.run(optimizer, landscapes.two_gaussians, starts + 0.1, 30)
    assert COMPILES.count == before


def test_a_second_sweep_of_the_same_kind_and_shape_compiles_nothing():
    starts = np.array([[1.5, 1.5], [0.7, -0.2]], np.float32)

    def search(lrs, momentum):
        # A new factory each time, as the command line makes one per call.
        return T.sweep(
            lambda learning_rate: gdjax.sgd(learning_rate, momentum=momentum),
            {"learning_rate": lrs},
            landscapes.two_gaussians,
            starts,
            30,
        )

    search([0.01, 0.1, 0.3], 0.9)
    before = COMPILES.count
    result = search([0.02, 0.2, 0.05], 0.5)
    assert COMPILES.count == before
    for i, lr in enumerate([0.02, 0.2, 0.05]):
        one = T.run(gdjax.sgd(np.float32(lr), momentum=0.5), landscapes.two_gaussians, starts, 30)
        np.testing.assert_allclose(result.final[i], one.final, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["optax", "lambda schedule"])
def test_a_sweep_of_closures_calls_the_factory_inside_and_equals_the_runs(kind):
    # Their values live in closures (stacked_calls returns None): the factory is called
    # in the program, as before optimizers were pytrees.
    if kind == "optax":
        optax = pytest.importorskip("optax")

        def make(learning_rate):
            return optax.sgd(learning_rate, momentum=0.9)
    else:

        def make(learning_rate):
            return gdjax.sgd(lambda count: learning_rate * 0.9**count)

    assert gdjax.bound.stacked_calls(make, {"learning_rate": np.float32([0.1, 0.2])}) is None
    starts = np.array([[1.5, 1.5], [0.7, -0.2]], np.float32)
    lrs = np.float32([0.05, 0.2])
    result = T.sweep(make, {"learning_rate": lrs}, landscapes.two_gaussians, starts, 30)
    for i, lr in enumerate(lrs):
        one = T.run(make(lr), landscapes.two_gaussians, starts, 30, record_every=0)
        np.testing.assert_allclose(result.final[i], one.final, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- many runs


def _flat(x):
    """A function whose gradient is zero: the noise is all that moves a run."""
    return 0.0 * jnp.sum(x)


def test_identical_starts_under_noise_are_runs_of_their_own():
    run = T.run(gdjax.noisy_sgd(0.1, eta=1.0), landscapes.two_gaussians, np.zeros((16, 2)), 20)
    assert len(np.unique(np.asarray(run.final), axis=0)) == 16
    again = T.run(gdjax.noisy_sgd(0.1, eta=1.0), landscapes.two_gaussians, np.zeros((16, 2)), 20)
    np.testing.assert_array_equal(run.final, again.final)
    np.testing.assert_array_equal(run.positions, again.positions)


def test_the_noise_of_different_runs_is_uncorrelated():
    # One step of noisy_sgd(1, eta=1) on a flat function: x_1 = x_0 - N(0, 1), so the
    # final points are minus the runs' first draws.
    draws = -np.asarray(
        T.run(gdjax.noisy_sgd(1.0, eta=1.0), _flat, np.zeros((256, 1)), 1, tol=None).final[:, 0]
    )
    assert 0.8 < draws.std() < 1.2 and abs(draws.mean()) < 4 / np.sqrt(256)
    # Neighbouring runs (r, r + 1) and runs half the ensemble apart (r, r + 128).
    for a, b in [(draws[:-1], draws[1:]), (draws[:128], draws[128:])]:
        assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(256)


def test_a_run_is_reproducible_from_its_key_and_index():
    optimizer = gdjax.noisy_sgd(0.5, eta=1.0, key=7)
    run = T.run(optimizer, _flat, np.zeros((5, 3)), 1, tol=None)
    for r in range(5):
        x = jnp.zeros(3)
        state = gdjax.keys.for_run(optimizer.init(x), r)
        updates, _ = optimizer.update(jnp.zeros(3), state, x)
        np.testing.assert_array_equal(run.final[r], gdjax.apply_updates(x, updates))


def test_every_setting_and_start_of_a_sweep_is_a_run_of_its_own():
    starts = np.zeros((3, 2))
    result = T.sweep(
        lambda learning_rate: gdjax.noisy_sgd(learning_rate, eta=1.0),
        {"learning_rate": [0.1, 0.1]},
        landscapes.two_gaussians,
        starts,
        10,
    )
    finals = np.asarray(result.final).reshape(-1, 2)
    assert len(np.unique(finals, axis=0)) == 6
    # Setting 0's starts are runs 0..N-1, as in `run`.
    one = T.run(gdjax.noisy_sgd(0.1, eta=1.0), landscapes.two_gaussians, starts, 10)
    np.testing.assert_allclose(result.final[0], one.final, rtol=1e-6)


def test_grid_axes_keep_their_dtype():
    seen = {}

    def make(learning_rate, key, nesterov_momentum):
        seen.update(lr=learning_rate.dtype, key=key.dtype, mu=nesterov_momentum.dtype)
        return gdjax.chain(
            gdjax.add_noise(1.0, key=key), gdjax.sgd(learning_rate, momentum=nesterov_momentum)
        )

    result = T.sweep(
        make,
        {
            "learning_rate": np.array([0.1], np.float64),
            "key": [0, 1, 2],
            "nesterov_momentum": [0.5],
        },
        landscapes.two_gaussians,
        [[0.0, 0.0]],
        10,
    )
    assert seen == {"lr": jnp.float32, "key": jnp.int32, "mu": jnp.float32}
    assert result.grid["key"].dtype == np.int32 and result.final.shape == (1, 3, 1, 1, 2)
    assert len(np.unique(np.asarray(result.final).reshape(-1, 2), axis=0)) == 3
    assert result.best()["key"] in (0, 1, 2) and isinstance(result.best()["key"], int)
    # A typed key axis works too.
    keyed = T.sweep(
        lambda key: gdjax.noisy_sgd(0.1, eta=1.0, key=key),
        {"key": jax.random.split(jax.random.key(0), 2)},
        landscapes.two_gaussians,
        [[0.0, 0.0]],
        10,
    )
    assert keyed.final.shape == (2, 1, 2)
    with pytest.raises(ValueError, match="grid's 'lr' must hold numbers"):
        T.sweep(lambda lr: gdjax.sgd(lr), {"lr": ["a"]}, landscapes.bowl, [[1.0, 1.0]], 2)


def _minus_square(x):
    return -jnp.sum(x**2)


def test_a_run_that_reaches_infinity_diverged_and_never_ranks_best():
    # x_{k+1} = (1 + 2 lr) x_k: lr = 10 overflows to inf (value -inf) well within 40
    # steps, lr = 0.01 stays finite. Unbounded below, -inf was "best" before.
    result = T.sweep(
        lambda learning_rate: gdjax.sgd(learning_rate),
        {"learning_rate": [10.0, 0.01]},
        _minus_square,
        [[1.0, 1.0]],
        40,
        tol=None,
    )
    assert np.asarray(result.diverged).tolist() == [[True], [False]]
    assert np.isinf(result.scores()[0]) and result.scores()[0] > 0
    assert result.best()["learning_rate"] == pytest.approx(0.01)
    assert np.isfinite(result.best()["score"])
    run = T.run(gdjax.sgd(10.0), _minus_square, [[1.0, 1.0]], 40, tol=None)
    assert bool(run.diverged[0]) and not np.isfinite(np.asarray(run.final[0])).all()


def test_a_finite_point_whose_value_overflows_diverged():
    # No step: the points stay where they start, and 1e30 * 1e20 overflows float32.
    run = T.run(gdjax.sgd(0.1), lambda x: 1e30 * jnp.sum(x**2), [[1e10, 0.0], [1.0, 0.0]], 0)
    assert np.isfinite(np.asarray(run.final)).all()
    assert np.asarray(run.diverged).tolist() == [True, False]


def test_bound_and_tol_accept_numpy_and_jax_scalars():
    run = T.run(
        gdjax.sgd(0.1),
        landscapes.bowl,
        np.ones((2, 2)),
        5,
        bound=jnp.float32(10),
        tol=np.float64(1),
    )
    assert not np.asarray(run.diverged).any()
    with pytest.raises(ValueError, match="bound must be one number"):
        T.run(gdjax.sgd(0.1), landscapes.bowl, np.ones((2, 2)), 5, bound=np.array([1.0, 2.0]))


@pytest.mark.parametrize(
    "optimizer",
    [
        gdjax.rmsprop(0.1, momentum=0.9, nesterov=True),
        gdjax.sgd(gdjax.schedules.exponential_decay(0.1, 1, 0.9), momentum=0.9, nesterov=True),
        gdjax.adam(0.1),
    ],
    ids=["rmsprop", "scheduled-sgd", "adam"],
)
def test_nesterov_iterate_refuses_chains_it_cannot_invert(optimizer):
    with pytest.raises(ValueError, match="nesterov_iterate: the optimizer must be gdjax.sgd"):
        T.run(optimizer, landscapes.bowl, np.ones((1, 2)), 2, iterate=T.nesterov_iterate(0.1, 0.9))


# Module-level factories: each (factory, landscape) compiles once for every draw.
_FACTORIES = {
    "sgd": lambda learning_rate: gdjax.sgd(learning_rate),
    "momentum": lambda learning_rate: gdjax.sgd(learning_rate, momentum=0.9),
    "adam": lambda learning_rate: gdjax.adam(learning_rate),
}
_LANDSCAPES = {
    "saddle": landscapes.saddle,
    "rosenbrock": landscapes.rosenbrock,
    "minus_square": _minus_square,
    "overflowing": lambda x: 1e36 * jnp.sum(x**2),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    factory=st.sampled_from(sorted(_FACTORIES)),
    landscape=st.sampled_from(sorted(_LANDSCAPES)),
    exponents=st.lists(st.integers(-3, 4), min_size=4, max_size=4),
    start=st.lists(st.floats(-3, 3, width=32), min_size=2, max_size=2),
    by=st.sampled_from(["value", "steps"]),
)
def test_best_of_any_sweep_is_finite_whenever_any_setting_is(
    factory, landscape, exponents, start, by
):
    result = T.sweep(
        _FACTORIES[factory],
        {"learning_rate": [10.0**e for e in exponents]},
        _LANDSCAPES[landscape],
        [start],
        30,
        tol=1.0,
        minima=[[0.0, 0.0]],
    )
    finite = np.isfinite(np.asarray(result.final)).all(axis=(-2, -1)) & np.isfinite(
        np.asarray(result.final_value)
    ).all(axis=-1)
    np.testing.assert_array_equal(np.asarray(result.diverged)[:, 0], ~finite)
    scores = result.scores(by)
    best = result.best(by)
    if by == "value" and finite.any():
        assert np.isfinite(best["score"])
    assert best["score"] == scores.min()
    assert not np.isnan(scores).any()
    # No diverged setting ranks above a finite one.
    assert (scores[~finite] == np.inf).all()


# --------------------------------------------------------------------------- nag_iterate


def test_nag_iterate_is_the_nesterov_iterate_of_sgd_and_none_for_the_rest():
    lr, mu, steps = 0.1, 0.9, 25
    start = [[0.7, -0.2]]
    iterate = T.nag_iterate(gdjax.sgd, lr, momentum=mu, nesterov=True)
    assert iterate is not None
    run = T.run(gdjax.sgd(lr, mu, True), landscapes.two_gaussians, start, steps, iterate=iterate)
    np.testing.assert_allclose(run.iterates[-1, 0], (0.8990, -0.8983), atol=5e-5)  # Table 11-2
    # The same by position, and with the rate as an array.
    assert T.nag_iterate(gdjax.sgd, jnp.float32(lr), mu, True) is not None
    for factory, args, kwargs in [
        (gdjax.sgd, (lr,), {}),
        (gdjax.sgd, (lr,), {"momentum": mu}),
        (gdjax.sgd, (lr,), {"nesterov": True}),  # no momentum: plain descent
        (gdjax.sgd, (gdjax.schedules.exponential_decay(lr, 1, 0.9),), {"momentum": mu}),
        (gdjax.sgd, (lambda step: lr,), {"momentum": mu, "nesterov": True}),
        (gdjax.adam, (lr,), {"nesterov": True}),
        (gdjax.rmsprop, (lr,), {"momentum": mu, "nesterov": True}),
        (gdjax.nadam, (lr,), {}),
        (gdjax.sgd, (), {}),  # unbindable: the factory says what is wrong
    ]:
        assert T.nag_iterate(factory, *args, **kwargs) is None, (factory, args, kwargs)
