"""Rules + (dataset seed, image index) → `SceneDescription`: the one entry point of `procedural`.

Order: surfaces → camera → lighting → sensor → object groups (generate, place, dress, label).
Each part draws from its own named RNG stream of image k (see `seeding.py`), so an image is a pure
function of (rules, dataset seed, k). Each object's look (palette entry, materials, density) has a
stream of its own too: placement draws as often as it needs tries, so a look drawn after it changed
with the other groups' counts and with every object that failed to fit. Instance ids: labelled and
unlabelled objects get 1, 2, … in build order; support surfaces get 0, i.e. they count as background
in the instance pass.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

from scenesmith.procedural.camera import sample_camera
from scenesmith.procedural.description import Material, SceneDescription, SceneObject
from scenesmith.procedural.lighting import sample_lighting
from scenesmith.procedural.materials import sample_material
from scenesmith.procedural.registry import (
    GENERATORS,
    PLACEMENTS,
    SURFACES,
    Generated,
    Placement,
    PlacementContext,
    Support,
)
from scenesmith.procedural.rules import SceneRules
from scenesmith.procedural.seeding import image_seed, stream_rng
from scenesmith.procedural.sensor import sample_sensor

# What given rules and seed build. Bump it when a change here makes them build another scene: it
# enters every dataset's identity, so a dataset begun by older code is not resumed with new images,
# and benchmark caches render anew rather than reuse stale sets. A change inside one generator,
# surface or placement method bumps that plug-in's `revision` instead (REVISIONS in `registry.py`).
# 2: each object's look (palette entry, materials, density) has its own stream; `pack`, `physics`
#    and `rows` keep to the camera's view of the ground, not the box around it; `physics` leaves
#    out objects that rolled out of the picture; a `top_down` camera stays north-up past 25.8° tilt
#    (it turned half a turn there).
BUILD_VERSION = 2
MAX_TAG = 64


def plugin_revisions(rules: SceneRules) -> dict[str, int]:
    """The plug-ins these rules use that changed on their own since `BUILD_VERSION` last moved, as
    `"placement.rows": revision` (see REVISIONS in `registry.py`); {} when none did.

    Why: a fix to one generator, surface or placement method changes only the scenes that use it, so
    only their datasets should get a new identity; a benchmark's cached set of other rules keeps its name.
    """
    used = [("surface", SURFACES[rule.kind]) for rule in rules.surfaces.values()]
    for group in rules.objects.values():
        used += [
            ("generator", GENERATORS[group.generator]),
            ("placement", PLACEMENTS[group.placement.method]),
        ]
    return {
        f"{kind}.{spec.name}": spec.revision
        for kind, spec in sorted(used, key=lambda u: (u[0], u[1].name))
        if spec.revision
    }


def build_tag(rules: SceneRules) -> str:
    """What built these rules' scenes, for names: `BUILD_VERSION`, then each revised plug-in they use,
    e.g. `2` or `2+placement.rows-r1`; past MAX_TAG characters a digest of them (`2+r5d2c0a41b3`), so
    that a cache folder's name stays within file-name limits (the identity lists them in full)."""
    revisions = plugin_revisions(rules)
    tag = str(BUILD_VERSION) + "".join(f"+{name}-r{rev}" for name, rev in revisions.items())
    if len(tag) <= MAX_TAG:
        return tag
    return (
        f"{BUILD_VERSION}+r{hashlib.sha256(json.dumps(revisions, sort_keys=True).encode()).hexdigest()[:10]}"
    )


def up_category(item: Generated, pose: np.ndarray) -> tuple[str | None, bool, float]:
    """(category, iscrowd, tilt of the best face in degrees) from the face that points up."""
    if not item.up_faces:
        return item.category, False, 0.0
    best_name, best_cos = None, -2.0
    for normal, name in item.up_faces:
        cos = float((pose[:3, :3] @ np.asarray(normal))[2])
        if cos > best_cos:
            best_name, best_cos = name, cos
    tilt = math.degrees(math.acos(max(-1.0, min(1.0, best_cos))))
    return best_name, tilt > item.up_tolerance_deg, tilt


