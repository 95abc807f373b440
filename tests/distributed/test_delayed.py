"""`delayed`: stale gradients as a Downpour / parameter-server worker sees them."""

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from gdjax.distributed import DelayedState, delayed
from gdjax.tree import StructureError
from tests.helpers import DEFAULT_COMPILER

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
INT32_MAX = 2**31 - 1

OPTIMIZERS = {
    "sgd": lambda: gdjax.sgd(0.05),
    "momentum": lambda: gdjax.sgd(0.05, momentum=0.9),
    "adam": lambda: gdjax.adam(1e-2),
}


def nested_params():
    """A nested pytree with a matrix, a vector, a tuple and a scalar leaf."""
    return {
        "w": jnp.linspace(-1.0, 1.0, 12, dtype=jnp.float32).reshape(3, 4),
        "inner": {"b": jnp.arange(4, dtype=jnp.float32) / 3, "s": jnp.float32(0.7)},
        "pair": (jnp.ones(2, jnp.float32), jnp.full((1, 2), -0.5, jnp.float32)),
    }


def loss(params):
    """A non-quadratic loss, so the trajectory feeds back into the gradients."""
    leaves = jax.tree.leaves(params)
    return sum(jnp.sum(0.5 * x**2 + 0.1 * x**4 + 0.3 * jnp.sin(3 * x)) for x in leaves)


def descend(tx, params, steps):
    """``steps`` closed-loop steps on `loss` as one ``lax.scan``: params and state."""

    def step(carry, _):
        p, s = carry
        updates, s = tx.update(jax.grad(loss)(p), s, p)
        return (gdjax.apply_updates(p, updates), s), None

    return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[0]


def stale_recursion(x0, lr, a, tau, steps):
    """The hand-written stale-gradient recursion, in float32 like the optimizer.

    ``x_{t+1} = x_t - lr * a * x_{t-tau}`` for ``t >= tau``; ``x_{t+1} = x_t`` before
    (no gradient has arrived yet).
    """
    xs = [np.float32(x0)]
    for t in range(steps):
        x = xs[-1]
        if t >= tau:
            gradient = np.float32(a) * xs[t - tau]
            x = x + np.float32(-lr) * gradient
        xs.append(np.float32(x))
    return np.array(xs)


# --------------------------------------------------------------------------- the recursion


@pytest.mark.parametrize("tau", [0, 1, 3])
def test_stale_sgd_on_a_quadratic_is_the_delay_recursion(tau):
    lr, a, x0, steps = 0.1, 2.0, 1.5, 50
    tx = delayed(gdjax.sgd(lr), tau)
    x, state, xs = jnp.float32(x0), None, [np.float32(x0)]
    state = tx.init(x)
    for _ in range(steps):
        updates, state = tx.update(a * x, state, x)  # the gradient of 0.5 a x^2 at x_t
        x = gdjax.apply_updates(x, updates)
        xs.append(np.asarray(x))
    expected = stale_recursion(x0, lr, a, tau, steps)
    np.testing.assert_array_equal(np.array(xs), expected)
    assert np.all(expected[: tau + 1] == np.float32(x0))  # warm-up: nothing moves
    assert abs(expected[-1]) < 0.1 * x0  # lr*a = 0.2 is below every limit here: it converges


def test_warm_up_returns_zeros_and_leaves_the_inner_state_alone():
    tau = 3
    tx = delayed(gdjax.adam(0.1), tau)
    params = nested_params()
    state = tx.init(params)
    fresh = state.inner_state
    for t in range(tau):
        grads = jax.tree.map(lambda x, t=t: x + t + 1.0, params)
        updates, state = tx.update(grads, state, params)
        assert all(not np.any(np.asarray(u)) for u in jax.tree.leaves(updates))
        for a, b in zip(jax.tree.leaves(state.inner_state), jax.tree.leaves(fresh), strict=True):
            np.testing.assert_array_equal(a, b)  # Adam's count stays 0: no bias-correction drift
        assert int(state.count) == t + 1
    updates, state = tx.update(params, state, params)
    assert int(state.inner_state[0].count) == 1  # the first real Adam step
    assert any(np.any(np.asarray(u)) for u in jax.tree.leaves(updates))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("tau", [1, 4])
