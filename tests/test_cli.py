import json
import subprocess
import sys

import numpy as np
import pytest

from gdjax import cli, landscapes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_compare_prints_the_table_and_writes_a_png(tmp_path, capsys):
    out = tmp_path / "X.png"
    code, stdout, _ = run_cli(capsys, "compare", "--out", str(out))
    assert code == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    for column in ("optimizer", "hyperparameters", "final point", "nearest minimum", "diverged"):
        assert column in stdout
    for name in cli.COMPARED:
        assert f"\n{name} " in stdout
    # Seed 001 Fig. 11-5: gradient descent from (0.7, -0.2) ends in the shallow minimum.
    row = next(
        line
        for line in stdout.splitlines()
        if line.startswith("sgd") and "(0.7000, -0.2000)" in line
    )
    assert "(0.8940, -0.8940) local" in row


def test_compare_json_and_options(capsys):
    code, stdout, _ = run_cli(
        capsys,
        "compare",
        "--landscape",
        "stretched_bowl",
        "--optimizers",
        "sgd,momentum",
        "--start",
        "-5,-2",
        "--steps",
        "20",
        "--set",
        "sgd.learning_rate=0.6",
        "--set",
        "momentum.learning_rate=0.6",
        "--set",
        "momentum.momentum=0.5",
        "--bound",
        "100",
        "--json",
        "--no-plot",
    )
    assert code == 0
    rows = json.loads(stdout)["rows"]
    assert [r["optimizer"] for r in rows] == ["sgd", "momentum"]
    # Seed 003: lr 0.6 diverges without momentum, converges with momentum 0.5.
    assert rows[0]["diverged"] and not rows[1]["diverged"]
    np.testing.assert_allclose(rows[1]["final"], [0.007188, 0.002553], atol=1e-4)
    np.testing.assert_allclose(rows[0]["final"][1], -1673.365109, rtol=1e-4)


def test_sweep_prints_the_best_settings(tmp_path, capsys):
    out = tmp_path / "heat.png"
    code, stdout, _ = run_cli(
        capsys,
        "sweep",
        "--optimizer",
        "momentum",
        "--grid",
        "learning_rate=1e-3:1:log8",
        "--grid",
        "momentum=0,0.5,0.9",
        "--steps",
        "60",
        "--out",
        str(out),
    )
    assert code == 0
    assert "24 settings" in stdout and "best by mean final value" in stdout
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_sweep_takes_an_axis_of_seeds(capsys):
    code, stdout, _ = run_cli(
        capsys,
        "sweep",
        "--optimizer",
        "noisy_sgd",
        "--grid",
        "key=0,1,2",
        "--set",
        "eta=1",
        "--steps",
        "20",
        "--json",
        "--no-plot",
    )
    assert code == 0
    best = json.loads(stdout)["best"]
    assert sorted(row["key"] for row in best) == [0, 1, 2]
    assert len({row["score"] for row in best}) == 3  # three seeds, three noise sequences


def test_landscapes_lists_every_landscape_and_its_minima(capsys):
    code, stdout, _ = run_cli(capsys, "landscapes")
    assert code == 0
    for name in landscapes.names():
        assert f"\n{name} (" in "\n" + stdout
    assert "global minimum -2.01903 at (-0.9804, 0.9804)" in stdout
    assert "saddle point at (0.0000, 0.0000)" in stdout


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["compare", "--optimizers", "nope"], ["nope", "sgd, momentum, nesterov, adagrad"]),
        (["compare", "--landscape", "mars"], ["mars", "two_gaussians", "himmelblau"]),
        (["compare", "--start", "1,x"], ["'x' is not a number"]),
        (["compare", "--start", "1,2,3"], ["3 coordinates", "2-D"]),
        (["compare", "--steps", "0"], ["--steps must be a positive integer"]),
        (["compare", "--set", "adam.lr=1"], ["no parameter 'lr'", "learning_rate, b1"]),
        (["compare", "--set", "adam.learning_rate=-1"], ["learning_rate must be in [0, inf)"]),
        (["compare", "--set", "learning_rate"], ["name.param=value"]),
        (["compare", "--out", "x.jpg"], ["ending in .png"]),
        (["compare", "--colour", "red"], ["unrecognized arguments: --colour red"]),
        (["sweep", "--grid", "learning_rate=1:0:log5"], ["log range"]),
        (["sweep", "--grid", "learning_rate=1:2:logx"], ["'logx' is not a count"]),
        (["sweep", "--grid", "lr=0.1"], ["no parameter 'lr'"]),
        (["sweep", "--optimizer", "momentum", "--grid", "nesterov=0,1"], ["switch"]),
        (["sweep"], ["at least one --grid"]),
        (["sweep", "--by", "speed", "--grid", "learning_rate=0.1"], ["invalid choice: 'speed'"]),
        (["nope"], ["invalid choice: 'nope'", "'compare', 'sweep', 'landscapes', 'figures'"]),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_choices(capsys, argv, expected):
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdjax") and ": error: " in lines[0]
    for text in expected:
        assert text in lines[0]
    assert "Traceback" not in stderr


def test_python_dash_m_gdjax_and_help_everywhere():
    for argv in (["--help"], ["compare", "--help"], ["sweep", "--help"], ["figures", "--help"]):
        result = subprocess.run(
            [sys.executable, "-m", "gdjax", *argv], capture_output=True, text=True
        )
        assert result.returncode == 0 and "usage: gdjax" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "gdjax", "compare", "--optimizers", "nope"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
