"""`rows` helpers against answers known in closed form: the soil's height under many points at once,
and plants' low parts laid over a sloping soil (`drape`)."""

from __future__ import annotations

import numpy as np
import trimesh

from scenesmith.procedural.placements.rows import SurfaceTop, drape

SLOPE = 0.25  # the steepest flank of a 6 cm ridge over 0.75 m rows is π·0.06/0.75 ≈ 0.25


def _sloping_soil(size: float = 2.0) -> SurfaceTop:
    """A plane rising along world x: z = SLOPE · x, cut into a grid of triangles."""
    soil = trimesh.creation.box([size, size, 0.01])
    soil = trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(soil.vertices, soil.faces, 0.1))
    top = soil.vertices[:, 2] > 0
    soil.vertices[top, 2] = SLOPE * soil.vertices[top, 0]
    soil.vertices[~top, 2] = -1.0
    return SurfaceTop(soil, fallback_z=0.0)


def test_heights_are_the_soil_under_each_point_and_agree_with_the_point_lookup() -> None:
    soil = _sloping_soil()
    xy = np.random.default_rng(0).uniform(-0.9, 0.9, size=(500, 2))
    heights = soil.heights(xy)
    np.testing.assert_allclose(heights, SLOPE * xy[:, 0], atol=1e-12)
    np.testing.assert_allclose(heights, [soil(p) for p in xy[:20]] + list(heights[20:]), atol=1e-12)


def test_heights_are_nan_off_the_soil_and_for_no_soil() -> None:
    assert np.isnan(_sloping_soil().heights(np.array([[5.0, 0.0]]))).all()
    assert np.isnan(SurfaceTop(None, 0.0).heights(np.zeros((3, 2)))).all()


def _rosette_and_stem() -> trimesh.Trimesh:
    """A flat ring of leaf tips at the base's level and a stem standing 0.2 m tall, in a frame whose
    up is +y (the pose below turns it upright), so that a mix-up of frames shows."""
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = np.c_[0.15 * np.cos(angles), np.zeros(12), 0.15 * np.sin(angles)]
    stem = np.c_[np.zeros(5), np.linspace(0.0, 0.2, 5), np.zeros(5)]
    vertices = np.vstack([ring, stem])
    faces = np.array([[i, (i + 1) % 12, 12] for i in range(12)])
    return trimesh.Trimesh(vertices, faces, process=False)


def _upright_pose(base: np.ndarray, yaw_deg: float) -> np.ndarray:
    upright = trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])  # +y → +z
    yaw = trimesh.transformations.rotation_matrix(np.radians(yaw_deg), [0, 0, 1])
    pose = yaw @ upright
    pose[:3, 3] = base
    return pose


def test_low_parts_follow_a_sloping_soil_and_high_parts_stay_as_grown() -> None:
    soil, mesh = _sloping_soil(), _rosette_and_stem()
    sink = 0.003
    base = np.array([0.1, -0.2, SLOPE * 0.1 - sink])
    pose = _upright_pose(base, yaw_deg=37.0)
    draped = drape(mesh, pose, soil, height=0.05)
    assert draped is not None
    before = trimesh.transform_points(mesh.vertices, pose)
    after = trimesh.transform_points(draped.vertices, pose)
    np.testing.assert_allclose(after[:, :2], before[:, :2], atol=1e-12)  # only heights move
    ring, stem = after[:12], after[12:]
    # Leaf tips lie on the soil under them, as deep as the base: up-slope and down-slope alike.
    np.testing.assert_allclose(ring[:, 2], SLOPE * ring[:, 0] - sink, atol=1e-12)
    assert np.ptp(ring[:, 2]) > 0.07  # the 0.3 m ring spans 7.5 cm of rise
    # The stem stands over the base: no rise under it, so it does not move at all.
    np.testing.assert_allclose(stem, before[12:], atol=1e-12)
    np.testing.assert_array_equal(draped.faces, mesh.faces)


def _leaf_at(x: float, heights: list[float]) -> trimesh.Trimesh:
    """Points of a leaf at `x` (object frame, up +y as for `_upright_pose`), one per height."""
    vertices = np.array([[x, h, 0.0] for h in heights])
    return trimesh.Trimesh(vertices, [[i, i + 1, i + 2] for i in range(len(heights) - 2)], process=False)


def _rise(mesh: trimesh.Trimesh, height: float) -> np.ndarray:
    pose = _upright_pose(np.zeros(3), yaw_deg=0.0)
    draped = drape(mesh, pose, _sloping_soil(), height)
    assert draped is not None
    return (trimesh.transform_points(draped.vertices, pose) - trimesh.transform_points(mesh.vertices, pose))[
        :, 2
    ]


def test_parts_between_the_ground_and_the_drape_height_move_in_proportion() -> None:
    # Under the leaf the soil is SLOPE · 0.2 = 5 cm above the base's: full, half, none.
    np.testing.assert_allclose(
        _rise(_leaf_at(0.2, [0.0, 0.06, 0.12]), height=0.12), [0.05, 0.025, 0.0], atol=1e-12
    )


def test_soil_rising_past_the_drape_height_neither_buries_nor_folds_a_leaf() -> None:
    """5 cm of rise against a 1 cm drape height: the fade stretches to 10 cm."""
    heights = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15]
    after = np.array(heights) + _rise(_leaf_at(0.2, heights), height=0.01)
    np.testing.assert_allclose(after, [0.05, 0.0525, 0.055, 0.06, 0.075, 0.1, 0.15], atol=1e-12)
    assert (after >= 0.05).all() and (np.diff(after) > 0).all()


def test_a_zero_drape_height_no_soil_or_flat_soil_leaves_the_mesh_as_made() -> None:
    mesh = _rosette_and_stem()
    pose = _upright_pose(np.zeros(3), yaw_deg=0.0)
    flat = trimesh.creation.box([2.0, 2.0, 0.01])
    flat.apply_translation([0.0, 0.0, -0.005])
    assert drape(mesh, pose, _sloping_soil(), height=0.0) is None
    assert drape(mesh, pose, SurfaceTop(None, 0.0), height=0.05) is None
    assert drape(mesh, pose, SurfaceTop(flat, 0.0), height=0.05) is None
