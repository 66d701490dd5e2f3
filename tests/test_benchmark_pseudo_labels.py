"""Pseudo-labels for self-training: unread objects, the teacher's thresholds, and their measured quality.

The teacher here is a stub whose maps are written by hand, so every kept box, class and dropped object
is known in advance.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from scenesmith.benchmark.arms import finetune_arm, self_train_arm
from scenesmith.benchmark.augment import with_preset
from scenesmith.benchmark.config import BenchmarkConfig
from scenesmith.benchmark.data import DetectionSet, Sample
from scenesmith.benchmark.model import (
    STRIDE,
    UNKNOWN_CLASS,
    decode,
    decode_objects,
    detection_loss,
    encode_targets,
)
from scenesmith.benchmark.pseudo_labels import (
    PseudoLabelRule,
    label_quality,
    load_labels,
    save_labels,
    teacher_labels,
)
from scenesmith.benchmark.reuse import FINETUNE_SETTINGS
from scenesmith.benchmark.runner import _fingerprint, _run_dir, arm_train_config, initial_weights
from scenesmith.errors import UserError

CLASSES = ("one", "two", "three")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class StubTeacher(nn.Module):
    """Maps of a 64×64 image (16×16 cells) with objects at given cells: (row, col, centre, class
    probabilities, box side in pixels)."""

    def __init__(self, objects: list[tuple[int, int, float, tuple[float, ...], float]]) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # a device to run on
        self.objects = objects

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        n, _, height, width = images.shape
        cells = (height // STRIDE, width // STRIDE)
        heat = torch.full((n, 1, *cells), -12.0)
        classes = torch.zeros((n, len(CLASSES), *cells))
        size = torch.zeros((n, 2, *cells))
        offset = torch.full((n, 2, *cells), 0.5)
        for row, col, centre, probabilities, side in self.objects:
            heat[:, 0, row, col] = _logit(centre)
            classes[:, :, row, col] = torch.tensor(probabilities).log()
            size[:, :, row, col] = side / STRIDE
        return {"heatmap": heat, "classes": classes, "size": size, "offset": offset}


def _sample(image_id: int, boxes: list[list[float]] = (), labels: list[int] = ()) -> Sample:
    return Sample(
        image_id,
        f"{image_id}.png",
        np.zeros((64, 64, 3), np.uint8),
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(labels, np.int64),
    )


def _box(row: int, col: int, side: float) -> list[float]:
    """The box a stub object at (row, col) decodes to: centred at the cell's middle."""
    cx, cy = (col + 0.5) * STRIDE, (row + 0.5) * STRIDE
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def test_an_unread_object_trains_where_it_is_and_not_what_it_is() -> None:
    targets = encode_targets(
        np.array([[4, 4, 20, 20], [36, 36, 60, 60]], np.float32), np.array([2, UNKNOWN_CLASS]), (64, 64), 3
    )
    assert targets["heatmap"][0, 3, 3] == 1 and targets["heatmap"][0, 12, 12] == 1  # both centres
    assert targets["mask"].sum() == 2 and tuple(targets["size"][:, 12, 12]) == (6, 6)
    assert targets["classes"][3, 3] == 2 and (targets["classes"][8:, 8:] == -1).all()
    # The class logits at the unread object's cells do not reach the loss.
    batch = {k: torch.from_numpy(v)[None] for k, v in targets.items()}
    outputs = {
        "heatmap": torch.zeros(1, 1, 16, 16),
        "classes": torch.zeros(1, 3, 16, 16, requires_grad=True),
        "size": torch.zeros(1, 2, 16, 16),
        "offset": torch.zeros(1, 2, 16, 16),
    }
    detection_loss(outputs, batch).backward()
    assert outputs["classes"].grad[0, :, 8:, 8:].abs().sum() == 0
    assert outputs["classes"].grad[0, :, 3, 3].abs().sum() > 0
    with pytest.raises(ValueError, match="outside 0..2"):
        encode_targets(np.array([[4, 4, 20, 20]], np.float32), np.array([3]), (64, 64), 3)


