"""The strong augmentation of rendered images (`--synthetic-augment strong`): it changes how crops look,
never where their boxes are; it reaches the pretrainings and the replayed images of a fine-tune only;
and it is part of a run's settings without disturbing folders written before it existed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import scenesmith.benchmark.train as train_module
from scenesmith.benchmark.arms import CONTROL_ONLY, SYNTHETIC_ONLY, adapted_arms, finetune_arm, real_arm
from scenesmith.benchmark.augment import AUGMENT_PRESETS, AugmentConfig, augmented_crop, with_preset
from scenesmith.benchmark.config import BenchmarkConfig, TrainConfig
from scenesmith.benchmark.data import DetectionSet, Sample
from scenesmith.benchmark.reuse import copy_pretrainings, copy_real_runs
from scenesmith.benchmark.runner import _check_run_folder, _fingerprint, arm_train_config
from scenesmith.benchmark.train import train_arm
from scenesmith.errors import UserError

STILL = {"colour": 0.0, "hue_degrees": 0.0, "blur_probability": 0.0, "noise_probability": 0.0}


def _sample(image_id: int = 1) -> Sample:
    image = np.random.default_rng(image_id).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    image[40:80, 50:90] = (200, 30, 30)
    boxes = np.array([[50, 40, 90, 80], [120, 110, 160, 150]], np.float32)
    return Sample(image_id, "x.png", image, boxes, np.array([0, 1]))


def test_a_preset_changes_the_look_and_keeps_the_runs_crop_geometry() -> None:
    base = AugmentConfig(crop=96, scale=(0.9, 1.1))
    assert with_preset(base, "standard") == base
    strong = with_preset(base, "strong")
    assert (strong.crop, strong.scale, strong.centre_on_object) == (96, (0.9, 1.1), base.centre_on_object)
    assert strong.hue_degrees == 180.0 and strong.jpeg_probability > 0 and strong.greyscale_probability > 0


@pytest.mark.parametrize("seed", range(6))
def test_strong_crops_keep_the_boxes_of_the_standard_crop_and_differ_in_look(seed: int) -> None:
    """The geometric draws come first, so the same seed frames the same boxes under either preset."""
    base = AugmentConfig(crop=96)
    plain = augmented_crop(_sample(), base, np.random.default_rng(seed))
    strong = augmented_crop(_sample(), with_preset(base, "strong"), np.random.default_rng(seed))
    np.testing.assert_array_equal(plain[1], strong[1])
    np.testing.assert_array_equal(plain[2], strong[2])
    assert strong[0].shape == plain[0].shape and strong[0].dtype == np.uint8
    assert not np.array_equal(plain[0], strong[0])


def test_greyscale_makes_the_channels_equal() -> None:
    config = AugmentConfig(crop=96, greyscale_probability=1.0, **STILL)
    crop = augmented_crop(_sample(), config, np.random.default_rng(0))[0].astype(int)
    assert np.abs(crop[..., 0] - crop[..., 1]).max() <= 1 and np.abs(crop[..., 1] - crop[..., 2]).max() <= 1
    coloured = augmented_crop(_sample(), AugmentConfig(crop=96, **STILL), np.random.default_rng(0))[0]
    assert np.abs(coloured[..., 0].astype(int) - coloured[..., 1]).max() > 50


def test_jpeg_and_resolution_loss_degrade_fine_detail_but_keep_the_colours() -> None:
    """On a noise image (all fine detail) both lower the pixel-to-pixel variation; the mean stays."""
    still = augmented_crop(_sample(), AugmentConfig(crop=96, **STILL), np.random.default_rng(0))[0]
    for degraded in (
        {"jpeg_probability": 1.0, "jpeg_quality": (30, 30)},
        {"downscale_probability": 1.0, "downscale": (0.5, 0.5)},
    ):
        config = AugmentConfig(crop=96, **STILL, **degraded)
        crop = augmented_crop(_sample(), config, np.random.default_rng(0))[0]
        detail = [np.abs(np.diff(c.astype(float), axis=1)).mean() for c in (still, crop)]
        assert detail[1] < 0.8 * detail[0], degraded
        assert abs(crop.mean() - still.mean()) < 4, degraded


def test_replayed_images_take_the_replay_augmentation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = DetectionSet(("one", "two"), (_sample(1), _sample(2)))
    replay = DetectionSet(("one", "two"), (_sample(101), _sample(102)))
    seen: list[tuple[int, float]] = []
    real_crop = train_module.augmented_crop

    def recording_crop(sample, config, rng):
        seen.append((sample.image_id, config.hue_degrees))
        return real_crop(sample, config, rng)

    monkeypatch.setattr(train_module, "augmented_crop", recording_crop)
    config = TrainConfig(width=8, batch=4, eval_every=2, max_steps=2, augment=AugmentConfig(crop=64))
    strong = with_preset(config.augment, "strong")
    train_arm(real, real, config, 5, tmp_path / "arm", replay=replay, replay_share=0.5, replay_augment=strong)
    assert seen and all((hue == 180.0) == (image_id > 100) for image_id, hue in seen)
    assert {image_id > 100 for image_id, _ in seen} == {True, False}


def test_only_arms_that_train_on_renders_take_the_synthetic_augmentation(tmp_path: Path) -> None:
    config = BenchmarkConfig(
        real=None, scene="dice_tray", synthetic=8, out=tmp_path, synthetic_augment="strong"
    )
    strong = with_preset(config.train.augment, "strong")
    for arm in (SYNTHETIC_ONLY, CONTROL_ONLY, adapted_arms("fda", 0.1)[0]):
        assert arm_train_config(arm, config).augment == strong, arm.name
    for arm in (real_arm(1.0), finetune_arm(0.1), adapted_arms("fda", 0.1)[1]):
        assert arm_train_config(arm, config).augment == config.train.augment, arm.name
    standard = replace(config, synthetic_augment="standard")
    assert arm_train_config(SYNTHETIC_ONLY, standard) == standard.train


def test_the_preset_is_a_setting_only_when_it_is_not_the_standard_one(tmp_path: Path) -> None:
    """Folders written before the option (and before the later augmentation fields) keep resuming."""
    standard = _fingerprint(
        BenchmarkConfig(real=None, scene="dice_tray", synthetic=8, out=tmp_path, synthetic_augment="standard")
    )
    assert "synthetic_augment" not in standard
    assert set(standard["train"]["augment"]) == {
        "crop",
        "scale",
        "centre_on_object",
        "min_kept_area",
        "colour",
        "hue_degrees",
        "blur_probability",
        "noise_probability",
    }
    strong = BenchmarkConfig(real=None, scene="dice_tray", synthetic=8, out=tmp_path)  # the default
    assert _fingerprint(strong)["synthetic_augment"] == "strong"
    assert set(AUGMENT_PRESETS) == {"standard", "strong"}


def test_a_folder_from_before_the_strong_default_says_how_to_continue_it(tmp_path: Path) -> None:
    standard = BenchmarkConfig(
        real=None, scene="dice_tray", synthetic=8, out=tmp_path, synthetic_augment="standard"
    )
    _check_run_folder(tmp_path, _fingerprint(standard))
    with pytest.raises(UserError, match="add --synthetic-augment standard"):
        _check_run_folder(tmp_path, _fingerprint(replace(standard, synthetic_augment="strong")))


def _run_folder(root: Path, settings: dict, run: str) -> Path:
    (root / "arms" / run).mkdir(parents=True)
    (root / "config.json").write_text(json.dumps(settings))
    (root / "arms" / run / "best.pt").write_bytes(b"w")
    (root / "arms" / run / "result.json").write_text("{}")
    return root


def test_real_runs_are_lent_across_the_preset_and_pretrainings_are_not(tmp_path: Path) -> None:
    settings = {"train": {"max_steps": 6000}, "synthetic_sets": {"scene": "a"}}
    strong = {**settings, "synthetic_augment": "strong"}
    real_source = _run_folder(tmp_path / "real", settings, "real_100/seed0")
    assert copy_real_runs(real_source, tmp_path / "new", strong, ["real_100"], seeds=1) == ["real_100/seed0"]
    pretrained = _run_folder(tmp_path / "pre", settings, "synthetic_only/seed0")
    with pytest.raises(UserError, match="synthetic_augment"):
        copy_pretrainings(pretrained, tmp_path / "new2", strong, ["synthetic_only"], seeds=1)
