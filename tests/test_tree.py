import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdjax import tree


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
