"""The documentation site builds with no warnings (`mkdocs build --strict`), and the
Python on every page runs."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import child_env

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


# A ```python block, unless a comment right above it (the site does not show it) says
# why the tests leave it alone: `<!-- not run by the tests: it needs ... -->`.
PYTHON_BLOCK = re.compile(
    r"^(<!-- not run by the tests: \S[^\n]*-->\n\n?)?```python\n(.*?)^```$", re.M | re.S
)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def page_script(text: str) -> str:
    """The page's Python blocks that run, as one script whose line numbers are the
    page's (every other line left blank, so that a traceback points into the page);
    empty if none runs."""
    lines = [""] * text.count("\n")
    for block in PYTHON_BLOCK.finditer(text):
        if not block.group(1):
            first = text.count("\n", 0, block.start(2))
            for offset, line in enumerate(block.group(2).splitlines()):
                lines[first + offset] = line
    script = "\n".join(lines)
    return script + "\n" if script.strip() else ""


def test_page_script_keeps_the_page_line_numbers_and_leaves_marked_blocks_out():
    text = (
        "# Page\n\n```python\nx = 1\n```\n\n"
        "<!-- not run by the tests: it needs a file -->\n\n```python\nopen('missing')\n```\n"
        "```python\nprint(x)\n```\n"
    )
    lines = page_script(text).splitlines()
    assert lines[3] == "x = 1" and lines[12] == "print(x)"
    assert "missing" not in page_script(text)
    assert page_script("<!-- not run by the tests: why -->\n```python\nx = 1\n```\n") == ""


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_python_block_is_read(page):
    """A fence the pattern misses (```python title=...) would go untested unseen."""
    text = page.read_text()
    assert len(PYTHON_BLOCK.findall(text)) == text.count("```python")


@pytest.mark.parametrize(
    "page",
    [page for page in DOCS if page_script(page.read_text())],
    ids=lambda page: page.relative_to(ROOT).as_posix(),
)
def test_the_pages_python_runs(page, tmp_path):
    """Each page's blocks, in order, as one script in a fresh process: a reader who
    runs them in turn gets no error. (What they print, the pages' text says.)"""
    script = tmp_path / (page.name.replace(".", "_") + ".py")
    script.write_text(page_script(page.read_text()))
    result = subprocess.run(
        [sys.executable, script.name],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=child_env() | {"MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
