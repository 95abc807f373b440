"""``gdjax figures``: asks where to write, makes no directory but the one named,
counts what it wrote, and runs the experiment examples too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gdjax.cli import figures, outputs


@pytest.fixture
def scripts(tmp_path, monkeypatch):
    """Two example scripts that write one PNG each into --out (and the two commands' runs
    stubbed the same way), so that `gdjax figures` runs fast in real subprocesses."""
    examples = tmp_path / "examples"
    examples.mkdir()
    for name in ("first.py", "second.py"):
        (examples / name).write_text(
            "import _figures, sys\n"
            "out = sys.argv[sys.argv.index('--out') + 1]\n"
            f"open(out + '/{name[:-3]}.png', 'wb').write(b'png')\n"
        )
    (examples / "_figures.py").write_text("")
    (examples / "numbers_only.py").write_text("print('no figure')\n")
    monkeypatch.setattr(figures, "EXAMPLES", examples)
    monkeypatch.setattr(figures, "DOCS_COMMANDS", ())
    return examples


def test_out_is_required(gdjax_cli):
    outcome = gdjax_cli("figures")
    assert outcome.code == 2 and "required: --out" in outcome.line  # was: docs/figures


def test_it_counts_only_what_this_run_wrote(scripts, tmp_path, gdjax_cli):
    out = tmp_path / "figs"
    out.mkdir()
    (out / "old.png").write_bytes(b"there before")
    outcome = gdjax_cli("figures", "--out", str(out))
    assert outcome.code == 0, outcome.err
    assert "[1/2] first.py" in outcome.out and "[2/2] second.py" in outcome.out
    assert outcome.out.splitlines()[-1] == f"wrote 2 figures in {out}: first.png, second.png"


def test_it_makes_the_directory_it_is_given_but_not_its_parents(scripts, tmp_path, gdjax_cli):
    outcome = gdjax_cli("figures", "--out", str(tmp_path / "new"))
    assert outcome.code == 0, outcome.err
    assert (tmp_path / "new" / "first.png").exists()
    outcome = gdjax_cli("figures", "--out", str(tmp_path / "missing" / "new"))
    assert outcome.code == 2 and "does not exist" in outcome.line
    assert not (tmp_path / "missing").exists()


def test_an_unwritable_directory_is_one_line_before_any_script_runs(
    scripts, tmp_path, gdjax_cli, monkeypatch
):
    ran = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: ran.append(a))
    real_access = os.access
    monkeypatch.setattr(
        outputs.os, "access", lambda p, mode: False if p == tmp_path else real_access(p, mode)
    )
    outcome = gdjax_cli("figures", "--out", str(tmp_path))
    assert outcome.code == 2  # was: exit 1 and a traceback
    assert "--out" in outcome.line and "is not writable" in outcome.line
    assert not ran


def test_a_failing_script_stops_the_run_with_status_1(scripts, tmp_path, gdjax_cli):
    (scripts / "first.py").write_text("import _figures\nraise SystemExit('broken')\n")
    outcome = gdjax_cli("figures", "--out", str(tmp_path))
    assert outcome.code == 1
    assert "first.py failed (exit 1)" in outcome.err and "second.py" not in outcome.out


def test_every_figure_example_is_run_the_experiments_too():
    chosen = {path.name for path in figures.figure_scripts()}
    examples = Path(figures.EXAMPLES)
    assert {"gd_2d.py", "momentum_nesterov.py", "saddle_and_valley.py"} <= chosen
    experiments = {path.name for path in examples.glob("experiment_*.py")}
    assert experiments and experiments <= chosen  # "every figure of the docs"
    assert not any(name.startswith("_") for name in chosen)


def test_the_commands_figures_are_run_as_the_command():
    assert [argv[0] for argv in figures.DOCS_COMMANDS] == ["compare", "sweep"]
    result = subprocess.run(
        [sys.executable, "-m", "gdjax", *figures.DOCS_COMMANDS[1][:-2], "--steps", "3",
         "--no-plot"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
