"""`hogwild`: lock-free SGD by worker processes on shared memory (Niu et al. 2011).

The tests check the mechanism, never a speed: every worker's updates reach the
one shared vector, the implementation takes no lock, 2 workers end close to
serial SGD on a sparse problem, and a dying worker is named with the params kept.
Each `hogwild` call spawns processes that import JAX (about 1-3 s each), so the
runs are few and shared by module-scoped fixtures.
"""

import importlib
import inspect
import math
import multiprocessing
import os
import re
import subprocess
import sys
import time
from multiprocessing import shared_memory

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdjax.distributed.hogwild import (
    HogwildOptions,
    HogwildWorkerError,
    SparseDesign,
    dense_correlated,
    hogwild,
    logistic_loss,
    sparse_logistic,
    worker_shares,
)
from gdjax.training import progress

# The module itself: the package's attribute ``hogwild`` is the function.
hogwild_module = importlib.import_module("gdjax.distributed.hogwild")
DIM = 500
EPOCHS = 10
# Every run is bounded: a hung worker fails the test instead of hanging the suite.
OPTIONS = HogwildOptions(learning_rate=0.5, epochs=EPOCHS, batch_size=4, seed=0, timeout=120.0)
# 2 workers vs serial SGD, final training loss on the 2,000 x 500 problem (start: log 2 =
# 0.693, serial end ≈ 0.3205). Serial runs with other seeds differ by ≈ 0.0002; a
# deterministic NumPy replay of 2 workers whose gradients are all 50 updates stale ends
# at 0.3200. Measured 2-worker runs on this 2-core machine under a load of ≈ 17 (where a
# worker can sleep a whole time slice between its read and its write, and simultaneous
# writes to one coordinate lose one of them) ended within 0.0005 of serial (within
# 0.006 at twice this learning rate). 0.02 (5% of the decrease) is far above all of
# that and below what losing half the updates costs (5 epochs end at 0.355).
SERIAL_TOLERANCE = 0.02


def count_loss(rows, values, labels):
    """A loss whose gradient is 1/B at every stored entry: an update adds exactly
    ``-learning_rate / B`` per occurrence, so the final params count the updates."""
    del values, labels
    return jnp.mean(jnp.sum(rows, axis=1))


def exit_in_worker_one(rows, values, labels):
    """Worker 1 exits with code 3 while its gradient is traced; worker 0 is healthy."""
    if multiprocessing.current_process().name == "hogwild-worker-1":
        os._exit(3)
    return logistic_loss(rows, values, labels)


_CALLS = [0]


def _count_call(x):
    _CALLS[0] += 1
    if _CALLS[0] > 20 and multiprocessing.current_process().name == "hogwild-worker-1":
        raise ValueError("worker one gave up")
    return x


def raise_in_worker_one(rows, values, labels):
    """Worker 1 raises in its 21st gradient, after writing 19 updates (one call compiles)."""
    # On the labels, which are not differentiated: callbacks have no derivative.
    labels = jax.pure_callback(
        _count_call, jax.ShapeDtypeStruct(labels.shape, labels.dtype), labels
    )
    return logistic_loss(rows, values, labels)


@pytest.fixture(scope="module")
def problem():
    design, _ = sparse_logistic(n=2_000, d=DIM, nnz=5, seed=0)
    return design


@pytest.fixture(scope="module")
def serial(problem):
    return hogwild(logistic_loss, np.zeros(DIM, np.float32), problem, workers=1, options=OPTIONS)


@pytest.fixture(scope="module")
def parallel(problem):
    return hogwild(logistic_loss, np.zeros(DIM, np.float32), problem, workers=2, options=OPTIONS)


def updates_per_worker(n, workers, options):
    """Each worker's full batches over all the epochs."""
    return [
        sum(
            worker_shares(n, workers, options.seed, epoch)[worker].size // options.batch_size
            for epoch in range(options.epochs)
        )
        for worker in range(workers)
    ]


