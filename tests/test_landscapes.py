import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdjax import landscapes

ALL = landscapes.names()


def test_every_landscape_of_the_issue_is_registered():
    assert ALL == [
        "parabola",
        "bowl",
        "ellipse",
        "canyon",
        "stretched_bowl",
        "two_gaussians",
        "saddle",
        "rosenbrock",
        "rastrigin",
        "beale",
        "himmelblau",
    ]


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown landscape 'nope'.*two_gaussians.*himmelblau"):
        landscapes.get("nope")


@pytest.mark.parametrize("name", ALL)
def test_fn_is_batched_over_leading_axes(name):
    land = landscapes.get(name)
    points = jax.random.uniform(jax.random.key(0), (3, 4, land.dim), minval=-1.0, maxval=1.0)
    values = land.fn(points)
    assert values.shape == (3, 4)
    np.testing.assert_allclose(values[1, 2], land.fn(points[1, 2]), rtol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_minima_are_stationary_points_with_positive_curvature(name):
    land = landscapes.get(name)
    with jax.enable_x64(True):
        for minimum in land.minima:
            x = jnp.asarray(minimum.point, jnp.float64)
            np.testing.assert_allclose(land.fn(x), minimum.value, atol=1e-9)
            assert float(jnp.max(jnp.abs(jax.grad(land.fn)(x)))) < 1e-6
            assert np.all(np.linalg.eigvalsh(np.asarray(jax.hessian(land.fn)(x))) > 0)
        for point in land.saddles:
            x = jnp.asarray(point, jnp.float64)
            assert float(jnp.max(jnp.abs(jax.grad(land.fn)(x)))) < 1e-6
            eigenvalues = np.linalg.eigvalsh(np.asarray(jax.hessian(land.fn)(x)))
            assert eigenvalues.min() < 0 < eigenvalues.max()


@pytest.mark.parametrize("name", [n for n in ALL if n != "saddle"])
def test_global_minima_come_first_and_are_lowest_and_inside_the_bounds(name):
    land = landscapes.get(name)
    kinds = [m.kind for m in land.minima]
    assert kinds == sorted(kinds)  # "global" < "local"
    lowest = min(m.value for m in land.minima)
    assert all(
        m.value == pytest.approx(lowest, abs=1e-9) for m in land.minima if m.kind == "global"
    )
    for m in land.minima:
        assert all(lo <= c <= hi for c, (lo, hi) in zip(m.point, land.bounds, strict=True))


def test_grid_search_finds_no_lower_point_than_the_global_minimum():
    for name in ["ellipse", "canyon", "two_gaussians", "beale", "himmelblau", "rastrigin"]:
        land = landscapes.get(name)
        axes = [np.linspace(lo, hi, 301) for lo, hi in land.bounds]
        grid = np.stack(np.meshgrid(*axes), axis=-1)
        assert float(jnp.min(land.fn(jnp.asarray(grid)))) >= land.minima[0].value - 1e-4


def test_rastrigin_lists_every_local_minimum_in_the_box():
    land = landscapes.rastrigin
    assert len(land.minima) == 81  # 9 per axis in [-4.5, 4.5]
    assert land.minima[0].point == (0.0, 0.0) and land.minima[0].kind == "global"


def test_docs_say_where_the_texts_use_them():
    for name in [
        "parabola",
        "bowl",
        "ellipse",
        "canyon",
        "stretched_bowl",
        "two_gaussians",
        "saddle",
    ]:
        land = landscapes.get(name)
        assert "seed 00" in land.doc.lower() and land.__doc__ == land.doc


def test_gradient_comes_from_jax_grad():
    land = landscapes.ellipse
    x = jnp.array([[0.0, 0.0], [1.0, 2.0]])
    # analytic: (12x - 12, 18y - 14)
    np.testing.assert_allclose(land.grad(x), [[-12.0, -14.0], [0.0, 22.0]], rtol=1e-6)


def test_nearest_minimum():
    index, distance = landscapes.two_gaussians.nearest_minimum(
        jnp.array([[0.9, -0.9], [-1.0, 1.0]])
    )
    np.testing.assert_array_equal(index, [1, 0])
    np.testing.assert_allclose(
        distance[1], np.hypot(1 - 0.980383635578, 1 - 0.980383635578), rtol=1e-5
    )
    index, distance = landscapes.saddle.nearest_minimum(jnp.zeros((2, 2)))
    assert (np.asarray(index) == -1).all() and np.isnan(np.asarray(distance)).all()
