"""Test functions with known minima: the texts' 1-D and 2-D landscapes and four classics.

Each landscape's ``fn`` takes points of shape ``(..., dim)`` and returns values
of shape ``(...)``, so one call evaluates a whole grid or ensemble. Gradients
come from ``jax.grad``; none is written by hand.

    >>> from gdjax import landscapes
    >>> landscapes.names()[:3]
    ['parabola', 'bowl', 'ellipse']
    >>> landscapes.get("two_gaussians").minima[0].point
    (-0.980383635578, 0.980383635578)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Minimum:
    """A local or global minimum: where it is, its value, and which kind it is."""

    point: tuple[float, ...]
    value: float
    kind: str  # "global" or "local"


@dataclasses.dataclass(frozen=True, eq=False)
class Landscape:
    """A test function with its known minima and a plotting box.

    Attributes:
      name: the registry name (``landscapes.get(name)``).
      dim: 1 or 2.
      fn: ``(..., dim) -> (...)``, batched over leading axes.
      minima: every known local and global minimum, global ones first.
      bounds: ``((low, high), ...)`` per coordinate, for plots.
      doc: what it is and where the texts use it (also ``__doc__``).
      starts: the start points the texts use on it.
      saddles: known saddle points.
    """

    name: str
    dim: int
    fn: Callable[[jax.Array], jax.Array]
    minima: tuple[Minimum, ...]
    bounds: tuple[tuple[float, float], ...]
    doc: str
    starts: tuple[tuple[float, ...], ...] = ()
    saddles: tuple[tuple[float, ...], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "__doc__", self.doc)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fn(jnp.asarray(x))

    def grad(self, x: jax.Array) -> jax.Array:
        """The gradient at each point of ``x`` (shape ``(..., dim)``), by ``jax.grad``."""
        return jax.grad(lambda p: jnp.sum(self.fn(p)))(jnp.asarray(x, jnp.result_type(x, float)))

    def nearest_minimum(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Index into ``minima`` of the nearest one, and the distance to it, per point.

        With no known minima (the saddle) the index is -1 and the distance NaN.
        """
        x = jnp.asarray(x)
        if not self.minima:
            return jnp.full(x.shape[:-1], -1), jnp.full(x.shape[:-1], jnp.nan)
        points = jnp.asarray(
            [m.point for m in self.minima], x.dtype if x.dtype.kind == "f" else float
        )
        difference = x[..., None, :] - points
        # Scaled by the largest coordinate, so that a point at 1e20 is 1e20 away in
        # float32 rather than inf (its squares would overflow).
        scale = jnp.max(jnp.abs(difference), axis=-1)
        safe = jnp.where(jnp.isfinite(scale) & (scale > 0), scale, 1)
        distances = safe * jnp.linalg.norm(difference / safe[..., None], axis=-1)
        return jnp.argmin(distances, axis=-1), jnp.min(distances, axis=-1)


