"""`adaptive_revision`: delay-tolerant AdaGrad (DESIGN §7) under a simulated fixed delay."""

import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from gdjax.distributed import AdaptiveRevisionState, adaptive_revision, delayed
from gdjax.tree import StructureError
from tests.helpers import DEFAULT_COMPILER, nested_params, run

# --------------------------------------------------------------------------- references


def transcription(grads: np.ndarray, tau: int, a: float, z0: float) -> np.ndarray:
    """DESIGN §7 line by line, one coordinate at a time, in float64, with explicit events.

    ``grads[t, i]`` is the gradient the worker computes after its Read at step ``t``; it
    arrives at the server at step ``t + tau``. At each step the Read comes first (the
    worker reads ``x`` and the server remembers ``G_read``), then the arrival, if any.
    Returns ``x_t - x_0`` for ``t = 0..T``, shape ``(T + 1, n)``.
    """
    steps, n = grads.shape
    xs = np.zeros((steps + 1, n))
    for i in range(n):
        x, big_g, z, zmax = 0.0, 0.0, z0, z0
        g_read = {}  # worker (its read step) -> G at its Read
        for t in range(steps):
            g_read[t] = big_g  # Read
            sent = t - tau
            if sent >= 0:  # arrival of the gradient read at step `sent`
                g = float(grads[sent, i])
                backlog = big_g - g_read.pop(sent)
                r_old = a / math.sqrt(zmax)
                z = z + g * g + 2 * g * backlog
                zmax = max(zmax, z)
                r = a / math.sqrt(zmax)
                x = x - r * g + (r_old - r) * backlog
                big_g = big_g + g
            xs[t + 1, i] = x
    return xs


def open_loop(tx, grads):
    """Feeds ``grads[t]`` (a pytree with a leading time axis) at step t; returns x_t - x_0."""
    first = jax.tree.map(lambda g: jnp.zeros_like(g[0]), grads)

    def step(carry, g):
        x, s = carry
        u, s = tx.update(g, s, x)
        x = gdjax.apply_updates(x, u)
        return (x, s), x

    _, xs = jax.jit(lambda g: jax.lax.scan(step, (first, tx.init(first)), g))(grads)
    return xs


# --------------------------------------------------------------------------- the rule


def test_zero_delay_is_adagrad_bit_for_bit():
    """z += g*g; x -= a g / sqrt(z) is gdjax.adagrad(a, z0, eps=0) (eps inside the root),
    both compiled as XLA compiles by default."""
    params = nested_params()
    for lr, z0 in ((0.05, 0.1), (0.3, 1.0)):
        ours, state = run(
            adaptive_revision(lr, 0, z0), params, steps=200, compiler_options=DEFAULT_COMPILER
        )
        theirs, (adagrad_state, *_) = run(
            gdjax.adagrad(lr, z0, 0.0), params, steps=200, compiler_options=DEFAULT_COMPILER
        )
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(state.max_accumulator),
            jax.tree.leaves(adagrad_state.sum_of_squares),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
        assert not np.allclose(jax.tree.leaves(ours)[0], jax.tree.leaves(params)[0])


@pytest.mark.parametrize("tau", [1, 2, 3, 4])
def test_matches_a_numpy_transcription_of_design_7(tau):
    rng = np.random.default_rng(tau)
    steps, a, z0 = 60, 0.2, 0.1
    # Gradients with a drift, so that backlogs are large and z sometimes falls (g, B of
    # opposite signs), and different scales per leaf.
    grads = {
        "w": rng.normal(0.5, 1.0, (steps, 2, 3)),
        "b": [rng.normal(-0.2, 3.0, (steps, 4))],
    }
    ours = open_loop(adaptive_revision(a, tau, z0), jax.tree.map(jnp.float32, grads))
    for leaf, g in zip(jax.tree.leaves(ours), jax.tree.leaves(grads), strict=True):
        flat = g.reshape(steps, -1)
        expected = transcription(flat, tau, a, z0)[1:].reshape(g.shape)
        np.testing.assert_allclose(np.asarray(leaf), expected, rtol=1e-5, atol=1e-6)
        assert np.all(np.asarray(leaf)[:tau] == 0)  # warm-up: nothing has arrived
        assert np.abs(expected).max() > 0.5


def test_the_transcription_without_delay_is_adagrad():
    """Sanity of the reference itself: B = 0 leaves z += g*g; x -= a g / sqrt(z)."""
    grads = np.random.default_rng(0).normal(size=(30, 3))
    x, z, expected = np.zeros(3), np.full(3, 0.1), []
    for g in grads:
        z = z + g * g
        x = x - 0.2 * g / np.sqrt(z)
        expected.append(x)
    np.testing.assert_allclose(transcription(grads, 0, 0.2, 0.1)[1:], expected, rtol=1e-12)


def test_warm_up_and_state():
    tau = 3
    tx = adaptive_revision(0.1, tau)
    params = {"x": jnp.ones(2), "y": jnp.float32(0.5)}
    state = tx.init(params)
    assert isinstance(state, AdaptiveRevisionState)
    assert state.gradients["x"].shape == (tau, 2) and state.reads["y"].shape == (tau,)
    for t in range(tau):
        u, state = tx.update(jax.tree.map(lambda p, t=t: p + t, params), state, params)
        assert all(not np.any(np.asarray(leaf)) for leaf in jax.tree.leaves(u))
        assert float(state.max_accumulator["x"][0]) == pytest.approx(0.1)
    u, state = tx.update(params, state, params)
    assert float(state.gradient_sum["x"][0]) == 1.0  # g_0 = params + 0 applied
    assert int(state.count) == tau + 1 and int(state.index) == 1


