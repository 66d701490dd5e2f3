"""Each ground-truth object paired with the detection that speaks for it, for per-object diagnostics.

Why not pycocotools' matching: COCO matches greedily by score at one IoU threshold and lets each
detection take one object, which is right for AP. A diagnostic asks another question: "what did the
detector say about *this* object?" The answer is its best-scoring overlapping detection, whatever
else that detection overlaps, and with no score threshold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torchvision.ops import box_iou

from scenesmith.benchmark.data import DetectionSet, Sample

if TYPE_CHECKING:  # evaluate.py imports the diagnostics built on this module
    from scenesmith.benchmark.evaluate import Detections

NO_MATCH = -1


def best_overlapping(
    dataset: DetectionSet, detections: Detections, iou: float
) -> Iterator[tuple[Sample, np.ndarray]]:
    """Per image: (sample, index of each true box's best-scoring detection with IoU ≥ `iou`, or NO_MATCH)."""
    for sample in dataset.samples:
        boxes = detections.boxes.get(sample.image_id, np.zeros((0, 4)))
        if not len(sample.boxes) or not len(boxes):
            yield sample, np.full(len(sample.boxes), NO_MATCH)
            continue
        overlap = box_iou(
            torch.as_tensor(sample.boxes, dtype=torch.float32), torch.as_tensor(boxes, dtype=torch.float32)
        ).numpy()
        scores = np.where(overlap >= iou, detections.scores[sample.image_id][None, :], -np.inf)
        yield sample, np.where(np.isfinite(scores.max(axis=1)), scores.argmax(axis=1), NO_MATCH)
