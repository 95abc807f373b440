"""Numerics at the edges: zero gradients forever, gradients of 1e30 and 1e-30, half-precision
params with float32 state, step counters at the int32 maximum, schedules at step 2**31 - 1.

The runs below feed the gradients to ``lax.scan`` as data (``xs``). A gradient that is a
compile-time constant lets XLA reassociate the update around it: with g = 1e30 it computes
AdaDelta's ``(1 - rho) * (sqrt(ex + eps) / sqrt(eg + eps) * g)**2`` as
``(sqrt(ex + eps) * rsqrt(eg + eps))**2 * c`` with the constant ``c = (1 - rho) * g**2``
folded to ``inf``: ``0 * inf = NaN``. That is XLA's doing, not the library's (optax does the
same), and no training loop has a constant gradient.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax import schedules, tree
from tests.helpers import DEFAULT_COMPILER, convex_loss

INT32_MAX = 2**31 - 1

# --------------------------------------------------------------------------- helpers


def _params(dtypes, seed=0):
    """A small nested pytree with one branch per dtype (named after it): a matrix, and a
    list holding a scalar."""
    k = jax.random.split(jax.random.key(seed), 2)
    return {
        jnp.dtype(d).name: {
            "w": jax.random.normal(k[0], (2, 3), d),
            "rest": [jax.random.normal(k[1], (), d)],
        }
        for d in dtypes
    }


def _floats(x):
    return [leaf for leaf in jax.tree.leaves(x) if jnp.issubdtype(leaf.dtype, jnp.floating)]


def _finite(x):
    return all(np.isfinite(np.asarray(leaf, np.float32)).all() for leaf in _floats(x))


def _all(predicate, x):
    """In a trace: ``predicate`` holds for every element of every floating leaf of ``x``."""
    return jnp.all(jnp.array([jnp.all(predicate(leaf)) for leaf in _floats(x)] or [True]))


def _health(updates, params, state):
    """Per-step flags. They are computed inside the scan: stacking whole half-precision
    trees along the steps costs XLA several times the compile time."""
    return {
        "updates finite": _all(jnp.isfinite, updates),
        "params finite": _all(jnp.isfinite, params),
        "no NaN in the state": _all(lambda x: ~jnp.isnan(x), state),
    }


def _assert_healthy(flags):
    for what, ok in flags.items():
        ok = np.asarray(ok)
        assert ok.all(), f"{what} fails from step {np.argmin(ok)} on"


def _scan(tx, params, grads, record, apply=gdjax.apply_updates):
    """Applies ``tx`` to each slice of ``grads`` (a params-shaped tree with a leading step
    axis) in one jitted scan. Returns ``record(updates, params, state)`` of every step
    (stacked along a leading axis), and the final params and state."""

    def step(carry, g):
        p, s = carry
        u, s = tx.update(g, s, p)
        p = apply(p, u)
        return (p, s), record(u, p, s)

    def go(p, g):
        (p, s), records = jax.lax.scan(step, (p, tx.init(p)), g)
        return records, p, s

    # XLA's default compilation: the bit-for-bit comparisons with optax are about it.
    return jax.jit(go, compiler_options=DEFAULT_COMPILER)(params, grads)


def _signed(params, magnitudes, steps, seed=0):
    """``steps`` gradients shaped like ``params``: +-``magnitudes[branch]`` with random signs."""
    out = {}
    for i, (branch, sub) in enumerate(params.items()):
        leaves, treedef = jax.tree.flatten(sub)
        keys = jax.random.split(jax.random.key(seed + i), len(leaves))
        out[branch] = jax.tree.unflatten(
            treedef,
            [
                jnp.asarray(magnitudes[branch], x.dtype)
                * jax.random.rademacher(k, (steps, *x.shape), x.dtype)
                for k, x in zip(keys, leaves, strict=True)
            ],
        )
    return out


# --------------------------------------------------------------------------- 1. zero gradients

# The aliases, each with the same arguments in gdjax and optax (keywords: gdjax.adamw's
# positional order differs from optax's).
ADAPTIVE = {
    "adagrad": lambda m: m.adagrad(0.1),
    "rmsprop": lambda m: m.rmsprop(0.1),
    "rmsprop-centered": lambda m: m.rmsprop(0.1, centered=True),
    "rmsprop-momentum": lambda m: m.rmsprop(0.1, momentum=0.9),
    "rmsprop-nesterov": lambda m: m.rmsprop(0.1, momentum=0.9, nesterov=True),
    "rmsprop-bias-correction": lambda m: m.rmsprop(0.1, bias_correction=True),
    "rmsprop-eps-outside": lambda m: m.rmsprop(0.1, eps_in_sqrt=False),
    "adadelta": lambda m: m.adadelta(1.0),
    "adam": lambda m: m.adam(0.1),
    "adamw": lambda m: m.adamw(0.1, weight_decay=1e-2),
    "nadam": lambda m: m.nadam(0.1),
    "amsgrad": lambda m: m.amsgrad(0.1),
    "adamax": lambda m: m.adamax(0.1),
}

ALL = {
    "sgd": lambda m: m.sgd(0.1),
    "momentum": lambda m: m.sgd(0.1, momentum=0.9),
    "nesterov": lambda m: m.sgd(0.1, momentum=0.9, nesterov=True),
    **ADAPTIVE,
}

HALF = (jnp.float16, jnp.bfloat16)


@pytest.mark.parametrize("name", [*ADAPTIVE, "adagrad-pytorch"])
def test_a_thousand_zero_gradients_leave_everything_finite(name):
    # One run covers float32, float16 and bfloat16 params: the tree has a branch of each.
    # PyTorch's AdaGrad convention (nothing accumulated, eps outside the root) is the one
    # that would divide 0 by 0. In float16, eps = 1e-8 itself underflows to 0.
    if name == "adagrad-pytorch":
        tx = gdjax.adagrad(0.1, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)
    else:
        tx = ADAPTIVE[name](gdjax)
    params = _params((jnp.float32, *HALF))
    zeros = jax.tree.map(lambda x: jnp.zeros((1024, *x.shape), x.dtype), params)

    def record(u, p, s):
        return {
            **_health(u, p, s),
            "state finite": _all(jnp.isfinite, s),
            "updates zero": _all(lambda x: x == 0, u),
        }

    flags, final, state = _scan(tx, params, zeros, record)
    zero = flags.pop("updates zero")
    _assert_healthy(flags)
    assert _finite(state)
    for new, old in zip(jax.tree.leaves(final), jax.tree.leaves(params), strict=True):
        assert new.dtype == old.dtype
    if name == "adamw":
        # Only the decoupled weight decay moves the params: p - lr * wd * p per step, which
        # shrinks float32 and float16 params. In bfloat16 (8 bits of mantissa) p * (1 - 1e-3)
        # rounds back to p: bfloat16 params without a float32 copy never decay at this rate.
        for branch, old_branch in params.items():
            for new, old in zip(
                jax.tree.leaves(final[branch]), jax.tree.leaves(old_branch), strict=True
            ):
                new, old = np.asarray(new, np.float32), np.asarray(old, np.float32)
                assert np.all(np.sign(new) == np.sign(old))
                if branch == "bfloat16":
                    np.testing.assert_array_equal(new, old)
                else:
                    assert np.all(np.abs(new) < np.abs(old))
    else:
        assert np.asarray(zero).all()
        for new, old in zip(jax.tree.leaves(final), jax.tree.leaves(params), strict=True):
            np.testing.assert_array_equal(np.asarray(new), np.asarray(old))


# --------------------------------------------------------------------------- 2. 1e30 and 1e-30

# One run per optimizer: these optimizers are elementwise, so the branch of the params
# that gets gradients of +-1e30 and the branch that gets +-1e-30 do not interact.
EXTREMES = {"1e30": 1e30, "1e-30": 1e-30}


@pytest.mark.parametrize("name", list(ALL))
def test_extreme_gradients_never_give_nan_and_match_optax_where_it_is_finite(name):
    params = {branch: _params((jnp.float32,), seed=i) for i, branch in enumerate(EXTREMES)}
    grads = _signed(params, EXTREMES, steps=300)
    (ours, flags), _, _ = _scan(
        ALL[name](gdjax), params, grads, lambda u, p, s: (u, _health(u, p, s))
    )
    _assert_healthy(flags)
    theirs, _, _ = _scan(ALL[name](optax), params, grads, lambda u, p, s: u, optax.apply_updates)
    for path, a in jax.tree_util.tree_flatten_with_path(ours)[0]:
        b = np.asarray(_at(theirs, path))
        where = np.isfinite(b)
        # Bit for bit where optax is finite. (Only centered RMSProp at 1e30 differs: there
        # optax's v - m**2 is inf - inf = NaN; see the test below.)
        np.testing.assert_array_equal(np.asarray(a)[where], b[where], err_msg=str(path))


def _at(x, path):
    for key in path:
        x = x[getattr(key, "key", getattr(key, "idx", None))]
    return x


def test_centered_rmsprop_at_overflow_steps_zero_where_optax_gives_nan():
    # g**2 = 1e60 overflows float32, so v = inf and (with m = 1e29, m**2 = inf) the centered
    # variance v - m**2 is inf - inf. gdjax takes an overflowed v as an infinite variance,
    # which gives the step plain RMSProp takes there: g / sqrt(inf) = 0. optax 0.2.8 gives NaN.
    g = jnp.array([1e30, -1e30, 1.0], jnp.float32)
    tx = gdjax.scale_by_rms(centered=True)
    for update in (tx.update, jax.jit(tx.update)):
        u, state = update(g, tx.init(g))
        np.testing.assert_array_equal(np.asarray(u[:2]), 0.0)
        np.testing.assert_allclose(u[2], 1.0 / np.sqrt(0.1 - 0.01 + 1e-8), rtol=1e-6)
        assert np.isinf(np.asarray(state.nu[:2])).all()


# First update of the scale-invariant adaptive methods, lr = 0.1. In exact arithmetic
# adam/adamax/adagrad/rmsprop step by about -lr * sign(g) * c for any large |g| (c = 1, 1, 1,
# 1/sqrt(0.1)). In float32:
# * at 1e30, g**2 = 1e60 overflows to inf, v = inf and the step is m / inf = 0: the
#   optimizer does not move (and, its v being inf for good, never will). Only AdaMax, which
#   keeps |g| instead of g**2, is scale invariant: the step is -lr.
# * at 1e-30, eps dominates the root (|g| << eps, and g**2 = 1e-60 underflows to 0 anyway):
#   the step is -lr * g / eps (adam, adamax), -lr * g / sqrt(eps) (rmsprop) and
#   -lr * g / sqrt(0.1 + eps) (adagrad's initial accumulator), as the formulas say.
FIRST_STEP = {
    ("adam", "1e30"): 0.0,
    ("adam", "1e-30"): -0.1 * 1e-30 / 1e-8,
    ("rmsprop", "1e30"): 0.0,
    ("rmsprop", "1e-30"): -0.1 * 1e-30 / np.sqrt(1e-8),
    ("adagrad", "1e30"): 0.0,
    ("adagrad", "1e-30"): -0.1 * 1e-30 / np.sqrt(0.1 + 1e-7),
    ("adamax", "1e30"): -0.1,
    ("adamax", "1e-30"): -0.1 * 1e-30 / 1e-8,
}


@pytest.mark.parametrize("name,magnitude", list(FIRST_STEP), ids="-".join)
def test_first_step_of_the_scale_invariant_methods_at_the_extremes(name, magnitude):
    g = EXTREMES[magnitude]
    grads = {"w": jnp.array([g, -g], jnp.float32)}
    params = {"w": jnp.zeros(2)}
    ours = ALL[name](gdjax)
    u, _ = ours.update(grads, ours.init(params), params)
    want = FIRST_STEP[name, magnitude]
    np.testing.assert_allclose(np.asarray(u["w"]), [want, -want], rtol=1e-6, atol=0)
    theirs = ALL[name](optax)
    v, _ = theirs.update(grads, theirs.init(params), params)
    np.testing.assert_array_equal(np.asarray(u["w"]), np.asarray(v["w"]))


def test_an_overflowing_gradient_freezes_adam_for_good_as_in_optax():
    # An inherent hazard, documented: one gradient of 1e30 makes v = inf, so every later
    # step is m / inf = 0, ordinary gradients or not. apply_if_finite does not catch it (the
    # updates are finite); clipping the gradients before Adam does.
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.concatenate([jnp.full((1, 3), 1e30), jnp.ones((20, 3))])}
    for module, apply in ((gdjax, gdjax.apply_updates), (optax, optax.apply_updates)):
        updates, final, state = _scan(module.adam(0.1), params, grads, lambda u, p, s: u, apply)
        np.testing.assert_array_equal(np.asarray(updates["w"]), 0.0)
        np.testing.assert_array_equal(np.asarray(final["w"]), 1.0)
        assert np.isinf(np.asarray(state[0].nu["w"])).all()
    guarded = gdjax.apply_if_finite(gdjax.adam(0.1), max_consecutive_errors=3)
    updates, _, state = _scan(guarded, params, grads, lambda u, p, s: u)
    np.testing.assert_array_equal(np.asarray(updates["w"]), 0.0)
    assert int(state.total_notfinite) == 0
    # Clipped, every one of the 21 steps moves about lr = 0.1.
    clipped = gdjax.chain(gdjax.clip_by_global_norm(1.0), gdjax.adam(0.1))
    _, final, _ = _scan(clipped, params, grads, lambda u, p, s: ())
    assert np.all(np.asarray(final["w"]) < 1.0 - 20 * 0.09)


# --------------------------------------------------------------------------- 3. float32 state

LOW_PRECISION = {
    "adam": lambda m: m.adam(0.01, mu_dtype=jnp.float32),
    "adamw": lambda m: m.adamw(0.01, weight_decay=1e-2, mu_dtype=jnp.float32),
    "nadam": lambda m: m.nadam(0.01, mu_dtype=jnp.float32),
    "amsgrad": lambda m: m.amsgrad(0.01, mu_dtype=jnp.float32),
    "momentum": lambda m: m.sgd(0.01, momentum=0.9, accumulator_dtype=jnp.float32),
    "nesterov": lambda m: m.sgd(0.01, momentum=0.9, nesterov=True, accumulator_dtype=jnp.float32),
}


def _low_precision_run(tx, params, apply):
    """100 steps on the convex loss (evaluated in float32, gradients in the params' dtypes)."""

    def step(carry, _):
        p, s, _ = carry
        g = jax.grad(lambda q: convex_loss(jax.tree.map(lambda x: x.astype(jnp.float32), q)))(p)
        u, s = tx.update(g, s, p)
        return (apply(p, u), s, u), None

    @jax.jit
    def go(p):
        # The last updates are carried, not stacked (see _health); the first step is
        # taken outside the loop to give the carry the updates' dtypes.
        first, _ = step((p, tx.init(p), None), None)
        return jax.lax.scan(step, first, None, length=99)[0]

    return go(params)


def _accumulator(state):
    """The float32 buffer: Adam's ``mu`` or the momentum ``trace``."""
    first = state[0]
    return first.mu if hasattr(first, "mu") else first.trace


@pytest.mark.parametrize("name", list(LOW_PRECISION))
def test_half_precision_params_with_a_float32_accumulator_match_optax(name):
    params = _params(HALF)
    ours, state, updates = _low_precision_run(
        LOW_PRECISION[name](gdjax), params, gdjax.apply_updates
    )
    theirs, their_state, _ = _low_precision_run(
        LOW_PRECISION[name](optax), params, optax.apply_updates
    )
    for branch, dtype in zip(params, HALF, strict=True):
        # Params and updates stay in the low precision ...
        assert {x.dtype for x in jax.tree.leaves(ours[branch])} == {jnp.dtype(dtype)}
        assert {x.dtype for x in jax.tree.leaves(updates[branch])} == {jnp.dtype(dtype)}
        # ... while the accumulator is float32 and holds values the low precision cannot.
        accumulator = _accumulator(state)[branch]
        assert {x.dtype for x in jax.tree.leaves(accumulator)} == {jnp.dtype(jnp.float32)}
        flat = np.concatenate([np.ravel(x) for x in jax.tree.leaves(accumulator)])
        assert np.any(flat != flat.astype(dtype).astype(np.float32))
        if hasattr(state[0], "nu"):
            assert {x.dtype for x in jax.tree.leaves(state[0].nu[branch])} == {jnp.dtype(dtype)}
        their_accumulator = _accumulator(their_state)[branch]
        assert {x.dtype for x in jax.tree.leaves(their_accumulator)} == {jnp.dtype(jnp.float32)}
        # gdjax computes the step in float32 and rounds it once; optax keeps Adam's v in
        # the low precision and returns float32 updates. Where optax is not finite (see
        # the next test) there is nothing to compare.
        ulp = float(jnp.finfo(dtype).eps)
        for a, b, p in zip(
            jax.tree.leaves(ours[branch]),
            jax.tree.leaves(theirs[branch]),
            jax.tree.leaves(params[branch]),
            strict=True,
        ):
            a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
            assert np.isfinite(a).all()
            assert not np.array_equal(a, np.asarray(p, np.float32)), "a leaf did not move"
            where = np.isfinite(b)
            np.testing.assert_allclose(a[where], b[where], rtol=4 * ulp, atol=4 * ulp)


def test_float16_adam_with_small_gradients_stays_finite_where_optax_overflows():
    # (1 - b2) * g**2 underflows float16 for |g| below about 5e-3, and eps = 1e-8 rounds to
    # 0 as well: optax 0.2.8's float16 Adam divides m by sqrt(0) + 0 and steps by -inf.
    # gdjax computes the step in float32: -lr * g / (|g| + eps), about -lr * sign(g).
    params = {"w": jnp.zeros(3, jnp.float16)}
    grads = {"w": jnp.array([1e-3, -2e-4, 5e-3], jnp.float16)}
    for mu_dtype in (None, jnp.float32):
        tx = gdjax.adam(0.1, mu_dtype=mu_dtype)
        u, state = tx.update(grads, tx.init(params), params)
        assert u["w"].dtype == jnp.float16
        np.testing.assert_allclose(np.asarray(u["w"], np.float32), [-0.1, 0.1, -0.1], rtol=1e-3)
        assert _finite(state)


# --------------------------------------------------------------------------- 4. counters


def _at_count(state, count):
    """The state with every int32 scalar (the step counters) set to ``count``."""

    def reset(x):
        if isinstance(x, jax.Array) and x.dtype == jnp.int32 and x.shape == ():
            return jnp.asarray(count, jnp.int32)
        return x

    return jax.tree.map(reset, state)


def _counts(state):
    return [
        int(x)
        for x in jax.tree.leaves(state)
        if isinstance(x, jax.Array) and x.dtype == jnp.int32 and x.shape == ()
    ]


LINEAR = (1.0, 0.25, 100)  # a schedule that reaches its end value, 0.25, at step 100

# (gdjax transform, the optax one with the same state layout or None)
COUNTED = {
    "scale_by_adam": (lambda: gdjax.scale_by_adam(), lambda: optax.scale_by_adam()),
    "scale_by_adam-nesterov": (
        lambda: gdjax.scale_by_adam(nesterov=True),
        lambda: optax.scale_by_adam(nesterov=True),
    ),
    "scale_by_adam-amsgrad": (
        lambda: gdjax.scale_by_adam(amsgrad=True),
        lambda: optax.scale_by_amsgrad(),
    ),
    "scale_by_rms-bias-correction": (
        lambda: gdjax.scale_by_rms(bias_correction=True),
        lambda: optax.scale_by_rms(bias_correction=True),
    ),
    "scale_by_rms-centered-bias-correction": (
        lambda: gdjax.scale_by_rms(centered=True, bias_correction=True),
        lambda: optax.scale_by_stddev(bias_correction=True),
    ),
    "scale_by_adamax": (lambda: gdjax.scale_by_adamax(), lambda: optax.scale_by_adamax()),
    "ema-debias": (lambda: gdjax.ema(0.9), lambda: optax.ema(0.9)),
    "scale_by_schedule": (
        lambda: gdjax.scale_by_schedule(schedules.linear(*LINEAR)),
        lambda: optax.scale_by_schedule(optax.linear_schedule(*LINEAR)),
    ),
    "scale_by_learning_rate-schedule": (
        lambda: gdjax.scale_by_learning_rate(schedules.linear(*LINEAR)),
        lambda: optax.scale_by_learning_rate(optax.linear_schedule(*LINEAR)),
    ),
    "add_decayed_weights-schedule": (
        lambda: gdjax.add_decayed_weights(schedules.linear(*LINEAR)),
        None,  # optax's add_decayed_weights keeps no count
    ),
    "add_noise": (lambda: gdjax.add_noise(0.01, 0.55, 0), lambda: optax.add_noise(0.01, 0.55, 0)),
    "inject_hyperparams-sgd": (
        lambda: gdjax.inject_hyperparams(gdjax.sgd)(learning_rate=schedules.linear(*LINEAR)),
        lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=optax.linear_schedule(*LINEAR)),
    ),
}


