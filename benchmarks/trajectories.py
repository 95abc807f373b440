"""Trajectory ensembles and learning-rate searches: gdjax against hand-written peers.

(a) 10k starts x 1000 steps on two_gaussians, every step recorded, for each of
    the texts' seven optimizers (sgd, momentum, nesterov, adagrad, rmsprop,
    adadelta, adam): gdjax.trajectories.run vs the two obvious hand-written
    optax programs, ``scan(vmap)`` (time-major, the layout gdjax records in)
    and ``vmap(scan)`` (start-major), a PyTorch batch loop, and for momentum
    and Adam a per-start Python loop in the texts' style (timed for a few
    seconds and extrapolated).
(b) The same, final points only (record_every=0).
(c) The learning-rate search of pytorch-optimizer's ``viz_optimizers.py``: 200
    rates x 100 steps on rosenbrock and rastrigin for SGD and Adam, as one
    gdjax sweep vs the same 200 runs one after another (PyTorch, as that script
    runs them; and optax optimizers built from Python floats, each jitted).
(d) The cost of recording every step (an optimizer's (a) minus its (b)) against
    writing the same bytes once, allocation and first touch included: one
    jitted XLA fill of the history's shape, and NumPy's ``np.empty`` + fill;
    and the transpose that a start-major history would need.

JAX timings are steady state (the program compiled once beforehand); all JAX
variants of an optimizer, both modes, are timed round-robin so that drift in
the (shared) machine's speed hits them alike; compile times are reported
separately, and for (c) the sweep's first call, compile included, is compared
too. gdjax's default run also tracks each start's settling time (tol=1e-3); the
``tol=None`` columns do the work the hand-written programs do.

    python benchmarks/trajectories.py           # full run (6-15 min: load), updates RESULTS.md
    python benchmarks/trajectories.py --quick   # a smoke run, prints only
    python benchmarks/trajectories.py --optimizers momentum,adam   # some optimizers
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, median_seconds, write_section

import gdjax
from gdjax import landscapes
from gdjax import trajectories as T

try:
    import torch
except ImportError:  # the PyTorch columns are skipped
    torch = None

SETTINGS = {  # the texts' seven optimizers -> (gdjax, optax, torch class and kwargs)
    "sgd": (lambda: gdjax.sgd(0.1), lambda: optax.sgd(0.1), ("SGD", {"lr": 0.1})),
    "momentum": (
        lambda: gdjax.sgd(0.02, momentum=0.9),
        lambda: optax.sgd(0.02, momentum=0.9),
        ("SGD", {"lr": 0.02, "momentum": 0.9}),
    ),
    "nesterov": (
        lambda: gdjax.sgd(0.02, momentum=0.9, nesterov=True),
        lambda: optax.sgd(0.02, momentum=0.9, nesterov=True),
        ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True}),
    ),
    "adagrad": (
        lambda: gdjax.adagrad(0.1),
        lambda: optax.adagrad(0.1),
        ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-7}),
    ),
    "rmsprop": (
        lambda: gdjax.rmsprop(0.01),
        lambda: optax.rmsprop(0.01),
        ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-8}),
    ),
    "adadelta": (
        lambda: gdjax.adadelta(1.0),
        lambda: optax.adadelta(1.0),
        ("Adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6}),
    ),
    "adam": (lambda: gdjax.adam(0.05), lambda: optax.adam(0.05), ("Adam", {"lr": 0.05})),
}
OPTAX_BY_RATE = {  # the same optax optimizers with the rate free, and SETTINGS' rate
    "sgd": (optax.sgd, 0.1),
    "momentum": (lambda rate: optax.sgd(rate, momentum=0.9), 0.02),
    "nesterov": (lambda rate: optax.sgd(rate, momentum=0.9, nesterov=True), 0.02),
    "adagrad": (optax.adagrad, 0.1),
    "rmsprop": (optax.rmsprop, 0.01),
    "adadelta": (optax.adadelta, 1.0),
    "adam": (optax.adam, 0.05),
}
TEXTS_LOOPS = ("momentum", "adam")  # the optimizers whose texts' loop is written out below


def timed(fn, repeats: int) -> float:
    fn()  # compile / warm up
    return median_seconds(fn, repeats)


def interleaved(variants: dict, repeats: int) -> dict:
    """Median seconds of each variant, timed round-robin (A B C A B C ...) after a warm-up
    call each, so that drift in the machine's speed hits all of them alike."""
    for fn in variants.values():
        fn()
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(median_seconds(fn, 1))
    return {name: statistics.median(t) for name, t in times.items()}