def test_dtypes_are_kept():
    params = {"h": jnp.ones(3, jnp.bfloat16)}
    tx = adaptive_revision(0.1, 2, accumulator_dtype=jnp.float32)
    state = tx.init(params)
    for _ in range(4):
        u, state = tx.update(params, state, params)
    assert u["h"].dtype == jnp.bfloat16 and state.gradients["h"].dtype == jnp.bfloat16
    assert state.accumulator["h"].dtype == jnp.float32 and state.reads["h"].dtype == jnp.float32


# --------------------------------------------------------------------------- stale gradients

# A rotated ill-conditioned quadratic (eigenvalues 1 and 100, axes at 30 degrees): per
# coordinate AdaGrad is scale-free, so a diagonal quadratic would not show anything.
_C, _S = math.cos(math.pi / 6), math.sin(math.pi / 6)
_R = np.array([[_C, -_S], [_S, _C]])
HESSIAN = jnp.asarray(_R @ np.diag([1.0, 100.0]) @ _R.T, jnp.float32)


def quadratic(x):
    return 0.5 * x @ HESSIAN @ x


def traced_losses(tx, steps=200):
    def step(carry, _):
        x, s = carry
        u, s = tx.update(jax.grad(quadratic)(x), s, x)
        x = gdjax.apply_updates(x, u)
        return (x, s), quadratic(x)

    x0 = jnp.ones(2, jnp.float32)
    return jax.lax.scan(step, (x0, tx.init(x0)), None, length=steps)[1]


def losses(tx, steps=200):
    return np.asarray(traced_losses(tx, steps))


def test_stale_adagrad_overshoots_where_adaptive_revision_does_not():
    """Start (1, 1), f_0 = 7.63, 200 steps, learning rate 1.0.

    Measured here (float32): delay 0: both peak at f = 51.5, final 2.5e-3. Delay 4:
    AdaGrad fed the stale gradients peaks at 8.0e2 and ends at 0.50; AdaptiveRevision
    peaks at 51.5 (as without delay) and ends at 0.37. AdaGrad's step is at most the
    learning rate per coordinate, so it cannot blow up exponentially: staleness shows
    as an overshoot that grows with the delay, and a slower descent afterwards.
    """
    lr, tau = 1.0, 4
    synchronous = losses(adaptive_revision(lr, 0))
    stale = losses(delayed(gdjax.adagrad(lr), tau))
    revised = losses(adaptive_revision(lr, tau))
    assert stale.max() > 10 * revised.max()
    assert revised.max() <= 1.01 * synchronous.max()
    assert revised[-1] < 0.8 * stale[-1]
    assert stale.max() == pytest.approx(8.0e2, rel=0.1)
    assert revised[-1] == pytest.approx(0.37, rel=0.05) and stale[-1] == pytest.approx(0.50, 0.05)


# --------------------------------------------------------------------------- rates as data


def test_vmap_over_the_learning_rate_inside_jit():
    rates = jnp.asarray([0.1, 0.3, 1.0], jnp.float32)
    batched = jax.jit(jax.vmap(lambda lr: traced_losses(adaptive_revision(lr, 2), steps=30)[-1]))
    got = np.asarray(batched(rates))
    expected = [losses(adaptive_revision(float(lr), 2), steps=30)[-1] for lr in rates]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_a_jit_argument_with_its_rate_as_data():
    tx = adaptive_revision(0.1, 2)
    assert len(jax.tree.leaves(tx)) >= 2  # learning rate and initial accumulator

    @jax.jit
    def one_step(tx, g):
        return tx.update(g, tx.init(g), g)[0]

    one_step(tx, jnp.ones(2))
    one_step(adaptive_revision(0.5, 2), jnp.ones(2))
    assert one_step._cache_size() == 1


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"learning_rate": lambda step: 0.1}, "learning_rate"),
        ({"delay": -1}, "delay"),
        ({"delay": 1.5}, "delay"),
        ({"delay": True}, "delay"),
        ({"delay": 2**31}, "delay"),
        ({"initial_accumulator_value": 0.0}, "initial_accumulator_value"),
        ({"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    ],
)
def test_bad_hyperparameters_are_refused_by_name(kwargs, name):
    args = {"learning_rate": 0.1, "delay": 2, **kwargs}
    with pytest.raises(ValueError, match=f"adaptive_revision: {name}"):
        adaptive_revision(**args)


def test_traced_delay_is_refused_and_numpy_int_accepted():
    with pytest.raises(ValueError, match="delay"):
        jax.jit(lambda d: adaptive_revision(0.1, d))(2)
    assert adaptive_revision(0.1, np.int64(2)).init(jnp.ones(1)).gradients.shape == (2, 1)


def test_bad_params_and_updates():
    tx = adaptive_revision(0.1, 1)
    with pytest.raises(TypeError, match="complex"):
        tx.init(jnp.ones(2, jnp.complex64))
    with pytest.raises(TypeError):
        tx.init(jnp.ones(2, jnp.int32))
    state = tx.init({"a": jnp.ones(2)})
    with pytest.raises(StructureError):
        tx.update({"b": jnp.ones(2)}, state)
    with pytest.raises(StructureError):
        tx.update({"a": jnp.ones(3)}, state)


# --------------------------------------------------------------------------- the example


def test_example_prints_its_table_and_writes_its_png(tmp_path):
    root = Path(__file__).resolve().parents[2]
    script = root / "examples" / "delay_tolerant_adagrad.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert any(line.split()[:2] == ["2", "AdaptiveRevision"] for line in lines)
    assert (tmp_path / "delay_tolerant_adagrad.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
