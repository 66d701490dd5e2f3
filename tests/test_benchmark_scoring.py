"""A run's cached scores: the box factor fitted once and used by every score, a score redone when its
scoring changes, and a run without weights refusing a scoring it cannot redo, with the fix named.

The detector is replaced by one whose boxes are the true ones shrunk by 0.8, so the factor it needs
(1.25) and the perfect score it then gets are known in advance.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scenesmith.benchmark import scoring
from scenesmith.benchmark.data import DetectionSet, Sample
from scenesmith.benchmark.evaluate import Detections
from scenesmith.benchmark.scoring import Predictor, Scoring, box_factor, cached_score, misreads_once
from scenesmith.errors import UserError

BOXES = np.array([[10, 10, 40, 40], [60, 10, 100, 50], [110, 60, 130, 80]], np.float32)
LABELS = np.array([0, 1, 0])
DATASET = DetectionSet(("a", "b"), (Sample(1, "1.png", np.zeros((160, 200, 3), np.uint8), BOXES, LABELS),))
SHRINK = 0.8


@pytest.fixture
def predictions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stands in for the detector; returns the test-time augmentation of every prediction made."""
    made = []

    def shrunk(model: object, dataset: DetectionSet, tta: str) -> Detections:
        made.append(tta)
        centre, half = (BOXES[:, :2] + BOXES[:, 2:]) / 2, (BOXES[:, 2:] - BOXES[:, :2]) / 2 * SHRINK
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        return Detections({1: boxes}, {1: np.full(3, 0.9)}, {1: LABELS.copy()})

    monkeypatch.setattr(scoring, "predict", shrunk)
    return made


def _predictor() -> Predictor:
    return Predictor(object)  # the stand-in `predict` ignores the model


def test_the_factor_is_fitted_once_and_a_calibrated_score_is_perfect(
    tmp_path: Path, predictions: list[str]
) -> None:
    factor = box_factor(tmp_path, "validation", "dihedral", DATASET, _predictor())
    assert factor == pytest.approx(1 / SHRINK) and predictions == ["dihedral"]
    cached = box_factor(tmp_path, "validation", "dihedral", DATASET, None)  # no weights needed
    assert cached == factor and len(predictions) == 1

    assert box_factor(tmp_path, "none", "dihedral", DATASET, None) is None

    score = cached_score(tmp_path / "test.json", DATASET, _predictor(), Scoring("dihedral", factor))
    assert score["map"] == pytest.approx(1.0) and score["box_factor"] == factor
    assert score["box_scale"]["median"] == pytest.approx(1.0)
    plain = cached_score(tmp_path / "test.json", DATASET, _predictor(), Scoring("dihedral"))
    assert plain["map"] < 1.0 and plain["box_factor"] is None  # redone: the scoring differs
    assert json.loads((tmp_path / "test.json").read_text()) == plain


def test_a_run_without_weights_names_the_setting_that_reports_its_scores(
    tmp_path: Path, predictions: list[str]
) -> None:
    factor = box_factor(tmp_path, "validation", "dihedral", DATASET, _predictor())
    cached_score(tmp_path / "test.json", DATASET, _predictor(), Scoring("dihedral", factor))
    with pytest.raises(UserError, match="pass --box-calibration validation"):
        cached_score(tmp_path / "test.json", DATASET, None, Scoring("dihedral"))
    with pytest.raises(UserError, match="pass --tta dihedral"):
        cached_score(tmp_path / "test.json", DATASET, None, Scoring("none", factor))
    with pytest.raises(UserError, match="fitted with --tta dihedral.*pass --tta dihedral"):
        box_factor(tmp_path, "validation", "none", DATASET, None)
    with pytest.raises(UserError, match="an archive keeps no weights.*pass --box-calibration none"):
        box_factor(tmp_path / "elsewhere", "validation", "dihedral", DATASET, None)
    with pytest.raises(UserError, match="box factor .* now holds"):
        cached_score(tmp_path / "test.json", DATASET, None, Scoring("dihedral", factor * 1.01))


def test_one_predictor_predicts_each_photo_set_once_per_augmentation(
    tmp_path: Path, predictions: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fitting the factor and scoring the validation photos (a run's first calibrated scoring), then
    drawing the misread sheet (the report's), each share one prediction."""
    monkeypatch.setattr(scoring, "misread_sheet", lambda dataset, found, sheet: 0)
    loads = []
    best = Predictor(lambda: loads.append(1) or object())
    factor = box_factor(tmp_path, "validation", "dihedral", DATASET, best)
    calibrated = Scoring("dihedral", factor)
    assert cached_score(tmp_path / "real_val.json", DATASET, best, calibrated)["map"] == pytest.approx(1.0)
    misreads_once(tmp_path, best, DATASET, calibrated, tmp_path / "misreads.jpg")
    assert predictions == ["dihedral"] and loads == [1]
    cached_score(tmp_path / "plain.json", DATASET, best, Scoring("none"))  # another augmentation: predicted
    assert predictions == ["dihedral", "none"] and loads == [1]


def test_sets_numbered_alike_are_predicted_apart(
    predictions: list[str],
) -> None:
    renumbered = DetectionSet(DATASET.class_names, (replace(DATASET.samples[0], file_name="other.png"),))
    best = Predictor(object)
    best(DATASET, "none")
    best(renumbered, "none")
    assert predictions == ["none", "none"]
