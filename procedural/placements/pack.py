"""Analytic placement: each object in its rest pose with a random yaw, packed in 2D on a support.

Objects are bounded by discs (the footprint's radius about the object origin after the rest
rotation), and discs are placed by rejection sampling, so nothing can interpenetrate whatever the
yaw. Objects that do not fit are dropped (the caller records how many were placed).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import trimesh

from scenesmith.procedural.params import Angle, Attempts, Length, Rule, Supports, number
from scenesmith.procedural.registry import (
    Generated,
    Placement,
    PlacementContext,
    PlacementSpec,
    Support,
    register,
)


class PackRule(Rule):
    method: Literal["pack"]
    # Candidate supports, first one present wins (e.g. [tray, table]: the tray when there is one).
    support: Supports
    margin_m: Length = 0.002
    min_gap_m: Length = 0.0
    # Fraction (each side) of a bounded support (tray, belt, board) that objects may use, and of the
    # visible part of a view-limited support (table, ground): on a bare table objects stay central.
    extent_fraction: number(minimum=0.05, maximum=1.0) = 1.0
    view_fraction: number(minimum=0.05, maximum=1.0) = 0.8
    yaw_deg: Angle = {"uniform": [0, 360]}
    attempts: Attempts = 200


def view_region(support: Support, context: PlacementContext) -> tuple[np.ndarray, np.ndarray]:
    """(centre xy, half extent xy) in the support frame: the support, cut to what the camera sees."""
    lo, hi = -np.asarray(support.half_extent, float), np.asarray(support.half_extent, float)
    if not support.limit_to_view:
        return (lo + hi) / 2, (hi - lo) / 2
    camera = context.camera
    corners = np.array([[0, 0], [camera.width, 0], [0, camera.height], [camera.width, camera.height]], float)
    rays = (np.linalg.inv(camera.K) @ np.c_[corners, np.ones(4)].T).T @ camera.camera_to_world[:3, :3].T
    world_to_support = np.linalg.inv(support.pose)
    origin = (world_to_support @ np.r_[camera.camera_to_world[:3, 3], 1.0])[:3]
    directions = rays @ world_to_support[:3, :3].T
    hits = []
    for d in directions:
        if d[2] < -1e-9:  # rays that reach the support plane
            hits.append(origin + (-origin[2] / d[2]) * d)
    if len(hits) == 4:
        hits_xy = np.asarray(hits)[:, :2]
        lo, hi = np.maximum(lo, hits_xy.min(0)), np.minimum(hi, hits_xy.max(0))
    if np.any(hi <= lo):
        return np.zeros(2), np.zeros(2)
    return (lo + hi) / 2, (hi - lo) / 2


def usable_region(
    rule: Any, rng: np.random.Generator, support: Support, context: PlacementContext
) -> tuple[np.ndarray, np.ndarray]:
    """The support's region scaled by the rule's `view_fraction` (view-limited supports such as
    tables) or `extent_fraction` (bounded ones such as trays); both are drawn, in that order.

    Shared by every placement rule that has those two fields (`pack`, `physics`).
    """
    centre, half = view_region(support, context)
    extent, view = rule.extent_fraction.sample(rng), rule.view_fraction.sample(rng)
    return centre, half * (view if support.limit_to_view else extent)


def footprint_radius(generated: Generated) -> float:
    vertices = generated.mesh.vertices @ generated.rest_rotation.T
    return float(np.linalg.norm(vertices[:, :2], axis=1).max())


def occupied_discs(support: Support, context: PlacementContext) -> list[tuple[float, float, float]]:
    """Discs (x, y, r in the support frame) of what already stands on this support.

    That is objects placed on it earlier, and other surfaces standing on it (a tray on the table):
    a clutter object must not be packed into the tray's walls. Flat surfaces on it (paint markings,
    stains, under 5 mm tall) are not obstacles.
    """
    world_to_support = np.linalg.inv(support.pose)
    discs = []
    for obj in context.placed:
        local = trimesh.transform_points(obj.world_mesh.vertices, world_to_support)
        on_it = obj.attributes.get("support") == support.name
        resting_surface = (
            obj.instance_id == 0
            and obj.name != support.name
            and abs(local[:, 2].min()) < 0.01
            and local[:, 2].max() > 0.005
        )
        if not (on_it or resting_surface):
            continue
        c = (world_to_support @ np.r_[obj.pose[:3, 3], 1.0])[:2]
        discs.append((float(c[0]), float(c[1]), float(np.linalg.norm(local[:, :2] - c, axis=1).max())))
    return discs


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
    centre, half = usable_region(rule, rng, support, context)
    margin, gap = rule.margin_m.sample(rng), rule.min_gap_m.sample(rng)
    discs = occupied_discs(support, context)
    poses: list[Placement | None] = []
    for item in generated:
        radius = footprint_radius(item) + margin
        free = half - radius
        position = None
        if np.all(free >= 0):
            for x, y in rng.uniform(centre - free, centre + free, size=(rule.attempts, 2)):
                if all((x - px) ** 2 + (y - py) ** 2 >= (radius + pr + gap) ** 2 for px, py, pr in discs):
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


register(PlacementSpec("pack", PackRule, place_packed))
