"""Table tops and trays: the supports of tabletop scenes (dice, parts, products on a desk)."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import trimesh

from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.materials import sample_material
from scenesmith.procedural.meshes import slab, tray
from scenesmith.procedural.params import MaterialRule, Placed, PositiveLength, Probability
from scenesmith.procedural.registry import Support, SurfaceResult, SurfaceSpec, register


def placed_pose(rule: Placed, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """Surface origin → world, from the rule's position and yaw."""
    position = [p.sample(rng) for p in rule.position_m]
    yaw = rule.yaw_deg.sample(rng)
    pose = trimesh.transformations.rotation_matrix(math.radians(yaw), [0, 0, 1])
    pose[:3, 3] = position
    return pose, {"x_m": position[0], "y_m": position[1], "z_m": position[2], "yaw_deg": yaw}


class TableRule(Placed):
    """A large flat slab whose top is the surface origin; objects stay within the camera's view."""

    kind: Literal["table"]
    probability: Probability = 1.0
    size_m: PositiveLength = 1.5
    thickness_m: PositiveLength = 0.02
    material: MaterialRule


def build_table(rule: TableRule, rng: np.random.Generator, name: str) -> SurfaceResult:
    pose, factors = placed_pose(rule, rng)
    size, thickness = rule.size_m.sample(rng), rule.thickness_m.sample(rng)
    material, material_factors = sample_material(rule.material, rng, f"{name}_top")
    mesh = slab(size, size, thickness)
    obj = SceneObject(0, name, mesh.mesh, mesh.face_materials, [material], pose)
    support = Support(name, pose, (size / 2, size / 2), limit_to_view=True)
    factors |= {"size_m": size} | {f"material.{k}": v for k, v in material_factors.items()}
    return SurfaceResult([obj], [support], factors)


class TrayRule(Placed):
    """An open rectangular tray (floor + four walls); objects rest on its floor."""

    kind: Literal["tray"]
    probability: Probability = 1.0
    inner_width_m: PositiveLength
    inner_depth_m: PositiveLength
    wall_height_m: PositiveLength = 0.03
    wall_thickness_m: PositiveLength = 0.008
    floor_thickness_m: PositiveLength = 0.004
    floor_material: MaterialRule
    wall_material: MaterialRule


def build_tray(rule: TrayRule, rng: np.random.Generator, name: str) -> SurfaceResult:
    pose, factors = placed_pose(rule, rng)
    width, depth = rule.inner_width_m.sample(rng), rule.inner_depth_m.sample(rng)
    wall_h, wall_t = rule.wall_height_m.sample(rng), rule.wall_thickness_m.sample(rng)
    floor_t = rule.floor_thickness_m.sample(rng)
    floor_material, floor_factors = sample_material(rule.floor_material, rng, f"{name}_floor")
    wall_material, wall_factors = sample_material(rule.wall_material, rng, f"{name}_wall")
    mesh = tray(width, depth, wall_h + floor_t, wall_t, floor_t)
    # The tray's floor bottom sits on the surface below (z = 0 of `pose`), its top at floor_t.
    lift = np.eye(4)
    lift[2, 3] = floor_t
    tray_pose = pose @ lift
    obj = SceneObject(0, name, mesh.mesh, mesh.face_materials, [floor_material, wall_material], tray_pose)
    support = Support(name, tray_pose, (width / 2, depth / 2))
    factors |= {"inner_width_m": width, "inner_depth_m": depth, "wall_height_m": wall_h}
    factors |= {"wall_thickness_m": wall_t, "floor_thickness_m": floor_t}
    factors |= {f"floor.{k}": v for k, v in floor_factors.items()}
    factors |= {f"wall.{k}": v for k, v in wall_factors.items()}
    return SurfaceResult([obj], [support], factors)


register(SurfaceSpec("table", TableRule, build_table))
register(SurfaceSpec("tray", TrayRule, build_tray))
