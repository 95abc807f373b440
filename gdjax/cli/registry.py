"""The optimizers the command knows, and their settings from ``--set`` and ``--grid``.

What each hyperparameter is (a number, a switch, a seed, or something no text
can give, such as a dtype) is the library's word:
`gdjax.optimizers.hyperparameter_kinds` reads it from the aliases' annotations.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import gdjax
from gdjax import trajectories
from gdjax.cli.values import UsageError, choices, listed, number, seed, switch
from gdjax.optimizers import hyperparameter_kinds


@dataclasses.dataclass(frozen=True)
class Entry:
    """An optimizer the command knows: its factory and the settings it runs with."""

    factory: Callable[..., gdjax.GradientTransformation]
    settings: dict[str, Any]


# The texts give the rates for plain descent (seed 001 Fig. 11-5: lr 0.4) and for
# momentum (Table 11-2: lr 0.1, mu 0.9). The others are the rounded winners of
#   gdjax sweep --optimizer NAME --grid learning_rate=1e-3:1:log25 --by steps
# on two_gaussians from Table 11-1's five starts (settling within 1e-3 in 100
# steps); AdaDelta's eps by --grid eps=1e-6:1e-1:log11 (its default 1e-6 barely
# moves at this scale), RMSProp's decay by --grid decay=0.9,0.99,0.999. Adam,
# AdaMax and AMSGrad with their own betas settle at no rate (they orbit the
# minimum; with b1=0.5 Adam settles in 31 steps): they keep their betas and
# a rate of 0.1, and the table shows it.
OPTIMIZERS: dict[str, Entry] = {
    "sgd": Entry(gdjax.sgd, {"learning_rate": 0.4}),
    "momentum": Entry(gdjax.sgd, {"learning_rate": 0.1, "momentum": 0.9}),
    "nesterov": Entry(gdjax.sgd, {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    "adagrad": Entry(gdjax.adagrad, {"learning_rate": 0.4}),
    "rmsprop": Entry(gdjax.rmsprop, {"learning_rate": 0.04, "decay": 0.99}),
    "adadelta": Entry(gdjax.adadelta, {"learning_rate": 1.0, "eps": 3e-3}),
    "adam": Entry(gdjax.adam, {"learning_rate": 0.1}),
    "adamax": Entry(gdjax.adamax, {"learning_rate": 0.1}),
    "nadam": Entry(gdjax.nadam, {"learning_rate": 0.7}),
    "amsgrad": Entry(gdjax.amsgrad, {"learning_rate": 0.1}),
    "noisy_sgd": Entry(gdjax.noisy_sgd, {"learning_rate": 0.4}),
    # The wider family (docs: The wider family). The rates are the rounded winners of
    #   gdjax sweep --optimizer NAME --grid learning_rate=1e-3:3:log30 --by steps
    # where some rate settles within 100 steps (muon, nadamw, the optimistic pair, rprop,
    # schedule-free, lbfgs), else --by value (the sign methods orbit the minimum and never
    # settle, as Adam does). Names longer than 16 characters are shortened (ogd:
    # optimistic_gradient_descent, sf_: schedule_free_, simple_ademamix:
    # simplified_ademamix) so that the compare table fits 100 columns. L-BFGS keeps its
    # zoom line search (trajectories pass value, grad and value_fn); Polyak's step needs
    # f_min, here two_gaussians' global minimum.
    "adabelief": Entry(gdjax.adabelief, {"learning_rate": 0.4}),
    "adafactor": Entry(gdjax.adafactor, {"learning_rate": 0.1}),
    "adamaxw": Entry(gdjax.adamaxw, {"learning_rate": 0.75}),
    "adan": Entry(gdjax.adan, {"learning_rate": 1.7}),
    "ademamix": Entry(gdjax.ademamix, {"learning_rate": 0.4}),
    "adopt": Entry(gdjax.adopt, {"learning_rate": 1.3}),
    "fromage": Entry(gdjax.fromage, {"learning_rate": 2.3}),
    "lamb": Entry(gdjax.lamb, {"learning_rate": 0.14}),
    "lars": Entry(gdjax.lars, {"learning_rate": 2.3}),
    "lbfgs": Entry(gdjax.lbfgs, {}),
    "lion": Entry(gdjax.lion, {"learning_rate": 0.08}),
    "muon": Entry(gdjax.muon, {"learning_rate": 0.75}),
    "nadamw": Entry(gdjax.nadamw, {"learning_rate": 0.57}),
    "novograd": Entry(gdjax.novograd, {"learning_rate": 0.14}),
    "optimistic_adam": Entry(gdjax.optimistic_adam, {"learning_rate": 0.25}),
    "ogd": Entry(gdjax.optimistic_gradient_descent, {"learning_rate": 0.25}),
    "polyak_sgd": Entry(gdjax.polyak_sgd, {"f_min": -2.019}),
    "prodigy": Entry(gdjax.prodigy, {"learning_rate": 1.3}),
    "radam": Entry(gdjax.radam, {"learning_rate": 1.7}),
    "rprop": Entry(gdjax.rprop, {"learning_rate": 0.25}),
    "sf_adamw": Entry(gdjax.schedule_free_adamw, {"learning_rate": 1.3}),
    "sf_sgd": Entry(gdjax.schedule_free_sgd, {"learning_rate": 2.3}),
    "sign_sgd": Entry(gdjax.sign_sgd, {"learning_rate": 0.03}),
    "signum": Entry(gdjax.signum, {"learning_rate": 0.25}),
    "simple_ademamix": Entry(gdjax.simplified_ademamix, {"learning_rate": 0.14}),
    "sm3": Entry(gdjax.sm3, {"learning_rate": 2.3}),
    "yogi": Entry(gdjax.yogi, {"learning_rate": 0.4}),
}
COMPARED = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam")

# The library's kinds, and how each is read from text.
_READERS = {"number": number, "bool": switch, "key": seed}


@functools.cache
def kinds(name: str) -> dict[str, str]:
    """``{parameter: kind}`` of optimizer ``name`` (see `hyperparameter_kinds`)."""
    return hyperparameter_kinds(OPTIMIZERS[name].factory)


def parameters(name: str) -> list[str]:
    """The parameters of ``name`` that --set and --grid accept."""
    return [p for p, kind in kinds(name).items() if kind in _READERS]


def optimizer_names(text: str, flag: str = "--optimizers") -> list[str]:
    """The names in ``text`` (comma-separated; ``all`` is every optimizer the command knows)."""
    return listed(text, OPTIMIZERS, "optimizer", flag)


def check_parameter(flag: str, text: str, name: str, param: str) -> str:
    """The kind of ``param``, if ``name`` has it and text can set it."""
    if param not in kinds(name):
        raise UsageError(
            f"{flag} {text!r}: {name} has no parameter {param!r}; it takes: "
            f"{choices(parameters(name))}"
        )
    if kinds(name)[param] not in _READERS:
        raise UsageError(
            f"{flag} {text!r}: {param} cannot be set from the command line; {name} takes: "
            f"{choices(parameters(name))}"
        )
    return kinds(name)[param]


def settings(sets: list[str] | None, names: list[str], default: str | None = None) -> dict:
    """Each optimizer's settings: its defaults, overridden by ``--set name.param=value``
    (``--set param=value`` where ``default`` names the one optimizer)."""
    chosen = {name: dict(OPTIMIZERS[name].settings) for name in names}
    for text in sets or []:
        key, sep, value = text.partition("=")
        target, dot, param = key.rpartition(".")
        if not sep or not param or (not dot and default is None):
            raise UsageError(
                f"--set {text!r}: write name.param=value, e.g. adam.learning_rate=0.05"
            )
        target = target if dot else default
        if target not in chosen:
            raise UsageError(
                f"--set {text!r}: {target!r} is not a selected optimizer; choose from: "
                f"{choices(chosen)}"
            )
        kind = check_parameter("--set", text, target, param)
        chosen[target][param] = _READERS[kind](value, f"--set {key}")
    return chosen


def build(name: str, chosen: dict) -> gdjax.GradientTransformation:
    """The optimizer, its values checked by the library (a bad one exits 2)."""
    try:
        return OPTIMIZERS[name].factory(**chosen)
    except (ValueError, TypeError) as error:
        raise UsageError(f"{name}: {error}") from None


def iterate(name: str, chosen: dict) -> trajectories.Iterate | None:
    """What to record besides the params: the NAG iterate where the library has one."""
    return trajectories.nag_iterate(OPTIMIZERS[name].factory, **chosen)
