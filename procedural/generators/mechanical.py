"""Industrial parts for inspection and bin-picking scenes: hex bolts, hex nuts, washers, bent sheet-metal
brackets, cut profile extrusions, and small unlabelled debris (chips and offcuts).

Sizes follow ISO metric proportions of the nominal diameter d (M4–M12): hex across flats s ≈ 1.6–1.8 d,
bolt head height ≈ 0.65 d, nut height ≈ 0.8 d, thread pitch ≈ 0.15 d, washer outer ≈ 2 d. Every part is
one watertight solid (booleans through manifold3d) with a single material slot "metal". Meshes are
published split at sharp edges (> 30°) so smooth shading rounds shanks and bores while hex flats stay
crisp; merging coincident vertices gives back the watertight solid, and `volume` is that solid's.

`rest_rotation` is the stable resting pose nearest to how the part naturally lies: a bolt on its side
(tilted so that both head and shank touch), a nut or washer flat, a bracket on its long flange, a
profile on a side. It is computed on the convex hull, so `pack` places parts exactly touching the support.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import shapely
import trimesh
from shapely.geometry import LineString, Point, Polygon, box

from scenesmith.procedural.params import Fraction, Rule, choice_of, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register

SLOTS = ("metal",)
DEBRIS_SLOTS = ("body",)
SHARP_EDGE = math.radians(30.0)
# ISO metric sizes (m) a scene picks from by default: M4, M5, M6, M8, M10, M12.
METRIC_SIZES = {"choice": [0.004, 0.005, 0.006, 0.008, 0.010, 0.012]}
# From M2.5: below it the threaded shank's boolean union is not a closed solid at most seeds (trimesh
# merges its tiny ridges' vertices), measured at 1.6 and 2 mm.
NominalDiameter = number(minimum=0.0025, maximum=0.064)
Point2 = tuple[float, float]
# trimesh's revolve (behind `revolve`, `cylinder` and `annulus`) drops every triangle whose area in m² is at
# most tol.merge = 1e-8, a length tolerance: small fasteners with many sections lose real faces (an M3
# thread ridge's flank at 48 sections, an M2.5 washer's bore wall at 117) and come out open. `revolved`
# builds those in millimetres instead.
MILLIMETRES = 1000.0


# --- shared geometry -------------------------------------------------------------------------------


def hex_prism(across_flats: float, height: float) -> trimesh.Trimesh:
    """Hexagonal prism z ∈ [0, height] with two flats facing ±X (so a bolt can lie on a flat)."""
    corner = across_flats / math.sqrt(3.0)
    angles = np.radians(30.0 + 60.0 * np.arange(6))
    hexagon = Polygon(np.c_[corner * np.cos(angles), corner * np.sin(angles)])
    return trimesh.creation.extrude_polygon(hexagon, height)


def chamfered_hex(
    across_flats: float, height: float, bottom: bool, sections: int, turn: float
) -> trimesh.Trimesh:
    """A hex prism with the 30° chamfer of its corners (on the bottom face too if `bottom`): its
    intersection with a revolved solid whose meridians are turned by `turn` (see `closed_part`)."""
    solid = chamfer_solid(across_flats, height, bottom, sections, turn)
    return manifold("intersection", [hex_prism(across_flats, height), solid])


def closed_part(build: Callable[[float], trimesh.Trimesh], sections: int) -> trimesh.Trimesh:
    """`build(turn)`, a part with a chamfered hex, with the chamfer's meridians turned a quarter section
    off the hex corners (at 30° + k·60°): a meridian through a corner edge can pinch the booleans into
    vertices 1e-11 m apart, which merging collapses into an open shell.

    For an odd multiple of 3 sections that turn puts meridians exactly on corners (nuts with 27
    sections failed at 8 seeds in 12), so where it gives an open shell the part is built unturned
    instead, whose meridians stay a quarter section off every corner; a part that built before keeps
    its mesh.
    """
    turns = [math.pi / (2 * sections), *([0.0] if sections % 6 == 3 else [])]
    for turn in turns[:-1]:
        try:
            part = build(turn)
        except ValueError:  # trimesh: "Not all meshes are volumes!"
            continue
        if is_closed(part):
            return part
    return build(turns[-1])


def is_closed(solid: trimesh.Trimesh) -> bool:
    """Whether `solid` is still a closed solid once its coincident vertices are merged (as `finish`
    and every consumer of the mesh merge them)."""
    merged = trimesh.Trimesh(solid.vertices, solid.faces)
    return bool(merged.is_watertight and merged.volume > 0)


def chamfer_solid(
    across_flats: float, height: float, bottom: bool, sections: int, turn: float
) -> trimesh.Trimesh:
    """Revolved solid, turned by `turn` (rad) about its axis, whose intersection with a hex prism gives
    the 30° chamfer of its corners.

    The chamfer cone meets the top face (and the bottom one if `bottom`) at 0.95 × across flats, the
    usual washer face of hex heads and nuts.
    """
    flat = 0.475 * across_flats
    outer = across_flats / math.sqrt(3.0) * 1.05
    drop = min((outer - flat) * math.tan(math.radians(30.0)), height / 3)
    low = [(0.0, 0.0), (flat, 0.0), (outer, drop)] if bottom else [(0.0, 0.0), (outer, 0.0)]
    profile = np.array([*low, (outer, height - drop), (flat, height), (0.0, height)])
    solid = revolved(lambda unit: trimesh.creation.revolve(profile * unit, sections=sections))
    solid.apply_transform(trimesh.transformations.rotation_matrix(turn, [0, 0, 1]))
    return solid


def revolved(build: Callable[[float], trimesh.Trimesh]) -> trimesh.Trimesh:
    """A solid of revolution whose lengths `build(unit)` multiplies by `unit`, kept closed at any size.

    Built in metres where trimesh keeps every face (the meshes datasets already have, bit for bit:
    elsewhere the part used to fail to build); else in millimetres, where no real face of an allowed
    size is small enough to be dropped, and scaled back.
    """
    solid = build(1.0)
    if solid.is_volume:
        return solid
    solid = build(MILLIMETRES)
    solid.apply_scale(1.0 / MILLIMETRES)
    return solid


def manifold(operation: str, meshes: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    """Boolean through manifold3d (exact, deterministic, always watertight output)."""
    op = {
        "union": trimesh.boolean.union,
        "difference": trimesh.boolean.difference,
        "intersection": trimesh.boolean.intersection,
    }[operation]
    return op(meshes, engine="manifold")


def stable_rest(mesh: trimesh.Trimesh, down_hint: tuple[float, float, float]) -> np.ndarray:
    """3×3 rotation laying `mesh` on the stable convex-hull facet whose outward normal is nearest
    `down_hint` (object frame). Stable: the centre of mass projects inside the facet."""
    hull = mesh.convex_hull
    centre = mesh.center_mass
    hint = np.asarray(down_hint, float) / np.linalg.norm(down_hint)
    in_facet = np.zeros(len(hull.faces), bool)
    groups = list(hull.facets)
    for facet in groups:
        in_facet[facet] = True
    groups += [np.array([f]) for f in np.flatnonzero(~in_facet)]
    best, best_dot = None, -2.0
    for group in groups:
        normal = hull.face_normals[group[0]]
        dot = float(normal @ hint)
        if dot <= best_dot:
            continue
        triangles = hull.triangles[group]
        projected = centre - ((centre - triangles[0, 0]) @ normal) * normal
        bary = trimesh.triangles.points_to_barycentric(triangles, np.repeat([projected], len(group), 0))
        holding = np.flatnonzero(np.all(bary >= -1e-9, axis=1))
        if len(holding):
            # Rest on the face under the centre of mass: a facet's faces are only nearly coplanar,
            # and laid on another of its faces the part would touch down on three points that miss it.
            best, best_dot = hull.face_normals[group[holding[0]]], dot
    if best is None:  # only numerically degenerate hulls get here
        best = hint
    return trimesh.geometry.align_vectors(best, [0.0, 0.0, -1.0])[:3, :3]


def finish(
    solid: trimesh.Trimesh,
    down_hint: tuple[float, float, float],
    smooth: bool,
    attributes: dict[str, float | str],
    slots: tuple[str, ...] = SLOTS,
) -> Generated:
    """Centre the solid on its resting footprint, lay it at rest, split sharp edges for shading."""
    if not is_closed(solid):
        raise ValueError(f"mechanical part is not a closed solid: {attributes}")
    solid = trimesh.Trimesh(solid.vertices, solid.faces)  # merge coincident vertices, as consumers do
    rotation = stable_rest(solid, down_hint)
    rested = solid.vertices @ rotation.T
    centre = (rested.min(0) + rested.max(0)) / 2
    solid.apply_translation(-(rotation.T @ centre))
    volume = float(solid.volume)
    mesh = trimesh.graph.smooth_shade(solid, angle=SHARP_EDGE, facet_minarea=None) if smooth else solid
    return Generated(
        mesh=mesh,
        face_materials=np.zeros(len(mesh.faces), np.int32),
        slots=slots,
        volume=volume,
        rest_rotation=rotation,
        smooth=smooth,
        attributes=attributes,
    )


# --- hex bolt -------------------------------------------------------------------------------------


class HexBoltParams(Rule):
    diameter_m: NominalDiameter = METRIC_SIZES
    # Shank length under the head, in nominal diameters.
    length_diameters: number(minimum=1.0, maximum=15.0) = {"uniform": [2.0, 6.0]}
    across_flats_diameters: number(minimum=1.4, maximum=2.2) = {"uniform": [1.55, 1.8]}
    head_height_diameters: number(minimum=0.4, maximum=1.0) = {"uniform": [0.6, 0.72]}
    # Probability that the thread is modelled as ridges (else a plain cylinder), and the threaded part.
    ridged: Fraction = 0.7
    thread_fraction: Fraction = {"uniform": [0.5, 1.0]}
    pitch_diameters: number(minimum=0.08, maximum=0.3) = 0.15
    sections: number(integer=True, minimum=8, maximum=96) = 24


def shank_profile(
    radius: float, length: float, threaded: float, pitch: float, ridged: bool
) -> list[tuple[float, float]]:
    """(r, z) outline of the shank from the chamfered tip (z = 0) to inside the head (z > length).

    Threads are rings rather than a helix: at inspection distances the two are indistinguishable.
    """
    tip = 0.12 * radius * 2
    minor = radius - 0.6 * pitch
    points = [(0.0, 0.0), (radius - tip, 0.0)]
    if ridged:
        count = max(1, int((threaded - tip) / pitch))
        z0 = tip
        points.append((minor, z0))
        for i in range(count):
            z = z0 + i * pitch
            points += [(radius, z + 0.3 * pitch), (radius, z + 0.5 * pitch), (minor, z + pitch)]
        points.append((radius, z0 + count * pitch + 0.3 * pitch))
    else:
        points.append((radius, tip))
    points += [(radius, length + 0.25 * radius), (0.0, length + 0.25 * radius)]
    return points


def make_hex_bolt(params: HexBoltParams, rng: np.random.Generator) -> Generated:
    """ISO-style hex bolt: chamfered hex head and a shank with optional thread ridges; lies on its side."""
    d = params.diameter_m.sample(rng)
    length = d * params.length_diameters.sample(rng)
    s = d * params.across_flats_diameters.sample(rng)
    k = d * params.head_height_diameters.sample(rng)
    ridged = bool(rng.uniform() < params.ridged.sample(rng))
    threaded = length * params.thread_fraction.sample(rng)
    pitch = d * params.pitch_diameters.sample(rng)
    sections = int(params.sections.sample(rng))
    profile = np.array(shank_profile(d / 2, length, threaded, pitch, ridged))
    shank = revolved(lambda unit: trimesh.creation.revolve(profile * unit, sections=sections))

    def bolt_with(turn: float) -> trimesh.Trimesh:
        head = chamfered_hex(s, k, bottom=False, sections=sections, turn=turn)
        head.apply_translation([0.0, 0.0, length])
        return manifold("union", [shank, head])

    bolt = closed_part(bolt_with, sections)
    attributes = {"diameter_m": d, "length_m": length, "across_flats_m": s, "head_height_m": k}
    return finish(bolt, (-1.0, 0.0, 0.0), True, attributes | {"ridged": ridged, "pitch_m": pitch})


# --- hex nut --------------------------------------------------------------------------------------


class HexNutParams(Rule):
    diameter_m: NominalDiameter = METRIC_SIZES
    across_flats_diameters: number(minimum=1.4, maximum=2.2) = {"uniform": [1.55, 1.8]}
    height_diameters: number(minimum=0.3, maximum=1.2) = {"uniform": [0.75, 0.85]}
    # Bore (thread minor diameter) in nominal diameters.
    bore_diameters: number(minimum=0.6, maximum=1.0) = 0.85
    sections: number(integer=True, minimum=8, maximum=96) = 32


def make_hex_nut(params: HexNutParams, rng: np.random.Generator) -> Generated:
    """Hex nut chamfered on both faces with a through bore; lies flat."""
    d = params.diameter_m.sample(rng)
    s = d * params.across_flats_diameters.sample(rng)
    m = d * params.height_diameters.sample(rng)
    bore = d * params.bore_diameters.sample(rng)
    sections = int(params.sections.sample(rng))
    if bore >= 0.9 * s:
        raise ValueError(f"hex nut bore {bore} leaves no wall inside across-flats {s}")
    hole = revolved(
        lambda unit: trimesh.creation.cylinder(radius=bore / 2 * unit, height=3 * m * unit, sections=sections)
    )
    hole.apply_translation([0.0, 0.0, m / 2])
    nut = closed_part(
        lambda turn: manifold("difference", [chamfered_hex(s, m, True, sections, turn), hole]), sections
    )
    attributes = {"diameter_m": d, "across_flats_m": s, "height_m": m, "bore_m": bore}
    return finish(nut, (0.0, 0.0, -1.0), True, attributes)


# --- washer ---------------------------------------------------------------------------------------


class WasherParams(Rule):
    diameter_m: NominalDiameter = METRIC_SIZES
    # Hole clearance and outer diameter in nominal diameters; thickness likewise.
    inner_diameters: number(minimum=1.0, maximum=1.3) = {"uniform": [1.05, 1.1]}
    outer_diameters: number(minimum=1.5, maximum=4.0) = {"uniform": [1.9, 2.3]}
    thickness_diameters: number(minimum=0.05, maximum=0.4) = {"uniform": [0.1, 0.2]}
    sections: number(integer=True, minimum=8, maximum=128) = 48


def make_washer(params: WasherParams, rng: np.random.Generator) -> Generated:
    """Flat plain washer (an annulus); lies flat."""
    d = params.diameter_m.sample(rng)
    inner = d * params.inner_diameters.sample(rng)
    outer = d * params.outer_diameters.sample(rng)
    t = d * params.thickness_diameters.sample(rng)
    sections = int(params.sections.sample(rng))
    washer = revolved(
        lambda unit: trimesh.creation.annulus(inner / 2 * unit, outer / 2 * unit, t * unit, sections=sections)
    )
    attributes = {"diameter_m": d, "inner_m": inner, "outer_m": outer, "thickness_m": t}
    return finish(washer, (0.0, 0.0, -1.0), True, attributes)


# --- bent sheet-metal bracket ---------------------------------------------------------------------


class BracketParams(Rule):
    shape: choice_of("L", "U") = {"choice": ["L", "U"]}
    # Base flange length, leg height (fraction of the base), width across the bend, sheet thickness.
    base_m: number(minimum=0.01, maximum=0.3) = {"uniform": [0.03, 0.07]}
    leg_fraction: number(minimum=0.2, maximum=1.5) = {"uniform": [0.4, 1.0]}
    width_m: number(minimum=0.005, maximum=0.2) = {"uniform": [0.015, 0.04]}
    thickness_m: number(minimum=0.0005, maximum=0.01) = {"uniform": [0.0015, 0.003]}
    # Inner bend radius in sheet thicknesses.
    bend_radius_thickness: number(minimum=0.5, maximum=4.0) = {"uniform": [1.0, 2.0]}
    hole_probability: Fraction = 0.7
    hole_diameter_m: number(minimum=0.001, maximum=0.03) = {"uniform": [0.004, 0.007]}


def filleted(points: list[Point2], radius: float, segments: int = 8) -> list[Point2]:
    """A polyline with each interior corner replaced by a circular arc of `radius` (a sheet's bend)."""
    pts = np.asarray(points, float)
    out = [tuple(pts[0])]
    for prev, corner, nxt in zip(pts[:-2], pts[1:-1], pts[2:], strict=True):
        a, b = prev - corner, nxt - corner
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        half = math.acos(float(np.clip(a @ b, -1.0, 1.0))) / 2
        cut = radius / math.tan(half)
        start, end = corner + a * cut, corner + b * cut
        centre = corner + (a + b) / np.linalg.norm(a + b) * radius / math.sin(half)
        t0 = math.atan2(*(start - centre)[::-1])
        t1 = math.atan2(*(end - centre)[::-1])
        sweep = (t1 - t0 + math.pi) % (2 * math.pi) - math.pi
        out += [
            tuple(centre + radius * np.array([math.cos(t), math.sin(t)]))
            for t in t0 + sweep * np.linspace(0, 1, segments + 1)
        ]
    out.append(tuple(pts[-1]))
    return out


def sheet_profile(centreline: list[Point2], thickness: float, bend_radius: float) -> Polygon:
    """Cross-section of bent sheet: the filleted centre line thickened by the sheet thickness."""
    line = LineString(filleted(centreline, bend_radius + thickness / 2))
    return line.buffer(thickness / 2, cap_style="flat", join_style="mitre")


def make_bracket(params: BracketParams, rng: np.random.Generator) -> Generated:
    """L or U bracket bent from sheet metal, optional holes in each flange; rests on its base flange."""
    shape = params.shape.sample(rng)
    base = params.base_m.sample(rng)
    leg = base * params.leg_fraction.sample(rng)
    width = params.width_m.sample(rng)
    t = params.thickness_m.sample(rng)
    bend = t * params.bend_radius_thickness.sample(rng)
    holes = bool(rng.uniform() < params.hole_probability.sample(rng))
    hole_d = min(params.hole_diameter_m.sample(rng), 0.6 * width, 0.4 * leg)
    # Centre line in (x, z): legs stand up from a base along x; profile lies in the XY plane here.
    corners = [(0.0, leg), (0.0, 0.0), (base, 0.0)] + ([(base, leg)] if shape == "U" else [])
    profile = sheet_profile(corners, t, bend)
    solid = trimesh.creation.extrude_polygon(profile, width)
    # Profile plane XY → XZ, extrusion along Y, centred across the width.
    solid.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [1, 0, 0]))
    solid.apply_translation([0.0, width / 2, 0.0])
    if holes:
        cutters = []
        flat = bend + t  # where the bend ends and the flat flange begins
        free = (flat, base - flat) if shape == "U" else (flat, base)
        if free[1] - free[0] > 1.5 * hole_d:
            cutter = trimesh.creation.cylinder(radius=hole_d / 2, height=4 * t, sections=20)
            cutter.apply_translation([sum(free) / 2, 0.0, 0.0])
            cutters.append(cutter)
        for x_leg in (0.0, base) if shape == "U" else (0.0,):
            if leg - flat > 1.5 * hole_d:
                cutter = trimesh.creation.cylinder(radius=hole_d / 2, height=4 * t, sections=20)
                cutter.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [0, 1, 0]))
                cutter.apply_translation([x_leg, 0.0, flat + (leg - flat) / 2])
                cutters.append(cutter)
        if cutters:
            solid = manifold("difference", [solid, *cutters])
    attributes = {"shape": shape, "base_m": base, "leg_m": leg, "width_m": width, "thickness_m": t}
    return finish(solid, (0.0, 0.0, -1.0), True, attributes | {"holes": holes, "hole_diameter_m": hole_d})


