"""Checkpoints of a `jax.distributed` run: every process writes its shards, and a
ZeRO-1 `fit` on 2 processes x 2 devices resumes bit for bit after both processes
are killed with SIGKILL in the middle of an epoch."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from gdjax import checkpoint
from tests.distributed import multiprocess_fit
from tests.helpers import ROOT, child_env

pytest.importorskip("orbax.checkpoint")

WORKER = Path(multiprocess_fit.__file__)
TIMEOUT = 240  # seconds for one two-process run (a loaded machine is slow to compile)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(directory: Path, out: Path, *flags: str) -> list[subprocess.Popen]:
    """The two processes of one run; their output goes to files in ``out`` (a full
    pipe would block them)."""
    env = child_env(devices=2)
    port = str(_free_port())
    processes = []
    for i in range(2):
        command = [sys.executable, str(WORKER), str(directory), str(out), "--port", port]
        log = open(out / f"log{i}{'-'.join(flags)}.txt", "w")
        processes.append(
            subprocess.Popen(
                [*command, "--process", str(i), *flags],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        )
        log.close()
    return processes


def _finish(processes: list[subprocess.Popen], out: Path) -> list[dict]:
    deadline = time.monotonic() + TIMEOUT
    for i, process in enumerate(processes):
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        log = "\n".join((out / name).read_text()[-3000:] for name in sorted(os.listdir(out)))
        assert code == 0, f"process {i} exited with {code}:\n{log}"
    return [json.loads((out / f"process{i}.json").read_text()) for i in range(2)]


def _kill(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
    for process in processes:
        process.wait(timeout=30)


def _wait_until_blocked(processes: list[subprocess.Popen], out: Path) -> None:
    """Waits for process 0 to block inside epoch 2 (it writes ``blocked0`` first)."""
    deadline = time.monotonic() + TIMEOUT
    while not (out / "blocked0").exists():
        crashed = [i for i, p in enumerate(processes) if p.poll() is not None]
        assert not crashed, f"processes {crashed} exited before blocking"
        assert time.monotonic() < deadline, "the run did not reach epoch 2 in time"
        time.sleep(0.2)


def _final_checkpoint(directory: Path) -> checkpoint.Checkpoint:
    """The last checkpoint, read whole in this one process (one CPU device)."""
    params, optimizer, _, _ = multiprocess_fit.problem()
    return checkpoint.restore(directory, like=(params, optimizer.init(params)))


def _bits(tree):
    def bits(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        x = np.asarray(x)
        return x.dtype.str, x.shape, x.tobytes()

    return jax.tree.map(bits, tree)


def test_zero1_fit_on_two_processes_resumes_bitwise_after_sigkill(tmp_path):
    whole_out, killed_out = tmp_path / "whole_out", tmp_path / "killed_out"
    whole_out.mkdir()
    killed_out.mkdir()
    running: list[subprocess.Popen] = []
    try:
        running = _start(tmp_path / "whole", whole_out)
        whole = _finish(running, whole_out)

        running = _start(tmp_path / "killed", killed_out, "--block")
        _wait_until_blocked(running, killed_out)
        assert checkpoint.latest(tmp_path / "killed") == multiprocess_fit.PER_EPOCH
        _kill(running)
        assert [p.returncode for p in running] == [-signal.SIGKILL] * 2
        assert checkpoint.steps(tmp_path / "killed") == [multiprocess_fit.PER_EPOCH]

        running = _start(tmp_path / "killed", killed_out, "--resume", "--check-damage")
        resumed = _finish(running, killed_out)
    finally:
        _kill(running)

    for a, b in zip(whole, resumed, strict=True):
        assert a["devices"] == b["devices"] == 4
        assert a["params_dtypes"] == b["params_dtypes"]
        assert a["params_specs"] == b["params_specs"] == ["P()", "P('data',)", "P()", "P()"]
        for x, y, dtype in zip(a["params"], b["params"], a["params_dtypes"], strict=True):
            np.testing.assert_array_equal(np.asarray(x, dtype), np.asarray(y, dtype), strict=True)
        assert a["history"] == b["history"]
        # The moments of the 64x256 layer (ZeRO-1), like its weights, are split over the
        # 4 devices of both processes.
        split = [leaf for leaf in b["state_layout"] if leaf["spec"] == "P('data',)"]
        assert len(split) == 2, b["state_layout"]
        assert all(leaf["global"] and leaf["same_sharding"] for leaf in b["state_layout"])
        assert all(leaf["local_shapes"] == [[16, 256], [16, 256]] for leaf in split)
        # A shard digest altered in the index: process 1 holds the shard, both refuse.
        assert "does not match its checksum" in b["damaged"], b["damaged"]
        assert b["damaged"].startswith("checkpoint step 24 in "), b["damaged"]
    # Each process wrote its own shards: orbax's multi-host layout has a store per process.
    arrays = tmp_path / "killed" / str(multiprocess_fit.EPOCHS * multiprocess_fit.PER_EPOCH)
    for i in range(2):
        assert any((arrays / "arrays" / f"ocdbt.process_{i}" / "d").iterdir()), i
    # The final checkpoints (params, optimizer state, keys, history) are the same bits.
    steps = multiprocess_fit.EPOCHS * multiprocess_fit.PER_EPOCH
    final = [_final_checkpoint(tmp_path / name) for name in ("whole", "killed")]
    assert [c.step for c in final] == [steps, steps]
    assert _bits(final[0]) == _bits(final[1])
