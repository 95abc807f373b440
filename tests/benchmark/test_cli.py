"""``gdjax benchmark``: bad input exits 2 with one line; a quick run writes its files.

The commands run through `gdjax.cli.entry.main` (its one-line errors and exit
status), with ``benchmark`` registered by `gdjax.cli.benchmark.add_parser` if the
command line does not have it yet, and on tiny problems standing in for
`gdjax.benchmark.problems` so that a run takes seconds.
"""

from __future__ import annotations

import json
import sys
import types

import jax.numpy as jnp
import numpy as np
import pytest

import gdjax.benchmark
from gdjax.benchmark.problem import Datasets, Problem
from gdjax.benchmark.report import Results
from gdjax.cli import benchmark, entry


def _bowl(x):
    return 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x**2)


def _line_loss(params, batch):
    return (batch["x"] * params["w"] - batch["y"]) ** 2


_X = np.linspace(-1.0, 1.0, 12, dtype=np.float32)
_DATA = {"x": _X, "y": 2.0 * _X}
_PROBLEMS = {
    "bowl": Problem(
        "bowl",
        lambda key: jnp.array([1.0, 1.0]),
        _bowl,
        1e-3,
        20,
        minimum=(np.zeros(2), 0.0),
        box=((-1.5, 1.5), (-1.5, 1.5)),
    ),
    "line": Problem(
        "line",
        lambda key: {"w": jnp.zeros(())},
        _line_loss,
        1e-2,
        2,
        data=Datasets(_DATA, _DATA, _DATA),
        batch_size=4,
    ),
}


def _get(name, data_dir=None):
    if name not in _PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose from {', '.join(_PROBLEMS)}")
    return _PROBLEMS[name]


@pytest.fixture(autouse=True)
def tiny_problems(monkeypatch):
    catalogue = types.SimpleNamespace(
        names=lambda: list(_PROBLEMS),
        get=_get,
        QUICK=("bowl", "line"),
        defaults=lambda data_dir=None: ("bowl", "line"),
    )
    monkeypatch.setitem(sys.modules, "gdjax.benchmark.problems", catalogue)
    monkeypatch.setattr(gdjax.benchmark, "problems", catalogue)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--optimizers", "sgd,nope"], "unknown optimizer 'nope'; choose from: sgd, momentum"),
        (["--problems", "bowl,nope"], "unknown problem 'nope'; choose from: bowl, line"),
        (["--budget", "0"], "--budget 0: give at least 1"),
        (["--budget", "1000000000"], "at most 100000"),
        (["--seeds", "1"], "--seeds 1: give at least 2"),
        (["--range", "learning_rate=1:0.1"], "0 < LOW < HIGH; got LOW 1, HIGH 0.1"),
        (["--range", "learning_rate=1:1"], "0 < LOW < HIGH"),
        (["--range", "learning_rate"], "write PARAM=LOW:HIGH"),
        (["--search", "random"], "invalid choice: 'random'"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert entry.main(["benchmark", *argv, "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err


def test_a_range_the_optimizer_does_not_take_exits_2(capsys):
    argv = ["benchmark", "--quick", "--optimizers", "sgd", "--range", "b9=0.1:0.5"]
    assert entry.main([*argv, "--no-progress", "--problems", "bowl"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_quick_run_writes_its_files(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, target = tmp_path / "bench", tmp_path / "results.json"
    argv = ["benchmark", "--quick", "--optimizers", "sgd,adam", "--budget", "4"]
    argv += ["--out", str(out), "--json", str(target), "--no-progress"]
    assert entry.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# gdjax benchmark") and "## bowl" in printed and "## line" in printed
    for name in (
        "report.md",
        "results.json",
        "sensitivity.png",
        "curves.png",
        "trajectories_bowl.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert (out / "report.md").read_text() in printed
    results = Results.from_json(json.loads(target.read_text()))
    assert results.optimizers == ("sgd", "adam") and results.problems == ("bowl", "line")
    assert results.seeds == benchmark.QUICK_SEEDS and results.points == 4
    assert results.report() == (out / "report.md").read_text()