def _dress(
    group_name: str,
    index: int,
    item: Generated,
    placement: Placement,
    materials: list[Material],
    material_factors: dict[str, Any],
    group: Any,
    density: float,
    category_ids: dict[str, int],
    instance_id: int,
) -> SceneObject:
    category, iscrowd, tilt = up_category(item, placement.pose)
    if group.category is not None:  # one class for the whole group: no face to guess, nothing to ignore
        category, iscrowd = group.category, False
    # Only the generator knows whether its mesh encloses a volume exactly (overlapping closed parts,
    # e.g. an aircraft's wings through its fuselage, would be counted twice): no guessing here.
    volume = item.volume
    physical: dict[str, float] = {"density_kg_m3": density}
    if volume is not None:
        physical |= {"volume_m3": float(volume), "mass_kg": density * float(volume)}
    return SceneObject(
        instance_id=instance_id,
        name=f"{group_name}_{index:03d}",
        mesh=item.mesh if placement.mesh is None else placement.mesh,
        face_materials=item.face_materials,
        materials=materials,
        pose=placement.pose,
        category_id=category_ids.get(category) if category else None,
        category=category,
        iscrowd=iscrowd,
        physical=physical,
        attributes=item.attributes
        | {
            "generator": group.generator,
            "group": group_name,
            "support": placement.support,
            "up_tilt_deg": tilt,
        }
        | {"materials": material_factors},
        uv=item.uv,
        smooth=item.smooth,
        extras=item.extras,
    )


def _object_groups(
    rules: SceneRules, dataset_seed: int, image_index: int, context: PlacementContext
) -> tuple[list[SceneObject], dict[str, Any]]:
    category_ids = {c.name: c.id for c in rules.categories}
    objects: list[SceneObject] = []
    factors: dict[str, Any] = {}
    for group_name, group in rules.objects.items():
        rng = stream_rng(dataset_seed, image_index, f"objects.{group_name}")
        count = group.count.sample(rng)
        spec = GENERATORS[group.generator]
        generated = [spec.make(group.params, rng) for _ in range(count)]
        placements = PLACEMENTS[group.placement.method].place(group.placement, rng, generated, context)
        weights = np.array([entry.weight for entry in group.palette])
        placed = 0
        for index, (item, placement) in enumerate(zip(generated, placements, strict=True)):
            if placement is None:
                continue
            look = stream_rng(dataset_seed, image_index, f"objects.{group_name}.{index}.look")
            entry = group.palette[int(look.choice(len(weights), p=weights / weights.sum()))]
            materials, material_factors = [], {}
            for slot in item.slots:
                material, drawn = sample_material(
                    entry.materials[slot], look, f"{group_name}_{slot}", texture=item.textures.get(slot)
                )
                materials.append(material)
                material_factors[slot] = drawn
            instance_id = len(objects) + 1  # at most 999: SceneRules caps the sum of the counts
            obj = _dress(
                group_name,
                index,
                item,
                placement,
                materials,
                material_factors,
                group,
                group.density_kg_m3.sample(look),
                category_ids,
                instance_id,
            )
            objects.append(obj)
            context.placed.append(obj)
            placed += 1
        factors |= {f"{group_name}.count_requested": count, f"{group_name}.count_placed": placed}
    return objects, factors


def build_scene(rules: SceneRules, dataset_seed: int, image_index: int) -> SceneDescription:
    """The scene description of image `image_index` of the dataset with seed `dataset_seed`."""
    factors: dict[str, Any] = {}
    surface_objects: list[SceneObject] = []
    supports: dict[str, Support] = {}
    for name, surface_rule in rules.surfaces.items():
        rng = stream_rng(dataset_seed, image_index, f"surfaces.{name}")
        present = bool(rng.uniform() < surface_rule.probability.sample(rng))
        factors[f"surfaces.{name}.present"] = present
        if not present:
            continue
        result = SURFACES[surface_rule.kind].build(surface_rule, rng, name)
        surface_objects.extend(result.objects)
        supports |= {support.name: support for support in result.supports}
        factors |= {f"surfaces.{name}.{k}": v for k, v in result.factors.items()}

    camera, camera_factors = sample_camera(
        rules.camera, stream_rng(dataset_seed, image_index, "camera"), rules.render.resolution
    )
    factors |= {f"camera.{k}": v for k, v in camera_factors.items()}
    world, lights, light_factors = sample_lighting(
        rules.lighting, stream_rng(dataset_seed, image_index, "lighting"), np.zeros(3)
    )
    factors |= {f"lighting.{k}": v for k, v in light_factors.items()}
    sensor, sensor_factors = sample_sensor(rules.sensor, stream_rng(dataset_seed, image_index, "sensor"))
    factors |= {f"sensor.{k}": v for k, v in sensor_factors.items()}

    context = PlacementContext(supports=supports, camera=camera, placed=list(surface_objects))
    objects, group_factors = _object_groups(rules, dataset_seed, image_index, context)
    factors |= {f"objects.{k}": v for k, v in group_factors.items()}

    return SceneDescription(
        scene_name=rules.name,
        image_index=image_index,
        seed=image_seed(dataset_seed, image_index),
        camera=camera,
        objects=surface_objects + objects,
        lights=lights,
        world=world,
        categories=[c.model_dump() for c in rules.categories],
        factors=factors,
        sensor=sensor,
    )
