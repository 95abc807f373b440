"""L-BFGS (Liu & Nocedal 1989) with a zoom line search: a chain of transformations."""

from __future__ import annotations

from gdjax._validation import arguments_of
from gdjax.base import GradientTransformation, ScalarOrSchedule, identity
from gdjax.optimizers.base import alias
from gdjax.transforms.lbfgs import scale_by_lbfgs
from gdjax.transforms.linesearch import scale_by_zoom_linesearch
from gdjax.transforms.scaling import scale, scale_by_learning_rate

DEFAULT_LINESEARCH = scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")
"""`lbfgs`'s default line search (optax's): a zoom search of at most 20 evaluations,
starting each search at the step 1. Built once, when this module is imported."""


def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | None = DEFAULT_LINESEARCH,
) -> GradientTransformation:
    """L-BFGS: quasi-Newton steps along ``-P_k g_k``, their length set by a line search.


        d_k = -P_k g_k                       (`gdjax.transforms.lbfgs.scale_by_lbfgs`)
        x_{k+1} = x_k + eta_k * lr * d_k     (eta_k from the line search, lr = 1 if None)

    ``P_k`` is the L-BFGS inverse-Hessian approximation from the last
    ``memory_size`` steps and gradient differences (Nocedal & Wright 1999,
    Algorithm 7.5). ``eta_k`` comes from ``linesearch``, by default a zoom
    search for the strong Wolfe conditions (`scale_by_zoom_linesearch` with
    ``max_linesearch_steps=20, initial_guess_strategy="one"``); with
    ``linesearch=None`` it is 1, and ``learning_rate`` alone sets the step.

    A line search needs the objective: pass ``value``, ``grad`` and
    ``value_fn`` to ``update``, and reuse the value and gradient it found::

        value_and_grad = gdjax.value_and_grad_from_state(f)
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)

    Without a line search, with ``scale_init_precond=True`` and a constant
    rate, this is PyTorch's ``LBFGS(params, lr, max_iter=1, history_size=m,
    line_search_fn=None)`` one ``step()`` at a time, except at the first step
    (PyTorch scales it by ``min(1, 1/|g|_1)``, gdjax by ``min(1, 1/|g|_2)``)
    and where PyTorch skips a memory update (``<y, s> <= 1e-10``).

    Args:
      learning_rate: a rate or schedule multiplying the line search's step, or
        ``None`` (default) for none (the line search alone sets the length).
      memory_size: the number of past steps kept, a static int >= 1. Default 10.
      scale_init_precond: scale the preconditioner's starting identity by
        ``<s, y> / <y, y>`` of the last step. Default True.
      linesearch: a line search transformation (or any transformation, such
        as an optax one) applied last, or ``None`` for none. Default: the zoom
        search above (`DEFAULT_LINESEARCH`).
    """
    with arguments_of("lbfgs"):
        direction = scale_by_lbfgs(memory_size, scale_init_precond)
        rate = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
        return alias("lbfgs", direction, rate, identity() if linesearch is None else linesearch)
