"""The label check of an adapter: a fixed reader's classes on the adapted renders against the originals."""

from __future__ import annotations

import numpy as np
import pytest

import scenesmith.benchmark.labels_kept as labels_kept
from scenesmith.benchmark.data import DetectionSet, Sample
from scenesmith.benchmark.evaluate import Detections

BOXES = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], dtype=float)


def _set(labels: list[int], pixels: int) -> DetectionSet:
    image = np.full((64, 64, 3), pixels, dtype=np.uint8)
    return DetectionSet(("one", "two", "three"), (Sample(1, "a.png", image, BOXES, np.array(labels)),))


def _reader_that_reads(reads: dict[int, list[int | None]], monkeypatch: pytest.MonkeyPatch) -> None:
    """`predict` stand-in: on a set of pixel value p, box i is detected as class reads[p][i] (None: not)."""

    def predict(reader: object, dataset: DetectionSet) -> Detections:
        sample = dataset.samples[0]
        wanted = [
            (box, label)
            for box, label in zip(BOXES, reads[int(sample.image[0, 0, 0])], strict=True)
            if label is not None
        ]
        return Detections(
            {1: np.array([box for box, _ in wanted]).reshape(-1, 4)},
            {1: np.ones(len(wanted))},
            {1: np.array([label for _, label in wanted])},
        )

    monkeypatch.setattr(labels_kept, "predict", predict)


def test_a_rewritten_class_is_counted_and_a_missed_object_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original, adapted = _set([0, 1, 2], pixels=0), _set([0, 1, 2], pixels=1)
    _reader_that_reads({0: [0, 1, 2], 1: [0, 2, None]}, monkeypatch)
    kept = labels_kept.reading_kept(original, {"cut": adapted}, reader=None)["cut"]
    assert kept == {
        "objects": 3,
        "found_in_both": 2,
        "read_the_same": 0.5,
        "read_right_original": 1.0,
        "read_right_adapted": 0.5,
    }


def test_an_unchanged_reading_is_kept_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    _reader_that_reads({0: [2, 1, 2], 1: [2, 1, 2]}, monkeypatch)
    kept = labels_kept.reading_kept(_set([0, 1, 2], 0), {"fda": _set([0, 1, 2], 1)}, reader=None)["fda"]
    assert kept["read_the_same"] == 1.0 and kept["read_right_original"] == pytest.approx(2 / 3)


def test_sets_with_other_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="same images and labels"):
        labels_kept.reading_kept(_set([0, 1, 2], 0), {"cut": _set([0, 1, 1], 1)}, reader=None)


def test_the_original_set_is_read_once_for_every_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    _reader_that_reads({0: [0, 1, 2], 1: [0, 1, 2], 2: [1, 1, 2]}, monkeypatch)
    stand_in, calls = labels_kept.predict, []
    monkeypatch.setattr(
        labels_kept, "predict", lambda reader, dataset: calls.append(1) or stand_in(reader, dataset)
    )
    kept = labels_kept.reading_kept(
        _set([0, 1, 2], 0), {"fda": _set([0, 1, 2], 1), "cut": _set([0, 1, 2], 2)}, reader=None
    )
    assert len(calls) == 3
    assert (kept["fda"]["read_the_same"], kept["cut"]["read_the_same"]) == (1.0, pytest.approx(2 / 3))