def test_objects_decode_to_the_boxes_decode_scores_per_class() -> None:
    generator = torch.Generator().manual_seed(0)
    outputs = {
        "heatmap": torch.full((1, 1, 16, 16), -12.0),
        "classes": torch.randn((1, 3, 16, 16), generator=generator),
        "size": torch.rand((1, 2, 16, 16), generator=generator) * 5,
        "offset": torch.rand((1, 2, 16, 16), generator=generator),
    }
    outputs["heatmap"][0, 0, 5, 5] = _logit(0.9)
    outputs["heatmap"][0, 0, 12, 3] = _logit(0.4)
    boxes, centres, probabilities = decode_objects(outputs, min_centre=0.3)[0]
    assert len(boxes) == 2 and np.allclose(sorted(centres), [0.4, 0.9])
    assert np.allclose(probabilities.sum(axis=1), 1)
    per_class_boxes, scores, labels = decode(outputs)[0]
    for box, centre, probability in zip(boxes, centres, probabilities, strict=True):
        same_box = np.all(np.isclose(per_class_boxes, box), axis=1)
        assert same_box.sum() == 3  # one detection per class, each scored centre × probability
        assert np.allclose(sorted(scores[same_box]), sorted(centre * probability))
        assert np.array_equal(sorted(labels[same_box]), [0, 1, 2])
    assert len(decode_objects(outputs, min_centre=0.5)[0][0]) == 1


def test_the_teacher_keeps_sure_dice_reads_sure_faces_and_drops_the_rest() -> None:
    teacher = StubTeacher(
        [
            (3, 3, 0.9, (0.05, 0.9, 0.05), 12.0),  # sure die, sure face → class 1
            (3, 12, 0.8, (0.4, 0.3, 0.3), 12.0),  # sure die, unsure face → unread
            (12, 12, 0.2, (0.9, 0.05, 0.05), 12.0),  # unsure die → dropped
            (11, 3, 0.7, (0.8, 0.1, 0.1), 24.0),  # one big die, two peaks → one label (the surer peak)
            (13, 3, 0.6, (0.1, 0.1, 0.8), 24.0),
        ]
    )
    images = DetectionSet(CLASSES, (_sample(7, [[0, 0, 64, 64]], [2]),))  # its own labels are never read
    labelled = teacher_labels(teacher, images, PseudoLabelRule(min_centre=0.5, min_class=0.7), "none")
    sample = labelled.samples[0]
    order = np.argsort(sample.boxes[:, 1] * 100 + sample.boxes[:, 0])  # rows, then columns
    assert np.allclose(sample.boxes[order], [_box(3, 3, 12), _box(3, 12, 12), _box(11, 3, 24)])
    assert sample.labels[order].tolist() == [1, UNKNOWN_CLASS, 0]
    assert sample.image is images.samples[0].image and sample.image_id == 7
    reading_everything = teacher_labels(teacher, images, PseudoLabelRule(0.5, 0.0), "none")
    assert UNKNOWN_CLASS not in reading_everything.samples[0].labels.tolist()
    assert len(teacher_labels(teacher, images, PseudoLabelRule(0.95, 0.7), "none").samples[0].boxes) == 0


def test_label_quality_counts_found_read_and_right_dice() -> None:
    truth = DetectionSet(
        CLASSES,
        (
            _sample(1, [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], [0, 1, 2]),
            _sample(2, [[0, 0, 10, 10]], [1]),
        ),
    )
    pseudo = DetectionSet(
        CLASSES,
        (
            # right; wrong face; unread; a false die on empty table
            _sample(1, [[0, 0, 10, 11], [20, 20, 30, 30], [41, 40, 50, 50], [55, 55, 60, 60]], [0, 2, -1, 1]),
            _sample(2),  # the die of image 2 is missed
        ),
    )
    assert label_quality(pseudo, truth) == {
        "pseudo_labels": 4,
        "true_dice": 4,
        "die_precision": 0.75,
        "die_recall": 0.75,
        "read_share": pytest.approx(2 / 3),
        "read_right": 0.5,
    }


