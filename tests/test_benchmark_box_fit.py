"""box_scale: predicted box side ÷ true side over the found objects, with boxes of known size."""

from __future__ import annotations

import numpy as np
import pytest

from scenesmith.annotate.box_convention import BoxConvention
from scenesmith.benchmark.box_fit import box_scale
from scenesmith.benchmark.data import DetectionSet, Sample
from scenesmith.benchmark.evaluate import Detections, evaluate

BOXES = np.array([[10, 10, 40, 40], [60, 10, 100, 50], [110, 60, 130, 80]], np.float32)


def _dataset() -> DetectionSet:
    return DetectionSet(
        ("a", "b"), (Sample(1, "1.png", np.zeros((160, 160, 3), np.uint8), BOXES, np.array([0, 1, 0])),)
    )


def _predicting(boxes: np.ndarray) -> Detections:
    return Detections({1: boxes}, {1: np.full(len(boxes), 0.9)}, {1: np.zeros(len(boxes), int)})


def _scaled(boxes: np.ndarray, factor: float) -> np.ndarray:
    centre, half = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]) / 2 * factor
    return np.concatenate([centre - half, centre + half], axis=1)


def test_exact_boxes_have_scale_one() -> None:
    scale = box_scale(_dataset(), _predicting(BOXES.copy()))
    assert scale["median"] == pytest.approx(1.0) and scale["matched"] == 3


@pytest.mark.parametrize("factor", [0.6, 0.85, 1.2])
def test_boxes_drawn_smaller_or_larger_report_that_factor(factor: float) -> None:
    scale = box_scale(_dataset(), _predicting(_scaled(BOXES, factor)))
    assert scale["median"] == pytest.approx(factor, rel=1e-5)
    assert scale["p25"] == pytest.approx(factor, rel=1e-5) and scale["p75"] == pytest.approx(factor, rel=1e-5)


def test_padding_boxes_by_a_measured_gap_brings_the_scale_back_to_one() -> None:
    """Boxes drawn 0.85× too small, padded by (1/0.85 − 1)/2 per end (no squaring), measure 1.0."""
    predicted = _scaled(BOXES, 0.85)
    padded = BoxConvention(padding=(1 / 0.85 - 1) / 2).apply(predicted, 160, 160)
    assert box_scale(_dataset(), _predicting(padded))["median"] == pytest.approx(1.0, rel=1e-4)


def test_nothing_found_has_no_scale_and_every_evaluation_carries_it() -> None:
    empty = _predicting(np.zeros((0, 4), np.float32))
    assert box_scale(_dataset(), empty) == {"median": None, "p25": None, "p75": None, "matched": 0}
    assert evaluate(_dataset(), _predicting(BOXES.copy()))["box_scale"]["matched"] == 3
