"""Detection datasets held in memory, and the splits the benchmark draws from them.

Why in memory: the sets are small (hundreds of 640² images) and two CPU cores cannot afford to decode
JPEGs every step. Splits are pure functions of (image ids, seed), so every arm and every rerun sees the
same validation images and the same random 10%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from scenesmith.annotate.box_convention import BoxConvention
from scenesmith.annotate.stats import load_coco as read_coco
from scenesmith.errors import UserError

# The label `augment.augmented_crop` gives a region to ignore (a COCO `iscrowd` annotation, such as a
# die tilted too far to show one face): neither an object to find nor background. Training puts no
# heatmap loss there, and scoring matches it as pycocotools matches crowds (a detection on it counts
# neither way). Dropping such regions, as before, taught and scored a leaning die as background.
IGNORED_REGION = -2


def _no_boxes() -> np.ndarray:
    return np.zeros((0, 4), np.float32)


@dataclass(frozen=True)
class Sample:
    """One image with its boxes (xyxy pixels) and 0-based class indices into the set's class names;
    `ignore`: regions (xyxy) that count neither as objects nor as background."""

    image_id: int
    file_name: str
    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    ignore: np.ndarray = field(default_factory=_no_boxes)


@dataclass(frozen=True)
class DetectionSet:
    class_names: tuple[str, ...]
    samples: tuple[Sample, ...]

    def subset(self, image_ids: list[int]) -> DetectionSet:
        by_id = {s.image_id: s for s in self.samples}
        return DetectionSet(self.class_names, tuple(by_id[i] for i in image_ids))

    @property
    def image_ids(self) -> list[int]:
        return [s.image_id for s in self.samples]

    def with_boxes(self, convention: BoxConvention) -> DetectionSet:
        """The same images with their boxes and ignored regions redrawn in `convention` (itself when it
        is exact): a crowd drawn tighter than a die's box would leave the die's margin as background."""
        if convention.exact:
            return self

        def redrawn(sample: Sample) -> Sample:
            height, width = sample.image.shape[:2]
            return replace(
                sample,
                boxes=convention.apply(sample.boxes, width, height),
                ignore=convention.apply(sample.ignore, width, height),
            )

        return DetectionSet(self.class_names, tuple(redrawn(s) for s in self.samples))


def resolve_coco(path: Path) -> Path:
    """A dataset folder means its annotations.json; a file is taken as is."""
    return path / "annotations.json" if path.is_dir() else path


def load_coco(path: Path, split: str | None = None, image_ids: set[int] | None = None) -> DetectionSet:
    """Load a COCO detection file (optionally one `split` of it) with its images decoded to RGB.

    Parsing, split selection and their error messages are `annotate.stats.load_coco`'s; this adds the
    pixels and the boxes as arrays.
    """
    dataset = read_coco(resolve_coco(path), split, labelled=True)
    category_ids = sorted(dataset.categories)
    index_of = {category_id: i for i, category_id in enumerate(category_ids)}
    entries = [e for e in dataset.images if image_ids is None or e.image_id in image_ids]
    per_image: dict[int, list[dict]] = {e.image_id: [] for e in entries}
    crowds: dict[int, list[dict]] = {e.image_id: [] for e in entries}
    for annotation in dataset.annotations:
        if annotation["image_id"] in per_image:
            (crowds if annotation.get("iscrowd", 0) else per_image)[annotation["image_id"]].append(annotation)
    samples = []
    for entry in entries:
        pixels = cv2.imread(str(entry.path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise UserError(f"{path}: image {entry.file_name!r} is missing or unreadable at {entry.path}")
        annotations = per_image[entry.image_id]
        labels = np.array([index_of[a["category_id"]] for a in annotations], np.int64)
        samples.append(
            Sample(
                entry.image_id,
                entry.file_name,
                cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB),
                _xyxy(annotations),
                labels,
                _xyxy(crowds[entry.image_id]),
            )
        )
    return DetectionSet(tuple(dataset.categories[c] for c in category_ids), tuple(samples))


def _xyxy(annotations: list[dict]) -> np.ndarray:
    """COCO xywh boxes → xyxy float32 (k × 4)."""
    boxes = np.array([a["bbox"] for a in annotations], np.float64).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return boxes.astype(np.float32)


def split_validation(image_ids: list[int], count: int, seed: int) -> tuple[list[int], list[int]]:
    """One fixed (pool, validation) split: the validation images never change between arms or runs."""
    if count >= len(image_ids):
        raise UserError(
            f"validation split of {count} images leaves no training images (train has {len(image_ids)})"
        )
    order = np.random.default_rng(seed).permutation(sorted(image_ids))
    return sorted(int(i) for i in order[count:]), sorted(int(i) for i in order[:count])


def fraction_count(pool_size: int, fraction: float) -> int:
    """A fraction of the pool in whole images, at least one."""
    return max(1, min(pool_size, int(math.floor(pool_size * fraction + 0.5))))


def draw_fraction(pool: list[int], fraction: float, seed: int) -> list[int]:
    """The images of one random draw; draws are nested (the 5% draw of a seed contains its 1% draw)."""
    order = np.random.default_rng(10_000 + seed).permutation(sorted(pool))
    return sorted(int(i) for i in order[: fraction_count(len(pool), fraction)])