def _warm_state(tx, params):
    """A state after three ordinary steps, so that the moments are not zero."""
    state = tx.init(params)
    for i in range(3):
        g = jax.tree.map(lambda x, i=i: jnp.sin(x + i), params)
        _, state = tx.update(g, state, params)
    return state


def _two_steps_from_int32_max(tx, params):
    """Warms ``tx`` up, sets its step counters to 2**31 - 2 and takes two more steps, all
    in one jitted call; returns the two updates and the two states."""

    @jax.jit
    def go(params):
        state = _at_count(_warm_state(tx, params), INT32_MAX - 1)
        grads = jax.tree.map(jnp.cos, params)
        first, state_1 = tx.update(grads, state, params)
        second, state_2 = tx.update(grads, state_1, params)
        return (first, second), (state_1, state_2)

    return go(params)


@pytest.mark.parametrize("name", list(COUNTED))
def test_step_counts_saturate_at_int32_max(name):
    ours, theirs = COUNTED[name]
    params = _params((jnp.float32,))
    updates, states = _two_steps_from_int32_max(ours(), params)
    for u, state in zip(updates, states, strict=True):
        assert _counts(state) and set(_counts(state)) == {INT32_MAX}
        assert _finite(u) and _finite(state)
    if theirs is not None:
        their_updates, _ = _two_steps_from_int32_max(theirs(), params)
        for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(their_updates), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_bias_correction_is_exactly_one_at_int32_max():
    m = {"w": jnp.array([1e-3, -2.5, 3e7], jnp.float32)}
    for decay in (0.9, 0.999, 0.9999999):
        corrected = tree.bias_correction(m, decay, jnp.asarray(INT32_MAX, jnp.int32))
        np.testing.assert_array_equal(np.asarray(corrected["w"]), np.asarray(m["w"]))


