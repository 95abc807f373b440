import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.base import EMPTY_INIT, GradientTransformation
from gdjax.bound import bind
from gdjax.transforms.monitoring import (
    MonitorState,
    SnapshotState,
    measure_with_ema,
    monitor,
    snapshot,
)
from tests.helpers import assert_moved, assert_trees_close, loss, nested_params, run


def _norm(updates):
    return gdjax.tree.global_norm(updates)


def _clipped(updates):
    return gdjax.tree.global_norm(updates) > 0.05


def _loop(tx, params, steps=300):
    """``steps`` jitted steps in a Python loop: optax's monitor changes the structure of
    its state at the first step, which a scan cannot carry."""

    @jax.jit
    def step(p, s):
        value, g = jax.value_and_grad(loss)(p)
        u, s = tx.update(g, s, p, value=value)
        return gdjax.apply_updates(p, u), s

    p, s = params, tx.init(params)
    for _ in range(steps):
        p, s = step(p, s)
    return p, s


def _signature(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_signatures_and_states_match_optax():
    for ours, theirs in (
        (snapshot, optax.snapshot),
        (monitor, optax.monitor),
        (measure_with_ema, optax.measure_with_ema),
    ):
        assert _signature(ours) == _signature(theirs)
    assert SnapshotState._fields == optax.SnapshotState._fields
    assert MonitorState._fields == optax.MonitorState._fields


def test_snapshot_matches_optax():
    params = nested_params()
    got, state = run(
        gdjax.chain(gdjax.sgd(0.01, 0.9), snapshot("n", _norm), gdjax.clip_by_global_norm(0.05)),
        params,
    )
    want, wstate = run(
        optax.chain(
            optax.sgd(0.01, 0.9),
            optax.snapshot("n", optax.tree.norm),
            optax.clip_by_global_norm(0.05),
        ),
        params,
    )
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert list(state[1].measurement) == ["n"]
    assert_trees_close(state[1].measurement, wstate[1].measurement, rtol=1e-4)
    assert float(state[1].measurement["n"]) > 0
    assert gdjax.tree.get(state, "n") is state[1].measurement["n"]


def test_snapshot_init_measures_the_params():
    params = nested_params()
    state = snapshot("n", _norm).init(params)
    np.testing.assert_allclose(state.measurement["n"], _norm(params))


def test_monitor_with_ema_matches_optax():
    params = nested_params()
    got, state = _loop(
        gdjax.chain(
            gdjax.sgd(0.01, 0.9),
            monitor({"n": _norm, "clipped": measure_with_ema(_clipped, 0.9)}),
            gdjax.clip_by_global_norm(0.05),
        ),
        params,
        steps=300,
    )
    want, wstate = _loop(
        optax.chain(
            optax.sgd(0.01, 0.9),
            optax.monitor({"n": _norm, "clipped": optax.measure_with_ema(_clipped, 0.9)}),
            optax.clip_by_global_norm(0.05),
        ),
        params,
        steps=300,
    )
    assert_moved(params, got)
    assert_trees_close(got, want)
    ours, theirs = state[1], wstate[1]
    assert sorted(ours.measurements) == sorted(theirs.measurements) == ["clipped", "n"]
    assert_trees_close(ours.measurements, theirs.measurements, rtol=1e-5)
    assert 0 < float(ours.measurements["clipped"]) < 1
    assert_trees_close(jax.tree.leaves(ours.measure_states), jax.tree.leaves(theirs.measure_states))


def test_monitor_state_keeps_its_structure_so_it_runs_in_a_scan():
    params = nested_params()
    tx = monitor({"n": _norm, "ema": measure_with_ema(_norm, 0.5, debias=False)})
    state = tx.init(params)
    _, after = tx.update(params, state, params)
    assert jax.tree.structure(state) == jax.tree.structure(after)
    assert [x.dtype for x in jax.tree.leaves(state)] == [x.dtype for x in jax.tree.leaves(after)]
    got, state = run(gdjax.chain(tx, gdjax.sgd(0.01)), params)
    want, _ = run(gdjax.sgd(0.01), params)
    assert_trees_close(got, want, rtol=0, atol=0)  # the updates pass through unchanged
    before_last = run(gdjax.sgd(0.01), params, 299)[0]
    np.testing.assert_allclose(
        state[0].measurements["n"], _norm(jax.grad(loss)(before_last)), rtol=1e-5
    )


def _value_update(updates, state, params=None, *, value):
    del updates, params
    return value, state


def test_monitor_forwards_extra_arguments_to_measuring_transformations():
    params = nested_params()
    loss_seen = GradientTransformation(EMPTY_INIT, bind(_value_update))
    # Without a value to measure, init has no entry for it (as optax has none at all).
    assert list(monitor({"loss": loss_seen, "n": _norm}).init(params).measurements) == ["n"]
    tx = gdjax.chain(monitor({"loss": loss_seen, "n": _norm}), gdjax.sgd(0.01))
    state = tx.init(params)
    update = jax.jit(tx.update)
    p = params
    for _ in range(5):
        value, g = jax.value_and_grad(loss)(p)
        u, state = update(g, state, p, value=value)
        p = gdjax.apply_updates(p, u)
    before_last = run(gdjax.sgd(0.01), params, steps=4)[0]
    np.testing.assert_allclose(state[0].measurements["loss"], loss(before_last), rtol=1e-6)


def test_measure_with_ema_matches_optax_step_by_step():
    params = nested_params()
    for debias in (True, False):
        ours = measure_with_ema(_norm, 0.8, debias=debias)
        theirs = optax.measure_with_ema(_norm, 0.8, debias=debias)
        s, ws = ours.init(params), theirs.init(params)
        p = params
        for _ in range(5):
            g = jax.grad(loss)(p)
            m, s = ours.update(g, s, p)
            wm, ws = theirs.update(g, ws, p)
            np.testing.assert_allclose(m, wm, rtol=1e-6)
            p = jax.tree.map(lambda x, y: x - 0.01 * y, p, g)
        assert s[1]._fields == ws[1]._fields


def test_measure_with_ema_averages_bools_as_floats():
    tx = measure_with_ema(lambda u: u["a"] > 0, 0.5, debias=False)
    state = tx.init({"a": jnp.ones(1)})
    m, state = tx.update({"a": jnp.ones(1)}, state)
    m, state = tx.update({"a": -jnp.ones(1)}, state)
    assert m.dtype == jnp.float32
    np.testing.assert_allclose(m, [0.25])


def test_validation():
    with pytest.raises(ValueError, match=r"^measure_with_ema: decay .*1\.5"):
        measure_with_ema(_norm, 1.5)
    with pytest.raises(ValueError, match=r"^measure_with_ema: debias .*1"):
        measure_with_ema(_norm, 0.9, debias=1)
    with pytest.raises(ValueError, match=r"^measure_with_ema: measure .*3"):
        measure_with_ema(3, 0.9)
    with pytest.raises(ValueError, match=r"^snapshot: .*name.*7"):
        snapshot(7, _norm)
    with pytest.raises(ValueError, match=r"^snapshot: measure .*'x'"):
        snapshot("n", "x")
    with pytest.raises(ValueError, match=r"^monitor: measures .*\[1\]"):
        monitor([1])
    with pytest.raises(ValueError, match=r"^monitor: measures\['n'\] .*2"):
        monitor({"n": 2})


def test_bfloat16_updates_pass_through_in_their_dtype():
    params = nested_params(jnp.bfloat16)
    tx = gdjax.chain(snapshot("s", _norm), monitor({"n": _norm, "e": measure_with_ema(_norm, 0.9)}))
    state = tx.init(params)
    u, after = jax.jit(tx.update)(params, state, params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert [x.dtype for x in jax.tree.leaves(state)] == [x.dtype for x in jax.tree.leaves(after)]


def test_zero_gradients_leave_params_unchanged():
    params = nested_params()
    tx = gdjax.chain(monitor({"n": _norm}), snapshot("s", _norm), gdjax.adam(0.1))
    got, _ = run(tx, params, 10, lambda p: 0.0 * loss(p))
    assert_trees_close(got, params, rtol=0, atol=0)


def test_vmap_over_the_ema_decay_inside_jit():
    params = nested_params()

    def final(decay):
        tx = gdjax.chain(monitor({"e": measure_with_ema(_norm, decay)}), gdjax.sgd(0.01))
        return run(tx, params, 30)[1][0].measurements["e"]

    decays = jnp.array([0.5, 0.95])
    batched = jax.jit(jax.vmap(final))(decays)
    for i in range(2):
        np.testing.assert_allclose(batched[i], final(float(decays[i])), rtol=1e-5)
    assert not np.allclose(batched[0], batched[1])
