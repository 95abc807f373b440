"""Shared pieces of the tests: a nested pytree of params, a loss, a scanned training run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import monitoring


def nested_params(dtype=jnp.float32) -> dict:
    """A dict holding a dict, a list (of an array and a dict) and a scalar leaf."""
    k = jax.random.split(jax.random.key(42), 4)
    return {
        "dense": {
            "w": jax.random.normal(k[0], (4, 3), dtype),
            "b": jnp.linspace(-1.0, 1.0, 3, dtype=dtype),
        },
        "blocks": [
            jax.random.normal(k[1], (5,), dtype),
            {"gamma": jax.random.normal(k[2], (2, 2), dtype)},
        ],
        "scale": jnp.asarray(0.7, dtype),
    }


def loss(params: Any, xp: Any = jnp) -> Any:
    """A smooth non-convex loss whose gradients differ in size from leaf to leaf.

    ``xp`` is the array namespace (``jnp`` or ``torch``), so the PyTorch parity
    tests evaluate the very same function.
    """
    total = 0.0
    for i, x in enumerate(jax.tree.leaves(params)):
        c = 0.5 + i
        total = total + xp.sum(c * x**2 + 0.1 * x**4 + 0.3 * xp.sin(3 * x))
    return total


def convex_loss(params: Any, xp: Any = jnp) -> Any:
    """A convex loss (curvatures 1..n), for long runs against other libraries: rounding
    differences shrink instead of growing."""
    total = 0.0
    for i, x in enumerate(jax.tree.leaves(params)):
        total = total + xp.sum(0.5 * (1 + i) * (x - 0.3) ** 2 + 0.05 * x**4)
    return total


def run(
    optimizer: Any,
    params: Any,
    steps: int = 300,
    loss_fn: Callable = loss,
    pass_value: bool = False,
    apply: Callable | None = None,
    compiler_options: dict | None = None,
) -> tuple[Any, Any]:
    """``steps`` steps of ``optimizer`` on ``loss_fn`` as one jitted scan; returns (params, state).

    ``apply`` adds updates to params (default: gdjax.apply_updates); ``compiler_options``
    go to ``jax.jit`` (`DEFAULT_COMPILER` for a bit-for-bit comparison of two programs).
    """
    import gdjax

    apply = apply or gdjax.apply_updates

    def step(carry, _):
        p, s = carry
        value, g = jax.value_and_grad(loss_fn)(p)
        extra = {"value": value} if pass_value else {}
        u, s = optimizer.update(g, s, p, **extra)
        return (apply(p, u), s), None

    def go(p):
        (p, s), _ = jax.lax.scan(step, (p, optimizer.init(p)), None, length=steps)
        return p, s

    return jax.jit(go, compiler_options=compiler_options)(params)


def assert_trees_close(actual: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        wide = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(e) else np.float64
        np.testing.assert_allclose(np.asarray(a, wide), np.asarray(e, wide), rtol=rtol, atol=atol)


def trees_differ(a: Any, b: Any) -> bool:
    """Whether two trees of the same structure differ somewhere (so a sweep made more than
    one run, or a setting changed something)."""
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return any(not np.allclose(x, y) for x, y in pairs)


def assert_moved(before: Any, after: Any) -> None:
    """Guards parity tests against passing vacuously: the run must have changed every leaf."""
    for b, a in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True):
        assert not np.allclose(np.asarray(b), np.asarray(a)), "a leaf did not move"


class CompileCounter:
    """Counts XLA compilations (every backend compile, eager ops' included)."""

    def __init__(self) -> None:
        self.count = 0
        monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, name: str, duration: float, **kwargs: Any) -> None:
        if name == "/jax/core/compile/backend_compile_duration":
            self.count += 1


COMPILES = CompileCounter()
"""One counter for the whole suite: listeners cannot be unregistered."""


# --------------------------------------------------------------------------- hypothesis
# Strategies shared by tests/test_properties.py and tests/test_hostile.py.

FLOAT_DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)


def _hypothesis():
    # Imported here so that the modules that only need the helpers above do not
    # pay for hypothesis.
    from hypothesis import strategies as st

    return st


def float_arrays(dtypes=FLOAT_DTYPES, max_dims: int = 3, max_side: int = 3):
    """A JAX array of random normal values: 0 to ``max_dims`` axes of 0 to ``max_side``
    (zero-size shapes such as (0,) and (2, 0) included), in one of ``dtypes``."""
    st = _hypothesis()

    @st.composite
    def draw_array(draw):
        shape = tuple(draw(st.lists(st.integers(0, max_side), max_size=max_dims)))
        dtype = draw(st.sampled_from(dtypes))
        seed = draw(st.integers(0, 2**16))
        values = np.random.default_rng(seed).normal(size=shape)
        return jnp.asarray(values, dtype)

    return draw_array()


def containers(children, max_size: int = 3):
    """Dicts, lists and tuples of ``children``: the containers of a pytree."""
    st = _hypothesis()
    return st.one_of(
        st.dictionaries(st.text("abcdef", min_size=1, max_size=3), children, max_size=max_size),
        st.lists(children, max_size=max_size),
        st.tuples(children, children),
    )


def pytrees(leaves=None, max_leaves: int = 6):
    """Nested dict/list/tuple pytrees of ``leaves`` (default: `float_arrays`)."""
    st = _hypothesis()
    return st.recursive(
        float_arrays() if leaves is None else leaves, containers, max_leaves=max_leaves
    )


