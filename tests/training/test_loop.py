import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.training import (
    Batching,
    EarlyStopping,
    Evaluation,
    NonFiniteLossError,
    fit,
    fit_many,
)
from tests.helpers import COMPILES


def regression(n=200, d=3, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = np.array([1.5, -2.0, 0.5], np.float32)[:d]
    y = (x @ w + 0.7 + noise * rng.normal(size=n)).astype(np.float32)
    return {"x": x, "y": y}


def squared_errors(params, batch):
    return (batch["x"] @ params["w"] + params["b"] - batch["y"]) ** 2


def zeros(d=3):
    return {"w": jnp.zeros(d), "b": jnp.zeros(())}


def test_sgd_fit_reaches_the_least_squares_solution():
    data = regression()
    params, history = fit(
        squared_errors,
        zeros(),
        gdjax.sgd(0.05),
        data,
        epochs=60,
        batching=Batching(20),
        key=0,
        progress=False,
    )
    design = np.hstack([data["x"], np.ones((len(data["y"]), 1), np.float32)])
    solution, *_ = np.linalg.lstsq(design, data["y"], rcond=None)
    # Mini-batch noise keeps SGD near, not at, the solution with a constant rate;
    # the rate decaying to 0 takes it there.
    np.testing.assert_allclose(params["w"], solution[:3], atol=0.05)
    decayed = gdjax.sgd(gdjax.schedules.exponential_decay(0.05, 100, 0.5))
    params, _ = fit(
        squared_errors,
        zeros(),
        decayed,
        data,
        epochs=150,
        batching=Batching(20),
        key=0,
        progress=False,
    )
    np.testing.assert_allclose(params["w"], solution[:3], atol=2e-3)
    np.testing.assert_allclose(params["b"], solution[3], atol=2e-3)
    assert history.train_loss.shape == (60,) and history.step_loss.shape == (600,)
    assert history.train_loss[-1] < history.train_loss[0] / 10


def test_batch_stochastic_and_partial_batches():
    data = regression(n=50)
    for batch_size, drop_last, steps_per_epoch in [
        (None, False, 1),
        (1, False, 50),
        (16, False, 4),
        (16, True, 3),
    ]:
        _, history = fit(
            squared_errors,
            zeros(),
            gdjax.sgd(0.01),
            data,
            epochs=2,
            batching=Batching(batch_size, drop_last=drop_last),
            progress=False,
        )
        assert history.step_loss.shape == (2 * steps_per_epoch,)


def test_a_mean_loss_with_padded_batches_is_refused():
    data = regression(n=50)
    with pytest.raises(ValueError, match="must return per-example losses"):
        fit(
            lambda p, b: jnp.mean(squared_errors(p, b)),
            zeros(),
            gdjax.sgd(0.01),
            data,
            epochs=1,
            batching=Batching(16),
            progress=False,
        )
    # With drop_last it is fine.
    fit(
        lambda p, b: jnp.mean(squared_errors(p, b)),
        zeros(),
        gdjax.sgd(0.01),
        data,
        epochs=1,
        batching=Batching(16, drop_last=True),
        progress=False,
    )


def test_the_padding_of_a_partial_batch_does_not_count():
    # 3 examples, batches of 2: the second batch is one example plus padding.
    data = {"x": np.array([[1.0], [2.0], [3.0]], np.float32), "y": np.zeros(3, np.float32)}
    _, history = fit(
        lambda p, b: (b["x"][:, 0] * p["w"][0] - b["y"]) ** 2,
        {"w": jnp.ones(1)},
        gdjax.sgd(0.0),
        data,
        epochs=1,
        batching=Batching(2, shuffle=False),
        progress=False,
    )
    np.testing.assert_allclose(history.step_loss, [(1 + 4) / 2, 9.0])


def test_steps_count_batches_and_the_last_epoch_may_be_partial():
    _, history = fit(
        squared_errors,
        zeros(),
        gdjax.sgd(0.01),
        regression(n=40),
        steps=25,
        batching=Batching(10),
        progress=False,
    )
    assert history.step_loss.shape == (25,) and history.train_loss.shape == (7,)


def test_early_stopping_restores_the_best_params():
    train = regression(n=40, seed=1, noise=2.0)
    valid = regression(n=200, seed=2, noise=0.0)
    valid["y"] = valid["y"] + 3.0  # a shifted target: training makes validation worse after a while
    params, history = fit(
        squared_errors,
        zeros(),
        gdjax.sgd(0.05),
        train,
        epochs=100,
        batching=Batching(10),
        evaluation=Evaluation(valid),
        early_stopping=EarlyStopping(patience=3),
        progress=False,
    )
    best = history.best_epoch
    assert history.stopped_epoch == best + 3 < 100
    np.testing.assert_allclose(history.validation_loss[best - 1], history.validation_loss.min())
    mean = float(jnp.mean(squared_errors(params, valid)))
    np.testing.assert_allclose(mean, history.validation_loss[best - 1], rtol=1e-5)


def test_a_nan_loss_stops_with_the_step_named_and_the_last_finite_params_kept():
    data = regression(n=40)
    poisoned = dict(data)
    poisoned["x"] = data["x"].copy()
    poisoned["x"][17] = np.nan  # example 17 sits in some batch of epoch 2

    def loss(params, batch):
        return squared_errors(params, batch)

    with pytest.raises(NonFiniteLossError, match=r"not finite at step \d+") as error:
        fit(
            loss,
            zeros(),
            gdjax.sgd(0.01),
            poisoned,
            epochs=3,
            batching=Batching(10),
            key=3,
            progress=False,
        )
    step = error.value.step
    # Rerun to exactly that step on clean data: the kept params are those of that step.
    expected, _ = (
        fit(
            loss,
            zeros(),
            gdjax.sgd(0.01),
            data,
            steps=step,
            batching=Batching(10),
            key=3,
            progress=False,
        )
        if step
        else (zeros(), None)
    )
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(error.value.params))
    np.testing.assert_allclose(error.value.params["w"], expected["w"], rtol=1e-6)
    assert error.value.history.step_loss.shape[0] >= step


