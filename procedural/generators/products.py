"""Packaged products for retail shelves: printed boxes (cereal, tea) and cans with wrap-around labels.

Both stand upright with their front facing -Y (the aisle) and the origin at the centre of their
footprint on the floor (z = 0). Labels are generated images (`product_labels.py`) mapped through
per-corner UVs; the material of a printed slot only sets gloss and the like, the texture gives the
colour. Each product lists suction-grasp candidates in `extras["grasps"]` (object frame): points on
flat faces or the can's side and lid, with outward normals and a score for flatness × centrality.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import trimesh

from scenesmith.procedural.generators.product_labels import (
    back_panel,
    canvas,
    front_panel,
    label_style,
    side_panel,
    wrap_label,
)
from scenesmith.procedural.generators.turned import fillet, insert_heights, lathe, lathe_uv
from scenesmith.procedural.meshes import rounded_box
from scenesmith.procedural.params import Rule, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register

CELL_PX = 256  # each box face gets one cell of the 3×2 atlas
CELL_PAD_PX = 3  # UVs stop short of a cell's edge so texture filtering never bleeds across faces
PX_PER_M = 2400.0

# Box faces: outward normal → (atlas cell (column, row), u axis, v axis) as seen from outside, upright.
BOX_FACES: dict[
    str, tuple[tuple[int, int, int], tuple[int, int], tuple[int, int, int], tuple[int, int, int]]
] = {
    "front": ((0, -1, 0), (0, 0), (1, 0, 0), (0, 0, 1)),
    "back": ((0, 1, 0), (1, 0), (-1, 0, 0), (0, 0, 1)),
    "top": ((0, 0, 1), (2, 0), (1, 0, 0), (0, 1, 0)),
    "left": ((-1, 0, 0), (0, 1), (0, -1, 0), (0, 0, 1)),
    "right": ((1, 0, 0), (1, 1), (0, 1, 0), (0, 0, 1)),
    "bottom": ((0, 0, -1), (2, 1), (1, 0, 0), (0, -1, 0)),
}


# A rounding under 0.2 mm is invisible at any distance we render, and its corner facets (down to
# ~1e-13 m² for a radius of a few micrometres) are degenerate for mesh checks and collision hulls:
# such an edge is made sharp.
MIN_ROUNDING_M = 2e-4


class ProductBoxParams(Rule):
    """A printed carton: width (along the shelf) × depth × height in metres."""

    width_m: number(minimum=0.01, maximum=1.0) = {"uniform": [0.19, 0.28]}
    depth_m: number(minimum=0.01, maximum=1.0) = {"uniform": [0.05, 0.08]}
    height_m: number(minimum=0.01, maximum=1.0) = {"uniform": [0.26, 0.34]}
    # Edge rounding in metres (0 = sharp folded-card edges); capped at a third of the thinnest side.
    corner_radius_m: number(minimum=0.0, maximum=0.05) = {"uniform": [0.0, 0.004]}


def _face_size(
    extents: np.ndarray, u_axis: tuple[int, int, int], v_axis: tuple[int, int, int]
) -> tuple[float, float]:
    return float(extents[np.argmax(np.abs(u_axis))]), float(extents[np.argmax(np.abs(v_axis))])


def box_atlas(extents: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 3×2 atlas of the six printed faces, each drawn at its own aspect ratio, then fitted to its cell."""
    style = label_style(rng)
    atlas = np.zeros((2 * CELL_PX, 3 * CELL_PX, 3), np.uint8)
    for name, (_, (col, row), u_axis, v_axis) in BOX_FACES.items():
        w, h = _face_size(extents, u_axis, v_axis)
        scale = 384 / max(w, h)
        size = (max(16, int(w * scale)), max(16, int(h * scale)))
        if name == "front":
            art = front_panel(style, size, rng)
        elif name == "back":
            art = back_panel(style, size, rng)
        elif name in ("left", "right"):
            art = side_panel(style, size)
        else:
            art = canvas(size[0], size[1], style.band)
        atlas[row * CELL_PX : (row + 1) * CELL_PX, col * CELL_PX : (col + 1) * CELL_PX] = cv2.resize(
            art, (CELL_PX, CELL_PX), interpolation=cv2.INTER_AREA
        )
    return atlas


def box_uv(mesh: trimesh.Trimesh, extents: np.ndarray) -> np.ndarray:
    """Per-corner UVs: each triangle goes to the atlas cell of the face its normal points to most."""
    normals = mesh.face_normals
    corners = mesh.vertices[mesh.faces]  # F×3×3, box with its base at z = 0
    half = extents / 2
    lo = np.array([-half[0], -half[1], 0.0])
    uv = np.zeros((len(mesh.faces), 3, 2))
    atlas_w, atlas_h = 3 * CELL_PX, 2 * CELL_PX
    span = CELL_PX - 2 * CELL_PAD_PX
    dominant = np.argmax(np.abs(normals), axis=1)
    sign = np.sign(normals[np.arange(len(normals)), dominant])
    for normal, (col, row), u_axis, v_axis in BOX_FACES.values():
        axis = int(np.argmax(np.abs(normal)))
        chosen = (dominant == axis) & (sign == normal[axis])
        unit = (corners[chosen] - lo) / extents  # 0..1 along each axis
        ua, va = np.asarray(u_axis), np.asarray(v_axis)
        s = unit @ np.abs(ua)
        s = np.where(ua.sum() < 0, 1 - s, s)
        t = unit @ np.abs(va)
        t = np.where(va.sum() < 0, 1 - t, t)
        x = col * CELL_PX + CELL_PAD_PX + np.clip(s, 0, 1) * span
        y = row * CELL_PX + CELL_PAD_PX + (1 - np.clip(t, 0, 1)) * span
        uv[chosen] = np.stack([x / atlas_w, 1 - y / atlas_h], axis=-1)
    return uv


