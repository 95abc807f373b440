"""The ``gdjax`` command under random argument lists (hypothesis), in-process.

Whatever the arguments, the command must end with exit status 0, or with
status 2 and one line on stderr saying what was wrong (DESIGN §6; the same
rule as tests/test_cli.py). Never a traceback, never a NaN or an infinity
reported as a result without the diverged flag, never invalid JSON.

The heavy paths are cut short: the training experiments stop where they would
start training (``fit_many``) and ``figures`` where it would run the example
scripts, after all their arguments have been checked. Everything runs with
``--no-plot`` in a temporary working directory, so nothing is written into the
repository.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gdjax import cli, landscapes


class _Stopped(Exception):
    """Raised where a heavy path would start: the arguments were accepted."""


def _leaf_parsers(parser, tokens=()):
    """(subcommand tokens, their options) for every runnable subcommand."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _leaf_parsers(sub, (*tokens, name))
    if tokens and not found:
        options = {
            option: action.nargs != 0
            for action in parser._actions
            for option in action.option_strings
            if option not in ("-h", "--help")
        }
        found.append((tokens, options))
    return found


COMMANDS = _leaf_parsers(cli.build_parser())
# Small, valid settings first, so that the fuzzed options after them override them
# and an accepted command still runs in well under a second.
SAFE = {
    "compare": ["--optimizers", "sgd", "--steps", "3", "--no-plot"],
    "sweep": ["--steps", "3", "--no-plot"],
    "experiment": ["--no-plot", "--no-progress"],
    "figures": ["--out", "figures"],
}

HOSTILE = [
    "1e", "nan", "NaN", "inf", "-inf", "-0", "", " ", "1,2,3", ":::", "x,y", "1e400", "-1e400",
    "1e39", "1e-400", "٣", "²", "−1", "１", "💥", "é", "a\nb", "0", "1", "3", "-1", "2.5",
    "99999999999", "true", "false", "None", "=", "=1", ".", "..", ",", "-5,-2",
]  # fmt: skip
VALID = {
    "--landscape": [*landscapes.names(), "mars", "TWO_GAUSSIANS"],
    "--optimizers": ["sgd", "sgd,adam", "momentum,nesterov", "noisy_sgd", "adamw", "sgd,sgd"],
    "--optimizer": ["sgd", "momentum", "nesterov", "adam", "noisy_sgd", "rmsprop", "sgd,adam"],
    "--start": ["1,2", "-5,-2", "0.5", "1e30,1e30", "1e10,1e10", "0,0", "3e38,0", "1,2,3"],
    "--steps": ["1", "3", "0", "-3", "1000001", "4"],
    "--tol": ["1e-3", "0", "-1", "nan", "inf", "1e300"],
    "--bound": ["10", "0", "-1", "inf", "nan", "1e-30"],
    "--set": [
        "adam.learning_rate=0.05", "sgd.learning_rate=1e30", "sgd.momentum=0.5",
        "sgd.momentum=true", "sgd.nesterov=true", "adam.nesterov=1", "adam.nesterov=true",
        "nesterov.nesterov=false", "nesterov.momentum=false", "noisy_sgd.key=3",
        "noisy_sgd.key=-1", "noisy_sgd.key=1.5", "adam.mu_dtype=1", "adam.lr=1",
        "learning_rate=0.2", "momentum=0.5", "momentum.momentum=2", ".=", "adam.=1",
        ".learning_rate=1", "adam.eps=-1", "rmsprop.centered=yes", "adadelta.eps=0",
    ],
    "--grid": [
        "learning_rate=1e-3:1:log3", "learning_rate=1:0:log3", "learning_rate=0.1,0.2",
        "learning_rate=0:1:2", "learning_rate=-1:1:2", "momentum=0,0.5", "momentum=0.1,2",
        "momentum=", "=1", "learning_rate=", "learning_rate=1:2:0", "learning_rate=1:2:²",
        "learning_rate=1:2:log0", "learning_rate=1:2:100000000", "b1=0.5,1", "nesterov=0,1",
        "key=0,1", "mu_dtype=1", "lr=0.1", "eps=1e-8:1e-2:log2", "learning_rate=1e-50:1:log2",
    ],
    "--by": ["value", "steps", "speed"],
    "--top": ["1", "2", "0", "-1"],
    "--out": ["x.png", "x.jpg", "", "fig", "x.gif", "sub/x.png"],
    "--runs": ["2", "1", "-1", "x"],
    "--epochs": ["1", "0"],
    "--dataset": ["digits", "fashion-mnist", "mnist"],
    "--data-dir": [".", "missing", "/"],
    "--batch-size": ["8", "0", "100000"],
    "--seed": ["0", "-1", "99999999999999999999999"],
    "--learning-rates": ["0.01:3:log2", "1:0:log3", "x", "0.1"],
    "--momenta": ["0,0.9", "2", "-1"],
    "--rate": ["adam=0.001", "adam", "=1", "nope=0.1", "adam=nan", "sgd=-1"],
    "--eta": ["0.3", "nan", "-1"],
    "--gamma": ["0.55", "-1"],
    "--learning-rate": ["0.005", "0", "inf"],
    "--depth": ["1", "0"],
    "--width": ["4", "-1"],
}  # fmt: skip
BOGUS_OPTIONS = ["--colour", "--optimiser", "--learningrate", "-x", "--", "--steps=", "--s"]

