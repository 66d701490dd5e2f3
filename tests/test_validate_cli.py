"""`scenesmith validate` answers every rule mistake with one line naming the key or the image: counts
that cannot fit one image, infinite numbers, and values drawn per image that fail on a later image."""

from __future__ import annotations

import pytest

from scenesmith.cli import main
from scenesmith.procedural.loader import SceneRuleError, load_scene


def run_validate(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", *args])
    captured = capsys.readouterr()
    return int(exit_info.value.code), captured.out + captured.err


def test_counts_that_can_overflow_one_image_are_refused_when_the_rules_load() -> None:
    with pytest.raises(SceneRuleError, match=r"counts can add up to 1001 objects .*dice 500.*more 500.*at most 999"):
        load_scene("dice_tray", ["objects.dice.count=500", "objects.more={generator: box, count: 500, "
                                 "palette: [{materials: {body: {color: '#808080'}}}], "
                                 "placement: {method: pack, support: [tray]}}"])  # fmt: skip


def test_an_infinite_number_is_named_not_turned_into_nan_probabilities(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, text = run_validate(["dice_tray", "--set", "objects.dice.palette.0.weight=.inf"], capsys)
    assert code == 2 and "objects.dice.palette[0].weight: Input should be a finite number" in text


def test_validate_builds_more_images_when_asked_and_names_the_one_that_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An edge gap fits the first belts drawn, not image 8's: one line naming image and seed."""
    args = ["conveyor_parts", "--set", "surfaces.belt.edge_gap_m=0.16"]
    code, text = run_validate(args, capsys)
    assert code == 0 and "image 0 of seed 0 has" in text
    code, text = run_validate([*args, "--images", "10"], capsys)
    assert code == 2 and "image 8 (seed 0) cannot be built: conveyor 'belt': edge gaps" in text
    assert "Traceback" not in text
    code, text = run_validate(["dice_tray", "--images", "3"], capsys)
    assert code == 0 and "images 0–2 of seed 0 have" in text
