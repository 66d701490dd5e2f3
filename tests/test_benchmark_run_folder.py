"""A benchmark run folder belongs to one set of scene rules and one detector: changing either is a new
run, not a resume."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scenesmith.annotate.box_convention import BoxConvention
from scenesmith.benchmark import runner
from scenesmith.benchmark.archive import archive_runs, restore_runs
from scenesmith.benchmark.arms import plan
from scenesmith.benchmark.config import BenchmarkConfig
from scenesmith.benchmark.data import DetectionSet, Sample
from scenesmith.benchmark.inputs import check_inputs, check_lender, merged_inputs, real_data_digest
from scenesmith.benchmark.runner import _check_run_folder, _fingerprint
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


def test_a_run_of_another_detector_is_not_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = BenchmarkConfig(real=None, scene="dice_tray", synthetic=8, out=tmp_path, control_scene=None)
    _check_run_folder(config.out, _fingerprint(config))

    monkeypatch.setattr(runner, "ARCHITECTURE", "centernet-per-class-heatmaps")
    with pytest.raises(
        UserError,
        match=r"different settings \(detector: centernet-objectness-softmax in the folder, "
        r"centernet-per-class-heatmaps now\)",
    ):
        _check_run_folder(config.out, _fingerprint(config))


def test_a_box_convention_is_part_of_the_run_and_exact_boxes_keep_old_folders_resumable(
    tmp_path: Path,
) -> None:
    exact = BenchmarkConfig(real=None, scene="dice_tray", synthetic=8, out=tmp_path, control_scene=None)
    assert "synthetic_boxes" not in _fingerprint(exact)  # folders written before the option match
    _check_run_folder(tmp_path, _fingerprint(exact))

    padded = replace(exact, synthetic_boxes=BoxConvention(square=True, padding=0.08))
    assert _fingerprint(padded)["synthetic_boxes"] == {"square": True, "padding": 0.08}
    with pytest.raises(UserError, match=r"different settings \(synthetic_boxes\)"):
        _check_run_folder(tmp_path, _fingerprint(padded))


# The fine-tune settings as they were before each option existed (and, for the first two, the defaults
# until 2026-12-05): a folder begun then records none of them.
FORMER_RECIPE = {"finetune_learning_rate": None, "finetune_synthetic_share": 0.0, "finetune_ema": 0.0}


@pytest.mark.parametrize(
    ("setting", "value", "hint"),
    [
        ("finetune_learning_rate", 0.0005, "add --finetune-learning-rate LR"),
        ("finetune_synthetic_share", 0.25, "add --finetune-synthetic-share 0"),
        ("finetune_ema", 0.999, None),
    ],
)
def test_a_fine_tune_setting_is_part_of_the_run_only_when_given(
    tmp_path: Path, setting: str, value: float, hint: str | None
) -> None:
    former = BenchmarkConfig(real=None, scene="dice_tray", synthetic=8, out=tmp_path, **FORMER_RECIPE)
    assert setting not in _fingerprint(former)  # folders written before the option match
    _check_run_folder(tmp_path, _fingerprint(former))
    changed = replace(former, **{setting: value})
    with pytest.raises(
        UserError, match=rf"different settings \({setting}: not recorded in the folder, {value} now\)"
    ) as error:
        _check_run_folder(tmp_path, _fingerprint(changed))
    assert (hint in str(error.value)) if hint else ("to continue it" not in str(error.value))


def test_a_fine_tune_rate_equal_to_the_pretraining_rate_is_the_former_default(tmp_path: Path) -> None:
    """Fine-tuning at the pretraining's rate is one recipe however it is asked for, so a folder begun
    under the former default resumes when its rate is given explicitly."""
    former = BenchmarkConfig(real=None, scene="dice_tray", synthetic=8, out=tmp_path, **FORMER_RECIPE)
    explicit = replace(former, finetune_learning_rate=former.train.learning_rate)
    assert _fingerprint(explicit) == _fingerprint(former)


def test_a_finetune_learning_rate_applies_to_fine_tunes_only(tmp_path: Path) -> None:
    same = BenchmarkConfig(
        real=None,
        scene="dice_tray",
        synthetic=8,
        out=tmp_path,
        control_scene=None,
        synthetic_augment="standard",
        **FORMER_RECIPE,
    )
    slower = replace(same, finetune_learning_rate=0.0005)
    arms = {arm.name: arm for arm in plan(control=True, sweep=False)}
    assert runner.arm_train_config(arms["synthetic_to_10"], slower).learning_rate == 0.0005
    assert runner.arm_train_config(arms["control_to_10"], slower).learning_rate == 0.0005
    for pretraining_or_real in ("synthetic_only", "control_only", "real_10", "real_100"):
        assert runner.arm_train_config(arms[pretraining_or_real], slower) == same.train
    assert runner.arm_train_config(arms["synthetic_to_10"], same) == same.train


def test_a_synthetic_share_replays_only_a_set_with_the_real_classes(tmp_path: Path) -> None:
    same = BenchmarkConfig(real=None, scene="dice_tray", synthetic=8, out=tmp_path, **FORMER_RECIPE)
    mixed = replace(same, finetune_synthetic_share=0.25)
    dice, bolts = DetectionSet(("one", "two"), ()), DetectionSet(("bolt",), ())
    sources = {"synthetic": (dice, dice, {}), "control": (bolts, bolts, {})}
    arms = {arm.name: arm for arm in plan(control=True, sweep=False)}
    replayed = {name: runner._replay_set(arm, arms, mixed, sources, dice) for name, arm in arms.items()}
    assert replayed.pop("synthetic_to_10") is dice and replayed.pop("synthetic_to_100") is dice
    assert set(replayed.values()) == {None}  # pretrainings, real-only arms, and control_to_10 (bolts)
    assert runner._replay_set(arms["synthetic_to_10"], arms, same, sources, dice) is None


def test_an_anneal_is_part_of_the_run_only_when_given(tmp_path: Path) -> None:
    former = BenchmarkConfig(real=None, scene="dice_tray", synthetic=8, out=tmp_path)
    assert "anneal_steps" not in _fingerprint(former)["train"]  # folders written before the option match
    _check_run_folder(tmp_path, _fingerprint(former))
    annealed = replace(former, train=replace(former.train, anneal_steps=1000))
    assert _fingerprint(annealed)["train"]["anneal_steps"] == 1000
    with pytest.raises(UserError, match="different settings"):
        _check_run_folder(tmp_path, _fingerprint(annealed))


@pytest.mark.parametrize("damaged", ["{", "[]"])
def test_a_damaged_config_json_is_named_with_what_to_do(tmp_path: Path, damaged: str) -> None:
    """A config.json cut short or replaced was a JSONDecodeError (or an AttributeError when lent)."""
    config = BenchmarkConfig(real=None, scene=str(BUILT_IN), synthetic=8, out=tmp_path / "run")
    config.out.mkdir()
    (config.out / "config.json").write_text(damaged)
    with pytest.raises(UserError, match=r"run/config\.json: damaged .*archive .*--restore"):
        _check_run_folder(config.out, _fingerprint(config))


def _photos(label: int = 0) -> DetectionSet:
    image = np.zeros((8, 8, 3), np.uint8)
    box = np.array([[1, 1, 4, 4]], np.float32)
    return DetectionSet(("one", "two"), (Sample(1, "a.jpg", image, box, np.array([label])),))


def test_a_resume_on_other_real_labels_or_a_refitted_adapter_is_refused(tmp_path: Path) -> None:
    """config.json names the real data and adapters by path: corrected labels, or an adapter refitted
    into the same folder, resumed the run and reported arms of two inputs side by side."""
    check_inputs(tmp_path, real_data_digest(_photos()), {"fda": "a1"})
    check_inputs(
        tmp_path, real_data_digest(_photos()), {"fda": "a1", "hist": "b1"}
    )  # a new adapter adds arms
    assert json.loads((tmp_path / "inputs.json").read_text())["adapters"] == {"fda": "a1", "hist": "b1"}
    with pytest.raises(UserError, match="other real photos or labels"):
        check_inputs(tmp_path, real_data_digest(_photos(label=1)), {})
    with pytest.raises(UserError, match="adapter.*fda differ"):
        check_inputs(tmp_path, real_data_digest(_photos()), {"fda": "a2"})
    assert json.loads((tmp_path / "inputs.json").read_text())["adapters"] == {"fda": "a1", "hist": "b1"}
    # A run folder from before the record takes it on its next resume.
    older = tmp_path / "older"
    older.mkdir()
    check_inputs(older, real_data_digest(_photos()), {})
    assert (older / "inputs.json").is_file()


def test_runs_are_lent_and_archived_only_with_the_same_real_data(tmp_path: Path) -> None:
    lender, here = tmp_path / "lender", tmp_path / "here"
    for folder, label in ((lender, 1), (here, 0)):
        folder.mkdir()
        check_inputs(folder, real_data_digest(_photos(label)), {})
        (folder / "config.json").write_text("{}")
    with pytest.raises(UserError, match="--real-arms-from .*other real photos"):
        check_lender(lender, here, "--real-arms-from")
    with pytest.raises(UserError, match="other real data or adapters"):
        restore_runs(lender, here)
    finished = lender / "arms" / "real_10" / "seed0"
    finished.mkdir(parents=True)
    for name in ("result.json", "test.json", "real_val.json"):
        (finished / name).write_text("{}")
    with pytest.raises(UserError, match="other real data or adapters"):
        archive_runs(lender, here)
    assert not (here / "arms").exists()  # refused before any run was copied


def test_an_archive_takes_runs_of_an_adapter_added_since() -> None:
    """Adding an adapter adds arms; the archive's record grows rather than refusing them."""
    base = {"real_data": "R", "adapters": {"fda": "F"}}
    grown = merged_inputs(base, {"real_data": "R", "adapters": {"fda": "F", "hist": "H"}}, Path("run"))
    assert grown == {"real_data": "R", "adapters": {"fda": "F", "hist": "H"}}
    assert merged_inputs(grown, base, Path("archive")) == grown
    with pytest.raises(UserError, match="fda differ"):
        merged_inputs(grown, {"real_data": "R", "adapters": {"fda": "G"}}, Path("archive"))


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 1.0])
def test_every_arm_is_planned_once_whatever_the_headline_fraction(fraction: float) -> None:
    """At --fraction 100, real_100 and synthetic_to_100 were listed twice: each seed ran and counted twice."""
    names = [arm.name for arm in plan(control=True, sweep=True, headline_fraction=fraction, self_train=True)]
    assert len(names) == len(set(names))
    assert {"real_100", "synthetic_to_100", "real_1", "synthetic_to_50"} <= set(names)