def blocking(fn):
    return lambda: jax.block_until_ready(fn())


# --------------------------------------------------------------------------- peers


def optax_scan_vmap(make, fn, steps: int, record: bool):
    """Hand-written, time-major: a scan over steps of a vmap over starts. ``make(rate)``
    builds the optimizer from the program's ``rate`` argument; ignoring it, ``make``
    compiles its own values in as constants."""
    value_and_grad = jax.vmap(jax.value_and_grad(fn))

    @jax.jit
    def go(x0, rate):
        optimizer = make(rate)

        def body(carry, _):
            x, s = carry
            v, g = value_and_grad(x)
            u, s = jax.vmap(optimizer.update)(g, s, x)
            return (optax.apply_updates(x, u), s), ((x, v) if record else None)

        (x, _), history = jax.lax.scan(body, (x0, jax.vmap(optimizer.init)(x0)), None, length=steps)
        return x, history

    return go


def optax_vmap_scan(optimizer, fn, steps: int, record: bool):
    """Hand-written, start-major: a vmap over starts of a scan over steps."""

    def one(x0):
        def body(carry, _):
            x, s = carry
            v, g = jax.value_and_grad(fn)(x)
            u, s = optimizer.update(g, s, x)
            return (optax.apply_updates(x, u), s), ((x, v) if record else None)

        (x, _), history = jax.lax.scan(body, (x0, optimizer.init(x0)), None, length=steps)
        return x, history

    return jax.jit(jax.vmap(one))


def two_gaussians_torch(x):
    a, b = x[:, 0], x[:, 1]
    return -2 * torch.exp(-0.5 * ((a + 1) ** 2 + (b - 1) ** 2)) - torch.exp(
        -0.5 * ((a - 1) ** 2 + (b + 1) ** 2)
    )


def torch_batch(torch_spec, starts: np.ndarray, steps: int, record: bool):
    name, kwargs = torch_spec

    def go():
        x = torch.tensor(starts, requires_grad=True)
        opt = getattr(torch.optim, name)([x], **kwargs)
        n = len(starts)
        positions = torch.empty(steps, n, 2) if record else None
        values = torch.empty(steps, n) if record else None
        for k in range(steps):
            opt.zero_grad()
            v = two_gaussians_torch(x)
            v.sum().backward()
            if record:
                positions[k] = x.detach()
                values[k] = v.detach()
            opt.step()
        return x.detach()

    return go


# The texts' style (seed 001's gd_momentum.py): Python floats, the partial derivatives
# written out, one start at a time, the path kept in a list.
def _dx(x, y):
    return 2 * (x + 1) * np.exp(-0.5 * ((x + 1) ** 2 + (y - 1) ** 2)) + (x - 1) * np.exp(
        -0.5 * ((x - 1) ** 2 + (y + 1) ** 2)
    )


def _dy(x, y):
    return (y + 1) * np.exp(-0.5 * ((x - 1) ** 2 + (y + 1) ** 2)) + 2 * (y - 1) * np.exp(
        -0.5 * ((x + 1) ** 2 + (y - 1) ** 2)
    )