def test_reduce_on_plateau_receives_the_validation_loss():
    train, valid = regression(n=40, seed=1), regression(n=40, seed=2)
    seen = []

    def spy(updates, state, params=None, *, value):
        seen.append(value)
        return updates, state

    optimizer = gdjax.chain(
        gdjax.GradientTransformation(gdjax.init_empty_state, spy), gdjax.sgd(0.01)
    )
    jax.config.update("jax_disable_jit", True)
    try:
        _, history = fit(
            squared_errors,
            zeros(),
            optimizer,
            train,
            epochs=2,
            batching=Batching(20),
            evaluation=Evaluation(valid),
            progress=False,
        )
    finally:
        jax.config.update("jax_disable_jit", False)
    # Epoch 1's steps see the initial validation loss, epoch 2's the loss after epoch 1.
    initial = float(jnp.mean(squared_errors(zeros(), valid)))
    np.testing.assert_allclose([float(v) for v in seen[:2]], [initial, initial], rtol=1e-5)
    np.testing.assert_allclose(
        [float(v) for v in seen[2:]], [history.validation_loss[0]] * 2, rtol=1e-5
    )


def test_lbfgs_in_fit_reads_the_batch_loss_its_gradient_and_function():
    # A line search compares value with value_fn: without an evaluation fit passes the
    # batch's loss, its gradient and its function; with one, value is the validation
    # loss, and the search refuses to run rather than compare the two.
    train, valid = regression(n=40, seed=1), regression(n=40, seed=2)
    optimizer = gdjax.lbfgs()
    params, history = fit(squared_errors, zeros(), optimizer, train, epochs=6, progress=False)
    with pytest.raises(TypeError, match="value_fn="):
        fit(squared_errors, zeros(), optimizer, train, epochs=1, evaluation=Evaluation(valid),
            progress=False)  # fmt: skip

    def batch_loss(p):
        return jnp.mean(squared_errors(p, train))

    expected, state = zeros(), optimizer.init(zeros())
    for _ in range(6):
        value, grad = jax.value_and_grad(batch_loss)(expected)
        updates, state = optimizer.update(
            grad, state, expected, value=value, grad=grad, value_fn=batch_loss
        )
        expected = gdjax.apply_updates(expected, updates)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert history.train_loss[-1] < 0.05 < history.train_loss[0]


