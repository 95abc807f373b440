"""No pickle anywhere in the package (DESIGN §6: checkpoints never use pickle).

Loading a pickle runs arbitrary code, so gdjax must neither import a pickling
module nor call a loader that unpickles. The check reads the syntax tree of
every ``.py`` file under ``gdjax/`` (so the word "pickle" in a docstring is
fine) and flags:

* imports of ``pickle``, ``cPickle``, ``_pickle``, ``dill``, ``cloudpickle``,
  ``joblib``, ``shelve`` (also through ``importlib.import_module``/``__import__``);
* ``allow_pickle=True`` in any call;
* ``np.load``/``numpy.load`` without an explicit ``allow_pickle=False``;
* ``torch.load``, ``jnp.load`` and ``pandas.read_pickle``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gdjax"

PICKLING_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}
NUMPY = {"np", "numpy", "onp"}
ALWAYS_FORBIDDEN_CALLS = {
    ("torch", "load"),
    ("jnp", "load"),
    ("jax.numpy", "load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
}


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attribute accesses on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_false(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def pickle_uses(source: str, filename: str = "<string>") -> list[str]:
    """Each use of pickle in ``source``, as ``"file:line: what"``; [] if there is none."""
    found = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{node.lineno}: {what}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PICKLING_MODULES:
                    flag(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in PICKLING_MODULES:
                flag(node, f"from {node.module} import ...")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func) or ""
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            allow = keywords.get("allow_pickle")
            if allow is not None and not _is_false(allow):
                flag(node, f"{name or 'a call'}(allow_pickle={ast.unparse(allow)})")
            module, _, function = name.rpartition(".")
            if module in NUMPY and function == "load" and allow is None:
                flag(node, f"{name}() without allow_pickle=False")
            if (module, function) in ALWAYS_FORBIDDEN_CALLS:
                flag(node, f"{name}()")
            if function in ("import_module", "__import__") and node.args:
                target = node.args[0]
                if (
                    isinstance(target, ast.Constant)
                    and str(target.value).split(".")[0] in PICKLING_MODULES
                ):
                    flag(node, f"{name}({target.value!r})")
    return found


def _package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_source_to_check():
    names = {p.name for p in _package_files()}
    assert {"__init__.py", "base.py", "entry.py", "checkpoint.py"} <= names


@pytest.mark.parametrize("path", _package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_pickle_in_the_package(path):
    uses = pickle_uses(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert not uses, "pickle is not allowed in gdjax:\n" + "\n".join(uses)


@pytest.mark.parametrize(
    "source",
    [
        "import pickle",
        "import cPickle as p",
        "import dill",
        "import os, cloudpickle",
        "from pickle import loads",
        "from joblib import load",
        "import shelve",
        "np.load(path)",
        "numpy.load('x.npz')",
        "np.load(path, allow_pickle=True)",
        "np.load(path, allow_pickle=flag)",
        "data = dict(np.load(f, mmap_mode='r'))",
        "torch.load(f)",
        "jnp.load(f)",
        "pd.read_pickle(f)",
        "importlib.import_module('pickle')",
        "__import__('dill')",
        "def f():\n    from cloudpickle import dumps\n    return dumps",
    ],
)
def test_the_detector_flags_pickle(source):
    assert pickle_uses(source), source


@pytest.mark.parametrize(
    "source",
    [
        '"""Checkpoints never use pickle."""',
        "# no pickle here",
        "np.load(path, allow_pickle=False)",
        "numpy.load(f, mmap_mode='r', allow_pickle=False)",
        "np.save(path, x)",
        "json.load(f)",
        "import pickleball",
        "message = 'allow_pickle=True is refused'",
    ],
)
def test_the_detector_passes_clean_code(source):
    assert pickle_uses(source) == [], source
