"""The camera's view of a support: analytic footprints, and placements that stay in the picture."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenesmith.procedural.build import build_scene
from scenesmith.procedural.camera import intrinsics, look_at
from scenesmith.procedural.description import Camera
from scenesmith.procedural.loader import load_scene
from scenesmith.procedural.registry import PlacementContext, Support
from scenesmith.procedural.view_region import Region, _clipped, ground_polygon, in_view, view_region


def _down_camera(height: float, yaw_deg: float, size: int = 100, fov_deg: float = 60.0) -> Camera:
    """A camera `height` above the origin looking straight down, its image x axis turned by `yaw`."""
    yaw = math.radians(yaw_deg)
    down = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    world_to_camera = look_at(np.array([0.0, 0.0, height]), np.zeros(3), down)
    return Camera(size, size, intrinsics(size, size, fov_deg), world_to_camera)


def test_a_yawed_top_down_view_is_a_turned_square() -> None:
    """At yaw 45° the camera sees a diamond; its box (what positions were drawn from) is twice its
    area, and the box's corners are ground no pixel shows."""
    camera = _down_camera(2.0, 45.0)
    ground = Support("ground", np.eye(4), (10.0, 10.0), limit_to_view=True)
    polygon = ground_polygon(camera, ground)
    half_side = 2.0 * math.tan(math.radians(30.0))
    assert polygon is not None
    assert np.allclose(np.sort(np.linalg.norm(polygon, axis=1)), half_side * math.sqrt(2), atol=1e-9)
    region = view_region(ground, PlacementContext({"ground": ground}, camera, []))
    assert np.allclose(region.half, half_side * math.sqrt(2))
    corner, middle = region.centre + 0.9 * region.half, region.centre
    assert region.fits(np.array([middle, corner])).tolist() == [True, False]
    assert not in_view(camera, np.array([[*corner, 0.0]]))
    assert in_view(camera, np.array([[*middle, 0.0]]))
    # A disc fits only if it clears every edge: the diamond's inscribed circle has radius = half side.
    assert region.fits(middle, half_side - 1e-6)[0] and not region.fits(middle, half_side + 1e-6)[0]


def test_a_region_scales_about_its_centre_and_a_bounded_support_is_its_box() -> None:
    square = Region(
        np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array([[0, -1], [2, -1], [2, 1], [0, 1.0]])
    )
    half = square.scaled(0.5)
    assert np.allclose(half.half, 0.5) and np.allclose(
        half.polygon, [[0.5, -0.5], [1.5, -0.5], [1.5, 0.5], [0.5, 0.5]]
    )
    assert half.fits(np.array([[1.4, 0.4], [1.6, 0.0]])).tolist() == [True, False]
    # A margin reaches as far past a corner as past an edge: 0.1 from the corner (1.5, 0.5), not 0.14.
    near_corner = np.array([[1.5, 0.5]]) + np.array([[0.07, 0.07], [0.08, 0.08], [0.0, 0.1], [0.0, 0.11]])
    assert half.fits(near_corner, -0.1).tolist() == [True, False, True, False]
    tray = Support("tray", np.eye(4), (0.1, 0.2))
    region = view_region(tray, PlacementContext({"tray": tray}, _down_camera(0.01, 45.0), []))
    assert region.polygon is None and np.allclose(region.half, [0.1, 0.2])
    assert region.fits(np.array([[5.0, 5.0]])).all()


def test_with_the_horizon_in_view_the_polygon_is_the_seen_part_of_the_support() -> None:
    """A camera 1 m up looking level along +y, 60° field: the image's lower edge meets the ground at
    y = 1/tan 30°, each image side along |x| = y·tan 30°, and the 10 m field ends at y = 5. It used to
    give no polygon, and placement fell back to the whole field, behind the camera included."""
    ahead = look_at(np.array([0.0, 0.0, 1.0]), np.array([0.0, 10.0, 1.0]), np.array([0.0, 0.0, -1.0]))
    camera = Camera(100, 100, intrinsics(100, 100, 60.0), ahead)
    field = Support("ground", np.eye(4), (5.0, 5.0), limit_to_view=True)
    polygon = ground_polygon(camera, field)
    near, far = math.sqrt(3.0), 5.0
    expected = [[-near, near], [near, near], [far, far], [-far, far]] / np.array([math.sqrt(3.0), 1.0])
    assert polygon is not None
    assert sorted(map(tuple, np.round(polygon, 9))) == sorted(map(tuple, np.round(expected, 9)))
    region = view_region(field, PlacementContext({"ground": field}, camera, []))
    np.testing.assert_allclose(region.centre, [0.0, (near + far) / 2], atol=1e-12)
    inside = region.centre + region.half * np.array([[0.0, 0.9], [0.5, 0.9], [0.0, -0.9], [0.9, -0.9]])
    assert region.fits(inside).tolist() == [True, True, True, False]
    for point, seen in zip(inside, region.fits(inside), strict=True):
        assert in_view(camera, np.array([[*point, 0.0]])) == seen
    # Looking up at the sky, no part of the ground is seen: nothing may be placed.
    up = look_at(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 5.0]), np.array([0.0, 1.0, 0.0]))
    sky = Camera(100, 100, intrinsics(100, 100, 60.0), up)
    assert ground_polygon(sky, field) is None
    assert np.all(view_region(field, PlacementContext({"ground": field}, sky, [])).half == 0)


