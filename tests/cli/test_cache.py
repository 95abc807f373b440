"""``gdjax --compilation-cache DIR``: a new learning rate compiles nothing, in the same
process or, through JAX's persistent cache, in a new one."""

from __future__ import annotations

import subprocess

import jax
import pytest

from gdjax.cli import build_parser, cache, figures
from tests.helpers import COMPILES, run_python


def _entries(directory) -> int:
    return sum(1 for path in directory.rglob("*") if path.is_file())


def test_a_new_process_with_new_rates_writes_no_new_cache_entry(tmp_path):
    # Counting the cache's entries is the check: a program compiled anew would be a new
    # entry (its key is the program's text, so values baked into it would show).
    directory = tmp_path / "cache"
    compare = ["-m", "gdjax", "--compilation-cache", str(directory), "compare", "--no-plot"]
    compare += ["--optimizers", "sgd,nesterov,adam", "--steps", "20"]
    sweep = ["-m", "gdjax", "--compilation-cache", str(directory), "sweep", "--no-plot"]
    sweep += ["--optimizer", "momentum", "--steps", "20", "--grid"]

    def rates(lr):
        return [f"--set={name}.learning_rate={lr}" for name in ("sgd", "nesterov", "adam")]

    first = run_python(*compare, *rates(0.3))
    assert directory.is_dir() and _entries(directory) > 0
    entries = _entries(directory)
    second = run_python(*compare, *rates(0.2))
    assert _entries(directory) == entries
    assert first != second  # the rates did change the runs
    run_python(*sweep, "learning_rate=0.01:0.3:log4")
    entries = _entries(directory)
    run_python(*sweep, "learning_rate=0.02:0.5:log4", "--set", "momentum=0.5")
    assert _entries(directory) == entries


def test_a_new_rate_in_the_same_process_compiles_nothing(gdjax_cli):
    def compare(lr):
        outcome = gdjax_cli(
            "compare", "--optimizers", "sgd,nesterov,adam", "--steps", "7", "--no-plot",
            *[f"--set={name}.learning_rate={lr}" for name in ("sgd", "nesterov", "adam")],
        )  # fmt: skip
        assert outcome.code == 0, outcome.err
        return outcome.out

    def sweep(grid):
        outcome = gdjax_cli("sweep", "--grid", grid, "--steps", "7", "--no-plot", "--json")
        assert outcome.code == 0, outcome.err
        return outcome.out

    compare(0.3), sweep("learning_rate=0.01:0.3:log3")
    before = COMPILES.count
    compare(0.2), sweep("learning_rate=0.02:0.5:log3")
    assert COMPILES.count == before


def test_the_directory_is_checked_made_and_jax_left_as_it_was(gdjax_cli, tmp_path):
    before = jax.config.jax_compilation_cache_dir
    directory = tmp_path / "new"
    outcome = gdjax_cli("--compilation-cache", str(directory), "landscapes", "--json")
    assert outcome.code == 0, outcome.err
    assert directory.is_dir()
    assert jax.config.jax_compilation_cache_dir == before
    missing = tmp_path / "missing" / "new"
    outcome = gdjax_cli("--compilation-cache", str(missing), "landscapes")
    assert outcome.code == 2 and outcome.line.startswith("gdjax: error: --compilation-cache")
    assert "does not exist" in outcome.line and not (tmp_path / "missing").exists()
    (tmp_path / "file").write_text("")
    outcome = gdjax_cli("--compilation-cache", str(tmp_path / "file"), "landscapes")
    assert outcome.code == 2 and "is a file" in outcome.line


def test_the_default_is_jaxs_environment_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.ENVIRONMENT, raising=False)
    assert build_parser().parse_args(["landscapes"]).compilation_cache is None
    monkeypatch.setenv(cache.ENVIRONMENT, str(tmp_path))
    assert build_parser().parse_args(["landscapes"]).compilation_cache == str(tmp_path)
    given = build_parser().parse_args(["--compilation-cache", "elsewhere", "landscapes"])
    assert given.compilation_cache == "elsewhere"


def test_the_help_says_it(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--compilation-cache DIR" in text and cache.ENVIRONMENT in text


def test_figures_passes_the_cache_to_its_jobs(gdjax_cli, tmp_path, monkeypatch):
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "one.py").write_text("import _figures\n")
    monkeypatch.setattr(figures, "EXAMPLES", examples)
    monkeypatch.setattr(figures, "DOCS_COMMANDS", ())
    seen = []

    def run(command, **kwargs):
        seen.append(kwargs.get("env"))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    directory = tmp_path / "cache"
    outcome = gdjax_cli("--compilation-cache", str(directory), "figures", "--out", str(tmp_path))
    assert outcome.code == 0, outcome.err
    (env,) = seen
    assert env[cache.ENVIRONMENT] == str(directory.resolve())
    assert env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0.0"
    monkeypatch.delenv(cache.ENVIRONMENT, raising=False)
    gdjax_cli("--no-compilation-cache", "figures", "--out", str(tmp_path))
    assert seen[-1] is None  # no cache: the inherited environment


def test_on_by_default_in_the_users_cache_directory_and_off_when_asked(
    gdjax_cli, monkeypatch, tmp_path
):
    monkeypatch.delenv(cache.ENVIRONMENT, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user" / "cache"))
    directory = tmp_path / "user" / "cache" / "gdjax" / "jax"
    assert cache.user_directory() == directory
    with cache.compilation_cache(None) as path:  # its parents are made too: gdjax's own
        assert path == directory and jax.config.jax_compilation_cache_dir == str(directory)
    assert (
        build_parser().parse_args(["--no-compilation-cache", "landscapes"]).compilation_cache
        is cache.OFF
    )
    with cache.compilation_cache(cache.OFF) as path:
        assert path is None
    outcome = gdjax_cli("--no-compilation-cache", "landscapes", "--json")
    assert outcome.code == 0, outcome.err


def test_an_unwritable_default_runs_without_a_cache_and_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(cache.ENVIRONMENT, raising=False)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    with cache.compilation_cache(None) as path:
        assert path is None
    assert "gdjax: no compilation cache" in capsys.readouterr().err
