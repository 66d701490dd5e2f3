"""procedural: seeded, pure-data scene descriptions (no Blender involved)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenesmith.procedural.build import build_scene
from scenesmith.procedural.camera import (
    SatelliteCameraRule,
    TopDownCameraRule,
    intrinsics,
    look_at,
    sample_camera,
)
from scenesmith.procedural.generators.dice import DIE_FACE_NORMALS, die_mesh
from scenesmith.procedural.loader import load_scene
from scenesmith.procedural.meshes import rounded_box

RULES = load_scene("dice_tray").rules


def _signature(desc) -> list:  # noqa: ANN001
    return [(o.name, o.category, np.round(o.pose, 12).tolist()) for o in desc.objects] + [
        np.round(desc.camera.world_to_camera, 12).tolist(),
        desc.factors,
    ]


def test_procedural_and_annotate_never_import_bpy() -> None:
    code = (
        "import sys\n"
        "from scenesmith.procedural.build import build_scene\n"
        "from scenesmith.procedural.loader import load_scene\n"
        "import scenesmith.annotate.dataset_writer, scenesmith.render\n"
        "build_scene(load_scene('dice_tray').rules, 0, 0)\n"
        "assert 'bpy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), index=st.integers(0, 10_000))
def test_image_k_is_a_pure_function_of_seed_and_k(seed: int, index: int) -> None:
    alone = build_scene(RULES, seed, index)
    build_scene(RULES, seed, index + 1)  # building other images in between changes nothing
    again = build_scene(RULES, seed, index)
    assert _signature(alone) == _signature(again)
    assert alone.seed == again.seed


def test_different_images_and_seeds_differ() -> None:
    a, b, c = build_scene(RULES, 0, 0), build_scene(RULES, 0, 1), build_scene(RULES, 1, 0)
    assert _signature(a) != _signature(b) and _signature(a) != _signature(c)


@pytest.mark.parametrize("index", range(6))
def test_dice_rest_on_their_support_and_class_is_the_face_that_points_up(index: int) -> None:
    desc = build_scene(RULES, 3, index)
    dice = desc.labelled_objects
    assert 1 <= len(dice) <= 25
    assert [d.instance_id for d in dice] == list(range(1, len(dice) + 1))
    support = 0.0
    for obj in desc.objects:
        if obj.name == "tray":
            support = obj.pose[2, 3]
    for d in dice:
        value = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}[d.category]
        up = d.pose[:3, :3] @ np.asarray(DIE_FACE_NORMALS[value])
        assert d.category_id == value
        assert d.physical["mass_kg"] == pytest.approx(d.physical["density_kg_m3"] * d.physical["volume_m3"])
        if d.iscrowd:  # leaning on a wall or another die: labelled ignore, not guessed
            assert up @ [0, 0, 1] <= np.cos(np.radians(15))
            continue
        assert up @ [0, 0, 1] > np.cos(np.radians(15))
        # Settled by physics: lying on the support within the 0.1 mm collision margins.
        assert d.world_mesh.bounds[0, 2] == pytest.approx(support, abs=5e-4)


def test_a_tilted_die_is_not_ignored_when_its_group_has_one_class() -> None:
    """Image 22 of seed 1 has one die tilted past 15° (iscrowd as a face); as a plain "die" it is exact."""
    tilted = [d.name for d in build_scene(RULES, 1, 22).labelled_objects if d.iscrowd]
    assert len(tilted) == 1
    overrides = ["categories=[{name: die, id: 1}]", "objects.dice.category=die"]
    one_class = load_scene("dice_tray", overrides).rules
    dice = {d.name: d for d in build_scene(one_class, 1, 22).labelled_objects}
    assert dice[tilted[0]].category == "die" and not dice[tilted[0]].iscrowd


def test_rounded_box_is_watertight_with_exact_bounds() -> None:
    box = rounded_box((0.02, 0.03, 0.04), 0.003)
    assert box.is_watertight and box.is_winding_consistent and box.volume > 0
    np.testing.assert_allclose(box.bounds, [[-0.01, -0.015, -0.02], [0.01, 0.015, 0.02]], atol=1e-12)
    # Rounding removes a known volume: between the sharp box and the inscribed rounded solid.
    assert 0.02 * 0.03 * 0.04 * 0.9 < box.volume < 0.02 * 0.03 * 0.04


def test_die_has_21_pips_and_body_volume() -> None:
    mesh, slots, volume = die_mesh(0.016, 0.1, 0.085)
    pips = mesh.submesh([np.flatnonzero(slots == 1)], append=True)
    assert len(pips.split(only_watertight=False)) == 21
    assert volume == pytest.approx(0.016**3, rel=0.05)


def test_look_at_top_down_has_image_up_along_world_y() -> None:
    w2c = look_at(np.array([0, 0, 1.0]), np.zeros(3), np.array([0, -1.0, 0]))
    K = intrinsics(100, 80, 60)
    point = np.array([0.1, 0.2, 0.0, 1.0])
    cam = (w2c @ point)[:3]
    u, v = (K @ cam)[:2] / cam[2]
    assert cam[2] == pytest.approx(1.0)
    assert u > 50 and v < 40  # +X world → right, +Y world → up in the image


def test_the_drawn_values_are_recorded_the_camera_target_lamps_and_every_material_parameter() -> None:
    """procedural/README promises every value drawn is in `factors` or the objects' `attributes`;
    the camera's aim, a lamp's side and five material parameters were missing, and a satellite's
    `height_m` was its slant range."""
    desc = build_scene(load_scene("dice_tray").rules, 0, 0)
    target = desc.factors["camera.target_m"]
    assert len(target) == 3 and all(isinstance(v, float) for v in target)
    assert any(key.endswith(".azimuth_deg") for key in desc.factors if not key.startswith("camera."))
    drawn = next(o.attributes["materials"] for o in desc.objects if "materials" in o.attributes)
    for slot in drawn.values():
        assert {"specular", "coat", "pattern_scale", "secondary_srgb", "hue_shift_deg"} <= set(slot)
    aerial = build_scene(load_scene("aerial_airplanes", ["camera.off_nadir_deg=20"]).rules, 0, 0)
    height, distance = aerial.factors["camera.height_m"], aerial.factors["camera.distance_m"]
    position = -aerial.camera.world_to_camera[:3, :3].T @ aerial.camera.world_to_camera[:3, 3]
    target = np.asarray(aerial.factors["camera.target_m"])
    assert height == pytest.approx(position[2] - target[2]) and distance == pytest.approx(
        np.linalg.norm(position - target)
    )


def test_an_objects_look_does_not_move_with_another_groups_count(tmp_path: Path) -> None:
    """Looks were drawn from the group's stream after placement, and only for objects that fit: more
    dice in the tray left fewer blocks room, and every block after one that did not fit was
    repainted, so no single rule could be varied alone."""
    scene = tmp_path / "crowded.yaml"
    scene.write_text(
        "extends: dice_tray\n"
        "surfaces: {tray: {probability: 1}}\n"
        "objects:\n"
        "  dice: {placement: {method: pack, support: [tray]}, count: 1}\n"
        "  blocks:\n"
        "    generator: box\n"
        "    count: 10\n"
        "    params: {size_x_m: 0.02, size_y_m: 0.02, size_z_m: 0.01}\n"
        "    placement: {method: pack, support: [tray]}\n"
        "    palette: [{materials: {body: {color: {choice: ['#ff0000', '#00ff00', '#0000ff', '#ffffff']},"
        " roughness: {uniform: [0, 1]}}}}]\n"
    )

    def block_looks(dice: int) -> tuple[dict[str, dict], int]:
        rules = load_scene(str(scene), [f"objects.dice.count={dice}"]).rules
        looks, placed = {}, 0
        for image in range(2):
            built = build_scene(rules, 5, image)
            placed += built.factors["objects.blocks.count_placed"]
            for obj in built.objects:
                if obj.attributes.get("group") == "blocks":
                    looks[f"{image}/{obj.name}"] = obj.attributes["materials"] | obj.physical
        return looks, placed

    (few, placed_few), (many, placed_many) = block_looks(1), block_looks(25)
    assert placed_many < placed_few  # the dice crowd blocks out
    shared = few.keys() & many.keys()
    assert len(shared) >= 4
    assert all(few[name] == many[name] for name in shared)


def _image_axes(rule: type, fields: dict[str, object]) -> np.ndarray:
    """The camera's image right and down axes in world coordinates (2 × 3)."""
    camera, _ = sample_camera(rule.model_validate(fields), np.random.default_rng(0), (64, 64))
    return camera.world_to_camera[:2, :3]