def test_adam_at_int32_max_takes_the_uncorrected_step():
    # With 1 - b**t == 1, the step is m / (sqrt(v) + eps) with the plain moments.
    tx = gdjax.scale_by_adam()
    g = jnp.array([0.3, -2.0, 1e-4], jnp.float32)
    state = _at_count(_warm_state(tx, g), INT32_MAX - 1)
    u, new = tx.update(g, state)
    np.testing.assert_array_equal(np.asarray(u), np.asarray(new.mu / (jnp.sqrt(new.nu) + 1e-8)))
    u, new = tx.update(g, new)
    assert int(new.count) == INT32_MAX
    np.testing.assert_array_equal(np.asarray(u), np.asarray(new.mu / (jnp.sqrt(new.nu) + 1e-8)))


def test_add_noise_keeps_annealing_at_int32_max():
    # sigma**2 = eta / (1 + t)**gamma with 1 + t saturated at 2**31 - 1.
    tx = gdjax.add_noise(eta=1.0, gamma=0.55, key=3)
    zeros = jnp.zeros(20000)
    state = _at_count(tx.init(zeros), INT32_MAX - 1)
    for _ in range(2):
        noise, state = tx.update(zeros, state)
        assert int(state.count) == INT32_MAX
        np.testing.assert_allclose(np.std(np.asarray(noise)), INT32_MAX ** (-0.55 / 2), rtol=0.03)


