"""Trajectory ensembles and learning-rate searches: gdjax against hand-written peers.

(a) 10k starts x 1000 steps on two_gaussians, Adam and momentum, every step
    recorded: gdjax.trajectories.run vs a hand-written optax ``scan(vmap)``
    (time-major, the layout gdjax records in), a hand-written optax
    ``vmap(scan)`` (start-major, the naive one), a PyTorch batch loop, and a
    per-start Python loop in the texts' style (timed for a few seconds and
    extrapolated). The cost of turning gdjax's time-major history start-major
    afterwards is timed too.
(b) 100k starts x 1000 steps, final points only.
(c) The learning-rate search of pytorch-optimizer's ``viz_optimizers.py``: 200
    rates x 100 steps on rosenbrock and rastrigin for SGD and Adam, as one
    gdjax sweep vs the same 200 runs one after another (PyTorch, as that script
    runs them; and optax optimizers built from Python floats, each jitted).

JAX timings are steady state (the program compiled once beforehand), the JAX
variants of a table timed round-robin so that drift hits them alike; compile
times are reported separately, and for (c) the sweep's first call, compile
included, is compared too. gdjax's default run also tracks each start's
settling time (tol=1e-3); the ``tol=None`` rows do the work the hand-written
programs do.

    python benchmarks/trajectories.py           # full run, updates RESULTS.md
    python benchmarks/trajectories.py --quick   # a smoke run, prints only
"""

from __future__ import annotations

import argparse
import math
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

SETTINGS = {  # optimizer -> (gdjax, optax, torch class and kwargs, the texts' loop)
    "adam": (lambda: gdjax.adam(0.05), lambda: optax.adam(0.05), ("Adam", {"lr": 0.05})),
    "momentum": (
        lambda: gdjax.sgd(0.02, momentum=0.9),
        lambda: optax.sgd(0.02, momentum=0.9),
        ("SGD", {"lr": 0.02, "momentum": 0.9}),
    ),
}


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


def optax_scan_vmap(optimizer, fn, steps: int, record: bool):
    """Hand-written, time-major: a scan over steps of a vmap over starts."""
    value_and_grad = jax.vmap(jax.value_and_grad(fn))

    @jax.jit
    def go(x0):
        def body(carry, _):
            x, s = carry
            v, g = value_and_grad(x)
            u, s = jax.vmap(optimizer.update)(g, s, x)
            return (optax.apply_updates(x, u), s), ((x, v) if record else None)

        (x, _), history = jax.lax.scan(body, (x0, jax.vmap(optimizer.init)(x0)), None, length=steps)
        return x, history

    return go


def optax_vmap_scan(optimizer, fn, steps: int):
    """Hand-written, start-major: a vmap over starts of a scan over steps."""

    def one(x0):
        def body(carry, _):
            x, s = carry
            v, g = jax.value_and_grad(fn)(x)
            u, s = optimizer.update(g, s, x)
            return (optax.apply_updates(x, u), s), (x, v)

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


def ensemble(name: str, n: int, steps: int, repeats: int, budget: float) -> dict:
    ours, theirs, torch_spec = SETTINGS[name]
    fn = landscapes.two_gaussians.fn
    starts = np.random.default_rng(0).uniform(-2, 2, (n, 2)).astype(np.float32)
    gx = jax.device_put(starts)
    optimizer = ours()
    rows = {}

    began = time.perf_counter()
    jax.block_until_ready(T.run(optimizer, landscapes.two_gaussians, starts, steps).final)
    rows["gdjax compile + first run"] = time.perf_counter() - began
    result = T.run(optimizer, landscapes.two_gaussians, starts, steps)
    to_start_major = jax.jit(lambda p: jnp.transpose(p, (1, 0, 2)))
    scan_vmap = optax_scan_vmap(theirs(), fn, steps, record=True)
    vmap_scan = optax_vmap_scan(theirs(), fn, steps)
    rows.update(
        interleaved(
            {
                "gdjax run": blocking(
                    lambda: T.run(optimizer, landscapes.two_gaussians, starts, steps)
                ),
                "gdjax run, tol=None (no settling times)": blocking(
                    lambda: T.run(optimizer, landscapes.two_gaussians, starts, steps, tol=None)
                ),
                "transpose of gdjax's history to start-major": blocking(
                    lambda: to_start_major(result.positions)
                ),
                "optax scan(vmap), hand-written": blocking(lambda: scan_vmap(gx)),
                "optax vmap(scan), hand-written": blocking(lambda: vmap_scan(gx)),
            },
            repeats,
        )
    )
    if torch is not None:
        rows["PyTorch batch loop"] = timed(torch_batch(torch_spec, starts, steps, True), 1)
    per_start, done = texts_loop_seconds(name, starts, steps, budget)
    rows[f"Python loop, texts' style (extrapolated from {done} starts)"] = per_start * n
    return rows


