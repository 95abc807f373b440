"""The documentation site builds with no warnings (`mkdocs build --strict`), the
signatures the pages quote are the functions', and the commands they show print what
the pages say (their Python: tests/test_docs_pages.py)."""

import ast
import inspect
import math
import re
import shlex
import shutil
from pathlib import Path

import pytest

from tests.helpers import start_python

ROOT = Path(__file__).resolve().parents[1]


def python_in(directory: Path, args: list[str]) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``python *args`` run in ``directory``."""
    process = start_python(*args, cwd=directory)
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    code, out, err = python_in(
        ROOT, ["-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")]
    )
    assert code == 0, out + err
    assert (tmp_path / "site" / "index.html").exists()
    # An argument documented as "eps: >= 0" renders as a blockquote "= 0": the API
    # reference must have none.
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "<blockquote>" not in api
    shutil.rmtree(tmp_path / "site")


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def line_of(text: str, position: int) -> int:
    """The line (from 1) of ``text`` that holds ``position``."""
    return text.count("\n", 0, position) + 1


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


def test_same_output_reads_numbers_as_numbers():
    assert same_output("[ 0.5  -2.   ]\nloss 0.010601", "[0.5 -2.]\nloss 0.0106")
    assert not same_output("loss 0.01065", "loss 0.01060")
    assert not same_output("adam: b2 must be in [0, 1)", "adam: b1 must be in [0, 1)")
    assert not same_output("(2, 22, 3)", "(2, 22)")


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
    found = [(line_of(text, m.start()), m[1], m[2]) for m in LIST_ITEM.finditer(text)]
    for block in TEXT_BLOCK.finditer(text):
        starts = re.finditer(r"^gdjax\.", block[1], re.M)
        for start in starts:
            quote = SIGNATURE.match(block[1], start.start())
            if quote and block[1][quote.end() :].startswith("\n"):
                found.append((line_of(text, block.start(1) + start.start()), *quote.groups()))
    if page.name == "schedules.md":
        found += [
            (line_of(text, m.start()), f"gdjax.schedules.{m[1]}", m[2])
            for m in HEADING.finditer(text)
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
        for match in re.finditer(r"^\$ (gdjax .*)\n((?:(?!\$ ).*\n)*)", block[1], re.M):
            found.append((line_of(text, block.start(1) + match.start()), *match.groups()))
    return found


COMMANDS = [(page, *shown) for page in DOCS for shown in shown_commands(page)]


@pytest.mark.parametrize(
    ("page", "line", "command", "output"),
    COMMANDS,
    ids=[f"{page.name}:{line}" for page, line, *_ in COMMANDS],
)
def test_a_shown_command_prints_what_the_page_shows(page, line, command, output, tmp_path):
    _, out, err = python_in(tmp_path, ["-m", *shlex.split(command)])
    printed = out + err
    assert same_output(printed, output), f"{page.name}:{line}: {command} prints\n{printed}"


# A file of this repository that a page names, as `tests/test_x.py` or
# `tests/test_x.py::test_y` (the docs and RESULTS.md name the test behind each claim).
REPOSITORY_PATH = re.compile(r"`((?:tests|examples|benchmarks|docs|gdjax)/[\w/.-]+?)(?:::(\w+))?`")


@pytest.mark.parametrize(
    "page", [*DOCS, ROOT / "benchmarks" / "RESULTS.md"], ids=lambda page: page.name
)
def test_the_files_and_tests_a_page_names_exist(page):
    text = page.read_text()
    missing = []
    for match in REPOSITORY_PATH.finditer(text):
        path = ROOT / match[1]
        if not path.exists():
            missing.append(match[1])
        elif match[2] and not re.search(rf"^def {match[2]}\(", path.read_text(), re.M):
            missing.append(match[0])
    if page.name == "reliability.md":  # its tables name each guarantee's test by name alone
        defined = "".join(test.read_text() for test in (ROOT / "tests").rglob("test_*.py"))
        names = re.findall(r"`(test_\w+)`", text)
        missing += [name for name in names if not re.search(rf"^def {name}\(", defined, re.M)]
    assert not missing, f"{page.name} names {missing}"
