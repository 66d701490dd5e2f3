"""A benchmark run folder belongs to one set of scene rules: editing them is a new run, not a resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scenesmith.benchmark.runner import BenchmarkConfig, _check_run_folder, _fingerprint
from scenesmith.errors import UserError

BUILT_IN = Path(__file__).resolve().parent.parent / "scenes" / "dice_tray.yaml"


def test_editing_the_scene_rules_between_invocations_is_refused(tmp_path: Path) -> None:
    scene = tmp_path / "my_dice.yaml"
    shutil.copy(BUILT_IN, scene)
    config = BenchmarkConfig(
        real=None, scene=str(scene), synthetic=8, out=tmp_path / "run", control_scene=None
    )
    config.out.mkdir()
    _check_run_folder(config.out, _fingerprint(config))
    _check_run_folder(config.out, _fingerprint(config))  # unchanged rules resume

    scene.write_text(scene.read_text().replace("jpeg_quality: {randint: [70, 95]}", "jpeg_quality: 80"))
    with pytest.raises(UserError, match=r"synthetic_sets.*scene rules .* changed"):
        _check_run_folder(config.out, _fingerprint(config))


def test_the_control_scene_rules_are_part_of_the_run_too(tmp_path: Path) -> None:
    config = BenchmarkConfig(
        real=None, scene="dice_tray", synthetic=8, out=tmp_path, control_scene="conveyor_parts"
    )
    sets = _fingerprint(config)["synthetic_sets"]
    assert set(sets) == {"scene", "control"}
    assert sets["scene"].startswith("dice_tray_640x640_s8_seed7_rules")
    assert sets["control"].startswith("conveyor_parts_640x640_s8_seed7_rules")