def test_reduce_on_plateau_in_fit_lowers_the_rate():
    train, valid = regression(n=64, seed=1, noise=1.0), regression(n=64, seed=2, noise=1.0)
    optimizer = gdjax.chain(
        gdjax.sgd(0.05), gdjax.reduce_on_plateau(factor=0.5, patience=2, accumulation_size=4)
    )
    _, history = fit(
        squared_errors,
        zeros(),
        optimizer,
        train,
        epochs=30,
        batching=Batching(16),
        evaluation=Evaluation(valid),
        progress=False,
    )
    assert np.all(np.isfinite(history.validation_loss))


def test_optax_optimizers_train_too():
    data = regression()
    ours, _ = fit(
        squared_errors,
        zeros(),
        gdjax.adam(0.05),
        data,
        epochs=5,
        batching=Batching(20),
        progress=False,
    )
    theirs, _ = fit(
        squared_errors,
        zeros(),
        optax.adam(0.05),
        data,
        epochs=5,
        batching=Batching(20),
        progress=False,
    )
    # fit passes gdjax's hyperparameters to its programs as float32 arguments (so
    # 1 - b1 is rounded in float32); optax's closures hold Python floats, whose
    # arithmetic is folded in float64: a few ulps per step apart.
    np.testing.assert_allclose(ours["w"], theirs["w"], rtol=1e-5)


def test_params_given_to_fit_are_not_consumed():
    params = zeros()
    fit(
        squared_errors,
        params,
        gdjax.sgd(0.01),
        regression(),
        epochs=1,
        batching=Batching(50),
        progress=False,
    )
    np.testing.assert_array_equal(params["w"], 0.0)  # donation works on a copy


# --------------------------------------------------------------------------- fit_many


def init(key):
    return {"w": 0.1 * jax.random.normal(key, (3,)), "b": jnp.zeros(())}


