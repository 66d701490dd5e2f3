"""Detection scores with pycocotools: class-aware mAP, per-class AP and a class-agnostic "die" score.

Why the class-agnostic score: finding a die and reading its pips are different skills. Merging the
classes and then suppressing duplicates across classes (one die guessed as both "five" and "six" is one
detection, not a false positive) separates "where are the dice" from "what do they show". The
detector gives each centre one box per class, scored centre × class probability; merged, that box
scores their sum (its centre probability, over the classes kept), so a die the detector is sure of
but cannot read still ranks above a doubtful find it reads confidently.
"""

from __future__ import annotations

import contextlib
import copy
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

# How the die score ranks a centre's merged detection (scores cached before it ranked by the best
# class alone lack the key and are redone from their checkpoint).
DIE_RANKING = "centre probability"
# Test-set resamples of every score (see `image_resampled_maps`): the same draws for every run.
IMAGE_RESAMPLES = 200
IMAGE_RESAMPLE_SEED = 0


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
        # A crowd region of every class: a detection on it, of whatever class, is neither right nor wrong.
        for x0, y0, x1, y1 in sample.ignore.tolist():
            for category_id in [1] if agnostic else range(1, len(dataset.class_names) + 1):
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": sample.image_id,
                        "iscrowd": 1,
                        "category_id": category_id,
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


def _merge_class_guesses(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One detection per distinct box, scoring the sum of its class guesses' scores."""
    unique, inverse = np.unique(np.asarray(boxes), axis=0, return_inverse=True)
    merged = np.zeros(len(unique))
    np.add.at(merged, inverse.reshape(-1), np.asarray(scores, float))
    return unique, merged


def _results(detections: Detections, agnostic: bool, nms_iou: float) -> list[dict]:
    rows = []
    for image_id, boxes in detections.boxes.items():
        scores, labels = detections.scores[image_id], detections.labels[image_id]
        if agnostic and len(boxes):
            boxes, scores = _merge_class_guesses(boxes, scores)
            labels = np.zeros(len(boxes), np.int64)
            keep = nms(
                torch.as_tensor(boxes, dtype=torch.float32),
                torch.as_tensor(scores, dtype=torch.float32),
                nms_iou,
            ).numpy()
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
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


def coco_evaluation(
    dataset: DetectionSet, detections: Detections, agnostic: bool = False, nms_iou: float = 0.5
) -> COCOeval | None:
    """pycocotools' evaluation of `detections` (None when there are none), per class or class-agnostic."""
    return _coco_eval(_coco_ground_truth(dataset, agnostic), _results(detections, agnostic, nms_iou))


def _per_class_ap(evaluation: COCOeval | None, dataset: DetectionSet) -> dict[str, float | None]:
    """AP@[.5:.95] per class; None for a class with no ground truth in the set.

    Why None: such a class has no AP (nothing to find), and pycocotools leaves it out of the mAP too;
    a 0 would read as a class the detector fails on.
    """
    present = {label for sample in dataset.samples for label in sample.labels.tolist()}
    out: dict[str, float | None] = {}
    for index, name in enumerate(dataset.class_names):
        if index not in present:
            out[name] = None
        elif evaluation is None:  # nothing detected
            out[name] = 0.0
        else:
            values = evaluation.eval["precision"][:, :, index, 0, -1]  # [iou, recall, class, area, dets]
            out[name] = float(values[values > -1].mean())
    return out


def image_resampled_maps(
    evaluation: COCOeval | None, image_ids: list[int], resamples: int = IMAGE_RESAMPLES
) -> list[float]:
    """mAP@[.5:.95] on `resamples` test sets drawn from `image_ids` with replacement.

    Why: 50 test photos are a sample too; a spread over seeds alone says nothing about how much the
    score would move on other photos of the same kind. The draws depend only on the image ids and a
    fixed seed, so every run scored on the same test set gets the same draws: the report pairs them
    across seeds and arms.
    """
    draws = np.random.default_rng(IMAGE_RESAMPLE_SEED).integers(
        len(image_ids), size=(resamples, len(image_ids))
    )
    if evaluation is None:
        return [0.0] * resamples
    # Rounded: the draws are kept in every score and report; 5 decimals are far below their spread.
    return [round(resampled_map(evaluation, [image_ids[i] for i in draw]), 5) for draw in draws]


def resampled_map(evaluation: COCOeval, image_ids: list[int]) -> float:
    """mAP@[.5:.95] of an evaluated set on the images `image_ids` (repeats count as often as listed).

    pycocotools' per-image matches are re-accumulated (the expensive matching ran once), with the area
    range ("all") and the detection cap (100) of its mAP.
    """
    evaluated = evaluation._paramsEval
    position = {image_id: index for index, image_id in enumerate(evaluated.imgIds)}
    areas, count = len(evaluated.areaRng), len(evaluated.imgIds)
    view = copy.copy(evaluation)
    view._paramsEval = copy.copy(evaluated)
    view._paramsEval.imgIds = image_ids
    view.evalImgs = [
        evaluation.evalImgs[category * areas * count + position[image_id]] if area == 0 else None
        for category in range(len(evaluated.catIds))
        for area in range(areas)
        for image_id in image_ids
    ]
    params = copy.copy(evaluation.params)
    params.imgIds, params.areaRng, params.maxDets = image_ids, evaluated.areaRng[:1], [evaluated.maxDets[-1]]
    with contextlib.redirect_stdout(io.StringIO()):
        view.accumulate(params)
    precision = view.eval["precision"][:, :, :, 0, 0]
    return float(precision[precision > -1].mean()) if (precision > -1).any() else 0.0


def evaluate(dataset: DetectionSet, detections: Detections, nms_iou: float = 0.5) -> dict:
    """mAP@[.5:.95], mAP@.5, per-class AP (None without ground truth), the class-agnostic die
    mAP/AP50 (0 when nothing detected), how the found dice were read (`reading`, see
    `reading.reading_confusion`), how big the predicted boxes are next to the true ones (`box_scale`,
    see `box_fit.box_scale`) and the mAP on resampled test sets (`map_image_resamples`, see
    `image_resampled_maps`)."""
    aware = coco_evaluation(dataset, detections, agnostic=False, nms_iou=nms_iou)
    agnostic = coco_evaluation(dataset, detections, agnostic=True, nms_iou=nms_iou)

    def stat(evaluation: COCOeval | None, index: int) -> float:
        return max(0.0, float(evaluation.stats[index])) if evaluation is not None else 0.0

    return {
        "map": stat(aware, 0),
        "map50": stat(aware, 1),
        "per_class_ap": _per_class_ap(aware, dataset),
        "die_map": stat(agnostic, 0),
        "die_map50": stat(agnostic, 1),
        "die_ranked_by": DIE_RANKING,
        "reading": reading_confusion(dataset, detections),
        "box_scale": box_scale(dataset, detections),
        "map_image_resamples": image_resampled_maps(aware, list(dataset.image_ids)),
    }
