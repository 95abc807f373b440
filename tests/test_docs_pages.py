"""The Python of every docs page runs as a reader would run it, block after block, and
prints the output the page shows below each block."""

import re
from typing import NamedTuple

import pytest

from tests.test_docs import DOCS, ROOT, line_of, python_in, same_output

# A ```python block, unless a comment right above it (the site does not show it) says
# why the tests leave it alone: `<!-- not run by the tests: it needs ... -->`; and the
# ```text block right below it, if any: what it prints.
PYTHON_BLOCK = re.compile(
    r"^(<!-- not run by the tests: \S[^\n]*-->\n\n?)?```python\n(.*?)^```$"
    r"(?:\n(?:[ \t]*\n)*```text\n(.*?)^```$)?",
    re.M | re.S,
)
BETWEEN_BLOCKS = "--- the next block ---"


class Block(NamedTuple):
    first: int  # the page's line (from 0) of the block's first line of code
    code: str
    runs: bool
    shown: str | None  # what the page says it prints


def python_blocks(text: str) -> list[Block]:
    return [
        Block(line_of(text, match.start(2)) - 1, match[2], not match[1], match[3])
        for match in PYTHON_BLOCK.finditer(text)
    ]


def page_script(text: str) -> str:
    """The page's Python blocks that run, as one script whose line numbers are the
    page's (every other line left blank, so that a traceback points into the page),
    each printing `BETWEEN_BLOCKS` first, on its opening fence's line; empty if none
    runs."""
    lines = [""] * text.count("\n")
    for block in python_blocks(text):
        if block.runs:
            lines[block.first - 1] = f"print({BETWEEN_BLOCKS!r})"
            for offset, line in enumerate(block.code.splitlines()):
                lines[block.first + offset] = line
    script = "\n".join(lines)
    return script + "\n" if script.strip() else ""


def test_page_script_keeps_the_page_line_numbers_and_leaves_marked_blocks_out():
    text = (
        "# Page\n\n```python\nx = 1\n```\n\n"
        "<!-- not run by the tests: it needs a file -->\n\n```python\nopen('missing')\n```\n"
        "```python\nprint(x)\n```\n\n```text\n1\n```\n"
    )
    lines = page_script(text).splitlines()
    assert lines[3] == "x = 1" and lines[12] == "print(x)"
    assert lines[2] == lines[11] == f"print({BETWEEN_BLOCKS!r})"
    assert "missing" not in page_script(text)
    assert [block.shown for block in python_blocks(text)] == [None, None, "1\n"]
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
    runs them in turn gets no error, and each prints what the page shows below it."""
    text = page.read_text()
    script = tmp_path / (page.name.replace(".", "_") + ".py")
    script.write_text(page_script(text))
    code, out, err = python_in(tmp_path, [script.name])
    assert code == 0, err[-3000:]
    printed = out.split(BETWEEN_BLOCKS + "\n")[1:]
    ran = [block for block in python_blocks(text) if block.runs]
    wrong = [
        f"{page.name}:{block.first}: the page shows\n{block.shown}but it prints\n{output}"
        for block, output in zip(ran, printed, strict=True)
        if block.shown is not None and not same_output(output, block.shown)
    ]
    assert not wrong, "\n".join(wrong)
