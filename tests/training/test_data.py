import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdjax.training import batches_per_epoch, epoch_batches, gather, num_examples


@pytest.mark.parametrize(
    "examples,batch_size,drop_last",
    [
        (10, None, False),
        (10, 1, False),
        (10, 3, False),
        (10, 3, True),
        (12, 4, False),
        (7, 7, True),
    ],
)
def test_every_example_exactly_once_per_epoch(examples, batch_size, drop_last):
    batches = epoch_batches(jax.random.key(0), examples, batch_size, drop_last=drop_last)
    size = examples if batch_size is None else batch_size
    count = batches_per_epoch(examples, batch_size, drop_last)
    assert batches.indices.shape == batches.mask.shape == (count, size)
    used = np.asarray(batches.indices)[np.asarray(batches.mask)]
    if drop_last:
        assert len(used) == count * size and len(set(used.tolist())) == len(used)
    else:
        np.testing.assert_array_equal(np.sort(used), np.arange(examples))  # each exactly once
        assert np.asarray(batches.mask).sum() == examples


def test_batch_stochastic_and_mini_batch_modes_come_from_one_function():
    key = jax.random.key(1)
    assert epoch_batches(key, 8, None).indices.shape == (1, 8)  # batch gradient descent
    assert epoch_batches(key, 8, 1).indices.shape == (8, 1)  # stochastic
    assert epoch_batches(key, 8, 4).indices.shape == (2, 4)  # mini-batch


def test_shuffles_differently_with_different_keys_and_the_same_with_the_same():
    a = epoch_batches(jax.random.key(1), 50, 10).indices
    b = epoch_batches(jax.random.key(2), 50, 10).indices
    c = epoch_batches(jax.random.key(1), 50, 10).indices
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(np.asarray(a).ravel(), np.arange(50))  # actually shuffled


def test_no_shuffle_and_a_fixed_curriculum_order():
    plain = epoch_batches(jax.random.key(0), 6, 2, shuffle=False).indices
    np.testing.assert_array_equal(plain, [[0, 1], [2, 3], [4, 5]])
    order = [5, 3, 1, 0, 2, 4]
    for key in (0, 1):  # the same order whatever the key
        batches = epoch_batches(jax.random.key(key), 6, 2, order=order).indices
        np.testing.assert_array_equal(np.asarray(batches).ravel(), order)


def test_usable_inside_jit_and_scan():
    data = {"x": jnp.arange(10.0), "y": jnp.arange(10.0) * 2}

    @jax.jit
    def epoch_sum(key):
        batches = epoch_batches(key, 10, 3)

        def step(total, batch):
            indices, mask = batch
            return total + jnp.sum(gather(data, indices)["x"] * mask), None

        return jax.lax.scan(step, 0.0, (batches.indices, batches.mask))[0]

    assert float(epoch_sum(jax.random.key(3))) == pytest.approx(45.0)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="batch_size 20 is larger than the 10 examples"):
        epoch_batches(jax.random.key(0), 10, 20)
    with pytest.raises(
        ValueError,
        match=r"epoch_batches: order must be a 1-D \(10,\) or 2-D \(epochs, 10\) integer "
        r"array .* got \[1, 2\]: its shape is \(2,\)",
    ):
        epoch_batches(jax.random.key(0), 10, 2, order=[1, 2])
    with pytest.raises(
        ValueError, match=r"share their first \(examples\) axis; got lengths \[3, 4\]"
    ):
        num_examples({"x": np.zeros(3), "y": np.zeros(4)})