def test_fit_many_equals_separate_fits():
    data = regression()
    settings = {"learning_rate": [0.05, 0.01], "momentum": [0.0, 0.9]}

    def make(learning_rate, momentum):
        return gdjax.sgd(learning_rate, momentum)

    params, history = fit_many(
        squared_errors,
        init,
        make,
        data,
        seeds=[0, 1, 2],
        settings=settings,
        epochs=4,
        batching=Batching(20),
        progress=False,
    )
    assert params["w"].shape == (2, 3, 3) and history.train_loss.shape == (2, 3, 4)
    for i, (lr, mu) in enumerate(zip(settings["learning_rate"], settings["momentum"], strict=True)):
        for j, seed in enumerate([0, 1, 2]):
            key = jax.random.key(seed)
            start = init(jax.random.fold_in(key, 0))
            optimizer = gdjax.sgd(np.float32(lr), np.float32(mu))
            one, one_history = fit(
                squared_errors,
                start,
                optimizer,
                data,
                epochs=4,
                batching=Batching(20),
                key=jax.random.fold_in(key, 1),
                progress=False,
            )
            np.testing.assert_allclose(params["w"][i, j], one["w"], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(
                history.step_loss[i, j], one_history.step_loss, rtol=1e-5, atol=1e-6
            )


def test_fit_many_compiles_the_epoch_once_whatever_the_number_of_runs_and_epochs(caplog):
    data = regression()

    def make(learning_rate, momentum):
        return gdjax.sgd(learning_rate, momentum)

    settings = {"learning_rate": [0.05, 0.01], "momentum": [0.0, 0.9]}
    totals = []
    # The first call pays for small one-time programs (key folding, broadcasts) at its shapes.
    for call, (seeds, epochs) in enumerate(((5, 2), (5, 2), (5, 6))):
        caplog.clear()
        before = COMPILES.count
        with jax.log_compiles(), caplog.at_level("WARNING"):
            fit_many(
                squared_errors,
                init,
                make,
                data,
                seeds=seeds,
                settings=settings,
                epochs=epochs,
                batching=Batching(20),
                progress=False,
            )
        epoch_programs = [r for r in caplog.records if "Compiling jit(epoch)" in r.getMessage()]
        # Every run, every epoch: one program, kept for the calls that follow.
        assert len(epoch_programs) == (call == 0)
        totals.append(COMPILES.count - before)
    assert totals[1] == totals[2] == 0  # the programs are kept: more epochs compile nothing


def test_fit_many_marks_a_failing_run_and_keeps_the_others():
    data = regression()
    params, history = fit_many(
        squared_errors,
        init,
        lambda learning_rate: gdjax.sgd(learning_rate),
        data,
        seeds=2,
        settings={"learning_rate": [0.01, 1e3]},
        epochs=3,
        batching=Batching(20),
        progress=False,
    )
    assert (np.asarray(history.failed_step)[0] == -1).all()
    assert (np.asarray(history.failed_step)[1] >= 0).all()
    assert np.isfinite(np.asarray(params["w"])).all()  # the failing runs stopped before the NaN


def test_a_partial_last_epoch_reuses_the_epoch_program(caplog):
    def loss(params, batch):  # a loss of its own: no program kept from another test
        return squared_errors(params, batch)

    with jax.log_compiles(), caplog.at_level("WARNING"):
        _, history = fit(
            loss,
            zeros(),
            gdjax.sgd(0.01),
            regression(n=40),
            steps=25,
            batching=Batching(10),
            progress=False,
        )
    compiled = [r for r in caplog.records if "Compiling jit(epoch)" in r.getMessage()]
    assert len(compiled) == 1 and history.step_loss.shape == (25,)


# --------------------------------------------------------------------------- each run its own


def distance(params, batch):
    # |w - y| for one parameter: at w == y the loss is 0 (finite), its gradient NaN.
    return jnp.sqrt(jnp.sum((params["w"] - batch["y"]) ** 2, axis=-1))


def still(params, batch):
    # A zero gradient at w = 0: a step moves w by the optimizer's own noise only.
    return jnp.sum(0.0 * (params["w"] - batch["y"]) ** 2, axis=-1)


ONE = {"y": np.zeros((4, 1), np.float32)}


def test_fit_many_with_a_shared_init_gives_every_run_its_own_noise():
    def run():
        params, _ = fit_many(
            still,
            {"w": jnp.zeros(1)},
            lambda: gdjax.noisy_sgd(0.1, eta=1.0),
            ONE,
            seeds=16,
            steps=2,
            progress=False,
        )
        return np.asarray(params["w"]).reshape(-1)

    first, second = run(), run()
    assert len(np.unique(first)) == 16  # 16 runs, 16 noise sequences
    np.testing.assert_array_equal(first, second)  # and the same ones every time


def test_fit_many_run_r_draws_from_fold_in_key_r_in_c_order():
    base = gdjax.noisy_sgd(0.1, eta=1.0)
    params, _ = fit_many(
        still,
        {"w": jnp.zeros(1)},
        lambda learning_rate: gdjax.noisy_sgd(learning_rate, eta=1.0),
        ONE,
        seeds=3,
        settings={"learning_rate": [0.1, 0.1]},
        steps=1,
        progress=False,
    )
    for i in range(2):
        for j in range(3):
            state = gdjax.keys.for_run(base.init({"w": jnp.zeros(1)}), i * 3 + j)
            updates, _ = base.update({"w": jnp.zeros(1)}, state)
            np.testing.assert_array_equal(params["w"][i, j], updates["w"])


def test_fit_many_noise_of_neighbouring_runs_is_uncorrelated():
    params, _ = fit_many(
        still,
        {"w": jnp.zeros(1)},
        lambda: gdjax.noisy_sgd(1.0, eta=1.0),
        ONE,
        seeds=256,
        steps=1,
        progress=False,
    )
    draws = np.asarray(params["w"], np.float64).reshape(-1)
    assert draws.std() > 0.5  # unit-variance noise; identical runs have none
    correlation = np.corrcoef(draws[:-1], draws[1:])[0, 1]
    assert abs(correlation) < 4 / np.sqrt(256)


def test_fit_many_hands_make_optimizer_a_key_of_each_run():
    def make(key):
        def update(updates, state, params=None):
            return jax.tree.map(lambda g: jax.random.normal(key, g.shape), updates), state

        return gdjax.GradientTransformation(gdjax.init_empty_state, update)

    params, _ = fit_many(
        still,
        {"w": jnp.zeros(1)},
        lambda learning_rate, key: gdjax.chain(make(key), gdjax.sgd(learning_rate)),
        ONE,
        seeds=[4, 7],
        settings={"learning_rate": [1.0, 1.0]},
        steps=1,
        progress=False,
    )
    assert len(np.unique(np.asarray(params["w"]))) == 4
    for i in range(2):
        for j, seed in enumerate([4, 7]):
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 2), i * 2 + j)
            np.testing.assert_array_equal(params["w"][i, j], -jax.random.normal(key, (1,)))


