"""Planted rows and scattered weeds on uneven ground: bases stand on the soil wherever it is.

`mode: rows` plants objects at a sampled spacing along 1–N parallel rows that run along the
support's x axis at y = k · row_spacing_m (k = 0, ±1, …, so one row always runs through the
centre, on the crest the `field` surface raises there), with jitter along and across the row and
a probability of a missing plant. Positions nearest the view centre are filled first, so when the
group's `count` runs short the gaps are at the edges of the image, not in its middle. In both modes
a position more than `margin_m` outside the camera's view of the support is never used.

`mode: scatter` puts objects at uniform random positions, each at least `min_distance_m` from
every base already standing on the support (crop stems, earlier weeds) and from each other.

Both modes set z so the object's origin (a plant's base) sits on the top of the support's surface
object at that xy, `sink_m` below it, rather than on the support plane: the soil is displaced. The
top is read from the surface object that has the support's name (its triangles are searched in
xy; the highest hit wins), so it works for any surface mesh; where there is none, the support
plane is used. Parts of a plant lower than `drape_height_m` above its base are then laid over the
soil under them (`drape`): on a ridge's flank a rosette's leaves would otherwise sink into the
up-slope side and float over the other. Leaves of neighbouring plants may overlap (they are thin),
bases never coincide.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import trimesh

from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.params import (
    Angle,
    Attempts,
    Length,
    PositiveLength,
    Probability,
    Rule,
    Supports,
    number,
)
from scenesmith.procedural.placements.pack import choose_support
from scenesmith.procedural.registry import (
    Generated,
    Placement,
    PlacementContext,
    PlacementSpec,
    Support,
    register,
)
from scenesmith.procedural.vertical import crossings
from scenesmith.procedural.view_region import view_region


class RowsRule(Rule):
    method: Literal["rows"]
    support: Supports
    mode: Literal["rows", "scatter"] = "rows"
    row_count: number(integer=True, minimum=1, maximum=50) = 1
    row_spacing_m: PositiveLength = 0.5
    # At least 5 mm: every spot along every row is drawn one by one, and 1e-5 m took 22 s an image.
    plant_spacing_m: number(minimum=0.005) = 0.2
    jitter_along_m: Length = 0.02
    jitter_across_m: Length = 0.01
    missing_probability: Probability = 0.05
    # Minimum distance between bases (scatter: also from every base already on the support).
    min_distance_m: Length = 0.03
    # How far beyond the visible region plants may stand (their leaves reach into the view).
    margin_m: Length = 0.1
    yaw_deg: Angle = {"uniform": [0, 360]}
    sink_m: Length = 0.003  # how deep the base goes into the soil
    # Low parts follow the soil under them rather than the level of the base (see `drape`): how high
    # above the base that reaches. 0 keeps objects rigid (stones, anything that is not a plant).
    drape_height_m: Length = 0.05
    attempts: Attempts = 200


class SurfaceTop:
    """Height of the top of a support's surface mesh (world frame) at world xy points."""

    def __init__(self, mesh: trimesh.Trimesh | None, fallback_z: float) -> None:
        self.fallback_z = fallback_z
        self.triangles = None if mesh is None else mesh.triangles
        if self.triangles is not None:
            self.lo = self.triangles[:, :, :2].min(1)
            self.hi = self.triangles[:, :, :2].max(1)

    def within(self, lo: np.ndarray, hi: np.ndarray) -> SurfaceTop:
        """The same surface cut to the triangles overlapping the xy box [lo, hi]: many points of a small
        area (an object's vertices) are then measured without scanning the whole surface for each."""
        if self.triangles is None:
            return self
        keep = np.all((self.lo <= hi) & (lo <= self.hi), axis=1)
        part = SurfaceTop(None, self.fallback_z)
        part.triangles, part.lo, part.hi = self.triangles[keep], self.lo[keep], self.hi[keep]
        return part

    def heights(self, xy: np.ndarray) -> np.ndarray:
        """The top at each of N world xy points, all at once; NaN where no triangle lies under a point.

        Why a second method: `__call__` measures one point at a time, too slow for every vertex of a
        plant; `physics` keeps using it, since its results to the last bit decide where bodies drop.
        """
        xy = np.asarray(xy, float).reshape(-1, 2)
        top = np.full(len(xy), np.nan)
        if self.triangles is None or not len(xy):
            return top
        triangles = self.within(xy.min(0), xy.max(0)).triangles  # a cheap cut before the exact test
        if not len(triangles):
            return top
        chunk = max(1, 2_000_000 // len(triangles))  # points per pass: a few million pairs
        for start in range(0, len(xy), chunk):
            hits = crossings(triangles, xy[start : start + chunk], tolerance=1e-9)
            top[start : start + chunk] = np.fmax.reduce(hits, axis=1)  # the highest; NaN: no hit
        return top

    def __call__(self, xy: np.ndarray) -> float:
        if self.triangles is None:
            return self.fallback_z
        inside = np.all((self.lo <= xy + 1e-9) & (xy - 1e-9 <= self.hi), axis=1)
        best = None
        for a, b, c in self.triangles[inside]:
            # Barycentric coordinates of xy in the triangle's xy projection.
            m = np.array([b[:2] - a[:2], c[:2] - a[:2]]).T
            det = np.linalg.det(m)
            if abs(det) < 1e-15:
                continue
            s, t = np.linalg.solve(m, xy - a[:2])
            if s >= -1e-9 and t >= -1e-9 and s + t <= 1 + 1e-9:
                z = a[2] + s * (b[2] - a[2]) + t * (c[2] - a[2])
                best = z if best is None else max(best, z)
        return self.fallback_z if best is None else float(best)


def drape(mesh: trimesh.Trimesh, pose: np.ndarray, soil: SurfaceTop, height: float) -> trimesh.Trimesh | None:
    """`mesh` (placed at `pose`) with its low parts laid over the soil: None when nothing moves.

    A vertex h above the base moves up or down by the soil's rise r under it, relative to the soil under
    the base, times max(0, 1 − h / max(`height`, 2r)). Leaves lying on the ground thus stay on it on a
    ridge's flank, instead of sinking into the up-slope side and floating over the other; stems and
    leaves higher up stay as grown. Where the soil rises more than `height` / 2, the fade stretches to
    twice the rise, so that no part sinks below the ground and a leaf neither folds nor flattens (its
    heights keep their order and half their spread). The vertex and face order is kept, so materials
    and UVs still apply.
    """
    if height <= 0 or soil.triangles is None:
        return None
    world = trimesh.transform_points(mesh.vertices, pose)
    base = pose[:3, 3]
    points = np.vstack([base[:2], world[:, :2]])
    under = soil.within(points.min(0), points.max(0))
    ground = under.heights(base[:2])[0]
    if np.isnan(ground):
        return None
    lift = world[:, 2] - base[2]
    # Only what lies lower than this can move: the soil is measured under those vertices alone.
    low = lift < max(height, 2 * (under.triangles[:, :, 2].max() - ground))
    rise = np.zeros(len(world))
    rise[low] = np.nan_to_num(under.heights(world[low, :2]) - ground)  # 0 off the soil's edge
    weight = np.clip(1.0 - lift / np.maximum(height, 2 * rise), 0.0, 1.0)
    if not np.any(rise * weight):
        return None
    # World z offsets back into the object frame.
    offsets = np.outer(rise * weight, np.linalg.inv(pose[:3, :3])[:, 2])
    return trimesh.Trimesh(mesh.vertices + offsets, mesh.faces, process=False)


def surface_top(support: Support, context: PlacementContext) -> SurfaceTop:
    owners: list[SceneObject] = [o for o in context.placed if o.name == support.name]
    mesh = trimesh.util.concatenate([o.world_mesh for o in owners]) if owners else None
    return SurfaceTop(mesh, float(support.pose[2, 3]))


def standing_bases(support: Support, context: PlacementContext) -> list[np.ndarray]:
    """Support-frame xy of the origins (bases) of objects already placed on this support."""
    world_to_support = np.linalg.inv(support.pose)
    return [
        (world_to_support @ obj.pose[:, 3])[:2]
        for obj in context.placed
        if obj.attributes.get("support") == support.name
    ]


def row_positions(
    rule: RowsRule, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, centre: np.ndarray
) -> list[np.ndarray]:
    """Planting spots (support-frame xy) along the rows within [lo, hi], nearest the centre first."""
    rows = int(rule.row_count.sample(rng))
    spacing_across = rule.row_spacing_m.sample(rng)
    spacing = rule.plant_spacing_m.sample(rng)
    along, across = rule.jitter_along_m.sample(rng), rule.jitter_across_m.sample(rng)
    missing = rule.missing_probability.sample(rng)
    # Row k at y = k·spacing for k in −⌊(n−1)/2⌋ … ⌈(n−1)/2⌉, nearest the view centre first.
    first = -((rows - 1) // 2)
    spots = []
    for k in range(first, first + rows):
        y = k * spacing_across
        phase = rng.uniform(0.0, spacing)
        for x in np.arange(lo[0] + phase, hi[0], spacing):
            spot = np.array([x + rng.normal(0.0, along), y + rng.normal(0.0, across)])
            if rng.uniform() >= missing and np.all(spot >= lo) and np.all(spot <= hi):
                spots.append(spot)
    spots.sort(key=lambda p: float(np.linalg.norm(p - centre)))
    return spots


def place_rows(
    rule: RowsRule, rng: np.random.Generator, generated: list[Generated], context: PlacementContext
) -> list[Placement | None]:
    support = choose_support(rule.support, context)
    if support is None or not generated:
        return [None] * len(generated)
    region = view_region(support, context)
    centre, half = region.centre, region.half
    if np.any(half <= 0):
        return [None] * len(generated)
    limit = np.asarray(support.half_extent, float)
    margin = rule.margin_m.sample(rng)
    lo, hi = np.maximum(centre - half - margin, -limit), np.minimum(centre + half + margin, limit)
    min_distance = rule.min_distance_m.sample(rng)
    if rule.mode == "rows":
        candidates = row_positions(rule, rng, lo, hi, centre)
    else:
        candidates = list(rng.uniform(lo, hi, size=(len(generated) * rule.attempts, 2)))
    taken = standing_bases(support, context)
    chosen: list[np.ndarray] = []
    # The box around a slanted view holds ground the camera does not see: bases there show nowhere.
    seen = region.fits(np.reshape(candidates, (-1, 2)), -margin)
    for spot, in_view in zip(candidates, seen, strict=True):
        if len(chosen) == len(generated):
            break
        if not in_view:
            continue
        if not taken or np.linalg.norm(np.asarray(taken) - spot, axis=1).min() >= min_distance:
            chosen.append(spot)
            taken.append(spot)
    top = surface_top(support, context)
    sink = rule.sink_m.sample(rng)
    drape_height = rule.drape_height_m.sample(rng)
    placements: list[Placement | None] = []
    for index, item in enumerate(generated):
        yaw = math.radians(rule.yaw_deg.sample(rng))
        if index >= len(chosen):
            placements.append(None)
            continue
        local = np.eye(4)
        local[:3, :3] = trimesh.transformations.rotation_matrix(yaw, [0, 0, 1])[:3, :3] @ item.rest_rotation
        local[:2, 3] = chosen[index]
        pose = support.pose @ local
        ground = top.heights(pose[:2, 3])[0]
        pose[2, 3] = (top.fallback_z if np.isnan(ground) else ground) - sink
        placements.append(Placement(pose, support.name, drape(item.mesh, pose, top, drape_height)))
    return placements


# Revision 1: low parts of plants follow the soil (`drape_height_m`).
register(PlacementSpec("rows", RowsRule, place_rows, revision=1))
