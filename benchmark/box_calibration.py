"""One box-scale factor per trained detector, fitted on labelled real photos: the annotators' convention.

Why: a detector's boxes come out a few percent smaller than the real labels, whatever it trained on
(on dice, real-100% and synthetic → 10% alike: median predicted ÷ true side 0.95–0.99 on the real
validation photos; `box_fit.box_scale`), and every high-IoU threshold of mAP@[.5:.95] pays for it.
The runs that use real labels already pick their checkpoint on the real validation photos; the same
photos fix this one number, and rescaling every box about its centre by it costs nothing at
inference. A run without real labels (synthetic-only) has nothing to fit it on and keeps its boxes.
"""

from __future__ import annotations

import numpy as np

from scenesmith.benchmark.box_fit import box_scale
from scenesmith.benchmark.data import DetectionSet
from scenesmith.benchmark.evaluate import Detections
from scenesmith.benchmark.train import clip_boxes


def fitted_factor(dataset: DetectionSet, detections: Detections) -> float:
    """The factor that makes the median predicted ÷ true side of the found objects 1 (1.0 when none is
    found: no evidence, no change)."""
    median = box_scale(dataset, detections)["median"]
    return 1.0 / median if median else 1.0


def rescaled(detections: Detections, factor: float, dataset: DetectionSet) -> Detections:
    """`detections` with every box scaled about its centre by `factor`, clipped to its image (a box that
    grows past the border must not claim pixels that are not there)."""
    images = {s.image_id: s.image for s in dataset.samples}
    boxes = {}
    for image_id, found in detections.boxes.items():
        centres = (found[:, :2] + found[:, 2:]) / 2
        halves = (found[:, 2:] - found[:, :2]) / 2 * factor
        boxes[image_id] = np.concatenate([centres - halves, centres + halves], axis=1).astype(found.dtype)
        clip_boxes(boxes[image_id], images[image_id])
    return Detections(boxes, detections.scores, detections.labels)
