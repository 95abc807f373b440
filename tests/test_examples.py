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


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_gd_1d_reaches_the_books_x_after_15_steps(tmp_path):
    out = run_example("gd_1d.py", "--out", str(tmp_path))
    assert "book: x = 0.997648 after 15 steps;  gdjax: x = 0.997648" in out
    assert "><><><><><><><>" in out  # Fig. 11-2 overshoots at every step
    assert (tmp_path / "fig11_1_11_2_gd_1d.png").read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def momentum_2d(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed003")
    return run_example("momentum_2d.py", "--out", str(out)), out


@pytest.mark.parametrize(
    "row",
    [
        "(-0.943467, -0.000073)       (-0.943467, -0.000073)",
        "(-0.387814, -1673.365109)    (-0.387814, -1673.365109)",
        "(-0.062843, 0.001202)        (-0.062843, 0.001202)",
        "(0.007188, 0.002553)         (0.007188, 0.002553)",
    ],
)
def test_momentum_2d_prints_seed_003s_four_results(row, momentum_2d):
    stdout, out = momentum_2d
    assert row in stdout
    assert (out / "seed003_momentum.png").read_bytes()[:8] == PNG_MAGIC


def test_checkpoint_resume_in_two_sittings_equals_one_run(tmp_path):
    pytest.importorskip("orbax.checkpoint")
    out = run_example("checkpoint_resume.py", "--dir", str(tmp_path))
    assert "bit-identical params: True; identical loss history: True" in out
    assert "checkpoints at steps [66, 88, 110]" in out
    assert "restoring into a wider model is refused" in out
    one, two = (float(line.rsplit(" ", 1)[1]) for line in out.splitlines() if "accuracy" in line)
    assert one == two > 0.85


def test_hogwild_equivalent_staleness_is_harmless_only_on_sparse_data():
    rows = {
        (line.split()[0], int(line.split()[1])): line.split()[2:]
        for line in run_example("hogwild_equivalent.py").splitlines()
        if line.startswith(("sparse", "dense"))
    }
    assert len(rows) == 6
    for tau in (0, 7, 63):
        assert float(rows["sparse", tau][-1]) < 1e-8  # converges whatever the staleness
    assert float(rows["dense", 0][-1]) < 1e-4
    assert rows["dense", 7][-1] == rows["dense", 63][-1] == "diverged"


def test_hogwild_two_processes_end_where_one_does():
    # "workers  wall time (s)  updates per worker  final loss  mean staleness" rows.
    rows = {
        int(line.split()[0]): line.split()
        for line in run_example("hogwild.py").splitlines()
        if line.split() and line.split()[0] in ("1", "2")
    }
    assert set(rows) == {1, 2}
    assert rows[2][2:4] == ["3750,", "3750"]  # both processes did their share
    one, two = float(rows[1][-2]), float(rows[2][-2])
    assert one < 0.5 and abs(two - one) < 0.02  # sparse updates barely collide


def test_downpour_runs_both_server_rules_on_ray_and_reports_staleness():
    pytest.importorskip("ray")
    out = run_example("downpour.py", "--steps", "40")
    rows = {
        line[:34].strip(): line[34:].split()
        for line in out.splitlines()
        if line.startswith(("initial", "synchronous", "Downpour"))
    }
    assert set(rows) == {
        "initial params",
        "synchronous AdaGrad(0.5)",
        "Downpour, AdaGrad(0.5) server",
        "Downpour, AdaptiveRevision(0.5)",
    }
    initial = float(rows["initial params"][0])
    for name in ("synchronous AdaGrad(0.5)", "Downpour, AdaptiveRevision(0.5)"):
        assert float(rows[name][0]) < initial  # 40 steps already lower the training loss
    assert out.count("staleness (pushes x shards):") == 2
