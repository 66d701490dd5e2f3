"""How each found object is read: a confusion matrix of true class vs the detector's top guess.

Why, next to mAP: on dice, finding a die is easy and reading its pips is the hard part, and mAP does not
say *which* faces are misread or as what. "Rendered fours are read as fives on photos" points at a
scene rule (pip layout); a low mAP alone does not. The matrix needs no score threshold: each
ground-truth object is read as the class of the highest-scoring detection that overlaps it
(IoU ≥ `iou`), or counted as missed when none does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from scenesmith.benchmark.data import DetectionSet
from scenesmith.benchmark.matching import NO_MATCH, best_overlapping

if TYPE_CHECKING:  # evaluate.py imports this module for its scores
    from scenesmith.benchmark.evaluate import Detections

MISSED = "missed"
# The overlap at which a detection speaks for a true object: COCO's loosest threshold.
READ_IOU = 0.5


def reading_confusion(dataset: DetectionSet, detections: Detections, iou: float = READ_IOU) -> dict:
    """Counts per (true class, read class or missed), and the share of found objects read right.

    `matrix[t][r]` counts ground-truth objects of class t read as class r; the last column counts the
    ones no detection overlapped. `accuracy` is None when nothing was found.
    """
    classes = len(dataset.class_names)
    matrix = np.zeros((classes, classes + 1), dtype=np.int64)
    for sample, read in zip(dataset.samples, read_classes(dataset, detections, iou), strict=True):
        np.add.at(matrix, (sample.labels.astype(int), read), 1)
    return {
        "classes": [*dataset.class_names, MISSED],
        "matrix": matrix.tolist(),
        "accuracy": read_right(matrix),
    }


def read_classes(dataset: DetectionSet, detections: Detections, iou: float = READ_IOU) -> list[np.ndarray]:
    """Per sample, in `dataset` order: the class each ground-truth object is read as (its best-scoring
    overlapping detection's), or the number of classes when it is missed."""
    classes = len(dataset.class_names)
    reads = []
    for sample, match in best_overlapping(dataset, detections, iou):
        found = match != NO_MATCH
        read = np.full(len(match), classes)
        if found.any():
            labels = detections.labels[sample.image_id][match[found]].astype(int)
            if ((labels < 0) | (labels >= classes)).any():
                raise ValueError(f"image {sample.image_id}: a detection's label is outside 0..{classes - 1}")
            read[found] = labels
        reads.append(read)
    return reads


def read_right(matrix: np.ndarray) -> float | None:
    """Share of the found objects (the missed column left out) read as their true class; None if none."""
    found = np.asarray(matrix)[:, :-1]
    return float(np.trace(found) / found.sum()) if found.sum() else None