def test_saved_labels_load_back_onto_their_images_and_a_missing_image_is_named(tmp_path: Path) -> None:
    images = DetectionSet(CLASSES, (_sample(1), _sample(2)))
    pseudo = DetectionSet(CLASSES, (_sample(1, [[1.234, 2, 30, 40]], [UNKNOWN_CLASS]), _sample(2)))
    path = tmp_path / "pseudo_labels.json"
    save_labels(path, pseudo, {"teacher": "synthetic_to_10"})
    loaded, description = load_labels(path, images)
    assert description == {"teacher": "synthetic_to_10"}
    assert np.allclose(loaded.samples[0].boxes, [[1.23, 2, 30, 40]])
    assert loaded.samples[0].labels.tolist() == [-1]
    assert loaded.samples[1].boxes.shape == (0, 4) and loaded.samples[1].labels.dtype == np.int64
    with pytest.raises(UserError, match=r"pseudo_labels.json: no pseudo-labels for images \[3\]"):
        load_labels(path, DetectionSet(CLASSES, (_sample(3),)))


@pytest.mark.parametrize("centre, read", [(0.0, 0.5), (1.5, 0.5), (0.5, -0.1)])
def test_thresholds_outside_their_range_are_refused(centre: float, read: float) -> None:
    with pytest.raises(UserError, match="pseudo-label threshold"):
        PseudoLabelRule(centre, read)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), low=st.floats(0.05, 0.95), high=st.floats(0.05, 0.95))
def test_a_higher_centre_threshold_keeps_a_subset_of_the_objects(seed: int, low: float, high: float) -> None:
    low, high = sorted((low, high))
    generator = torch.Generator().manual_seed(seed)
    outputs = {
        "heatmap": torch.randn((1, 1, 16, 16), generator=generator) * 3,
        "classes": torch.randn((1, 3, 16, 16), generator=generator),
        "size": torch.rand((1, 2, 16, 16), generator=generator) * 5,
        "offset": torch.rand((1, 2, 16, 16), generator=generator),
    }
    many, few = decode_objects(outputs, low)[0], decode_objects(outputs, high)[0]
    assert (many[1] >= low).all() and (few[1] >= high).all()
    assert np.allclose(many[2].sum(axis=1), 1) and many[2].shape == (len(many[0]), 3)
    assert {tuple(box) for box in few[0]} <= {tuple(box) for box in many[0]}


def _dice_config(out: Path, **settings: str) -> BenchmarkConfig:
    """A synthetic-only dice benchmark in `out`, with the student settings under test."""
    return BenchmarkConfig(real=None, scene="dice_tray", synthetic=8, out=out, **settings)


def test_only_the_student_takes_the_student_augmentation_and_it_is_a_fine_tune_setting(
    tmp_path: Path,
) -> None:
    """Noisy Student: the student is noised, its teacher (and every other fine-tune) is not; the fine-tune
    learning rate still applies to the student; and a folder from before the option resumes."""
    config, standard = _dice_config(tmp_path, student_augment="strong"), _dice_config(tmp_path)
    student, teacher = self_train_arm(0.1), finetune_arm(0.1)
    assert arm_train_config(student, config).augment == with_preset(config.train.augment, "strong")
    assert arm_train_config(student, config).learning_rate == config.finetune_learning_rate
    assert arm_train_config(teacher, config) == arm_train_config(student, standard)
    assert _fingerprint(config)["student_augment"] == "strong"
    assert "student_augment" not in _fingerprint(standard)
    assert "student_augment" in FINETUNE_SETTINGS  # pretrainings and real-only runs are still lent


def test_the_student_starts_from_its_pretraining_or_from_its_teacher_of_the_same_seed(tmp_path: Path) -> None:
    config, from_teacher = _dice_config(tmp_path), _dice_config(tmp_path, student_init="teacher")
    student = self_train_arm(0.1)
    assert initial_weights(student, 2, config) == _run_dir(tmp_path, "synthetic_only", 2) / "best.pt"
    assert initial_weights(student, 2, from_teacher) == _run_dir(tmp_path, "synthetic_to_10", 2) / "best.pt"
    teacher = finetune_arm(0.1)  # the option is the student's alone
    assert initial_weights(teacher, 2, from_teacher) == initial_weights(teacher, 2, config)
    assert (
        "student_init" not in _fingerprint(config) and _fingerprint(from_teacher)["student_init"] == "teacher"
    )
    assert "student_init" in FINETUNE_SETTINGS
