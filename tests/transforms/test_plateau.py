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
    scales = []
    for v in values:
        u, state = tx.update(params, state, params, value=jnp.asarray(v))
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
