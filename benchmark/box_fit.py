"""How predicted boxes compare in size with the true ones: a detector learns its labels' box convention.

Why: synthetic boxes are exact (the visible mask's extent) while annotators often draw square boxes
with a margin. A synthetic-trained detector then predicts boxes smaller than the real labels and loses
every high-IoU threshold of mAP@[.5:.95] while finding the objects well. The median side ratio says
so directly (a real-trained detector sits near 1.0) and tells how much to pad synthetic boxes
(`annotate/box_convention.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from scenesmith.benchmark.data import DetectionSet
from scenesmith.benchmark.matching import NO_MATCH, best_overlapping

if TYPE_CHECKING:  # evaluate.py imports this module for its scores
    from scenesmith.benchmark.evaluate import Detections

# Loose enough that a box 0.6× the true side (IoU 0.36) still counts as the same object, so that a
# small convention gap is measured rather than hidden by the match itself.
MATCH_IOU = 0.3


def _sides(boxes: np.ndarray) -> np.ndarray:
    """Square root of each xyxy box's area: its side, whatever its aspect."""
    return np.sqrt(np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None))


def box_scale(dataset: DetectionSet, detections: Detections) -> dict:
    """Median and quartiles of predicted side ÷ true side over the found objects (None when none)."""
    ratios = []
    for sample, match in best_overlapping(dataset, detections, MATCH_IOU):
        found = match != NO_MATCH
        predicted = detections.boxes[sample.image_id][match[found]] if found.any() else np.zeros((0, 4))
        ratios.append(_sides(np.asarray(predicted, float)) / _sides(np.asarray(sample.boxes[found], float)))
    values = np.concatenate(ratios) if ratios else np.zeros(0)
    if not len(values):
        return {"median": None, "p25": None, "p75": None, "matched": 0}
    p25, median, p75 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "p25": float(p25), "p75": float(p75), "matched": len(values)}
