"""Aircraft seen from above (satellite imagery of airfields); the class is the size class.

An aircraft is a union of closed lofts: a fuselage (circular sections with a blunt nose cone and
an upswept tail cone), main wings and a horizontal tail (thin symmetric-airfoil slabs with span,
root/tip chord, quarter-chord sweep and dihedral), a vertical fin, engines (under-wing nacelles,
rear-mounted nacelles on business jets, or a nose propeller disc on light aircraft) and landing
gear. Every part is watertight and they are concatenated, not merged, so the mesh is watertight
but its parts overlap where they join (wing roots inside the fuselage): no exact volume is given.

Frame: +X is the nose direction, +Y the left wing, +Z up. The origin is the fuselage's mid-length
on the ground: the lowest part (belly or engine nacelle) clears the ground by a sampled
`ground_clearance_m`, and gear legs reach down to z = 0, so packing rests the aircraft on its
wheels. Proportions come from real types per class (Cessna 172/Citation, A320/737, 777/747/A330).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trimesh

from scenesmith.procedural.distributions import Choice
from scenesmith.procedural.params import Fraction, Rule, choice_of, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register

SLOTS = ("body", "wings", "tail", "engines")
BODY, WINGS, TAIL, ENGINES = range(4)
SIZE_CLASSES = ("small", "medium", "large")
# Declared wing-span range of each class (m); the params may narrow it but never leave it.
SPAN_RANGES_M = {"small": (10.0, 20.0), "medium": (28.0, 36.0), "large": (45.0, 65.0)}
RING_POINTS = 16  # points around a fuselage or nacelle section
AIRFOIL_POINTS = 7  # chordwise stations per airfoil surface


@dataclass(frozen=True)
class Proportions:
    """Sampling ranges of one kind of aircraft (all ratios dimensionless, angles in degrees)."""

    length_to_span: tuple[float, float]
    diameter_to_length: tuple[float, float]
    aspect_ratio: tuple[float, float]
    taper: tuple[float, float]
    sweep_deg: tuple[float, float]
    dihedral_deg: tuple[float, float]
    wing_root_from_nose: tuple[float, float]  # root leading edge, as a fraction of the length
    nose_fraction: tuple[float, float]


PROPORTIONS = {
    "prop": Proportions(
        (0.7, 0.85), (0.12, 0.15), (7.0, 8.5), (0.6, 1.0), (0.0, 3.0), (1.0, 3.0), (0.22, 0.28), (0.12, 0.16)
    ),
    "bizjet": Proportions(
        (0.85, 1.05),
        (0.1, 0.12),
        (7.0, 8.5),
        (0.35, 0.5),
        (12.0, 25.0),
        (2.0, 5.0),
        (0.38, 0.45),
        (0.1, 0.13),
    ),
    "medium": Proportions(
        (1.0, 1.25),
        (0.09, 0.105),
        (8.5, 10.0),
        (0.22, 0.3),
        (23.0, 28.0),
        (4.0, 7.0),
        (0.33, 0.38),
        (0.07, 0.09),
    ),
    "large": Proportions(
        (0.95, 1.2),
        (0.085, 0.1),
        (7.5, 9.5),
        (0.18, 0.28),
        (28.0, 37.0),
        (4.0, 7.0),
        (0.3, 0.36),
        (0.06, 0.08),
    ),
}


class AircraftParams(Rule):
    size_class: choice_of(*SIZE_CLASSES) = {"choice": {"values": list(SIZE_CLASSES), "weights": [1, 2, 1]}}
    small_span_m: number(minimum=SPAN_RANGES_M["small"][0], maximum=SPAN_RANGES_M["small"][1]) = {
        "uniform": list(SPAN_RANGES_M["small"])
    }
    medium_span_m: number(minimum=SPAN_RANGES_M["medium"][0], maximum=SPAN_RANGES_M["medium"][1]) = {
        "uniform": list(SPAN_RANGES_M["medium"])
    }
    large_span_m: number(minimum=SPAN_RANGES_M["large"][0], maximum=SPAN_RANGES_M["large"][1]) = {
        "uniform": list(SPAN_RANGES_M["large"])
    }
    # Small class: a nose propeller (Cessna-like) rather than two rear-mounted jets (bizjet).
    prop_probability: Fraction = 0.6
    # Large class: four under-wing engines (747/A340-like) rather than two.
    quad_probability: Fraction = 0.25
    # Height of the lowest part (belly or nacelle) above the ground; gear legs fill the gap.
    ground_clearance_m: number(minimum=0.05, maximum=3.0) = {"uniform": [0.4, 0.9]}


def loft(sections: list[np.ndarray], start: np.ndarray, end: np.ndarray) -> trimesh.Trimesh:
    """Closed tube through rings of K points each (same ordering), capped by fans to two apexes."""
    k, s = len(sections[0]), len(sections)
    vertices = np.concatenate([*sections, start[None], end[None]])
    ring = np.arange(k)
    nxt = (ring + 1) % k
    faces = []
    for i in range(s - 1):
        a, b, c, d = i * k + ring, i * k + nxt, (i + 1) * k + nxt, (i + 1) * k + ring
        faces += [np.stack([a, b, c], 1), np.stack([a, c, d], 1)]
    faces.append(np.stack([np.full(k, s * k), nxt, ring], 1))
    faces.append(np.stack([np.full(k, s * k + 1), (s - 1) * k + ring, (s - 1) * k + nxt], 1))
    faces = np.concatenate(faces)
    # Outward winding: flip the whole tube if its signed volume is negative (e.g. mirrored wings).
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    if np.einsum("ij,ij->", a, np.cross(b, c)) < 0:
        faces = faces[:, ::-1]
    return trimesh.Trimesh(vertices, faces, process=False)


def airfoil(points: int = AIRFOIL_POINTS) -> np.ndarray:
    """Closed symmetric NACA 00xx outline per unit chord and unit thickness ratio: (x aft, t) × 2n.

    Upper surface from the leading edge to the (closed) trailing edge, then the lower one back;
    cosine spacing puts more points at the rounded nose.
    """
    x = 0.5 * (1 - np.cos(np.linspace(0.0, math.pi, points + 1)))
    half = 5 * (0.2969 * np.sqrt(x) - 0.1260 * x - 0.3516 * x**2 + 0.2843 * x**3 - 0.1036 * x**4)
    upper = np.c_[x, half]
    lower = np.c_[x[-2:0:-1], -half[-2:0:-1]]
    return np.r_[upper, lower]


def lifting_surface(
    root: tuple[float, float, float],
    span: float,
    root_chord: float,
    tip_chord: float,
    sweep_deg: float,
    dihedral_deg: float,
    thickness: tuple[float, float],
    side: float,
    vertical: bool = False,
) -> trimesh.Trimesh:
    """One wing panel from `root` (leading edge at the root, m) to its tip `span` away.

    Horizontal panels grow along ±Y (`side`), tilted up by the dihedral; a vertical panel (fin)
    grows along +Z. The quarter-chord line is swept back by `sweep_deg`.
    """
    outline = airfoil()
    sections = []
    for frac, chord, ratio in ((0.0, root_chord, thickness[0]), (1.0, tip_chord, thickness[1])):
        reach = frac * span
        quarter_shift = reach * math.tan(math.radians(sweep_deg))
        le_x = root[0] + root_chord / 4 - quarter_shift - chord / 4
        x = le_x - outline[:, 0] * chord
        t = outline[:, 1] * ratio * chord
        if vertical:
            points = np.stack([x, root[1] + t, np.full_like(x, root[2] + reach)], 1)
        else:
            y = root[1] + side * reach
            z = root[2] + reach * math.tan(math.radians(dihedral_deg)) + t
            points = np.stack([x, np.full_like(x, y), z], 1)
        sections.append(points)
    return loft(sections, sections[0].mean(axis=0), sections[1].mean(axis=0))


def ring(x: float, radius: float, centre: tuple[float, float], points: int = RING_POINTS) -> np.ndarray:
    angle = np.linspace(0.0, 2 * math.pi, points, endpoint=False)
    return np.stack(
        [np.full(points, x), centre[0] + radius * np.cos(angle), centre[1] + radius * np.sin(angle)], 1
    )


def fuselage(length: float, radius: float, nose_fraction: float, tail_fraction: float) -> trimesh.Trimesh:
    """Tube along X centred at the origin: elliptic nose cone, cylinder, upswept tapering tail cone."""
    sections = []
    for u in np.linspace(0.06, 1.0, 7):  # nose: 0 at the tip
        t = u * nose_fraction
        sections.append(
            ring(length / 2 - t * length, radius * math.sqrt(1 - (1 - u) ** 2), (0, -0.15 * radius * (1 - u)))
        )
    for v in np.linspace(0.0, 1.0, 8)[:-1]:  # tail: 0 where the cone starts
        t = 1 - tail_fraction + v * tail_fraction
        taper = radius * (1 - 0.85 * v**1.3)
        sections.append(ring(length / 2 - t * length, taper, (0, 0.55 * radius * v**1.5)))
    tail_end = (-length / 2, 0.0, 0.55 * radius)
    last = ring(-length / 2 + 0.01 * length, 0.12 * radius, (0, 0.55 * radius))
    sections.append(last)
    return loft(sections, np.array([length / 2, 0.0, -0.15 * radius]), np.array(tail_end))


def nacelle(front_x: float, length: float, radius: float, y: float, z: float) -> trimesh.Trimesh:
    """Jet engine pod along X: rounded inlet lip, fat fan section, exhaust cone at the back."""
    profile = ((0.0, 0.85), (0.08, 0.97), (0.3, 1.0), (0.6, 0.97), (0.85, 0.88), (1.0, 0.7))
    sections = [ring(front_x - f * length, r * radius, (y, z)) for f, r in profile]
    return loft(
        sections, np.array([front_x + 0.02 * length, y, z]), np.array([front_x - 1.15 * length, y, z])
    )


def box(centre: tuple[float, float, float], extents: tuple[float, float, float]) -> trimesh.Trimesh:
    mesh = trimesh.creation.box(extents=extents)
    mesh.apply_translation(centre)
    return mesh


def draw(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def make_aircraft(params: AircraftParams, rng: np.random.Generator) -> Generated:
    """Parked aircraft seen from above: fuselage, swept wings, tail, engines; class = size class."""
    size_class = str(params.size_class.sample(rng))
    span = {"small": params.small_span_m, "medium": params.medium_span_m, "large": params.large_span_m}[
        size_class
    ].sample(rng)
    prop = bool(rng.uniform() < params.prop_probability.sample(rng))
    quad = bool(rng.uniform() < params.quad_probability.sample(rng))
    clearance = params.ground_clearance_m.sample(rng)
    kind = ("prop" if prop else "bizjet") if size_class == "small" else size_class
    p = PROPORTIONS[kind]

    length = span * draw(rng, p.length_to_span)
    radius = length * draw(rng, p.diameter_to_length) / 2
    aspect, taper = draw(rng, p.aspect_ratio), draw(rng, p.taper)
    sweep, dihedral = draw(rng, p.sweep_deg), draw(rng, p.dihedral_deg)
    root_chord = 2 * span / (aspect * (1 + taper))
    high_wing = kind == "prop" and bool(rng.uniform() < 0.6)
    wing_z = 0.8 * radius if high_wing else -0.55 * radius
    wing_root = (length / 2 - draw(rng, p.wing_root_from_nose) * length, 0.0, wing_z)
    thickness = (draw(rng, (0.13, 0.16)), draw(rng, (0.09, 0.11)))
    tail_fraction = draw(rng, (0.22, 0.3))

    parts: list[tuple[trimesh.Trimesh, int]] = [
        (fuselage(length, radius, draw(rng, p.nose_fraction), tail_fraction), BODY)
    ]
    wing_args = (span / 2, root_chord, taper * root_chord, sweep, dihedral, thickness)
    parts += [(lifting_surface(wing_root, *wing_args, side=side), WINGS) for side in (1.0, -1.0)]

    # Horizontal tail: a small wing at the end of the tail cone; fin above it.
    tail_span = span * draw(rng, (0.3, 0.4))
    tail_taper = draw(rng, (0.6, 1.0) if kind == "prop" else (0.3, 0.5))
    tail_root_chord = 2 * tail_span / (draw(rng, (4.0, 5.0)) * (1 + tail_taper))
    tail_sweep = sweep + draw(rng, (0.0, 3.0) if kind == "prop" else (3.0, 8.0))
    tail_root = (-length / 2 + 0.02 * length + tail_root_chord, 0.0, 0.3 * radius)
    tail_args = (
        tail_span / 2,
        tail_root_chord,
        tail_taper * tail_root_chord,
        tail_sweep,
        dihedral,
        (0.1, 0.09),
    )
    parts += [(lifting_surface(tail_root, *tail_args, side=side), WINGS) for side in (1.0, -1.0)]
    fin_height = length * draw(rng, (0.13, 0.18))
    fin_root_chord = fin_height * draw(rng, (0.8, 1.1))
    fin_root = (-length / 2 + 0.01 * length + fin_root_chord, 0.0, 0.3 * radius)
    fin_sweep = draw(rng, (20.0, 35.0) if kind == "prop" else (33.0, 45.0))
    fin_args = (
        fin_height,
        fin_root_chord,
        draw(rng, (0.3, 0.45)) * fin_root_chord,
        fin_sweep,
        0.0,
        (0.11, 0.1),
    )
    parts.append((lifting_surface(fin_root, *fin_args, side=1.0, vertical=True), TAIL))

    engines, layout = 0, "prop"
    if kind == "prop":
        disc = trimesh.creation.cylinder(radius=0.085 * span, height=0.06, sections=RING_POINTS)
        disc.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [0, 1, 0]))
        disc.apply_translation([length / 2 + 0.04, 0.0, -0.15 * radius])
        parts.append((disc, ENGINES))
        engines = 1
    elif kind == "bizjet":
        layout, engines = "rear_jet", 2
        pod_length, pod_radius = draw(rng, (0.16, 0.19)) * length, draw(rng, (0.028, 0.034)) * length
        offset = radius + pod_radius + 0.15 * radius
        front = -length / 2 + tail_fraction * length + 0.05 * length
        parts += [
            (nacelle(front, pod_length, pod_radius, s * offset, 0.35 * radius), ENGINES) for s in (1, -1)
        ]
    else:
        layout = "underwing"
        stations = (
            (draw(rng, (0.38, 0.42)), draw(rng, (0.64, 0.7)))
            if kind == "large" and quad
            else (draw(rng, (0.31, 0.36)),)
        )
        pod_radius = length * (draw(rng, (0.018, 0.021)) if len(stations) == 2 else draw(rng, (0.028, 0.032)))
        pod_length = length * draw(rng, (0.08, 0.09) if len(stations) == 2 else (0.11, 0.13))
        for station in stations:
            y = station * span / 2
            chord = root_chord * (1 - station * (1 - taper))
            le_x = wing_root[0] + root_chord / 4 - y * math.tan(math.radians(sweep)) - chord / 4
            z = wing_z + y * math.tan(math.radians(dihedral)) - 0.95 * pod_radius
            parts += [
                (nacelle(le_x + 0.6 * pod_length, pod_length, pod_radius, s * y, z), ENGINES) for s in (1, -1)
            ]
        engines = 2 * len(stations)

    # Lift so the lowest part clears the ground, then add gear legs and wheels reaching z = 0.
    lift = clearance - min(float(mesh.vertices[:, 2].min()) for mesh, _ in parts)
    leg = 0.12 * radius
    wheel = (0.5 * radius, 0.3 * radius, 0.45 * radius)
    main_x = wing_root[0] - 0.6 * root_chord if not high_wing else wing_root[0] - 0.5 * root_chord
    track = 0.8 * radius if kind == "prop" else 1.3 * radius
    gear = [(length / 2 - 0.12 * length, 0.0, 0.0)] + [(main_x, s * track, wing_z) for s in (1, -1)]
    for x, y, top in gear:
        top = min(top, 0.0)
        height = top + lift - wheel[2] / 2
        parts.append((box((x, y, top - height / 2), (leg, leg, height)), ENGINES))
        parts.append((box((x, y, -lift + wheel[2] / 2), wheel), ENGINES))

    mesh = trimesh.util.concatenate([m for m, _ in parts])
    mesh.apply_translation([0.0, 0.0, lift])
    slots = np.concatenate([np.full(len(m.faces), slot, np.int32) for m, slot in parts])
    return Generated(
        mesh=mesh,
        face_materials=slots,
        slots=SLOTS,
        category=size_class,
        smooth=True,
        attributes={
            "size_class": size_class,
            "span_m": span,
            "length_m": length,
            "fuselage_diameter_m": 2 * radius,
            "sweep_deg": sweep,
            "dihedral_deg": dihedral,
            "engines": engines,
            "engine_layout": layout,
            "high_wing": high_wing,
            "ground_clearance_m": clearance,
        },
        # Heading keypoint: the nose tip, pointing forward (published in object and camera frames).
        extras={"nose": [{"position": [length / 2, 0.0, lift - 0.15 * radius], "normal": [1.0, 0.0, 0.0]}]},
    )


def size_categories(params: AircraftParams) -> tuple[str, ...]:
    """The size classes `params` can draw, each object's class when its group sets none: the scene
    must list these, and only these (a scene of small aircraft need not list `large`; a class drawn
    with weight 0 is never drawn). Unlike a lathed shape, listing none of them is refused as well:
    aircraft are what an airfield scene is labelled for, so leaving all their classes out is a slip."""
    size_class = params.size_class
    if isinstance(size_class, Choice):
        return tuple(
            value for value, weight in zip(size_class.values, size_class.weights, strict=True) if weight > 0
        )
    return (size_class.value,)


# SceneRules reads this: else a scene listing none of these classes would make the group clutter.
size_categories.unlisted_is_clutter = False  # type: ignore[attr-defined]

register(
    GeneratorSpec(
        name="aircraft", params=AircraftParams, make=make_aircraft, slots=SLOTS, categories=size_categories
    )
)
