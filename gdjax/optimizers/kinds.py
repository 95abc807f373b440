"""What each argument of an optimizer factory is, read from its annotations."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable

from jax.typing import ArrayLike

from gdjax.base import GradientTransformation, ScalarOrSchedule
from gdjax.keys import KeyLike

# The annotations that mean "a number": a float or an array (a tracer too), or
# a schedule where the alias takes one, or None where None is a setting.
_NUMBERS = (
    ArrayLike,
    ArrayLike | None,
    ScalarOrSchedule,
    ScalarOrSchedule | None,
)


def hyperparameter_kinds(factory: Callable[..., GradientTransformation]) -> dict[str, str]:
    """What each argument of ``factory`` is, read from its annotations.

    Returns ``{argument: kind}`` in the signature's order, the kind being:

    - ``"number"``: a float or an array (``ArrayLike``, `ScalarOrSchedule`, or
      either or None): a value that may be swept as a float axis;
    - ``"bool"``: a switch (``bool``), which changes the program and cannot be
      traced;
    - ``"key"``: a PRNG key or an int seed (`gdjax.keys.KeyLike`): an integer
      axis, one run per seed;
    - ``"other"``: anything else, a dtype (``DTypeLike | None``) or a `Mask`:
      not a value that a number or a word can give.

    For tools that build optimizers from text (the ``gdjax`` command):
    ``hyperparameter_kinds(gdjax.sgd)`` is ``{"learning_rate": "number",
    "momentum": "number", "nesterov": "bool", "accumulator_dtype": "other"}``.
    An argument without an annotation is ``"other"``.
    """
    hints = typing.get_type_hints(factory)
    kinds = {}
    for name in inspect.signature(factory).parameters:
        hint = hints.get(name)
        if hint is bool:
            kinds[name] = "bool"
        elif hint == KeyLike:
            kinds[name] = "key"
        elif hint in _NUMBERS:
            kinds[name] = "number"
        else:
            kinds[name] = "other"
    return kinds
