"""Where on a support placed objects may go: the part of it the camera sees, as a convex polygon.

A tilted camera sees a trapezoid of the ground, a rolled or yawed one a turned rectangle. The box
around that shape holds ground no pixel shows: drawing positions in it put 40 of 235 aircraft of
the aerial scene wholly outside the image. Positions are still drawn in the box (so a top-down view,
where polygon and box are one, draws as before) and kept only where they fall in the polygon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from scenesmith.procedural.description import Camera
from scenesmith.procedural.registry import PlacementContext, Support


@dataclass(frozen=True)
class Region:
    """A part of a support, in its frame: the box positions are drawn from and, for a support cut
    to the view, the polygon of ground the camera sees (counter-clockwise; None: the box is all)."""

    centre: np.ndarray  # (2,)
    half: np.ndarray  # (2,) half extent of the box
    polygon: np.ndarray | None = None  # (n, 2)
    # The whole view, when `polygon` is a shrunk copy of it: shrunk about the box's centre, which can
    # lie outside the view when the support is only partly seen, a copy may reach past the view.
    view: np.ndarray | None = None

    def scaled(self, fraction: float) -> Region:
        """The region shrunk about its centre: `fraction` of the box and of the polygon."""
        if self.polygon is None:
            return Region(self.centre, self.half * fraction)
        polygon = self.centre + (self.polygon - self.centre) * fraction
        return Region(
            self.centre, self.half * fraction, polygon, self.polygon if self.view is None else self.view
        )

    def fits(self, points: np.ndarray, radius: float = 0.0) -> np.ndarray:
        """Per point (m × 2): whether a disc of `radius` there lies inside the polygon (and the view);
        a negative radius: whether the point lies within -radius of it (`rows`' margin).

        The box is not checked: callers draw from it, already shrunk by the radius.
        """
        points = np.atleast_2d(np.asarray(points, float))
        inside = np.ones(len(points), bool)
        for polygon in (self.polygon, self.view):
            if polygon is not None:
                inside &= _inside(polygon, points, radius)
        return inside


def _inside(polygon: np.ndarray, points: np.ndarray, radius: float) -> np.ndarray:
    """Whether each point is at least `radius` inside every edge of the ccw convex `polygon`; for a
    negative radius, whether it is within -radius of the polygon (the edge lines alone would let a
    point past a corner reach 1/sin(half the corner's angle) times as far: 1.4× at a right angle)."""
    edges = np.roll(polygon, -1, axis=0) - polygon
    lengths = np.maximum(np.linalg.norm(edges, axis=1), 1e-12)
    inward = np.stack([-edges[:, 1], edges[:, 0]], axis=1) / lengths[:, None]  # left of a ccw edge
    offsets = points[:, None, :] - polygon[None]
    inside = np.all(np.einsum("mnk,nk->mn", offsets, inward) >= max(radius, 0.0), axis=1)
    if radius >= 0:
        return inside
    along = np.clip(np.einsum("mnk,nk->mn", offsets, edges) / lengths**2, 0.0, 1.0)
    nearest = polygon[None] + along[..., None] * edges[None]
    distance = np.linalg.norm(points[:, None, :] - nearest, axis=2).min(axis=1)
    return inside | (distance <= -radius)


def ground_polygon(camera: Camera, support: Support) -> np.ndarray | None:
    """The image's outline on the support's plane, in its frame (ccw). When a corner of the image
    sees no ground (the horizon is in view) the outline is unbounded: then the part of the support
    the camera sees (`seen_part`); None when it sees none."""
    corners = np.array([[0, 0], [camera.width, 0], [camera.width, camera.height], [0, camera.height]], float)
    rays = (np.linalg.inv(camera.K) @ np.c_[corners, np.ones(4)].T).T @ camera.camera_to_world[:3, :3].T
    world_to_support = np.linalg.inv(support.pose)
    origin = (world_to_support @ np.r_[camera.camera_to_world[:3, 3], 1.0])[:3]
    directions = rays @ world_to_support[:3, :3].T
    if np.any(directions[:, 2] >= -1e-9):
        return seen_part(camera, support)
    polygon = origin[:2] + (-origin[2] / directions[:, 2])[:, None] * directions[:, :2]
    x, y = polygon[:, 0], polygon[:, 1]
    clockwise = float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) < 0
    return polygon[::-1] if clockwise else polygon


def seen_part(camera: Camera, support: Support) -> np.ndarray | None:
    """The part of the support's rectangle that projects into the image between the clip planes, in
    its frame (ccw); None when no part does.

    A support point (x, y) maps to homogeneous pixels (U, V, Z) = H (x, y, 1), Z its depth. It is seen
    when clip_start ≤ Z ≤ clip_end, 0 ≤ U ≤ width·Z and 0 ≤ V ≤ height·Z: half-planes, linear in
    (x, y), that cut the rectangle down to a convex polygon however far the ground reaches.
    """
    homography = camera.K @ camera.world_to_camera[:3] @ support.pose[:, [0, 1, 3]]
    u, v, z = homography
    half_planes = [z - [0, 0, camera.clip_start], [0, 0, camera.clip_end] - z, u, camera.width * z - u]
    half_planes += [v, camera.height * z - v]
    hx, hy = support.half_extent
    polygon = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]], float)
    for plane in half_planes:
        polygon = _clipped(polygon, np.asarray(plane, float))
        if len(polygon) < 3:
            return None
    return polygon


