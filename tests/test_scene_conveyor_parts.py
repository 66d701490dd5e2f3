"""conveyor_parts scene: validates, labels parts, and parts settle on the belt between the guards
without sinking into it or into each other.

Penetration is checked on the real part meshes (not the convex hulls physics used): every vertex of
one part against the closed solid of the other with trimesh's signed distance, and against the belt
top in the belt's frame (the belt is a box, so its top plane is exact).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import trimesh

from scenesmith.procedural.build import build_scene
from scenesmith.procedural.description import SceneDescription, SceneObject
from scenesmith.procedural.loader import load_scene
from scenesmith.procedural.placements.physics import static_pieces

RULES = load_scene("conveyor_parts").rules
CATEGORIES = {c.name for c in RULES.categories}
TOLERANCE_M = 1e-3
INDICES = range(20)


@functools.cache
def scene(index: int) -> SceneDescription:
    return build_scene(RULES, 0, index)


def belt(desc: SceneDescription) -> SceneObject:
    return next(o for o in desc.objects if o.name == "belt")


def parts(desc: SceneDescription) -> list[SceneObject]:
    """Every placed object, labelled or not (debris too)."""
    return [o for o in desc.objects if o.instance_id != 0]


def solid_in_world(obj: SceneObject) -> trimesh.Trimesh:
    return trimesh.Trimesh(obj.world_mesh.vertices, obj.world_mesh.faces)  # merge shading splits


def test_scene_has_four_part_classes_and_an_unlabelled_debris_group() -> None:
    assert {"bolt", "nut", "washer", "bracket"} <= CATEGORIES
    assert RULES.objects["debris"].category is None


@pytest.mark.parametrize("index", INDICES)
def test_every_image_has_labelled_parts_of_the_scene(index: int) -> None:
    labelled = scene(index).labelled_objects
    assert 3 <= len(labelled) <= 30
    assert {o.category for o in labelled} <= CATEGORIES
    assert all(o.physical["mass_kg"] > 0 for o in labelled)


def test_every_class_appears_across_images() -> None:
    seen = {o.category for k in INDICES for o in scene(k).labelled_objects}
    assert seen == CATEGORIES


@pytest.mark.parametrize("index", INDICES)
def test_parts_rest_on_the_belt_within_its_usable_width(index: int) -> None:
    desc = scene(index)
    conveyor = belt(desc)
    half_width = desc.factors["surfaces.belt.width_m"] / 2
    to_belt = np.linalg.inv(conveyor.pose)
    for obj in parts(desc):
        local = trimesh.transform_points(obj.world_mesh.vertices, to_belt)
        assert np.abs(local[:, 1]).max() <= half_width, obj.name  # between the guards
        assert local[:, 2].min() > -TOLERANCE_M, obj.name  # not sunk into the belt
        assert local[:, 2].min() < 0.08, obj.name  # resting, not hovering above the belt


@pytest.mark.parametrize("index", range(8))
def test_parts_never_interpenetrate(index: int) -> None:
    objects = parts(scene(index))
    solids = {o.name: solid_in_world(o) for o in objects}
    for a, b in itertools.combinations(objects, 2):
        ma, mb = solids[a.name], solids[b.name]
        if not (np.all(ma.bounds[0] <= mb.bounds[1]) and np.all(mb.bounds[0] <= ma.bounds[1])):
            continue
        for first, second in ((ma, mb), (mb, ma)):
            depth = trimesh.proximity.signed_distance(second, first.vertices).max()
            assert depth < TOLERANCE_M, (a.name, b.name, depth)


def test_conveyor_collides_as_exact_convex_pieces() -> None:
    pieces = static_pieces(belt(scene(0)))
    assert len(pieces) >= 3 and all(convex for _, convex in pieces)  # belt and two guards (and drums)


def test_scene_is_a_pure_function_of_seed_and_index() -> None:
    def signature(desc: SceneDescription) -> list:
        return [(o.name, np.round(o.pose, 12).tolist()) for o in desc.objects] + [desc.factors]

    assert signature(build_scene(RULES, 5, 3)) == signature(build_scene(RULES, 5, 3))


def test_tiny_render_labels_parts_of_the_scene() -> None:
    from scenesmith.pipeline import iter_samples

    overrides = ["render.resolution=[64, 64]", "render.samples=4", "render.denoise=false"]
    (sample,) = iter_samples("conveyor_parts", 1, seed=0, overrides=overrides)
    ids = {c.id for c in RULES.categories}
    assert sample.labels.annotations
    assert all(a["category_id"] in ids for a in sample.labels.annotations)