def _xy(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return x[..., 0], x[..., 1]


def _parabola(x):
    return 6 * x[..., 0] ** 2 - 12 * x[..., 0] + 3


def _bowl(x):
    a, b = _xy(x)
    return a**2 + b**2


def _ellipse(x):
    a, b = _xy(x)
    return 6 * a**2 + 9 * b**2 - 12 * a - 14 * b + 3


def _canyon(x):
    a, b = _xy(x)
    return 6 * a**2 + 40 * b**2 - 12 * a - 30 * b + 3


def _stretched_bowl(x):
    a, b = _xy(x)
    return 0.1 * a**2 + 2 * b**2


def _two_gaussians(x):
    a, b = _xy(x)
    return -2 * jnp.exp(-0.5 * ((a + 1) ** 2 + (b - 1) ** 2)) - jnp.exp(
        -0.5 * ((a - 1) ** 2 + (b + 1) ** 2)
    )


def _saddle(x):
    a, b = _xy(x)
    return a**2 - b**2


def _rosenbrock(x):
    a, b = _xy(x)
    return (1 - a) ** 2 + 100 * (b - a**2) ** 2


def _rastrigin(x):
    return 10 * x.shape[-1] + jnp.sum(x**2 - 10 * jnp.cos(2 * jnp.pi * x), axis=-1)


def _beale(x):
    a, b = _xy(x)
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2


def _himmelblau(x):
    a, b = _xy(x)
    return (a**2 + b - 11) ** 2 + (a + b**2 - 7) ** 2


def _rastrigin_minima(bound: float) -> tuple[Minimum, ...]:
    # Separable: each coordinate's minima solve 2x + 20*pi*sin(2*pi*x) = 0 near an
    # integer, slightly pulled toward 0. Newton from every integer in the box.
    xs = np.arange(-np.floor(bound), np.floor(bound) + 1)
    for _ in range(30):
        g = 2 * xs + 20 * np.pi * np.sin(2 * np.pi * xs)
        h = 2 + 40 * np.pi**2 * np.cos(2 * np.pi * xs)
        xs = xs - g / h
    one_d = [(float(x), float(x**2 - 10 * np.cos(2 * np.pi * x) + 10)) for x in xs]
    points = [((a, b), fa + fb) for a, fa in one_d for b, fb in one_d]
    points.sort(key=lambda p: (p[1], p[0]))
    return tuple(
        Minimum(point, value, "global" if i == 0 else "local")
        for i, (point, value) in enumerate(points)
    )


# The landscapes, the texts' first (their order is `names`'s).
_LANDSCAPES = (
    Landscape(
        "parabola",
        1,
        _parabola,
        (Minimum((1.0,), -3.0, "global"),),
        ((-1.0, 3.0),),
        "f(x) = 6x² - 12x + 3, minimum -3 at x = 1. Seed 001 eq. 11.2: 1-D gradient "
        "descent (Figs. 11-1, 11-2: 15 steps from -0.9 at lr 0.03, from 0.75 at "
        "lr 0.15) and 1-D momentum (Fig. 11-6).",
        starts=((-0.9,), (0.75,)),
    ),
    Landscape(
        "bowl",
        2,
        _bowl,
        (Minimum((0.0, 0.0), 0.0, "global"),),
        ((-20.0, 20.0), (-20.0, 20.0)),
        "f(x, y) = x² + y², minimum 0 at the origin. Seed 000 eq. 3.10: plain descent "
        "(Fig. 3.4), per-parameter rates (Fig. 3.5), momentum and its velocity "
        "(Figs. 3.6-3.8), RMSProp and its accumulators (Figs. 3.9, 3.10).",
        starts=((15.0, 15.0), (15.0, 7.5)),
    ),
    Landscape(
        "ellipse",
        2,
        _ellipse,
        (Minimum((1.0, 7 / 9), -3 - 49 / 9, "global"),),
        ((-1.0, 3.0), (-1.0, 3.0)),
        "f(x, y) = 6x² + 9y² - 12x - 14y + 3, minimum at (1, 7/9). Seed 001, Fig. 11-3: "
        "2-D descent from (-0.5, 2.9), (1.5, -0.8) and (2.7, 2.3) at lr 0.02.",
        starts=((-0.5, 2.9), (1.5, -0.8), (2.7, 2.3)),
    ),
    Landscape(
        "canyon",
        2,
        _canyon,
        (Minimum((1.0, 0.375), -8.625, "global"),),
        ((-1.0, 3.0), (-1.0, 3.0)),
        "f(x, y) = 6x² + 40y² - 12x - 30y + 3, a narrow valley along x, minimum at "
        "(1, 0.375). Seed 001, Fig. 11-4: from (-0.5, 2.3) at lr 0.02 (bounces across "
        "the walls) and (2.3, 2.3) at lr 0.01 (crawls along the floor).",
        starts=((-0.5, 2.3), (2.3, 2.3)),
    ),
    Landscape(
        "stretched_bowl",
        2,
        _stretched_bowl,
        (Minimum((0.0, 0.0), 0.0, "global"),),
        ((-5.5, 1.0), (-3.0, 3.0)),
        "f(x1, x2) = 0.1x1² + 2x2², minimum 0 at the origin. Seed 003 (Dive into Deep "
        "Learning §7.4): 20 steps from (-5, -2), plain descent at lr 0.4 and 0.6 "
        "(diverges in x2), momentum 0.5 at both.",
        starts=((-5.0, -2.0),),
    ),
    Landscape(
        "two_gaussians",
        2,
        _two_gaussians,
        (
            Minimum((-0.980383635578, 0.980383635578), -2.0190335939268036, "global"),
            Minimum((0.893974104101, -0.893974104101), -1.0441763239640927, "local"),
        ),
        ((-2.0, 2.0), (-2.0, 2.0)),
        "f(x, y) = -2exp(-((x+1)² + (y-1)²)/2) - exp(-((x-1)² + (y+1)²)/2), seed 001 "
        "eq. 11.4: a deep minimum near (-1, 1) and a shallow one near (1, -1) (each "
        "pulled inward by the other's tail; a saddle lies between). Figs. 11-5 "
        "(Table 11-1's five starts at lr 0.4), 11-7 and 11-10 (momentum, Nesterov) "
        "and Table 11-2.",
        starts=((-1.5, 1.2), (1.5, -1.8), (0.0, 0.0), (0.7, -0.2), (1.5, 1.5)),
        saddles=((0.364074038552, -0.364074038552),),
    ),
    Landscape(
        "saddle",
        2,
        _saddle,
        (),
        ((-1.5, 1.5), (-1.5, 1.5)),
        "f(x, y) = x² - y², a saddle at the origin and no minimum. Seed 002 Fig. 4b: "
        "SGD, momentum and NAG struggle to break the symmetry; the adaptive methods "
        "leave along the descending direction.",
        starts=((1.0, 1e-3),),
        saddles=((0.0, 0.0),),
    ),
    Landscape(
        "rosenbrock",
        2,
        _rosenbrock,
        (Minimum((1.0, 1.0), 0.0, "global"),),
        ((-2.0, 2.0), (-1.0, 3.0)),
        "f(x, y) = (1 - x)² + 100(y - x²)², a long curved valley with its minimum at "
        "(1, 1) (Rosenbrock 1960). The long valley of seed 002 Fig. 4a.",
        starts=((-2.0, 2.0),),
    ),
    Landscape(
        "rastrigin",
        2,
        _rastrigin,
        _rastrigin_minima(4.5),
        ((-4.5, 4.5), (-4.5, 4.5)),
        "f(x) = 20 + sum(x² - 10cos(2πx)), a lattice of local minima around the global "
        "one at the origin (Rastrigin 1974); every local minimum inside the box is "
        "listed.",
        starts=((-2.0, 3.5),),
    ),
    Landscape(
        "beale",
        2,
        _beale,
        (Minimum((3.0, 0.5), 0.0, "global"),),
        ((-4.5, 4.5), (-4.5, 4.5)),
        "f(x, y) = (1.5 - x + xy)² + (2.25 - x + xy²)² + (2.625 - x + xy³)², minimum 0 "
        "at (3, 0.5) in a flat, curved basin (Beale 1958).",
        starts=((1.0, 1.5),),
    ),
    Landscape(
        "himmelblau",
        2,
        _himmelblau,
        (
            Minimum((3.0, 2.0), 0.0, "global"),
            Minimum((-2.805118086953, 3.131312518251), 0.0, "global"),
            Minimum((-3.779310253378, -3.283185991286), 0.0, "global"),
            Minimum((3.58442834033, -1.848126526964), 0.0, "global"),
        ),
        ((-5.0, 5.0), (-5.0, 5.0)),
        "f(x, y) = (x² + y - 11)² + (x + y² - 7)², four global minima of value 0 "
        "(Himmelblau 1972): where descent ends depends on where it starts.",
        starts=((0.0, 0.0), (-1.0, -1.0)),
    ),
)

_REGISTRY = {landscape.name: landscape for landscape in _LANDSCAPES}


def names() -> list[str]:
    """The registered landscape names, the texts' first."""
    return list(_REGISTRY)


def get(name: str) -> Landscape:
    """The landscape called ``name``; ``ValueError`` naming the valid ones if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown landscape {name!r}; choose one of: {', '.join(_REGISTRY)}"
        ) from None


parabola = _REGISTRY["parabola"]
bowl = _REGISTRY["bowl"]
ellipse = _REGISTRY["ellipse"]
canyon = _REGISTRY["canyon"]
stretched_bowl = _REGISTRY["stretched_bowl"]
two_gaussians = _REGISTRY["two_gaussians"]
saddle = _REGISTRY["saddle"]
rosenbrock = _REGISTRY["rosenbrock"]
rastrigin = _REGISTRY["rastrigin"]
beale = _REGISTRY["beale"]
himmelblau = _REGISTRY["himmelblau"]