def _clipped(polygon: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """The convex `polygon` cut to a·x + b·y + c ≥ 0 for `plane` = (a, b, c) (Sutherland–Hodgman)."""
    values = polygon @ plane[:2] + plane[2]
    kept = []
    for i in range(len(polygon)):
        j = (i + 1) % len(polygon)
        if values[i] >= 0:
            kept.append(polygon[i])
        if values[i] * values[j] < 0:  # strictly across: a vertex on the line is kept once, as itself
            t = values[i] / (values[i] - values[j])
            kept.append(polygon[i] + t * (polygon[j] - polygon[i]))
    return np.array(kept).reshape(-1, 2)


def view_region(support: Support, context: PlacementContext) -> Region:
    """The support, cut to what the camera sees when it is a `limit_to_view` support."""
    lo, hi = -np.asarray(support.half_extent, float), np.asarray(support.half_extent, float)
    if not support.limit_to_view:
        return Region((lo + hi) / 2, (hi - lo) / 2)
    polygon = ground_polygon(context.camera, support)
    if polygon is None:
        return Region(np.zeros(2), np.zeros(2))
    lo, hi = np.maximum(lo, polygon.min(0)), np.minimum(hi, polygon.max(0))
    if np.any(hi <= lo):
        return Region(np.zeros(2), np.zeros(2))
    return Region((lo + hi) / 2, (hi - lo) / 2, polygon)


def usable_region(rule: Any, rng: np.random.Generator, support: Support, context: PlacementContext) -> Region:
    """The support's region scaled by the rule's `view_fraction` (view-limited supports such as
    tables) or `extent_fraction` (bounded ones such as trays); both are drawn, in that order.

    Shared by every placement rule that has those two fields (`pack`, `physics`).
    """
    extent, view = rule.extent_fraction.sample(rng), rule.view_fraction.sample(rng)
    return view_region(support, context).scaled(view if support.limit_to_view else extent)


def in_view(camera: Camera, points_world: np.ndarray) -> bool:
    """Whether the convex hull of these points' image overlaps the image (points behind the camera
    ignored): a settled object that rolled wholly out of view is not in the picture. The hull, not
    its box: the box of an object just past an image corner overlaps the image though no pixel of
    the object does."""
    pixels, depth = camera.project(np.asarray(points_world, float))
    ahead = pixels[depth > camera.clip_start]
    if not len(ahead):
        return False
    hull = cv2.convexHull(ahead.astype(np.float32)).reshape(-1, 2).astype(float)
    for plane in ([1, 0, 0], [-1, 0, camera.width], [0, 1, 0], [0, -1, camera.height]):
        hull = _clipped(hull, np.asarray(plane, float))
        if not len(hull):
            return False
    return True
