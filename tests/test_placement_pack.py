"""`pack` under a structure: products packed on a shelf board stay below the board above.

Before `pack` looked up, bottles 0.2–0.5 m tall packed on a board 0.34 m below the next one went up
to 18 cm through it. The check here is independent of the placement's own lookup: vertical rays cast
(trimesh) up from each bottle's footprint at the shelf mesh.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import trimesh

from scenesmith.procedural import meshes
from scenesmith.procedural.build import build_scene
from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.loader import load_scene
from scenesmith.procedural.placements.pack import PackRule, place_packed, roofs_over
from scenesmith.procedural.registry import Generated, PlacementContext, Support

MARGIN = 0.002
RULES = load_scene(
    "retail_shelf",
    [
        f"objects.bottles.placement={{method: pack, support: [shelf.1], margin_m: {MARGIN}}}",
        "objects.bottles.params.height_m={uniform: [0.2, 0.5]}",
        "objects.bottles.count=12",
    ],
).rules


THICKNESS = RULES.surfaces["shelf"].board_thickness_m.sample(np.random.default_rng(0))  # a constant


@pytest.mark.parametrize("index", range(3))
def test_packed_products_stay_below_the_board_above(index: int) -> None:
    desc = build_scene(RULES, 0, index)
    shelf = next(o for o in desc.objects if o.name == "shelf").world_mesh
    bottles = [o for o in desc.objects if o.attributes.get("group") == "bottles"]
    boards = desc.factors["surfaces.shelf.board_heights_m"]
    free = boards[2] - boards[1] - THICKNESS
    assert bottles, "shorter bottles still fit"
    for bottle in bottles:
        vertices = bottle.world_mesh.vertices[::5]
        assert np.ptp(vertices[:, 2]) + MARGIN <= free + 1e-9
        starts = vertices.copy()
        starts[:, 2] = bottle.pose[2, 3] + 0.002
        hits, rays, _ = shelf.ray.intersects_location(starts, np.tile([0.0, 0.0, 1.0], (len(starts), 1)))
        ceiling = np.full(len(starts), np.inf)
        np.minimum.at(ceiling, rays, hits[:, 2])
        assert (vertices[:, 2] + MARGIN <= ceiling + 1e-9).all(), bottle.name


def _surface(mesh: trimesh.Trimesh, centre: tuple[float, float, float], yaw_deg: float = 0.0) -> SceneObject:
    pose = trimesh.transformations.rotation_matrix(np.radians(yaw_deg), [0, 0, 1])
    pose[:3, 3] = centre
    return SceneObject(0, "structure", mesh, np.zeros(len(mesh.faces), int), [], pose)


def _context(*objects: SceneObject) -> tuple[Support, PlacementContext]:
    support = Support("table", np.eye(4), (1.0, 1.0))
    return support, PlacementContext({"table": support}, camera=None, placed=list(objects))  # type: ignore[arg-type]


def test_headroom_is_the_underside_over_the_disc_and_unlimited_beside_it() -> None:
    # A board whose underside is 0.3 m up, over x in [0, 1] only.
    support, context = _context(_surface(trimesh.creation.box([1.0, 2.0, 0.02]), (0.5, 0.0, 0.31)))
    roofs = roofs_over(support, context)
    assert roofs.headroom(0.5, 0.0, 0.05) == pytest.approx(0.3)
    assert roofs.headroom(-0.04, 0.0, 0.05) == pytest.approx(0.3)  # the disc reaches under it
    assert roofs.headroom(-0.06, 0.0, 0.05) == np.inf


def test_a_slanting_roof_limits_only_the_discs_under_it() -> None:
    """A strip 0.3 m up running diagonally: its outline counts, not the square box around it."""
    strip = _surface(trimesh.creation.box([1.0, 0.02, 0.02]), (0.0, 0.0, 0.31), yaw_deg=45.0)
    roofs = roofs_over(*_context(strip))
    assert roofs.headroom(0.2, 0.2, 0.03) == pytest.approx(0.3)
    assert roofs.headroom(0.3, -0.3, 0.03) == np.inf  # inside the strip's box, 0.42 m from the strip


def test_a_tray_standing_on_the_table_is_no_roof_over_it() -> None:
    """The tray's walls rest on its floor: their undersides face down 4 mm above the table, yet the
    tray is an obstacle beside packed objects (`occupied_discs`), not a roof. Turned, so that a wall's
    box would reach far past the tray."""
    tray = meshes.tray(0.22, 0.16, 0.03, 0.006, 0.004).mesh
    support, context = _context(_surface(tray, (0.0, 0.0, 0.004), yaw_deg=45.0))
    assert (tray.face_normals[:, 2] < -0.5).sum() > 2  # the walls' undersides are in the mesh
    roofs = roofs_over(support, context)
    assert len(roofs.heights) == 0
    assert roofs.headroom(0.15, 0.0, 0.03) == np.inf


def test_objects_pack_beside_a_long_strip_that_lay_there_first() -> None:
    """A 0.9 m strip along a 0.2 m deep board: its disc would cover the whole board, its outline
    leaves room on either side."""
    board = Support("board", np.eye(4), (0.5, 0.1))
    strip = _surface(trimesh.creation.box([0.9, 0.02, 0.01]), (0.0, 0.0, 0.005))
    strip.instance_id, strip.attributes = 1, {"support": "board"}
    context = PlacementContext({"board": board}, camera=None, placed=[strip])  # type: ignore[arg-type]
    cube = trimesh.creation.box([0.04, 0.04, 0.04])
    cube.apply_translation([0.0, 0.0, 0.02])
    items = [Generated(cube, np.zeros(len(cube.faces), int), ("body",)) for _ in range(6)]
    rule = PackRule.model_validate({"method": "pack", "support": ["board"], "margin_m": MARGIN})
    placements = place_packed(rule, np.random.default_rng(0), items, context)
    placed = [p for p in placements if p is not None]
    assert len(placed) >= 4
    outline = shapely.box(-0.45, -0.01, 0.45, 0.01)
    for placement in placed:
        corners = trimesh.transform_points(cube.vertices, placement.pose)[:, :2]
        assert shapely.convex_hull(shapely.multipoints(corners)).distance(outline) >= MARGIN - 1e-9