def texts_loop(name: str, x: float, y: float, steps: int) -> list:
    path = []
    if name == "momentum":
        vx = vy = 0.0
        for _ in range(steps):
            path.append((x, y))
            vx = 0.9 * vx - 0.02 * _dx(x, y)
            vy = 0.9 * vy - 0.02 * _dy(x, y)
            x, y = x + vx, y + vy
        return path
    mx = my = vx = vy = 0.0
    for t in range(1, steps + 1):
        path.append((x, y))
        gx, gy = _dx(x, y), _dy(x, y)
        mx, my = 0.9 * mx + 0.1 * gx, 0.9 * my + 0.1 * gy
        vx, vy = 0.999 * vx + 0.001 * gx**2, 0.999 * vy + 0.001 * gy**2
        x -= 0.05 * (mx / (1 - 0.9**t)) / (math.sqrt(vx / (1 - 0.999**t)) + 1e-8)
        y -= 0.05 * (my / (1 - 0.9**t)) / (math.sqrt(vy / (1 - 0.999**t)) + 1e-8)
    return path


def texts_loop_seconds(
    name: str, starts: np.ndarray, steps: int, budget: float
) -> tuple[float, int]:
    """Seconds per start (the loop runs until ``budget`` seconds are spent), starts done."""
    began, done = time.perf_counter(), 0
    while done < len(starts) and (time.perf_counter() - began < budget or done == 0):
        texts_loop(name, float(starts[done, 0]), float(starts[done, 1]), steps)
        done += 1
    return (time.perf_counter() - began) / done, done


# --------------------------------------------------------------------------- (a), (b)

GDJAX, GDJAX_TOL_NONE = "gdjax run", "gdjax run, tol=None"
SCAN_VMAP, VMAP_SCAN = "optax scan(vmap)", "optax vmap(scan)"
RATE_ARGUMENT = "optax scan(vmap), rate as an argument"
TORCH, TEXTS = "PyTorch batch loop", "Python loop, texts' style"
COMPILE, LOOP_STARTS = "gdjax compile + first run", "texts' loop starts"
MODES = ("recorded", "final")  # every step recorded; final points only (record_every=0)


def jax_variants(name: str, starts: np.ndarray, steps: int, record: bool) -> dict:
    """gdjax's run (with and without settling times) and the two hand-written programs."""
    ours, theirs, _ = SETTINGS[name]
    optimizer, every, fn = ours(), int(record), landscapes.two_gaussians.fn
    gx = jax.device_put(starts)
    scan_vmap = optax_scan_vmap(lambda _: theirs(), fn, steps, record)
    by_rate, rate = OPTAX_BY_RATE[name]
    rate_argument = optax_scan_vmap(by_rate, fn, steps, record)
    vmap_scan = optax_vmap_scan(theirs(), fn, steps, record)

    def ours_run(tol):
        land = landscapes.two_gaussians
        return blocking(lambda: T.run(optimizer, land, starts, steps, every, tol=tol))

    return {
        GDJAX: ours_run(1e-3),
        GDJAX_TOL_NONE: ours_run(None),
        SCAN_VMAP: blocking(lambda: scan_vmap(gx, None)),
        RATE_ARGUMENT: blocking(lambda: rate_argument(gx, jnp.float32(rate))),
        VMAP_SCAN: blocking(lambda: vmap_scan(gx)),
    }


def compile_seconds(name: str, starts: np.ndarray, steps: int, record: bool) -> float:
    """gdjax's first call: compile and run."""
    began = time.perf_counter()
    optimizer = SETTINGS[name][0]()
    jax.block_until_ready(
        T.run(optimizer, landscapes.two_gaussians, starts, steps, int(record)).final
    )
    return time.perf_counter() - began


def ensemble(name: str, n: int, steps: int, repeats: int, budget: float) -> dict:
    """Both modes of one optimizer, their JAX variants timed round-robin together.

    Returns ``{"recorded": row, "final": row}``, each row ``{column: seconds}``.
    """
    starts = np.random.default_rng(0).uniform(-2, 2, (n, 2)).astype(np.float32)
    compiled = {mode: compile_seconds(name, starts, steps, mode == "recorded") for mode in MODES}
    variants = {
        (mode, column): fn
        for mode in MODES
        for column, fn in jax_variants(name, starts, steps, mode == "recorded").items()
    }
    times = interleaved(variants, repeats)
    rows = {mode: {COMPILE: compiled[mode]} for mode in MODES}
    for (mode, column), seconds in times.items():
        rows[mode][column] = seconds
    if torch is not None:
        for mode in MODES:
            spec = SETTINGS[name][2]
            rows[mode][TORCH] = timed(torch_batch(spec, starts, steps, mode == "recorded"), 1)
    if name in TEXTS_LOOPS:
        per_start, done = texts_loop_seconds(name, starts, steps, budget)
        rows["recorded"][TEXTS] = per_start * n  # extrapolated from `done` starts
        rows["recorded"][LOOP_STARTS] = done
    return rows