@pytest.mark.parametrize(
    ("scene", "overrides", "groups", "images"),
    [
        # Satellite views turned by any azimuth: 40 of 235 packed aircraft lay wholly outside.
        ("aerial_airplanes", [], ("aircraft", "vehicles"), range(12)),
        # Dice dropped from 10 cm all over the bare table's view: 23 of 100 rolled out of the picture.
        (
            "dice_tray",
            [
                "surfaces.tray.probability=0",
                "objects.dice.count=25",
                "objects.dice.placement.view_fraction=1.0",
                "objects.dice.placement.drop_height_m=0.1",
            ],
            ("dice",),
            range(4),
        ),
        # A field camera tilted up to the horizon: at the default margins 168 of 346 plants in 6 images
        # were planted out of the picture (now 3 of 218, within the margin).
        (
            "crop_weeds",
            ["camera.tilt_deg=75", "camera.horizontal_fov_deg=70"]
            + [f"objects.{g}.placement.margin_m=0" for g in ("maize", "pigweed", "dandelion", "grass")],
            ("maize", "pigweed", "dandelion", "grass"),
            range(3),
        ),
    ],
)
def test_every_placed_object_is_in_the_picture(
    scene: str, overrides: list[str], groups: tuple[str, ...], images: range
) -> None:
    rules = load_scene(scene, overrides).rules
    placed = 0
    for image in images:
        built = build_scene(rules, 3, image)
        for obj in built.objects:
            if obj.attributes.get("group") in groups:
                placed += 1
                assert in_view(built.camera, obj.world_mesh.vertices), f"image {image}: {obj.name}"
    assert placed >= 10


def test_a_shrunk_view_of_a_partly_seen_support_stays_in_view() -> None:
    """Shrunk about the box's centre, which lay outside the view, the polygon reached past the view:
    `pack` with a view fraction below 1 could place objects no pixel shows."""
    pose = np.eye(4)
    pose[:2, 3] = (1.0, 1.0)
    table = Support("table", pose, (0.6, 0.6), limit_to_view=True)
    camera = _down_camera(2.0, 45.0)
    full = view_region(table, PlacementContext({"table": table}, camera, []))
    assert not full.fits(full.centre)[0]  # the box's centre is not seen
    point = np.array([-0.1, -0.1])
    assert not full.fits(point)[0] and not full.scaled(0.5).fits(point)[0]
    world = (pose @ np.r_[point, 0.0, 1.0])[:3]
    assert not in_view(camera, world[None])


def test_an_object_past_an_image_corner_is_not_in_view_though_its_box_overlaps() -> None:
    camera = _down_camera(2.0, 0.0)

    def on_ground(pixels: list[list[float]]) -> np.ndarray:
        rays = np.c_[pixels, np.ones(len(pixels))] @ np.linalg.inv(camera.K).T * 2.0  # depth 2 m
        return (camera.camera_to_world @ np.c_[rays, np.ones(len(rays))].T).T[:, :3]

    # A stick across the top-right corner's outside: its box reaches 10 px into the image.
    past_corner = on_ground([[90.0, -12.0], [112.0, 10.0], [91.0, -12.5], [112.5, 11.0]])
    assert not in_view(camera, past_corner)
    # Shifted 5 px down and left it crosses into the image.
    assert in_view(camera, past_corner + on_ground([[-5.0, 5.0]]) - on_ground([[0.0, 0.0]]))


def test_a_clip_line_through_corners_keeps_each_corner_once() -> None:
    """A repeated corner made a zero-length edge that no disc cleared: `pack` would place nothing."""
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    triangle = _clipped(square, np.array([1.0, -1.0, 0.0]))  # x ≥ y: through (0, 0) and (1, 1)
    assert triangle.tolist() == [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]
    region = Region(np.array([0.5, 0.5]), np.array([0.5, 0.5]), triangle)
    assert region.fits(np.array([[0.7, 0.3]]), 0.1).tolist() == [True]
