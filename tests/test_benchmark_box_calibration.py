"""Box calibration: a detector whose boxes are a known factor too small is put right by the factor fitted
on labelled photos, and scores perfectly once rescaled."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenesmith.benchmark.box_calibration import fitted_factor, rescaled
from scenesmith.benchmark.data import DetectionSet, Sample
from scenesmith.benchmark.evaluate import Detections, evaluate

BOXES = np.array([[10, 10, 40, 40], [60, 10, 100, 50], [110, 60, 130, 80]], np.float32)
LABELS = np.array([0, 1, 0])


def _dataset() -> DetectionSet:
    return DetectionSet(("a", "b"), (Sample(1, "1.png", np.zeros((160, 200, 3), np.uint8), BOXES, LABELS),))


def _predicting(boxes: np.ndarray) -> Detections:
    return Detections({1: boxes.astype(np.float32)}, {1: np.full(len(boxes), 0.9)}, {1: LABELS.copy()})


def _shrunk(boxes: np.ndarray, factor: float) -> np.ndarray:
    centre, half = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]) / 2 * factor
    return np.concatenate([centre - half, centre + half], axis=1)


@pytest.mark.parametrize("factor", [0.8, 0.93, 1.1])
def test_boxes_a_known_factor_off_are_fitted_and_rescaled_to_a_perfect_score(factor: float) -> None:
    predicted = _predicting(_shrunk(BOXES, factor))
    assert evaluate(_dataset(), predicted)["map"] < 1.0  # the high-IoU thresholds miss them
    fitted = fitted_factor(_dataset(), predicted)
    assert fitted == pytest.approx(1 / factor, rel=1e-5)
    calibrated = rescaled(predicted, fitted, _dataset())
    assert np.allclose(calibrated.boxes[1], BOXES, atol=1e-3)
    assert evaluate(_dataset(), calibrated)["map"] == pytest.approx(1.0)
    assert calibrated.scores is predicted.scores and calibrated.labels is predicted.labels


def test_nothing_found_leaves_the_boxes_as_they_are() -> None:
    assert fitted_factor(_dataset(), _predicting(np.zeros((0, 4)))) == 1.0


def test_a_box_grown_past_the_border_is_clipped_to_its_image() -> None:
    edge = _predicting(np.array([[0, 150, 40, 160], [190, 0, 200, 10]], np.float32))
    grown = rescaled(edge, 2.0, _dataset()).boxes[1]
    assert grown.tolist() == [[0, 145, 60, 160], [185, 0, 200, 15]]  # width 200, height 160


@settings(max_examples=50, deadline=None)
@given(
    corners=st.lists(st.floats(10, 100), min_size=2, max_size=2),  # inside the image however scaled
    sides=st.lists(st.floats(1, 40), min_size=2, max_size=2),
    factor=st.floats(0.5, 1.2),
)
def test_rescaling_keeps_each_centre_and_scales_each_side(
    corners: list[float], sides: list[float], factor: float
) -> None:
    box = np.array([[corners[0], corners[1], corners[0] + sides[0], corners[1] + sides[1]]], np.float64)
    scaled = rescaled(_predicting(box), factor, _dataset()).boxes[1].astype(np.float64)
    assert np.allclose((scaled[:, :2] + scaled[:, 2:]) / 2, (box[:, :2] + box[:, 2:]) / 2, atol=1e-3)
    assert np.allclose(scaled[:, 2:] - scaled[:, :2], (box[:, 2:] - box[:, :2]) * factor, atol=1e-3)