def occurrences(design, n_workers, options, worker):
    """How often each coordinate appears in the batches worker ``worker`` takes."""
    counts = np.zeros(DIM)
    for epoch in range(options.epochs):
        share = worker_shares(design.labels.shape[0], n_workers, options.seed, epoch)[worker]
        used = share[: share.size // options.batch_size * options.batch_size]
        counts += np.bincount(design.indices[used].ravel(), minlength=DIM)
    return counts


# --------------------------------------------------------------------------- mechanism


def test_updates_of_both_workers_reach_the_shared_params(problem):
    options = OPTIONS._replace(epochs=2)
    result = hogwild(count_loss, np.zeros(DIM, np.float32), problem, workers=2, options=options)
    expected_updates = updates_per_worker(problem.labels.shape[0], 2, options)
    np.testing.assert_array_equal(result.updates_per_worker, expected_updates)
    assert np.all(result.updates_per_worker > 0)
    step = options.learning_rate / options.batch_size  # each occurrence moves w by -step
    only = [-step * occurrences(problem, 2, options, worker) for worker in range(2)]
    both = only[0] + only[1]
    # Simultaneous writes to one coordinate may lose one of them (Hogwild! takes that
    # risk); they are rare, so the params are (nearly) the sum of both workers' writes,
    # and far from what either worker alone would have written.
    missing = np.abs(result.params - both).sum()
    assert missing <= 0.01 * np.abs(both).sum()
    for alone in only:
        assert missing < 0.1 * np.abs(result.params - alone).sum()


def test_the_implementation_takes_no_lock():
    source = inspect.getsource(hogwild_module)
    code = re.sub(r'"""(.|\n)*?"""|#.*', "", source)  # the code, not its prose
    # Locks, and the multiprocessing objects built on one (Value/Array are locked by
    # default; queues, events and barriers use locks and conditions inside).
    for name in ("Lock", "RLock", "Semaphore", "Condition", "Event", "Barrier", "Queue"):
        assert not re.search(rf"\b{name}\b", code), name
    for name in ("Value", "Array", "Manager", "Pool"):
        assert not re.search(rf"\.{name}\(", code), name


def test_params_are_a_plain_view_of_the_shared_block():
    block = shared_memory.SharedMemory(create=True, size=4 * 8)
    try:
        view = hogwild_module._view(block, (8,), np.float32)
        other = shared_memory.SharedMemory(name=block.name)
        seen = hogwild_module._view(other, (8,), np.float32)
        view[[1, 5]] -= 2.0  # a write through one mapping ...
        assert type(view) is np.ndarray and not view.flags.owndata
        np.testing.assert_array_equal(seen[[1, 5]], [-2.0, -2.0])  # ... is seen in the other
        del view, seen
        other.close()
    finally:
        block.close()
        block.unlink()


def test_two_workers_end_close_to_serial_sgd(serial, parallel):
    start = np.log(2.0)
    assert serial.losses[0] == pytest.approx(start, rel=1e-5)
    assert parallel.losses[0] == pytest.approx(start, rel=1e-5)
    assert serial.losses[-1] < 0.35 and parallel.losses[-1] < 0.35
    assert abs(parallel.losses[-1] - serial.losses[-1]) <= SERIAL_TOLERANCE


def test_the_first_record_is_the_params_before_any_write(problem, monkeypatch):
    """The parent may be descheduled right after it releases the workers (CI once saw
    a first loss of 0.564, not log 2): here it sleeps in the bar's reset, which follows
    the release, while the workers take all their steps."""
    made = progress.progress_bar

    def resuming_late(*args, **kwargs):
        bar = made(*args, **kwargs)
        reset = bar.reset
        bar.reset = lambda *a, **k: (time.sleep(1.0), reset(*a, **k))[1]
        return bar

    monkeypatch.setattr(progress, "progress_bar", resuming_late)
    options = OPTIONS._replace(epochs=1)
    result = hogwild(logistic_loss, np.zeros(DIM, np.float32), problem, workers=2, options=options)
    assert result.losses[0] == pytest.approx(np.log(2.0), rel=1e-6)
    assert result.losses[-1] < result.losses[0] - 0.05  # the workers did write


def test_result_records_the_run(problem, serial, parallel):
    n = problem.labels.shape[0]
    for result, workers in ((serial, 1), (parallel, 2)):
        assert result.params.shape == (DIM,) and result.params.dtype == np.float32
        assert result.times[0] == 0.0 and np.all(np.diff(result.times) > 0)
        assert result.times.shape == result.losses.shape
        assert result.wall_time == result.times[-1] > 0
        np.testing.assert_array_equal(
            result.updates_per_worker, updates_per_worker(n, workers, OPTIONS)
        )
        full = logistic_loss(jnp.asarray(result.params)[problem.indices], *problem[1:])
        assert result.losses[-1] == pytest.approx(float(full), rel=1e-5)
    # Alone, nobody writes between a worker's read and its write.
    np.testing.assert_array_equal(serial.staleness_per_worker, [0.0])
    assert np.all(parallel.staleness_per_worker >= 0)


# --------------------------------------------------------------------------- dying workers


def test_the_progress_bar_counts_every_update(problem, capsys):
    options = OPTIONS._replace(epochs=1)
    # workers=1.0: a whole float is a count too, and the run gets it as an int.
    hogwild(logistic_loss, np.zeros(DIM, np.float32), problem, workers=1.0, options=options)
    assert "hogwild" not in capsys.readouterr().err  # progress=False: no bar
    hogwild(logistic_loss, np.zeros(DIM), problem, workers=1, options=options, progress=True)
    shown = capsys.readouterr().err
    updates = updates_per_worker(2_000, 1, options)[0]  # 2,000 examples in batches of 4: 500
    assert "hogwild" in shown and f"{updates}/{updates}" in shown and "update" in shown


def test_a_worker_that_exits_is_named(problem):
    params0 = np.full(DIM, 0.5, np.float32)
    with pytest.raises(HogwildWorkerError, match=r"worker 1 died \(exit code 3\)") as caught:
        hogwild(exit_in_worker_one, params0, problem, workers=2, options=OPTIONS)
    assert caught.value.worker == 1 and caught.value.exitcode == 3
    # It died before the start: the shared params are kept, untouched.
    np.testing.assert_array_equal(caught.value.params, params0)


def test_a_script_without_a_main_guard_fails_instead_of_hanging(tmp_path):
    """Each spawned worker imports the script again; without the guard it calls hogwild
    itself and dies while starting. The examples (88 KB here) used to travel in the
    pickle spawn writes into a 64 KB pipe whose read end the parent holds too: the
    parent blocked in ``start()`` for good, past any timeout."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import numpy as np\n"
        "from gdjax.distributed.hogwild import HogwildOptions, hogwild, logistic_loss, "
        "sparse_logistic\n"
        f"design, _ = sparse_logistic(n=2_000, d={DIM}, nnz=5, seed=0)\n"
        f"hogwild(logistic_loss, np.zeros({DIM}, np.float32), design, workers=2, "
        "options=HogwildOptions(epochs=1, timeout=60.0))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 1
    assert "HogwildWorkerError" in done.stderr and "imports the script again" in done.stderr


def test_a_worker_that_raises_is_named_and_the_params_are_kept(problem):
    params0 = np.zeros(DIM, np.float32)
    with pytest.raises(HogwildWorkerError, match="worker 1 died") as caught:
        hogwild(raise_in_worker_one, params0, problem, workers=2, options=OPTIONS)
    assert "worker one gave up" in str(caught.value)  # the worker's traceback
    assert caught.value.worker == 1 and caught.value.exitcode == 1
    # Worker 1 wrote 19 updates before it raised: the params hold them.
    assert caught.value.params.shape == (DIM,)
    assert np.any(caught.value.params != params0)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_positive_integer(problem, workers):
    with pytest.raises(ValueError, match=r"hogwild: workers must be an integer >= 1, got"):
        hogwild(logistic_loss, np.zeros(DIM), problem, workers=workers)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            HogwildOptions(learning_rate=0.0),
            r"options.learning_rate must be in \(0, inf\), got 0.0",
        ),
        (
            HogwildOptions(learning_rate=float("nan")),
            r"learning_rate must be in \(0, inf\), got nan",
        ),
        (HogwildOptions(learning_rate=math.inf), r"learning_rate must be in \(0, inf\), got inf"),
        (
            HogwildOptions(learning_rate=True),
            r"learning_rate must be a number in \(0, inf\), got True",
        ),
        (HogwildOptions(learning_rate=lambda t: 0.1), r"learning_rate must be a number in \(0, in"),
        (HogwildOptions(learning_rate=np.ones(2)), r"learning_rate must be a number in \(0, inf\)"),
        (HogwildOptions(epochs=0), r"options.epochs must be an integer >= 1, got 0"),
        (HogwildOptions(epochs=1.5), r"options.epochs must be an integer >= 1, got 1.5"),
        (HogwildOptions(batch_size=0), r"options.batch_size must be an integer >= 1, got 0"),
        (HogwildOptions(batch_size=1_001), r"batch_size must be ≤ .* \(1000\), got 1001"),
        (HogwildOptions(seed=-1), r"options.seed must be an integer >= 0, got -1"),
        (HogwildOptions(record_every=0), r"options.record_every must be in \(0, inf\), got 0"),
        (HogwildOptions(timeout=-1.0), r"options.timeout must be in \(0, inf\), got -1.0"),
    ],
)
def test_options_are_checked(problem, options, message):
    with pytest.raises(ValueError, match=message):
        hogwild(logistic_loss, np.zeros(DIM), problem, workers=2, options=options)


def test_checked_options_are_python_numbers():
    given = HogwildOptions(
        learning_rate=1, epochs=2.0, batch_size=np.int64(4), timeout=np.float32(3)
    )
    checked = hogwild_module._check_options(given, share_size=100)
    assert checked == given
    for name, kind in (("learning_rate", float), ("epochs", int), ("batch_size", int)):
        assert type(getattr(checked, name)) is kind, name
    assert type(checked.timeout) is float and checked.seed == 0


def test_options_must_be_hogwild_options(problem):
    with pytest.raises(TypeError, match="options must be a HogwildOptions"):
        hogwild(logistic_loss, np.zeros(DIM), problem, options={"epochs": 1})


def test_loss_must_be_a_picklable_function(problem):
    with pytest.raises(TypeError, match="loss must be a function"):
        hogwild(None, np.zeros(DIM), problem)
    with pytest.raises(TypeError, match=r"loss must be picklable \(a module-level function\)"):
        hogwild(lambda rows, values, labels: 0.0, np.zeros(DIM), problem)


def test_data_and_params_are_checked(problem):
    with pytest.raises(TypeError, match="data must be a SparseDesign, got tuple"):
        hogwild(logistic_loss, np.zeros(DIM), tuple(problem))
    with pytest.raises(ValueError, match=r"data.indices must lie in \[0, 100\)"):
        hogwild(logistic_loss, np.zeros(100), problem)
    short = problem._replace(labels=problem.labels[:10])
    with pytest.raises(ValueError, match="data.labels shape"):
        hogwild(logistic_loss, np.zeros(DIM), short)
    with pytest.raises(ValueError, match="params0 must be a non-empty 1-D floating array"):
        hogwild(logistic_loss, np.zeros((DIM, 1)), problem)
    with pytest.raises(ValueError, match="params0 must be a non-empty 1-D floating array"):
        hogwild(logistic_loss, np.zeros(DIM, np.int32), problem)


# --------------------------------------------------------------------------- problems


def test_sparse_logistic_is_a_planted_sparse_problem():
    design, w_star = sparse_logistic(n=3_000, d=1_000, nnz=7, seed=3)
    assert isinstance(design, SparseDesign)
    assert design.indices.shape == design.values.shape == (3_000, 7)
    assert design.indices.dtype == np.int32 and design.values.dtype == np.float32
    assert 0 <= design.indices.min() and design.indices.max() < 1_000
    assert set(np.unique(design.labels)) == {0.0, 1.0}
    margins = np.sum(w_star[design.indices] * design.values, axis=1)
    # The planted weights predict the labels far better than chance.
    assert np.mean((margins > 0) == (design.labels == 1)) > 0.75
    again, _ = sparse_logistic(n=3_000, d=1_000, nnz=7, seed=3)
    np.testing.assert_array_equal(again.labels, design.labels)


def test_dense_correlated_touches_every_coordinate():
    design, w_star = dense_correlated(n=400, d=50, correlation=0.8, seed=1)
    np.testing.assert_array_equal(design.indices, np.tile(np.arange(50), (400, 1)))
    np.testing.assert_allclose(np.linalg.norm(design.values, axis=1), np.sqrt(50), rtol=1e-5)
    unit = design.values / np.sqrt(50)
    assert np.mean(unit @ unit.T) > 0.5  # the examples share a direction
    assert w_star.shape == (50,)
    with pytest.raises(ValueError, match=r"correlation must be in \[0, 1\], got 1.5"):
        dense_correlated(correlation=1.5)
    with pytest.raises(ValueError, match=r"correlation must be in \[0, 1\], got nan"):
        dense_correlated(correlation=float("nan"))
    with pytest.raises(ValueError, match=r"sparse_logistic: nnz must be an integer >= 1, got 0"):
        sparse_logistic(nnz=0)


def test_worker_shares_deal_every_example_once_per_epoch():
    shares = worker_shares(11, 3, seed=2, epoch=4)
    assert [share.size for share in shares] == [4, 4, 3]
    np.testing.assert_array_equal(np.sort(np.concatenate(shares)), np.arange(11))
    other = worker_shares(11, 3, seed=2, epoch=5)
    assert not all(np.array_equal(a, b) for a, b in zip(shares, other, strict=True))
