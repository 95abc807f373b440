"""fit/fit_many with checkpointing=: exact resume, in-process and across a SIGKILL."""

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from gdjax import checkpoint
from gdjax.training import Batching, Checkpointing, EarlyStopping, Evaluation, fit, fit_many
from tests.training import resume_run

pytest.importorskip("orbax.checkpoint")


def _bits(tree):
    def bits(x):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        return np.asarray(x).dtype.str, np.asarray(x).shape, np.asarray(x).tobytes()

    return jax.tree.map(bits, tree)


def _assert_same_history(a, b):
    for name in a._fields:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=name, strict=True)
        else:
            assert x == y, name


def _problem():
    train, validation = resume_run.data()

    def loss(params, batch):
        return (batch["x"] @ params["w"] + params["b"] - batch["y"]) ** 2

    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    optimizer = gdjax.chain(
        gdjax.add_noise(0.01, key=1), gdjax.adam(0.05), gdjax.reduce_on_plateau(patience=1)
    )
    options = dict(
        batching=Batching(32),
        key=5,
        evaluation=Evaluation(validation),
        early_stopping=EarlyStopping(patience=30),
        progress=False,
    )
    return loss, params, optimizer, train, options


def test_fit_resumed_in_process_equals_one_run(tmp_path):
    loss, params, optimizer, train, options = _problem()
    whole, whole_history = fit(
        loss,
        params,
        optimizer,
        train,
        epochs=8,
        checkpointing=Checkpointing(tmp_path / "a"),
        **options,
    )
    fit(
        loss,
        params,
        optimizer,
        train,
        epochs=3,
        checkpointing=Checkpointing(tmp_path / "b"),
        **options,
    )
    assert checkpoint.latest(tmp_path / "b") == 3 * resume_run.PER_EPOCH
    resumed, history = fit(
        loss,
        params,
        optimizer,
        train,
        epochs=8,
        checkpointing=Checkpointing(tmp_path / "b", resume=True),
        **options,
    )
    assert _bits(resumed) == _bits(whole)
    _assert_same_history(history, whole_history)
    like = (params, optimizer.init(params))
    a, b = (checkpoint.restore(tmp_path / d, like=like) for d in "ab")
    assert a.step == b.step == 8 * resume_run.PER_EPOCH
    assert _bits((a.params, a.opt_state, a.extra)) == _bits((b.params, b.opt_state, b.extra))


def test_checkpoint_every_and_the_last_epoch(tmp_path):
    loss, params, optimizer, train, options = _problem()
    fit(
        loss,
        params,
        optimizer,
        train,
        steps=27,
        checkpointing=Checkpointing(tmp_path, every=3),
        **options,
    )
    # epochs of 4 steps; every third epoch, and the last (partial) one
    assert checkpoint.steps(tmp_path) == [12, 24, 27]


def test_a_run_that_ended_mid_epoch_is_not_extended(tmp_path):
    loss, params, optimizer, train, options = _problem()
    fit(loss, params, optimizer, train, steps=27, checkpointing=Checkpointing(tmp_path), **options)
    with pytest.raises(ValueError, match=r"ends after a partial epoch \(27 steps in 7 epochs\)"):
        fit(
            loss,
            params,
            optimizer,
            train,
            steps=40,
            checkpointing=Checkpointing(tmp_path, resume=True),
            **options,
        )
    _, history = fit(
        loss,
        params,
        optimizer,
        train,
        steps=27,
        checkpointing=Checkpointing(tmp_path, resume=True),
        **options,
    )
    assert history.step_loss.shape == (27,)


def test_resume_with_no_checkpoint_starts_afresh_and_a_finished_run_returns(tmp_path):
    loss, params, optimizer, train, options = _problem()
    resuming = Checkpointing(tmp_path, resume=True)
    first, _ = fit(loss, params, optimizer, train, epochs=2, checkpointing=resuming, **options)
    again, history = fit(
        loss, params, optimizer, train, epochs=2, checkpointing=resuming, **options
    )
    assert _bits(again) == _bits(first)
    assert history.train_loss.shape == (2,)


def test_fit_many_resumes_every_run(tmp_path):
    loss, _, _, train, options = _problem()
    options.pop("key")

    def init(key):
        return {"w": jax.random.normal(key, (3,)), "b": jnp.zeros(())}

    def run(epochs, directory, resume=False):
        return fit_many(
            loss,
            init,
            lambda learning_rate: gdjax.sgd(learning_rate, momentum=0.9),
            train,
            seeds=3,
            settings={"learning_rate": [0.01, 0.03]},
            epochs=epochs,
            checkpointing=Checkpointing(directory, resume=resume),
            **options,
        )

    whole, whole_history = run(5, tmp_path / "a")
    run(2, tmp_path / "b")
    resumed, history = run(5, tmp_path / "b", resume=True)
    assert _bits(resumed) == _bits(whole)
    _assert_same_history(history, whole_history)


