"""Rules + (dataset seed, image index) → `SceneDescription`: the one entry point of `procedural`.

Each randomizer draws from its own named RNG stream of image k (see `seeding.py`), so an image is
a pure function of (rules, dataset seed, k) and never depends on which images were built before.
Instance ids: labelled objects get 1, 2, … in build order; support surfaces (table, tray) get 0,
i.e. they count as background in the instance pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scenesmith.procedural.camera import ground_footprint_half_extent, sample_top_down_camera
from scenesmith.procedural.description import SceneDescription, SceneObject
from scenesmith.procedural.lighting import sample_lighting
from scenesmith.procedural.materials import sample_material
from scenesmith.procedural.meshes import die, die_rest_rotation, slab, tray
from scenesmith.procedural.placement import pack_discs
from scenesmith.procedural.rules import DieGroupRule, SceneRules, SurfacesRule
from scenesmith.procedural.seeding import image_seed, stream_rng

CATEGORY_OF_TOP_FACE = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _surfaces(
    rule: SurfacesRule, rng: np.random.Generator
) -> tuple[list[SceneObject], dict[str, Any], tuple[float, tuple[float, float]] | None]:
    """Table (always) and tray (with its probability). Returns objects, factors, tray support."""
    objects, factors = [], {}
    table_size = rule.table.size_m.sample(rng)
    table_material, table_factors = sample_material(rule.table.material, rng, "table")
    table_mesh = slab(table_size, table_size, 0.02)
    objects.append(
        SceneObject(0, "table", table_mesh.mesh, table_mesh.face_materials, [table_material], np.eye(4))
    )
    factors.update({f"table.{k}": v for k, v in table_factors.items()})
    tray_support = None
    present = rule.tray is not None and rng.uniform() < rule.tray.probability.sample(rng)
    factors["tray.present"] = bool(present)
    if present:
        t = rule.tray
        width, depth = t.inner_width_m.sample(rng), t.inner_depth_m.sample(rng)
        wall_h, wall_t, floor_t = (
            t.wall_height_m.sample(rng),
            t.wall_thickness_m.sample(rng),
            t.floor_thickness_m.sample(rng),
        )
        floor_mat, floor_factors = sample_material(t.floor_material, rng, "tray_floor")
        wall_mat, wall_factors = sample_material(t.wall_material, rng, "tray_wall")
        tray_mesh = tray(width, depth, wall_h + floor_t, wall_t, floor_t)
        pose = np.eye(4)
        pose[2, 3] = floor_t  # floor bottom on the table (z = 0), floor top at z = floor_t
        objects.append(
            SceneObject(0, "tray", tray_mesh.mesh, tray_mesh.face_materials, [floor_mat, wall_mat], pose)
        )
        factors.update(
            {"tray.inner_width_m": width, "tray.inner_depth_m": depth, "tray.wall_height_m": wall_h}
        )
        factors.update({f"tray.floor.{k}": v for k, v in floor_factors.items()})
        factors.update({f"tray.wall.{k}": v for k, v in wall_factors.items()})
        tray_support = (floor_t, (width / 2, depth / 2))
    return objects, factors, tray_support


def _dice(
    group_name: str,
    rule: DieGroupRule,
    rng: np.random.Generator,
    first_instance_id: int,
    support_z: float,
    half_extent: tuple[float, float],
    category_ids: dict[str, int],
) -> tuple[list[SceneObject], dict[str, Any]]:
    count = rule.count.sample(rng)
    weights = np.array([entry.weight for entry in rule.palette])
    sizes = [rule.size_m.sample(rng) for _ in range(count)]
    # Circumradius of the footprint (square of side `size`) bounds the die at any yaw.
    radii = [s * math.sqrt(2) / 2 + rule.placement.margin_m.sample(rng) for s in sizes]
    centres = pack_discs(rng, radii, half_extent, gap=rule.placement.min_gap_m.sample(rng))
    objects = []
    for index, (size, centre) in enumerate(zip(sizes, centres, strict=True)):
        if centre is None:
            continue
        entry = rule.palette[int(rng.choice(len(weights), p=weights / weights.sum()))]
        body, body_factors = sample_material(entry.body, rng, "die_body")
        pips, pip_factors = sample_material(entry.pips, rng, "die_pips")
        corner = rule.corner_radius.sample(rng)
        pip_radius = rule.pip_radius.sample(rng)
        top = int(rule.top_face.sample(rng))
        yaw = float(rng.uniform(0, 2 * math.pi))
        geometry = die(size, corner, pip_radius)
        pose = die_rest_rotation(top, yaw)
        lowest = (geometry.mesh.vertices @ pose[:3, :3].T)[:, 2].min()
        pose[:3, 3] = [centre[0], centre[1], support_z - lowest]
        density = rule.density_kg_m3.sample(rng)
        category = CATEGORY_OF_TOP_FACE[top]
        objects.append(
            SceneObject(
                instance_id=first_instance_id + len(objects),
                name=f"{group_name}_{index:03d}",
                mesh=geometry.mesh,
                face_materials=geometry.face_materials,
                materials=[body, pips],
                pose=pose,
                category_id=category_ids[category],
                category=category,
                physical={
                    "volume_m3": geometry.volume,
                    "density_kg_m3": density,
                    "mass_kg": density * geometry.volume,
                    "size_m": size,
                },
                attributes={
                    "generator": "die",
                    "top_face": top,
                    "yaw_rad": yaw,
                    "corner_radius": corner,
                    "pip_radius": pip_radius,
                    "body": body_factors,
                    "pips": pip_factors,
                },
            )
        )
    factors = {f"{group_name}.count_requested": count, f"{group_name}.count_placed": len(objects)}
    return objects, factors


def build_scene(rules: SceneRules, dataset_seed: int, image_index: int) -> SceneDescription:
    """The scene description of image `image_index` of the dataset with seed `dataset_seed`."""
    factors: dict[str, Any] = {}
    surfaces, surface_factors, tray_support = _surfaces(
        rules.surfaces, stream_rng(dataset_seed, image_index, "surfaces")
    )
    factors.update({f"surfaces.{k}": v for k, v in surface_factors.items()})

    camera, camera_factors = sample_top_down_camera(
        rules.camera, stream_rng(dataset_seed, image_index, "camera"), rules.render.resolution, np.zeros(3)
    )
    factors.update({f"camera.{k}": v for k, v in camera_factors.items()})

    world, lights, light_factors = sample_lighting(
        rules.lighting, stream_rng(dataset_seed, image_index, "lighting"), np.zeros(3)
    )
    factors.update({f"lighting.{k}": v for k, v in light_factors.items()})

    category_ids = {c.name: c.id for c in rules.categories}
    objects = list(surfaces)
    next_id = 1
    for group_name, group in rules.objects.items():
        rng = stream_rng(dataset_seed, image_index, f"objects.{group_name}")
        if tray_support is not None and group.placement.support == "tray_or_table":
            support_z, half_extent = tray_support
        else:
            fraction = group.placement.table_extent_fraction.sample(rng)
            seen = ground_footprint_half_extent(camera)
            support_z, half_extent = 0.0, (seen[0] * fraction, seen[1] * fraction)
        placed, group_factors = _dice(group_name, group, rng, next_id, support_z, half_extent, category_ids)
        objects.extend(placed)
        next_id += len(placed)
        factors.update({f"objects.{k}": v for k, v in group_factors.items()})

    return SceneDescription(
        scene_name=rules.name,
        image_index=image_index,
        seed=image_seed(dataset_seed, image_index),
        camera=camera,
        objects=objects,
        lights=lights,
        world=world,
        categories=[c.model_dump() for c in rules.categories],
        factors=factors,
    )
