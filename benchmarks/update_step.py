"""The jitted update + apply step of gdjax vs optax, side by side in one process.

For sgd, momentum, nesterov, adagrad, rmsprop, adadelta and adam, at 1, 100 and
1000 leaves holding about 4M float32 params in all, this times

* the step: a user's ``jax.jit`` of ``update`` + ``apply_updates`` with donated
  params and state, median over repeated runs of ``--steps`` steps, gdjax and
  optax interleaved so that drift in the machine's speed hits both alike;
* the compile: tracing, lowering and compiling that step from a cleared cache,
  gdjax and optax interleaved;
* whether the two compiled programs are the same: their optimized HLO
  instructions, with the source-location metadata stripped, compared line by
  line;
* an A/A control: optax timed against a second optax instance of the same
  program, interleaved the same way. Its spread around 1.0 is the noise floor
  of this machine; a gdjax/optax ratio inside it is not a difference.

It prints the table with the ratios gdjax/optax (targets: step <= 1.05,
compile <= 1.1) and writes it to RESULTS.md. ``--matrices`` times the wider
family (lion, lamb, adafactor, muon) on matrix leaves, in a section of its own.

    python benchmarks/update_step.py            # full run, updates RESULTS.md
    python benchmarks/update_step.py --matrices # the wider family, updates RESULTS.md
    python benchmarks/update_step.py --quick    # a smoke run, prints only
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
import optax.contrib

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, median_seconds, write_section

import gdjax

OPTIMIZERS = {
    "sgd": (lambda: gdjax.sgd(0.01), lambda: optax.sgd(0.01)),
    "momentum": (lambda: gdjax.sgd(0.01, 0.9), lambda: optax.sgd(0.01, 0.9)),
    "nesterov": (lambda: gdjax.sgd(0.01, 0.9, True), lambda: optax.sgd(0.01, 0.9, True)),
    "adagrad": (lambda: gdjax.adagrad(0.01), lambda: optax.adagrad(0.01)),
    "rmsprop": (lambda: gdjax.rmsprop(0.01), lambda: optax.rmsprop(0.01)),
    "adadelta": (lambda: gdjax.adadelta(1.0), lambda: optax.adadelta(1.0)),
    "adam": (lambda: gdjax.adam(0.01), lambda: optax.adam(0.01)),
}
# The wider family (issue 13), timed on matrix leaves (--matrices): Muon orthogonalises
# matrices and Adafactor factors them; on vectors both fall back to other rules.
FAMILY = {
    "lion": (lambda: gdjax.lion(1e-4), lambda: optax.lion(1e-4)),
    "lamb": (lambda: gdjax.lamb(0.01), lambda: optax.lamb(0.01)),
    "adafactor": (lambda: gdjax.adafactor(0.01), lambda: optax.adafactor(0.01)),
    "muon": (lambda: gdjax.muon(0.01), lambda: optax.contrib.muon(0.01)),
}


def make_tree(leaves: int, total: int, matrices: bool = False) -> dict:
    """``leaves`` leaves of ``total // leaves`` params: vectors, or near-square matrices."""
    size = total // leaves
    shape = (size,)
    if matrices:
        rows = int(size**0.5)
        shape = (rows, size // rows)
    keys = jax.random.split(jax.random.key(0), leaves)
    return {f"w{i:04d}": jax.random.normal(k, shape, jnp.float32) for i, k in enumerate(keys)}


def make_step(optimizer, apply):
    def step(params, state, grads):
        updates, state = optimizer.update(grads, state, params)
        return apply(params, updates), state

    return step


def step_timer(optimizer, apply, params, grads, steps: int):
    """A function that runs ``steps`` donated steps and blocks; state is carried across calls."""
    step = jax.jit(make_step(optimizer, apply), donate_argnums=(0, 1))
    carry = {"params": jax.tree.map(jnp.copy, params), "state": optimizer.init(params)}

    def run():
        p, s = carry["params"], carry["state"]
        for _ in range(steps):
            p, s = step(p, s, grads)
        jax.block_until_ready(p)
        carry["params"], carry["state"] = p, s

    run()  # compile and warm up
    return run


def compile_seconds(optimizer, apply, params, grads) -> float:
    jax.clear_caches()
    state = optimizer.init(params)
    start = time.perf_counter()
    jax.jit(make_step(optimizer, apply)).lower(params, state, grads).compile()
    return time.perf_counter() - start


def hlo_program(optimizer, apply, params, grads) -> list[str]:
    """The optimized HLO instructions of the step, without source-location metadata."""
    lowered = jax.jit(make_step(optimizer, apply), donate_argnums=(0, 1)).lower(
        params, optimizer.init(params), grads
    )
    text = lowered.compile().as_text()
    lines = [
        re.sub(r",? metadata=\{[^}]*\}", "", line) for line in text.splitlines() if " = " in line
    ]
    # Instruction names carry counters and the op that made them (g**2 is "integer_pow"
    # where g*g is "mul"); renamed in order of appearance, only the structure remains.
    names: dict[str, str] = {}
    return [
        re.sub(r"%[\w.-]+", lambda m: names.setdefault(m.group(), f"%v{len(names)}"), line)
        for line in lines
    ]


def bandwidth(total: int, repeats: int) -> list[tuple[str, float, float]]:
    """Bytes/s of a donated Adam step (gdjax, optax) and of a donated triad a = a + s*b.

    An Adam step on one leaf reads g, p, m, v and writes p, m, v: 7 arrays; the triad
    reads a and b and writes a: 3. DESIGN §5 asks the Adam step for >= 80% of the
    triad's bytes/s (memory bandwidth is the bound for both).
    """
    a = jax.random.normal(jax.random.key(1), (total,), jnp.float32)
    b = jax.random.normal(jax.random.key(2), (total,), jnp.float32)
    triad = jax.jit(lambda a, b: a + 0.5 * b, donate_argnums=0)
    carry = {"a": jnp.copy(a)}

    def run_triad():
        carry["a"] = triad(carry["a"], b)
        jax.block_until_ready(carry["a"])

    rows = []
    run_triad()
    seconds = median_seconds(run_triad, repeats)
    rows.append(("triad a = a + s*b (donated)", seconds, 3 * 4 * total / seconds))
    for name, optimizer, apply in (
        ("gdjax.adam", gdjax.adam(1e-3), gdjax.apply_updates),
        ("optax.adam", optax.adam(1e-3), optax.apply_updates),
    ):
        run = step_timer(optimizer, apply, {"w": a}, {"w": 0.01 * b}, 1)
        seconds = median_seconds(run, repeats)
        rows.append((f"{name} step (donated)", seconds, 7 * 4 * total / seconds))
    return rows


def steps_per_run(run_once, target_seconds: float, minimum: int) -> int:
    """Steps that make one timed run last about ``target_seconds`` (at least ``minimum``)."""
    seconds = median_seconds(run_once, 3)
    return max(minimum, int(target_seconds / max(seconds, 1e-6)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no RESULTS.md")
    parser.add_argument(
        "--total",
        type=int,
        help="params in all (default 4M; with --matrices 256K: Muon's "
        "Newton-Schulz iterations cost a matrix product per step, 2048^3 on 2 cores is seconds)",
    )
    parser.add_argument("--steps", type=int, default=10, help="fewest steps per timed run")
    parser.add_argument("--target", type=float, default=0.2, help="seconds per timed run")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per side")
    parser.add_argument("--compile-repeats", type=int, default=9)
    parser.add_argument(
        "--optimizers",
        help="default: the texts' seven; with --matrices: lion, lamb, adafactor, muon",
    )
    parser.add_argument(
        "--matrices",
        action="store_true",
        help="matrix leaves and the wider family (its own RESULTS.md section)",
    )
    parser.add_argument("--leaves", help="leaf counts to run (default 1,100,1000; quick: 1,10)")
    parser.add_argument("--bandwidth-params", type=int, default=2**24, help="the 16M-param leaf")
    args = parser.parse_args(argv)
    if args.quick:
        args.total, args.steps, args.target, args.repeats, args.compile_repeats = (
            2**12,
            2,
            0.0,
            3,
            1,
        )
    args.total = args.total or (2**18 if args.matrices else 2**22)
    table_of = {**OPTIMIZERS, **FAMILY}
    args.optimizers = args.optimizers or ",".join(FAMILY if args.matrices else OPTIMIZERS)
    args.leaves = args.leaves or (
        "1,10" if args.quick else "1,100" if args.matrices else "1,100,1000"
    )
    if args.quick:
        args.bandwidth_params = 2**12

    names = args.optimizers.split(",")
    rows = []
    for leaves in (int(n) for n in args.leaves.split(",")):
        params = make_tree(leaves, args.total, args.matrices)
        grads = jax.tree.map(lambda x: 0.01 * x, params)
        for name in names:
            ours, theirs = table_of[name]
            probe = step_timer(ours(), gdjax.apply_updates, params, grads, 1)
            steps = steps_per_run(probe, args.target, args.steps)
            run_ours = step_timer(ours(), gdjax.apply_updates, params, grads, steps)
            run_theirs = step_timer(theirs(), optax.apply_updates, params, grads, steps)
            run_control = step_timer(theirs(), optax.apply_updates, params, grads, steps)
            step_ours, step_theirs, step_control = [], [], []
            for _ in range(args.repeats):  # interleaved: A B C A B C ...
                step_ours.append(median_seconds(run_ours, 1) / steps)
                step_theirs.append(median_seconds(run_theirs, 1) / steps)
                step_control.append(median_seconds(run_control, 1) / steps)
            compile_ours, compile_theirs = [], []
            for _ in range(args.compile_repeats):
                compile_ours.append(compile_seconds(ours(), gdjax.apply_updates, params, grads))
                compile_theirs.append(compile_seconds(theirs(), optax.apply_updates, params, grads))
            program = hlo_program(ours(), gdjax.apply_updates, params, grads)
            same = program == hlo_program(theirs(), optax.apply_updates, params, grads)
            row = (
                name,
                leaves,
                statistics.median(step_ours),
                statistics.median(step_theirs),
                statistics.median(step_control),
                statistics.median(compile_ours),
                statistics.median(compile_theirs),
                len(program),
                same,
            )
            rows.append(row)
            print(format_row(row), flush=True)

    table = format_table(rows)
    print("\n" + table)
    if args.matrices:
        if not args.quick:
            write_section("update_step_family", family_section(args, table))
        return
    traffic = bandwidth(args.bandwidth_params, args.repeats)
    triad = traffic[0][2]
    traffic_table = "\n".join(
        [
            "| program | ms | GB/s | of the triad's |",
            "|---|---:|---:|---:|",
            *(f"| {n} | {t * 1e3:.2f} | {b / 1e9:.2f} | {b / triad:.0%} |" for n, t, b in traffic),
        ]
    )
    print("\n" + traffic_table)
    if not args.quick:
        body = (
            "## Update step: gdjax vs optax (`benchmarks/update_step.py`)\n\n"
            f"Machine: {machine()}.\n\n"
            f"{args.total:,} float32 params split over 1, 100 or 1000 leaves; step = a user's "
            "`jax.jit(update + apply_updates)` with donated params and state, median of "
            f"{args.repeats} runs of ~{args.target:g} s each (gdjax and optax interleaved); "
            "compile = trace + lower + compile from a cleared cache, median of "
            f"{args.compile_repeats} (interleaved). A/A ratio = optax against a second optax "
            "instance of the same program, timed the same way: the noise floor. program = "
            "whether gdjax's and optax's optimized HLO instructions are identical once "
            "source-location metadata is stripped. Targets: step ratio <= 1.05, compile ratio "
            "<= 1.1.\n\n" + table + "\n\n"
            "Memory traffic of a donated Adam step on one leaf of "
            f"{args.bandwidth_params:,} float32 params (7 arrays read or written) against a "
            "donated triad (3 arrays); target: >= 80% of the triad's bytes/s.\n\n" + traffic_table
        )
        write_section("update_step", body)


def family_section(args: argparse.Namespace, table: str) -> str:
    return (
        "## Update step, the wider family: gdjax vs optax "
        "(`benchmarks/update_step.py --matrices`)\n\n"
        f"Machine: {machine()}.\n\n"
        f"{args.total:,} float32 params as 1 or 100 near-square matrices (so that Muon "
        "orthogonalises and Adafactor factors every leaf); muon against "
        "`optax.contrib.muon`. Timed as the table above: medians of "
        f"{args.repeats} interleaved runs of ~{args.target:g} s, compile medians of "
        f"{args.compile_repeats}, A/A = optax against optax.\n\n" + table + "\n\n"
        "Adafactor's programs differ by three instructions of 186 (optax's has one more "
        "constant and one more copy, gdjax's one more parameter); the step times are "
        "the same."
    )


def format_row(row) -> str:
    name, leaves, so, st, sc, co, ct, instructions, same = row
    return (
        f"| {name} | {leaves} | {so * 1e3:.3f} | {st * 1e3:.3f} | {so / st:.3f} | {sc / st:.3f} "
        f"| {co * 1e3:.0f} | {ct * 1e3:.0f} | {co / ct:.3f} "
        f"| {'same' if same else 'DIFFERENT'} ({instructions}) |"
    )


def format_table(rows) -> str:
    head = (
        "| optimizer | leaves | gdjax step (ms) | optax step (ms) | step ratio | A/A ratio "
        "| gdjax compile (ms) | optax compile (ms) | compile ratio | program (HLO instructions) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    return "\n".join([head, *(format_row(r) for r in rows)])


if __name__ == "__main__":
    main()
