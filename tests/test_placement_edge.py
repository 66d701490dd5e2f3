"""`edge` placement: long clutter along the top or bottom edge of the photo, never into other objects."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from scenesmith.procedural.description import Camera, SceneObject
from scenesmith.procedural.placements.edge import EdgeRule, place_along_edge
from scenesmith.procedural.registry import Generated, PlacementContext, Support

HEIGHT_M = 0.3
FOCAL_PX = 320.0  # 640 px wide: the view at the table is 0.6 m × 0.45 m


def top_down_camera(yaw_deg: float = 0.0) -> Camera:
    """Straight down from 0.3 m; image right = world (cos yaw, sin yaw), image up = its left turn."""
    a = math.radians(yaw_deg)
    right, up = np.array([math.cos(a), math.sin(a), 0.0]), np.array([-math.sin(a), math.cos(a), 0.0])
    rotation = np.stack([right, -up, [0.0, 0.0, -1.0]])  # rows: camera x, y (down), z (forward)
    world_to_camera = np.eye(4)
    world_to_camera[:3, :3] = rotation
    world_to_camera[:3, 3] = -rotation @ np.array([0.0, 0.0, HEIGHT_M])
    K = np.array([[FOCAL_PX, 0, 320], [0, FOCAL_PX, 240], [0, 0, 1]], float)
    return Camera(640, 480, K, world_to_camera)


def strip_item(length: float = 0.8, width: float = 0.04, along_y: bool = False) -> Generated:
    extents = (width, length, 0.004) if along_y else (length, width, 0.004)
    mesh = trimesh.creation.box(extents=extents)
    return Generated(mesh=mesh, face_materials=np.zeros(len(mesh.faces), np.int32), slots=("body",))


def context(camera: Camera, placed: list[SceneObject] | None = None) -> PlacementContext:
    table = Support("table", np.eye(4), (2.0, 2.0), limit_to_view=True)
    return PlacementContext({"table": table}, camera, placed or [])


def rule(**values: object) -> EdgeRule:
    return EdgeRule(**({"method": "edge", "support": ["table"]} | values))


def obstacle(x: float, y: float, radius: float) -> SceneObject:
    mesh = trimesh.creation.cylinder(radius=radius, height=0.02).apply_translation((0, 0, 0.01))
    pose = np.eye(4)
    pose[:3, 3] = [x, y, 0.0]
    return SceneObject(
        1, "die", mesh, np.zeros(len(mesh.faces), np.int32), [], pose, attributes={"support": "table"}
    )


@pytest.mark.parametrize("yaw_deg", [0.0, 30.0, 90.0])
@pytest.mark.parametrize("along_y", [False, True])
def test_strip_lies_along_an_image_edge_and_runs_out_of_frame(yaw_deg: float, along_y: bool) -> None:
    camera = top_down_camera(yaw_deg)
    rules = rule(edge_offset=0.9, along_offset=0.0, yaw_deg=0.0)
    for seed in range(6):
        (placement,) = place_along_edge(
            rules, np.random.default_rng(seed), [strip_item(along_y=along_y)], context(camera)
        )
        assert placement is not None
        on_table = placement.pose[:3, 3] * [1, 1, 0]  # measured on the table plane, not 2 mm above
        centre_px, _ = camera.project(on_table[None])
        # Centre 0.9 of the way from the midline to the top or bottom edge (240 px half height).
        assert centre_px[0, 0] == pytest.approx(320, abs=1e-6)
        assert abs(centre_px[0, 1] - 240) == pytest.approx(0.9 * 240, abs=1e-6)
        # The long axis runs along the image horizontal: both ends project outside the frame sideways.
        long_axis = np.array([0.0, 0.4, 0.0]) if along_y else np.array([0.4, 0.0, 0.0])
        ends = np.array([placement.pose[:3, :3] @ long_axis, -(placement.pose[:3, :3] @ long_axis)])
        ends_px, _ = camera.project(ends + on_table)
        assert sorted(ends_px[:, 0]) == [
            pytest.approx(320 - 0.4 * FOCAL_PX / HEIGHT_M, abs=1e-6),
            pytest.approx(320 + 0.4 * FOCAL_PX / HEIGHT_M, abs=1e-6),
        ]
        assert ends_px[:, 1] == pytest.approx([centre_px[0, 1]] * 2, abs=1e-6)
        assert placement.pose[2, 3] == pytest.approx(0.002)  # resting on the table


def test_taken_edge_falls_back_to_the_other_then_drops() -> None:
    camera = top_down_camera()
    # Image top edge at the table is y = +0.225 m (0.3 m × 240 / 320); 0.9 of it is 0.2025 m.
    top_blocked = [obstacle(0.1, 0.2025, 0.02)]
    both_blocked = [*top_blocked, obstacle(-0.2, -0.2025, 0.02)]
    rules = rule(edge_offset=0.9, along_offset=0.0, yaw_deg=0.0)
    for seed in range(6):
        (placement,) = place_along_edge(
            rules, np.random.default_rng(seed), [strip_item()], context(camera, top_blocked)
        )
        assert placement is not None and placement.pose[1, 3] == pytest.approx(-0.2025)
        (dropped,) = place_along_edge(
            rules, np.random.default_rng(seed), [strip_item()], context(camera, both_blocked)
        )
        assert dropped is None


def test_two_strips_take_both_edges() -> None:
    placements = place_along_edge(
        rule(edge_offset=0.9, along_offset=0.0, yaw_deg=0.0),
        np.random.default_rng(0),
        [strip_item(), strip_item(), strip_item()],
        context(top_down_camera()),
    )
    ys = sorted(p.pose[1, 3] for p in placements[:2])
    assert ys == [pytest.approx(-0.2025), pytest.approx(0.2025)]
    assert placements[2] is None  # no third edge


def test_camera_looking_at_the_horizon_places_nothing() -> None:
    camera = top_down_camera()
    level = np.eye(4)
    level[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # optical axis horizontal: the top rays miss
    level[:3, 3] = -level[:3, :3] @ np.array([0.0, 0.0, HEIGHT_M])
    looking_level = Camera(camera.width, camera.height, camera.K, level)
    assert place_along_edge(rule(), np.random.default_rng(0), [strip_item()], context(looking_level)) == [
        None
    ]
