"""Detection datasets held in memory, and the splits the benchmark draws from them.

Why in memory: the sets are small (hundreds of 640² images) and two CPU cores cannot afford to decode
JPEGs every step. Splits are pure functions of (image ids, seed), so every arm and every rerun sees the
same validation images and the same random 10%.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from scenesmith.errors import UserError


@dataclass(frozen=True)
class Sample:
    """One image with its boxes (xyxy pixels) and 0-based class indices into the set's class names."""

    image_id: int
    file_name: str
    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


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


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (expected a COCO annotations file)") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error})") from None


def resolve_coco(path: Path) -> Path:
    """A dataset folder means its annotations.json; a file is taken as is."""
    return path / "annotations.json" if path.is_dir() else path


def load_coco(path: Path, split: str | None = None, image_ids: set[int] | None = None) -> DetectionSet:
    """Load a COCO detection file (optionally one `split` of it) with its images decoded to RGB."""
    path = resolve_coco(path)
    coco = _read_json(path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise UserError(f"{path}: key {key!r} must be a list (COCO detection format)")
    categories = sorted(coco["categories"], key=lambda c: c["id"])
    index_of = {c["id"]: i for i, c in enumerate(categories)}
    images = coco["images"]
    if split is not None:
        if not any("split" in image for image in images):
            raise UserError(f"{path}: images have no 'split' field; pass separate train/test COCO files")
        images = [image for image in images if image.get("split") == split]
        if not images:
            raise UserError(f"{path}: no image has split == {split!r}")
    if image_ids is not None:
        images = [image for image in images if image["id"] in image_ids]
    per_image: dict[int, list[dict]] = {image["id"]: [] for image in images}
    for annotation in coco["annotations"]:
        if annotation["image_id"] in per_image and not annotation.get("iscrowd", 0):
            per_image[annotation["image_id"]].append(annotation)
    samples = []
    for image in sorted(images, key=lambda i: i["id"]):
        file = path.parent / image["file_name"]
        pixels = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if pixels is None:
            raise UserError(f"{path}: image {image['file_name']!r} is missing or unreadable at {file}")
        annotations = per_image[image["id"]]
        boxes = np.array(
            [
                [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                for a in annotations
            ],
            np.float32,
        ).reshape(-1, 4)
        labels = np.array([index_of[a["category_id"]] for a in annotations], np.int64)
        samples.append(
            Sample(image["id"], image["file_name"], cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), boxes, labels)
        )
    return DetectionSet(tuple(c["name"] for c in categories), tuple(samples))


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
