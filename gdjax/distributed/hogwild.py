"""Hogwild!: lock-free SGD by several processes on one parameter vector in shared memory.

Niu, Recht, Ré & Wright, "Hogwild!: A Lock-Free Approach to Parallelizing
Stochastic Gradient Descent", NIPS 2011; seed 002 §5.1. ``N`` worker processes
share ONE float32 parameter vector ``w`` (a `multiprocessing.shared_memory`
block seen through NumPy views) and update it without any lock. Each worker
loops over mini-batches of its share of each epoch's examples and, for each one,

    1. reads ``w`` at the coordinates its examples touch (``w[idx]``),
    2. computes the gradient with respect to those values with a jitted JAX
       function of (the touched values, the batch),
    3. writes back ONLY those coordinates: ``w[idx] -= η g``, a NumPy scatter-add
       (``np.add.at``), no lock.

Between the read and the write other workers may have written: the gradient
is stale and, when two writes hit the same coordinate at the same instant, one
of them can be lost. Niu et al. show that on sparse problems (each example
touches few of many coordinates) such collisions are rare and SGD converges as
if it were serial, with a near-linear speed-up; on dense problems every update
touches every coordinate and the staleness slows or spoils convergence.
`gdjax.distributed.delayed` simulates that staleness deterministically inside
one XLA program; this module runs it for real, with processes, because XLA
programs have no shared mutable memory and JAX is not fork-safe (the workers
are started with the ``"spawn"`` context and compute on the CPU).

The data is a sparse design in a fixed-width CSR-like layout (`SparseDesign`:
``indices`` and ``values`` of shape ``(n, nnz)``, ``labels`` ``(n,)``); the
loss is a function ``loss(rows, values, labels) -> scalar`` of the params at
the touched coordinates ``rows = w[indices]`` (``(B, nnz)``), the mean over the
batch (`logistic_loss`). A dense problem is the same layout with every
coordinate in every row (`dense_correlated`).

    design, w_true = sparse_logistic(n=100_000, d=10_000, nnz=10, seed=0)
    result = hogwild(logistic_loss, np.zeros(10_000, np.float32), design, workers=2,
                     options=HogwildOptions(learning_rate=2.0, epochs=5, batch_size=16))
    result.params, result.times, result.losses, result.updates_per_worker

Besides the params, the shared memory holds a small int64 control table: per
worker a "compiled and ready" flag, its update counter, the sum of the
staleness of its updates (how many updates of the other workers landed between
its read and its write) and the time it finished its epochs, plus the start
signal. The parent starts the clock when every worker has compiled its
gradient (the wall time runs from there to the last worker's finish), records a
copy of ``w`` every ``record_every`` seconds (evaluating the loss at those
copies after the run, so the evaluation does not compete with the workers),
and watches the workers: one that raises or exits with a non-zero code stops
the run with a `HogwildWorkerError` naming it, which carries the params as the
shared memory held them. The shared memory is closed and unlinked in every case.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import traceback
import types
from collections.abc import Callable
from multiprocessing import connection, shared_memory
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdjax._validation import check_int, check_number

__all__ = [
    "HogwildOptions",
    "HogwildResult",
    "HogwildWorkerError",
    "SparseDesign",
    "dense_correlated",
    "hogwild",
    "logistic_loss",
    "sparse_logistic",
    "worker_shares",
]

Loss = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]

# Columns of the shared int64 control table, one row per worker; the last row's
# first cell is the start signal. Plain int64 cells each written by one process:
# no lock is needed for them either.
_READY, _UPDATES, _STALENESS, _FINISHED = range(4)
_COLUMNS = 4
_JOIN_SECONDS = 10.0
_DIED_STARTING = (
    "It died before it was ready to train (importing or compiling) and sent no traceback; "
    "its stderr may say why. A script that calls hogwild must call it under "
    '`if __name__ == "__main__":`, since each worker imports the script again.'
)


class SparseDesign(NamedTuple):
    """A sparse design with a fixed number of stored entries per example (CSR-like).

    Attributes:
      indices: ``(n, nnz)`` int32, the coordinates example ``i`` touches (a
        coordinate may repeat in a row: its entries add up).
      values: ``(n, nnz)`` float32, the feature values at those coordinates.
      labels: ``(n,)`` float32, the targets (``{0, 1}`` for `logistic_loss`).
    """

    indices: np.ndarray
    values: np.ndarray
    labels: np.ndarray


class HogwildOptions(NamedTuple):
    """How `hogwild` trains.

    Attributes:
      learning_rate: the constant step size ``η`` > 0 (of the mean loss of a batch).
      epochs: passes over all the examples, ≥ 1. In each epoch every worker takes
        its share of a fresh permutation (`worker_shares`), so the total work does
        not depend on the number of workers.
      batch_size: examples per update, ≥ 1. A worker takes the full batches of its
        share (a remainder smaller than a batch is left out of that epoch; the
        next epoch's permutation is another).
      seed: NumPy seed of every epoch's permutation.
      record_every: seconds between the parent's copies of the params, > 0.
      timeout: seconds (> 0) after which a run still going is stopped with a
        ``TimeoutError``; ``None`` waits for ever.
    """

    learning_rate: float = 0.1
    epochs: int = 1
    batch_size: int = 16
    seed: int = 0
    record_every: float = 0.05
    timeout: float | None = None


class HogwildResult(NamedTuple):
    """What `hogwild` returns.

    Attributes:
      params: ``(d,)`` float32, the shared params when every worker had finished.
      times: ``(k,)`` seconds since the workers were released (0 first, the end last).
      losses: ``(k,)`` the loss over all the examples at the params copied at ``times``.
      updates_per_worker: ``(workers,)`` int64, the updates each worker wrote.
      staleness_per_worker: ``(workers,)`` float64, each worker's mean number of
        other workers' updates written between its read and its write.
      wall_time: seconds from the release of the workers to the moment the last
        one finished its epochs (spawning, compiling and exiting excluded).
    """

    params: np.ndarray
    times: np.ndarray
    losses: np.ndarray
    updates_per_worker: np.ndarray
    staleness_per_worker: np.ndarray
    wall_time: float


class HogwildWorkerError(RuntimeError):
    """A worker of `hogwild` raised or exited with a non-zero code.

    Attributes:
      worker: the index of the worker that died.
      exitcode: its exit code (negative: killed by that signal).
      params: ``(d,)`` float32, a copy of the shared params when the run stopped.
    """

    def __init__(self, worker: int, exitcode: int | None, detail: str, params: np.ndarray):
        self.worker = worker
        self.exitcode = exitcode
        self.params = params
        super().__init__(
            f"hogwild: worker {worker} died (exit code {exitcode}); the shared params at "
            f"that point are in this error's .params.\n{detail}".rstrip()
        )


class _Shared(NamedTuple):
    """An array in a shared memory block, as a worker finds it."""

    name: str
    shape: tuple[int, ...]
    dtype: str


class _Spec(NamedTuple):
    """What a worker process receives (pickled by ``spawn``). Kept small: the examples
    travel in shared blocks, not in the pickle. ``spawn`` writes the pickle into a pipe
    while it holds the pipe's read end itself, so a pickle larger than the pipe's
    buffer blocks the parent for good if the worker dies before reading it (a script
    without ``if __name__ == "__main__":`` dies so)."""

    loss: Loss
    design: SparseDesign  # of `_Shared`
    params: _Shared
    control: _Shared
    workers: int
    options: HogwildOptions


# (worker, exit code, detail) of a worker that died; worker None: the run timed out.
_Failure = tuple[int | None, int | None, str]


class _Outcome(NamedTuple):
    """The parent's record of a run."""

    times: list[float]
    snapshots: list[np.ndarray]
    wall_time: float
    failure: _Failure | None


# --------------------------------------------------------------------------- problems


def logistic_loss(rows: jax.Array, values: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean logistic loss of a linear model on a batch of sparse examples.

    Args:
      rows: ``(B, nnz)`` the params at the examples' coordinates, ``w[indices]``.
      values: ``(B, nnz)`` the feature values.
      labels: ``(B,)`` labels in ``{0, 1}``.

    Returns:
      ``mean_i log(1 + exp(m_i)) - y_i m_i`` with margins ``m_i = Σ_k rows_ik values_ik``.
    """
    margins = jnp.sum(rows * values, axis=1)
    return jnp.mean(jnp.logaddexp(0.0, margins) - labels * margins)


def _planted_labels(rng: np.random.Generator, margins: np.ndarray) -> np.ndarray:
    """Labels drawn from the logistic model: ``P(y = 1) = σ(margin)``."""
    return (rng.random(margins.shape) < 1 / (1 + np.exp(-margins))).astype(np.float32)


def sparse_logistic(
    n: int = 100_000, d: int = 10_000, nnz: int = 10, seed: int = 0
) -> tuple[SparseDesign, np.ndarray]:
    """A sparse logistic regression problem from a planted weight vector (Hogwild!'s regime).

    Example ``i`` touches ``nnz`` coordinates drawn uniformly from ``d`` (with
    replacement) with values ``N(0, 1)``; ``w* ~ N(0, I_d)``; its label is 1 with
    probability ``σ(x_i · w*)``. Each coordinate appears in about ``n nnz / d``
    examples, so two updates of ``B`` examples rarely share one when
    ``(B nnz)^2 ≪ d``.

    Args:
      n: examples, ≥ 1. Default 100 000.
      d: features, ≥ 1. Default 10 000.
      nnz: stored entries per example, ≥ 1. Default 10.
      seed: NumPy seed. Default 0.

    Returns:
      ``(design, w_star)``: the `SparseDesign` and the planted ``(d,)`` float32 weights.
    """
    counts = (("n", n), ("d", d), ("nnz", nnz))
    n, d, nnz = (check_int("sparse_logistic", name, value, 1) for name, value in counts)
    rng = np.random.default_rng(seed)
    w_star = rng.normal(size=d).astype(np.float32)
    indices = rng.integers(0, d, size=(n, nnz), dtype=np.int32)
    values = rng.normal(size=(n, nnz)).astype(np.float32)
    labels = _planted_labels(rng, np.sum(w_star[indices] * values, axis=1))
    return SparseDesign(indices, values, labels), w_star


def dense_correlated(
    n: int = 10_000, d: int = 100, correlation: float = 0.8, seed: int = 0
) -> tuple[SparseDesign, np.ndarray]:
    """A dense, correlated logistic regression problem: every example touches every coordinate.

    ``x_i = √d (c u + √(1 - c²) v_i) / ‖·‖`` with one shared random sign vector
    ``u`` and the example's own ``v_i`` (unit norms, ``c = correlation``), so the
    examples share a direction as dense real features do; ``w* ~ N(0, I_d / d)``
    and labels are drawn from ``σ(x_i · w*)``. Stored in the `SparseDesign`
    layout with ``nnz = d``: every update writes all ``d`` coordinates, so every
    pair of concurrent updates collides (the case the Hogwild! texts warn of).

    Args:
      n: examples, ≥ 1. Default 10 000.
      d: features, ≥ 1. Default 100.
      correlation: ``c`` in ``[0, 1]``, the weight of the shared direction. Default 0.8.
      seed: NumPy seed. Default 0.

    Returns:
      ``(design, w_star)``: the `SparseDesign` and the planted ``(d,)`` float32 weights.
    """
    n, d = (check_int("dense_correlated", name, value, 1) for name, value in (("n", n), ("d", d)))
    correlation = check_number("dense_correlated", "correlation", correlation, "[0, 1]")
    rng = np.random.default_rng(seed)
    shared = rng.choice([-1.0, 1.0], d)
    own = rng.choice([-1.0, 1.0], (n, d))
    x = correlation * shared + np.sqrt(1 - correlation**2) * own
    x *= np.sqrt(d) / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    w_star = (rng.normal(size=d) / np.sqrt(d)).astype(np.float32)
    labels = _planted_labels(rng, x @ w_star)
    indices = np.broadcast_to(np.arange(d, dtype=np.int32), (n, d)).copy()
    return SparseDesign(indices, x.astype(np.float32), labels), w_star


def worker_shares(n: int, workers: int, seed: int = 0, epoch: int = 0) -> list[np.ndarray]:
    """The examples of each worker in one epoch: a fresh permutation of ``range(n)`` dealt
    round-robin, in the order the worker takes them (full batches, the remainder left out).

    Every epoch deals all the examples afresh (as Niu et al.'s workers sample from
    the whole data set): a worker that runs epochs ahead of the others still
    sees all of the data, not a fixed half of it.

    Args:
      n: examples, ≥ 1.
      workers: workers, ≥ 1.
      seed: NumPy seed (`HogwildOptions.seed`).
      epoch: the epoch, from 0.

    Returns:
      ``workers`` int64 arrays whose sizes differ by at most one.
    """
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[worker::workers] for worker in range(workers)]


# --------------------------------------------------------------------------- checks


def _check_options(options: Any, share_size: int) -> HogwildOptions:
    r"""``options`` checked, its counts as ``int``\ s and its rates and times as ``float``\ s."""
    owner = "hogwild"
    if not isinstance(options, HogwildOptions):
        raise TypeError(f"{owner}: options must be a HogwildOptions, got {options!r}")
    counts = {
        name: check_int(owner, f"options.{name}", getattr(options, name), minimum)
        for name, minimum in (("epochs", 1), ("batch_size", 1), ("seed", 0))
    }
    positive = ("learning_rate", "record_every") + (
        ("timeout",) if options.timeout is not None else ()
    )
    numbers = {
        name: check_number(owner, f"options.{name}", getattr(options, name), "(0, inf)")
        for name in positive
    }
    if counts["batch_size"] > share_size:
        raise ValueError(
            f"{owner}: options.batch_size must be ≤ the smallest worker's share of the "
            f"examples ({share_size}), got {counts['batch_size']}"
        )
    return options._replace(**counts, **numbers)


def _check_design(data: Any, dim: int) -> SparseDesign:
    owner = "hogwild"
    if not isinstance(data, SparseDesign):
        raise TypeError(f"{owner}: data must be a SparseDesign, got {type(data).__name__}")
    indices, values, labels = (np.asarray(a) for a in data)
    if indices.ndim != 2 or indices.dtype.kind not in "iu":
        raise ValueError(
            f"{owner}: data.indices must be a 2-D integer array (n, nnz), got "
            f"{indices.dtype} of shape {indices.shape}"
        )
    if values.shape != indices.shape or labels.shape != indices.shape[:1]:
        raise ValueError(
            f"{owner}: data.values must have data.indices' shape {indices.shape} and "
            f"data.labels shape {indices.shape[:1]}; got {values.shape} and {labels.shape}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= dim):
        raise ValueError(
            f"{owner}: data.indices must lie in [0, {dim}) for params0 of length {dim}, "
            f"got values in [{indices.min()}, {indices.max()}]"
        )
    return SparseDesign(
        indices.astype(np.int32), values.astype(np.float32), labels.astype(np.float32)
    )


def _found_by_name(fn: types.FunctionType) -> bool:
    """Whether a spawned process finds ``fn`` by its module and qualified name, as a
    pickled function is sent (a lambda or a nested function is not found)."""
    found: Any = sys.modules.get(fn.__module__)
    for part in fn.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is fn


def _check_inputs(
    loss: Any, params0: Any, data: Any, workers: Any
) -> tuple[np.ndarray, SparseDesign, int]:
    """The params as float32, the design as int32/float32 arrays and ``workers`` as an int."""
    owner = "hogwild"
    if not callable(loss):
        raise TypeError(f"{owner}: loss must be a function (rows, values, labels), got {loss!r}")
    if isinstance(loss, types.FunctionType) and not _found_by_name(loss):
        raise TypeError(
            f"{owner}: loss must be picklable (a module-level function), since the workers "
            f"are spawned processes and find a function by its module and name; got {loss!r}"
        )
    workers = check_int(owner, "workers", workers, 1)
    params = np.asarray(params0)
    if params.ndim != 1 or params.dtype.kind != "f" or params.size == 0:
        raise ValueError(
            f"{owner}: params0 must be a non-empty 1-D floating array, got {params.dtype} "
            f"of shape {params.shape}"
        )
    design = _check_design(data, params.size)
    if design.labels.shape[0] < workers:
        raise ValueError(
            f"{owner}: workers must be ≤ the number of examples ({design.labels.shape[0]}), "
            f"got {workers}"
        )
    return params.astype(np.float32), design, workers


# --------------------------------------------------------------------------- worker


def _view(block: shared_memory.SharedMemory, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A plain NumPy array over the shared block: reads and writes go straight to it."""
    return np.ndarray(shape, dtype=dtype, buffer=block.buf)


def _attach(shared: _Shared, blocks: list[shared_memory.SharedMemory]) -> np.ndarray:
    """A view of the shared array; its block is appended to ``blocks`` (to close)."""
    blocks.append(shared_memory.SharedMemory(name=shared.name))
    return _view(blocks[-1], shared.shape, shared.dtype)


def _share(array: np.ndarray, created: list[shared_memory.SharedMemory]) -> _Shared:
    """``array`` copied into a new shared block, appended to ``created`` (to unlink)."""
    created.append(shared_memory.SharedMemory(create=True, size=max(array.nbytes, 1)))
    shared = _Shared(created[-1].name, array.shape, array.dtype.str)
    view = _view(created[-1], array.shape, array.dtype)
    view[...] = array
    del view  # a view left alive would keep the block from closing
    return shared


def _close(block: shared_memory.SharedMemory) -> None:
    try:
        block.close()
    except BufferError:
        pass  # a view is still referenced (by a traceback); the mapping goes with the process


def _wait_for_start(control: np.ndarray, workers: int) -> None:
    # Polling a shared cell instead of an Event: Events and Barriers are built on locks.
    parent = multiprocessing.parent_process()
    while control[workers, 0] == 0:
        if parent is not None and not parent.is_alive():
            raise SystemExit("hogwild: the parent process is gone")
        time.sleep(0.001)


def _train(
    worker: int, spec: _Spec, data: SparseDesign, params: np.ndarray, control: np.ndarray
) -> None:
    """The Hogwild! loop of one worker: read the touched coordinates, differentiate, write."""
    jax.config.update("jax_platforms", "cpu")  # a CPU algorithm: params live in host memory
    gradient = jax.jit(jax.value_and_grad(spec.loss))
    options, workers = spec.options, spec.workers
    size, step = options.batch_size, np.float32(options.learning_rate)
    # Compile before the clock starts: the first call traces at the batch's shapes.
    gradient(params[data.indices[:size]], data.values[:size], data.labels[:size])
    control[worker, _READY] = 1
    _wait_for_start(control, workers)
    for epoch in range(options.epochs):
        share = worker_shares(data.labels.shape[0], workers, options.seed, epoch)[worker]
        for start in range(0, share.size - size + 1, size):
            batch = share[start : start + size]
            touched = data.indices[batch]
            written_before = control[:workers, _UPDATES].sum()
            rows = params[touched]  # the read: a copy of w at the touched coordinates
            _, grads = gradient(rows, data.values[batch], data.labels[batch])
            # The write: w[idx] -= η g, coordinate by coordinate, without a lock.
            np.add.at(params, touched.ravel(), -step * np.asarray(grads).ravel())
            control[worker, _STALENESS] += control[:workers, _UPDATES].sum() - written_before
            control[worker, _UPDATES] += 1
    # When it finished (time.monotonic_ns, one clock for all processes); 0: not yet.
    control[worker, _FINISHED] = time.monotonic_ns()


def _worker_main(worker: int, spec: _Spec, errors: connection.Connection) -> None:
    """Entry point of worker process ``worker``: attaches to the shared blocks and trains;
    an exception is sent to the parent as text before the process exits with code 1."""
    blocks = []
    try:
        params, control = _attach(spec.params, blocks), _attach(spec.control, blocks)
        data = SparseDesign(*(_attach(shared, blocks) for shared in spec.design))
        _train(worker, spec, data, params, control)
        del params, control, data
    except BaseException:
        try:
            errors.send(traceback.format_exc())
        except OSError:
            pass  # the parent stopped listening: the exit code still tells it
        raise SystemExit(1) from None
    finally:
        errors.close()
        for block in blocks:
            _close(block)


# --------------------------------------------------------------------------- parent


def _start_workers(spec: _Spec, processes: list[Any], readers: list[connection.Connection]) -> None:
    """Spawns the workers into ``processes`` and the read ends of their error pipes into
    ``readers`` (filled as they start, so a failed start still stops those started)."""
    context = multiprocessing.get_context("spawn")  # JAX is not fork-safe
    for worker in range(spec.workers):
        reader, writer = context.Pipe(duplex=False)
        readers.append(reader)
        process = context.Process(
            target=_worker_main,
            args=(worker, spec, writer),
            name=f"hogwild-worker-{worker}",
            daemon=True,
        )
        try:
            process.start()
        finally:
            writer.close()  # the worker holds its own copy of the write end
        processes.append(process)


def _stop_workers(
    processes: list[Any], readers: list[connection.Connection], control: np.ndarray
) -> None:
    """Lets the finished workers exit, terminates the others (a failed or timed-out run)."""
    for worker, process in enumerate(processes):
        if process.is_alive() and not control[worker, _FINISHED]:
            process.terminate()
    for process in processes:
        process.join(_JOIN_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(_JOIN_SECONDS)
    for reader in readers:
        reader.close()


def _error_text(reader: connection.Connection) -> str:
    """The traceback a dead worker sent, or ``""`` (it was killed, or exited quietly)."""
    try:
        return reader.recv() if reader.poll() else ""
    except (EOFError, OSError):
        return ""


def _failure(
    processes: list[Any], readers: list[connection.Connection], control: np.ndarray
) -> _Failure | None:
    """The first worker that exited with a non-zero code or without finishing its epochs."""
    for worker, (process, reader) in enumerate(zip(processes, readers, strict=True)):
        code = process.exitcode
        if code is None or control[worker, _FINISHED]:
            continue  # running, or done with its epochs (its exit does not matter)
        detail = _error_text(reader)
        if not detail and not control[worker, _READY]:
            detail = _DIED_STARTING
        return worker, code, detail or ("" if code else "it exited before finishing its epochs")
    return None


def _wait_for_exits(processes: list[Any], timeout: float) -> None:
    """Sleeps up to ``timeout`` s, less if a worker exits (it is then reaped)."""
    running = {process.sentinel: process for process in processes if process.exitcode is None}
    for sentinel in connection.wait(list(running), timeout=max(timeout, 0.0)):
        running[sentinel].join(_JOIN_SECONDS)  # its exit code is known once it is reaped


def _wait_until_ready(
    processes: list[Any],
    readers: list[connection.Connection],
    control: np.ndarray,
    deadline: float | None,
) -> _Failure | None:
    """Waits for every worker to compile; returns a failure or ``None``."""
    while not np.all(control[: len(processes), _READY]):
        failure = _failure(processes, readers, control)
        if failure is not None:
            return failure
        if deadline is not None and time.monotonic() > deadline:
            return None, None, "timeout"
        _wait_for_exits(processes, 0.01)
    return None


def _supervise(
    processes: list[Any],
    readers: list[connection.Connection],
    params: np.ndarray,
    control: np.ndarray,
    options: HogwildOptions,
    bar: Any,
) -> _Outcome:
    """Releases the workers, copies the params every ``record_every`` s, watches for deaths."""
    workers = len(processes)
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    failure = _wait_until_ready(processes, readers, control, deadline)
    if failure is not None:
        return _Outcome([], [], 0.0, failure)
    # The starting params are copied before the release: once released, a worker can
    # write before the parent is scheduled again.
    times, snapshots = [0.0], [params.copy()]
    start = time.monotonic_ns()
    control[workers, 0] = 1
    bar.reset(total=bar.total)  # its clock starts with the workers, not with the spawning
    while True:
        next_record = start / 1e9 + times[-1] + options.record_every
        _wait_for_exits(processes, next_record - time.monotonic())
        failure = _failure(processes, readers, control)
        finished = bool(np.all(control[:workers, _FINISHED]))
        now = (time.monotonic_ns() - start) / 1e9
        if failure is None and not finished and now < times[-1] + options.record_every:
            continue  # a worker exited early: keep the recording pace
        if finished:  # the params are final from the last worker's finish on: its time
            now = (int(control[:workers, _FINISHED].max()) - start) / 1e9
            while len(times) > 1 and times[-1] >= now:  # copies of the final params
                del times[-1], snapshots[-1]
        times.append(now)
        snapshots.append(params.copy())
        bar.update(int(control[:workers, _UPDATES].sum()) - bar.n)
        if finished:
            bar.close()  # now, not once the workers have exited
        if failure is not None or finished:
            return _Outcome(times, snapshots, now, failure)
        if deadline is not None and time.monotonic() > deadline:
            return _Outcome(times, snapshots, now, (None, None, "timeout"))


def _losses(loss: Loss, design: SparseDesign, snapshots: list[np.ndarray]) -> np.ndarray:
    """The loss over all the examples at each recorded copy of the params."""
    full = jax.jit(lambda w, i, v, y: loss(w[i], v, y))
    data = tuple(jnp.asarray(a) for a in design)
    return np.array([float(full(jnp.asarray(w), *data)) for w in snapshots])


def _total_updates(spec: _Spec) -> int:
    """The updates all the workers write together (full batches of every epoch's shares)."""
    shares = worker_shares(spec.design.labels.shape[0], spec.workers)
    return spec.options.epochs * sum(share.size // spec.options.batch_size for share in shares)


def _run(
    loss: Loss,
    params0: np.ndarray,
    design: SparseDesign,
    workers: int,
    options: HogwildOptions,
    progress: bool,
) -> tuple[_Outcome, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Creates the shared blocks, runs the workers, copies out what they left, cleans up."""
    created: list[shared_memory.SharedMemory] = []
    try:
        spec = _Spec(
            loss,
            SparseDesign(*(_share(array, created) for array in design)),
            _share(params0, created),
            _share(np.zeros((workers + 1, _COLUMNS), np.int64), created),
            workers,
            options,
        )
        params = _view(created[-2], spec.params.shape, np.float32)
        control = _view(created[-1], spec.control.shape, np.int64)
        # Imported here, not at the top: gdjax.training imports gdjax.distributed, so the
        # two packages would import each other; and the spawned workers need no bar.
        from gdjax.training.progress import progress_bar

        bar = progress_bar(_total_updates(spec), "hogwild", unit="update", enabled=progress)
        processes, readers = [], []
        try:
            _start_workers(spec, processes, readers)
            outcome = _supervise(processes, readers, params, control, options, bar)
        finally:
            _stop_workers(processes, readers, control)
            bar.close()
        counts = (control[:workers, _UPDATES].copy(), control[:workers, _STALENESS].copy())
        final = params.copy()
        del params, control
        return outcome, final, counts
    finally:
        for block in created:
            _close(block)
            block.unlink()


def hogwild(
    loss: Loss,
    params0: np.ndarray,
    data: SparseDesign,
    *,
    workers: int = 2,
    options: HogwildOptions | None = None,
    progress: bool = False,
) -> HogwildResult:
    """Hogwild! SGD (Niu et al. 2011): ``workers`` processes update shared params without locks.

    The examples are dealt to the workers (`worker_shares`); each worker makes
    ``options.epochs`` passes over its share in mini-batches, reading the
    shared params at the batch's coordinates, taking the gradient of ``loss``
    there (jitted, on the CPU) and subtracting ``learning_rate`` times it from
    those coordinates only. ``workers=1`` is serial SGD by the same code.

    Args:
      loss: ``loss(rows, values, labels) -> scalar``, the mean loss of a batch
        from the params at its coordinates ``rows = w[indices]`` (``(B, nnz)``),
        e.g. `logistic_loss`. It must be picklable (a module-level function).
      params0: ``(d,)`` floating, the starting params (stored as float32).
      data: the examples, a `SparseDesign` whose indices lie in ``[0, d)``.
      workers: the number of worker processes, ≥ 1. Default 2.
      options: a `HogwildOptions` (learning rate, epochs, batch size, seed,
        recording interval, timeout); ``None`` for its defaults.
      progress: show a tqdm bar of the updates written. Default False.

    Returns:
      A `HogwildResult`: the final params, the loss over time, each worker's
      update count and mean staleness, the wall time.

    Raises:
      TypeError: ``loss`` not callable or not picklable; ``data`` not a
        `SparseDesign`; ``options`` not a `HogwildOptions`.
      ValueError: ``workers`` not an integer ≥ 1 or more than the examples; bad
        shapes or out-of-range indices in ``data``; an option out of range, or
        ``batch_size`` larger than a worker's share.
      HogwildWorkerError: a worker raised or exited with a non-zero code; it
        names the worker and carries the shared params at that point.
      TimeoutError: the run took longer than ``options.timeout``.
    """
    params0, design, workers = _check_inputs(loss, params0, data, workers)
    options = HogwildOptions() if options is None else options
    options = _check_options(options, design.labels.shape[0] // workers)
    outcome, final, (updates, staleness) = _run(loss, params0, design, workers, options, progress)
    if outcome.failure is not None:
        worker, exitcode, detail = outcome.failure
        if worker is None:
            raise TimeoutError(
                f"hogwild: the run did not finish within options.timeout={options.timeout} s"
            )
        raise HogwildWorkerError(worker, exitcode, detail, final)
    return HogwildResult(
        params=final,
        times=np.asarray(outcome.times),
        losses=_losses(loss, design, outcome.snapshots),
        updates_per_worker=updates,
        staleness_per_worker=staleness / np.maximum(updates, 1),
        wall_time=outcome.wall_time,
    )
