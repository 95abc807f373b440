import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax

# A loss curve that improves, stalls, improves a little, and stalls for good.
VALUES = [5.0, 4.0, 3.0] + [3.0] * 6 + [2.9, 2.8] + [2.8] * 20


def _scales(tx, values, pass_value=True):
    params = {"a": jnp.ones(3)}
    state = tx.init(params)
    update = jax.jit(tx.update)
    scales = []
    for v in values:
        u, state = update(params, state, params, value=jnp.asarray(v))
        scales.append(float(u["a"][0]))
    return np.array(scales), state


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"factor": 0.5, "patience": 2},
        {"factor": 0.5, "patience": 3, "cooldown": 2, "min_scale": 0.1},
        {"factor": 0.5, "patience": 2, "rtol": 0.0, "atol": 0.05},
        {"factor": 0.8, "patience": 1, "accumulation_size": 3},
    ],
)
def test_matches_optax(kwargs):
    ours, _ = _scales(gdjax.reduce_on_plateau(**kwargs), VALUES)
    theirs, _ = _scales(optax.contrib.reduce_on_plateau(**kwargs), VALUES)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    if kwargs:
        assert ours[-1] < 1.0  # the schedule actually reduced


def test_reduces_after_patience_evaluations_without_improvement():
    scales, state = _scales(
        gdjax.reduce_on_plateau(factor=0.5, patience=2), [3.0, 3.0, 3.0, 3.0, 3.0]
    )
    np.testing.assert_allclose(scales, [1.0, 1.0, 0.5, 0.5, 0.25])
    assert float(state.best_value) == 3.0


def test_min_scale_is_a_floor():
    scales, _ = _scales(gdjax.reduce_on_plateau(factor=0.1, patience=1, min_scale=0.05), [1.0] * 6)
    assert scales.min() == pytest.approx(0.05)


def test_needs_the_monitored_value():
    tx = gdjax.reduce_on_plateau()
    with pytest.raises(ValueError, match="value=loss"):
        tx.update({"a": jnp.ones(1)}, tx.init({"a": jnp.ones(1)}))


def test_rtol_and_atol_cannot_both_be_zero():
    with pytest.raises(ValueError, match="rtol and atol"):
        gdjax.reduce_on_plateau(rtol=0.0, atol=0.0)


def test_a_negative_plateau_is_reduced_after_patience_evaluations():
    # NLL and ELBO losses are negative: v < (1 - rtol) * best - atol (optax 0.2.8) counts
    # v = best = -3 as an improvement forever, and the scale never moves.
    scales, state = _scales(
        gdjax.reduce_on_plateau(factor=0.5, patience=2), [-1.0, -2.0, -3.0, -3.0, -3.0, -3.0]
    )
    np.testing.assert_array_equal(scales, [1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    assert float(state.best_value) == -3.0
    assert int(state.plateau_count) == 1


def test_a_worse_negative_value_is_not_an_improvement():
    # -2.9999 is worse than the best -3; rtol makes -2.9 worse still.
    for worse in ([-3.0, -2.9999, -2.9999], [-3.0, -2.9, -2.9]):
        scales, state = _scales(gdjax.reduce_on_plateau(factor=0.5, patience=2), worse)
        np.testing.assert_array_equal(scales, [1.0, 1.0, 0.5])
        assert float(state.best_value) == -3.0


def test_improvement_is_measured_against_the_magnitude_of_the_best():
    # best - rtol * |best| - atol: with rtol=0.1 a negative value must beat -10 by 1.
    tx = gdjax.reduce_on_plateau(factor=0.5, patience=1, rtol=0.1)
    scales, _ = _scales(tx, [-10.0, -10.5, -11.5, -11.5])
    np.testing.assert_array_equal(scales, [1.0, 0.5, 0.5, 0.25])
    # rtol=1 asks for a value below 2 * best, or 0 for a positive best: the first finite
    # value is still an improvement (best starts at +inf, and (1 - 1) * inf is NaN).
    scales, state = _scales(gdjax.reduce_on_plateau(factor=0.5, patience=1, rtol=1.0), [3.0, -1.0])
    np.testing.assert_array_equal(scales, [1.0, 1.0])
    assert float(state.best_value) == -1.0


def test_hyperparameters_are_data_under_jit_and_vmap():
    values = jnp.asarray([-1.0, -2.0, -3.0, -3.0, -3.0, -3.0])

    def final_scale(rtol, atol):
        tx = gdjax.reduce_on_plateau(factor=0.5, patience=2, rtol=rtol, atol=atol)
        params = {"a": jnp.ones(1)}
        state = tx.init(params)
        for v in values:
            _, state = tx.update(params, state, params, value=v)
        return state.scale

    got = jax.jit(jax.vmap(final_scale))(jnp.asarray([1e-4, 0.5]), jnp.asarray([0.0, 0.0]))
    np.testing.assert_array_equal(got, [0.5, 0.25])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"factor": 0.5, "patience": 5, "rtol": 1e-3},
        {"factor": 0.7, "patience": 3, "cooldown": 4, "min_scale": 1e-3, "atol": 1e-3},
        {"factor": 0.5, "patience": 2, "rtol": 0.0, "atol": 0.01, "accumulation_size": 4},
    ],
)
def test_positive_values_are_bit_identical_to_optax_over_hundreds_of_steps(kwargs):
    # A noisy loss that falls fast, then slowly, then stalls: many near-ties with the threshold.
    rng = np.random.default_rng(0)
    steps = np.arange(400)
    curve = 0.5 + 3.0 * np.exp(-steps / 40) + 0.02 * rng.standard_normal(400) * np.exp(-steps / 200)
    values = curve.astype(np.float32)
    ours, ours_state = _scales(gdjax.reduce_on_plateau(**kwargs), values)
    theirs, their_state = _scales(optax.contrib.reduce_on_plateau(**kwargs), values)
    np.testing.assert_array_equal(ours, theirs)
    assert float(ours_state.best_value) == float(their_state.best_value)
    assert len(set(ours.tolist())) > 1  # the scale was reduced


def test_its_hyperparameters_are_data_one_trace_for_many_values():
    params = {"a": jnp.ones(3)}
    traces = []

    @jax.jit
    def step(tx, state, value):
        traces.append(1)
        return tx.update(params, state, params, value=value)

    for factor, patience, cooldown in [(0.5, 2, 0), (0.8, 3, 2), (0.1, 1, 1)]:
        tx = gdjax.reduce_on_plateau(factor=factor, patience=patience, cooldown=cooldown)
        assert jax.tree.leaves(tx) == [factor, patience, 1e-4, 0.0, cooldown, 0.0, 1]
        closed = jax.jit(lambda s, v, tx=tx: tx.update(params, s, params, value=v))
        state = want_state = tx.init(params)
        for v in VALUES:
            u, state = step(tx, state, jnp.asarray(v))
            want, want_state = closed(want_state, jnp.asarray(v))
            np.testing.assert_array_equal(u["a"], want["a"])
        assert float(u["a"][0]) < 1.0
    assert len(traces) == 1
