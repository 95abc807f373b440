"""The figure examples run (reduced), write valid PNGs and print the texts' numbers."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

FIGURES = {
    "gd_2d.py": ["fig11_3_ellipse.png", "fig11_4_canyon.png", "fig11_5_two_gaussians.png"],
    "momentum_nesterov.py": ["fig11_7_momentum.png", "fig11_10_momentum_vs_nesterov.png"],
    "bowl_seed000.py": [
        "fig3_4_gd.png",
        "fig3_5_per_parameter_lr.png",
        "fig3_6_momentum_0.9.png",
        "fig3_7_velocity.png",
        "fig3_8_momentum_0.8.png",
        "fig3_9_rmsprop.png",
        "fig3_10_accumulator.png",
    ],
    "saddle_and_valley.py": ["fig4_saddle_and_valley.png"],
    "noisy_ensemble.py": ["noisy_ensemble.png"],
    "optimizer_pytrees.py": ["optimizer_pytrees.png"],
    "wider_family.py": ["wider_family.png"],
    "benchmark_protocol.py": [
        "benchmark_sensitivity.png",
        "benchmark_curves.png",
        "benchmark_rosenbrock.png",
    ],
    "sparse_features.py": ["seed004_gd_momentum_nag.png", "seed004_adagrad_rmsprop_adam.png"],
}
_cache: dict[str, tuple[str, Path]] = {}


def example(name: str, tmp_path_factory) -> tuple[str, Path]:
    """Runs ``examples/name --quick`` once per session; returns (stdout, output directory)."""
    if name not in _cache:
        out = tmp_path_factory.mktemp(name.removesuffix(".py"))
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / name), "--quick", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
        _cache[name] = (result.stdout, out)
    return _cache[name]


def points(line: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in re.findall(r"\((-?[\d.]+), (-?[\d.]+)\)", line)]


def line_starting(out: str, prefix: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(prefix))


@pytest.mark.parametrize("name", list(FIGURES))
def test_example_writes_its_pngs(name, tmp_path_factory):
    _, out = example(name, tmp_path_factory)
    for figure in FIGURES[name]:
        data = (out / figure).read_bytes()
        assert data[:8] == PNG_MAGIC, figure
        assert len(data) > 10_000, f"{figure} is suspiciously small"


def test_gd_2d_table_11_1_triangle_and_square_end_in_the_shallow_minimum(tmp_path_factory):
    out, _ = example("gd_2d.py", tmp_path_factory)
    ends = {
        symbol: "shallow" if "shallow minimum" in line_starting(out, symbol) else "deep"
        for symbol in ("circle", "square", "plus", "triangle", "star")
    }
    assert ends == {
        "circle": "deep",
        "square": "shallow",
        "plus": "deep",
        "triangle": "shallow",
        "star": "deep",
    }
    assert "(2.3, 2.3), lr 0.01    -> (1.2804, 0.3750)" in out  # crawls along the floor


def test_momentum_nesterov_prints_table_11_2(tmp_path_factory):
    out, _ = example("momentum_nesterov.py", tmp_path_factory)
    # columns: book standard, gdjax momentum, book Nesterov, book listing, gdjax exact NAG
    assert points(line_starting(out, "(1.5, 1.5)"))[1:] == [
        (-0.9496, 0.9809),
        (-0.9496, 0.9809),
        (-0.9718, 0.9813),
        (-0.9718, 0.9813),
        (-0.9717, 0.9804),
    ]
    assert points(line_starting(out, "(0.7, -0.2)"))[1:] == [
        (0.8807, -0.9063),
        (0.8807, -0.9063),
        (0.9128, -0.9181),
        (0.9128, -0.9181),
        (0.8990, -0.8983),
    ]
    assert "listing reproduces its Nesterov column" in out


def test_bowl_seed000_rmsprop_listing_explains_the_stall(tmp_path_factory):
    out, _ = example("bowl_seed000.py", tmp_path_factory)
    listing = line_starting(out, "the listing (compounding)")
    assert points(listing)[0] == (2.1080, -3.3591)
    assert points(line_starting(out, "correct RMSProp (gdjax)"))[0] == (0.0, 1.9162)
    assert "match the listing (compounding)" in out
    assert "(a) lr (0.125, 0.015): from (15.0000, 15.0000): (0.8447, 11.0614) after 10" in out
    # Fig. 3.8's claim: momentum 0.8 arrives sooner than 0.9.
    arrive = {
        mu: int(re.search(r"iteration (\d+)", line_starting(out, f"mu {mu}:")).group(1))
        for mu in ("0.9", "0.8")
    }
    assert arrive["0.8"] < arrive["0.9"]


def test_saddle_and_valley_sgd_stays_on_the_saddle(tmp_path_factory):
    out, directory = example("saddle_and_valley.py", tmp_path_factory)
    assert (directory / "fig4b_saddle.gif").read_bytes()[:6] == b"GIF89a"
    saddle = out.split("Fig. 4b")[1]
    escape = {
        name: line_starting(saddle, name).split()[1]
        for name in ("SGD", "Momentum", "NAG", "Adagrad", "Adadelta", "RMSprop", "Adam")
    }
    assert escape["SGD"] == "never"
    adaptive = [int(escape[name]) for name in ("Adagrad", "Adadelta", "RMSprop", "Adam")]
    assert max(adaptive) < min(int(escape["Momentum"]), int(escape["NAG"]))
    assert "gdjax.adadelta(1.0, rho=0.95, eps=1e-3)" in out  # hyperparameters are printed


def test_sparse_features_observations(tmp_path_factory):
    out, _ = example("sparse_features.py", tmp_path_factory)
    assert "80/100 inputs x = 0" in out
    assert "mostly along b at first: True" in out
    assert "farthest after 300 steps: AdaGrad" in out
    assert "fastest of all six to within 0.05: Adam" in out


def test_noisy_ensemble_runs_are_each_their_own(tmp_path_factory):
    out, _ = example("noisy_ensemble.py", tmp_path_factory)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:6].strip()}
    # Plain SGD: one path 256 times, in the shallow minimum; with noise, 256 paths,
    # some of which reach the deep minimum.
    assert rows["0"] == ["1", "0", "256", "0"]
    for eta in ("0.1", "0.3", "1"):
        assert rows[eta][0] == "256" and int(rows[eta][1]) > 0
    assert "the same call again is bit-identical: True" in out


def test_optimizer_pytrees_compile_once_and_a_stack_equals_its_runs(tmp_path_factory):
    out, _ = example("optimizer_pytrees.py", tmp_path_factory)
    assert "compiled 1 time for 3 learning rates" in out
    assert "the stack's leaves: [(4,), (4,), (4,), (4,), (4,)]" in out  # --quick: 4 rates
    gap = float(re.search(r"differs from the stack's by at most (\S+)", out).group(1))
    assert gap < 1e-4
    assert re.search(r"learning_rate=0.02\): final loss [\d.]+, compiled 1 time in all", out)


def test_wider_family_runs_every_method_and_lbfgs_settles_from_every_start(tmp_path_factory):
    out, _ = example("wider_family.py", tmp_path_factory)
    rows = {line[:21].strip(): line[21:].split() for line in out.splitlines()[2:-1]}
    assert len(rows) == 11 and "Lion" in rows and "Schedule-Free AdamW" in rows
    # L-BFGS with its line search: 5 of 5 starts settle, 3 in the global minimum (the two
    # starts in the shallow well's basin stay there, as with the texts' plain descent).
    assert rows["L-BFGS"][1:3] == ["3", "5"]
