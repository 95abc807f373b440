"""Batching(order=...) with one row per epoch: a curriculum that grows over the epochs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from gdjax.training import Batching, Checkpointing, epoch_batches, fit, fit_many

N = 10
RNG = np.random.default_rng(0)
DATA = {
    "x": RNG.normal(size=(N, 3)).astype(np.float32),
    "y": RNG.normal(size=N).astype(np.float32),
}
# Epoch 1: 3 examples, their -1 anywhere (taken in the row's order); epoch 2: 7;
# epochs 3 on (past the last row): all 10, reversed.
ORDER = np.full((3, N), -1, np.int64)
ORDER[0, [0, 4, 9]] = [7, 2, 5]
ORDER[1, :7] = [1, 3, 5, 7, 9, 0, 2]
ORDER[2] = np.arange(N)[::-1]
PARAMS = {"w": jnp.zeros(3), "b": jnp.zeros(())}


def loss(params, batch):
    return (batch["x"] @ params["w"] + params["b"] - batch["y"]) ** 2


def hand_loop(optimizer, epochs, batch_size):
    """The same training by hand: each epoch only its examples, cut into batches of
    ``batch_size`` (the last one partial); returns the params and each epoch's losses."""
    params, state, losses = PARAMS, optimizer.init(PARAMS), []
    mean_loss = jax.jit(lambda p, b: jnp.mean(loss(p, b)))
    for e in range(epochs):
        row = ORDER[min(e, len(ORDER) - 1)]
        examples = row[row >= 0]
        losses.append([])
        for start in range(0, len(examples), batch_size):
            batch = {k: v[examples[start : start + batch_size]] for k, v in DATA.items()}
            value, grads = jax.value_and_grad(mean_loss)(params, batch)
            updates, state = optimizer.update(grads, state, params)
            params = gdjax.apply_updates(params, updates)
            losses[-1].append(float(value))
    return params, losses


def test_epoch_batches_takes_the_epochs_row_and_masks_the_slots_left_out():
    def cut(epoch, order=ORDER, **kwargs):
        batches = epoch_batches(jax.random.key(0), N, 4, order=order, epoch=epoch, **kwargs)
        return np.asarray(batches.indices), np.asarray(batches.mask)

    indices, mask = cut(0)
    assert indices.shape == mask.shape == (3, 4)  # every epoch the same 3 batches
    np.testing.assert_array_equal(indices[mask], [7, 2, 5])  # in the row's order
    np.testing.assert_array_equal(mask.ravel(), np.arange(12) < 3)  # the examples first
    indices, mask = cut(1)
    np.testing.assert_array_equal(indices[mask], [1, 3, 5, 7, 9, 0, 2])
    for epoch in (2, 3, 50):  # past the last row: the last row
        indices, mask = cut(epoch)
        np.testing.assert_array_equal(indices[mask], np.arange(N)[::-1])
    # drop_last: the examples an epoch takes, cut into whole batches only.
    indices, mask = cut(0, ORDER[1:], drop_last=True)
    assert indices.shape == (2, 4)
    np.testing.assert_array_equal(indices[mask], [1, 3, 5, 7])


def test_epoch_batches_epoch_may_be_traced():
    rows = jax.jit(
        lambda e: epoch_batches(jax.random.key(0), N, None, order=ORDER, epoch=e).mask.sum()
    )
    assert [int(rows(e)) for e in range(4)] == [3, 7, 10, 10]


