"""Hostile input for every optimizer: odd pytrees, integer params, mismatched structures.

tests/test_properties.py checks shapes and dtypes over ordinary trees of
float arrays; this file feeds the optimizers what users actually pass by
mistake or by design: empty trees, bare scalars (Python, NumPy, 0-d arrays),
zero-size arrays, ``None`` leaves, NumPy float64 arrays, mixed float dtypes,
complex leaves, integer and bool leaves deep in a tree, and gradients of
another structure or shape (DESIGN §6).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import gdjax
from tests import helpers


def _labels(params):
    return jax.tree.map(lambda x: "vector" if np.ndim(x) else "scalar", params)


# name -> (gdjax factory, optax factory, extra keyword arguments of update)
WRAPPED = {
    "apply_if_finite": (
        lambda: gdjax.apply_if_finite(gdjax.adam(0.01), 3),
        lambda: optax.apply_if_finite(optax.adam(0.01), 3),
        {},
    ),
    "clip_by_global_norm": (
        lambda: gdjax.chain(gdjax.clip_by_global_norm(1.0), gdjax.sgd(0.1, momentum=0.9)),
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.1, momentum=0.9)),
        {},
    ),
    "inject_hyperparams": (
        lambda: gdjax.inject_hyperparams(gdjax.adam)(learning_rate=0.01),
        lambda: optax.inject_hyperparams(optax.adam)(learning_rate=0.01),
        {},
    ),
    "partition": (
        lambda: gdjax.partition({"vector": gdjax.adam(0.01), "scalar": gdjax.sgd(0.1)}, _labels),
        lambda: optax.partition({"vector": optax.adam(0.01), "scalar": optax.sgd(0.1)}, _labels),
        {},
    ),
    "reduce_on_plateau": (
        lambda: gdjax.chain(gdjax.adam(0.01), gdjax.reduce_on_plateau(patience=1)),
        lambda: optax.chain(optax.adam(0.01), optax.contrib.reduce_on_plateau(patience=1)),
        {"value": 1.0},
    ),
}
PAIRS = {name: (g, o, {}) for name, (g, o) in helpers.OPTIMIZER_PAIRS.items()} | WRAPPED
NAMES = sorted(PAIRS)
ALIASES = sorted(helpers.OPTIMIZER_PAIRS)

# Stateless in the params' structure: with no params given, a gradient tree of
# another structure cannot be told from the right one (optax cannot either).
NO_STRUCTURE_IN_STATE = {"sgd", "noisy_sgd"}

# optax's inject_hyperparams multiplies by its float32 learning rate, which
# promotes bfloat16/float16 updates to float32; gdjax keeps the updates' dtype
# (DESIGN §2), so the dtypes of those leaves differ on purpose.
OPTAX_PROMOTES_HALF = {"inject_hyperparams"}

# optax's weight decay refuses params=None even for an empty (None) params tree;
# gdjax accepts it: an empty tree has no weights to decay.
OPTAX_NEEDS_PARAMS = {"adamw", "adadelta"}

hostile = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _expected_dtype(leaf):
    """The dtype JAX gives the leaf: float64 becomes float32 unless x64 is on."""
    return jnp.result_type(leaf)


def _steps(name, factory, params, seed, steps=2):
    """``steps`` jitted updates of ``factory()`` on gradients like ``params``."""
    _, _, extra = PAIRS[name]
    tx = factory()
    update = jax.jit(functools.partial(tx.update, **extra))
    state = jax.jit(tx.init)(params)
    for step in range(steps):
        updates, state = update(helpers.grads_like(params, seed + step), state, params)
    return updates


def _assert_like_params(updates, params):
    assert jax.tree.structure(updates) == jax.tree.structure(params)
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params), strict=True):
        assert u.shape == np.shape(p)
        assert u.dtype == _expected_dtype(p), (u.dtype, p)
        assert np.isfinite(np.asarray(u, np.float32)).all()


# --------------------------------------------------------------------------- odd trees


@hostile
@given(name=st.sampled_from(NAMES), params=helpers.hostile_pytrees(), seed=st.integers(0, 1000))
@example(name="adam", params={}, seed=0)
@example(name="partition", params=[None, {}, jnp.zeros((2, 0))], seed=0)
@example(name="noisy_sgd", params={"a": None, "b": (jnp.ones((), jnp.bfloat16), 1.5)}, seed=0)
@example(name="inject_hyperparams", params=np.float32(2.0), seed=0)
# Regressions: adamw refused params=None (an empty tree) as "params not given";
# inject_hyperparams stored b2=0.999 in bfloat16 as 1.0 and Adam returned NaN.
@example(name="adamw", params=None, seed=0)
@example(name="inject_hyperparams", params={"w": jnp.ones(3, jnp.bfloat16)}, seed=0)
def test_odd_trees_keep_structure_shapes_and_dtypes(name, params, seed):
    updates = _steps(name, PAIRS[name][0], params, seed)
    _assert_like_params(updates, params)


@hostile
@given(name=st.sampled_from(NAMES), params=helpers.hostile_pytrees(), seed=st.integers(0, 1000))
@example(name="clip_by_global_norm", params={"a": np.ones(3), "b": [None, 0.5]}, seed=3)
@example(name="reduce_on_plateau", params=[jnp.ones((2, 0)), jnp.ones(2)], seed=1)
# optax's reduce_on_plateau raises on a bf16 and an f16 leaf (neither promotes to the
# other); gdjax answers, and the test must not fail for optax's sake.
@example(name="reduce_on_plateau", params=[jnp.ones((), jnp.bfloat16), np.float16(1.0)], seed=0)
def test_odd_trees_agree_with_optax(name, params, seed):
    # optax takes params=None for "not given", even when None is the params tree.
    assume(not (params is None and name in OPTAX_NEEDS_PARAMS))
    ours = _steps(name, PAIRS[name][0], params, seed)
    try:
        theirs = _steps(name, PAIRS[name][1], params, seed)
    except Exception:  # the reference cannot answer: there is nothing to agree with here
        _assert_like_params(ours, params)
        return
    assert jax.tree.structure(ours) == jax.tree.structure(theirs) == jax.tree.structure(params)
    for a, b, p in zip(
        jax.tree.leaves(ours), jax.tree.leaves(theirs), jax.tree.leaves(params), strict=True
    ):
        assert a.shape == b.shape
        if _expected_dtype(p) == jnp.float32:
            assert a.dtype == b.dtype == jnp.float32
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=1e-7)
        elif name not in OPTAX_PROMOTES_HALF:
            assert a.dtype == b.dtype


def test_float64_leaves_follow_jax_x64_setting():
    params = {"w": np.linspace(-1.0, 1.0, 4), "b": np.float64(0.5)}
    expected = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    for name in ALIASES:
        updates = _steps(name, PAIRS[name][0], params, seed=0)
        for u in jax.tree.leaves(updates):
            assert u.dtype == expected, name


@pytest.mark.parametrize("name", ALIASES)
def test_bare_python_and_numpy_scalars_eagerly(name):
    tx = PAIRS[name][0]()
    for params, grads, dtype in [
        (1.0, 0.5, jnp.float32),
        (np.float16(1.0), np.float16(0.5), jnp.float16),
        ({"a": 1.0, "b": None, "c": []}, {"a": -2.0, "b": None, "c": []}, jnp.float32),
    ]:
        state = tx.init(params)
        for _ in range(2):
            updates, state = tx.update(grads, state, params)
        assert jax.tree.structure(updates) == jax.tree.structure(params)
        for u in jax.tree.leaves(updates):
            assert u.dtype == dtype and u.shape == () and np.isfinite(float(u))


# --------------------------------------------------------------------------- complex


def _complex_params():
    z = jnp.asarray([1 + 2j, -3 + 0.5j, 0.25 - 1j], jnp.complex64)
    return {"z": z, "x": jnp.asarray([0.5, -1.5], jnp.float32)}


def _complex_grads(step):
    rng = np.random.default_rng(step)
    return {
        "z": jnp.asarray(rng.normal(size=3) + 1j * rng.normal(size=3), jnp.complex64),
        "x": jnp.asarray(rng.normal(size=2), jnp.float32),
    }


# optax 0.2.8's adadelta squares complex gradients (g**2, not |g|**2) and so
# rotates the step; gdjax uses |g|**2 there as optax does in every other optimizer.
OPTAX_COMPLEX_WRONG = {"adadelta"}


@pytest.mark.parametrize("name", [*ALIASES, "clip_by_global_norm"])
def test_complex_params_agree_with_optax(name):
    if name in OPTAX_COMPLEX_WRONG:
        pytest.skip("optax squares complex gradients here; see the direction test")
    factories = PAIRS[name]
    results = []
    for factory in factories[:2]:
        tx = factory()
        params = _complex_params()
        state = tx.init(params)
        update = jax.jit(tx.update)
        for step in range(3):
            updates, state = update(_complex_grads(step), state, params)
            params = optax.apply_updates(params, updates)
        results.append(params)
    ours, theirs = results
    assert ours["z"].dtype == theirs["z"].dtype == jnp.complex64
    helpers.assert_trees_close(ours, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(set(ALIASES) - {"adamw", "noisy_sgd"}))
def test_complex_first_step_points_against_the_gradient(name):
    """With the second moments taken as |g|**2 the first step is ``-c * g`` with a real
    ``c > 0``; squaring a complex gradient would rotate it."""
    tx = PAIRS[name][0]()
    params = _complex_params()
    grads = _complex_grads(0)
    updates, _ = tx.update(grads, tx.init(params), params)
    ratio = np.asarray(updates["z"]) / np.asarray(grads["z"])
    np.testing.assert_allclose(ratio.imag, 0, atol=1e-6 * np.abs(ratio).max())
    assert (ratio.real < 0).all()


# --------------------------------------------------------------------------- integer params


@st.composite
def trees_with_one_bad_leaf(draw):
    """A float pytree with one integer or bool leaf planted at a random depth."""
    bad = draw(
        st.one_of(
            st.sampled_from([jnp.int32, jnp.int8, jnp.uint8, jnp.bool_]).map(
                lambda d: jnp.zeros((2,), d)
            ),
            st.sampled_from([np.int64, np.uint16, np.bool_]).map(lambda d: np.zeros((3,), d)),
            st.sampled_from([1, True, 0]),
        )
    )
    node = bad
    for kind in draw(st.lists(st.sampled_from(["dict", "list", "tuple"]), max_size=4)):
        sibling = draw(helpers.pytrees(max_leaves=2))
        node = {
            "dict": lambda n, s: {"ok": s, "deep": n},
            "list": lambda n, s: [s, n],
            "tuple": lambda n, s: (n, s),
        }[kind](node, sibling)
    return node, bad


def _bad_path(params):
    (path,) = [
        p
        for p, x in jax.tree_util.tree_flatten_with_path(params)[0]
        if not jnp.issubdtype(jnp.result_type(x), jnp.inexact)
    ]
    return "params" + jax.tree_util.keystr(path)


def _dtype_name(bad):
    return str(bad.dtype) if hasattr(bad, "dtype") else str(jnp.result_type(bad))


@hostile
@given(name=st.sampled_from(NAMES), planted=trees_with_one_bad_leaf())
@example(name="sgd", planted=({"w": jnp.ones(2), "step": 3}, 3))
@example(name="noisy_sgd", planted=([jnp.ones(2), {"mask": jnp.ones(2, bool)}], None))
@example(name="partition", planted=({"a": [1.0, {"b": np.arange(3)}]}, None))
def test_integer_and_bool_params_are_refused_naming_leaf_dtype_and_cast(name, planted):
    params, _ = planted
    bad = next(
        x for x in jax.tree.leaves(params) if not jnp.issubdtype(jnp.result_type(x), jnp.inexact)
    )
    with pytest.raises(TypeError) as error:
        PAIRS[name][0]().init(params)
    message = str(error.value)
    assert _dtype_name(bad) in message
    assert "cast" in message and "float" in message
    assert _bad_path(params) in message


@pytest.mark.parametrize("name", ALIASES)
def test_integer_gradients_and_non_numeric_leaves_are_refused(name):
    tx = PAIRS[name][0]()
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    with pytest.raises(TypeError, match=r"updates\['w'\] of dtype int32.*cast"):
        tx.update({"w": jnp.ones(3, jnp.int32)}, state, params)
    with pytest.raises(TypeError, match=r"params\['name'\] of type str"):
        tx.init({"w": jnp.ones(3), "name": "layer"})


# --------------------------------------------------------------------------- mismatches


def _mutations(params):
    """Gradient trees of another structure than ``params``."""
    leaves, treedef = jax.tree.flatten(params)
    out = {
        "wrapped leaves": jax.tree.map(lambda x: [x], params),
        "in a list": [params],
        "twice": (params, params),
        "extra key": {"params": params, "extra": jnp.ones(2)},
    }
    if leaves:
        out["a leaf is None"] = jax.tree.unflatten(treedef, [None, *leaves[1:]])
    return out


nonempty_trees = helpers.pytrees(max_leaves=5).filter(lambda t: len(jax.tree.leaves(t)) > 0)


@hostile
@given(name=st.sampled_from(NAMES), params=nonempty_trees, which=st.integers(0, 4))
@example(name="sgd", params={"w": jnp.ones(3), "b": jnp.ones(2)}, which=3)
# Regression: inject_hyperparams' eager init refused its own bfloat16 b1 as "not a number".
@example(name="inject_hyperparams", params=jnp.asarray(0.125, jnp.bfloat16), which=0)
def test_gradients_of_another_structure_name_both_structures(name, params, which):
    mutations = list(_mutations(params).values())
    grads = mutations[which % len(mutations)]
    _, _, extra = PAIRS[name]
    tx = PAIRS[name][0]()
    state = tx.init(params)
    with pytest.raises(gdjax.StructureError) as error:
        tx.update(grads, state, params, **extra)
    message = str(error.value)
    assert str(jax.tree.structure(grads)) in message
    assert str(jax.tree.structure(params)) in message
    if name in NO_STRUCTURE_IN_STATE:
        return
    # Without params the state's structure is what the gradients are checked against.
    with pytest.raises(gdjax.StructureError) as error:
        tx.update(grads, state, **extra)
    assert str(error.value).count("PyTreeDef(") >= 2


@pytest.mark.parametrize("name", NAMES)
def test_gradients_of_another_shape_are_refused(name):
    _, _, extra = PAIRS[name]
    tx = PAIRS[name][0]()
    params = {"w": jnp.ones(3), "b": jnp.ones(())}
    state = tx.init(params)
    for grads in (
        {"w": jnp.ones((2, 3)), "b": jnp.ones(())},
        {"w": jnp.ones(1), "b": jnp.ones(())},
    ):
        with pytest.raises(gdjax.StructureError, match=r"different shapes at \['w'\]"):
            tx.update(grads, state, params, **extra)
