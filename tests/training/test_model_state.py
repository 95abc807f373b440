"""Model state (batch normalization's running averages) through fit and fit_many."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from gdjax import checkpoint
from gdjax.training import (
    Batching,
    Checkpointing,
    EarlyStopping,
    Evaluation,
    fit,
    fit_many,
    models,
)

SIZES = (4, 6, 3)


def _data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 4)) * 2 + 1).astype(np.float32)
    y = (x[:, 0] > 1).astype(np.int32) + (x[:, 1] > 2).astype(np.int32)
    return {"x": x, "y": y}


def _bits(tree):
    return jax.tree.map(lambda x: (np.asarray(x).dtype.str, np.asarray(x).tobytes()), tree)


def _by_hand(params, state, batches, learning_rate):
    """Plain SGD over ``batches``, each a slice of real examples (no padding)."""

    def loss(p, s, batch):
        losses, new_state = models.bn_mlp_loss(p, s, batch, True)
        return jnp.mean(losses), new_state

    for batch in batches:
        (_, state), grads = jax.value_and_grad(loss, has_aux=True)(params, state, batch)
        params = jax.tree.map(lambda p, g: p - learning_rate * g, params, grads)
    return params, state


def test_fit_updates_the_state_each_step_over_the_real_examples_of_a_padded_batch():
    train = _data()
    params, state = models.bn_mlp_init(jax.random.key(0), SIZES)
    (trained, trained_state), history = fit(
        models.bn_mlp_loss,
        params,
        gdjax.sgd(0.5),
        train,
        epochs=2,
        batching=Batching(16, shuffle=False),  # batches 0:16, 16:32, 32:48 and 48:50 padded
        model_state=state,
        progress=False,
    )
    slices = [slice(i, i + 16) for i in range(0, 50, 16)] * 2
    batches = [jax.tree.map(lambda a, s=s: a[s], train) for s in slices]
    want, want_state = _by_hand(params, state, batches, 0.5)
    for got, expected in ((trained, want), (trained_state, want_state)):
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6), got, expected
        )
    assert history.train_loss.shape == (2,)
    # the state the user passed is untouched (the epoch works on a copy)
    np.testing.assert_array_equal(state[0]["mean"], 0.0)


def test_the_evaluation_and_its_metric_use_evaluation_mode():
    train, validation = _data(), _data(30, seed=1)
    params, state = models.bn_mlp_init(jax.random.key(1), SIZES)
    (params, state), history = fit(
        models.bn_mlp_loss,
        params,
        gdjax.sgd(1.0),
        train,
        epochs=3,
        batching=Batching(10),
        evaluation=Evaluation(validation, models.bn_mlp_correct),
        model_state=state,
        progress=False,
    )
    evaluated, _ = models.bn_mlp_loss(params, state, validation, False)
    np.testing.assert_allclose(history.validation_loss[-1], jnp.mean(evaluated), rtol=1e-6)
    accuracy = jnp.mean(models.bn_mlp_correct(params, state, validation))
    np.testing.assert_allclose(history.metric[-1], accuracy, rtol=1e-6)
    in_training_mode, _ = models.bn_mlp_loss(params, state, validation, True)
    assert not np.isclose(jnp.mean(in_training_mode), history.validation_loss[-1])


def test_fit_many_gives_each_run_its_own_state_equal_to_its_fit():
    train = _data()
    params, state = models.bn_mlp_init(jax.random.key(2), SIZES)
    options = dict(epochs=2, batching=Batching(16), progress=False)
    (many, many_state), _ = fit_many(
        models.bn_mlp_loss,
        params,
        lambda learning_rate: gdjax.sgd(learning_rate),
        train,
        seeds=[3, 4],
        settings={"learning_rate": [0.2, 0.2]},
        model_state=state,
        **options,
    )
    assert jax.tree.map(jnp.shape, many_state) == [{"mean": (2, 2, 6), "var": (2, 2, 6)}]
    # seeds shuffle differently: their batches, so their running statistics, differ
    assert not np.allclose(many_state[0]["mean"][0, 0], many_state[0]["mean"][0, 1])
    for column, seed in enumerate((3, 4)):
        key = jax.random.fold_in(jax.random.key(seed), 1)  # seed s shuffles with this
        (one, one_state), _ = fit(
            models.bn_mlp_loss,
            params,
            gdjax.sgd(0.2),
            train,
            key=key,
            model_state=state,
            **options,
        )
        for got, want in ((many, one), (many_state, one_state)):
            jax.tree.map(
                lambda a, b, c=column: np.testing.assert_allclose(a[0, c], b, rtol=1e-5, atol=1e-6),
                got,
                want,
            )


def test_fit_many_draws_the_state_from_the_seed_like_the_params():
    def init_state(key):
        _, state = models.bn_mlp_init(key, SIZES)
        return jax.tree.map(lambda m: m + jax.random.normal(key, m.shape), state)

    (_, states), _ = fit_many(
        models.bn_mlp_loss,
        lambda key: models.bn_mlp_init(key, SIZES)[0],
        lambda: gdjax.sgd(0.0),  # no step moves the params; each step moves the state
        _data(),
        seeds=[5, 6],
        epochs=1,
        model_state=init_state,
        progress=False,
    )
    start = init_state(jax.random.fold_in(jax.random.key(6), 0))
    params = models.bn_mlp_init(jax.random.fold_in(jax.random.key(6), 0), SIZES)[0]
    _, want = models.bn_mlp_loss(params, start, _data(), True)
    np.testing.assert_allclose(states[0]["var"][0, 1], want[0]["var"], rtol=1e-5)


def test_early_stopping_returns_the_state_of_the_best_params():
    train, validation = _data(40), _data(40, seed=1)
    params, state = models.bn_mlp_init(jax.random.key(3), SIZES, scale=2.0)
    (best, best_state), history = fit(
        models.bn_mlp_loss,
        params,
        gdjax.sgd(8.0),  # large steps: the validation loss goes up and down
        train,
        epochs=12,
        batching=Batching(8),
        evaluation=Evaluation(validation),
        early_stopping=EarlyStopping(patience=12),
        model_state=state,
        progress=False,
    )
    assert history.best_epoch < 12  # else this test tests nothing
    losses, _ = models.bn_mlp_loss(best, best_state, validation, False)
    np.testing.assert_allclose(
        jnp.mean(losses), history.validation_loss[history.best_epoch - 1], rtol=1e-6
    )


def test_a_loss_without_state_is_refused_with_model_state():
    params, state = models.bn_mlp_init(jax.random.key(0), SIZES)
    with pytest.raises(ValueError, match=r"must return \(losses, new_model_state\)"):
        fit(
            lambda p, s, batch, training: models.bn_mlp_apply(p, s, batch["x"], training)[0],
            params,
            gdjax.sgd(0.1),
            _data(),
            epochs=1,
            model_state=state,
            progress=False,
        )


# --------------------------------------------------------------------------- checkpoints


def _bn_run(directory, epochs, resume=False, **more):
    params, state = models.bn_mlp_init(jax.random.key(4), SIZES)
    return fit(
        models.bn_mlp_loss,
        params,
        gdjax.adam(0.05),
        _data(),
        epochs=epochs,
        batching=Batching(16),
        evaluation=Evaluation(_data(20, seed=1), models.bn_mlp_correct),
        early_stopping=EarlyStopping(patience=20),
        checkpointing=Checkpointing(directory, resume=resume),
        model_state=state,
        key=7,
        progress=False,
        **more,
    )


def test_the_state_is_checkpointed_and_a_resumed_run_is_bit_identical(tmp_path):
    pytest.importorskip("orbax.checkpoint")
    whole, whole_history = _bn_run(tmp_path / "a", 6)
    _bn_run(tmp_path / "b", 3)
    params, state = models.bn_mlp_init(jax.random.key(4), SIZES)
    saved = checkpoint.restore(tmp_path / "b", like=(params, gdjax.adam(0.05).init(params)))
    assert sorted(k for k in saved.extra if "model_state" in k) == sorted(
        f"extra[{name!r}][0][{stat!r}]"
        for name in ("model_state", "best_model_state")
        for stat in ("mean", "var")
    )
    resumed, history = _bn_run(tmp_path / "b", 6, resume=True)
    assert _bits(resumed) == _bits(whole)
    assert not np.array_equal(resumed[1][0]["mean"], state[0]["mean"])  # it moved
    for name in ("train_loss", "validation_loss", "metric", "step_loss"):
        np.testing.assert_array_equal(getattr(history, name), getattr(whole_history, name))


def test_fit_many_resumes_every_runs_state_exactly(tmp_path):
    pytest.importorskip("orbax.checkpoint")

    def run(directory, epochs, resume=False):
        return fit_many(
            models.bn_mlp_loss,
            lambda key: models.bn_mlp_init(key, SIZES)[0],
            lambda learning_rate: gdjax.sgd(learning_rate, momentum=0.9),
            _data(),
            seeds=2,
            settings={"learning_rate": [0.1, 0.5]},
            epochs=epochs,
            batching=Batching(16),
            checkpointing=Checkpointing(directory, resume=resume),
            model_state=lambda key: models.bn_mlp_init(key, SIZES)[1],
            progress=False,
        )

    whole, _ = run(tmp_path / "a", 4)
    run(tmp_path / "b", 2)
    resumed, _ = run(tmp_path / "b", 4, resume=True)
    assert _bits(resumed) == _bits(whole)


def test_a_checkpoint_without_state_is_refused_by_a_run_with_state(tmp_path):
    pytest.importorskip("orbax.checkpoint")
    params, state = models.bn_mlp_init(jax.random.key(4), SIZES)

    def run(loss, resume=False, **more):
        options = dict(epochs=1, batching=Batching(16), key=7, progress=False)
        directory = Checkpointing(tmp_path, resume=resume)
        return fit(
            loss, params, gdjax.adam(0.05), _data(), checkpointing=directory, **options, **more
        )

    run(lambda p, batch: models.bn_mlp_loss(p, state, batch, True)[0])
    with pytest.raises(ValueError, match="holds no model_state"):
        run(models.bn_mlp_loss, resume=True, model_state=state)
