import subprocess
import sys

from gdjax import cli


def test_compare_exists_and_exits_zero(capsys):
    assert cli.main(["compare"]) == 0
    assert "adam" in capsys.readouterr().out


def test_unknown_command_exits_2_with_one_line_naming_the_choices(capsys):
    assert cli.main(["nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "nope" in err and "compare" in err


def test_python_dash_m_gdjax():
    result = subprocess.run(
        [sys.executable, "-m", "gdjax", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "compare" in result.stdout
