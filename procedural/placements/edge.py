"""Edge placement: long clutter lying along the top or bottom edge of the photo, running out of frame.

Why: `pack` bounds every object by its footprint disc and keeps it whole inside the view, so an
object longer than the view is never placed at all. Yet photos often show exactly that — a ruler,
a lid strip or a cable along one edge of the frame, partly cut off. This method lays each object
with its long axis along the image's horizontal direction (plus a yaw jitter), its centre a drawn
distance inside the top or bottom edge of the visible support, and checks its real rotated
footprint (its convex outline, not a disc) against what already stands there, trying the other
edge before giving up.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import trimesh
from shapely.affinity import translate
from shapely.geometry import MultiPoint, Point

from scenesmith.procedural.params import Angle, Fraction, Length, Rule, Supports
from scenesmith.procedural.placements.pack import choose_support, occupied_discs
from scenesmith.procedural.registry import (
    Generated,
    Placement,
    PlacementContext,
    PlacementSpec,
    Support,
    register,
)


class EdgeRule(Rule):
    method: Literal["edge"]
    support: Supports
    # Where the object's centre lies between the image's horizontal midline (0) and the top or
    # bottom edge (1); a long object near 1 runs partly outside the frame.
    edge_offset: Fraction = {"uniform": [0.75, 0.95]}
    # Offset along the edge, as a fraction of the visible half width.
    along_offset: Fraction = {"uniform": [0.0, 0.2]}
    yaw_deg: Angle = {"normal": {"mean": 0, "std": 3}}  # relative to the image's horizontal
    margin_m: Length = 0.002


def image_axes_on_support(support: Support, context: PlacementContext) -> tuple[np.ndarray, ...] | None:
    """(image centre, right-edge midpoint, top-edge midpoint) where their rays meet the support
    plane, in the support frame (xy); None if a ray misses it (camera looking above the horizon)."""
    camera = context.camera
    w, h = camera.width, camera.height
    pixels = np.array([[w / 2, h / 2], [w, h / 2], [w / 2, 0.0]])
    rays = (np.linalg.inv(camera.K) @ np.c_[pixels, np.ones(3)].T).T @ camera.camera_to_world[:3, :3].T
    world_to_support = np.linalg.inv(support.pose)
    origin = (world_to_support @ np.r_[camera.camera_to_world[:3, 3], 1.0])[:3]
    points = []
    for d in rays @ world_to_support[:3, :3].T:
        if d[2] >= -1e-9:
            return None
        points.append((origin + (-origin[2] / d[2]) * d)[:2])
    return tuple(points)


def place_along_edge(
    rule: EdgeRule, rng: np.random.Generator, generated: list[Generated], context: PlacementContext
) -> list[Placement | None]:
    support = choose_support(rule.support, context)
    axes = None if support is None else image_axes_on_support(support, context)
    if support is None or axes is None:
        return [None] * len(generated)
    centre, right, top = axes
    right_dir, up_dir = right - centre, top - centre
    obstacles = [Point(x, y).buffer(r) for x, y, r in occupied_discs(support, context)]
    margin = rule.margin_m.sample(rng)
    poses: list[Placement | None] = []
    for item in generated:
        edge_offset, along = rule.edge_offset.sample(rng), rule.along_offset.sample(rng)
        along *= rng.choice([-1.0, 1.0])
        yaw = math.radians(rule.yaw_deg.sample(rng))
        first = rng.choice([-1.0, 1.0])  # top or bottom first; the other if that one is taken
        rested = item.mesh.vertices @ item.rest_rotation.T
        spread = np.ptp(rested[:, :2], axis=0)
        long_axis_angle = 0.0 if spread[0] >= spread[1] else math.pi / 2
        # Turn the long axis onto the image's horizontal (as seen on the support), plus the jitter.
        turn = math.atan2(right_dir[1], right_dir[0]) + yaw - long_axis_angle
        rotation = trimesh.transformations.rotation_matrix(turn, [0, 0, 1])[:3, :3] @ item.rest_rotation
        turned = item.mesh.vertices @ rotation.T
        outline = MultiPoint(turned[:, :2]).convex_hull
        position, footprint = None, None
        for side in (first, -first):
            candidate = centre + along * right_dir + side * edge_offset * up_dir
            placed = translate(outline, *candidate)
            if all(placed.distance(other) >= margin for other in obstacles):
                position, footprint = candidate, placed
                break
        if position is None:
            poses.append(None)
            continue
        obstacles.append(footprint)
        local = np.eye(4)
        local[:3, :3] = rotation
        local[:3, 3] = [position[0], position[1], -turned[:, 2].min()]
        poses.append(Placement(support.pose @ local, support.name))
    return poses


register(PlacementSpec("edge", EdgeRule, place_along_edge))
