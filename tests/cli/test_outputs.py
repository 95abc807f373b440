"""Output paths are checked before any work, no directory is made that the user did
not name, results are printed before they are drawn, and --no-plot needs no matplotlib."""

from __future__ import annotations

import os
import sys

import pytest

from gdjax import trajectories
from gdjax.cli import outputs
from gdjax.cli.values import UsageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ("--optimizers", "sgd", "--steps", "3")
COMMANDS = {
    "compare": ("compare", *FAST),
    "sweep": ("sweep", "--steps", "3", "--grid", "learning_rate=0.1,0.2"),
}


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if a trajectory is computed."""

    def refuse(*args, **kwargs):
        raise AssertionError("the command ran before checking its output path")

    monkeypatch.setattr(trajectories, "run", refuse)
    monkeypatch.setattr(trajectories, "sweep", refuse)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_missing_directory_is_refused_up_front_and_not_made(
    command, tmp_path, gdjax_cli, no_work
):
    out = tmp_path / "nonexistent" / "dir" / "x.png"
    outcome = gdjax_cli(*COMMANDS[command], "--out", str(out))
    assert outcome.code == 2
    assert "cannot write the figure" in outcome.line and "does not exist" in outcome.line
    assert str(out.parent) in outcome.line
    assert not (tmp_path / "nonexistent").exists()  # was: made silently, parents and all
    assert outcome.out == ""


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_path_under_a_file_is_refused_up_front(command, tmp_path, gdjax_cli, no_work):
    (tmp_path / "notadir.txt").write_text("")
    outcome = gdjax_cli(*COMMANDS[command], "--out", str(tmp_path / "notadir.txt" / "x.png"))
    assert outcome.code == 2
    assert "notadir.txt' is a file, not a directory" in outcome.line  # was: [Errno 17] at the end


def test_a_directory_named_like_a_png_is_refused(tmp_path, gdjax_cli, no_work):
    (tmp_path / "x.png").mkdir()
    outcome = gdjax_cli(*COMMANDS["compare"], "--out", str(tmp_path / "x.png"))
    assert outcome.code == 2 and "is a directory" in outcome.line


def test_a_read_only_directory_is_refused_up_front(tmp_path, gdjax_cli, no_work, monkeypatch):
    # As root every directory is writable; os.access is what the check asks.
    real_access = os.access
    monkeypatch.setattr(
        outputs.os, "access", lambda p, mode: False if p == tmp_path else real_access(p, mode)
    )
    outcome = gdjax_cli(*COMMANDS["compare"], "--out", str(tmp_path / "x.png"))
    assert outcome.code == 2 and "is not writable" in outcome.line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_directory_really(tmp_path, gdjax_cli, no_work):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        outcome = gdjax_cli(*COMMANDS["compare"], "--out", str(locked / "x.png"))
    finally:
        locked.chmod(0o755)
    assert outcome.code == 2 and "is not writable" in outcome.line


def test_the_figure_of_an_existing_directory_is_written(tmp_path, gdjax_cli):
    pytest.importorskip("matplotlib")
    out = tmp_path / "x.png"
    outcome = gdjax_cli(*COMMANDS["sweep"], "--out", str(out))
    assert outcome.code == 0, outcome.err
    assert out.read_bytes()[:8] == PNG_MAGIC
    # The results come first, then the line that says the figure was written.
    assert outcome.out.rstrip().endswith(f"wrote {out}")
    assert outcome.out.index("best by") < outcome.out.index("wrote")


def test_a_figure_that_cannot_be_written_keeps_the_printed_results(
    tmp_path, gdjax_cli, monkeypatch
):
    pytest.importorskip("matplotlib")
    from gdjax import plot

    def full_disk(fig, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plot, "save", full_disk)
    outcome = gdjax_cli(*COMMANDS["compare"], "--out", str(tmp_path / "x.png"))
    assert outcome.code == 2
    assert "cannot write the figure" in outcome.line and "No space left" in outcome.line
    assert "optimizer" in outcome.out and "sgd " in outcome.out  # the table was printed first


@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_plot_never_imports_matplotlib(command, gdjax_cli, no_matplotlib):
    outcome = gdjax_cli(*COMMANDS[command], "--no-plot")
    assert outcome.code == 0, outcome.err
    assert sys.modules["matplotlib"] is None  # nothing tried to import it (it would fail)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_without_matplotlib_a_figure_is_refused_up_front_with_the_no_plot_hint(
    command, gdjax_cli, no_matplotlib, no_work, tmp_path
):
    outcome = gdjax_cli(*COMMANDS[command], "--out", str(tmp_path / "x.png"))
    assert outcome.code == 2
    assert "needs matplotlib" in outcome.line and "(or pass --no-plot)" in outcome.line


def test_the_no_plot_hint_is_only_for_a_missing_matplotlib(tmp_path):
    def missing(name):
        def figure():
            raise ImportError(f"gdjax.plot needs {name}") from ModuleNotFoundError(
                f"No module named {name!r}", name=name
            )

        return figure

    with pytest.raises(UsageError, match=r"needs matplotlib \(or pass --no-plot\)"):
        outputs.draw(missing("matplotlib"), tmp_path / "x.png")
    with pytest.raises(UsageError) as raised:
        outputs.draw(missing("sklearn"), tmp_path / "x.png")
    assert "--no-plot" not in str(raised.value)
    assert not (tmp_path / "x.png").exists()