def test_a_gdjax_optimizer_built_for_every_run_gets_the_same_keys():
    # Built before the program (its key is data): run r's key and state as inside it.
    params, _ = fit_many(
        still,
        {"w": jnp.zeros(1)},
        lambda learning_rate, key: gdjax.noisy_sgd(learning_rate, eta=1.0, key=key),
        ONE,
        seeds=[4, 7],
        settings={"learning_rate": [0.1, 0.2]},
        steps=1,
        progress=False,
    )
    for i, rate in enumerate([0.1, 0.2]):
        for j, seed in enumerate([4, 7]):
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 2), i * 2 + j)
            optimizer = gdjax.noisy_sgd(np.float32(rate), eta=1.0, key=key)
            state = gdjax.keys.for_run(optimizer.init({"w": jnp.zeros(1)}), i * 2 + j)
            updates, _ = optimizer.update({"w": jnp.zeros(1)}, state)
            np.testing.assert_allclose(params["w"][i, j], updates["w"], rtol=1e-6)


def test_fit_many_settings_keep_their_dtype():
    seen = {}

    def make(learning_rate, key, nesterov, patience):
        seen.update(learning_rate=learning_rate.dtype, key=key.dtype, nesterov=nesterov.dtype)
        seen["patience"] = patience.dtype
        return gdjax.chain(
            gdjax.noisy_sgd(learning_rate, key=key),
            gdjax.reduce_on_plateau(patience=patience),
        )

    params, _ = fit_many(
        still,
        {"w": jnp.zeros(1)},
        make,
        ONE,
        seeds=2,
        settings={
            "learning_rate": [0.1, 0.2],
            "key": [0, 1],
            "nesterov": [True, False],
            "patience": np.array([3, 5]),
        },
        steps=2,
        progress=False,
    )
    assert seen == {
        "learning_rate": jnp.float32,
        "key": jnp.int32,
        "nesterov": jnp.bool_,
        "patience": jnp.int32,
    }
    assert np.isfinite(np.asarray(params["w"])).all()
    keys = jax.random.split(jax.random.key(0), 2)
    _, history = fit_many(
        still,
        {"w": jnp.zeros(1)},
        lambda key: gdjax.noisy_sgd(0.1, key=key),
        ONE,
        seeds=1,
        settings={"key": keys},
        steps=1,
        progress=False,
    )
    assert history.step_loss.shape == (2, 1, 1)


def test_a_setting_that_is_not_numbers_is_refused_by_name():
    with pytest.raises(ValueError, match=r"settings\['name'\]"):
        fit_many(
            still,
            {"w": jnp.zeros(1)},
            lambda name: gdjax.sgd(0.1),
            ONE,
            seeds=1,
            settings={"name": ["a", "b"]},
            steps=1,
            progress=False,
        )


# --------------------------------------------------------------------------- non-finite gradients


def test_a_nan_gradient_with_a_finite_loss_stops_fit_before_its_update():
    # lr 0.5 from w = 0 towards y = 1: w = 0.5, then exactly 1.0, where the loss is 0
    # and its gradient NaN (step 2).
    data = {"y": np.ones((4, 1), np.float32)}
    with pytest.raises(NonFiniteLossError, match="gradient is not finite at step 2") as error:
        fit(distance, {"w": jnp.zeros(1)}, gdjax.sgd(0.5), data, steps=5, progress=False)
    assert error.value.step == 2 and error.value.cause == "gradient"
    np.testing.assert_array_equal(error.value.params["w"], [1.0])
    np.testing.assert_array_equal(error.value.history.step_loss[:2], [1.0, 0.5])


def test_a_nan_gradient_marks_a_fit_many_run_failed_at_that_step():
    data = {"y": np.ones((4, 1), np.float32)}
    params, history = fit_many(
        distance,
        {"w": jnp.zeros(1)},
        lambda learning_rate: gdjax.sgd(learning_rate),
        data,
        seeds=2,
        settings={"learning_rate": [0.5, 0.25]},
        steps=6,
        progress=False,
    )
    np.testing.assert_array_equal(history.failed_step, [[2, 2], [4, 4]])
    np.testing.assert_array_equal(params["w"], np.ones((2, 2, 1)))


# --------------------------------------------------------------------------- keys