def write_once(n: int, steps: int, repeats: int) -> dict:
    """The cost of gdjax's history bytes written once, allocation and first touch included.

    The same ``(steps + 1, n, 2)`` positions and ``(steps + 1, n)`` values, float32:
    by one jitted XLA program (a fill from a traced scalar, so nothing is folded at
    compile time) and by NumPy (``np.empty`` then a fill); and the transpose of
    such a history to start-major, which a time-major history avoids.
    """
    shapes = ((steps + 1, n, 2), (steps + 1, n))
    fill = jax.jit(lambda v: tuple(jnp.full(shape, v, jnp.float32) for shape in shapes))
    history = jax.block_until_ready(fill(jnp.float32(1.0))[0])
    to_start_major = jax.jit(lambda p: jnp.transpose(p, (1, 0, 2)))

    def numpy_fill():
        for shape in shapes:
            np.empty(shape, np.float32).fill(1.0)

    return interleaved(
        {
            "XLA: one jitted fill of the history's bytes": blocking(lambda: fill(jnp.float32(1.0))),
            "NumPy: np.empty + fill of the same bytes": numpy_fill,
            "transpose of a time-major history to start-major": blocking(
                lambda: to_start_major(history)
            ),
        },
        repeats,
    )


# --------------------------------------------------------------------------- (c)


