"""The documentation site builds with no warnings (`mkdocs build --strict`)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").exists()
    # An argument documented as "eps: >= 0" renders as a blockquote "= 0": the API
    # reference must have none.
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "<blockquote>" not in api
    shutil.rmtree(tmp_path / "site")
