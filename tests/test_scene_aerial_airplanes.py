"""aerial_airplanes: the scene validates and builds; aircraft sit apart on the apron; oriented boxes fit."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import shapely
import trimesh

from scenesmith.annotate.labels import mask_bbox, oriented_bbox
from scenesmith.annotate.rasterize import silhouette
from scenesmith.procedural.build import build_scene
from scenesmith.procedural.camera import SatelliteCameraRule, sample_camera
from scenesmith.procedural.generators.aircraft import AircraftParams, make_aircraft
from scenesmith.procedural.generators.vehicles import VehicleParams, make_vehicle
from scenesmith.procedural.loader import load_scene

SCENE = "aerial_airplanes"
RULES = load_scene(SCENE).rules
CATEGORIES = {c.name: c.id for c in RULES.categories}


def _support_frame(desc) -> np.ndarray:  # noqa: ANN001
    """World → apron frame (the apron object's pose is the support's pose)."""
    apron = next(o for o in desc.objects if o.name == "apron")
    return np.linalg.inv(apron.pose)


def _disc(obj, world_to_support: np.ndarray) -> tuple[np.ndarray, float]:  # noqa: ANN001
    local = trimesh.transform_points(obj.world_mesh.vertices, world_to_support)
    centre = trimesh.transform_points(obj.pose[:3, 3][None], world_to_support)[0, :2]
    return centre, float(np.linalg.norm(local[:, :2] - centre, axis=1).max())


def _outline(obj, world_to_support: np.ndarray) -> shapely.Polygon:  # noqa: ANN001
    local = trimesh.transform_points(obj.world_mesh.vertices, world_to_support)
    return shapely.convex_hull(shapely.multipoints(local[:, :2]))


def test_scene_validates() -> None:
    assert set(CATEGORIES) == {"small", "medium", "large"}
    assert RULES.camera.kind == "satellite"
    assert RULES.render.resolution == (512, 512)


@pytest.mark.parametrize("index", range(20))
def test_images_have_aircraft_apart_on_the_apron(index: int) -> None:
    desc = build_scene(RULES, 0, index)
    aircraft = desc.labelled_objects
    assert len(aircraft) >= 1
    world_to_support = _support_frame(desc)
    half = RULES.surfaces["apron"].size_m.sample(np.random.default_rng(0)) / 2
    for obj in aircraft:
        assert obj.category in CATEGORIES and CATEGORIES[obj.category] == obj.category_id
        assert obj.category == obj.attributes["size_class"]
        local = trimesh.transform_points(obj.world_mesh.vertices, world_to_support)
        assert np.all(np.abs(local[:, :2]) <= half)  # on the apron
        assert local[:, 2].min() == pytest.approx(0.0, abs=1e-6)  # wheels on the concrete
    clutter = [o for o in desc.objects if o.instance_id and o.category is None]
    assert all(o.attributes["generator"] == "vehicle" for o in clutter)
    # No aircraft touches another (their footprint discs never overlap: `pack` placed them together)
    # or a vehicle (packed later, a vehicle keeps its margin and gap clear of an aircraft's outline).
    discs = [(o, *_disc(o, world_to_support)) for o in aircraft]
    for (a, ca, ra), (b, cb, rb) in itertools.combinations(discs, 2):
        assert np.linalg.norm(ca - cb) >= ra + rb, (a.name, b.name)
    vehicles = RULES.objects["vehicles"].placement
    clearance = vehicles.margin_m.sample(np.random.default_rng(0)) + vehicles.min_gap_m.sample(
        np.random.default_rng(0)
    )
    for plane, vehicle in itertools.product(aircraft, clutter):
        gap = _outline(plane, world_to_support).distance(_outline(vehicle, world_to_support))
        assert gap >= clearance - 1e-6, (plane.name, vehicle.name)


def _nadir_camera(gsd: float, size: int = 256):  # noqa: ANN202
    rule = SatelliteCameraRule(kind="satellite", gsd_m=gsd, off_nadir_deg=0.0)
    camera, _ = sample_camera(rule, np.random.default_rng(0), (size, size))
    return camera


def _diagonal_mask(item, gsd: float):  # noqa: ANN001, ANN202
    """(mask, image direction of +X) of a generated object yawed 45° under a nadir view."""
    camera = _nadir_camera(gsd)
    pose = trimesh.transformations.rotation_matrix(math.radians(45.0), [0, 0, 1])
    mask = silhouette(item.mesh.copy().apply_transform(pose), camera).frame_mask(camera.width, camera.height)
    (origin, nose), _ = camera.project(trimesh.transform_points(np.array([[0, 0, 0], [1, 0, 0]]), pose))
    return mask, (nose - origin) / np.linalg.norm(nose - origin)


def _heading_box(mask: np.ndarray, forward: np.ndarray) -> tuple[float, float]:
    """(length, width) in pixels of the mask's box aligned with the aircraft's heading (DOTA-style)."""
    ys, xs = np.nonzero(mask)
    corners = np.concatenate([np.c_[xs + dx, ys + dy] for dx in (0, 1) for dy in (0, 1)])
    along, across = corners @ forward, corners @ np.array([-forward[1], forward[0]])
    return float(np.ptp(along)), float(np.ptp(across))


CASES = [("small", 0.3), ("medium", 0.5), ("large", 0.6)]


@pytest.mark.parametrize(("size_class", "gsd"), CASES)
def test_heading_aligned_box_measures_length_and_span(size_class: str, gsd: float) -> None:
    """The box along the nose direction (published as extras.nose) spans length × span at the gsd."""
    for seed in range(3):
        item = make_aircraft(AircraftParams(size_class=size_class), np.random.default_rng(seed))
        length, width = _heading_box(*_diagonal_mask(item, gsd))
        assert length == pytest.approx(item.attributes["length_m"] / gsd, rel=0.1)
        assert width == pytest.approx(item.attributes["span_m"] / gsd, rel=0.1)
        expected = max(item.attributes["span_m"], item.attributes["length_m"]) / gsd
        assert max(length, width) == pytest.approx(expected, rel=0.15)


def test_published_obb_is_tight_for_elongated_objects() -> None:
    """A bus at 45°: the mask's minimum-area rectangle is far smaller than its axis-aligned box."""
    bus = make_vehicle(VehicleParams(kind="bus"), np.random.default_rng(0))
    mask, _ = _diagonal_mask(bus, 0.3)
    obb, (_, _, w, h) = oriented_bbox(mask), mask_bbox(mask)
    assert obb["w"] * obb["h"] < 0.5 * w * h
    assert max(obb["w"], obb["h"]) == pytest.approx(bus.attributes["length_m"] / 0.3, rel=0.15)