# Free text, without path separators (a value may become a directory name) or NUL.
free_text = st.text(st.characters(blacklist_characters="/\\\x00"), max_size=8)


@st.composite
def argvs(draw):
    if draw(st.integers(0, 19)) == 0:  # a bogus subcommand now and then
        return [
            draw(st.sampled_from(["nope", "", "COMPARE", "experiment"])),
            *draw(st.lists(free_text, max_size=2)),
        ]
    tokens, options = draw(st.sampled_from(COMMANDS))
    argv = [*tokens, *SAFE.get(tokens[0], [])]
    for _ in range(draw(st.integers(0, 5))):
        option = draw(st.sampled_from([*options, *BOGUS_OPTIONS]))
        if not options.get(option, True):
            argv.append(option)
            continue
        value = draw(
            st.one_of(
                st.sampled_from(VALID.get(option, HOSTILE)), st.sampled_from(HOSTILE), free_text
            )
        )
        argv += [f"{option}={value}"] if draw(st.booleans()) else [option, value]
    return argv


def run_cli(argv):
    """(exit status, stdout, stderr) of ``gdjax *argv``, heavy paths stubbed."""
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        mock.patch("gdjax.experiments._common.fit_many", side_effect=_Stopped),
        mock.patch.object(cli.figures.subprocess, "run", side_effect=_Stopped),
    ):
        try:
            code = cli.main(list(argv))
        except SystemExit as exit_:  # --help and --version
            code = exit_.code
        except _Stopped:
            code = 0
    return code, out.getvalue(), err.getvalue()


def _no_constants(name):
    raise AssertionError(f"{name} in the JSON output (JSON has no NaN or infinity)")


def check_outcome(argv, code, stdout, stderr):
    assert "Traceback" not in stderr, stderr
    assert code in (0, 2), (argv, code, stderr)
    if code == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, (argv, stderr)
        assert lines[0].startswith("gdjax") and ": error: " in lines[0], lines[0]
        return
    assert "Warning" not in stderr, (argv, stderr)
    text = stdout.lstrip()
    if "--json" in argv and text.startswith(("{", "[")):
        document = json.loads(text, parse_constant=_no_constants)
        for row in document.get("rows", []) if isinstance(document, dict) else []:
            if None in row["final"] or row["value"] is None:
                assert row["diverged"], row
    elif argv and argv[0] == "compare" and "diverged" in stdout:
        for line in stdout.splitlines()[3:]:
            if re.search(r"\b(nan|inf)\b", line):
                assert line.rstrip().endswith("yes"), line


