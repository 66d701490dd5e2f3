"""`scenesmith validate` answers every rule mistake with one line naming the key or the image: counts
that cannot fit one image, infinite numbers, and values drawn per image that fail on a later image."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scenesmith.cli import main
from scenesmith.procedural.loader import SceneRuleError, load_scene


def run_validate(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", *args])
    captured = capsys.readouterr()
    return int(exit_info.value.code), captured.out + captured.err


def test_counts_that_can_overflow_one_image_are_refused_when_the_rules_load() -> None:
    with pytest.raises(
        SceneRuleError, match=r"counts can add up to 1001 objects .*dice 500.*more 500.*at most 999"
    ):
        load_scene("dice_tray", ["objects.dice.count=500", "objects.more={generator: box, count: 500, "
                                 "palette: [{materials: {body: {color: '#808080'}}}], "
                                 "placement: {method: pack, support: [tray]}}"])  # fmt: skip


def test_an_infinite_number_is_named_not_turned_into_nan_probabilities(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, text = run_validate(["dice_tray", "--set", "objects.dice.palette.0.weight=.inf"], capsys)
    assert code == 2 and "objects.dice.palette[0].weight: Input should be a finite number" in text


def test_validate_builds_more_images_when_asked_and_names_the_one_that_fails(
    capsys: pytest.CaptureFixture[str], unbuildable_from_image: Callable[[int], None]
) -> None:
    """Image 8's draw cannot be built, the first images' can: one line naming image and seed."""
    unbuildable_from_image(8)
    args = ["conveyor_parts"]
    code, text = run_validate(args, capsys)
    assert code == 0 and "image 0 of seed 0 has" in text
    code, text = run_validate([*args, "--images", "10"], capsys)
    assert code == 2 and "image 8 (seed 0) cannot be built: mechanical part is not a closed solid" in text
    assert "Traceback" not in text
    code, text = run_validate(["dice_tray", "--images", "3"], capsys)
    assert code == 0 and "images 0–2 of seed 0 have" in text


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "objects.dice.placement={support: [tray]}",
            "placement.method: missing key 'method'; expected one of 'pack'",
        ),
        (
            "surfaces.tray={material: {color: '#ffffff'}}",
            "surfaces.tray.kind: missing key 'kind'; expected one of",
        ),
        ("objects.dice.placement.support=[]", "placement.support: List should have at least 1 item"),
        (
            "objects.dice.placement={method: pack, support: [tray], attempts: 0}",
            "attempts: Input should be greater",
        ),
        (
            "objects.dice.placement={method: pack, support: [tray], attempts: -1}",
            "attempts: Input should be greater",
        ),
        (
            "objects.dice.placement={method: pack, support: [tray], attempts: 100000}",
            "less than or equal to 10000",
        ),
        ("objects.dice.params.size_m=5e-3", None),  # YAML 1.2 / JSON exponent: a number, not a string
        ("objects.dice.params.size_m=2e-2", None),
    ],
)
def test_rule_mistakes_get_the_options_and_numbers_read_as_numbers(
    override: str, message: str | None
) -> None:
    if message is None:
        assert load_scene("dice_tray", [override]).rules.objects["dice"].params.size_m.value == float(
            override.split("=")[1]
        )
        return
    with pytest.raises(SceneRuleError) as raised:
        load_scene("dice_tray", [override])
    assert message in str(raised.value)


def test_a_key_written_twice_in_one_mapping_is_an_error_not_a_silent_replacement(tmp_path) -> None:  # noqa: ANN001
    scene = tmp_path / "twice.yaml"
    scene.write_text("extends: dice_tray\nobjects:\n  dice: {count: 3}\n  dice: {count: 4}\n")
    with pytest.raises(
        SceneRuleError, match=r"twice.yaml: invalid YAML at line 4, column 3: key 'dice' appears twice"
    ):
        load_scene(str(scene))


def test_a_surface_name_with_a_dot_is_refused_by_name() -> None:
    """`my.table` validated, then could not be a support: a dotted name reads as a board (`shelf.0`)."""
    overrides = [
        "surfaces={my.table: {kind: table, material: {color: '#cccccc'}}}",
        "objects.dice.placement.support=[my.table]",
    ]
    with pytest.raises(SceneRuleError, match=r"surfaces: name 'my.table' may not hold a dot"):
        load_scene("dice_tray", overrides)
    spaced = (
        "objects={red dice: {generator: die, count: 2, placement: {method: pack, support: [tray]}, "
        "palette: [{materials: {body: {color: '#c03030'}, pips: {color: '#ffffff'}}}]}}"
    )
    assert "red dice" in load_scene("dice_tray", [spaced]).rules.objects  # other characters stay allowed


def test_an_unquoted_colour_is_explained_and_the_value_is_shown_once() -> None:
    """`color=#00ff00` reaches YAML as a comment: say so, instead of "got None (got null)"."""
    with pytest.raises(SceneRuleError) as raised:
        load_scene("dice_tray", ["objects.dice.palette.0.materials.body.color=#00ff00"])
    assert "got nothing (quote a colour" in str(raised.value) and "null" not in str(raised.value)
    with pytest.raises(SceneRuleError) as raised:
        load_scene("dice_tray", ["objects.dice.palette.0.materials.body.color=red"])
    assert str(raised.value).count("got") == 1


@pytest.mark.parametrize(
    ("scene", "overrides", "message"),
    [
        (
            "crop_weeds",
            ["surfaces.field.size_m=50", "surfaces.field.cell_m=0.002"],
            "grid of 25000 cells a side",
        ),
        ("crop_weeds", ["surfaces.field.noise_scale_m=1.0e-06"], "noise cells along size_m"),
        ("aerial_airplanes", ["surfaces.apron.size_m=5000", "surfaces.apron.slab_m=1"], "5000 slabs a side"),
    ],
)
def test_surface_ranges_that_would_need_gigabytes_are_refused_when_the_rules_load(
    scene: str, overrides: list[str], message: str
) -> None:
    with pytest.raises(SceneRuleError, match=message):
        load_scene(scene, overrides)


def test_yaml_merge_keys_still_merge_and_may_be_overridden(tmp_path) -> None:  # noqa: ANN001
    """The duplicate-key check must leave `<<:` to YAML: a merged mapping's keys can be overridden."""
    scene = tmp_path / "merged.yaml"
    scene.write_text(
        "extends: dice_tray\nobjects:\n  dice:\n    placement:\n"
        "      <<: {method: pack, support: [tray], attempts: 50}\n      attempts: 150\n"
    )
    assert load_scene(str(scene)).rules.objects["dice"].placement.attempts == 150


def test_a_local_override_is_parsed_like_scene_text() -> None:
    """One YAML path for files, requests and `--set`: a bad or oversized value is a rule error."""
    with pytest.raises(SceneRuleError, match=r"--set 'objects.dice.count=\{uniform: \[1, 2': invalid YAML"):
        load_scene("dice_tray", ["objects.dice.count={uniform: [1, 2"])
    with pytest.raises(SceneRuleError, match="invalid YAML: Exceeds the limit"):
        load_scene("dice_tray", ["objects.dice.count=" + "9" * 5000])


def test_edge_gaps_that_can_leave_no_belt_are_refused_when_the_rules_load() -> None:
    """Checked over the ranges, not in the image whose draw happens to meet them (0.16 × 2 fits a 0.4 m
    belt, not a 0.3 m one)."""
    with pytest.raises(
        SceneRuleError, match=r"surfaces\.belt.*edge_gap_m up to 0\.16 .*width_m down to 0\.3"
    ):
        load_scene("conveyor_parts", ["surfaces.belt.edge_gap_m=0.16"])
    load_scene("conveyor_parts", ["surfaces.belt.edge_gap_m=0.14"])
