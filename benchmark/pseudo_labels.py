"""Pseudo-labels: a teacher detector labels the real photos nobody labelled, and a student trains on them.

Why: a user who labels 10% of their photos holds the other 90% unlabelled. The detector fine-tuned on the
10% (the teacher) already finds nearly every die in them (class-agnostic AP50 ≈ 0.98 on dice) while it
reads fewer faces right; a student that trains on its labels of those photos sees ten times the real
photos' look. The photos stay unlabelled by a person: the arm's count of labelled real images does not
change, and the report says how many unlabelled ones it used.

Why two thresholds: where a die is and which face is up are separate outputs of the detector
(`model.decode_objects`). A die the teacher is sure of but cannot read is kept with UNKNOWN_CLASS: it
still teaches "a die is here" and is left out of the class loss. Dropping it would teach "background"
on a die; labelling it with the teacher's guess would teach its misreadings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou, nms

from scenesmith.annotate.atomic import atomic_write_json
from scenesmith.benchmark.data import DetectionSet
from scenesmith.benchmark.model import UNKNOWN_CLASS, CenterNet, decode_objects
from scenesmith.benchmark.train import clip_boxes, whole_image_outputs
from scenesmith.errors import UserError

# Two centre peaks on one die would label it twice; boxes of one object overlap far more than this.
DUPLICATE_IOU = 0.5
# A pseudo-label counts as a die found (and a true die as found) at this overlap, as in AP50.
MATCH_IOU = 0.5


@dataclass(frozen=True)
class PseudoLabelRule:
    """Keep an object when its centre probability is at least `min_centre`; keep its class when the
    class probability is at least `min_class`, else label it UNKNOWN_CLASS."""

    min_centre: float
    min_class: float

    def __post_init__(self) -> None:
        # A zero centre threshold would label every cell of every photo a die.
        if not 0.0 < self.min_centre <= 1.0:
            raise UserError(f"pseudo-label threshold min_centre must be in (0, 1], not {self.min_centre}")
        if not 0.0 <= self.min_class <= 1.0:
            raise UserError(f"pseudo-label threshold min_class must be in [0, 1], not {self.min_class}")


@torch.no_grad()
def teacher_labels(model: CenterNet, dataset: DetectionSet, rule: PseudoLabelRule, tta: str) -> DetectionSet:
    """`dataset`'s images with the teacher's labels in place of their own (which are never read)."""
    model.eval()
    samples = []
    for sample in dataset.samples:
        outputs = whole_image_outputs(model, sample.image, tta)
        boxes, centres, probabilities = decode_objects(outputs, rule.min_centre)[0]
        clip_boxes(boxes, sample.image)
        keep = nms(torch.as_tensor(boxes), torch.as_tensor(centres), DUPLICATE_IOU).numpy()
        boxes, probabilities = boxes[keep], probabilities[keep]
        read = probabilities.max(axis=1, initial=0.0) >= rule.min_class
        labels = np.where(read, probabilities.argmax(axis=1), UNKNOWN_CLASS).astype(np.int64)
        samples.append(replace(sample, boxes=boxes.astype(np.float32), labels=labels))
    model.train()
    return DetectionSet(dataset.class_names, tuple(samples))


def label_quality(pseudo: DetectionSet, truth: DetectionSet) -> dict[str, float]:
    """How a teacher's labels of labelled photos compare with their true labels.

    die_precision: share of pseudo-labels that overlap a true die (IoU ≥ MATCH_IOU); die_recall: share
    of true dice that a pseudo-label overlaps; read_share: share of those overlapping pseudo-labels that
    carry a class; read_right: share of those whose class is the true die's (the best-overlapping one).
    """
    by_id = {s.image_id: s for s in truth.samples}
    labels = matched = true_dice = found = read = right = 0
    for sample in pseudo.samples:
        true = by_id[sample.image_id]
        labels += len(sample.boxes)
        true_dice += len(true.boxes)
        if not len(sample.boxes) or not len(true.boxes):
            continue
        overlap = box_iou(torch.as_tensor(sample.boxes), torch.as_tensor(true.boxes)).numpy()
        hits = overlap.max(axis=1) >= MATCH_IOU
        found += int((overlap.max(axis=0) >= MATCH_IOU).sum())
        matched += int(hits.sum())
        known = hits & (sample.labels != UNKNOWN_CLASS)
        read += int(known.sum())
        right += int((sample.labels[known] == true.labels[overlap.argmax(axis=1)[known]]).sum())
    return {
        "pseudo_labels": labels,
        "true_dice": true_dice,
        "die_precision": matched / labels if labels else 0.0,
        "die_recall": found / true_dice if true_dice else 0.0,
        "read_share": read / matched if matched else 0.0,
        "read_right": right / read if read else 0.0,
    }


def save_labels(path: Path, pseudo: DetectionSet, description: dict) -> None:
    """Write the pseudo-labels (and what made them) once, atomically: a resumed student must train on
    the labels it began with, and a user can inspect them."""
    images = {
        str(s.image_id): {"boxes": s.boxes.round(2).tolist(), "labels": s.labels.tolist()}
        for s in pseudo.samples
    }
    atomic_write_json(path, {**description, "images": images})


def read_labels(path: Path) -> tuple[dict[int, dict], dict]:
    """(image id → its saved boxes and labels, the description saved with them), from one read of
    `path`."""
    saved = json.loads(path.read_text())
    return {int(image_id): entry for image_id, entry in saved.pop("images").items()}, saved


def with_labels(path: Path, labels: dict[int, dict], images: DetectionSet) -> DetectionSet:
    """`images` with the labels read from `path`; every image must be there."""
    missing = [s.image_id for s in images.samples if s.image_id not in labels]
    if missing:
        raise UserError(f"{path}: no pseudo-labels for images {missing}; delete the file to label them again")
    samples = []
    for sample in images.samples:
        entry = labels[sample.image_id]
        boxes = np.array(entry["boxes"], np.float32).reshape(-1, 4)
        samples.append(replace(sample, boxes=boxes, labels=np.array(entry["labels"], np.int64)))
    return DetectionSet(images.class_names, tuple(samples))


def load_labels(path: Path, images: DetectionSet) -> tuple[DetectionSet, dict]:
    """(`images` with the labels saved in `path`, the description saved with them)."""
    labels, description = read_labels(path)
    return with_labels(path, labels, images), description
