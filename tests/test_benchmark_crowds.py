"""Crowd annotations (a die tilted too far to show one face) are ignored, not dropped: neither an
object nor background in training, neither a hit nor a false positive in scoring."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from scenesmith.benchmark.augment import AugmentConfig, augmented_crop
from scenesmith.benchmark.data import IGNORED_REGION, DetectionSet, Sample, load_coco
from scenesmith.benchmark.evaluate import Detections, evaluate
from scenesmith.benchmark.model import detection_loss, encode_targets

DIE, LEANING = [10.0, 10.0, 30.0, 30.0], [60.0, 60.0, 84.0, 84.0]


def _sample(ignore: list[list[float]]) -> Sample:
    image = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    return Sample(
        1,
        "1.png",
        image,
        np.array([DIE], np.float32),
        np.array([1]),
        np.array(ignore, np.float32).reshape(-1, 4),
    )


def test_a_crowd_annotation_is_loaded_as_a_region_to_ignore(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((128, 128, 3), np.uint8))
    coco = {
        "images": [{"id": 1, "file_name": "1.png", "width": 128, "height": 128}],
        "categories": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 2, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [60, 60, 24, 24], "area": 576, "iscrowd": 1},
        ],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    (sample,) = load_coco(tmp_path).samples
    assert sample.boxes.tolist() == [DIE] and sample.labels.tolist() == [1]
    assert sample.ignore.tolist() == [LEANING]


def test_an_ignored_region_follows_the_crop_and_takes_no_draw() -> None:
    config = AugmentConfig(crop=96, scale=(1.0, 1.0))
    plain = augmented_crop(_sample([]), config, np.random.default_rng(4))
    crop, boxes, labels = augmented_crop(_sample([LEANING]), config, np.random.default_rng(4))
    assert np.array_equal(crop, plain[0])  # the same crop, flips and colours as without the region
    assert labels.tolist()[: len(plain[2])] == plain[2].tolist()
    assert np.array_equal(boxes[: len(plain[1])], plain[1])
    assert labels.tolist()[len(plain[2]) :] == [IGNORED_REGION]  # a 96 px crop of 128 px keeps part of it


def test_training_puts_no_centre_and_no_background_loss_in_an_ignored_region() -> None:
    boxes = np.array([DIE, LEANING], np.float32)
    targets = encode_targets(boxes, np.array([1, IGNORED_REGION]), (128, 128), 3)
    assert targets["heatmap"][0, 15:21, 15:21].max() < 1e-3 and targets["ignore"][15:21, 15:21].all()
    assert targets["mask"].sum() == 1 and not targets["ignore"][2:8, 2:8].any()
    batch = {key: torch.from_numpy(value[None]) for key, value in targets.items()}
    logits = torch.full((1, 1, 32, 32), -6.0)
    outputs = {
        "heatmap": logits,
        "classes": torch.zeros(1, 3, 32, 32),
        "size": torch.zeros(1, 2, 32, 32),
        "offset": torch.zeros(1, 2, 32, 32),
    }
    base = detection_loss(outputs, batch)
    on_leaning = {**outputs, "heatmap": logits.clone()}
    on_leaning["heatmap"][0, 0, 18, 18] = 4.0  # a confident centre on the leaning die
    assert detection_loss(on_leaning, batch) == pytest.approx(float(base))
    on_background = {**outputs, "heatmap": logits.clone()}
    on_background["heatmap"][0, 0, 28, 4] = 4.0
    assert detection_loss(on_background, batch) > base + 1e-3


def test_a_detection_on_a_crowd_is_not_a_false_positive() -> None:
    sample = _sample([LEANING])
    found = Detections(  # the leaning die read as the die's own class, and more confidently
        {1: np.array([LEANING, DIE], np.float32)}, {1: np.array([0.9, 0.8])}, {1: np.array([1, 1])}
    )
    scores = evaluate(DetectionSet(("one", "two", "three"), (sample,)), found)
    assert scores["die_map50"] == pytest.approx(1.0) and scores["map50"] == pytest.approx(1.0)
    dropped = evaluate(
        DetectionSet(("one", "two", "three"), (replace(sample, ignore=np.zeros((0, 4))),)), found
    )
    assert dropped["die_map50"] < 0.9 and dropped["map50"] < 0.9
