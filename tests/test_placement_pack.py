"""`pack` under a structure: products packed on a shelf board stay below the board above.

Before `pack` looked up, bottles 0.2–0.5 m tall packed on a board 0.34 m below the next one went up
to 18 cm through it. The check here is independent of the placement's own lookup: vertical rays cast
(trimesh) up from each bottle's footprint at the shelf mesh.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from scenesmith.procedural.build import build_scene
from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.loader import load_scene
from scenesmith.procedural.placements.pack import headroom, undersides
from scenesmith.procedural.registry import PlacementContext, Support

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


def _slab(centre: tuple[float, float, float], extents: tuple[float, float, float]) -> SceneObject:
    box = trimesh.creation.box(extents)
    pose = np.eye(4)
    pose[:3, 3] = centre
    return SceneObject(0, "structure", box, np.zeros(len(box.faces), int), [], pose)


def _context(*objects: SceneObject) -> tuple[Support, PlacementContext]:
    support = Support("floor", np.eye(4), (1.0, 1.0))
    return support, PlacementContext({"floor": support}, camera=None, placed=list(objects))  # type: ignore[arg-type]


def test_headroom_is_the_underside_over_the_disc_and_unlimited_beside_it() -> None:
    # A board whose underside is 0.3 m up, over x in [0, 1] only.
    support, context = _context(_slab((0.5, 0.0, 0.31), (1.0, 2.0, 0.02)))
    roofs = undersides(support, context)
    assert headroom(roofs, 0.5, 0.0, 0.05) == pytest.approx(0.3)
    assert headroom(roofs, -0.04, 0.0, 0.05) == pytest.approx(0.3)  # the disc reaches under it
    assert headroom(roofs, -0.06, 0.0, 0.05) == np.inf


def test_what_rests_on_the_support_is_no_roof() -> None:
    """A tray standing on the table: its floor's underside lies on the table, its walls' tops face up."""
    tray_floor = _slab((0.0, 0.0, 0.005), (0.4, 0.3, 0.01))
    tray_wall = _slab((0.0, 0.16, 0.03), (0.4, 0.02, 0.06))
    support, context = _context(tray_floor, tray_wall)
    roofs = undersides(support, context)
    assert len(roofs) == 0
    assert headroom(roofs, 0.0, 0.16, 0.1) == np.inf
