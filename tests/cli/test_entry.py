"""How the command ends: Ctrl-C, a closed pipe, --help; the library's words, not the CLI's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import gdjax
from gdjax import trajectories
from gdjax.cli import registry
from gdjax.optimizers import hyperparameter_kinds


def test_ctrl_c_is_one_line_and_status_130(gdjax_cli, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trajectories, "run", interrupted)
    outcome = gdjax_cli("compare", "--steps", "3", "--no-plot")
    assert outcome.code == 130
    assert outcome.line == "gdjax: interrupted"  # was: a 47-line traceback


@pytest.mark.skipif(os.name != "posix", reason="signals to a process group")
def test_ctrl_c_in_a_real_process(tmp_path):
    """SIGINT to the process group, as a terminal sends it, while gdjax figures runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gdjax", "figures", "--out", str(tmp_path / "figures")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first = process.stdout.readline()  # "[1/N] ...": main is running its first script
        assert first.startswith("[1/"), first
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["gdjax: interrupted"]


def test_a_closed_pipe_ends_quietly():
    """``gdjax landscapes | head -1``: the reader goes before the writer writes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gdjax", "landscapes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141
    assert b"Traceback" not in stderr and b"Exception ignored" not in stderr, stderr


def test_python_dash_m_gdjax_dot_cli_and_the_top_level_help():
    result = subprocess.run(
        [sys.executable, "-m", "gdjax.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "usage: gdjax" in result.stdout
    description = " ".join(result.stdout.split())
    # Said once, plainly, what the help texts of the commands refer to.
    for words in (
        "The texts are the five sources",
        '"seed 001", a book chapter',
        '"Fig. 11-8", "Table 11-2" are its figures',
        '"seed 002", a translation',
    ):
        assert words in description, words


def test_the_parameters_the_command_takes_are_the_librarys_kinds():
    for name, entry in registry.OPTIMIZERS.items():
        kinds = hyperparameter_kinds(entry.factory)
        assert registry.parameters(name) == [p for p, k in kinds.items() if k != "other"]
    assert "mu_dtype" not in registry.parameters("adam")
    assert registry.kinds("noisy_sgd")["key"] == "key"


def test_compare_asks_the_library_which_iterate_to_record(gdjax_cli, monkeypatch):
    asked = []
    real = trajectories.nag_iterate

    def spy(factory, *args, **kwargs):
        asked.append((factory, kwargs))
        return real(factory, *args, **kwargs)

    monkeypatch.setattr(trajectories, "nag_iterate", spy)
    outcome = gdjax_cli(
        "compare", "--optimizers", "nesterov,adam", "--steps", "3", "--no-plot",
        "--set", "adam.nesterov=true",
    )  # fmt: skip
    assert outcome.code == 0, outcome.err
    assert asked == [
        (gdjax.sgd, {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
        (gdjax.adam, {"learning_rate": 0.1, "nesterov": True}),
    ]
