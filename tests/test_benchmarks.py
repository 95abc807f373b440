"""The benchmark scripts run (tiny sizes, no timing asserted: timings belong in RESULTS.md)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_update_step_benchmark_runs():
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/update_step.py",
            "--quick",
            "--optimizers",
            "sgd,adam",
            "--leaves",
            "1,3",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "| adam | 3 |" in result.stdout and "step ratio" in result.stdout


def test_trajectories_benchmark_runs():
    result = subprocess.run(
        [sys.executable, "benchmarks/trajectories.py", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    for section in ("(a) adam", "(b) momentum", "(c) adam on rastrigin"):
        assert section in result.stdout
