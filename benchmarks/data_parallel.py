"""Data parallelism on host devices: `fit(parallel=data_parallel())` on 1, 2 and 4 devices, ZeRO-1.

(1) Training throughput. The digits MLP (64-256-256-10, `mlp_loss`), `gdjax.adam(1e-3)`,
    batches of 128, trained by ``fit(..., parallel=data_parallel(), progress=False)``
    on 1, 2 and 4 host devices, each device count in its own subprocess (the
    device count is fixed by ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
    before JAX starts); on 1 device also plain `fit` (no ``parallel=``), on 4
    also ZeRO-1 (``state="sharded"``). Every `fit` call traces and compiles its
    epoch program afresh, so the subprocesses keep JAX's persistent compilation
    cache in a scratch directory: after a first, compiling call, a call costs a
    fixed ~0.1 s (tracing, a cache hit, placing the data) plus its epochs. The
    steady rate is then ``--epochs`` epochs of steps over (median wall time of
    ``fit(epochs=1 + E)``) - (median of ``fit(epochs=1)``), the two interleaved,
    median of ``--repeats``: compile, set-up and the first epoch cancel.
(2) ZeRO-1 memory. On 4 host devices, Adam's state for ~4M float32 params
    (``{"w1": (1024, 2048), "w2": (2048, 1024), "b": (1024,)}``) laid out by
    ``data_parallel()`` (replicated) and ``data_parallel(state="sharded")``:
    ``jax.jit(opt.init, out_shardings=layout.state_shardings(...))``, then the
    bytes each device holds (``shard.data.nbytes`` over ``addressable_shards``,
    by device), and the time of one jitted, donated update + apply step with
    replicated gradients (as they are after the all-reduce), median of repeats.

Host devices share this machine's cores: N of them run N copies of the work
(replicated) on the same 2 cores, plus in-process collectives. No speed-up is
expected; this measures the overhead of the SPMD program and its collectives,
not scaling.

    python benchmarks/data_parallel.py           # full run, updates RESULTS.md
    python benchmarks/data_parallel.py --quick   # a smoke run, prints only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, median_seconds, write_section

SIZES = (64, 256, 256, 10)
BATCH_SIZE = 128
SHARDED = 'data_parallel(state="sharded")'
COLLECTIVE = r"\b(all-reduce|all-gather|reduce-scatter|all-to-all|collective-permute)(?:-start)?\("
NOTE = (
    "Host devices (`--xla_force_host_platform_device_count`) share the same 2 CPU "
    "cores: N devices run N copies of the replicated work there, plus in-process "
    "collectives. No speed-up is expected; this measures the overhead of the SPMD "
    "program and its collectives, not scaling."
)


# --------------------------------------------------------------------------- workers
# They run in subprocesses started by `spawn`, whose XLA_FLAGS fix the device count
# before JAX is imported: JAX is imported inside them only.


def _use_compilation_cache(directory: str) -> None:
    import jax

    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def train_worker(config: dict) -> dict:
    """Steady steps/s of `fit` for each layout on this process's devices."""
    import tempfile

    import jax

    import gdjax
    from gdjax.distributed import data_parallel
    from gdjax.training import Batching, datasets, fit, models

    assert len(jax.devices()) == config["devices"], jax.devices()
    cache = tempfile.TemporaryDirectory(prefix="gdjax-data-parallel-")
    _use_compilation_cache(cache.name)
    train = datasets.digits().train
    params = models.mlp_init(jax.random.key(0), sizes=SIZES)
    per_epoch = -(-len(train["y"]) // BATCH_SIZE)
    layouts = {
        "fit": None,
        "data_parallel()": data_parallel(),
        SHARDED: data_parallel(state="sharded"),
    }
    layouts = {name: layouts[name] for name in config["layouts"]}
    epochs, repeats = config["epochs"], config["repeats"]
    losses = {}

    def run(name: str, count: int) -> float:
        began = time.perf_counter()
        trained, history = fit(
            models.mlp_loss,
            params,
            gdjax.adam(1e-3),
            train,
            epochs=count,
            batching=Batching(BATCH_SIZE),
            parallel=layouts[name],
            progress=False,
        )
        jax.block_until_ready(trained)
        seconds = time.perf_counter() - began
        losses[name, count] = float(history.train_loss[-1])
        return seconds

    first = {name: run(name, 1) for name in layouts}  # compiles, fills the cache
    for name in layouts:
        run(name, 1 + epochs)  # anything compiled once per run length
    short = {name: [] for name in layouts}
    long = {name: [] for name in layouts}
    for _ in range(repeats):  # round-robin: drift hits every layout alike
        for name in layouts:
            short[name].append(run(name, 1))
            long[name].append(run(name, 1 + epochs))
    rows = []
    for name in layouts:
        seconds = statistics.median(long[name]) - statistics.median(short[name])
        steps = epochs * per_epoch
        rows.append(
            {
                "devices": config["devices"],
                "layout": name,
                "steps": steps,
                "seconds": seconds,
                "first": first[name],
                "call": statistics.median(short[name]),
                "loss": losses[name, 1 + epochs],
            }
        )
    cache.cleanup()
    return {"rows": rows}


def memory_worker(config: dict) -> dict:
    """Per-device bytes of params and Adam state, replicated vs ZeRO-1, and a step's time."""
    import re
    from collections import Counter

    import jax
    import numpy as np

    import gdjax
    from gdjax.distributed import data_parallel, place

    assert len(jax.devices()) == config["devices"], jax.devices()
    rng = np.random.default_rng(0)
    shapes = {name: tuple(shape) for name, shape in config["shapes"].items()}
    params = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    grads = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    optimizer = gdjax.adam(1e-3)

    def per_device(tree) -> dict:
        held = Counter()
        for leaf in jax.tree.leaves(tree):
            for shard in leaf.addressable_shards:
                held[shard.device] += shard.data.nbytes
        return held

    def step(params, state, grads):
        updates, state = optimizer.update(grads, state, params)
        return gdjax.apply_updates(params, updates), state

    layouts = {"replicated": None, "ZeRO-1": "sharded"}
    runs, rows = {}, {}
    for name, state in layouts.items():
        layout = data_parallel(state=state)
        param_shardings = layout.param_shardings(params)
        placed = place(params, param_shardings)
        shardings = layout.state_shardings(jax.eval_shape(optimizer.init, params))
        opt_state = jax.jit(optimizer.init, out_shardings=shardings)(placed)
        state_bytes, param_bytes = per_device(opt_state), per_device(placed)
        program = jax.jit(
            step,
            in_shardings=(param_shardings, shardings, param_shardings),
            out_shardings=(param_shardings, shardings),
            donate_argnums=(0, 1),
        )
        placed_grads = place(grads, param_shardings)
        hlo = program.lower(placed, opt_state, placed_grads).compile().as_text()
        collectives = Counter(re.findall(COLLECTIVE, hlo))
        placed, opt_state = jax.block_until_ready(program(placed, opt_state, placed_grads))
        assert per_device(opt_state) == state_bytes  # the step keeps the layout
        runs[name] = [program, placed, opt_state, placed_grads]
        rows[name] = {
            "layout": name,
            "devices": len(state_bytes),
            "state_max": max(state_bytes.values()),
            "state_min": min(state_bytes.values()),
            "state_total": sum(state_bytes.values()),
            "params_max": max(param_bytes.values()),
            "params_total": sum(param_bytes.values()),
            "collectives": ", ".join(f"{n} {op}" for op, n in sorted(collectives.items())),
            "times": [],
        }

    def timed(name: str) -> None:
        program, placed, opt_state, placed_grads = runs[name]
        for _ in range(config["steps"]):
            placed, opt_state = program(placed, opt_state, placed_grads)
        jax.block_until_ready((placed, opt_state))
        runs[name][1:3] = [placed, opt_state]

    for _ in range(config["repeats"]):  # interleaved
        for name in layouts:
            rows[name]["times"].append(median_seconds(lambda n=name: timed(n), 1))
    for row in rows.values():
        row["step"] = statistics.median(row.pop("times")) / config["steps"]
    return {"rows": list(rows.values()), "params": int(sum(np.prod(s) for s in shapes.values()))}


WORKERS = {"train": train_worker, "memory": memory_worker}


def spawn(config: dict) -> dict:
    """Runs a worker in a fresh Python whose JAX sees ``config["devices"]`` host devices."""
    flags = [
        flag
        for flag in os.environ.get("XLA_FLAGS", "").split()
        if not flag.startswith("--xla_force_host_platform_device_count")
    ]
    flags.append(f"--xla_force_host_platform_device_count={config['devices']}")
    env = dict(os.environ, XLA_FLAGS=" ".join(flags), JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"worker {config} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- tables


def training_table(rows: list[dict]) -> str:
    base = next(r for r in rows if r["devices"] == 1 and r["layout"] == "data_parallel()")
    base_rate = base["steps"] / base["seconds"]
    lines = [
        "| devices | layout | steps/s | ms/step | vs 1 device | fit(epochs=1), s | "
        "first call (compile), s | final train loss |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        rate = r["steps"] / r["seconds"]
        layout = "`fit` (no `parallel=`)" if r["layout"] == "fit" else f"`{r['layout']}`"
        lines.append(
            f"| {r['devices']} | {layout} | {rate:,.0f} | {1e3 / rate:.3f} | "
            f"{rate / base_rate:.2f}x | {r['call']:.3f} | {r['first']:.2f} | {r['loss']:.6f} |"
        )
    return "\n".join(lines)


def memory_table(rows: list[dict]) -> str:
    base = rows[0]
    lines = [
        "| layout | Adam state per device (MB) | vs replicated | Adam state, all devices (MB) | "
        "params per device (MB) | update + apply step (ms) | vs replicated | "
        "collectives in the step |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        held = f"{r['state_max'] / 1e6:.2f}"
        if r["state_min"] != r["state_max"]:
            held = f"{r['state_min'] / 1e6:.2f} to {held}"
        lines.append(
            f"| {r['layout']} | {held} | {r['state_max'] / base['state_max']:.3f} | "
            f"{r['state_total'] / 1e6:.2f} | {r['params_max'] / 1e6:.2f} | "
            f"{1e3 * r['step']:.2f} | {r['step'] / base['step']:.2f}x | "
            f"{r['collectives'] or 'none'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no RESULTS.md")
    parser.add_argument("--epochs", type=int, default=100, help="timed epochs (11 steps each)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per layout")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        config = json.loads(args.worker)
        print(json.dumps(WORKERS[config["task"]](config)), flush=True)
        return
    epochs, repeats, steps, step_repeats = args.epochs, args.repeats, 10, 9
    shapes = {"w1": (1024, 2048), "w2": (2048, 1024), "b": (1024,)}
    if args.quick:
        epochs, repeats, steps, step_repeats = 2, 1, 2, 1
        shapes = {"w1": (256, 512), "w2": (512, 256), "b": (256,)}
    print(NOTE + "\n", flush=True)

    began = time.perf_counter()
    rows = []
    for devices, layouts in (
        (1, ["fit", "data_parallel()"]),
        (2, ["data_parallel()"]),
        (4, ["data_parallel()", SHARDED]),
    ):
        config = dict(task="train", devices=devices, layouts=layouts)
        rows += spawn(dict(config, epochs=epochs, repeats=repeats))["rows"]
    training = (
        f"**(1) `fit` on the digits MLP {'-'.join(map(str, SIZES))}, Adam 1e-3, batches of "
        f"{BATCH_SIZE}: {epochs} epochs of {rows[0]['steps'] // epochs} steps, "
        f"median of {repeats}**\n\n" + training_table(rows)
    )
    print(training + "\n", flush=True)

    memory = spawn(dict(task="memory", devices=4, shapes=shapes, steps=steps, repeats=step_repeats))
    described = ", ".join(f'"{k}": {tuple(v)}' for k, v in shapes.items())
    zero = (
        f"**(2) Adam's state for {memory['params']:,} float32 params "
        f"({{{described}}}) on 4 host devices, replicated vs ZeRO-1; "
        f"step = median of {step_repeats} runs of {steps} donated steps**\n\n"
        + memory_table(memory["rows"])
    )
    print(zero + "\n", flush=True)
    print(f"({time.perf_counter() - began:.0f} s in all)")

    if not args.quick:
        body = (
            "## Data parallelism (`benchmarks/data_parallel.py`)\n\n"
            f"Machine: {machine()}.\n\n"
            f"{NOTE}\n\n"
            "Each device count runs in its own subprocess. steps/s is the steady rate: "
            f"`fit(epochs=1 + {epochs})` minus `fit(epochs=1)` (median wall times, the two "
            "interleaved; with JAX's persistent compilation cache on, so compile, set-up and "
            "the first epoch cancel). `fit(epochs=1)` is a whole call after the first "
            "(cache hit, set-up, one epoch); the first call compiles. vs 1 device: against "
            "`data_parallel()` on one device. The final losses agree across device counts "
            "up to the order of floating-point sums.\n\n" + training + "\n\n"
            "In (2) the gradients come in replicated (as after the all-reduce) and the params "
            "stay replicated: with a replicated state every device computes the whole update "
            "(4 copies on the shared cores); under ZeRO-1 each computes its quarter, then the "
            "new params are all-gathered. Collectives are counted in the compiled step's "
            "HLO.\n\n" + zero
        )
        write_section("data_parallel", body)


if __name__ == "__main__":
    main()
