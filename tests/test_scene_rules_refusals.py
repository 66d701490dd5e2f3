"""Rules that loaded and then built nonsense (or failed at build naming no key) are refused at load time,
naming the file, the key path and what was expected; the edge of what is allowed still loads and builds."""

from __future__ import annotations

import re

import numpy as np
import pytest

from scenesmith.procedural.build import build_scene
from scenesmith.procedural.loader import SceneRuleError, load_scene

DOF = "camera.depth_of_field={{f_stop: 2, focus_offset_m: {offset}}}"


def refusal(scene: str, overrides: list[str]) -> str:
    """The message of the SceneRuleError that loading `scene` with `overrides` raises."""
    with pytest.raises(SceneRuleError) as error:
        load_scene(scene, overrides)
    return str(error.value)


# --- shelf boards: below the bottom one, or above the unit, used to be clamped silently -----------


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # The reviewed case: all 5 boards stacked at one height, their products inside each other.
        ("surfaces.shelf.top_board_m=0.12", r"top_board_m >= bottom_m \+ \(boards - 1\) × board_thickness_m"),
        # Above bottom_m, but 5 boards 2 cm thick do not fit between 0.16 and 0.2.
        ("surfaces.shelf.top_board_m=0.2", r"top_board_m down to 0.2 and bottom_m up to 0.16"),
        ("surfaces.shelf.top_board_m=1.9", r"top_board_m <= height_m - board_thickness_m, .* as low as 1.73"),
        ("surfaces.shelf_right.top_board_m={uniform: [1.45, 1.74]}", r"top_board_m up to 1.74"),
    ],
)
def test_shelf_boards_out_of_order_or_above_the_unit_are_refused(override: str, expected: str) -> None:
    message = refusal("retail_shelf", [override])
    assert message.startswith("builtin:retail_shelf: invalid scene rules:")
    shelf = override.split(".")[1]
    assert re.search(rf"\n  surfaces\.{shelf}: .*{expected}", message), message


def test_a_single_board_above_the_unit_is_refused() -> None:
    message = refusal("retail_shelf", ["surfaces.shelf.boards=1", "surfaces.shelf.bottom_m=1.9"])
    assert "surfaces.shelf: bottom_m up to 1.9 puts the lowest board above the unit" in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # The lowest board's underside at z = -0.01: inside the floor, and its plinth gone.
        (["surfaces.shelf.bottom_m={uniform: [0.01, 0.16]}"], "bottom_m down to 0.01 sinks the lowest board"),
        # The board clears the floor, its 3.5 cm price-tag strip does not.
        (["surfaces.shelf.bottom_m=0.03"], "bottom_m down to 0.03 sinks the lowest board's price-tag strip"),
        # A 0.5 m unit with 0.25 m panels: boards (and the products' supports) of zero width.
        (
            ["surfaces.shelf.width_m={uniform: [0.5, 1.0]}", "surfaces.shelf.panel_thickness_m=0.25"],
            "panel_thickness_m up to 0.25 on both sides leaves no board in width_m down to 0.5",
        ),
    ],
)
def test_a_board_in_the_floor_or_panels_wider_than_the_unit_are_refused(
    overrides: list[str], expected: str
) -> None:
    assert f"surfaces.shelf: {expected}" in refusal("retail_shelf", overrides)


def test_a_board_resting_on_the_floor_and_panels_just_narrower_than_the_unit_build() -> None:
    """The edges of the checks: the lowest board's underside at z = 0 (no strips), its strip's bottom at
    z = 0, 1 mm of board between the panels (too narrow for a tag)."""
    overrides = [
        "surfaces.shelf.bottom_m=0.02",
        "surfaces.shelf.tag_strip_height_m=0",
        "surfaces.shelf.board_thickness_m=0.02",
        "surfaces.shelf.width_m=0.5",
        "surfaces.shelf.panel_thickness_m=0.2495",
    ]
    scene = build_scene(load_scene("retail_shelf", overrides).rules, 0, 0)
    assert scene.factors["surfaces.shelf.board_heights_m"][0] == pytest.approx(0.02)
    (shelf,) = [obj for obj in scene.objects if obj.name == "shelf"]
    assert shelf.mesh.bounds[0][2] == pytest.approx(0.0, abs=1e-9)
    strips = ["surfaces.shelf.bottom_m=0.036", "surfaces.shelf.tag_strip_height_m=0.035"]
    scene = build_scene(load_scene("retail_shelf", [*overrides[2:], *strips]).rules, 0, 0)
    (shelf,) = [obj for obj in scene.objects if obj.name == "shelf"]
    assert shelf.mesh.bounds[0][2] == pytest.approx(0.0, abs=1e-9)
    assert scene.factors["surfaces.shelf.tags"] == 0


def test_shelf_boards_at_the_edge_of_the_allowed_range_build_apart() -> None:
    """Boards exactly one thickness apart, the top one flush with the panels: allowed, and built as asked."""
    overrides = [
        "surfaces.shelf.bottom_m=0.1",
        "surfaces.shelf.top_board_m=0.18",  # 0.1 + 4 × 0.02
        "surfaces.shelf_right.height_m=1.8",
        "surfaces.shelf_right.top_board_m=1.78",  # height_m - board_thickness_m
    ]
    factors = build_scene(load_scene("retail_shelf", overrides).rules, 0, 0).factors
    assert factors["surfaces.shelf.board_heights_m"] == pytest.approx([0.1, 0.12, 0.14, 0.16, 0.18])
    assert factors["surfaces.shelf_right.board_heights_m"][-1] == pytest.approx(1.78)


# --- shelf board supports: a board no draw builds used to place nothing, silently ---------------------