def final_only(name: str, n: int, steps: int, repeats: int) -> dict:
    ours, theirs, torch_spec = SETTINGS[name]
    starts = np.random.default_rng(1).uniform(-2, 2, (n, 2)).astype(np.float32)
    gx = jax.device_put(starts)
    optimizer = ours()
    scan_vmap = optax_scan_vmap(theirs(), landscapes.two_gaussians.fn, steps, record=False)
    rows = interleaved(
        {
            "gdjax run (record_every=0)": blocking(
                lambda: T.run(optimizer, landscapes.two_gaussians, starts, steps, record_every=0)
            ),
            "gdjax run (record_every=0), tol=None": blocking(
                lambda: T.run(
                    optimizer, landscapes.two_gaussians, starts, steps, record_every=0, tol=None
                )
            ),
            "optax scan(vmap), hand-written": blocking(lambda: scan_vmap(gx)),
        },
        repeats,
    )
    if torch is not None:
        rows["PyTorch batch loop"] = timed(torch_batch(torch_spec, starts, steps, False), 1)
    return rows


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
            go = optax_scan_vmap(theirs(float(lr)), land.fn, steps, record=False)
            jax.block_until_ready(go(jnp.asarray(starts)))

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no RESULTS.md")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--budget", type=float, default=5.0, help="seconds for the Python loop")
    args = parser.parse_args(argv)
    n, steps, n_final, rates_n, search_steps = 10_000, 1000, 100_000, 200, 100
    if args.quick:
        n, steps, n_final, rates_n, search_steps = 64, 20, 128, 8, 10
        args.repeats, args.budget = 1, 0.05

    sections = []
    for name in SETTINGS:
        rows = ensemble(name, n, steps, args.repeats, args.budget)
        sections.append(
            table(
                f"(a) {name}: {n:,} starts x {steps} steps, every step recorded", rows, "gdjax run"
            )
        )
        print(sections[-1] + "\n", flush=True)
    for name in SETTINGS:
        rows = final_only(name, n_final, steps, args.repeats)
        sections.append(
            table(
                f"(b) {name}: {n_final:,} starts x {steps} steps, final points only",
                rows,
                "gdjax run (record_every=0)",
            )
        )
        print(sections[-1] + "\n", flush=True)
    rates = np.geomspace(1e-4, 1.0, rates_n).astype(np.float32)
    for opt_name in OPTIMIZER_FACTORIES:
        for land_name in SEARCH:
            rows = search(opt_name, land_name, rates, search_steps, args.repeats)
            title = (
                f"(c) {opt_name} on {land_name}: {rates_n} learning rates x {search_steps} steps"
            )
            sections.append(table(title, rows, "gdjax sweep"))
            print(sections[-1] + "\n", flush=True)
    if not args.quick:
        body = (
            "## Trajectory ensembles and searches (`benchmarks/trajectories.py`)\n\n"
            f"Machine: {machine()}.\n\n"
            "Speed-up = the variant's seconds / the gdjax row's (above 1: gdjax is faster). "
            f"JAX rows are steady state, medians of {args.repeats} round-robin runs; compile "
            "times are in their own rows. gdjax's default run also tracks every start's "
            "settling time (tol=1e-3); the tol=None rows do the hand-written programs' work."
            "\n\n" + "\n\n".join(sections)
        )
        write_section("trajectories", body)


if __name__ == "__main__":
    main()
