"""The documentation site builds with no warnings (`mkdocs build --strict`), and the
Python on every page runs."""

import ast
import inspect
import math
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

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
# why the tests leave it alone: `<!-- not run by the tests: it needs ... -->`; and the
# ```text block right below it, if any: what it prints.
PYTHON_BLOCK = re.compile(
    r"^(<!-- not run by the tests: \S[^\n]*-->\n\n?)?```python\n(.*?)^```$"
    r"(?:\n(?:[ \t]*\n)*```text\n(.*?)^```$)?",
    re.M | re.S,
)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BETWEEN_BLOCKS = "--- the next block ---"


class Block(NamedTuple):
    first: int  # the page's line (from 0) of the block's first line of code
    code: str
    runs: bool
    shown: str | None  # what the page says it prints


def python_blocks(text: str) -> list[Block]:
    return [
        Block(text.count("\n", 0, match.start(2)), match[2], not match[1], match[3])
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


NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def same_output(printed: str, shown: str) -> bool:
    """The same text, whitespace aside, and the same numbers to 1e-3 relative: the
    suite compiles with cheaper XLA settings than the pages' runs (tests/conftest.py),
    which may move a last printed digit."""

    def words(text: str) -> list[str]:
        return ["".join(part.split()) for part in NUMBER.split(text)]

    numbers = zip(NUMBER.findall(printed), NUMBER.findall(shown), strict=True)
    return words(printed) == words(shown) and all(
        math.isclose(float(a), float(b), rel_tol=1e-3, abs_tol=1e-12) for a, b in numbers
    )


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


def test_same_output_reads_numbers_as_numbers():
    assert same_output("[ 0.5  -2.   ]\nloss 0.010601", "[0.5 -2.]\nloss 0.0106")
    assert not same_output("loss 0.01065", "loss 0.01060")
    assert not same_output("adam: b2 must be in [0, 1)", "adam: b1 must be in [0, 1)")
    assert not same_output("(2, 22, 3)", "(2, 22)")


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
    result = subprocess.run(
        [sys.executable, script.name],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=child_env() | {"MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = result.stdout.split(BETWEEN_BLOCKS + "\n")[1:]
    ran = [block for block in python_blocks(text) if block.runs]
    wrong = [
        f"{page.name}:{block.first}: the page shows\n{block.shown}but it prints\n{output}"
        for block, output in zip(ran, printed, strict=True)
        if block.shown is not None and not same_output(output, block.shown)
    ]
    assert not wrong, "\n".join(wrong)


# Where the pages quote a signature in full: a ```text line that is `gdjax.NAME(...)`
# and nothing else (it may go on over lines), a list item that starts with one, and
# schedules.md's headings.
TEXT_BLOCK = re.compile(r"^```text\n(.*?)^```$", re.M | re.S)
LIST_ITEM = re.compile(r"^- `(gdjax\.[\w.]+)\((.*?)\)`", re.M)
HEADING = re.compile(r"^#+ `(\w+)\((.*?)\)`", re.M)
SIGNATURE = re.compile(r"(gdjax\.[\w.]+)\(([^()]*)\)", re.S)
REQUIRED = "no default"


def quoted_signatures(page: Path) -> list[tuple[int, str, str]]:
    """``(line, name, parameters)`` of every signature the page quotes."""
    text = page.read_text()

    def line(position: int) -> int:
        return text.count("\n", 0, position) + 1

    found = [(line(m.start()), m[1], m[2]) for m in LIST_ITEM.finditer(text)]
    for block in TEXT_BLOCK.finditer(text):
        starts = re.finditer(r"^gdjax\.", block[1], re.M)
        for start in starts:
            quote = SIGNATURE.match(block[1], start.start())
            if quote and block[1][quote.end() :].startswith("\n"):
                found.append((line(block.start(1) + start.start()), quote[1], quote[2]))
    if page.name == "schedules.md":
        found += [
            (line(m.start()), f"gdjax.schedules.{m[1]}", m[2]) for m in HEADING.finditer(text)
        ]
    return found


def parameters_of(quote: str) -> list[tuple[str, str, object]]:
    """``(name, kind, default)`` of each parameter of ``def f(<quote>)``."""
    args = ast.parse(f"def f({quote}): pass").body[0].args
    defaults = [None] * (len(args.args) - len(args.defaults)) + args.defaults
    pairs = [(a, "positional", d) for a, d in zip(args.args, defaults, strict=True)]
    pairs += [
        (a, "keyword-only", d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    return [(a.arg, kind, REQUIRED if d is None else ast.literal_eval(d)) for a, kind, d in pairs]


def parameters_in(signature: inspect.Signature) -> list[tuple[str, str, object]]:
    return [
        (
            p.name,
            "keyword-only" if p.kind is p.KEYWORD_ONLY else "positional",
            REQUIRED if p.default is p.empty else p.default,
        )
        for p in signature.parameters.values()
    ]


SIGNATURES = [(page, *quote) for page in DOCS for quote in quoted_signatures(page)]


@pytest.mark.parametrize(
    ("page", "line", "name", "parameters"),
    SIGNATURES,
    ids=[f"{page.name}:{line}" for page, line, *_ in SIGNATURES],
)
def test_a_quoted_signature_is_the_functions(page, line, name, parameters):
    """Every parameter in order, of the same kind (positional or keyword-only) and with
    the same default: a parameter added, renamed or moved shows here."""
    import gdjax

    function = gdjax
    for part in name.split(".")[1:]:
        function = getattr(function, part)
    real = parameters_in(inspect.signature(function))
    assert parameters_of(parameters) == real, f"{page.name}:{line} quotes {name}({parameters})"


def shown_commands(page: Path) -> list[tuple[int, str, str]]:
    """``(line, command, output)`` of each ``$ gdjax ...`` line of a ```text block and
    the lines below it up to the next ``$``."""
    text = page.read_text()
    found = []
    for block in TEXT_BLOCK.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        for match in re.finditer(r"^\$ (gdjax .*)\n((?:(?!\$ ).*\n)*)", block[1], re.M):
            found.append((first + block[1].count("\n", 0, match.start()), match[1], match[2]))
    return found


COMMANDS = [(page, *shown) for page in DOCS for shown in shown_commands(page)]


@pytest.mark.parametrize(
    ("page", "line", "command", "output"),
    COMMANDS,
    ids=[f"{page.name}:{line}" for page, line, *_ in COMMANDS],
)
def test_a_shown_command_prints_what_the_page_shows(page, line, command, output, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", *shlex.split(command)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=child_env() | {"MPLBACKEND": "Agg"},
    )
    printed = result.stdout + result.stderr
    assert same_output(printed, output), f"{page.name}:{line}: {command} prints\n{printed}"
