"""The benchmark scripts run (tiny sizes, no timing asserted: timings belong in RESULTS.md)."""

import pytest

from tests.helpers import run_python


def test_update_step_benchmark_runs():
    out = run_python(
        "benchmarks/update_step.py",
        "--quick",
        "--optimizers",
        "sgd,adam",
        "--leaves",
        "1,3",
        timeout=600,
    )
    assert "| adam | 3 |" in out and "step ratio" in out


def test_update_step_benchmark_runs_the_wider_family_on_matrices():
    out = run_python(
        "benchmarks/update_step.py",
        "--quick",
        "--matrices",
        "--optimizers",
        "lion,adafactor,muon",
        "--leaves",
        "1",
        timeout=600,
    )
    for name in ("lion", "adafactor", "muon"):
        assert f"| {name} | 1 |" in out


def test_trajectories_benchmark_runs():
    out = run_python("benchmarks/trajectories.py", "--quick", timeout=600)
    for section in ("(a) 64 starts", "(b) 64 starts", "(c) adam on rastrigin", "(d) the cost"):
        assert section in out
    for name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam"):
        assert f"| {name} | " in out  # every optimizer of the texts is timed


def test_data_parallel_benchmark_runs():
    out = run_python("benchmarks/data_parallel.py", "--quick", timeout=600)
    for row in (
        "| 4 | `data_parallel()` |",
        '| 4 | `data_parallel(state="sharded")` |',
        "| ZeRO-1 |",
    ):
        assert row in out
    assert "no speed-up is expected" in out.lower()


def test_recompile_benchmark_runs():
    out = run_python("benchmarks/recompile.py", "--quick", timeout=600)
    assert "| second call, a new `sgd(0.06)` |" in out
    for command in ("`gdjax compare`, every rate halved", "`gdjax sweep`, 3 other rates"):
        assert f"| {command} | after |" in out


def test_experiments_order_benchmark_runs():
    out = run_python("benchmarks/experiments_order.py", "--quick", timeout=600)
    assert "(1) order" in out and "(2) early stopping" in out
    assert "(3) batch normalization" in out


def test_protocol_benchmark_runs():
    for package in ("torch", "hyperopt", "pytorch_optimizer"):
        pytest.importorskip(package)
    out = run_python("benchmarks/protocol.py", "--quick", timeout=600)
    assert "(A) visualisation protocol" in out and "(B) DeepOBS protocol" in out
    for row in ("| sgd | rastrigin | 16 |", "| adam | rosenbrock | 8 |", "| sgd | rate as data |"):
        assert row in out
