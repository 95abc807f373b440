"""Seed 001, Figs. 11-1 and 11-2: plain gradient descent on the parabola f(x) = 6x² - 12x + 3.

The book iterates x = x - eta * f'(x) from x = -0.9 with eta = 0.03 and reaches
x = 0.997648 after 15 steps; from x = 0.75 with eta = 0.15 the steps overshoot
the minimum at x = 1 and oscillate around it. Here the same iteration is
``gdjax.sgd(eta)`` on ``jax.grad(f)``, in float64 as in the book.

    python examples/gd_1d.py
"""

from __future__ import annotations

import argparse

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import gdjax  # noqa: E402


def f(x):
    return 6 * x**2 - 12 * x + 3


def iterates(start: float, learning_rate: float, steps: int) -> jnp.ndarray:
    """x_0 .. x_steps of gradient descent, as one jitted scan."""
    optimizer = gdjax.sgd(learning_rate)

    def step(carry, _):
        x, state = carry
        updates, state = optimizer.update(jax.grad(f)(x), state, x)
        x = gdjax.apply_updates(x, updates)
        return (x, state), x

    x0 = jnp.asarray(start, jnp.float64)
    _, xs = jax.jit(lambda x: jax.lax.scan(step, (x, optimizer.init(x)), None, length=steps))(x0)
    return jnp.concatenate([x0[None], xs])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="steps per run (the book: 15)")
    args = parser.parse_args(argv)

    print("Seed 001, Fig. 11-1: start x = -0.9, eta = 0.03")
    xs = iterates(-0.9, 0.03, args.steps)
    print(f"{'step':>4}  {'x':>10}  {'f(x)':>10}")
    for i, x in enumerate(xs):
        print(f"{i:>4}  {float(x):>10.6f}  {float(f(x)):>10.6f}")
    if args.steps == 15:
        print(f"book: x = 0.997648 after 15 steps;  gdjax: x = {float(xs[-1]):.6f}")

    print("\nSeed 001, Fig. 11-2: start x = 0.75, eta = 0.15 (five times the step: overshoots)")
    xs = iterates(0.75, 0.15, args.steps)
    sides = "".join("<" if x < 1 else ">" for x in xs[1:])
    print(f"side of the minimum at each step: {sides}")
    print(f"after {args.steps} steps: x = {float(xs[-1]):.6f} (minimum at x = 1)")


if __name__ == "__main__":
    main()