def box_grasps(extents: np.ndarray) -> list[dict]:
    """Face centres (and a second point high on the front): score = face area share × centrality."""
    w, d, h = extents
    areas = {"front": w * h, "back": w * h, "top": w * d, "left": d * h, "right": d * h}
    biggest = max(areas.values())
    points = [
        ("front", [0.0, -d / 2, h / 2], [0.0, -1.0, 0.0], 1.0),
        ("front", [0.0, -d / 2, 0.75 * h], [0.0, -1.0, 0.0], 0.75),
        ("top", [0.0, 0.0, h], [0.0, 0.0, 1.0], 1.0),
        ("left", [-w / 2, 0.0, h / 2], [-1.0, 0.0, 0.0], 1.0),
        ("right", [w / 2, 0.0, h / 2], [1.0, 0.0, 0.0], 1.0),
        ("back", [0.0, d / 2, h / 2], [0.0, 1.0, 0.0], 0.6),  # against the shelf's back: harder to reach
    ]
    return [
        {
            "position": [float(v) for v in position],
            "normal": normal,
            "score": round(float(areas[face] / biggest * centrality), 4),
        }
        for face, position, normal, centrality in points
    ]


def make_product_box(params: ProductBoxParams, rng: np.random.Generator) -> Generated:
    """Printed cartons (cereal, tea, crackers): front panel, small print and barcode on the back."""
    extents = np.array([params.width_m.sample(rng), params.depth_m.sample(rng), params.height_m.sample(rng)])
    radius = min(params.corner_radius_m.sample(rng), extents.min() / 3)
    if radius < MIN_ROUNDING_M:
        radius = 0.0
    mesh = rounded_box(tuple(extents), radius, segments=2)
    mesh.apply_translation([0.0, 0.0, extents[2] / 2])
    return Generated(
        mesh=mesh,
        face_materials=np.zeros(len(mesh.faces), np.int32),
        slots=("print",),
        volume=float(mesh.volume),
        uv=box_uv(mesh, extents),
        textures={"print": box_atlas(extents, rng)},
        attributes={
            "width_m": extents[0],
            "depth_m": extents[1],
            "height_m": extents[2],
            "corner_radius_m": radius,
        },
        extras={"grasps": box_grasps(extents)},
    )


class CanParams(Rule):
    radius_m: number(minimum=0.01, maximum=0.2) = {"uniform": [0.026, 0.042]}
    height_m: number(minimum=0.03, maximum=0.5) = {"uniform": [0.1, 0.16]}


def can_profile(radius: float, height: float, rng: np.random.Generator) -> np.ndarray:
    """(r, z) profile of a drinks/food can: domed base, chime, straight wall, necked top, rim, sunk lid."""
    neck = rng.uniform(0.82, 0.92)
    points = np.array(
        [
            [0.0, 0.012 * height],
            [0.6 * radius, 0.006 * height],
            [0.82 * radius, 0.0],
            [0.93 * radius, 0.0],
            [radius, 0.06 * radius],
            [radius, height - 0.35 * radius],
            [neck * radius, height - 0.08 * radius],
            [neck * radius, height],
            [(neck - 0.04) * radius, height],
            [(neck - 0.05) * radius, height - 0.07 * radius],
            [0.0, height - 0.07 * radius],
        ]
    )
    return fillet(points, 0.04 * radius, min_turn_deg=10.0, steps=3)


def make_can(params: CanParams, rng: np.random.Generator) -> Generated:
    """Cans with a printed wrap-around label (front at -Y) and metallic base, neck and lid."""
    radius, height = params.radius_m.sample(rng), params.height_m.sample(rng)
    band = (0.12 * radius, height - 0.4 * radius)
    side_z = float(np.mean(band))  # side grasps sit on a ring of vertices at mid label
    points = insert_heights(can_profile(radius, height, rng), (*band, side_z))
    mesh, segment = lathe(points)
    rising = (points[1:, 1] - points[:-1, 1]) > 0.5 * np.abs(points[1:, 0] - points[:-1, 0])
    inside = (np.minimum(points[:-1, 1], points[1:, 1]) >= band[0] - 1e-9) & (
        np.maximum(points[:-1, 1], points[1:, 1]) <= band[1] + 1e-9
    )
    slots = np.where(rising & inside, 0, 1).astype(np.int32)[segment]
    size = (
        int(np.clip(2 * math.pi * radius * PX_PER_M, 64, 1024)),
        int(np.clip((band[1] - band[0]) * PX_PER_M, 32, 512)),
    )
    lid_z = float(points[-1, 1])
    grasps = [
        {"position": [0.0, 0.0, lid_z], "normal": [0.0, 0.0, 1.0], "score": round(min(1.0, radius / 0.03), 4)}
    ]
    for (dx, dy), reach in (((0, -1), 1.0), ((-1, 0), 0.9), ((1, 0), 0.9), ((0, 1), 0.7)):
        grasps.append(
            {
                "position": [radius * dx, radius * dy, side_z],
                "normal": [float(dx), float(dy), 0.0],
                "score": round(min(1.0, radius / 0.04) * reach, 4),
            }
        )
    return Generated(
        mesh=mesh,
        face_materials=slots,
        slots=("label", "lid"),
        volume=float(mesh.volume),
        uv=lathe_uv(points, segment, band),
        smooth=True,
        textures={"label": wrap_label(label_style(rng), size, rng)},
        attributes={"radius_m": radius, "height_m": height},
        extras={"grasps": grasps},
    )


register(GeneratorSpec(name="product_box", params=ProductBoxParams, make=make_product_box, slots=("print",)))
register(GeneratorSpec(name="can", params=CanParams, make=make_can, slots=("label", "lid")))