def rosenbrock_torch(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def rastrigin_torch(x):
    return 20 + torch.sum(x**2 - 10 * torch.cos(2 * math.pi * x))


SEARCH = {  # landscape -> (start used by viz_optimizers.py, torch function)
    "rosenbrock": ((-2.0, 2.0), rosenbrock_torch),
    "rastrigin": ((-2.0, 3.5), rastrigin_torch),
}
OPTIMIZER_FACTORIES = {
    "sgd": (gdjax.sgd, optax.sgd, "SGD"),
    "adam": (gdjax.adam, optax.adam, "Adam"),
}


def search(opt_name: str, land_name: str, rates: np.ndarray, steps: int, repeats: int) -> dict:
    ours, theirs, torch_name = OPTIMIZER_FACTORIES[opt_name]
    start, torch_fn = SEARCH[land_name]
    land = landscapes.get(land_name)
    starts = np.asarray([start], np.float32)

    def make(learning_rate):
        return ours(learning_rate)

    rows = {}
    began = time.perf_counter()
    # As viz_optimizers.py, the search ranks by final value: no settling times (tol=None).
    jax.block_until_ready(
        T.sweep(make, {"learning_rate": rates}, land, starts, steps, tol=None).final
    )
    rows["gdjax sweep, first call (compile included)"] = time.perf_counter() - began
    rows["gdjax sweep"] = timed(
        blocking(
            lambda: T.sweep(make, {"learning_rate": rates}, land, starts, steps, tol=None).final
        ),
        repeats,
    )

    def optax_sequential():
        for lr in rates:  # a new optimizer from a Python float: a new program each time
            optimizer = theirs(float(lr))
            go = optax_scan_vmap(lambda _, o=optimizer: o, land.fn, steps, record=False)
            jax.block_until_ready(go(jnp.asarray(starts), None))

    began = time.perf_counter()
    optax_sequential()
    rows[f"optax, {len(rates)} runs one after another (each compiled)"] = (
        time.perf_counter() - began
    )
    if torch is not None:

        def torch_sequential():
            for lr in rates:
                x = torch.tensor(start, requires_grad=True)
                opt = getattr(torch.optim, torch_name)([x], lr=float(lr))
                for _ in range(steps):
                    opt.zero_grad()
                    torch_fn(x).backward()
                    opt.step()

        rows[f"PyTorch, {len(rates)} runs one after another"] = timed(torch_sequential, 1)
    return rows


# --------------------------------------------------------------------------- report


def table(title: str, rows: dict, reference: str) -> str:
    lines = [f"**{title}**", "", f"| variant | seconds | {reference} speed-up |", "|---|---:|---:|"]
    base = rows[reference]
    for variant, seconds in rows.items():
        lines.append(f"| {variant} | {seconds:.4g} | {seconds / base:.3g}x |")
    return "\n".join(lines)


def best_ratio(row: dict) -> float:
    """The faster hand-written program's seconds / gdjax's doing the same work (tol=None):
    at least 1 when gdjax is at least as fast as both."""
    return min(row[SCAN_VMAP], row[VMAP_SCAN]) / row[GDJAX_TOL_NONE]


def mode_table(title: str, rows: dict, mode: str) -> str:
    """One row per optimizer: seconds of every variant, and the ratio that decides."""
    columns = [GDJAX, GDJAX_TOL_NONE, SCAN_VMAP, VMAP_SCAN]
    head_extra = [RATE_ARGUMENT]
    extra = [c for c in (COMPILE, TORCH, TEXTS) if any(c in r[mode] for r in rows.values())]
    head = ["optimizer", *columns, "best hand-written / gdjax tol=None", *head_extra, *extra]
    rule = "|---" + "|---:" * (len(head) - 1) + "|"
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", rule]
    for name, by_mode in rows.items():
        row = by_mode[mode]
        cells = [f"{row[c]:.4g}" for c in columns] + [f"**{best_ratio(row):.3g}x**"]
        cells += [f"{row[c]:.4g}" for c in head_extra]
        for c in extra:
            cell = f"{row[c]:.4g}" if c in row else "-"
            if c == TEXTS and c in row:
                cell += f" (from {row[LOOP_STARTS]} starts)"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def recording_table(title: str, rows: dict, once: dict) -> str:
    """What recording every step costs gdjax against writing the same bytes once."""
    reference = once["XLA: one jitted fill of the history's bytes"]
    lines = [f"**{title}**", "", "| what | seconds | / one XLA fill |", "|---|---:|---:|"]
    for what, seconds in once.items():
        lines.append(f"| {what} | {seconds:.4g} | {seconds / reference:.3g}x |")
    for name, by_mode in rows.items():
        cost = by_mode["recorded"][GDJAX_TOL_NONE] - by_mode["final"][GDJAX_TOL_NONE]
        lines.append(
            f"| gdjax {name}: recording every step (recorded - final, tol=None) "
            f"| {cost:.4g} | {cost / reference:.3g}x |"
        )
    return "\n".join(lines)


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes), as `uptime` shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ensembles(names: list[str], n: int, steps: int, args) -> list[str]:
    """(a), (b) and (d): every optimizer in both modes, and the cost of recording."""
    rows = {}
    for name in names:
        rows[name] = ensemble(name, n, steps, args.repeats, args.budget)
        print(name, {m: {k: round(v, 4) for k, v in r.items()} for m, r in rows[name].items()})
    once = write_once(n, steps, args.repeats)
    return [
        mode_table(f"(a) {n:,} starts x {steps} steps, every step recorded", rows, "recorded"),
        mode_table(f"(b) {n:,} starts x {steps} steps, final points only", rows, "final"),
        recording_table(
            f"(d) the cost of recording {steps + 1} x {n:,} points and values", rows, once
        ),
    ]


def searches(rates_n: int, steps: int, repeats: int) -> list[str]:
    """(c): the learning-rate search of pytorch-optimizer's script."""
    rates = np.geomspace(1e-4, 1.0, rates_n).astype(np.float32)
    sections = []
    for opt_name in OPTIMIZER_FACTORIES:
        for land_name in SEARCH:
            rows = search(opt_name, land_name, rates, steps, repeats)
            title = f"(c) {opt_name} on {land_name}: {rates_n} learning rates x {steps} steps"
            sections.append(table(title, rows, "gdjax sweep"))
            print(sections[-1] + "\n", flush=True)
    return sections