@pytest.fixture(scope="module", autouse=True)
def _in_a_temporary_directory(tmp_path_factory):
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cli_fuzz"))
    try:
        yield
    finally:
        os.chdir(before)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(argv=argvs())
# Regressions: each was a traceback (or a silent wrong answer) before the fix.
@example(argv=["compare", *SAFE["compare"], "--tol", "nan"])
@example(argv=["compare", *SAFE["compare"], "--bound", "-1"])
@example(argv=["compare", *SAFE["compare"], "--optimizers", "adam", "--set", "adam.nesterov=1"])
@example(argv=["compare", *SAFE["compare"], "--set", "sgd.nesterov=true"])
@example(argv=["compare", *SAFE["compare"], "--set", "adam.mu_dtype=1", "--optimizers", "adam"])
@example(
    argv=["compare", *SAFE["compare"], "--optimizers", "noisy_sgd", "--set", "noisy_sgd.key=1"]
)
@example(argv=["compare", *SAFE["compare"], "--steps", "100000000000"])
@example(argv=["compare", *SAFE["compare"], "--start", "1e39,0"])
@example(argv=["compare", *SAFE["compare"], "--landscape", "rosenbrock", "--start", "1e10,1e10"])
@example(
    argv=["compare", *SAFE["compare"], "--json", "--landscape", "rosenbrock", "--start=1e10,1e10"]
)
@example(argv=["sweep", *SAFE["sweep"], "--grid", "learning_rate=1:2:²"])
@example(argv=["sweep", *SAFE["sweep"], "--optimizer", "noisy_sgd", "--grid", "key=0,1"])
@example(argv=["sweep", *SAFE["sweep"], "--optimizer", "adam", "--grid", "mu_dtype=1"])
@example(argv=["sweep", *SAFE["sweep"], "--grid", "learning_rate=0.1", "--top", "-3"])
@example(
    argv=[
        "sweep",
        *SAFE["sweep"],
        "--json",
        "--landscape",
        "rosenbrock",
        "--grid=learning_rate=0.1,1e30",
    ]
)
@example(argv=["experiment", "grid", *SAFE["experiment"], "--seed", "-1"])
@example(argv=["unknown", "a\nb"])
def test_random_argument_lists_exit_0_or_2_with_one_line(argv):
    check_outcome(argv, *run_cli(argv))


# --------------------------------------------------------------------------- fixed cases

FAST = ["--optimizers", "sgd", "--steps", "3", "--no-plot"]


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["compare", *FAST, "--tol", "nan"], "--tol must be a finite number > 0, got nan"),
        (["compare", *FAST, "--bound", "0"], "--bound must be a finite number > 0"),
        (["sweep", "--grid", "learning_rate=0.1", "--tol", "-1"], "--tol must be"),
        (["compare", *FAST, "--set", "adam.nesterov=1"], "not a selected optimizer"),
        (
            ["compare", "--optimizers", "adam", "--set", "adam.nesterov=1"],
            "--set adam.nesterov: '1' is not true or false",
        ),
        (["compare", *FAST, "--set", "sgd.momentum=true"], "'true' is not a number"),
        (["compare", "--set", "adam.mu_dtype=1"], "mu_dtype cannot be set from the command line"),
        (
            ["compare", "--optimizers", "noisy_sgd", "--set", "noisy_sgd.key=1.5"],
            "'1.5' is not an integer seed",
        ),
        (
            ["compare", "--optimizers", "noisy_sgd", "--set", "noisy_sgd.key=-1"],
            "the seed must be in [0, 4294967295]",
        ),
        (["compare", "--set", "learning_rate=0.1"], "write name.param=value"),
        (["compare", "--steps", "100000000000"], "--steps must be a positive integer <= 1000000"),
        (["compare", "--start", "1e39,0"], "outside the float32 range"),
        (["compare", "--set", "sgd.learning_rate=1e39"], "outside the float32 range"),
        (["sweep", "--grid", "learning_rate=1:2:²"], "'²' is not a count"),
        (["sweep", "--grid", "learning_rate=1:2:100000000"], "at most 100000 settings"),
        (
            ["sweep", "--grid", "learning_rate=0.1:1:400", "--grid", "momentum=0:1:400"],
            "160000 settings in all",
        ),
        (["sweep", "--optimizer", "noisy_sgd", "--grid", "key=0,x"], "'x' is not an integer seed"),
        (["sweep", "--optimizer", "noisy_sgd", "--grid", "key=0:2:3"], "not an integer seed"),
        (["sweep", "--optimizer", "adam", "--grid", "mu_dtype=1"], "cannot be set"),
        (["sweep", "--optimizer", "sgd,adam", "--grid", "learning_rate=0.1"], "takes one name"),
        (["sweep", "--optimizer", "", "--grid", "learning_rate=0.1"], "--optimizer is empty"),
        (
            ["sweep", "--grid", "learning_rate=0.1", "--grid", "learning_rate=0.2"],
            "learning_rate is given twice",
        ),
        (["sweep", "--grid", "learning_rate=0.1", "--top", "0"], "--top must be a positive"),
        # Every grid value is checked, not only the first: momentum 2 used to run.
        (
            ["sweep", "--optimizer", "momentum", "--grid", "momentum=0.1,2"],
            "momentum must be in [0, 1], got 2.0",
        ),
        (["sweep", "--optimizer", "adam", "--grid", "b1=0.5,1"], "b1 must be in [0, 1)"),
        (["experiment", "momentum", "--out", ""], "out must end in .png"),
        (["compare", "a\nb"], "unrecognized arguments: a b"),
    ],
)
def test_bad_input_regressions(argv, expected):
    code, _, stderr = run_cli(argv)
    assert code == 2, stderr
    (line,) = stderr.strip().splitlines()
    assert expected in line, line


