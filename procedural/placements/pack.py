"""Analytic placement: each object in its rest pose with a random yaw, packed in 2D on a support.

Objects are bounded by discs (the footprint's radius about the object origin after the rest
rotation), and discs are placed by rejection sampling, so nothing can interpenetrate whatever the
yaw. What stood on the support before (earlier groups, a tray on the table) is kept clear of by its
convex outline. Under a structure (the next shelf board, its price-tag strip) an object also keeps
`margin_m` below the structure's underside over its disc, so a tall product is not packed through
the board above it. Objects that do not fit are dropped (the caller records how many were placed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
import trimesh

from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.params import Angle, Attempts, Length, Rule, Supports, number
from scenesmith.procedural.registry import (
    Generated,
    Placement,
    PlacementContext,
    PlacementSpec,
    Support,
    register,
)
from scenesmith.procedural.view_region import usable_region


class PackRule(Rule):
    method: Literal["pack"]
    # Candidate supports, first one present wins (e.g. [tray, table]: the tray when there is one).
    support: Supports
    margin_m: Length = 0.002
    min_gap_m: Length = 0.0
    # Fraction (each side) of a bounded support (tray, board) that objects may use; a view-limited
    # support (table, ground, conveyor belt, apron) takes `view_fraction` of its visible part instead:
    # on a bare table objects stay central.
    extent_fraction: number(minimum=0.05, maximum=1.0) = 1.0
    view_fraction: number(minimum=0.05, maximum=1.0) = 0.8
    yaw_deg: Angle = {"uniform": [0, 360]}
    attempts: Attempts = 200


def footprint_radius(generated: Generated) -> float:
    vertices = generated.mesh.vertices @ generated.rest_rotation.T
    return float(np.linalg.norm(vertices[:, :2], axis=1).max())


def stands_on(support: Support, obj: SceneObject, local: np.ndarray) -> bool:
    """Whether `obj` (its vertices `local` in the support's frame) stands on this support: placed on it
    earlier, or another surface resting on it (a tray on the table). Flat surfaces on it (paint markings,
    stains, under 5 mm tall) do not count."""
    if obj.attributes.get("support") == support.name:
        return True
    return (
        obj.instance_id == 0
        and obj.name != support.name
        and abs(local[:, 2].min()) < 0.01
        and local[:, 2].max() > 0.005
    )


def occupied_discs(support: Support, context: PlacementContext) -> list[tuple[float, float, float]]:
    """Discs (x, y, r in the support frame) of what already stands on this support (`stands_on`), for
    `edge`: each disc holds the whole object, so a long one blocks far more than it covers."""
    world_to_support = np.linalg.inv(support.pose)
    discs = []
    for obj in context.placed:
        local = trimesh.transform_points(obj.world_mesh.vertices, world_to_support)
        if not stands_on(support, obj, local):
            continue
        c = (world_to_support @ np.r_[obj.pose[:3, 3], 1.0])[:2]
        discs.append((float(c[0]), float(c[1]), float(np.linalg.norm(local[:, :2] - c, axis=1).max())))
    return discs


def occupied_outlines(support: Support, context: PlacementContext) -> np.ndarray:
    """What already stands on this support (`stands_on`) as seen from above, in its frame: each
    object's convex outline (shapely Polygons). A clutter object must not be packed into a tray's
    walls, yet may lie beside a long strip where the strip's disc would have kept it away."""
    world_to_support = np.linalg.inv(support.pose)
    outlines = []
    for obj in context.placed:
        local = trimesh.transform_points(obj.world_mesh.vertices, world_to_support)
        if stands_on(support, obj, local):
            outlines.append(shapely.convex_hull(shapely.multipoints(local[:, :2])))
    return np.array(outlines, dtype=object)


@dataclass(frozen=True)
class Roofs:
    """The undersides of what hangs over a support (the board above, its price-tag strip), in its frame:
    each downward-facing triangle's outline seen from above and its lowest point."""

    outlines: np.ndarray  # shapely Polygons
    heights: np.ndarray

    def headroom(self, x: float, y: float, radius: float) -> float:
        """Free height over the disc of `radius` at (x, y): the lowest underside over any part of it."""
        if not len(self.heights):
            return math.inf
        over = shapely.distance(shapely.Point(x, y), self.outlines) < radius
        return float(self.heights[over].min()) if over.any() else math.inf


def roofs_over(support: Support, context: PlacementContext) -> Roofs:
    """The `Roofs` of this support. What stands on it is an obstacle beside objects
    (`occupied_outlines`), not a roof over them, though a tray's walls rest on its floor with their
    undersides 4 mm up."""
    world_to_support = np.linalg.inv(support.pose)
    outlines, heights = [], []
    for obj in context.placed:
        if obj.instance_id != 0:
            continue
        mesh = obj.world_mesh.copy().apply_transform(world_to_support)
        if stands_on(support, obj, mesh.vertices):
            continue
        triangles = mesh.triangles[(mesh.face_normals[:, 2] < -0.5) & (mesh.triangles[:, :, 2].min(1) > 1e-4)]
        outlines.append(shapely.polygons(triangles[:, :, :2]))
        heights.append(triangles[:, :, 2].min(1))
    if not outlines:
        return Roofs(np.array([]), np.array([]))
    return Roofs(np.concatenate(outlines), np.concatenate(heights))


def choose_support(names: list[str], context: PlacementContext) -> Support | None:
    for name in names:
        if name in context.supports:
            return context.supports[name]
    return None


def place_packed(
    rule: PackRule, rng: np.random.Generator, generated: list[Generated], context: PlacementContext
) -> list[Placement | None]:
    support = choose_support(rule.support, context)
    if support is None:
        return [None] * len(generated)
    region = usable_region(rule, rng, support, context)
    margin, gap = rule.margin_m.sample(rng), rule.min_gap_m.sample(rng)
    outlines = occupied_outlines(support, context)
    standing = shapely.STRtree(outlines)  # a few candidates near a few of many outlines are measured
    discs: list[tuple[float, float, float]] = []  # what this call placed: any yaw fits in its disc
    roofs = roofs_over(support, context)
    poses: list[Placement | None] = []
    for item in generated:
        radius = footprint_radius(item) + margin
        height = float(np.ptp((item.mesh.vertices @ item.rest_rotation.T)[:, 2])) + margin
        free = region.half - radius
        position = None
        if np.all(free >= 0):
            candidates = rng.uniform(region.centre - free, region.centre + free, size=(rule.attempts, 2))
            clear = region.fits(candidates, radius)
            near, _ = standing.query(shapely.points(candidates), predicate="dwithin", distance=radius + gap)
            clear[near] = False
            for (x, y), ok in zip(candidates, clear, strict=True):
                if not ok:
                    continue
                if all(
                    (x - px) ** 2 + (y - py) ** 2 >= (radius + pr + gap) ** 2 for px, py, pr in discs
                ) and height <= roofs.headroom(x, y, radius):
                    position = (float(x), float(y))
                    break
        yaw = math.radians(rule.yaw_deg.sample(rng))
        if position is None:
            poses.append(None)
            continue
        discs.append((*position, radius))
        rotation = trimesh.transformations.rotation_matrix(yaw, [0, 0, 1])[:3, :3] @ item.rest_rotation
        lowest = (item.mesh.vertices @ rotation.T)[:, 2].min()
        local = np.eye(4)
        local[:3, :3] = rotation
        local[:3, 3] = [position[0], position[1], -lowest]
        poses.append(Placement(support.pose @ local, support.name))
    return poses


# Revision 1: objects keep below the undersides of structures above them (shelf boards), and keep
# clear of what stood there before by its outline, not by the disc around it.
register(PlacementSpec("pack", PackRule, place_packed, revision=1))
