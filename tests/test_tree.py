import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gdjax import tree
from tests.helpers import nested_params


def test_safe_increment_counts_then_saturates_at_int32_max():
    assert int(tree.safe_increment(jnp.asarray(41, jnp.int32))) == 42
    top = jnp.asarray(np.iinfo(np.int32).max, jnp.int32)
    assert int(tree.safe_increment(top)) == np.iinfo(np.int32).max
    assert tree.safe_increment(top).dtype == jnp.int32


def test_bias_correction_divides_by_one_minus_decay_power():
    m = {"a": jnp.array([0.1, 0.2])}
    out = tree.bias_correction(m, 0.9, jnp.asarray(2, jnp.int32))
    np.testing.assert_allclose(out["a"], np.array([0.1, 0.2]) / (1 - 0.9**2), rtol=1e-6)


def test_bias_correction_keeps_bfloat16_without_dividing_by_zero():
    # 1 - 0.999**1 rounds to 0 in bfloat16; the factor is formed in float32 first.
    m = jnp.asarray([1e-3], jnp.bfloat16)
    out = tree.bias_correction(m, 0.999, jnp.asarray(1, jnp.int32))
    assert out.dtype == jnp.bfloat16
    assert np.isfinite(np.asarray(out, np.float32)).all()
    np.testing.assert_allclose(np.asarray(out, np.float32), 1.0, rtol=1e-2)


def test_update_moment_is_an_exponential_average_of_powers():
    g, m = jnp.array([2.0]), jnp.array([1.0])
    np.testing.assert_allclose(tree.update_moment(g, m, 0.9, 2), 0.1 * 4 + 0.9 * 1)
    np.testing.assert_allclose(tree.update_moment(g, m, 0.9, 1), 0.1 * 2 + 0.9 * 1)


def test_global_norm_over_all_leaves():
    t = {"a": jnp.array([3.0]), "b": [jnp.array([4.0, 0.0])], "none": None}
    np.testing.assert_allclose(tree.global_norm(t), 5.0)
    assert float(tree.global_norm({})) == 0.0


def test_zeros_like_follows_leaf_dtypes_or_the_given_one():
    t = {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(3)}
    z = tree.zeros_like(t)
    assert z["a"].dtype == jnp.bfloat16 and z["b"].dtype == jnp.float32
    assert tree.zeros_like(t, jnp.float32)["a"].dtype == jnp.float32


def test_full_like_takes_each_leafs_type_shape_and_sharding():
    # Python numbers, NumPy arrays and weakly typed arrays give strongly typed state in
    # the dtype JAX gives the leaf; a committed array's sharding is kept (8 devices:
    # tests/distributed/test_explicit_sharding.py).
    leaves = {
        "py": 0.5,
        "np": np.ones((2, 3), np.float64),
        "weak": jnp.asarray(1.0),
        "c": jnp.ones(2, jnp.complex64),
        "dev": jax.device_put(jnp.ones(4, jnp.bfloat16), jax.devices()[0]),
    }
    out = tree.full_like(leaves, 2.0)
    for name, x in leaves.items():
        y = out[name]
        assert y.shape == np.shape(x) and y.dtype == jnp.result_type(x), name
        assert not jax.typeof(y).weak_type, name
        assert np.all(np.asarray(y) == 2.0), name
    assert out["dev"].sharding == leaves["dev"].sharding


def test_full_like_under_jit_and_eval_shape_with_a_traced_fill():
    params = {"w": jnp.ones((3, 2), jnp.float16), "b": jnp.ones(2)}
    fill = jax.jit(lambda p, v: tree.full_like(p, v))(params, jnp.float32(0.25))
    assert fill["w"].dtype == jnp.float16 and float(fill["w"][0, 0]) == 0.25
    shapes = jax.eval_shape(lambda p, v: tree.full_like(p, v), params, 0.25)
    assert jax.tree.map(lambda x: (x.shape, x.dtype), shapes) == jax.tree.map(
        lambda x: (x.shape, x.dtype), params
    )


def test_integer_params_are_refused_with_a_clear_message():
    with pytest.raises(TypeError, match="floating-point params.*int32"):
        tree.zeros_like({"a": jnp.ones(2, jnp.int32)})


