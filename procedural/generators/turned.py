"""Turned (lathed) objects: bottles, jars, cups, mugs with handles, vases and chess-like pawns.

Each family is a 2D radius-vs-height profile through a few sampled control points, smoothed with a
monotone cubic (PCHIP, so it never overshoots into a negative radius), its corners rounded with
small fillets, then revolved (`lathe`). The lathe closes the profile on the axis, so every shape is
watertight; cups, mugs and vases are hollow with an open mouth (the profile runs back down the
inside wall). UVs are cylindrical (u around, v up the label band) so a printed label wraps the body
with its front (u = 0.5) facing -Y, the aisle side of a shelf.

Slots: "body" (glass, ceramic, plastic; also the mug handle), "label" (the printed band: a wrap-
around label on bottles and jars, a print on mugs and cups, a decorative band on vases; pawns have
none) and "cap" (bottle caps and jar lids; empty on open shapes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.interpolate import PchipInterpolator

from scenesmith.procedural.distributions import Choice
from scenesmith.procedural.generators.product_labels import band_label, label_style, wrap_label
from scenesmith.procedural.params import Rule, choice_of, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register

SECTIONS = 48  # around the axis; divisible by 4 so ±X and ±Y are vertex columns (exact grasp points)
SHAPES = ("bottle", "jar", "cup", "mug", "vase", "pawn")
SLOTS = ("body", "label", "cap")
LABEL_PX_PER_M = 2400.0


@dataclass
class Profile:
    """A closed lathe profile: (r, z) points from the bottom pole to the end pole (both r = 0)."""

    points: np.ndarray  # N×2, r ≥ 0
    label_z: tuple[float, float] | None  # z range of the printed band on the outer wall
    cap_z: float | None  # faces above this height (on the outside) belong to the cap slot


def lathe(points: np.ndarray, sections: int = SECTIONS) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Revolve a profile about +Z. Returns (mesh, ring index per face: the profile segment it spans).

    The first and last points must lie on the axis; they become single pole vertices, so the mesh
    is closed. Column j sits at angle 2π(j/sections − 0.5) from -Y towards +X, i.e. the seam is at
    +Y (the back) and u = j/sections = 0.5 looks at -Y (the front).
    """
    rings = points[1:-1]
    n = len(rings)
    alpha = 2 * math.pi * (np.arange(sections) / sections - 0.5)
    ring_vertices = np.stack(
        [
            rings[:, :1] * np.sin(alpha)[None],
            rings[:, :1] * -np.cos(alpha)[None],
            np.repeat(rings[:, 1:], sections, axis=1),
        ],
        axis=2,
    ).reshape(-1, 3)
    bottom, top = n * sections, n * sections + 1
    vertices = np.r_[ring_vertices, [[0.0, 0.0, points[0, 1]], [0.0, 0.0, points[-1, 1]]]]
    j = np.arange(sections)[None]
    jn = (j + 1) % sections
    i = np.arange(n - 1)[:, None]
    a, b, c, d = i * sections + j, i * sections + jn, (i + 1) * sections + jn, (i + 1) * sections + j
    quads = np.stack([np.stack([a, b, c], -1), np.stack([a, c, d], -1)], axis=1).reshape(-1, 3)
    last = (n - 1) * sections
    faces = np.r_[
        np.c_[np.full(sections, bottom), jn[0], j[0]],
        quads,
        np.c_[np.full(sections, top), last + j[0], last + jn[0]],
    ]
    segment = np.r_[np.zeros(sections, int), np.repeat(np.arange(1, n), 2 * sections), np.full(sections, n)]
    return trimesh.Trimesh(vertices, faces, process=False), segment


def lathe_uv(
    points: np.ndarray, segment: np.ndarray, band: tuple[float, float], sections: int = SECTIONS
) -> np.ndarray:
    """Per-corner UVs (F×3×2) matching `lathe`'s face order: u around (seam at the back), v up the band."""
    cols = np.arange(sections)[:, None]
    n = len(points) - 2
    # Corner columns of each face, in `lathe`'s corner order; the seam's wrap-around corner gets u = 1.
    quads = np.tile(np.stack([cols + [0, 1, 1], cols + [0, 1, 0]]), (n - 1, 1, 1)).reshape(-1, 3)
    u = np.r_[cols + [0.5, 1, 0], quads, cols + [0.5, 0, 1]] / sections
    # Corner profile indices (into `points`): bottom pole 0, rings 1..n, top pole n + 1.
    ring = np.arange(1, n)[:, None, None, None]
    quad_rows = np.broadcast_to(ring + np.array([[[0, 0, 1]], [[0, 1, 1]]]), (n - 1, 2, sections, 3)).reshape(
        -1, 3
    )
    rows = np.r_[np.tile([0, 1, 1], (sections, 1)), quad_rows, np.tile([n + 1, n, n], (sections, 1))]
    lo, hi = band
    v = np.clip((points[rows, 1] - lo) / max(hi - lo, 1e-9), 0.0, 1.0)
    uv = np.stack([u, v], axis=-1)
    assert uv.shape == (len(segment), 3, 2)
    return uv