def test_delayed_is_inner_fed_the_same_gradients_tau_steps_later(name, tau):
    """Open loop: the updates of step t are inner's updates of step t - tau.

    Bit for bit for sgd and momentum; Adam's arithmetic may be fused differently by
    XLA in the two programs, so it agrees to rounding."""
    params, steps = nested_params(), 100
    keys = jax.random.split(jax.random.key(0), steps)
    leaves, treedef = jax.tree.flatten(params)

    def gradient(key):
        parts = jax.random.split(key, len(leaves))
        return treedef.unflatten(
            [
                jax.random.normal(k, jnp.shape(x), jnp.float32)
                for k, x in zip(parts, leaves, strict=True)
            ]
        )

    grads = jax.vmap(gradient)(keys)

    def stream(tx):
        def step(state, g):
            updates, state = tx.update(g, state, params)
            return state, updates

        # XLA's default compilation: the bit-for-bit claim is about it.
        scan = jax.jit(
            lambda: jax.lax.scan(step, tx.init(params), grads)[1], compiler_options=DEFAULT_COMPILER
        )
        return scan()

    inner_updates = stream(OPTIMIZERS[name]())
    delayed_updates = stream(delayed(OPTIMIZERS[name](), tau))
    for d, i in zip(jax.tree.leaves(delayed_updates), jax.tree.leaves(inner_updates), strict=True):
        np.testing.assert_array_equal(d[:tau], np.zeros_like(d[:tau]))
        if name == "adam":
            np.testing.assert_allclose(d[tau:], i[: steps - tau], rtol=1e-5, atol=1e-8)
        else:
            np.testing.assert_array_equal(d[tau:], i[: steps - tau])