def test_overflowing_runs_are_flagged_and_the_json_is_strict():
    argv = ["compare", *FAST, "--json", "--landscape", "rosenbrock", "--start", "1e10,1e10"]
    code, stdout, stderr = run_cli([*argv, "--steps", "1"])
    assert code == 0 and not stderr
    (row,) = json.loads(stdout, parse_constant=_no_constants)["rows"]
    # The point is finite, its value overflowed float32: that run diverged.
    assert row["value"] is None and row["diverged"]
    code, stdout, _ = run_cli(["compare", *FAST, "--set", "sgd.learning_rate=1e30"])
    assert code == 0
    rows = [line for line in stdout.splitlines()[3:] if line.startswith("sgd")]
    assert rows and all(not re.search(r"\binf\b", line) or line.endswith("yes") for line in rows)


def test_sweep_reports_diverged_settings():
    argv = ["sweep", "--steps", "3", "--no-plot", "--landscape", "rosenbrock"]
    code, stdout, _ = run_cli([*argv, "--grid", "learning_rate=0.001,1e30"])
    assert code == 0
    assert "score=diverged (1 of 1 starts)" in stdout
    code, stdout, _ = run_cli([*argv, "--grid", "learning_rate=0.001,1e30", "--json"])
    best = json.loads(stdout, parse_constant=_no_constants)["best"]
    assert [row["diverged_starts"] for row in best] == [0, 1]
    assert best[1]["score"] is None


def test_nesterov_of_other_optimizers_is_not_sgds_look_ahead():
    code, stdout, stderr = run_cli(
        ["compare", "--optimizers", "adam,rmsprop,sgd", "--steps", "3", "--no-plot",
         "--set", "adam.nesterov=true", "--set", "rmsprop.nesterov=true",
         "--set", "sgd.nesterov=true", "--json"]
    )  # fmt: skip
    assert code == 0, stderr
    assert len(json.loads(stdout)["rows"]) == 15


def test_unwritable_outputs_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for argv in (
        ["compare", "--optimizers", "sgd", "--steps", "2", "--out", str(blocker / "x.png")],
        ["figures", "--out", str(blocker)],
    ):
        code, _, stderr = run_cli(argv)
        assert code == 2, stderr
        (line,) = stderr.strip().splitlines()
        assert "--out" in line and "cannot" in line
