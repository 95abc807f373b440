"""gdjax's signatures against optax's, for every public name the two share.

For each shared function or class (aliases, transformations, state NamedTuples),
optax's parameters must come first in gdjax's signature, in optax's order, with
optax's names, kinds and defaults; gdjax's extra parameters come after them and
have defaults, so that every call written for optax means the same in gdjax.
Every difference must be listed, with its reason, in the "Signatures and state"
section of docs/optax.md.
"""

from __future__ import annotations

import inspect
import pathlib
import re

import optax
import optax.contrib
import pytest

import gdjax

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "optax.md"

# gdjax names whose optax counterpart lives elsewhere or under another name.
COUNTERPARTS = {
    "reduce_on_plateau": optax.contrib.reduce_on_plateau,
    "ReduceOnPlateauState": optax.contrib.ReduceLROnPlateauState,
    "ScaleByAdadeltaState": optax.ScaleByAdaDeltaState,
    "ScaleByAdagradState": optax.ScaleByRssState,
}

_MISSING = object()


def _shared():
    names = {}
    for name in sorted(set(dir(gdjax)) & set(dir(optax))):
        if name.startswith("_"):
            continue
        ours, theirs = getattr(gdjax, name), getattr(optax, name)
        if inspect.isfunction(ours) or inspect.isclass(ours):
            names[name] = (ours, theirs)
    # optax.contrib's names that gdjax has (gdjax.contrib holds the same objects).
    for name in sorted(set(dir(gdjax.contrib)) & set(dir(optax.contrib))):
        if not name.startswith("_") and name not in names:
            names[name] = (getattr(gdjax.contrib, name), getattr(optax.contrib, name))
    for name, theirs in COUNTERPARTS.items():
        if hasattr(gdjax, name):
            names.setdefault(name, (getattr(gdjax, name), theirs))
    return names


SHARED = _shared()


def _default(p):
    return _MISSING if p.default is inspect.Parameter.empty else p.default


def _same_default(a, b):
    if a is _MISSING or b is _MISSING:
        return a is b
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # arrays, dtypes: compare what they print
        return repr(a) == repr(b)


def differences(ours, theirs) -> dict[str, str]:
    """``{parameter: what differs}`` between gdjax's ``ours`` and optax's ``theirs``."""
    mine = list(inspect.signature(ours).parameters.values())
    other = list(inspect.signature(theirs).parameters.values())
    found = {}
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    by_name = {p.name: p for p in mine}
    for i, p in enumerate(other):
        variadic = p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        if p.kind in positional or variadic:
            q = mine[i] if i < len(mine) else None
            if q is None or q.kind != p.kind or (not variadic and q.name != p.name):
                found[p.name] = f"position {i}: optax has {p}, gdjax has {q}"
                continue
        else:  # keyword-only: anywhere in gdjax's signature, keyword-only or not
            q = by_name.get(p.name)
            if q is None or q.kind not in (inspect.Parameter.KEYWORD_ONLY, *positional[1:]):
                found[p.name] = f"keyword-only {p} missing"
                continue
        if not variadic and not _same_default(_default(p), _default(q)):
            found[p.name] = f"default: optax {_default(p)!r}, gdjax {_default(q)!r}"
    known = {p.name for p in other}
    n_positional = sum(p.kind in positional for p in other)
    for i, q in enumerate(mine):
        if q.name in known or q.kind in (q.VAR_POSITIONAL, q.VAR_KEYWORD):
            continue
        if q.default is inspect.Parameter.empty:
            found[q.name] = "gdjax-only parameter without a default"
        elif q.kind in positional and i < n_positional:
            found[q.name] = "gdjax-only parameter before optax's"
    return found


