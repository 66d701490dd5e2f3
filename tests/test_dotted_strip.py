"""The `dotted_strip` clutter generator: a strip with round marks on top, where they should be."""

from __future__ import annotations

import numpy as np
import pytest

from scenesmith.procedural.generators.primitives import DottedStripParams, make_dotted_strip


def strip(**overrides: object) -> DottedStripParams:
    values = {"size_x_m": 0.3, "size_y_m": 0.05, "size_z_m": 0.004, "corner_radius_m": 0.0019}
    return DottedStripParams(**(values | overrides))


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_dots_lie_on_the_top_face_evenly_spaced(count: int) -> None:
    made = make_dotted_strip(
        strip(dot_count=count, dot_diameter_fraction=0.4, dot_inset_fraction=0.5), np.random.default_rng(0)
    )
    assert made.slots == ("body", "dots")
    dot_faces = made.face_materials == 1
    assert made.attributes["dot_count"] == count
    if count == 0:
        assert not dot_faces.any()
        return
    centres = made.mesh.triangles_center[dot_faces]
    # Every dot face sits at the top surface (z = +2 mm), within the disc's 0.2 mm thickness.
    assert centres[:, 2].min() >= 0.002 - 1e-4 - 1e-9 and centres[:, 2].max() <= 0.002 + 1e-4 + 1e-9
    radius = 0.4 * 0.05 / 2
    assert made.attributes["dot_radius_m"] == pytest.approx(radius)
    assert np.abs(centres[:, 1]).max() <= radius + 1e-9  # centred across the width
    # Dot centres: the end ones one inset (0.5 widths = 25 mm) from each end, the rest evenly between.
    expected = np.linspace(-0.15 + 0.025, 0.15 - 0.025, count) if count > 1 else np.zeros(1)
    top = made.mesh.triangles_center[dot_faces & (made.mesh.face_normals[:, 2] > 0.99)]
    found = np.sort([top[np.abs(top[:, 0] - x) <= radius, 0].mean() for x in expected])
    np.testing.assert_allclose(found, expected, atol=1e-3)
    assert made.volume == pytest.approx(made.mesh.volume, rel=0.05)  # the discs add almost nothing


def test_same_rng_gives_the_same_strip() -> None:
    params = strip(dot_diameter_fraction={"uniform": [0.2, 0.4]}, dot_inset_fraction={"uniform": [0.4, 1.0]})
    a = make_dotted_strip(params, np.random.default_rng(7))
    b = make_dotted_strip(params, np.random.default_rng(7))
    np.testing.assert_array_equal(a.mesh.vertices, b.mesh.vertices)
    assert a.attributes == b.attributes