def test_apply_if_finite_counters_saturate():
    tx = gdjax.apply_if_finite(gdjax.sgd(0.1), max_consecutive_errors=3)
    params = {"w": jnp.ones(2)}
    state = tx.init(params)._replace(
        notfinite_count=jnp.asarray(INT32_MAX - 1, jnp.int32),
        total_notfinite=jnp.asarray(INT32_MAX - 1, jnp.int32),
    )
    bad = {"w": jnp.array([jnp.nan, 1.0])}
    for _ in range(2):
        _, state = jax.jit(tx.update)(bad, state, params)
        assert int(state.notfinite_count) == INT32_MAX
        assert int(state.total_notfinite) == INT32_MAX
        assert not bool(state.last_finite)
    updates, state = tx.update({"w": jnp.ones(2)}, state, params)
    assert int(state.notfinite_count) == 0 and int(state.total_notfinite) == INT32_MAX
    np.testing.assert_allclose(np.asarray(updates["w"]), -0.1)


def test_reduce_on_plateau_counters_saturate_instead_of_wrapping():
    # A plateau count beyond the patience is not reachable (the count resets at the
    # patience); set by hand, it shows the increment saturates: wrapped to -2**31, it would
    # count up to the patience again and reduce the scale after 2**31 + 10 evaluations.
    tx = gdjax.reduce_on_plateau(factor=0.5, patience=10)
    g = {"w": jnp.ones(2)}
    state = tx.init(g)
    _, state = tx.update(g, state, value=1.0)  # best = 1
    state = state._replace(plateau_count=jnp.asarray(INT32_MAX - 1, jnp.int32))
    for _ in range(2):
        updates, state = jax.jit(lambda u, s: tx.update(u, s, value=2.0))(g, state)
        assert int(state.plateau_count) == INT32_MAX
        assert float(state.scale) == 1.0
        np.testing.assert_array_equal(np.asarray(updates["w"]), 1.0)


