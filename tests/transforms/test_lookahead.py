import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms.lookahead import LookaheadParams, LookaheadState, lookahead
from tests.helpers import assert_moved, assert_trees_close, loss, nested_params


def _run(tx, params, steps=300, pair=LookaheadParams, loss_fn=loss):
    """``steps`` lookahead steps as one jitted scan: gradients at the fast params."""

    def step(carry, _):
        p, s = carry
        u, s = tx.update(jax.grad(loss_fn)(p.fast), s, p)
        return (gdjax.apply_updates(p, u), s), None

    @jax.jit
    def go(p):
        p = pair.init_synced(p)
        (p, s), _ = jax.lax.scan(step, (p, tx.init(p)), None, length=steps)
        return p, s

    return go(params)


@pytest.mark.parametrize(
    "args",
    [
        dict(sync_period=5, slow_step_size=0.5),
        dict(sync_period=3, slow_step_size=0.8, reset_state=True),
    ],
)
def test_lookahead_matches_optax(args):
    params = nested_params()
    got, state = _run(lookahead(gdjax.adam(0.01), **args), params)
    want, wstate = _run(
        optax.lookahead(optax.adam(0.01), **args), params, pair=optax.LookaheadParams
    )
    assert_moved(params, got.slow)
    assert_moved(params, got.fast)
    assert_trees_close(got.fast, want.fast)
    assert_trees_close(got.slow, want.slow)
    assert state._fields == wstate._fields
    assert_trees_close(jax.tree.leaves(state.fast_state), jax.tree.leaves(wstate.fast_state))
    assert int(state.steps_since_sync) == int(wstate.steps_since_sync) == 300 % args["sync_period"]


def test_reset_state_restarts_the_fast_optimizer_at_each_sync():
    params = nested_params()
    _, state = _run(lookahead(gdjax.sgd(0.01, 0.9), 4, 0.5, reset_state=True), params, 8)
    assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(state.fast_state))
    _, state = _run(lookahead(gdjax.sgd(0.01, 0.9), 4, 0.5), params, 8)
    assert not all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(state.fast_state))


def test_the_kth_step_synchronises_fast_and_slow():
    params = {"a": jnp.array([1.0, -2.0])}
    tx = lookahead(gdjax.sgd(0.1), 2, 0.5)
    p = LookaheadParams.init_synced(params)
    state = tx.init(p)
    for t in range(2):
        u, state = tx.update({"a": jnp.array([1.0, 1.0])}, state, p)
        p = gdjax.apply_updates(p, u)
        if t == 0:
            np.testing.assert_allclose(p.slow["a"], [1.0, -2.0])
            np.testing.assert_allclose(p.fast["a"], [0.9, -2.1])
    # The fast weights reached a - 0.2; the slow move half way, and the fast follow.
    np.testing.assert_allclose(p.slow["a"], [0.9, -2.1], rtol=1e-6)
    np.testing.assert_allclose(p.fast["a"], p.slow["a"], rtol=1e-6)


def test_init_takes_plain_params_and_update_refuses_them():
    params = {"a": jnp.ones(2)}
    tx = lookahead(gdjax.adam(0.1), 2, 0.5)
    state = tx.init(params)
    assert_trees_close(state, tx.init(LookaheadParams.init_synced(params)))
    with pytest.raises(ValueError, match="LookaheadParams"):
        tx.update(params, state, params)


def test_signature_and_types_match_optax():
    ours = inspect.signature(lookahead).parameters
    theirs = inspect.signature(optax.lookahead).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]
    assert LookaheadState._fields == optax.LookaheadState._fields
    assert LookaheadParams._fields == optax.LookaheadParams._fields


@pytest.mark.parametrize(
    "name, bad",
    [("sync_period", 0), ("sync_period", 2.5), ("slow_step_size", -0.1), ("slow_step_size", 1.5)],
)
def test_validation(name, bad):
    args = {"sync_period": 5, "slow_step_size": 0.5, name: bad}
    with pytest.raises(ValueError, match=rf"^lookahead: {name} .*{bad!r}"):
        lookahead(gdjax.sgd(0.1), **args)
    with pytest.raises(ValueError, match=r"^lookahead: reset_state .*1"):
        lookahead(gdjax.sgd(0.1), 5, 0.5, reset_state=1)


def test_bfloat16_params_give_bfloat16_updates_and_state():
    params = LookaheadParams.init_synced(nested_params(jnp.bfloat16))
    tx = lookahead(gdjax.adam(0.01), 2, 0.5)
    state = tx.init(params)
    update = jax.jit(tx.update)
    for _ in range(2):
        u, state = update(jax.jit(jax.grad(loss))(params.fast), state, params)
        params = gdjax.apply_updates(params, u)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state.fast_state[0].mu))


def test_zero_gradients_leave_params_unchanged():
    params = nested_params()
    got, _ = _run(lookahead(gdjax.adam(0.1), 3, 0.5), params, 20, loss_fn=lambda p: 0.0 * loss(p))
    assert_trees_close(got.fast, params, rtol=0, atol=0)
    assert_trees_close(got.slow, params, rtol=0, atol=0)


@pytest.mark.parametrize("name, values", [("sync_period", (2, 5)), ("slow_step_size", (0.3, 0.8))])
def test_vmap_over_a_hyperparameter_inside_jit(name, values):
    params = nested_params()

    def final(v):
        args = dict(sync_period=5, slow_step_size=0.5)
        args[name] = v
        return _run(lookahead(gdjax.sgd(0.01, 0.9), **args), params, 40)[0].slow

    batched = jax.jit(jax.vmap(final))(jnp.array(values))
    for i, v in enumerate(values):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), final(v))
    assert not np.allclose(batched["scale"][0], batched["scale"][1])


def test_learning_rate_schedule_of_the_fast_optimizer():
    params = nested_params()
    schedule = gdjax.schedules.exponential_decay(0.02, 50, 0.5)
    got, _ = _run(lookahead(gdjax.adam(schedule), 5, 0.5), params)
    want, _ = _run(
        optax.lookahead(optax.adam(optax.exponential_decay(0.02, 50, 0.5)), 5, 0.5),
        params,
        pair=optax.LookaheadParams,
    )
    assert_moved(params, got.slow)
    assert_trees_close(got.slow, want.slow)
