"""A contact sheet of the objects a detector misreads, each crop labelled "true > read", by true class.

Why: the reading matrix says *that* fours are read as fives; only the crops show *why* (a neighbour's
pips inside the box, a glint, a see-through body), which is what the next scene-rule change needs.
Drawn on the real validation split, never on test: what it shows steers the rules.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from scenesmith.annotate.atomic import atomic_save
from scenesmith.benchmark.data import DetectionSet
from scenesmith.benchmark.evaluate import Detections
from scenesmith.benchmark.matching import NO_MATCH, best_overlapping
from scenesmith.benchmark.reading import READ_IOU

MISSED = "miss"


def misread_crops(
    dataset: DetectionSet, detections: Detections, margin: float = 0.25
) -> list[tuple[int, int, np.ndarray]]:
    """(true class, read class or -1 when missed, RGB crop) of every object not read as its class.

    Read as in `reading.reading_confusion`: the best-scoring detection overlapping the object with
    IoU ≥ 0.5. Each crop keeps `margin` of the box size around it, so the neighbours show.
    """
    crops = []
    for sample, match in best_overlapping(dataset, detections, READ_IOU):
        labels = detections.labels.get(sample.image_id, np.zeros(0, int))
        height, width = sample.image.shape[:2]
        for box, true, found in zip(sample.boxes, sample.labels.astype(int), match, strict=True):
            read = int(labels[found]) if found != NO_MATCH else -1
            if read == true:
                continue
            x0, y0, x1, y1 = box
            pad_x, pad_y = margin * (x1 - x0), margin * (y1 - y0)
            left, top = max(0, int(x0 - pad_x)), max(0, int(y0 - pad_y))
            right, bottom = min(width, int(np.ceil(x1 + pad_x))), min(height, int(np.ceil(y1 + pad_y)))
            crops.append((int(true), read, sample.image[top:bottom, left:right]))
    return sorted(crops, key=lambda crop: (crop[0], crop[1]))


def misread_sheet(
    dataset: DetectionSet, detections: Detections, path: Path, tile: int = 112, columns: int = 10
) -> int:
    """Write the misread crops as one JPEG sheet (nothing when every object is read right); return
    how many objects were misread."""
    crops = misread_crops(dataset, detections)
    if not crops:
        return 0
    names = dataset.class_names
    tiles = []
    for true, read, crop in crops:
        image = cv2.cvtColor(cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_CUBIC), cv2.COLOR_RGB2BGR)
        label = f"{names[true]} > {names[read] if read >= 0 else MISSED}"
        cv2.rectangle(image, (0, 0), (tile - 1, 14), (0, 0, 0), -1)
        cv2.putText(image, label, (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 255, 255), 1, cv2.LINE_AA)
        tiles.append(image)
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    sheet = np.vstack(rows)
    atomic_save(path, lambda p: cv2.imwrite(str(p), sheet, [cv2.IMWRITE_JPEG_QUALITY, 90]))
    return len(crops)