@pytest.mark.parametrize(
    ("support", "expected"),
    [
        ("shelf.7", "'shelf.7' is not a board: 'shelf' has at most 5 boards (surfaces.shelf.boards), "),
        ("shelf_right.5", "'shelf_right.5' is not a board: 'shelf_right' has at most 5 boards"),
        ("shelf.04", "'shelf.04' is not a board"),
    ],
)
def test_a_board_index_beyond_the_most_boards_is_refused(support: str, expected: str) -> None:
    message = refusal("retail_shelf", [f"objects.cans.placement.support=[{support}]"])
    assert f"objects.cans.placement.support: {expected}" in message


def test_physics_onto_a_shelf_board_is_refused() -> None:
    """Its drop column started inside the boards above: cans meant for shelf.1 settled on the top board,
    still labelled `support: shelf.1`, and most of them were dropped."""
    message = refusal("retail_shelf", ["objects.cans.placement={method: physics, support: [shelf.1]}"])
    assert "objects.cans.placement.support: 'shelf.1' is a shelf board: physics drops objects" in message


def test_a_board_that_only_some_draws_build_is_allowed() -> None:
    """shelf_right has 4 or 5 boards: its board 4 exists in some images (and falls back otherwise)."""
    loaded = load_scene("retail_shelf", ["objects.cans.placement.support=[shelf_right.4, shelf.4]"])
    assert loaded.rules.objects["cans"].placement.support == ["shelf_right.4", "shelf.4"]


# --- depth of field: a focus behind the camera used to fail only in the renderer, naming no key ------


def test_a_focus_offset_that_can_reach_behind_the_camera_is_refused() -> None:
    message = refusal("dice_tray", [DOF.format(offset=-5)])  # the reviewed case: focus at -4.75 m
    assert message.startswith("builtin:dice_tray: invalid scene rules:")
    assert (
        "camera.depth_of_field.focus_offset_m: down to -5 can put the focus at or behind the camera"
        in message
    )
    assert "expected focus_offset_m > -0.24 at every draw" in message  # height_m: {uniform: [0.24, 0.34]}
    assert "truncnormal" in refusal("dice_tray", [DOF.format(offset="{normal: {mean: 0, std: 0.01}}")])
    refusal("dice_tray", [DOF.format(offset=-0.24)])  # focus exactly on the camera


def test_a_focus_offset_short_of_the_nearest_target_loads_and_builds_in_front() -> None:
    rules = load_scene("dice_tray", [DOF.format(offset="{uniform: [-0.2, 0.1]}")]).rules
    for index in range(5):
        camera = build_scene(rules, 0, index).camera
        assert camera.focus_distance is not None and camera.focus_distance > 0


def test_a_satellite_focus_is_checked_at_the_scenes_resolution() -> None:
    """A satellite's distance follows from its GSD across the image, so the width decides the limit."""
    nearest = 0.3 * 512 / (2 * np.tan(np.radians(1.0)))  # gsd_m from 0.3, 2° wide, 512 px
    load_scene("aerial_airplanes", [DOF.format(offset=-0.99 * nearest)])
    small = ["render.resolution=[64, 64]", DOF.format(offset=-0.99 * nearest)]
    assert "camera.depth_of_field.focus_offset_m: down to" in refusal("aerial_airplanes", small)


# --- aircraft: only the size classes that can be drawn are asked for -------------------------------


@pytest.mark.parametrize(
    "size_class", ["small", "{choice: {values: [small, medium, large], weights: [1, 0, 0]}}"]
)
def test_an_airfield_of_small_aircraft_lists_only_small(size_class: str) -> None:
    overrides = [f"objects.aircraft.params.size_class={size_class}", "categories=[{id: 1, name: small}]"]
    description = build_scene(load_scene("aerial_airplanes", overrides).rules, 0, 0)
    aircraft = [o for o in description.objects if o.attributes.get("group") == "aircraft"]
    assert aircraft and {(o.category, o.category_id) for o in aircraft} == {("small", 1)}


def test_a_drawable_size_class_left_out_is_still_refused() -> None:
    message = refusal("aerial_airplanes", ["categories=[{id: 1, name: small}]"])
    assert "objects.aircraft: generator 'aircraft' labels objects ['small', 'medium', 'large']" in message
    assert "add the missing ones to categories: ['large', 'medium']" in message
    # Listing none is a slip too (not unlabelled clutter, as it is for a lathed shape).
    message = refusal("aerial_airplanes", ["categories=[{id: 1, name: airplane}]"])
    assert "add the missing ones to categories: ['large', 'medium', 'small']" in message
    assert "clutter" not in message


# --- dice: pips of a six must not overlap ------------------------------------------------------------


def test_overlapping_pips_are_refused_naming_both_keys() -> None:
    overrides = ["objects.dice.params.pip_radius=0.14", "objects.dice.params.pip_spacing=0.12"]
    message = refusal("dice_tray", overrides)
    assert "objects.dice.params: pip_spacing down to 0.12 with pip_radius up to 0.14" in message
    assert "expected pip_spacing >= 2 × pip_radius at every draw, here >= 0.28" in message
    ranges = ["objects.dice.params.pip_radius={uniform: [0.08, 0.12]}"]  # spacing down to 0.22
    assert "pip_radius up to 0.12" in refusal("dice_tray", ranges)


def test_pips_that_just_touch_are_allowed() -> None:
    """benchmark/iterations/dice_tray_v8.yaml draws pip_spacing from 0.21 and pip_radius up to 0.105."""
    overrides = ["objects.dice.params.pip_radius=0.105", "objects.dice.params.pip_spacing=0.21"]
    assert load_scene("dice_tray", overrides).rules.objects["dice"].params.pip_spacing.support() == (
        0.21,
        0.21,
    )
