"""Detection scores with pycocotools: class-aware mAP, per-class AP and a class-agnostic "die" score.

Why the class-agnostic score: finding a die and reading its pips are different skills. Merging the
classes and then suppressing duplicates across classes (one die guessed as both "five" and "six" is one
detection, not a false positive) separates "where are the dice" from "what do they show".
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision.ops import nms

from scenesmith.benchmark.box_fit import box_scale
from scenesmith.benchmark.data import DetectionSet
from scenesmith.benchmark.reading import reading_confusion


@dataclass(frozen=True)
class Detections:
    """Per image id: boxes xyxy, scores, 0-based labels."""

    boxes: dict[int, np.ndarray]
    scores: dict[int, np.ndarray]
    labels: dict[int, np.ndarray]


def _coco_ground_truth(dataset: DetectionSet, agnostic: bool) -> COCO:
    images, annotations = [], []
    for sample in dataset.samples:
        height, width = sample.image.shape[:2]
        images.append({"id": sample.image_id, "width": width, "height": height})
        for (x0, y0, x1, y1), label in zip(sample.boxes.tolist(), sample.labels.tolist(), strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": sample.image_id,
                    "iscrowd": 0,
                    "category_id": 1 if agnostic else label + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                }
            )
    names = ["die"] if agnostic else list(dataset.class_names)
    coco = COCO()
    coco.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _results(detections: Detections, agnostic: bool, nms_iou: float) -> list[dict]:
    rows = []
    for image_id, boxes in detections.boxes.items():
        scores, labels = detections.scores[image_id], detections.labels[image_id]
        if agnostic and len(boxes):
            keep = nms(
                torch.as_tensor(boxes, dtype=torch.float32),
                torch.as_tensor(scores, dtype=torch.float32),
                nms_iou,
            ).numpy()
            boxes, scores, labels = boxes[keep], scores[keep], np.zeros_like(labels[keep])
        for (x0, y0, x1, y1), score, label in zip(
            boxes.tolist(), scores.tolist(), labels.tolist(), strict=True
        ):
            rows.append(
                {
                    "image_id": image_id,
                    "category_id": 1 if agnostic else int(label) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(score),
                }
            )
    return rows


def _coco_eval(ground_truth: COCO, rows: list[dict]) -> COCOeval | None:
    if not rows:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        detected = ground_truth.loadRes(rows)
        evaluation = COCOeval(ground_truth, detected, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def _per_class_ap(evaluation: COCOeval, names: tuple[str, ...]) -> dict[str, float]:
    precision = evaluation.eval["precision"]  # [iou, recall, class, area, max_dets]
    out = {}
    for index, name in enumerate(names):
        values = precision[:, :, index, 0, -1]
        values = values[values > -1]
        out[name] = float(values.mean()) if values.size else 0.0
    return out


def evaluate(dataset: DetectionSet, detections: Detections, nms_iou: float = 0.5) -> dict:
    """mAP@[.5:.95], mAP@.5, per-class AP, the class-agnostic die mAP/AP50 (0 when nothing detected),
    how the found dice were read (`reading`, see `reading.reading_confusion`) and how big the predicted
    boxes are next to the true ones (`box_scale`, see `box_fit.box_scale`)."""
    aware = _coco_eval(_coco_ground_truth(dataset, agnostic=False), _results(detections, False, nms_iou))
    agnostic = _coco_eval(_coco_ground_truth(dataset, agnostic=True), _results(detections, True, nms_iou))

    def stat(evaluation: COCOeval | None, index: int) -> float:
        return max(0.0, float(evaluation.stats[index])) if evaluation is not None else 0.0

    return {
        "map": stat(aware, 0),
        "map50": stat(aware, 1),
        "per_class_ap": _per_class_ap(aware, dataset.class_names)
        if aware
        else dict.fromkeys(dataset.class_names, 0.0),
        "die_map": stat(agnostic, 0),
        "die_map50": stat(agnostic, 1),
        "reading": reading_confusion(dataset, detections),
        "box_scale": box_scale(dataset, detections),
    }
