"""examples/experiment_*.py --quick: each prints its report and writes its figure."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from tests.experiments.helpers import PNG_MAGIC

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "momentum": ["t-test momentum vs no momentum (t, p)", "mean +/- SE (standard error"],
    "optimizers": ["SGD", "RMSprop", "Adagrad", "Adam", "test accuracy (mean +/- SE)"],
    "grid": ["best on validation: learning_rate=", "its test scores"],
    "noise": ["plain SGD", "noisy SGD (eta 0.3)", "test accuracy, mean +/- SE:"],
    "order": ["sorted by class", "curriculum", "test MCC, shuffled against curriculum:"],
    "early_stopping": ["chosen epoch", "t-test early stopping vs last epoch (t, p)"],
    "batchnorm": ["learning rates that train", "init-scale sensitivity", "t-test BN vs no BN"],
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_experiment_example_reports_and_draws(name, tmp_path):
    script = ROOT / "examples" / f"experiment_{name}.py"
    assert "--out" in script.read_text()  # `gdjax figures` runs the examples that take --out
    result = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    for text in EXPECTED[name]:
        assert text in result.stdout, text
    figure = tmp_path / f"experiment_{name}.png"
    assert result.stdout.rstrip().endswith(f"wrote {figure}")
    data = figure.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