# --- profile extrusions ---------------------------------------------------------------------------


class ExtrusionParams(Rule):
    profile: choice_of("square_tube", "round_tube", "angle", "channel", "t_slot") = {
        "choice": ["square_tube", "round_tube", "angle", "channel", "t_slot"]
    }
    size_m: number(minimum=0.005, maximum=0.2) = {"uniform": [0.015, 0.03]}
    length_m: number(minimum=0.005, maximum=0.5) = {"uniform": [0.03, 0.08]}
    # Wall thickness as a fraction of the size (ignored by t_slot, which has its own proportions).
    wall_fraction: number(minimum=0.03, maximum=0.3) = {"uniform": [0.08, 0.15]}


def profile_section(kind: str, size: float, wall: float) -> Polygon:
    """Cross-section of a cut profile, centred on its bounding box."""
    half = size / 2
    if kind == "square_tube":
        section = box(-half, -half, half, half).difference(
            box(-half + wall, -half + wall, half - wall, half - wall)
        )
    elif kind == "round_tube":
        section = Point(0, 0).buffer(half, 16).difference(Point(0, 0).buffer(half - wall, 16))
    elif kind == "angle":
        section = box(-half, -half, half, -half + wall).union(box(-half, -half, -half + wall, half))
    elif kind == "channel":
        section = box(-half, -half, half, -half + wall).union(
            box(-half, -half, -half + wall, half).union(box(half - wall, -half, half, half))
        )
    else:  # t_slot: 20×20-style aluminium profile, a T-slot in each face and a centre bore
        section = box(-half, -half, half, half).difference(Point(0, 0).buffer(0.21 * half, 8))
        for angle in range(0, 360, 90):
            slot = box(-0.22 * half, 0.7 * half, 0.22 * half, 1.01 * half).union(
                box(-0.34 * half, 0.42 * half, 0.34 * half, 0.78 * half)
            )
            section = section.difference(shapely.affinity.rotate(slot, angle, origin=(0, 0)))
    return shapely.affinity.translate(section, *(-np.asarray(section.centroid.coords[0])))