@pytest.mark.parametrize("azimuth", [0.0, 90.0, 200.0])
def test_a_tilting_camera_turns_smoothly(azimuth: float) -> None:
    """The image-down hint switched from north to gravity at 25.8° tilt: a phone tilted past it
    turned its picture by up to half a turn; now each half-degree of tilt turns it by a few at most."""
    common = {"kind": "top_down", "height_m": 0.5, "horizontal_fov_deg": 60, "tilt_azimuth_deg": azimuth}
    tilts = np.arange(0.0, 80.0, 0.5)
    axes = [_image_axes(TopDownCameraRule, common | {"tilt_deg": t}) for t in tilts]
    for before, after, tilt in zip(axes, axes[1:], tilts[1:], strict=False):
        assert np.all(np.sum(before * after, axis=1) > math.cos(math.radians(5.0))), tilt
    # North stays up: image right keeps pointing east-ish and down south-ish at every tilt.
    assert all(right[0] > 0.1 and down[1] < -0.1 for right, down in axes)


def test_a_satellite_image_is_north_up_at_every_off_nadir_angle() -> None:
    common = {"kind": "satellite", "gsd_m": 0.3}
    for off_nadir in (0.0, 20.0, 30.0, 45.0):
        for azimuth in (0.0, 90.0, 180.0, 270.0):
            fields = common | {"off_nadir_deg": off_nadir, "off_nadir_azimuth_deg": azimuth}
            right, down = _image_axes(SatelliteCameraRule, fields)
            assert right[0] > 0.7 and down[1] < -0.7, (off_nadir, azimuth)