def test_structure_error_names_both_structures():
    with pytest.raises(tree.StructureError) as error:
        tree.map(lambda a, b: a + b, {"w": 1.0, "b": 2.0}, {"w": 1.0}, names=("updates", "state"))
    message = str(error.value)
    assert "structure" in message
    assert "updates" in message and "state" in message
    assert str(jax.tree.structure({"w": 1.0, "b": 2.0})) in message
    assert str(jax.tree.structure({"w": 1.0})) in message
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    "factor", [0.1, np.float64(0.1), np.float32(0.1), np.asarray(0.1), jnp.float32(0.1)]
)
def test_scale_keeps_the_dtype_of_x_for_every_spelling_of_a_hyperparameter(factor):
    x = jnp.asarray([1.0, 3.0, -7.0], jnp.bfloat16)
    out = tree.scale(factor, x)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(out, np.float32), np.asarray(0.1 * x, np.float32))
    traced = jax.jit(tree.scale)(jnp.asarray(factor, jnp.float32), x)
    assert traced.dtype == jnp.bfloat16


def test_scale_takes_a_numpy_scalar_on_the_python_float_path():
    # float32 leaves: the factor is rounded to float32 once, exactly as 0.3 * x is.
    x = jnp.linspace(-3.0, 3.0, 101, dtype=jnp.float32)
    np.testing.assert_array_equal(tree.scale(np.float64(0.3), x), 0.3 * x)
    assert tree.scale(np.float64(0.3), x).dtype == jnp.float32
    per_coordinate = np.full(101, 0.3)  # a float64 array: cast, not promoted
    assert tree.scale(per_coordinate, x.astype(jnp.bfloat16)).dtype == jnp.bfloat16


# --------------------------------------------------------------------------- optax.tree's math


def _pair():
    """Two trees of the structure of nested_params (a dict, a list, a scalar leaf)."""
    x = nested_params()
    y = jax.tree.map(lambda a: jnp.cos(3.0 * a) + 0.5, x)
    return x, y


def _close(got, want, rtol=1e-6):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert jnp.shape(a) == jnp.shape(b)
        assert jnp.result_type(a) == jnp.result_type(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=1e-7)


# name: a call on (x, y) two trees
TREE_CALLS = {
    "add": lambda t, x, y: t.add(x, y),
    "add-three": lambda t, x, y: t.add(x, y, x),
    "sub": lambda t, x, y: t.sub(x, y),
    "mul": lambda t, x, y: t.mul(x, y),
    "div": lambda t, x, y: t.div(x, y),
    "scale": lambda t, x, y: t.scale(0.3, x),
    "scale-array": lambda t, x, y: t.scale(jnp.float32(-2.5), y),
    "add_scale": lambda t, x, y: t.add_scale(x, 0.7, y),
    "vdot": lambda t, x, y: t.vdot(x, y),
    "sum": lambda t, x, y: t.sum(x),
    "sum-associative": lambda t, x, y: t.sum(y, associative_reduction=True),
    "max": lambda t, x, y: t.max(x),
    "min": lambda t, x, y: t.min(x),
    "norm": lambda t, x, y: t.norm(x),
    "norm-squared": lambda t, x, y: t.norm(x, squared=True),
    "norm-2": lambda t, x, y: t.norm(x, 2),
    "norm-1": lambda t, x, y: t.norm(x, 1),
    "norm-1-squared": lambda t, x, y: t.norm(x, 1, True),
    "norm-inf": lambda t, x, y: t.norm(x, jnp.inf),
    "norm-inf-str": lambda t, x, y: t.norm(x, "inf", True),
    "norm-infinity": lambda t, x, y: t.norm(x, "infinity"),
    "zeros_like": lambda t, x, y: t.zeros_like(x),
    "ones_like": lambda t, x, y: t.ones_like(x),
    "ones_like-dtype": lambda t, x, y: t.ones_like(x, jnp.bfloat16),
    "full_like": lambda t, x, y: t.full_like(x, 2.5),
    "clip": lambda t, x, y: t.clip(x, -0.5, 0.25),
    "clip-below": lambda t, x, y: t.clip(x, min_value=0.0),
    "clip-above": lambda t, x, y: t.clip(x, max_value=0.1),
    "where": lambda t, x, y: t.where(True, x, y),
    "where-false": lambda t, x, y: t.where(jnp.asarray(False), x, y),
    "conj": lambda t, x, y: t.conj(x),
    "real": lambda t, x, y: t.real(x),
    "size": lambda t, x, y: t.size(x),
    "allclose-no": lambda t, x, y: t.allclose(x, y),
    "allclose-yes": lambda t, x, y: t.allclose(x, t.add_scale(x, 1e-7, y)),
    "allclose-tolerant": lambda t, x, y: t.allclose(x, y, rtol=10.0, atol=5.0),
    "batch_shape": lambda t, x, y: t.batch_shape(x, (2, 3)),
    "cast": lambda t, x, y: t.cast(x, jnp.bfloat16),
    "cast_like": lambda t, x, y: t.cast_like(x, t.cast(y, jnp.float16)),
    "update_moment": lambda t, x, y: t.update_moment(x, y, 0.9, 2),
    "update_infinity_moment": lambda t, x, y: t.update_infinity_moment(x, y, 0.9, 1e-3),
    "update_moment_per_elem_norm": lambda t, x, y: t.update_moment_per_elem_norm(x, y, 0.8, 2),
    "update_moment_per_elem_norm-3": lambda t, x, y: t.update_moment_per_elem_norm(x, y, 0.8, 3),
    "bias_correction": lambda t, x, y: t.bias_correction(x, 0.9, jnp.asarray(3, jnp.int32)),
    "split_key_like": lambda t, x, y: jax.tree.map(
        jax.random.key_data, t.split_key_like(jax.random.key(1), x)
    ),
    "random_like": lambda t, x, y: t.random_like(jax.random.key(2), x),
    "random_like-uniform": lambda t, x, y: t.random_like(
        jax.random.key(3), x, jax.random.uniform, jnp.float16
    ),
}