def make_extrusion(params: ExtrusionParams, rng: np.random.Generator) -> Generated:
    """A short cut length of a metal profile (tube, angle, channel, T-slot); lies on a side."""
    kind = params.profile.sample(rng)
    size = params.size_m.sample(rng)
    length = params.length_m.sample(rng)
    wall = size * params.wall_fraction.sample(rng)
    solid = trimesh.creation.extrude_polygon(profile_section(kind, size, wall), length)
    attributes = {"profile": kind, "size_m": size, "length_m": length, "wall_m": wall}
    return finish(solid, (0.0, -1.0, 0.0), kind in ("round_tube", "t_slot"), attributes)


# --- debris ---------------------------------------------------------------------------------------


class DebrisParams(Rule):
    size_m: number(minimum=0.0005, maximum=0.05) = {"uniform": [0.002, 0.008]}
    # Height as a fraction of the size: chips are flat.
    flatness: number(minimum=0.05, maximum=1.0) = {"uniform": [0.15, 0.5]}
    points: number(integer=True, minimum=5, maximum=40) = {"randint": [6, 14]}


def make_debris(params: DebrisParams, rng: np.random.Generator) -> Generated:
    """A small irregular convex chip (swarf, a broken-off flake): unlabelled clutter on a belt."""
    size = params.size_m.sample(rng)
    flatness = params.flatness.sample(rng)
    count = int(params.points.sample(rng))
    scale = size / 2 * np.array([1.0, rng.uniform(0.4, 1.0), flatness])
    cloud = rng.normal(size=(count, 3))
    cloud /= np.linalg.norm(cloud, axis=1, keepdims=True)
    hull = trimesh.convex.convex_hull(cloud * scale)
    return finish(hull, (0.0, 0.0, -1.0), False, {"size_m": size, "flatness": flatness}, DEBRIS_SLOTS)


register(GeneratorSpec(name="hex_bolt", params=HexBoltParams, make=make_hex_bolt, slots=SLOTS))
register(GeneratorSpec(name="hex_nut", params=HexNutParams, make=make_hex_nut, slots=SLOTS))
register(GeneratorSpec(name="washer", params=WasherParams, make=make_washer, slots=SLOTS))
register(GeneratorSpec(name="bracket", params=BracketParams, make=make_bracket, slots=SLOTS))
register(GeneratorSpec(name="extrusion", params=ExtrusionParams, make=make_extrusion, slots=SLOTS))
register(GeneratorSpec(name="debris", params=DebrisParams, make=make_debris, slots=DEBRIS_SLOTS))