@pytest.mark.xfail(
    strict=True,
    reason="an aircraft's silhouette is cross-shaped: annotate's obb (cv2.minAreaRect of the mask) "
    "runs diagonally to the fuselage, so at 45° yaw it is the axis-aligned box and its long side is "
    "not the span or length; even the heading-aligned box is larger than the axis-aligned one there",
)
@pytest.mark.parametrize(("size_class", "gsd"), CASES)
def test_published_obb_is_aligned_with_the_aircraft(size_class: str, gsd: float) -> None:
    for seed in range(3):
        item = make_aircraft(AircraftParams(size_class=size_class), np.random.default_rng(seed))
        mask, _ = _diagonal_mask(item, gsd)
        obb, (_, _, w, h) = oriented_bbox(mask), mask_bbox(mask)
        assert obb["w"] * obb["h"] < 0.75 * w * h
        expected = max(item.attributes["span_m"], item.attributes["length_m"]) / gsd
        assert max(obb["w"], obb["h"]) == pytest.approx(expected, rel=0.15)


def test_tiny_render_annotates_aircraft_with_oriented_boxes() -> None:
    from scenesmith.pipeline import iter_samples

    overrides = ["render.resolution=[64, 64]", "render.samples=4", "render.denoise=false"]
    (sample,) = iter_samples(SCENE, 1, seed=1, overrides=overrides)
    annotations = sample.labels.annotations
    assert len(annotations) >= 1
    for ann in annotations:
        assert ann["category_id"] in CATEGORIES.values()
        assert ann["obb"] is not None and ann["obb"]["w"] > 0 and ann["obb"]["h"] > 0