@pytest.mark.parametrize("name", list(TREE_CALLS))
def test_tree_math_matches_optax_tree_on_nested_trees(name):
    x, y = _pair()
    got = TREE_CALLS[name](tree, x, y)
    want = TREE_CALLS[name](optax.tree, x, y)
    _close(got, want)
    if name.startswith("allclose"):
        assert bool(got) == bool(want)


def test_tree_math_matches_optax_on_complex_leaves():
    x = {"a": jnp.array([1 + 2j, -3j], jnp.complex64), "b": [jnp.array(0.5 - 1j, jnp.complex64)]}
    y = jax.tree.map(lambda a: a * (0.5 + 0.25j), x)
    for name in ["vdot", "norm", "norm-1", "norm-inf", "norm-squared", "conj", "real"]:
        _close(TREE_CALLS[name](tree, x, y), TREE_CALLS[name](optax.tree, x, y))
    moments = jax.tree.map(lambda a: jnp.abs(a) ** 2, x)
    for order in (1, 2, 3):
        _close(
            tree.update_moment_per_elem_norm(x, moments, 0.8, order),
            optax.tree.update_moment_per_elem_norm(x, moments, 0.8, order),
        )


def test_tree_math_on_empty_trees_and_empty_leaves_matches_optax():
    for fn in ("sum", "max", "min", "size", "vdot", "norm"):
        ours = getattr(tree, fn)(*([{}] * (2 if fn == "vdot" else 1)))
        theirs = getattr(optax.tree, fn)(*([{}] * (2 if fn == "vdot" else 1)))
        assert float(ours) == float(theirs), fn
    with_empty = {"a": jnp.zeros((0,)), "b": jnp.array([2.0, -1.0])}
    assert float(tree.max(with_empty)) == 2.0 and float(tree.min(with_empty)) == -1.0