# --------------------------------------------------------------------------- delay 0


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_delay_zero_is_inner_bitwise(name):
    inner = OPTIMIZERS[name]()
    tx = delayed(inner, 0)
    assert tx is inner
    params = nested_params()
    p_inner, s_inner = jax.jit(lambda p: descend(OPTIMIZERS[name](), p, 200))(params)
    p_delayed, s_delayed = jax.jit(lambda p: descend(delayed(OPTIMIZERS[name](), 0), p, 200))(
        params
    )
    assert jax.tree.structure(s_inner) == jax.tree.structure(s_delayed)
    for a, b in zip(
        jax.tree.leaves((p_inner, s_inner)), jax.tree.leaves((p_delayed, s_delayed)), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(p_inner["w"], params["w"])  # 200 steps moved the params


# --------------------------------------------------------------------------- jit, vmap, scan


def test_jit_vmap_over_learning_rates_compiles_once_and_matches_each_rate():
    tau, steps, a = 2, 40, 3.0
    x0 = jnp.array([1.0, -2.0], jnp.float32)

    def final(lr):
        tx = delayed(gdjax.sgd(lr, momentum=0.5), tau)

        def step(carry, _):
            x, s = carry
            updates, s = tx.update(a * x, s, x)
            return (gdjax.apply_updates(x, updates), s), None

        (x, state), _ = jax.lax.scan(step, (x0, tx.init(x0)), None, length=steps)
        return x, state

    sweep = jax.jit(jax.vmap(final))
    lrs = jnp.array([0.01, 0.03, 0.05], jnp.float32)
    xs, states = sweep(lrs)
    assert isinstance(states, DelayedState)
    assert states.buffer.shape == (3, tau, 2)  # (rates, delay, param)
    for lr, x in zip(lrs, xs, strict=True):
        np.testing.assert_allclose(x, jax.jit(final)(lr)[0], rtol=1e-6, atol=1e-7)
    sweep(lrs * 2)  # new rates, same shapes: no new compilation
    assert sweep._cache_size() == 1
    assert np.all(np.abs(np.asarray(xs)) < np.abs(np.asarray(x0)))


def test_inner_sees_the_current_params_with_the_stale_gradient():
    """Weight decay inside a delayed optimizer acts on x_t, as on a parameter server."""
    tx = delayed(gdjax.chain(gdjax.add_decayed_weights(0.5), gdjax.sgd(1.0)), 1)
    state = tx.init(jnp.zeros(2))
    _, state = tx.update(jnp.array([1.0, 2.0]), state, jnp.array([10.0, 20.0]))  # g_0 at x_0
    updates, _ = tx.update(jnp.array([3.0, 4.0]), state, jnp.array([100.0, 200.0]))  # at x_1
    np.testing.assert_array_equal(
        updates, -(jnp.array([1.0, 2.0]) + 0.5 * jnp.array([100.0, 200.0]))
    )


def test_extra_arguments_reach_an_inner_transform_that_takes_them():
    inner = gdjax.chain(gdjax.sgd(0.1), gdjax.reduce_on_plateau(patience=1, factor=0.5))
    tx = delayed(inner, 1)
    x = jnp.ones(3)
    state = tx.init(x)
    for value in (1.0, 1.0, 1.0, 1.0):
        _, state = tx.update(x, state, x, value=jnp.float32(value))
    plateau = state.inner_state[1]
    assert float(plateau.scale) < 1.0  # the loss never improved: the scale came down
    # An inner transformation without extra arguments is not handed any.
    plain = delayed(gdjax.sgd(0.1), 2)
    updates, _ = plain.update(x, plain.init(x), x, value=1.0)
    assert updates.shape == (3,)


def test_optax_inner_and_dtypes():
    optax = pytest.importorskip("optax")
    tx = delayed(optax.adam(1e-2), 2)
    params = {"w": jnp.ones(3, jnp.bfloat16)}
    state = tx.init(params)
    assert state.buffer["w"].dtype == jnp.bfloat16  # the state follows the params
    grads = {"w": jnp.full(3, 0.5, jnp.float32)}
    for _ in range(3):
        updates, state = tx.update(grads, state, params)
    assert updates["w"].dtype == jnp.float32  # updates come back in the gradients' dtype
    assert np.all(np.asarray(updates["w"]) < 0)


def test_counter_saturates_and_the_ring_keeps_turning():
    tx = delayed(gdjax.sgd(1.0), 3)
    x = jnp.zeros(())
    state = tx.init(x)._replace(count=jnp.int32(INT32_MAX))
    seen = []
    for t in range(7):
        updates, state = tx.update(jnp.float32(t), state, x)
        seen.append(float(updates))
        assert int(state.count) == INT32_MAX
        assert state.count.dtype == jnp.int32 and state.index.dtype == jnp.int32
    # The buffer started as zeros; then the gradient of step t - 3 comes out at step t.
    assert seen == [0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0]


# --------------------------------------------------------------------------- a pytree

KINDS = {
    "momentum": lambda lr: gdjax.sgd(lr, momentum=0.5),
    "adam": lambda lr: gdjax.adam(lr),
}


def test_a_delayed_optimizer_is_a_pytree_of_the_inner_hyperparameters():
    tx = delayed(gdjax.sgd(0.05, momentum=0.9), 2)
    assert jax.tree.leaves(tx) == jax.tree.leaves(gdjax.sgd(0.05, momentum=0.9))
    assert jax.tree.structure(tx) == jax.tree.structure(delayed(gdjax.sgd(0.1, momentum=0.5), 2))
    # The delay sizes the buffer in the state: structure, not data.
    assert jax.tree.structure(tx) != jax.tree.structure(delayed(gdjax.sgd(0.05, momentum=0.9), 3))


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_delayed_optimizer_as_a_jit_argument_traces_once_and_stacks(kind):
    make, params, traces = KINDS[kind], nested_params(), []
    # Fixed gradients (not the closed loop of `descend`, where Adam's rounding would grow).
    grads = [jax.tree.map(lambda g, t=t: (t + 1.0) * g, jax.grad(loss)(params)) for t in range(5)]

    def run(tx, params):
        state = tx.init(params)
        for g in grads:
            updates, state = tx.update(g, state, params)
            params = gdjax.apply_updates(params, updates)
        return params, state

    def as_argument(tx, x):
        traces.append(None)
        return run(tx, x)

    run_jitted = jax.jit(as_argument)
    for lr in (0.01, 0.03, 0.05):
        tx = delayed(make(lr), 2)
        got = run_jitted(tx, params)
        want = jax.jit(lambda p, tx=tx: run(tx, p))(params)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            # atol: the params are O(1); a constant and a traced rate round differently.
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert len(traces) == 1
    stacked = jax.tree.map(lambda *x: jnp.stack(x), delayed(make(0.01), 2), delayed(make(0.05), 2))
    both = jax.jit(jax.vmap(run, in_axes=(0, None)))(stacked, params)
    for i, lr in enumerate((0.01, 0.05)):
        alone = run_jitted(delayed(make(lr), 2), params)
        for a, b in zip(jax.tree.leaves(both), jax.tree.leaves(alone), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("delay", [-1, 1.0, 2.5, True, False, np.float32(2), jnp.array(2), "2"])
def test_bad_delay_is_refused_by_name(delay):
    with pytest.raises(ValueError, match=r"delayed: delay must be a Python int in \[0, 2\*\*31"):
        delayed(gdjax.sgd(0.1), delay)


def test_traced_delay_is_refused_and_numpy_int_accepted():
    with pytest.raises(ValueError, match="delay must be a Python int"):
        jax.jit(lambda d: delayed(gdjax.sgd(0.1), d).init(jnp.ones(2)))(3)
    assert delayed(gdjax.sgd(0.1), np.int64(2)).init(jnp.ones(2)).buffer.shape == (2, 2)


def test_wrong_gradient_shape_or_structure_names_both():
    tx = delayed(gdjax.sgd(0.1), 2)
    state = tx.init({"a": jnp.ones(3), "b": jnp.ones(2)})
    with pytest.raises(StructureError, match=r"\['a'\]: updates \(1,\), buffered gradients \(3,\)"):
        tx.update({"a": jnp.ones(1), "b": jnp.ones(2)}, state)
    with pytest.raises(StructureError, match="different tree structures"):
        tx.update({"a": jnp.ones(3)}, state)
    with pytest.raises(TypeError, match="delayed: .*floating-point params"):
        tx.init({"a": jnp.ones(3, jnp.int32)})


# --------------------------------------------------------------------------- the classic effect


def spectral_radius(k: float, tau: int) -> float:
    """Of ``x_{t+1} = x_t - k x_{t-tau}``: the largest root of ``z^(tau+1) - z^tau + k``."""
    coefficients = np.zeros(tau + 2)
    coefficients[:2] = 1.0, -1.0
    coefficients[-1] += k
    return float(np.max(np.abs(np.roots(coefficients))))


def test_a_rate_that_converges_synchronously_diverges_with_stale_gradients():
    """Documented property: on f = a x²/2 with lr·a = 0.5, SGD converges without delay
    (|x| shrinks by 2 per step) and oscillates with growing amplitude at delay 8, whose
    stability limit is 2 sin(pi/34) = 0.185 (Levin & May 1976)."""
    a, lr, x0, steps = 1.0, 0.5, 1.0, 200

    def path(tau):
        tx = delayed(gdjax.sgd(lr), tau)

        def step(carry, _):
            x, s = carry
            updates, s = tx.update(a * x, s, x)
            x = gdjax.apply_updates(x, updates)
            return (x, s), x

        return np.asarray(
            jax.lax.scan(step, (jnp.float32(x0), tx.init(jnp.float32(x0))), None, length=steps)[1]
        )

    synchronous, stale = path(0), path(8)
    assert abs(synchronous[-1]) < 1e-30
    assert abs(stale[-1]) > 1e6 and np.all(np.isfinite(stale))
    assert np.sum(np.diff(np.sign(stale)) != 0) > 10  # it oscillates, it does not just drift
    assert spectral_radius(lr * a, 0) < 1 < spectral_radius(lr * a, 8)


@pytest.mark.parametrize("tau", [1, 2, 3, 8])
def test_the_stability_limit_of_stale_gradient_descent(tau):
    limit = 2 * np.sin(np.pi / (2 * (2 * tau + 1)))
    assert spectral_radius(0.98 * limit, tau) < 1 < spectral_radius(1.02 * limit, tau)
    tx_final = []
    for k in (0.8 * limit, 1.2 * limit):
        tx = delayed(gdjax.sgd(k), tau)  # a = 1: lr·a = k
        x, state = jnp.float32(1.0), tx.init(jnp.float32(1.0))
        step = jax.jit(tx.update)
        for _ in range(600):
            updates, state = step(x, state, x)
            x = gdjax.apply_updates(x, updates)
        tx_final.append(abs(float(x)))
    assert tx_final[0] < 0.05 and tx_final[1] > 20


# --------------------------------------------------------------------------- the example


def test_example_prints_the_delay_table_and_writes_its_png(tmp_path):
    pytest.importorskip("matplotlib")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "delayed_gradients.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "tau 0: 2.0000, tau 2: 0.6180, tau 8: 0.1845" in out
    lines = out.splitlines()
    assert sum(line.startswith(("GD", "momentum", "AdaGrad")) for line in lines) == 12

    def row(label, tau):
        return next(
            line for line in lines if line.startswith(label) and line[23:29].strip() == str(tau)
        )

    assert "no   lr*a 1.60 vs 2.000" in row("GD lr 0.4", 0)
    assert "(-0.00119606, -1.30664e-22)" in row("GD lr 0.4", 0)
    assert "yes   lr*a 1.60 vs 0.618" in row("GD lr 0.4", 2)
    assert "(-0.634312, 8.66224e-06)" in row("GD lr 0.1", 2)
    assert "no   lr*a 0.40 vs 0.618" in row("GD lr 0.1", 2)
    assert "(-0.530397, 821.202)" in row("GD lr 0.1", 8)
    assert "yes   lr*a 0.40 vs 0.185" in row("GD lr 0.1", 8)
    assert row("momentum lr 0.05, 0.5", 8).rstrip().endswith("yes")
    assert row("AdaGrad lr 1.0", 8).rstrip().endswith("no")
    assert (tmp_path / "delayed_gradients.png").read_bytes()[:8] == PNG_MAGIC
