"""Product generators (turned shapes, printed boxes, cans): deterministic, valid meshes, labels, grasps.

Grasp candidates are checked against the mesh itself: the point lies on the surface (< 1 mm) and a
small step along the normal leaves the solid, i.e. the normal points outward.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scenesmith.procedural.generators.products import CanParams, ProductBoxParams, make_can, make_product_box
from scenesmith.procedural.generators.turned import SHAPES, TurnedParams, lathe, make_turned
from scenesmith.procedural.registry import Generated

SEEDS = st.integers(0, 2**32 - 1)
CASES = {
    **{shape: (make_turned, TurnedParams(shape=shape)) for shape in SHAPES},
    "small_mug": (make_turned, TurnedParams(shape="mug", height_m=0.08, radius_m=0.04)),
    "squat_vase": (make_turned, TurnedParams(shape="vase", height_m=0.06, radius_m=0.05)),
    "cereal_box": (make_product_box, ProductBoxParams()),
    "sharp_box": (make_product_box, ProductBoxParams(corner_radius_m=0.0)),
    "can": (make_can, CanParams()),
}


def _make(case: str, seed: int) -> Generated:
    make, params = CASES[case]
    return make(params, np.random.default_rng(seed))


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=8, deadline=None)
@given(seed=SEEDS)
def test_same_params_and_seed_give_the_same_object(case: str, seed: int) -> None:
    a, b = _make(case, seed), _make(case, seed)
    assert np.array_equal(a.mesh.vertices, b.mesh.vertices) and np.array_equal(a.mesh.faces, b.mesh.faces)
    assert np.array_equal(a.uv, b.uv) and np.array_equal(a.face_materials, b.face_materials)
    assert a.textures.keys() == b.textures.keys()
    assert all(np.array_equal(a.textures[k], b.textures[k]) for k in a.textures)
    assert a.extras == b.extras


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=15, deadline=None)
@given(seed=SEEDS)
@example(seed=7853636)  # a cereal box rounded by 1.3 µm had 1e-13 m² corner faces (now made sharp)
def test_meshes_are_valid_watertight_solids_standing_on_z0(case: str, seed: int) -> None:
    item = _make(case, seed)
    mesh = item.mesh
    assert np.isfinite(mesh.vertices).all()
    assert mesh.area_faces.min() > 1e-12
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert item.volume is not None and item.volume > 0 and mesh.volume > 0
    if case not in ("mug", "small_mug"):  # a mug's handle overlaps its wall a little
        assert item.volume == pytest.approx(mesh.volume, rel=1e-9)
    assert mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-9)  # stands on its base
    centre = mesh.bounds.mean(axis=0)[:2]
    assert np.linalg.norm(centre) < 0.25 * np.linalg.norm(
        mesh.extents[:2]
    )  # origin near the footprint centre
    assert item.face_materials.shape == (len(mesh.faces),)
    assert 0 <= item.face_materials.min() and item.face_materials.max() < len(item.slots)


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=10, deadline=None)
@given(seed=SEEDS)
def test_labels_are_rgb_images_mapped_by_uvs_in_the_unit_square(case: str, seed: int) -> None:
    item = _make(case, seed)
    assert item.uv is not None and item.uv.shape == (len(item.mesh.faces), 3, 2)
    assert np.isfinite(item.uv).all() and item.uv.min() >= 0.0 and item.uv.max() <= 1.0
    for slot, image in item.textures.items():
        assert slot in item.slots
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert image.std() > 5  # something is printed on it
        textured = item.face_materials == item.slots.index(slot)
        assert textured.any()  # the label is on some faces
        assert np.ptp(item.uv[textured], axis=(0, 1)).min() > 0.3  # and spans the image


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=6, deadline=None)
@given(seed=SEEDS)
def test_grasps_lie_on_the_surface_with_outward_unit_normals(case: str, seed: int) -> None:
    item = _make(case, seed)
    grasps = item.extras["grasps"]
    if case != "pawn":
        assert len(grasps) >= 3
    points = np.array([g["position"] for g in grasps])
    normals = np.array([g["normal"] for g in grasps])
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-9)
    assert all(0.0 <= g["score"] <= 1.0 for g in grasps)
    _, distance, _ = trimesh.proximity.closest_point(item.mesh, points)
    assert distance.max() < 1e-3
    assert not item.mesh.contains(points + 0.002 * normals).any()  # a step out along the normal is outside
    assert item.mesh.contains(points - 0.002 * normals).all()  # and a step in is inside the solid


def test_front_of_a_can_label_faces_minus_y() -> None:
    """u = 0.5 (the middle of the printed label, its front panel) is on the -Y side of the can."""
    item = _make("can", 3)
    label = item.face_materials == item.slots.index("label")
    centres = item.mesh.triangles_center[label]
    u = item.uv[label][:, :, 0].mean(axis=1)
    front = np.abs(u - 0.5) < 0.05
    assert (centres[front, 1] < 0).all() and (np.abs(centres[front, 0]) < np.abs(centres[front, 1])).all()


def test_lathe_of_a_rectangle_is_a_closed_cylinder() -> None:
    radius, height = 0.03, 0.1
    mesh, segment = lathe(np.array([[0, 0], [radius, 0], [radius, height], [0, height]], float), sections=64)
    assert mesh.is_watertight and mesh.volume > 0
    assert mesh.volume == pytest.approx(np.pi * radius**2 * height, rel=0.01)
    assert segment.shape == (len(mesh.faces),)


def test_turned_shape_is_the_category_unless_the_group_sets_one() -> None:
    for shape in SHAPES:
        assert _make(shape, 0).category == shape