def test_dtype_of_a_tree_matches_optax():
    same = {"a": jnp.ones(2), "b": [jnp.zeros(3)]}
    mixed = {"a": jnp.ones(2, jnp.float32), "b": [jnp.zeros(3, jnp.float16)], "c": jnp.ones(1)}
    unordered = {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.zeros(3, jnp.float16)}
    assert tree.dtype(same) == optax.tree.dtype(same) == jnp.float32
    assert tree.dtype({}) == optax.tree.dtype({})
    for handler in ("promote", "highest", "lowest"):
        assert tree.dtype(mixed, handler) == optax.tree.dtype(mixed, handler), handler
    assert tree.dtype({"a": jnp.ones(1, jnp.bfloat16), "b": jnp.ones(1)}, "lowest") == jnp.bfloat16
    with pytest.raises(ValueError, match=r"different dtypes.*\['b'\]\[0\] has float16"):
        tree.dtype(mixed)
    assert tree.dtype(unordered, "promote") == optax.tree.dtype(unordered, "promote")
    with pytest.raises(ValueError, match="cannot be ordered"):
        tree.dtype(unordered, "lowest")  # bfloat16 and float16
    with pytest.raises(ValueError, match="mixed_dtype_handler must be"):
        tree.dtype(same, "widest")


def test_norm_refuses_an_unknown_order():
    with pytest.raises(ValueError, match="ord must be .* got 3"):
        tree.norm({"a": jnp.ones(2)}, 3)


def test_l1_l2_linf_norms_are_norms_of_that_order():
    x, _ = _pair()
    np.testing.assert_allclose(tree.l1_norm(x), optax.tree.norm(x, 1), rtol=1e-6)
    np.testing.assert_allclose(tree.l2_norm(x), optax.tree.norm(x), rtol=1e-6)
    np.testing.assert_allclose(tree.linf_norm(x), optax.tree.norm(x, "inf"), rtol=1e-6)
    np.testing.assert_allclose(tree.l2_norm(x, squared=True), tree.global_norm(x) ** 2, rtol=1e-6)
    assert tree.l1_norm(x) > tree.l2_norm(x) > tree.linf_norm(x) > 0


def test_tree_math_keeps_bfloat16_and_skips_none_leaves():
    x = {"a": jnp.array([1.0, -2.0], jnp.bfloat16), "none": None}
    for out in (
        tree.scale(np.float64(0.5), x),
        tree.scale(jnp.float32(0.5), x),
        tree.add_scale(x, jnp.float32(0.5), x),
        tree.clip(x, jnp.float32(-1.0), jnp.float32(1.0)),
        tree.ones_like(x),
    ):
        assert out["none"] is None
        assert out["a"].dtype == jnp.bfloat16
    assert float(tree.sum(x)) == -1.0
    assert tree.size(x) == 2


def test_scale_of_one_array_is_the_scale_of_its_leaf():
    # scale serves both one array (as the transformations use it) and a whole tree.
    x = jnp.array([1.0, 2.0])
    np.testing.assert_array_equal(tree.scale(0.5, x), [0.5, 1.0])
    np.testing.assert_array_equal(tree.scale(0.5, {"x": x})["x"], [0.5, 1.0])
    np.testing.assert_array_equal(tree.scale(0.5, [2.0])[0], 1.0)


def test_tree_math_works_under_jit_with_traced_scalars():
    x, y = _pair()
    got = jax.jit(lambda s, a, b: tree.add_scale(a, s, b))(0.7, x, y)
    _close(got, optax.tree.add_scale(x, 0.7, y))
    assert bool(jax.jit(tree.allclose)(x, x))


# every optax.tree function; those whose gdjax behaviour differs are listed in the report
OPTAX_TREE_NAMES = [
    "add", "add_scale", "allclose", "batch_shape", "bias_correction", "cast", "cast_like",
    "clip", "conj", "div", "dtype", "full_like", "get", "get_all_with_path", "max", "min",
    "mul", "norm", "ones_like", "random_like", "real", "scale", "set", "size",
    "split_key_like", "sub", "sum", "update_infinity_moment", "update_moment",
    "update_moment_per_elem_norm", "vdot", "where", "zeros_like",
]  # fmt: skip


def _signature(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("name", OPTAX_TREE_NAMES)
def test_tree_functions_have_optax_tree_signatures(name):
    assert _signature(getattr(tree, name)) == _signature(getattr(optax.tree, name))


def test_l1_l2_linf_have_optax_tree_utils_signatures():
    for name in ("l1_norm", "l2_norm", "linf_norm"):
        with pytest.warns(DeprecationWarning):
            theirs = getattr(optax.tree_utils, f"tree_{name}")
        assert _signature(getattr(tree, name)) == _signature(theirs)