HEADER = (
    "## Trajectory ensembles and searches (`benchmarks/trajectories.py`)\n\n"
    "Machine: {machine}. Load average (1, 5, 15 min) before: {before}; after: {after} "
    "(the machine is shared: other jobs ran alongside).\n\n"
    "JAX columns are steady state, medians of {repeats} round-robin runs (every variant "
    "of an optimizer, both modes, in turn); compile times are in their own column. "
    "gdjax's default run also tracks every start's settling time (tol=1e-3); the tol=None "
    "column does the hand-written programs' work, and the bold ratio is the faster "
    "hand-written program's seconds over it (at least 1: gdjax is at least as fast as "
    "both). In (c), speed-up = the variant's seconds / the gdjax row's."
)


FINDINGS = (
    "What the compiled programs show (`jax.jit(f).lower(...).compile().as_text()`, XLA on "
    "CPU). (1) gdjax used to skip the step after its last record with a `lax.cond` in the "
    "scan body: every iteration ran a `conditional` whose branch held the update, with the "
    "gradient written out before it and nothing fused across it, while the hand-written "
    "`scan(vmap)` body is straight-line (old vs new, timed together: up to 15% slower, e.g. "
    "sgd 0.436 vs 0.381 s on a loaded machine; within noise for others). Recording every "
    "step, gdjax now takes that step and drops it (`_unless_last`), and its loop body has "
    "the hand-written `scan(vmap)`'s kernels: a copy of x, two exp fusions, two "
    "dynamic-update-slices of one row into the time-major buffers (in place), two update "
    "fusions. (2) `vmap(scan)` runs the same time-major loop and then copies its history "
    "to start-major (a 120 MB layout-changing copy after the loop): it loses for every "
    "optimizer but Adam. (3) Adam: `scan(vmap)` with `vmap(init)` keeps one step count per "
    "start, so `b1**t` and `b2**t` are powers over 10,000 elements every step; gdjax (which "
    "reads from the jaxprs that the count does not depend on the start, see (7)) and "
    "`vmap(scan)` keep one scalar count. (4) Recording: XLA on CPU zero-fills the scan's "
    "output buffers before the "
    "loop (JAX's `lax.empty` lowers to a zero broadcast there; the `AllocateBuffer` "
    "custom call has no CPU implementation), then writes each row: the history's bytes "
    "are written twice, hence (d)'s ratio of 1.2-1.6 to one fill; the hand-written "
    "programs pay the same. (5) Unrolling the scan (2, 4, 8 steps) made it slower (final "
    "points, momentum: 0.033 s unrolled 1; 0.054, 0.077, 0.086 s). Outputs: bitwise "
    "identical to the previous implementation for sgd, momentum, nesterov, adagrad, "
    "rmsprop and adadelta (every mode, with bound, tol, record_state, record_every=7) and "
    "for sweeps; Adam's recorded runs differ in rounding (XLA contracts `b2 * v + (1 - "
    "b2) * g**2` into a fused multiply-add with the other operand order); over 10,000 x "
    "1000 steps 7% of the recorded coordinates differ, by at most 0.023, and some "
    "settling times with them; diverged flags are equal. (6) Before the gradient was "
    "written out (9), final points sat at 0.95-1.01 and moved between runs: timed bare in "
    "three processes, gdjax's compiled program and the hand-written `scan(vmap)` alternated "
    "in which was faster (momentum 24.08, 23.57, 23.44 ms against 23.67, 23.30, 23.59), and "
    "`run` adds about 0.2 ms of Python per call. An earlier version of this note put that "
    "gap down to hyperparameters as data; a hand-written program given every "
    "hyperparameter as an argument (the momentum factor too) ran as fast as with them "
    "compiled in (23.08 against 23.29 ms), so it was not that. "
    "(7) The carry is "
    "coordinate-major: gdjax runs a scan over steps of a vmap over starts whose carry keeps "
    "the start axis last, (D, N), each coordinate of every start one contiguous row "
    "(vmapping the whole scan, as before, put the start axis first: scan's batching rule "
    "moves it there). Which state leaves are per start (and which, like Adam's count, are "
    "kept once) is read from init's and one step's jaxprs, a conservative dependence pass "
    "run to its fixed point (a line search's step and value stay per start). Against the "
    "previous start-major gdjax, timed together in side runs: 0.79-0.85x the time recording "
    "every step, for all seven; 0.70-1.03x for final points. Two details decided it: the "
    "gradient is taken as the gradient of the values' sum over starts (vmapping `grad` "
    "gave it the start axis first, and XLA transposed it back at every step: 1.16-1.84x "
    "the start-major time for final points); and each row's records are written "
    "start-major into the time-major history inside the loop, which beat a coordinate-major "
    "history transposed after the loop (1.10-1.15x the start-major time). Outputs: the "
    "integers (diverged flags, settling steps) equal to the previous version's over 734 "
    "arrays of 113 cases (every option, sweeps, noise keys, a Polyak step), the floats within "
    "1.4e-6 relative (XLA's order of fused multiply-adds). (8) `run` used to put the starts "
    "on the device (`jax.device_put`) before calling its program; given such a freshly put "
    "array, the 23 ms program (sgd, final points) took 0.45 ms longer than given the NumPy "
    "array, which the call transfers itself (timed together, 40 rounds; we did not find "
    "why). `run` now passes the NumPy array. (9) Writing the gradient out. Both "
    "coordinates of the two-Gaussians gradient need both exponentials; fused into the "
    "update, XLA computed them for every coordinate of every start (a pad per coordinate, "
    "each evaluated from all the pieces it needs). Where the gradient is assembled that "
    "way around at least two transcendentals that several coordinates share (read from "
    "the gradient's jaxpr: which pads each transcendental feeds), gdjax's plain steps "
    "(final points, and the steps between records) take the gradient row by row and "
    "write it out behind `lax.optimization_barrier`: XLA computes the rows in one kernel, "
    "the shared exponentials once per start. Timed together with the version without it "
    "(side runs, final points): two_gaussians 0.73-0.82x for six optimizers, Adam 1.03x; "
    "recording every 10th step, sgd 0.64x. The rule is narrow because the write costs: "
    "1.03-1.5x on the polynomial landscapes (7x for sgd on a 50-D quadratic), 0.96-1.08x "
    "with one shared exponential or costly pieces that no two coordinates share, up to 2x "
    "for a function of the whole vector (a 50-D Gaussian bowl); those stay fused. (Adam on "
    "Rastrigin gained 0.48x written out, by another effect: XLA recomputed its gradient in "
    "each of Adam's fusions. The rule leaves it fused.) Recording every step it lost on "
    "two_gaussians (1.02-1.08x), so the recording step keeps the gradient fused."
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no RESULTS.md")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--budget", type=float, default=3.0, help="seconds for the Python loop")
    known = ", ".join(SETTINGS)
    parser.add_argument(
        "--optimizers", default=",".join(SETTINGS), help=f"comma-separated: {known}"
    )
    args = parser.parse_args(argv)
    names = (args.optimizers or ("momentum,adam" if args.quick else ",".join(SETTINGS))).split(",")
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        parser.error(f"--optimizers: unknown {unknown}; known: {known}")
    n, steps, rates_n, search_steps = 10_000, 1000, 200, 100
    if args.quick:
        n, steps, rates_n, search_steps = 64, 20, 8, 10
        args.repeats, args.budget = 1, 0.05
    before = load()
    sections = ensembles(names, n, steps, args)
    print("\n\n".join(sections) + "\n", flush=True)
    sections += searches(rates_n, search_steps, args.repeats)
    if not args.quick:
        header = HEADER.format(machine=machine(), before=before, after=load(), repeats=args.repeats)
        body = "\n\n".join([header, *sections[:3], FINDINGS, *sections[3:]])
        write_section("trajectories", body)


if __name__ == "__main__":
    main()
