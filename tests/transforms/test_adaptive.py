import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from tests.helpers import assert_moved, assert_trees_close, nested_params, run

# (gdjax transform, the optax transform with the same numbers); each is chained
# with scale(-lr) into a descent and run 300 steps on a nested pytree.
PARITY = {
    "adagrad-defaults": (lambda: gdjax.scale_by_adagrad(), lambda: optax.scale_by_rss()),
    "adagrad-custom": (
        lambda: gdjax.scale_by_adagrad(initial_accumulator_value=0.5, eps=1e-4),
        lambda: optax.scale_by_rss(initial_accumulator_value=0.5, eps=1e-4),
    ),
    "rms-defaults": (lambda: gdjax.scale_by_rms(), lambda: optax.scale_by_rms()),
    "rms-custom": (
        lambda: gdjax.scale_by_rms(0.8, 1e-5, 0.3, eps_in_sqrt=False, bias_correction=True),
        lambda: optax.scale_by_rms(0.8, 1e-5, 0.3, eps_in_sqrt=False, bias_correction=True),
    ),
    "rms-centered": (
        lambda: gdjax.scale_by_rms(centered=True),
        lambda: optax.scale_by_stddev(),
    ),
    "rms-centered-custom": (
        lambda: gdjax.scale_by_rms(0.95, 1e-4, 0.1, False, centered=True, bias_correction=True),
        lambda: optax.scale_by_stddev(0.95, 1e-4, 0.1, False, bias_correction=True),
    ),
    "adadelta-defaults": (lambda: gdjax.scale_by_adadelta(), lambda: optax.scale_by_adadelta()),
    "adadelta-custom": (
        lambda: gdjax.scale_by_adadelta(rho=0.95, eps=1e-4),
        lambda: optax.scale_by_adadelta(rho=0.95, eps=1e-4),
    ),
    "adam-defaults": (lambda: gdjax.scale_by_adam(), lambda: optax.scale_by_adam()),
    "adam-custom": (
        lambda: gdjax.scale_by_adam(0.8, 0.99, 1e-6, 1e-9),
        lambda: optax.scale_by_adam(0.8, 0.99, 1e-6, 1e-9),
    ),
    "adam-nesterov": (
        lambda: gdjax.scale_by_adam(nesterov=True),
        lambda: optax.scale_by_adam(nesterov=True),
    ),
    "adam-amsgrad": (
        lambda: gdjax.scale_by_adam(0.85, 0.99, amsgrad=True),
        lambda: optax.scale_by_amsgrad(0.85, 0.99),
    ),
    "adamax-defaults": (lambda: gdjax.scale_by_adamax(), lambda: optax.scale_by_adamax()),
    "adamax-custom": (
        lambda: gdjax.scale_by_adamax(0.8, 0.95, 1e-5),
        lambda: optax.scale_by_adamax(0.8, 0.95, 1e-5),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    lr = 1.0 if name.startswith("adadelta") else 0.01
    got, _ = run(gdjax.chain(ours(), gdjax.scale(-lr)), params)
    want, _ = run(optax.chain(theirs(), optax.scale(-lr)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)


def _numpy_rms(grads, decay, eps, eps_in_sqrt, centered):
    """An independent reference: the RMSProp recursion written out in NumPy float64."""
    v = np.zeros_like(grads[0])
    m = np.zeros_like(grads[0])
    out = []
    for g in grads:
        v = decay * v + (1 - decay) * g**2
        m = decay * m + (1 - decay) * g
        s = v - m**2 if centered else v
        out.append(g / np.sqrt(s + eps) if eps_in_sqrt else g / (np.sqrt(s) + eps))
    return np.array(out)


@pytest.mark.parametrize("eps_in_sqrt", [True, False])
@pytest.mark.parametrize("centered", [False, True])
def test_rms_follows_the_written_recursion(eps_in_sqrt, centered):
    grads = np.random.default_rng(0).normal(size=(50, 6))
    tx = gdjax.scale_by_rms(0.9, 1e-6, eps_in_sqrt=eps_in_sqrt, centered=centered)
    state = tx.init(jnp.zeros(6))
    got = []
    for g in grads:
        u, state = tx.update(jnp.asarray(g, jnp.float32), state)
        got.append(u)
    want = _numpy_rms(grads, 0.9, 1e-6, eps_in_sqrt, centered)
    np.testing.assert_allclose(np.array(got), want, rtol=2e-4)


def test_adagrad_eps_outside_the_root_follows_the_recursion():
    grads = np.random.default_rng(1).normal(size=(40, 5))
    tx = gdjax.scale_by_adagrad(initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)
    state = tx.init(jnp.zeros(5))
    r = np.zeros(5)
    for g in grads:
        u, state = tx.update(jnp.asarray(g, jnp.float32), state)
        r = r + g**2
        np.testing.assert_allclose(u, g / (np.sqrt(r) + 1e-10), rtol=1e-5)


def test_adagrad_gives_zero_where_nothing_accumulated():
    tx = gdjax.scale_by_adagrad(initial_accumulator_value=0.0, eps=0.0)
    u, _ = tx.update(jnp.zeros(3), tx.init(jnp.zeros(3)))
    np.testing.assert_array_equal(u, 0.0)


def test_centered_rms_never_takes_the_root_of_a_negative_variance():
    # A constant gradient makes v - m**2 zero in exact arithmetic; rounding can push
    # it below zero. The clip keeps the update finite.
    tx = gdjax.scale_by_rms(0.9, eps=1e-12, eps_in_sqrt=False, centered=True)
    g = jnp.full((64,), 0.3712, jnp.float32) * jnp.linspace(1, 3, 64)
    state = tx.init(g)
    for _ in range(200):
        u, state = tx.update(g, state)
        assert np.isfinite(np.asarray(u)).all()


@pytest.mark.parametrize(
    "factory",
    [
        gdjax.scale_by_adagrad,
        gdjax.scale_by_rms,
        lambda: gdjax.scale_by_rms(centered=True),
        gdjax.scale_by_adadelta,
        gdjax.scale_by_adam,
        lambda: gdjax.scale_by_adam(amsgrad=True, nesterov=True),
        gdjax.scale_by_adamax,
    ],
)
def test_zero_gradients_give_zero_finite_updates(factory):
    tx = factory()
    params = nested_params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = tx.init(params)
    for _ in range(5):
        u, state = tx.update(zeros, state, params)
        for leaf in jax.tree.leaves(u):
            np.testing.assert_array_equal(np.asarray(leaf), 0.0)


def test_adam_mu_dtype_sets_the_first_moment_dtype_only():
    params = nested_params(jnp.bfloat16)
    tx = gdjax.scale_by_adam(mu_dtype=jnp.float32)
    state = tx.init(params)
    assert {x.dtype for x in jax.tree.leaves(state.mu)} == {jnp.dtype(jnp.float32)}
    assert {x.dtype for x in jax.tree.leaves(state.nu)} == {jnp.dtype(jnp.bfloat16)}
    u, state = tx.update(params, state)
    assert {x.dtype for x in jax.tree.leaves(u)} == {jnp.dtype(jnp.bfloat16)}
    assert {x.dtype for x in jax.tree.leaves(state.mu)} == {jnp.dtype(jnp.float32)}


def test_amsgrad_denominator_never_shrinks():
    tx = gdjax.scale_by_adam(amsgrad=True)
    state = tx.init(jnp.zeros(1))
    previous = 0.0
    for g in [5.0, 0.1, 0.1, 0.1, 3.0, 0.0]:
        _, state = tx.update(jnp.array([g]), state)
        assert float(state.nu_max[0]) >= previous
        previous = float(state.nu_max[0])


def test_flags_must_be_python_bools():
    with pytest.raises(ValueError, match="centered must be True or False"):
        gdjax.scale_by_rms(centered=jnp.array(True))
    with pytest.raises(ValueError, match="nesterov must be True or False"):
        gdjax.scale_by_adam(nesterov=1)


@pytest.mark.parametrize(
    "factory",
    [gdjax.scale_by_rms, gdjax.scale_by_adam, gdjax.scale_by_adamax, gdjax.scale_by_adadelta],
)
def test_float16_zero_gradients_do_not_divide_zero_by_zero(factory):
    # eps = 1e-8 underflows to 0 in float16; optax 0.2.8 returns NaN here.
    tx = factory()
    params = jnp.asarray([0.1, -2.0], jnp.float16)
    u, state = tx.update(jnp.zeros(2, jnp.float16), tx.init(params), params)
    assert u.dtype == jnp.float16
    np.testing.assert_array_equal(np.asarray(u, np.float32), 0.0)
    assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(state))


# Keras 3's golden numbers (keras/src/optimizers/*_test.py, test_correctness_with_golden):
# one step with gradient 0.01 everywhere, then five with 0.1, ..., 1.0, from x = ones(10).
def _keras_golden_run(opt):
    x = jnp.ones(10)
    state = opt.init(x)
    updates, state = opt.update(jnp.full(10, 0.01), state, x)
    x = gdjax.apply_updates(x, updates)
    rows = []
    for _ in range(5):
        rows.append(np.asarray(x))
        updates, state = opt.update(jnp.arange(1, 11) / 10.0, state, x)
        x = gdjax.apply_updates(x, updates)
    return np.array(rows)


KERAS_ADAMW_GOLDEN = [  # keras/src/optimizers/adamw_test.py
    [0.4998] * 10,
    [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
    [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
    [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
    [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159],
]
KERAS_NADAM_GOLDEN = [  # keras/src/optimizers/nadam_test.py
    [0.4281] * 10,
    [-0.1738, -0.1731, -0.1726, -0.1723, -0.1721, -0.172, -0.1719, -0.1718, -0.1718, -0.1717],
    [-0.7115, -0.7103, -0.7096, -0.7092, -0.709, -0.7088, -0.7086, -0.7085, -0.7085, -0.7084],
    [-1.2335, -1.2322, -1.2313, -1.2309, -1.2306, -1.2304, -1.2302, -1.2301, -1.23, -1.2299],
    [-1.7492, -1.7478, -1.7469, -1.7464, -1.7461, -1.7459, -1.7457, -1.7456, -1.7455, -1.7454],
]
KERAS_ADAMAX_GOLDEN = [  # keras/src/optimizers/adamax_test.py
    [0.8] * 10,
    [0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691],
    [0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466],
    [0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848],
    [0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126],
]
KERAS_AMSGRAD_GOLDEN = [[v] * 10 for v in (0.999, 0.9982, 0.9974, 0.9965, 0.9955)]  # adam_test.py

KERAS_GOLDEN_CASES = {
    "AdamW(1.0, weight_decay=0.5, epsilon=2)": (
        lambda: gdjax.adamw(1.0, eps=2.0, weight_decay=0.5, eps_convention="keras"),
        KERAS_ADAMW_GOLDEN,
    ),
    "Nadam(0.5, 0.5, 0.67, 1e-5)": (
        lambda: gdjax.nadam(0.5, 0.5, 0.67, 1e-5, momentum_decay=1.0),
        KERAS_NADAM_GOLDEN,
    ),
    "Adamax(0.2, 0.85, 0.95, 1e-6)": (
        lambda: gdjax.adamax(0.2, 0.85, 0.95, 1e-6, eps_convention="keras"),
        KERAS_ADAMAX_GOLDEN,
    ),
    "Adam(amsgrad=True)": (
        lambda: gdjax.amsgrad(0.001, eps=1e-7, eps_convention="keras"),
        KERAS_AMSGRAD_GOLDEN,
    ),
}


@pytest.mark.parametrize("name", list(KERAS_GOLDEN_CASES))
def test_keras_golden_numbers(name):
    factory, golden = KERAS_GOLDEN_CASES[name]
    np.testing.assert_allclose(_keras_golden_run(factory()), golden, rtol=5e-4, atol=5e-4)


def test_keras_eps_convention_is_what_changes_adamw_golden():
    # The optax convention misses Keras's first golden row (0.4998) by far more
    # than its tolerance: eps = 2 is ε·sqrt(1 - b2**t)-scaled in Keras.
    optax_rows = _keras_golden_run(gdjax.adamw(1.0, eps=2.0, weight_decay=0.5))
    assert abs(optax_rows[0, 0] - 0.4998) > 1e-3


# keras/src/optimizers/{adam,adamw,adamax,nadam}_test.py, test_single_step.
@pytest.mark.parametrize(
    "opt, want",
    [
        (lambda: gdjax.adam(0.5, eps=1e-7, eps_convention="keras"), [0.5, 1.5, 2.5, 3.5]),
        (
            lambda: gdjax.adamw(0.5, eps=1e-7, weight_decay=0.004, eps_convention="keras"),
            [0.4980, 1.4960, 2.494, 3.492],
        ),
        (
            lambda: gdjax.adamax(0.5, eps=1e-7, eps_convention="keras"),
            [0.5, 1.5, 2.5, 3.5],
        ),
        (
            lambda: gdjax.nadam(0.5, eps=1e-7, momentum_decay=1.0),
            [0.4686, 1.4686, 2.4686, 3.4686],
        ),
    ],
)
def test_keras_single_step(opt, want):
    x = jnp.array([1.0, 2.0, 3.0, 4.0])
    o = opt()
    updates, _ = o.update(jnp.array([1.0, 6.0, 7.0, 2.0]), o.init(x), x)
    np.testing.assert_allclose(gdjax.apply_updates(x, updates), want, rtol=1e-4, atol=1e-4)


def test_keras_adam_equals_optax_adam_with_rescaled_eps():
    # Keras's eps is optax's eps / sqrt(1 - b2**t); at step 1 with b2 = 0.75 that is eps / 0.5.
    x, g = jnp.array([1.0, -2.0]), jnp.array([0.3, -0.02])
    keras = gdjax.scale_by_adam(0.5, 0.75, 0.1, eps_convention="keras")
    optax_style = gdjax.scale_by_adam(0.5, 0.75, 0.2)
    got, _ = keras.update(g, keras.init(x), x)
    want, _ = optax_style.update(g, optax_style.init(x), x)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_dozat_schedule_keeps_the_running_product_and_default_state_is_unchanged():
    x = nested_params()
    default = gdjax.scale_by_adam(nesterov=True)
    assert type(default.init(x)) is gdjax.ScaleByAdamState
    dozat = gdjax.scale_by_adam(0.9, nesterov=True, momentum_decay=0.004)
    state = dozat.init(x)
    assert float(state.mu_product) == 1.0
    _, state = dozat.update(x, state, x)
    _, state = dozat.update(x, state, x)
    mus = [0.9 * (1 - 0.5 * 0.96 ** (t * 0.004)) for t in (1, 2)]
    np.testing.assert_allclose(float(state.mu_product), mus[0] * mus[1], rtol=1e-6)


def test_new_options_are_validated():
    with pytest.raises(ValueError, match="eps_convention"):
        gdjax.scale_by_adam(eps_convention="torch")
    with pytest.raises(ValueError, match="eps_convention"):
        gdjax.scale_by_adamax(eps_convention="Keras")
    with pytest.raises(ValueError, match="momentum_decay"):
        gdjax.scale_by_adam(momentum_decay=0.004)  # needs nesterov=True
    with pytest.raises(ValueError, match="momentum_decay"):
        gdjax.scale_by_adam(nesterov=True, amsgrad=True, momentum_decay=0.004)
    with pytest.raises(ValueError, match="momentum_decay"):
        gdjax.nadam(0.1, momentum_decay=-1.0)
