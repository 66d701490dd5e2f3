"""Crop seedlings and weeds for precision-agriculture scenes: maize, pigweed, dandelion, grass weed.

A plant is built like a botanist would draw it: stems are tapered tubes along sampled paths, and
leaves are *instances* of one leaf template per plant (a curved, slightly cupped blade built from a
sampled outline) copied with a transform (attachment point, azimuth, tilt, size). Leaf azimuths
follow the species' phyllotaxis: distichous (≈180°) for maize, the golden angle for the spiral
broadleaf weeds and rosettes. The species differ in what a weed detector must tell apart: a few
wide arching straps (maize), ovate leaves on a branching stem (pigweed), a flat rosette of lobed
leaves (dandelion), a tuft of thin blades (grass).

Leaves are thin single sheets, so plants are not watertight and declare no volume. The origin is
the base of the stem at the soil line, +Z up, and the rest rotation is the identity (plants stand).
Material slots are ("leaf", "stem").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import trimesh

from scenesmith.procedural.params import Rule, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register

GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
SLOTS = ("leaf", "stem")
LEAF, STEM = 0, 1
# Lowest a leaf may hang (m above the base): drooping tips rest on the soil, they never dive into it.
LEAF_FLOOR_M = 0.002
# Narrowest half-width (fraction of the widest) so the tip and petiole rows never collapse.
MIN_HALF_WIDTH = 0.04

Outline = Callable[[np.ndarray], np.ndarray]


# --- geometry building blocks -------------------------------------------------------------------


def _peak_exponent(peak: float) -> float:
    """Exponent a such that sin(π t^a) is widest at t = peak."""
    return math.log(0.5) / math.log(peak)


def strap_outline(t: np.ndarray) -> np.ndarray:
    """Grass-family blade: wide from the collar, widest before the middle, long pointed tip."""
    return np.sin(np.pi * (0.12 + 0.88 * t)) ** 0.5


def ovate_outline(t: np.ndarray) -> np.ndarray:
    """Pigweed leaf: ovate-rhombic, widest at about a third of the length, blunt tip."""
    return np.sin(np.pi * t ** _peak_exponent(0.38)) ** 0.8


def lobed_outline(lobes: int, depth: float, phase: float) -> Outline:
    """Dandelion leaf: oblanceolate with runcinate lobes (tips pointing back towards the base)."""

    def outline(t: np.ndarray) -> np.ndarray:
        base = np.sin(np.pi * t ** _peak_exponent(0.68)) ** 0.8
        s = np.mod(t * lobes / 0.8 + phase, 1.0)
        # The margin jumps out to a lobe tip, then slopes back in to the next sinus; the terminal
        # lobe (last fifth) is entire.
        cut = depth * s**1.3 * np.clip((0.82 - t) / 0.08, 0.0, 1.0) * np.clip(t / 0.1, 0.0, 1.0)
        return base * (1.0 - cut)

    return outline


def leaf_template(
    rng: np.random.Generator,
    outline: Outline,
    width_ratio: float,
    curl: float,
    cup: float,
    n_along: int = 20,
    n_across: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) of a unit-length leaf blade: base at the origin, pointing along +X, top +Z.

    The midrib is a circular arc bending down by `curl` radians over the blade (arching leaves);
    the blade is cupped upward by `cup` (fraction of the half-width) towards its margins. Each side's
    margin is the outline times a small random wave, so no two plants have identical leaves.
    """
    t = np.linspace(0.0, 1.0, n_along)
    half = width_ratio / 2.0
    sides = []
    for _ in range(2):
        k = np.arange(1, 4)[:, None]
        wave = 1.0 + (
            rng.uniform(-0.06, 0.06, (3, 1)) * np.sin(2 * k * np.pi * t + rng.uniform(0, 6.3, (3, 1)))
        )
        sides.append(half * np.maximum(outline(t) * wave.prod(0), MIN_HALF_WIDTH))
    left, right = sides
    # Midrib: θ(s) = −curl·s, integrated in closed form (straight when curl is ~0).
    theta = -curl * t
    if abs(curl) > 1e-6:
        cx, cz = np.sin(curl * t) / curl, (np.cos(curl * t) - 1.0) / curl
    else:
        cx, cz = t, np.zeros_like(t)
    normal = np.stack([-np.sin(theta), np.zeros_like(t), np.cos(theta)], axis=1)
    u = np.linspace(-1.0, 1.0, n_across)
    y = np.where(u[None, :] < 0, u[None, :] * left[:, None], u[None, :] * right[:, None])
    lift = cup * u[None, :] ** 2 * np.where(u[None, :] < 0, left[:, None], right[:, None])
    vertices = np.stack(
        [cx[:, None] + lift * normal[:, None, 0], y, cz[:, None] + lift * normal[:, None, 2]], -1
    )
    return vertices.reshape(-1, 3), grid_faces(n_along, n_across)


