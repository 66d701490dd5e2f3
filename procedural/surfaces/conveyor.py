"""A belt conveyor: a long rubber belt between two side guards, with optional drums at the ends.

Objects rest on the belt top, which is the surface origin (+Z up, x along the belt). The support
named after the surface covers the usable width between the guards, so parts dropped with `physics`
stay on the belt: the guards are real static geometry they bounce against. The support is limited
to the camera view along the belt (an inspection camera sees only a section of a long belt).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import trimesh
from pydantic import model_validator

from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.materials import sample_material
from scenesmith.procedural.params import Fraction, Length, MaterialRule, Placed, PositiveLength, Probability
from scenesmith.procedural.registry import Support, SurfaceResult, SurfaceSpec, register
from scenesmith.procedural.surfaces.tabletop import placed_pose

BELT, FRAME = 0, 1


class ConveyorRule(Placed):
    """Belt top at the surface origin; `width_m` is the usable width between the side guards."""

    kind: Literal["conveyor"]
    probability: Probability = 1.0
    length_m: PositiveLength = 2.0
    width_m: PositiveLength = 0.4
    # Gap between a belt edge and its guard; the guards stand on the frame beside the belt.
    edge_gap_m: Length = 0.003
    guard_height_m: PositiveLength = 0.04
    guard_thickness_m: PositiveLength = 0.008
    frame_depth_m: PositiveLength = 0.12
    roller_probability: Fraction = 0.5
    roller_diameter_m: PositiveLength = 0.08
    belt_material: MaterialRule
    frame_material: MaterialRule

    @model_validator(mode="after")
    def _gaps_leave_a_belt(self) -> ConveyorRule:
        """Every draw must leave belt between the gaps: checked at load, not in the image that draws it."""
        gap, width = self.edge_gap_m.support()[1], self.width_m.support()[0]
        if 2 * gap >= width:
            raise ValueError(
                f"edge_gap_m up to {gap:g} on both sides leaves no belt in width_m down to {width:g}; "
                "the gaps must add up to less than the narrowest width"
            )
        return self


def _box(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> trimesh.Trimesh:
    lo_, hi_ = np.asarray(lo, float), np.asarray(hi, float)
    return trimesh.creation.box(
        extents=hi_ - lo_, transform=trimesh.transformations.translation_matrix((lo_ + hi_) / 2)
    )


def conveyor_mesh(
    length: float,
    width: float,
    gap: float,
    guard_h: float,
    guard_t: float,
    depth: float,
    roller_d: float | None,
) -> tuple[trimesh.Trimesh, np.ndarray]:
    """(mesh, face slots): slot 0 the belt, slot 1 guards and drums. Belt top at z = 0.

    The belt and the slider bed under it are one solid box down to the frame's depth: a thick
    convex support is what keeps thin parts (washers) from tunnelling through it in physics.
    """
    half_l, half_w = length / 2, width / 2
    belt = _box((-half_l, -half_w + gap, -depth), (half_l, half_w - gap, 0.0))
    frame = [
        # A guard plate on each side, from the bottom of the frame to above the belt.
        _box((-half_l, half_w, -depth), (half_l, half_w + guard_t, guard_h)),
        _box((-half_l, -half_w - guard_t, -depth), (half_l, -half_w, guard_h)),
    ]
    if roller_d is not None:
        for x in (-half_l, half_l):
            drum = trimesh.creation.cylinder(radius=roller_d / 2, height=width - 2 * gap, sections=48)
            drum.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
            drum.apply_translation([x, 0.0, -roller_d / 2])
            frame.append(drum)
    mesh = trimesh.util.concatenate([belt, *frame])
    slots = np.full(len(mesh.faces), FRAME, np.int32)
    slots[: len(belt.faces)] = BELT
    return mesh, slots


def build_conveyor(rule: ConveyorRule, rng: np.random.Generator, name: str) -> SurfaceResult:
    pose, factors = placed_pose(rule, rng)
    length, width = rule.length_m.sample(rng), rule.width_m.sample(rng)
    gap = rule.edge_gap_m.sample(rng)
    guard_h, guard_t = rule.guard_height_m.sample(rng), rule.guard_thickness_m.sample(rng)
    depth = rule.frame_depth_m.sample(rng)
    rollers = bool(rng.uniform() < rule.roller_probability.sample(rng))
    roller_d = rule.roller_diameter_m.sample(rng)
    belt_material, belt_factors = sample_material(rule.belt_material, rng, f"{name}_belt")
    frame_material, frame_factors = sample_material(rule.frame_material, rng, f"{name}_frame")
    drums = roller_d if rollers else None
    mesh, slots = conveyor_mesh(length, width, gap, guard_h, guard_t, depth, drums)
    obj = SceneObject(0, name, mesh, slots, [belt_material, frame_material], pose)
    support = Support(name, pose, (length / 2, width / 2), limit_to_view=True)
    factors |= {
        "length_m": length,
        "width_m": width,
        "edge_gap_m": gap,
        "guard_height_m": guard_h,
        "guard_thickness_m": guard_t,
        "frame_depth_m": depth,
        "rollers": rollers,
    }
    if rollers:
        factors["roller_diameter_m"] = roller_d
    factors |= {f"belt.{k}": v for k, v in belt_factors.items()}
    factors |= {f"frame.{k}": v for k, v in frame_factors.items()}
    return SurfaceResult([obj], [support], factors)


register(SurfaceSpec("conveyor", ConveyorRule, build_conveyor))