def test_every_spelling_of_a_seed_gives_the_same_run():
    data = regression(n=40)
    runs = [
        fit(
            squared_errors,
            zeros(),
            gdjax.sgd(0.01),
            data,
            epochs=2,
            batching=Batching(10),
            key=key,
            progress=False,
        )
        for key in (3, np.int64(3), jnp.int32(3), jax.random.key(3), jax.random.PRNGKey(3))
    ]
    for params, history in runs[1:]:
        np.testing.assert_array_equal(params["w"], runs[0][0]["w"])
        np.testing.assert_array_equal(history.step_loss, runs[0][1].step_loss)


@pytest.mark.parametrize("key", [3.0, True, "3", np.zeros(3, np.float32)])
def test_a_key_that_is_not_one_is_refused_by_name(key):
    with pytest.raises(ValueError, match="fit: key must be"):
        fit(
            squared_errors,
            zeros(),
            gdjax.sgd(0.01),
            regression(n=8),
            epochs=1,
            key=key,
            progress=False,
        )


# --------------------------------------------------------------------------- compiled once


def counted(loss_fn):
    """``loss_fn`` and the list of its Python calls: one per trace, none per compiled run."""
    calls = []

    def loss(params, batch):
        calls.append(None)
        return loss_fn(params, batch)

    return loss, calls


def test_a_second_fit_with_a_new_optimizer_of_the_same_kind_compiles_nothing():
    data = regression()
    loss, traces = counted(squared_errors)
    options = dict(epochs=2, batching=Batching(20), evaluation=Evaluation(data), progress=False)
    found = {}
    for rate in (0.05, 0.01, 0.02):
        found[rate], _ = fit(loss, zeros(), gdjax.adam(rate), data, **options)
        if rate == 0.05:
            first = len(traces)
    assert first > 0 and len(traces) == first  # new rates: no trace
    # Each run trained with its own rate, as a program compiled afresh does.
    fresh, _ = fit(counted(squared_errors)[0], zeros(), gdjax.adam(0.02), data, **options)
    np.testing.assert_array_equal(found[0.02]["w"], fresh["w"])
    assert not np.array_equal(found[0.01]["w"], found[0.02]["w"])
    fit(loss, zeros(), gdjax.sgd(0.02), data, **options)  # another kind: traced anew
    assert len(traces) > first


def test_an_optax_optimizer_fitted_again_compiles_nothing():
    data = regression(n=40)
    loss, traces = counted(squared_errors)
    optimizer = optax.adam(0.05)
    options = dict(epochs=1, batching=Batching(10), progress=False)
    first, _ = fit(loss, zeros(), optimizer, data, **options)
    before = len(traces)
    again, _ = fit(loss, zeros(), optimizer, data, **options)
    assert len(traces) == before  # its closures are the program's: the same object, kept
    np.testing.assert_array_equal(first["w"], again["w"])


def sgd_grid(learning_rate, momentum):
    return gdjax.sgd(learning_rate, momentum)


def optax_grid(learning_rate, momentum):
    return optax.sgd(learning_rate, momentum)


@pytest.mark.parametrize(
    "first, second",
    [
        (sgd_grid, sgd_grid),
        # Built once for every run; the programs are kept on the optimizers' kind.
        (sgd_grid, lambda learning_rate, momentum: gdjax.sgd(learning_rate, momentum)),
        # Closures made per call: built inside the program, from the settings.
        (optax_grid, optax_grid),
    ],
    ids=["gdjax", "gdjax-new-function", "optax"],
)
def test_a_second_fit_many_with_new_settings_compiles_nothing(first, second):
    data = regression()
    loss, traces = counted(squared_errors)
    options = dict(seeds=2, epochs=2, batching=Batching(20), progress=False)
    settings = {"learning_rate": [0.05, 0.01], "momentum": [0.0, 0.9]}
    fit_many(loss, init, first, data, settings=settings, **options)
    before = len(traces)
    settings = {"learning_rate": [0.02, 0.03], "momentum": [0.5, 0.8]}
    params, _ = fit_many(loss, init, second, data, settings=settings, **options)
    assert before > 0 and len(traces) == before
    fresh, _ = fit_many(counted(squared_errors)[0], init, first, data, settings=settings, **options)
    np.testing.assert_array_equal(params["w"], fresh["w"])
