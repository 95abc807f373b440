"""Every example runs and prints the texts' numbers next to gdjax's."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gd_1d_reaches_the_books_x_after_15_steps():
    out = run_example("gd_1d.py")
    assert "book: x = 0.997648 after 15 steps;  gdjax: x = 0.997648" in out
    assert "><><><><><><><>" in out  # Fig. 11-2 overshoots at every step


@pytest.mark.parametrize(
    "row",
    [
        "(-0.943467, -0.000073)       (-0.943467, -0.000073)",
        "(-0.387814, -1673.365109)    (-0.387814, -1673.365109)",
        "(-0.062843, 0.001202)        (-0.062843, 0.001202)",
        "(0.007188, 0.002553)         (0.007188, 0.002553)",
    ],
)
def test_momentum_2d_prints_seed_003s_four_results(row):
    assert row in run_example("momentum_2d.py")