def grid_faces(rows: int, cols: int) -> np.ndarray:
    """Two triangles per cell of a rows×cols vertex grid (row-major), wound with +Z up for +X rows."""
    idx = np.arange(rows * cols).reshape(rows, cols)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    return np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])


def leaf_transform(
    attach: np.ndarray, azimuth: float, tilt: float, length: float, roll: float = 0.0
) -> np.ndarray:
    """Template → plant frame: scale to `length`, roll on the midrib, pitch up `tilt`, turn to `azimuth`."""
    scale = np.diag([length, length, length, 1.0])
    rx = trimesh.transformations.rotation_matrix(roll, [1, 0, 0])
    ry = trimesh.transformations.rotation_matrix(-tilt, [0, 1, 0])
    rz = trimesh.transformations.rotation_matrix(azimuth, [0, 0, 1])
    move = trimesh.transformations.translation_matrix(attach)
    return move @ rz @ ry @ rx @ scale


def tube(points: np.ndarray, radii: np.ndarray, sections: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) of a tapered tube along a polyline, closed by a cone at its far end.

    Rings are oriented by parallel transport, so a bending stem does not twist.
    """
    tangents = np.gradient(points, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    ref = np.array([1.0, 0.0, 0.0]) if abs(tangents[0, 0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    n = np.cross(tangents[0], ref)
    n /= np.linalg.norm(n)
    angles = np.linspace(0, 2 * np.pi, sections, endpoint=False)
    rings = []
    for p, tan, r in zip(points, tangents, radii, strict=True):
        n = n - np.dot(n, tan) * tan
        n /= np.linalg.norm(n)
        b = np.cross(tan, n)
        rings.append(p + r * (np.cos(angles)[:, None] * n + np.sin(angles)[:, None] * b))
    tip = points[-1] + tangents[-1] * radii[-1]
    vertices = np.concatenate([*rings, tip[None]])
    count = len(points)
    idx = np.arange(count * sections).reshape(count, sections)
    a, b = idx[:-1], np.roll(idx[:-1], -1, axis=1)
    c, d = np.roll(idx[1:], -1, axis=1), idx[1:]
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    last = idx[-1]
    cone = np.stack([last, np.roll(last, -1), np.full(sections, len(vertices) - 1)], -1)
    return vertices, np.concatenate([faces, cone])


def bent_path(
    start: np.ndarray, direction: np.ndarray, length: float, bend: np.ndarray, n: int = 6
) -> np.ndarray:
    """Polyline of `n` points from `start`, heading along `direction` and curving towards `bend`."""
    s = np.linspace(0.0, 1.0, n)[:, None]
    d = direction / np.linalg.norm(direction)
    return start + length * (s * d + 0.5 * s**2 * bend)


class PlantBuilder:
    """Collects leaf instances and stem tubes, then emits one mesh with per-face slots."""

    def __init__(self, template: tuple[np.ndarray, np.ndarray]) -> None:
        self.template = template
        self.parts: list[tuple[np.ndarray, np.ndarray, int]] = []
        self.leaves = 0

    def leaf(self, transform: np.ndarray) -> None:
        vertices, faces = self.template
        self.parts.append((trimesh.transform_points(vertices, transform), faces, LEAF))
        self.leaves += 1

    def stem(self, points: np.ndarray, r0: float, r1: float) -> None:
        vertices, faces = tube(points, np.linspace(r0, r1, len(points)))
        self.parts.append((vertices, faces, STEM))

    def mesh(self, scale: float) -> tuple[trimesh.Trimesh, np.ndarray]:
        vertices, faces, slots, offset = [], [], [], 0
        for v, f, slot in self.parts:
            v = v * scale
            if slot == LEAF:
                v[:, 2] = np.maximum(v[:, 2], LEAF_FLOOR_M)
            vertices.append(v)
            faces.append(f + offset)
            slots.append(np.full(len(f), slot, np.int32))
            offset += len(v)
        mesh = trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=False)
        return mesh, np.concatenate(slots)

    def top(self) -> float:
        return max(float(v[:, 2].max()) for v, _, _ in self.parts)

    def radius(self) -> float:
        return max(float(np.linalg.norm(v[:, :2], axis=1).max()) for v, _, _ in self.parts)


def _finish(builder: PlantBuilder, scale: float, attributes: dict) -> Generated:
    mesh, slots = builder.mesh(scale)
    extents = mesh.vertices
    return Generated(
        mesh=mesh,
        face_materials=slots,
        slots=SLOTS,
        smooth=True,
        attributes=attributes
        | {
            "leaf_count": builder.leaves,
            "height_m": float(extents[:, 2].max()),
            "diameter_m": 2.0 * float(np.linalg.norm(extents[:, :2], axis=1).max()),
        },
    )


def _angle(rng: np.random.Generator, degrees: float, jitter_deg: float) -> float:
    return math.radians(degrees + rng.normal(0.0, jitter_deg))


# --- maize (crop) ---------------------------------------------------------------------------------


class MaizeParams(Rule):
    """A maize seedling at V2–V6: a short sheath column with alternating, long arching strap leaves."""

    height_m: number(minimum=0.02, maximum=2.0) = {"uniform": [0.15, 0.35]}
    leaf_count: number(integer=True, minimum=2, maximum=12) = {"randint": [3, 6]}
    leaf_width_ratio: number(minimum=0.02, maximum=0.3) = {"uniform": [0.07, 0.11]}
    leaf_curl_rad: number(minimum=0.0, maximum=4.0) = {"uniform": [1.2, 2.2]}
    leaf_tilt_deg: number(minimum=0.0, maximum=89.0) = {"uniform": [35, 60]}
    azimuth_jitter_deg: number(minimum=0.0, maximum=90.0) = 12.0


def make_maize(params: MaizeParams, rng: np.random.Generator) -> Generated:
    """Maize seedling (crop): 2–12 strap leaves alternating at ~180° up a short sheath column."""
    height = params.height_m.sample(rng)
    count = int(params.leaf_count.sample(rng))
    width = params.leaf_width_ratio.sample(rng)
    curl = params.leaf_curl_rad.sample(rng)
    tilt = params.leaf_tilt_deg.sample(rng)
    jitter = params.azimuth_jitter_deg.sample(rng)
    builder = PlantBuilder(leaf_template(rng, strap_outline, width, curl, cup=0.25))
    # Nominal units: the longest leaf is 1; everything is scaled to the sampled height at the end.
    column = 0.12 + 0.03 * count
    builder.stem(np.array([[0, 0, -0.02], [0, 0, column]]), 0.035 * width * 3, 0.025 * width * 3)
    azimuth = rng.uniform(0, 2 * math.pi)
    for i in range(count):
        young = i == count - 1 and count > 2  # the newest leaf still stands up out of the whorl
        frac = (i + 1) / count
        length = (0.45 + 0.55 * frac) * (0.7 if young else 1.0) * rng.uniform(0.9, 1.1)
        leaf_tilt = (75.0 if young else tilt + 20.0 * frac) + rng.normal(0, 5)
        attach = np.array([0.0, 0.0, column * (0.15 + 0.85 * frac)])
        builder.leaf(
            leaf_transform(attach, azimuth, math.radians(min(leaf_tilt, 85.0)), length, rng.normal(0, 0.15))
        )
        azimuth += math.pi + _angle(rng, 0.0, jitter)
    # The rolled whorl leaf at the top of the column.
    builder.stem(np.array([[0, 0, column], [0, 0, column + 0.12]]), 0.02 * width * 3, 0.004)
    scale = height / builder.top()
    return _finish(builder, scale, {"species": "maize", "leaf_width_ratio": width, "leaf_curl_rad": curl})


# --- pigweed (broadleaf weed) ---------------------------------------------------------------------


class PigweedParams(Rule):
    """Redroot pigweed (Amaranthus): upright stem, ovate leaves on petioles in a golden-angle spiral."""

    height_m: number(minimum=0.02, maximum=2.0) = {"uniform": [0.06, 0.25]}
    leaf_count: number(integer=True, minimum=2, maximum=40) = {"randint": [5, 12]}
    branch_count: number(integer=True, minimum=0, maximum=6) = {"randint": [0, 3]}
    leaf_width_ratio: number(minimum=0.2, maximum=1.2) = {"uniform": [0.55, 0.8]}
    leaf_size: number(minimum=0.05, maximum=1.5) = {"uniform": [0.45, 0.7]}  # of the stem height
    leaf_tilt_deg: number(minimum=-45.0, maximum=80.0) = {"uniform": [0, 25]}
    leaf_curl_rad: number(minimum=0.0, maximum=3.0) = {"uniform": [0.2, 0.8]}


def make_pigweed(params: PigweedParams, rng: np.random.Generator) -> Generated:
    """Pigweed (broadleaf weed): a branching stem with ovate leaves spiralling at the golden angle."""
    height = params.height_m.sample(rng)
    count = int(params.leaf_count.sample(rng))
    branches = int(params.branch_count.sample(rng))
    width = params.leaf_width_ratio.sample(rng)
    size = params.leaf_size.sample(rng)
    tilt = params.leaf_tilt_deg.sample(rng)
    curl = params.leaf_curl_rad.sample(rng)
    builder = PlantBuilder(leaf_template(rng, ovate_outline, width, curl, cup=0.2, n_along=14))
    lean = np.r_[rng.normal(0, 0.08, 2), 0.0]
    stem = bent_path(np.array([0.0, 0.0, -0.02]), np.array([0.0, 0.0, 1.0]), 1.0, lean)
    builder.stem(stem, 0.02, 0.008)
    azimuth = rng.uniform(0, 2 * math.pi)
    # Branches come first from the lowest nodes; the rest of the leaves climb the main stem.
    main = max(count - 3 * branches, 1) if branches else count
    for i in range(main):
        frac = (i + 1) / (main + 1)
        node = stem[0] + (stem[-1] - stem[0]) * (0.15 + 0.85 * frac)
        length = size * (1.1 - 0.6 * frac) * rng.uniform(0.85, 1.15)
        direction = np.array([math.cos(azimuth), math.sin(azimuth), 0.0])
        petiole = bent_path(node, direction + np.array([0, 0, 0.8]), 0.45 * length, np.array([0, 0, -0.6]), 4)
        builder.stem(petiole, 0.008, 0.005)
        builder.leaf(leaf_transform(petiole[-1], azimuth, _angle(rng, tilt, 6), length, rng.normal(0, 0.15)))
        azimuth += GOLDEN_ANGLE + _angle(rng, 0.0, 5)
    leaves_left = count - main
    for b in range(branches):
        heading = azimuth + b * GOLDEN_ANGLE * 2
        out = np.array([math.cos(heading), math.sin(heading), 0.0])
        start = stem[1 + b % 3]
        branch = bent_path(
            start, out + np.array([0, 0, 1.2]), rng.uniform(0.3, 0.5), np.array([0, 0, 0.3]), 5
        )
        builder.stem(branch, 0.016, 0.008)
        on_branch = leaves_left // (branches - b)
        leaves_left -= on_branch
        for j in range(on_branch):
            tip = branch[min(2 + j, len(branch) - 1)]
            leaf_azimuth = heading + (j - (on_branch - 1) / 2) * 1.2 + rng.normal(0, 0.2)
            length = size * 0.7 * rng.uniform(0.8, 1.1)
            builder.leaf(leaf_transform(tip, leaf_azimuth, _angle(rng, tilt, 6), length, rng.normal(0, 0.15)))
    scale = height / builder.top()
    attributes = {"species": "pigweed", "branch_count": branches, "leaf_width_ratio": width}
    return _finish(builder, scale, attributes)


# --- dandelion (rosette weed) ---------------------------------------------------------------------


class DandelionParams(Rule):
    """Dandelion rosette: lobed leaves lying almost flat, radiating at the golden angle."""

    diameter_m: number(minimum=0.02, maximum=1.0) = {"uniform": [0.08, 0.3]}
    leaf_count: number(integer=True, minimum=3, maximum=40) = {"randint": [6, 14]}
    lobe_count: number(integer=True, minimum=0, maximum=10) = {"randint": [3, 6]}
    lobe_depth: number(minimum=0.0, maximum=0.9) = {"uniform": [0.3, 0.6]}
    leaf_width_ratio: number(minimum=0.05, maximum=0.6) = {"uniform": [0.18, 0.28]}
    leaf_tilt_deg: number(minimum=0.0, maximum=60.0) = {"uniform": [8, 30]}
    leaf_curl_rad: number(minimum=0.0, maximum=2.0) = {"uniform": [0.1, 0.5]}


def make_dandelion(params: DandelionParams, rng: np.random.Generator) -> Generated:
    """Dandelion (rosette weed): runcinate lobed leaves in a flat golden-angle rosette."""
    diameter = params.diameter_m.sample(rng)
    count = int(params.leaf_count.sample(rng))
    lobes = int(params.lobe_count.sample(rng))
    depth = params.lobe_depth.sample(rng)
    width = params.leaf_width_ratio.sample(rng)
    tilt = params.leaf_tilt_deg.sample(rng)
    curl = params.leaf_curl_rad.sample(rng)
    outline = lobed_outline(lobes, depth, rng.uniform(0, 1))
    builder = PlantBuilder(leaf_template(rng, outline, width, curl, cup=0.15, n_along=40))
    builder.stem(np.array([[0, 0, -0.02], [0, 0, 0.02]]), 0.04, 0.03)
    azimuth = rng.uniform(0, 2 * math.pi)
    for i in range(count):
        frac = i / max(count - 1, 1)  # 0 = oldest, outermost leaf
        length = (1.0 - 0.45 * frac) * rng.uniform(0.85, 1.1)
        attach = np.array([0.0, 0.0, 0.01 + 0.01 * frac])
        leaf_tilt = _angle(rng, tilt * (0.5 + frac), 4)
        builder.leaf(leaf_transform(attach, azimuth, leaf_tilt, length, rng.normal(0, 0.1)))
        azimuth += GOLDEN_ANGLE + _angle(rng, 0.0, 4)
    scale = diameter / (2.0 * builder.radius())
    attributes = {"species": "dandelion", "lobe_count": lobes, "lobe_depth": depth}
    return _finish(builder, scale, attributes)


# --- grass weed -----------------------------------------------------------------------------------


class GrassParams(Rule):
    """A grass weed tuft (barnyardgrass, foxtail): tillers of thin, strongly arching blades."""

    height_m: number(minimum=0.01, maximum=1.5) = {"uniform": [0.05, 0.18]}
    leaf_count: number(integer=True, minimum=1, maximum=60) = {"randint": [4, 12]}
    tiller_count: number(integer=True, minimum=1, maximum=12) = {"randint": [1, 4]}
    leaf_width_ratio: number(minimum=0.005, maximum=0.15) = {"uniform": [0.025, 0.05]}
    leaf_curl_rad: number(minimum=0.0, maximum=5.0) = {"uniform": [1.5, 3.0]}
    leaf_tilt_deg: number(minimum=0.0, maximum=89.0) = {"uniform": [40, 75]}


def make_grass(params: GrassParams, rng: np.random.Generator) -> Generated:
    """Grass weed: a tuft of narrow arching blades from 1–12 tillers, spreading in all directions."""
    height = params.height_m.sample(rng)
    count = int(params.leaf_count.sample(rng))
    tillers = int(params.tiller_count.sample(rng))
    width = params.leaf_width_ratio.sample(rng)
    curl = params.leaf_curl_rad.sample(rng)
    tilt = params.leaf_tilt_deg.sample(rng)
    builder = PlantBuilder(leaf_template(rng, strap_outline, width, curl, cup=0.3, n_along=16, n_across=3))
    tops = []
    for k in range(tillers):
        lean = rng.uniform(0, 0.25) * np.array([math.cos(k * GOLDEN_ANGLE), math.sin(k * GOLDEN_ANGLE), 0.0])
        sheath = bent_path(
            np.array([0.0, 0.0, -0.02]), np.array([0.0, 0.0, 1.0]) + lean, 0.12, np.zeros(3), 3
        )
        builder.stem(sheath, 0.012, 0.008)
        tops.append(sheath)
    azimuth = rng.uniform(0, 2 * math.pi)
    for i in range(count):
        sheath = tops[i % tillers]
        attach = sheath[1] + (sheath[2] - sheath[1]) * rng.uniform(0, 1)
        length = rng.uniform(0.6, 1.0)
        builder.leaf(leaf_transform(attach, azimuth, _angle(rng, tilt, 8), length, rng.normal(0, 0.3)))
        azimuth += GOLDEN_ANGLE + _angle(rng, 0.0, 15)
    scale = height / builder.top()
    return _finish(builder, scale, {"species": "grass", "tiller_count": tillers, "leaf_width_ratio": width})


register(GeneratorSpec(name="maize", params=MaizeParams, make=make_maize, slots=SLOTS))
register(GeneratorSpec(name="pigweed", params=PigweedParams, make=make_pigweed, slots=SLOTS))
register(GeneratorSpec(name="dandelion", params=DandelionParams, make=make_dandelion, slots=SLOTS))
register(GeneratorSpec(name="grass_weed", params=GrassParams, make=make_grass, slots=SLOTS))
