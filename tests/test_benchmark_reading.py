"""The reading matrix: each true die is read as its best overlapping guess, or missed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from scenesmith.benchmark.data import DetectionSet, Sample
from scenesmith.benchmark.evaluate import Detections, evaluate
from scenesmith.benchmark.reading import MISSED, reading_confusion

CLASSES = ("one", "two", "three")


def _dataset() -> DetectionSet:
    """Two images, dice of known classes at fixed places (one of each class, plus an extra "one")."""
    boxes = np.array([[10, 10, 40, 40], [60, 10, 90, 40], [110, 10, 140, 40], [10, 60, 40, 90]], np.float32)
    labels = np.array([0, 1, 2, 0])
    image = np.zeros((160, 160, 3), np.uint8)
    return DetectionSet(
        CLASSES, (Sample(1, "1.png", image, boxes, labels), Sample(2, "2.png", image, boxes[:2], labels[:2]))
    )


def _guesses(dataset: DetectionSet, labels_of, shift: float = 0.0, score: float = 0.9) -> Detections:
    return Detections(
        {s.image_id: s.boxes + shift for s in dataset.samples},
        {s.image_id: np.full(len(s.boxes), score) for s in dataset.samples},
        {s.image_id: labels_of(s.labels) for s in dataset.samples},
    )


def _merge(a: Detections, b: Detections) -> Detections:
    return Detections(
        {i: np.concatenate([a.boxes[i], b.boxes[i]]) for i in a.boxes},
        {i: np.concatenate([a.scores[i], b.scores[i]]) for i in a.scores},
        {i: np.concatenate([a.labels[i], b.labels[i]]) for i in a.labels},
    )


def test_right_guesses_fill_the_diagonal() -> None:
    reading = reading_confusion(_dataset(), _guesses(_dataset(), lambda labels: labels))
    assert reading["classes"] == [*CLASSES, MISSED]
    assert reading["matrix"] == [[3, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0]]
    assert reading["accuracy"] == 1.0


def test_misread_dice_land_where_they_were_read() -> None:
    reading = reading_confusion(_dataset(), _guesses(_dataset(), lambda labels: (labels + 1) % 3))
    assert reading["matrix"] == [[0, 3, 0, 0], [0, 0, 2, 0], [1, 0, 0, 0]]
    assert reading["accuracy"] == 0.0


def test_the_best_scoring_overlapping_guess_is_the_reading() -> None:
    dataset = _dataset()
    right = _guesses(dataset, lambda labels: labels, score=0.4)
    wrong = _guesses(dataset, lambda labels: (labels + 1) % 3, shift=2.0, score=0.6)
    assert reading_confusion(dataset, _merge(right, wrong))["accuracy"] == 0.0
    wrong_but_weaker = _guesses(dataset, lambda labels: (labels + 1) % 3, shift=2.0, score=0.2)
    assert reading_confusion(dataset, _merge(right, wrong_but_weaker))["accuracy"] == 1.0


def test_guesses_that_do_not_overlap_count_as_missed() -> None:
    dataset = _dataset()
    # 15 px off a 30 px box along x and y: IoU 1/7, under the 0.5 needed to count as the same die.
    reading = reading_confusion(dataset, _guesses(dataset, lambda labels: labels, shift=15.0))
    assert reading["matrix"] == [[0, 0, 0, 3], [0, 0, 0, 2], [0, 0, 0, 1]]
    assert reading["accuracy"] is None


def _shifted_along_x(dataset: DetectionSet, shift: float) -> Detections:
    moved = _guesses(dataset, lambda labels: labels)
    return Detections(
        {i: b + [shift, 0, shift, 0] for i, b in moved.boxes.items()}, moved.scores, moved.labels
    )


def test_an_overlap_of_exactly_one_half_still_reads_the_die() -> None:
    dataset = _dataset()
    # Along x alone, a 30 px box moved by 10 px has IoU 20/40 = 0.5; by 10.5 px, 19.5/40.5 < 0.5.
    assert reading_confusion(dataset, _shifted_along_x(dataset, 10.0))["accuracy"] == 1.0
    assert reading_confusion(dataset, _shifted_along_x(dataset, 10.5))["accuracy"] is None


def test_a_label_outside_the_classes_is_an_error_not_a_miss() -> None:
    dataset = _dataset()
    with pytest.raises(ValueError, match=r"label is outside 0\.\.2"):
        reading_confusion(dataset, _guesses(dataset, lambda labels: labels + 3))


def test_no_detections_at_all_is_all_missed_and_part_of_every_evaluation() -> None:
    dataset = _dataset()
    empty = Detections(
        {s.image_id: np.zeros((0, 4)) for s in dataset.samples},
        {s.image_id: np.zeros(0) for s in dataset.samples},
        {s.image_id: np.zeros(0, int) for s in dataset.samples},
    )
    assert evaluate(dataset, empty)["reading"]["matrix"] == [[0, 0, 0, 3], [0, 0, 0, 2], [0, 0, 0, 1]]


def test_the_misread_sheet_holds_exactly_the_dice_read_wrong_with_their_surroundings(tmp_path) -> None:
    """Image 1's "three" read as "one" and image 2's "two" missed; the rest read right."""
    from scenesmith.benchmark.misreads import misread_crops, misread_sheet

    dataset = _dataset()
    marked = dataset.samples[0].image.copy()
    marked[25, 125] = 255  # a pixel inside the misread "three" (box 110..140)
    first = Sample(1, "1.png", marked, dataset.samples[0].boxes, dataset.samples[0].labels)
    dataset = DetectionSet(CLASSES, (first, dataset.samples[1]))
    guesses = _guesses(dataset, lambda labels: labels.copy())
    guesses.labels[1][2] = 0  # the "three" read as "one"
    guesses.scores[2][1] = 0.0
    guesses.boxes[2][1] += 100  # image 2's "two": no guess overlaps it
    crops = misread_crops(dataset, guesses)
    assert [(true, read) for true, read, _ in crops] == [(1, -1), (2, 0)]  # by true class
    three = crops[1][2]
    assert three.shape[:2] == (46, 46)  # the 30-px box and a quarter of it (7.5 px) each side, rounded out
    assert three.max() == 255
    assert misread_sheet(dataset, guesses, tmp_path / "misreads.jpg", tile=64, columns=10) == 2
    assert cv2.imread(str(tmp_path / "misreads.jpg")).shape == (64, 640, 3)
    assert misread_sheet(dataset, _guesses(dataset, lambda labels: labels), tmp_path / "none.jpg") == 0
    assert not (tmp_path / "none.jpg").exists()