def test_reduce_on_plateau_with_the_largest_patience_and_accumulation():
    tx = gdjax.reduce_on_plateau(factor=0.5, patience=INT32_MAX, accumulation_size=INT32_MAX)
    g = {"w": jnp.ones(2)}
    state = tx.init(g)._replace(
        best_value=jnp.asarray(1.0),
        avg_value=jnp.asarray(3.0),
        count=jnp.asarray(INT32_MAX - 1, jnp.int32),
        plateau_count=jnp.asarray(INT32_MAX - 1, jnp.int32),
    )
    updates, state = jax.jit(lambda u, s: tx.update(u, s, value=3.0))(g, state)
    # The 2**31 - 1st value completes an evaluation: no improvement, patience reached.
    assert float(state.scale) == 0.5 and int(state.plateau_count) == 0
    assert int(state.count) == 0 and float(state.avg_value) == 0.0
    np.testing.assert_array_equal(np.asarray(updates["w"]), 0.5)


TOO_MANY_STEPS = {
    "exponential_decay-transition_steps": lambda n: schedules.exponential_decay(1.0, n, 0.5),
    "exponential_decay-transition_begin": lambda n: schedules.exponential_decay(1.0, 1, 0.5, n),
    "inverse_time_decay-transition_begin": lambda n: schedules.inverse_time_decay(1.0, 1, 0.5, n),
    "piecewise_constant-boundary": lambda n: schedules.piecewise_constant(1.0, {n: 0.5}),
    "polynomial-transition_steps": lambda n: schedules.polynomial(1.0, 0.0, 1.0, n),
    # cosine_decay's decay_steps is not among them: it is only divided by, in float32,
    # and any length works (tests/test_schedules.py).
    "join-boundary": lambda n: schedules.join([schedules.constant(1.0)] * 2, [n]),
    "reduce_on_plateau-patience": lambda n: gdjax.reduce_on_plateau(patience=n),
    "reduce_on_plateau-cooldown": lambda n: gdjax.reduce_on_plateau(cooldown=n),
    "reduce_on_plateau-accumulation_size": lambda n: gdjax.reduce_on_plateau(accumulation_size=n),
    "apply_if_finite-max_consecutive_errors": lambda n: gdjax.apply_if_finite(gdjax.sgd(0.1), n),
}