@pytest.mark.parametrize("batch_size", [None, 2, 4])
def test_fit_trains_exactly_like_a_loop_over_each_epochs_examples(batch_size):
    # Momentum moves the params on a zero gradient: a step on an empty batch would show.
    optimizer = gdjax.sgd(0.05, momentum=0.9)
    params, history = fit(
        loss,
        PARAMS,
        optimizer,
        DATA,
        epochs=4,
        batching=Batching(batch_size, order=ORDER),
        progress=False,
    )
    want, losses = hand_loop(optimizer, 4, batch_size or N)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6), params, want)
    # The steps stay those of a full epoch; the ones without an example record NaN
    # and do not count in the epoch's mean loss.
    per_epoch = 1 if batch_size is None else -(-N // batch_size)
    assert history.step_loss.shape == (4 * per_epoch,)
    steps = history.step_loss.reshape(4, per_epoch)
    for e, epoch_losses in enumerate(losses):
        taken = len(epoch_losses)
        np.testing.assert_allclose(steps[e, :taken], epoch_losses, rtol=2e-5)
        assert np.isnan(steps[e, taken:]).all()
        assert history.train_loss[e] == pytest.approx(np.mean(epoch_losses), rel=2e-5)


def test_fit_many_takes_the_order_in_every_run():
    params, history = fit_many(
        loss,
        PARAMS,
        lambda learning_rate: gdjax.sgd(learning_rate, momentum=0.9),
        DATA,
        seeds=2,
        settings={"learning_rate": [0.05, 0.02]},
        epochs=3,
        batching=Batching(4, order=ORDER),
        progress=False,
    )
    assert history.step_loss.shape == (2, 2, 9)
    for s, rate in enumerate([0.05, 0.02]):
        want, _ = hand_loop(gdjax.sgd(rate, momentum=0.9), 3, 4)
        for seed in range(2):  # fixed params and order: the seeds agree
            got = jax.tree.map(lambda x, s=s, seed=seed: x[s, seed], params)
            jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5), got, want)


def test_a_per_epoch_order_resumes_bit_identically(tmp_path):
    pytest.importorskip("orbax.checkpoint")
    run = dict(batching=Batching(4, order=ORDER), progress=False)
    optimizer = gdjax.adam(0.05)
    whole, whole_history = fit(loss, PARAMS, optimizer, DATA, epochs=4, **run)
    fit(loss, PARAMS, optimizer, DATA, epochs=2, checkpointing=Checkpointing(tmp_path), **run)
    resumed, history = fit(
        loss,
        PARAMS,
        optimizer,
        DATA,
        epochs=4,
        checkpointing=Checkpointing(tmp_path, resume=True),
        **run,
    )
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b, strict=True), resumed, whole)
    np.testing.assert_array_equal(history.step_loss, whole_history.step_loss)  # NaN too
    np.testing.assert_array_equal(history.train_loss, whole_history.train_loss)
    # The order is part of the run: resuming with another is refused.
    other = ORDER.copy()
    other[1, :2] = other[1, 1::-1]
    with pytest.raises(ValueError, match="was written with order"):
        fit(
            loss,
            PARAMS,
            optimizer,
            DATA,
            epochs=5,
            batching=Batching(4, order=other),
            checkpointing=Checkpointing(tmp_path, resume=True),
            progress=False,
        )


ALLOWED = (
    r"fit: batching.order must be a 1-D \(10,\) or 2-D \(epochs, 10\) integer array whose "
    r"every row holds distinct example indices in \[0, 10\), -1 in a slot left out, and "
    r"at least {least}; got "
)


def _with(row, at, values):
    order = ORDER.copy()
    order[row, at] = values
    return order


@pytest.mark.parametrize(
    "order, batching, problem",
    [
        (ORDER[:, :9], {}, r"an array of shape \(3, 9\) and dtype int64: its shape is \(3, 9\)"),
        (ORDER[None], {}, r"its shape is \(1, 3, 10\)"),
        (np.zeros((0, N), int), {}, r"its shape is \(0, 10\)"),
        (ORDER.astype(float), {}, "its dtype is float64"),
        (_with(1, 8, -2), {}, "it holds -2"),
        (_with(1, 8, N), {}, "it holds 10"),
        (_with(1, 8, 3), {}, "row 1 repeats example 3"),
        (_with(0, [0, 4, 9], -1), {}, "row 0 holds 0 examples"),
        (np.arange(N) % 5, {}, "it repeats example 0"),
        # drop_last cuts whole batches of an epoch's examples: a row must fill one.
        (ORDER, {"drop_last": True}, "row 0 holds 3 examples"),
    ],
)
def test_bad_orders_are_refused_by_name(order, batching, problem):
    least = "4 examples" if batching else "1 example"
    with pytest.raises(ValueError, match=ALLOWED.format(least=least) + ".*" + problem):
        fit(
            loss,
            PARAMS,
            gdjax.sgd(0.1),
            DATA,
            epochs=1,
            batching=Batching(4, order=order, **batching),
            progress=False,
        )


def test_a_mean_loss_cannot_leave_examples_out():
    with pytest.raises(ValueError, match=r"batching.order leaves examples out of an epoch"):
        fit(
            lambda p, b: jnp.mean(loss(p, b)),
            PARAMS,
            gdjax.sgd(0.1),
            DATA,
            epochs=1,
            batching=Batching(5, order=ORDER),
            progress=False,
        )