def _documented() -> dict[str, str]:
    """``{"name.parameter": line}`` from the table in docs/optax.md's section."""
    text = DOCS.read_text()
    section = text.split("## Signatures and state", 1)[1].split("\n## ", 1)[0]
    listed = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Za-z_][\w.]*)`", cells[0])
        params = re.findall(r"`([A-Za-z_]\w*)`", cells[1])
        for name in names:
            for param in params:
                listed[f"{name}.{param}"] = cells[2]
    return listed


def test_shared_names_are_found():
    for name in ("adam", "adamw", "scale_by_rms", "scale_by_adam", "AddNoiseState", "chain"):
        assert name in SHARED


@pytest.mark.parametrize("name", sorted(SHARED))
def test_signature_matches_optax_or_is_documented(name):
    ours, theirs = SHARED[name]
    documented = _documented()
    for param, what in differences(ours, theirs).items():
        reason = documented.get(f"{name}.{param}")
        assert reason, (
            f"gdjax.{name} differs from optax's in {param!r} ({what}); align it or list "
            f"it with its reason in docs/optax.md's 'Signatures and state' table"
        )


def test_documented_differences_are_real():
    """A documented difference that has gone away must leave the docs too."""
    for key in _documented():
        name, param = key.split(".")
        assert name in SHARED, f"docs/optax.md lists {name}, which optax and gdjax do not share"
        assert param in differences(*SHARED[name]), (
            f"docs/optax.md lists {key} as a difference, but gdjax.{name} now matches optax"
        )


def test_state_fields_match_optax():
    """Fields a user constructs or indexes: optax's come first, in optax's order."""
    for name, (ours, theirs) in SHARED.items():
        if not (inspect.isclass(ours) and hasattr(theirs, "_fields")):
            continue
        n = len(theirs._fields)
        assert ours._fields[:n] == theirs._fields, name


def test_known_optax_calls_mean_the_same():
    import jax.numpy as jnp
    import numpy as np

    params = jnp.array([1.0, -2.0, 3.0])
    grads = jnp.array([0.5, -0.5, 0.5])
    for make in (
        lambda m: m.scale_by_rms(0.9, 1e-8, 0.0, True, True),
        lambda m: m.scale_by_adam(0.9, 0.999, 1e-8, 0.0, jnp.bfloat16),
        lambda m: m.adam(0.1, 0.9, 0.999, 1e-8, 0.0, jnp.bfloat16),
        lambda m: m.adamw(0.1, 0.9, 0.999, 1e-8, 0.0, None, 0.01),
        lambda m: m.nadam(0.1, nesterov=False),
        lambda m: m.scale_by_learning_rate(0.1, flip_sign=False),
        lambda m: m.scale_by_learning_rate(lambda t: 0.1 / (1 + t), flip_sign=False),
        lambda m: m.scale_by_schedule(step_size_fn=lambda t: 0.5),
        lambda m: m.adadelta(1.0, 1.0),
    ):
        ours, theirs = make(gdjax), make(optax)
        u_ours, _ = ours.update(grads, ours.init(params), params)
        u_theirs, _ = theirs.update(grads, theirs.init(params), params)
        assert u_ours.dtype == u_theirs.dtype
        np.testing.assert_allclose(u_ours, u_theirs, rtol=1e-6)


def test_optax_state_constructors():
    import jax

    key = jax.random.key(0)
    state = gdjax.AddNoiseState(count=jax.numpy.zeros([], jax.numpy.int32), rng_key=key)
    assert state.rng_key is key
    nu = {"w": jax.numpy.ones(2)}
    assert gdjax.ScaleByRmsState(nu)[0] is nu
    assert gdjax.ScaleByRmsState(nu=nu).nu is nu


def test_adadelta_accepts_rho_one():
    """rho = 1 freezes both averages at zero: each step is the gradient (as in optax,
    TensorFlow, Keras and PyTorch, which accept it)."""
    import jax.numpy as jnp
    import numpy as np

    params = jnp.array([1.0, -2.0, 3.0])
    ours, theirs = gdjax.scale_by_adadelta(rho=1.0), optax.scale_by_adadelta(rho=1.0)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    for step in range(3):
        grads = jnp.array([0.5, -0.25, 2.0]) * (step + 1)
        u_ours, s_ours = ours.update(grads, s_ours, params)
        u_theirs, s_theirs = theirs.update(grads, s_theirs, params)
        np.testing.assert_allclose(u_ours, grads, rtol=1e-6)
        np.testing.assert_allclose(u_ours, u_theirs, rtol=1e-6)
    gdjax.adadelta(rho=1.0)  # the alias too
