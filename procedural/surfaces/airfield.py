"""Airport apron seen from a satellite: concrete slabs, painted stand markings, oil stains, grass.

What makes an apron read as one at 0.3–0.6 m/px is a grid of concrete slabs in slightly different
tones separated by dark joints, thin yellow taxi-lane and stand lead-in lines, dark stains where
aircraft park, and sometimes the grass beyond the apron's edge. The apron is one unlabelled object
(slabs + joint base, one material slot per concrete tone); markings and stains are flat strips on
a second object; the grass is a third. The support, named after the surface, is the apron's top
(z = 0) and is cut to the camera's view by placement (`limit_to_view`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

import numpy as np
import trimesh
from pydantic import model_validator

from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.materials import sample_material
from scenesmith.procedural.params import Count, MaterialRule, Placed, Probability, number
from scenesmith.procedural.registry import Support, SurfaceResult, SurfaceSpec, register
from scenesmith.procedural.surfaces.tabletop import placed_pose

JOINT_DEPTH_M = 0.02  # joints (the base slab) sit this far below the slab tops
PAINT_HEIGHT_M = 0.004  # markings float this far above the slabs (no z-fighting)
STAIN_HEIGHT_M = 0.002


MAX_SLABS_PER_SIDE = 1000  # a million slabs; the default 500 m of 5 m slabs is 100


class AirfieldRule(Placed):
    """A square concrete apron; with `border_probability` its edge (and the grass) comes into view."""

    kind: Literal["airfield"]
    probability: Probability = 1.0
    size_m: number(minimum=20, maximum=5000) = 500.0
    slab_m: number(minimum=1, maximum=50) = {"uniform": [5.0, 7.5]}
    joint_m: number(minimum=0, maximum=1) = 0.15
    # Concrete tones: each slab takes one of `tones` variants of `material` whose brightness
    # differs by up to ±`tone_variation` (slabs poured at different times weather differently).
    tones: number(integer=True, minimum=1, maximum=8) = 4
    tone_variation: number(minimum=0, maximum=0.5) = 0.04
    material: MaterialRule
    joint_material: MaterialRule
    markings_probability: Probability = 0.9
    marking_material: MaterialRule
    marking_width_m: number(minimum=0.05, maximum=2) = 0.3
    # Taxi lane: its distance from the surface origin; stands leave it every `stand_spacing_m`.
    lane_offset_m: number(minimum=-1000, maximum=1000) = {"uniform": [-60, 60]}
    stand_spacing_m: number(minimum=10, maximum=200) = {"uniform": [45, 80]}
    stand_length_m: number(minimum=5, maximum=200) = {"uniform": [35, 55]}
    stains: Count = {"randint": [0, 30]}
    stain_radius_m: number(minimum=0.1, maximum=20) = {"uniform": [1.0, 4.0]}
    # Stains are scattered within this half-width of the surface origin (where the camera looks).
    stain_spread_m: number(minimum=1, maximum=2000) = 150.0
    stain_material: MaterialRule
    border_probability: Probability = 0.4
    # Distance from the surface origin to the apron's edge when the border is in play.
    border_distance_m: number(minimum=0, maximum=2000) = {"uniform": [40, 120]}
    grass_material: MaterialRule

    @model_validator(mode="after")
    def _slabs_fit_in_memory(self) -> AirfieldRule:
        size, slab = self.size_m.support()[1], self.slab_m.support()[0]
        if size / slab > MAX_SLABS_PER_SIDE:
            raise ValueError(
                f"size_m up to {size:g} over slab_m down to {slab:g} is {size / slab:.0f} slabs a side; "
                f"at most {MAX_SLABS_PER_SIDE}: raise slab_m or lower size_m"
            )
        return self


def flat_quads(centres: np.ndarray, half: np.ndarray, angles: np.ndarray, z: float) -> trimesh.Trimesh:
    """Upward-facing rectangles (N centres, N half extents, N yaw angles) at height z."""
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
    local = corners[None] * half[:, None, :]
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    xy = np.stack([local[..., 0] * cos - local[..., 1] * sin, local[..., 0] * sin + local[..., 1] * cos], -1)
    xy = xy + centres[:, None, :]
    vertices = np.c_[xy.reshape(-1, 2), np.full(len(xy) * 4, z)]
    base = 4 * np.arange(len(xy))[:, None]
    faces = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]])
    return trimesh.Trimesh(vertices, faces, process=False)


def blob(
    rng: np.random.Generator, centre: np.ndarray, radius: float, z: float, points: int = 14
) -> trimesh.Trimesh:
    """Irregular flat disc (an oil stain): a fan whose rim radius wobbles by up to ±35 %."""
    angle = np.linspace(0.0, 2 * math.pi, points, endpoint=False)
    rim = radius * (1 + 0.35 * rng.uniform(-1, 1, points))
    vertices = np.r_[
        [[*centre, z]],
        np.c_[centre[0] + rim * np.cos(angle), centre[1] + rim * np.sin(angle), np.full(points, z)],
    ]
    index = np.arange(points)
    faces = np.c_[np.zeros(points, int), index + 1, (index + 1) % points + 1]
    return trimesh.Trimesh(vertices, faces, process=False)


def slabs(
    size: float, slab: float, joint: float, tones: int, rng: np.random.Generator
) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Apron mesh centred at the origin: a base box (slot 0, the joints) under a grid of slabs (slots 1…)."""
    count = max(1, int(size // slab))
    pitch = size / count
    ticks = (np.arange(count) + 0.5) * pitch - size / 2
    gx, gy = np.meshgrid(ticks, ticks)
    centres = np.c_[gx.ravel(), gy.ravel()]
    half = np.full((len(centres), 2), max(pitch - joint, pitch * 0.5) / 2)
    tops = flat_quads(centres, half, np.zeros(len(centres)), 0.0)
    base = trimesh.creation.box(extents=(size, size, 0.3))
    base.apply_translation([0.0, 0.0, -JOINT_DEPTH_M - 0.15])
    tone = rng.integers(0, tones, len(centres))
    mesh = trimesh.util.concatenate([base, tops])
    face_materials = np.r_[np.zeros(len(base.faces), np.int32), np.tile(tone + 1, 2).astype(np.int32)]
    return mesh, face_materials


def markings(
    rule: AirfieldRule, rng: np.random.Generator, half_size: float, lane_y: float
) -> list[trimesh.Trimesh]:
    """Taxi-lane centreline along X at `lane_y`, stand lead-in lines off it with stop bars."""
    width = rule.marking_width_m.sample(rng)
    spacing, reach = rule.stand_spacing_m.sample(rng), rule.stand_length_m.sample(rng)
    centres, halves = [[0.0, lane_y]], [[half_size, width / 2]]
    sides = (-1.0, 1.0) if rng.uniform() < 0.5 else (float(rng.choice([-1.0, 1.0])),)
    for x in np.arange(-half_size + rng.uniform(0, spacing), half_size, spacing):
        for side in sides:
            end = lane_y + side * reach
            if abs(end) > half_size:
                continue
            centres += [[x, lane_y + side * reach / 2], [x, end]]
            halves += [[width / 2, reach / 2], [rng.uniform(2.0, 3.5), width / 2]]
    quads = flat_quads(np.asarray(centres), np.asarray(halves), np.zeros(len(centres)), PAINT_HEIGHT_M)
    return [quads]


def build_airfield(rule: AirfieldRule, rng: np.random.Generator, name: str) -> SurfaceResult:
    pose, factors = placed_pose(rule, rng)
    size = rule.size_m.sample(rng)
    border = bool(rng.uniform() < rule.border_probability.sample(rng))
    # With a border, the apron's +Y edge lies `border_distance_m` from the origin (grass beyond).
    shift = -(size / 2 - rule.border_distance_m.sample(rng)) if border else 0.0
    apron_pose = pose @ trimesh.transformations.translation_matrix([0.0, shift, 0.0])

    tones = int(rule.tones.sample(rng))
    mesh, face_materials = slabs(size, rule.slab_m.sample(rng), rule.joint_m.sample(rng), tones, rng)
    joint, _ = sample_material(rule.joint_material, rng, f"{name}_joints")
    concrete, concrete_factors = sample_material(rule.material, rng, f"{name}_concrete")
    variation = rule.tone_variation.sample(rng)
    scales = 1 + rng.uniform(-variation, variation, tones)
    variants = [
        replace(
            concrete, name=f"{name}_concrete_{i}", base_color=tuple(float(c * k) for c in concrete.base_color)
        )
        for i, k in enumerate(scales)
    ]
    apron = SceneObject(0, name, mesh, face_materials, [joint, *variants], apron_pose)

    paint: list[tuple[trimesh.Trimesh, int]] = []
    if rng.uniform() < rule.markings_probability.sample(rng):
        lane_y = rule.lane_offset_m.sample(rng) - shift
        paint += [(m, 0) for m in markings(rule, rng, size / 2, lane_y)]
    stains = int(rule.stains.sample(rng))
    spread = min(rule.stain_spread_m.sample(rng), size / 2)
    for _ in range(stains):
        centre = np.clip(rng.uniform(-spread, spread, 2) - [0.0, shift], -size / 2, size / 2)
        paint.append((blob(rng, centre, rule.stain_radius_m.sample(rng), STAIN_HEIGHT_M), 1))
    objects = [apron]
    if paint:
        marking, _ = sample_material(rule.marking_material, rng, f"{name}_markings")
        stain, _ = sample_material(rule.stain_material, rng, f"{name}_stains")
        paint_mesh = trimesh.util.concatenate([m for m, _ in paint])
        slots = np.concatenate([np.full(len(m.faces), slot, np.int32) for m, slot in paint])
        objects.append(SceneObject(0, f"{name}_paint", paint_mesh, slots, [marking, stain], apron_pose))

    # Grass everywhere around the apron: a large quad just below the joints.
    grass_material, _ = sample_material(rule.grass_material, rng, f"{name}_grass")
    grass = flat_quads(np.zeros((1, 2)), np.array([[1.5 * size, 1.5 * size]]), np.zeros(1), -0.1)
    objects.append(SceneObject(0, f"{name}_grass", grass, np.zeros(2, np.int32), [grass_material], pose))

    support = Support(name, apron_pose, (size / 2, size / 2), limit_to_view=True)
    factors |= {
        "size_m": size,
        "border": border,
        "tones": tones,
        "stains": stains,
        "concrete_srgb": concrete_factors["srgb"],
        "tone_scales": scales.round(4).tolist(),
    }
    return SurfaceResult(objects, [support], factors)


register(SurfaceSpec("airfield", AirfieldRule, build_airfield))