def test_bad_checkpoint_arguments_are_named(tmp_path):
    loss, params, optimizer, train, options = _problem()
    # resume=True without a directory: the directory is Checkpointing's first field.
    with pytest.raises(ValueError, match="fit: checkpointing.directory must be a path"):
        fit(
            loss,
            params,
            optimizer,
            train,
            epochs=1,
            checkpointing=Checkpointing(None, 1, True),
            **options,
        )
    with pytest.raises(
        ValueError, match="fit: checkpointing must be a gdjax.training.Checkpointing or None"
    ):
        fit(loss, params, optimizer, train, epochs=1, checkpointing=str(tmp_path), **options)
    with pytest.raises(ValueError, match="fit: checkpointing.every must be"):
        fit(
            loss,
            params,
            optimizer,
            train,
            epochs=1,
            checkpointing=Checkpointing(tmp_path, every=0),
            **options,
        )
    fit(loss, params, optimizer, train, epochs=1, checkpointing=Checkpointing(tmp_path), **options)
    with pytest.raises(
        ValueError, match=r"already holds checkpoints .* pass Checkpointing\(\.\.\., resume=True\)"
    ):
        fit(
            loss,
            params,
            optimizer,
            train,
            epochs=2,
            checkpointing=Checkpointing(tmp_path),
            **options,
        )
    resuming = Checkpointing(tmp_path, resume=True)
    with pytest.raises(
        ValueError, match="batching.batch_size=32; this run has batching.batch_size=16"
    ):
        fit(
            loss,
            params,
            optimizer,
            train,
            epochs=2,
            checkpointing=resuming,
            **{**options, "batching": Batching(16)},
        )
    with pytest.raises(checkpoint.CheckpointError, match=r"like has params\['v'\]"):
        fit(
            loss,
            {**params, "v": jnp.zeros(2)},
            optimizer,
            train,
            epochs=2,
            checkpointing=resuming,
            **options,
        )


def _run(directory, *args):
    command = [sys.executable, str(Path(resume_run.__file__)), str(directory), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_a_run_killed_with_sigkill_resumes_bit_identical_for_every_optimizer(tmp_path):
    """2N epochs straight, against N epochs, SIGKILL in the middle of epoch N+1, and a
    new process resuming from the last checkpoint: the final checkpoints (params,
    every optimizer's state, the shuffling key, the history) agree bit for bit."""
    epochs, per_epoch = 6, resume_run.PER_EPOCH
    # The loss runs once per step and once per validation (before the first epoch
    # and after each): this kills the process in the third step of epoch N + 1.
    calls = 1 + (epochs // 2) * (per_epoch + 1) + 2
    with ThreadPoolExecutor(2) as pool:
        whole = pool.submit(_run, tmp_path / "whole", "--epochs", str(epochs))
        killed = pool.submit(
            _run, tmp_path / "killed", "--epochs", str(epochs), "--kill-after-calls", str(calls)
        )
        whole, killed = whole.result(), killed.result()
    assert whole.returncode == 0, whole.stderr
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert checkpoint.latest(tmp_path / "killed") == (epochs // 2) * per_epoch

    resumed = _run(tmp_path / "killed", "--epochs", str(epochs), "--resume")
    assert resumed.returncode == 0, resumed.stderr

    params, optimizer = resume_run.initial()
    like = (params, optimizer.init(params))
    a = checkpoint.restore(tmp_path / "whole", like=like)
    b = checkpoint.restore(tmp_path / "killed", like=like)
    assert a.step == b.step == epochs * per_epoch
    assert _bits((a.params, a.opt_state, a.extra)) == _bits((b.params, b.opt_state, b.extra))
    # and training did something to every optimizer's params
    for name in resume_run.OPTIMIZERS:
        assert np.any(np.asarray(a.params[name]["w"]) != 0), name


def _many(directory, resume=False, seeds=(0, 1, 2), rates=(0.01, 0.03), order=None):
    loss, _, _, train, options = _problem()
    options.pop("key")
    options["batching"] = options["batching"]._replace(order=order)
    return fit_many(
        loss,
        {"w": jnp.zeros(3), "b": jnp.zeros(())},
        lambda learning_rate: gdjax.sgd(learning_rate, momentum=0.9),
        train,
        seeds=list(seeds),
        settings={"learning_rate": list(rates)},
        epochs=2,
        checkpointing=Checkpointing(directory, resume=resume),
        **options,
    )


def test_fit_many_refuses_to_resume_a_run_of_other_seeds_settings_or_order(tmp_path):
    _many(tmp_path)
    with pytest.raises(ValueError, match=r"written with seeds \[0, 1, 2\]; this run has seeds "):
        _many(tmp_path, resume=True, seeds=(0, 1, 3))
    with pytest.raises(ValueError, match=r"settings\['learning_rate'\] \[0.01, 0.03\]; this run"):
        _many(tmp_path, resume=True, rates=(0.01, 0.05))
    with pytest.raises(ValueError, match=r"written with order None; this run has order \[99,"):
        _many(tmp_path, resume=True, order=np.arange(100)[::-1])
    _many(tmp_path, resume=True)  # the same run resumes


def test_fit_refuses_to_resume_a_run_of_another_key_or_order(tmp_path):
    loss, params, optimizer, train, options = _problem()
    order = np.arange(100)
    options["batching"] = Batching(32, order=order)
    fit(loss, params, optimizer, train, epochs=1, checkpointing=Checkpointing(tmp_path), **options)

    def again(**changes):
        run = {**options, **changes}
        resuming = Checkpointing(tmp_path, resume=True)
        fit(loss, params, optimizer, train, epochs=2, checkpointing=resuming, **run)

    with pytest.raises(ValueError, match=r"written with key \[0, 5\]; this run has key \[0, 6\]"):
        again(key=6)
    with pytest.raises(ValueError, match=r"order \[0, 1, 2, .*\]; this run has order \[1, 0, 2"):
        again(batching=Batching(32, order=np.r_[1, 0, 2:100]))
    again()