def fillet(points: np.ndarray, radius: float, min_turn_deg: float = 20.0, steps: int = 4) -> np.ndarray:
    """Round every interior corner turning by more than `min_turn_deg` with a quadratic Bézier.

    The cut back along each edge is at most 45 % of that edge, so neighbouring fillets never cross.
    """
    out = [points[0]]
    for k in range(1, len(points) - 1):
        prev, p, nxt = points[k - 1], points[k], points[k + 1]
        a, b = prev - p, nxt - p
        la, lb = np.linalg.norm(a), np.linalg.norm(b)
        turn = math.degrees(math.pi - math.acos(np.clip(a @ b / (la * lb), -1.0, 1.0)))
        if turn < min_turn_deg:
            out.append(p)
            continue
        cut = min(radius, 0.45 * la, 0.45 * lb)
        start, end = p + a / la * cut, p + b / lb * cut
        for t in np.linspace(0.0, 1.0, steps + 1):
            out.append((1 - t) ** 2 * start + 2 * (1 - t) * t * p + t**2 * end)
    out.append(points[-1])
    return dedupe(np.asarray(out))


def dedupe(points: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Drop consecutive points closer than `tol` (they would make degenerate triangles)."""
    keep = [0] + [k for k in range(1, len(points)) if np.linalg.norm(points[k] - points[k - 1]) > tol]
    return points[keep]


def smooth_curve(control: list[tuple[float, float]], samples: int = 28) -> np.ndarray:
    """(r, z) samples of a PCHIP r(z) through (z, r) control points (z strictly increasing)."""
    z_ctrl = np.array([c[0] for c in control])
    r_ctrl = np.array([c[1] for c in control])
    z = np.unique(np.r_[np.linspace(z_ctrl[0], z_ctrl[-1], samples), z_ctrl])
    return np.c_[PchipInterpolator(z_ctrl, r_ctrl)(z), z]


def hollow(outer: np.ndarray, wall: float, floor_z: float) -> np.ndarray:
    """Close an outer wall (bottom pole → rim) down the inside: an open container of wall thickness `wall`."""
    inside = outer[(outer[:, 1] >= floor_z) & (outer[:, 0] > 0)][::-1].copy()
    inside[:, 0] = np.maximum(inside[:, 0] - wall, 0.3 * wall)
    rim_z = outer[-1, 1]
    inside[0, 1] = rim_z
    return np.r_[outer, inside, [[0.0, floor_z]]]


def _jit(rng: np.random.Generator, value: float, spread: float) -> float:
    return value * (1.0 + rng.uniform(-spread, spread))


def bottle_profile(radius: float, height: float, rng: np.random.Generator) -> Profile:
    shoulder = rng.uniform(0.45, 0.62)
    neck = rng.uniform(0.26, 0.4)
    cap_z = rng.uniform(0.86, 0.92)
    curve = smooth_curve(
        [
            (0.0, 0.95),
            (0.03, 1.0),
            (shoulder, 1.0),
            (shoulder + 0.14, _jit(rng, 0.6, 0.15)),
            (cap_z - 0.08, neck),
            (cap_z, neck),
        ]
    ) * [radius, height]
    cap_r = radius * (neck + rng.uniform(0.04, 0.09))
    points = np.r_[[[0.0, 0.0]], curve, [[cap_r, cap_z * height], [cap_r, height], [0.0, height]]]
    band = (height * rng.uniform(0.12, 0.2), height * (shoulder - rng.uniform(0.02, 0.08)))
    return Profile(fillet(points, 0.12 * radius), band, cap_z * height * 0.999)


def jar_profile(radius: float, height: float, rng: np.random.Generator) -> Profile:
    lid_z = rng.uniform(0.8, 0.86)
    curve = smooth_curve([(0.0, 0.96), (0.03, 1.0), (lid_z - 0.1, 1.0), (lid_z - 0.02, 0.86), (lid_z, 0.86)])
    curve = curve * [radius, height]
    lid_r = radius * rng.uniform(0.88, 0.95)
    points = np.r_[[[0.0, 0.0]], curve, [[lid_r, lid_z * height], [lid_r, height], [0.0, height]]]
    band = (height * rng.uniform(0.1, 0.18), height * (lid_z - rng.uniform(0.14, 0.2)))
    return Profile(fillet(points, 0.08 * radius), band, lid_z * height * 0.999)


def cup_profile(radius: float, height: float, rng: np.random.Generator, mug: bool) -> Profile:
    base = rng.uniform(0.92, 1.0) if mug else rng.uniform(0.68, 0.85)
    curve = smooth_curve([(0.0, base * 0.97), (0.04, base), (1.0, 1.0)], samples=16) * [radius, height]
    wall = radius * rng.uniform(0.09, 0.13)
    points = hollow(np.r_[[[0.0, 0.0]], curve], wall, height * rng.uniform(0.08, 0.12))
    band = (height * rng.uniform(0.18, 0.28), height * rng.uniform(0.78, 0.88))
    return Profile(fillet(points, 0.45 * wall), band, None)


def vase_profile(radius: float, height: float, rng: np.random.Generator) -> Profile:
    belly = rng.uniform(0.25, 0.5)
    neck_z = rng.uniform(0.7, 0.85)
    neck = rng.uniform(0.35, 0.55)
    curve = smooth_curve(
        [
            (0.0, rng.uniform(0.5, 0.7)),
            (belly, 1.0),
            (neck_z, neck),
            (1.0, neck + rng.uniform(0.05, 0.3)),
        ]
    ) * [radius, height]
    wall = radius * 0.08
    points = hollow(np.r_[[[0.0, 0.0]], curve], wall, height * 0.06)
    centre = belly * height
    band = (centre - 0.1 * height, centre + 0.1 * height)
    return Profile(fillet(points, 0.45 * wall), band, None)


def pawn_profile(radius: float, height: float, rng: np.random.Generator) -> Profile:
    collar_z = rng.uniform(0.45, 0.52)
    # The head must leave room for the neck above the collar: 1.85 head radii sit above the neck.
    head = min(radius * rng.uniform(0.5, 0.62), height * (0.91 - collar_z) / 1.85)
    neck_z = height - 1.85 * head
    curve = smooth_curve(
        [
            (0.0, 1.0),
            (0.08, 1.0),
            (0.14, 0.78),
            (collar_z - 0.04, rng.uniform(0.36, 0.46)),
            (collar_z, rng.uniform(0.7, 0.8)),
            (collar_z + 0.03, 0.7),
            (collar_z + 0.06, 0.34),
            (neck_z / height, 0.34),
        ]
    ) * [radius, height]
    centre = height - head
    neck_r = curve[-1, 0]
    # Head sphere from where its radius equals the neck's (lower half) up to the top pole.
    theta = np.linspace(math.asin(min(0.99, neck_r / head)), math.pi, 12)
    sphere = np.c_[head * np.sin(theta), centre - head * np.cos(theta)]
    sphere = sphere[sphere[:, 1] > curve[-1, 1] + 1e-6]
    points = np.r_[[[0.0, 0.0]], curve, sphere[:-1], [[0.0, height]]]
    return Profile(fillet(points, 0.06 * radius), None, None)


def insert_heights(points: np.ndarray, heights: tuple[float, ...]) -> np.ndarray:
    """Split the first upward segment crossing each height, so a band edge is an exact ring of vertices."""
    for z in heights:
        for k in range(len(points) - 1):
            (r0, z0), (r1, z1) = points[k], points[k + 1]
            if z0 < z < z1:
                t = (z - z0) / (z1 - z0)
                points = np.insert(points, k + 1, [r0 + t * (r1 - r0), z], axis=0)
                break
    return points


def handle_mesh(
    body_radius: float, wall: float, z_centre: float, span: float, rng: np.random.Generator
) -> trimesh.Trimesh:
    """A mug handle: a torus segment in the XZ plane on the +X side, its ends buried in the wall.

    The tube is a flattened ellipse (thin radially, wide across), swept along an arc whose ends sit
    half a wall thickness inside the outer surface, so the handle joins the body without gaps and
    without poking into the cavity.
    """
    phi_max = math.radians(rng.uniform(105.0, 125.0))
    arc = span / 2 / math.sin(phi_max)
    tube = rng.uniform(0.1, 0.14) * span
    x_end = body_radius - 0.5 * wall
    cx = x_end - arc * math.cos(phi_max)
    phis = np.linspace(-phi_max, phi_max, 24)
    psis = np.linspace(0.0, 2 * math.pi, 12, endpoint=False)
    radial = np.stack([np.cos(phis), np.zeros_like(phis), np.sin(phis)], axis=1)
    centres = np.array([cx, 0.0, z_centre]) + arc * radial
    across = np.array([0.0, 1.0, 0.0])
    rings = (
        centres[:, None, :]
        + 0.7 * tube * np.cos(psis)[None, :, None] * radial[:, None, :]
        + tube * np.sin(psis)[None, :, None] * across[None, None, :]
    ).reshape(-1, 3)
    k, m = len(phis), len(psis)
    j = np.arange(m)
    jn = (j + 1) % m
    faces = []
    for i in range(k - 1):
        a, b, c, d = i * m + j, i * m + jn, (i + 1) * m + jn, (i + 1) * m + j
        faces += [np.c_[a, b, c], np.c_[a, c, d]]
    start, end = k * m, k * m + 1
    faces += [np.c_[np.full(m, start), jn, j], np.c_[np.full(m, end), (k - 1) * m + j, (k - 1) * m + jn]]
    mesh = trimesh.Trimesh(np.r_[rings, [centres[0], centres[-1]]], np.concatenate(faces), process=False)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def face_slots(points: np.ndarray, segment: np.ndarray, profile: Profile, labelled: bool) -> np.ndarray:
    """Slot per face from the profile segment it spans: label band on the outer wall, cap on top."""
    lo_z = np.minimum(points[:-1, 1], points[1:, 1])
    hi_z = np.maximum(points[:-1, 1], points[1:, 1])
    rising = (points[1:, 1] - points[:-1, 1]) > 0.5 * np.abs(points[1:, 0] - points[:-1, 0])
    slots = np.zeros(len(points) - 1, np.int32)
    if profile.label_z is not None and labelled:
        lo, hi = profile.label_z
        slots[rising & (lo_z >= lo - 1e-9) & (hi_z <= hi + 1e-9)] = 1
    if profile.cap_z is not None:
        slots[lo_z >= profile.cap_z] = 2
    return slots[segment]


def profile_normal(points: np.ndarray, k: int) -> np.ndarray:
    """Outward (r, z) unit normal at profile vertex k of a profile traversed upwards on the outside."""
    tangent = points[k + 1] - points[k - 1]
    normal = np.array([tangent[1], -tangent[0]])
    return normal / np.linalg.norm(normal)


def turned_grasps(points: np.ndarray, profile: Profile, shape: str) -> list[dict]:
    """Suction candidates: the body's side at four azimuths (not through a mug handle) and a flat top.

    Side points are profile vertices on a vertex column, so they lie exactly on the mesh. Score:
    how upright the surface is × how flat (wide) it is for a 3 cm cup × how reachable the side is.
    """
    height = float(points[:, 1].max())
    target = np.mean(profile.label_z) if profile.label_z is not None else 0.45 * height
    rising = [
        k
        for k in range(1, len(points) - 1)
        if points[k + 1, 1] - points[k - 1, 1] > abs(points[k + 1, 0] - points[k - 1, 0])
        and points[k, 1] < 0.9 * height
    ]
    grasps = []
    if rising:
        k = min(rising, key=lambda i: abs(points[i, 1] - target))
        r, z = points[k]
        n_r, n_z = profile_normal(points, k)
        flatness = min(1.0, r / 0.04) * math.sqrt(max(0.0, 1.0 - n_z**2))
        for (dx, dy), reach in (((0, -1), 1.0), ((-1, 0), 0.9), ((1, 0), 0.9), ((0, 1), 0.7)):
            if shape == "mug" and dx == 1:
                continue
            grasps.append(
                {
                    "position": [float(r * dx), float(r * dy), float(z)],
                    "normal": [float(n_r * dx), float(n_r * dy), float(n_z)],
                    "score": round(float(flatness * reach), 4),
                }
            )
    if profile.cap_z is not None or shape == "pawn":
        top_radius = float(points[-2, 0]) if points[-2, 1] == height else 0.0
        score = 0.3 if shape == "pawn" else min(1.0, top_radius / 0.015)
        grasps.append({"position": [0.0, 0.0, height], "normal": [0.0, 0.0, 1.0], "score": round(score, 4)})
    return grasps


class TurnedParams(Rule):
    """Sizes are of the widest part (radius) and the whole object (height), in metres."""

    shape: choice_of(*SHAPES) = "bottle"
    height_m: number(minimum=0.01, maximum=1.0) = {"uniform": [0.18, 0.3]}
    radius_m: number(minimum=0.005, maximum=0.3) = {"uniform": [0.03, 0.045]}
    # Probability that the band carries a printed label (otherwise it is plain body material).
    label_probability: number(minimum=0.0, maximum=1.0) = 1.0


def make_turned(params: TurnedParams, rng: np.random.Generator) -> Generated:
    """Lathed bottles, jars, cups, mugs with handles, vases, pawns; the class is the shape unless set."""
    shape = params.shape.sample(rng)
    height = params.height_m.sample(rng)
    radius = min(params.radius_m.sample(rng), 0.45 * height)
    labelled = bool(rng.uniform() < params.label_probability.sample(rng)) and shape != "pawn"
    if shape == "bottle":
        profile = bottle_profile(radius, height, rng)
    elif shape == "jar":
        profile = jar_profile(radius, height, rng)
    elif shape in ("cup", "mug"):
        profile = cup_profile(radius, height, rng, mug=shape == "mug")
    elif shape == "vase":
        profile = vase_profile(radius, height, rng)
    else:
        profile = pawn_profile(radius, height, rng)
    points = profile.points
    if profile.label_z is not None:
        points = insert_heights(points, profile.label_z)
    mesh, segment = lathe(points)
    band = profile.label_z or (0.0, height)
    uv = lathe_uv(points, segment, band)
    slots = face_slots(points, segment, profile, labelled)
    volume = float(mesh.volume)
    textures = {}
    if labelled and profile.label_z is not None:
        band_radius = float(
            np.interp(
                np.mean(band),
                points[: int(np.argmax(points[:, 1])) + 1, 1],
                points[: int(np.argmax(points[:, 1])) + 1, 0],
            )
        )
        size = (
            int(np.clip(2 * math.pi * band_radius * LABEL_PX_PER_M, 64, 1024)),
            int(np.clip((band[1] - band[0]) * LABEL_PX_PER_M, 32, 512)),
        )
        style = label_style(rng)
        textures["label"] = band_label(style, size, rng) if shape == "vase" else wrap_label(style, size, rng)
    attributes = {"shape": shape, "height_m": height, "radius_m": radius, "labelled": labelled}
    if shape == "mug":
        outer = points[: int(np.argmax(points[:, 1])) + 1]
        z_centre = height * rng.uniform(0.48, 0.56)
        wall = radius - float(points[int(np.argmax(points[:, 1])) + 1, 0])
        handle = handle_mesh(
            float(np.interp(z_centre, outer[:, 1], outer[:, 0])),
            wall,
            z_centre,
            min(height * rng.uniform(0.5, 0.62), 0.07),
            rng,
        )
        volume += float(handle.volume)
        uv = np.r_[uv, np.full((len(handle.faces), 3, 2), 0.5)]
        slots = np.r_[slots, np.zeros(len(handle.faces), np.int32)]
        mesh = trimesh.util.concatenate([mesh, handle])
    return Generated(
        mesh=mesh,
        face_materials=slots,
        slots=SLOTS,
        volume=volume,
        category=shape,
        uv=uv,
        smooth=True,
        textures=textures,
        attributes=attributes,
        extras={"grasps": turned_grasps(points, profile, shape)},
    )


def shape_categories(params: TurnedParams) -> tuple[str, ...]:
    """The shapes `params` can draw: each object's class when its group sets none. The scene lists all
    of them, or none (the group is then unlabelled clutter); some but not all is refused, as an
    unlisted shape would silently be an unlabelled object among labelled ones."""
    shape = params.shape
    if isinstance(shape, Choice):
        return tuple(value for value, weight in zip(shape.values, shape.weights, strict=True) if weight > 0)
    return (shape.value,)


register(
    GeneratorSpec(
        name="turned", params=TurnedParams, make=make_turned, slots=SLOTS, categories=shape_categories
    )
)