@pytest.mark.parametrize("name", list(TOO_MANY_STEPS))
def test_step_arguments_beyond_int32_max_are_refused_when_built(name):
    # A step that an int32 counter never reaches used to pass validation and fail at the
    # first update with JAX's "OverflowError: An overflow was encountered while parsing
    # an argument to a jitted computation".
    build = TOO_MANY_STEPS[name]
    build(INT32_MAX)
    with pytest.raises(ValueError, match=r"<= 2\*\*31 - 1 = 2147483647 .*got 2147483648"):
        build(INT32_MAX + 1)


# --------------------------------------------------------------------------- 5. schedules

# name: (gdjax schedule, optax schedule or None, value at 0, value at 2**31 - 1)
SCHEDULES = {
    "constant": (schedules.constant(0.3), optax.constant_schedule(0.3), 0.3, 0.3),
    "exponential": (
        schedules.exponential_decay(0.1, 10, 0.5),
        optax.exponential_decay(0.1, 10, 0.5),
        0.1,
        0.0,  # 0.5**214748364.7 underflows to 0
    ),
    "exponential-staircase": (
        schedules.exponential_decay(0.1, 10, 0.5, staircase=True),
        optax.exponential_decay(0.1, 10, 0.5, staircase=True),
        0.1,
        0.0,
    ),
    "exponential-begin-staircase-end": (
        schedules.exponential_decay(0.1, 7, 0.5, 10, True, 0.01),
        optax.exponential_decay(0.1, 7, 0.5, 10, True, 0.01),
        0.1,
        0.01,
    ),
    "exponential-growth-capped": (
        schedules.exponential_decay(0.1, 5, 1.5, end_value=1.0),
        optax.exponential_decay(0.1, 5, 1.5, end_value=1.0),
        0.1,
        1.0,  # 1.5**429496729.4 overflows to inf, capped
    ),
    "inverse-time": (
        schedules.inverse_time_decay(0.5, 10, 2.0),
        None,
        0.5,
        0.5 / (1 + 2.0 * INT32_MAX / 10),
    ),
    "inverse-time-staircase": (
        schedules.inverse_time_decay(0.5, 10, 2.0, transition_begin=3, staircase=True),
        None,
        0.5,
        0.5 / (1 + 2.0 * ((INT32_MAX - 3) // 10)),
    ),
    "piecewise": (
        schedules.piecewise_constant(1.0, {10: 0.5, 100: 0.1}),
        optax.piecewise_constant_schedule(1.0, {10: 0.5, 100: 0.1}),
        1.0,
        0.05,
    ),
    "piecewise-boundary-at-max": (
        schedules.piecewise_constant(1.0, {INT32_MAX: 0.5}),
        optax.piecewise_constant_schedule(1.0, {INT32_MAX: 0.5}),
        1.0,
        0.5,
    ),
    "polynomial": (
        schedules.polynomial(1.0, 0.1, 2.0, 100, 5),
        optax.polynomial_schedule(1.0, 0.1, 2.0, 100, 5),
        1.0,
        0.1,
    ),
    "linear": (
        schedules.linear(0.0, 1.0, 50),
        optax.linear_schedule(0.0, 1.0, 50),
        0.0,
        1.0,
    ),
    "linear-to-zero": (
        schedules.linear(1.0, 0.0, 10),
        optax.linear_schedule(1.0, 0.0, 10),
        1.0,
        0.0,  # exactly, also under jit (see test_polynomial_ends_exactly_at_its_end_value)
    ),
    "polynomial-square-root": (
        schedules.polynomial(1.0, 0.1, 0.5, 10),
        None,  # optax 0.2.8 gives NaN under jit from step 10 on
        1.0,
        0.1,
    ),
    "linear-begins-near-max": (
        schedules.linear(1.0, 0.0, 10, transition_begin=INT32_MAX - 5),
        optax.linear_schedule(1.0, 0.0, 10, transition_begin=INT32_MAX - 5),
        1.0,
        0.5,
    ),
    "cosine": (
        schedules.cosine_decay(1.0, 100, 0.1, 2.0),
        optax.cosine_decay_schedule(1.0, 100, 0.1, 2.0),
        1.0,
        0.1,
    ),
    "cosine-over-int32-max-steps": (
        schedules.cosine_decay(1.0, INT32_MAX, 0.1),
        optax.cosine_decay_schedule(1.0, INT32_MAX, 0.1),
        1.0,
        0.1,
    ),
    "warmup-cosine": (
        schedules.warmup_cosine_decay(0.0, 1.0, 10, 100, 0.05),
        optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100, 0.05),
        0.0,
        0.05,
    ),
    "join": (
        schedules.join([schedules.constant(1.0), schedules.linear(1.0, 0.0, 10)], [5]),
        optax.join_schedules(
            [optax.constant_schedule(1.0), optax.linear_schedule(1.0, 0.0, 10)], [5]
        ),
        1.0,
        0.0,
    ),
    "join-boundary-at-max": (
        schedules.join([schedules.constant(1.0), schedules.constant(2.0)], [INT32_MAX]),
        optax.join_schedules(
            [optax.constant_schedule(1.0), optax.constant_schedule(2.0)], [INT32_MAX]
        ),
        1.0,
        2.0,
    ),
}

STEP_FORMS = {
    "python-int": lambda f, t: f(t),
    "int32-array": lambda f, t: f(jnp.asarray(t, jnp.int32)),
    "jit-python-int": lambda f, t: jax.jit(f)(t),
    "jit-int32-array": lambda f, t: jax.jit(f)(jnp.asarray(t, jnp.int32)),
}


@pytest.mark.parametrize("form", list(STEP_FORMS))
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_at_step_zero_and_int32_max(name, form):
    ours, theirs, at_zero, at_max = SCHEDULES[name]
    evaluate = STEP_FORMS[form]
    for step, want in ((0, at_zero), (INT32_MAX, at_max)):
        got = np.asarray(evaluate(ours, step))
        assert got.shape == () and np.isfinite(got), f"step {step}: {got}"
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, err_msg=f"step {step}")
        if theirs is not None:
            # atol: optax's jitted linear decay to 0 ends at -1.5e-8, not 0 (see below).
            np.testing.assert_allclose(
                got, evaluate(theirs, step), rtol=1e-6, atol=2e-8, err_msg=f"optax, step {step}"
            )


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
def test_polynomial_ends_exactly_at_its_end_value(power):
    # Under jit XLA computes 1 - s/n as a fused multiply-add with the rounded 1/n, which
    # is about -1e-8 at s = n for most n. Unclamped (optax 0.2.8), linear(1, 0, 10) ends
    # at -1.49e-8 -- a negative learning rate -- and power 0.5 gives NaN from s = n on.
    for n in (3, 7, 10, 100, 1000):
        for end in (0.0, 0.1):
            schedule = jax.jit(schedules.polynomial(1.0, end, power, n))
            for step in (n, n + 1, INT32_MAX):
                got = float(schedule(step))
                assert got == np.float32(end), f"n={n}, end={end}, step {step}: {got}"
            assert float(schedule(0)) == 1.0