def hostile_leaves():
    """What a params tree may hold besides float32 arrays: half-precision and 0-d
    arrays, zero-size arrays, NumPy float64 arrays (JAX makes them float32 unless
    x64 is enabled), NumPy scalars, Python floats, and ``None`` (an empty subtree)."""
    st = _hypothesis()
    numpy64 = st.builds(
        lambda shape, seed: np.random.default_rng(seed).normal(size=shape),
        st.lists(st.integers(0, 3), max_size=2).map(tuple),
        st.integers(0, 2**16),
    )
    return st.one_of(
        float_arrays(),
        float_arrays(max_dims=0),
        numpy64,
        st.floats(-3, 3, allow_nan=False).map(np.float32),
        st.floats(-3, 3, allow_nan=False),
        st.none(),
        st.sampled_from([{}, [], ()]),
    )


def hostile_pytrees(max_leaves: int = 8):
    """Empty trees, bare scalars, and nested mixes of `hostile_leaves`."""
    st = _hypothesis()
    return st.one_of(
        st.sampled_from([{}, [], (), None, {"a": None}, [None, {}], {"a": {"b": ()}}]),
        hostile_leaves(),
        pytrees(hostile_leaves(), max_leaves=max_leaves),
    )


def grads_like(params: Any, seed: int) -> Any:
    """Random normal gradients with the structure, shapes and leaf types of ``params``
    (a Python float gets a Python float, a NumPy array a NumPy array)."""
    rng = np.random.default_rng(seed)

    def like(x):
        if isinstance(x, float):
            return float(rng.normal())
        if isinstance(x, (np.ndarray, np.generic)):
            return np.asarray(rng.normal(size=np.shape(x)), x.dtype)[()]
        return jnp.asarray(rng.normal(size=x.shape), x.dtype)

    return jax.tree.map(like, params)


def _optax():
    import optax

    return optax


def _gdjax():
    import gdjax

    return gdjax


# Every optimizer alias of gdjax, with the optax optimizer of the same name and
# arguments (gdjax promises optax's numbers for those, DESIGN §3).
OPTIMIZER_PAIRS: dict[str, tuple[Callable, Callable]] = {
    "sgd": (lambda: _gdjax().sgd(0.1), lambda: _optax().sgd(0.1)),
    "momentum": (
        lambda: _gdjax().sgd(0.1, momentum=0.9),
        lambda: _optax().sgd(0.1, momentum=0.9),
    ),
    "nesterov": (
        lambda: _gdjax().sgd(0.1, momentum=0.9, nesterov=True),
        lambda: _optax().sgd(0.1, momentum=0.9, nesterov=True),
    ),
    "adagrad": (lambda: _gdjax().adagrad(0.1), lambda: _optax().adagrad(0.1)),
    "rmsprop": (lambda: _gdjax().rmsprop(0.01), lambda: _optax().rmsprop(0.01)),
    "rmsprop-centered": (
        lambda: _gdjax().rmsprop(0.01, centered=True),
        lambda: _optax().rmsprop(0.01, centered=True),
    ),
    "rmsprop-momentum": (
        lambda: _gdjax().rmsprop(0.01, momentum=0.9),
        lambda: _optax().rmsprop(0.01, momentum=0.9),
    ),
    "rmsprop-nesterov": (
        lambda: _gdjax().rmsprop(0.01, momentum=0.9, nesterov=True),
        lambda: _optax().rmsprop(0.01, momentum=0.9, nesterov=True),
    ),
    "adadelta": (lambda: _gdjax().adadelta(1.0), lambda: _optax().adadelta(1.0)),
    "adam": (lambda: _gdjax().adam(0.01), lambda: _optax().adam(0.01)),
    "adam-nesterov": (
        lambda: _gdjax().adam(0.01, nesterov=True),
        lambda: _optax().adam(0.01, nesterov=True),
    ),
    "nadam": (lambda: _gdjax().nadam(0.01), lambda: _optax().nadam(0.01)),
    "adamw": (lambda: _gdjax().adamw(0.01), lambda: _optax().adamw(0.01)),
    "adamax": (lambda: _gdjax().adamax(0.01), lambda: _optax().adamax(0.01)),
    "amsgrad": (lambda: _gdjax().amsgrad(0.01), lambda: _optax().amsgrad(0.01)),
    "noisy_sgd": (
        lambda: _gdjax().noisy_sgd(0.01, key=0),
        lambda: _optax().noisy_sgd(0.01, key=jax.random.key(0)),
    ),
}


ROOT = Path(__file__).resolve().parents[1]


DEFAULT_COMPILER = {"xla_backend_optimization_level": 3, "xla_cpu_use_fusion_emitters": True}
"""``jax.jit(..., compiler_options=DEFAULT_COMPILER)``: XLA's default CPU compilation, for
the tests that claim two different programs agree bit for bit or to a few roundings
(tests/conftest.py compiles the rest of the suite with cheaper settings)."""


def child_env(devices: int | None = None) -> dict[str, str]:
    """The environment of a child Python process: this one's (the suite's compiler flags
    included), the repository on its path, and ``devices`` host CPU devices if given."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if devices is not None:
        flags = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
        env.update(XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu")
    return env


def start_python(*args: str, devices: int | None = None, cwd: Path = ROOT) -> subprocess.Popen:
    """``python *args`` from ``cwd`` (the repository root by default), with ``devices``
    host CPU devices (XLA's flag, which must be set before JAX starts, hence a new
    process)."""
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(devices),
        cwd=cwd,
    )


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    """The process's stdout, once it has exited with 0 (else its stderr's tail fails the test)."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out


def run_python(*args: str, devices: int | None = None, timeout: float = 300) -> str:
    """`start_python` then `finish`: the stdout of a successful run."""
    return finish(start_python(*args, devices=devices), timeout)
