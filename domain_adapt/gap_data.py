"""The common preprocessing both image sets go through before any gap measure sees them.

Why: a classifier asked to tell renders from photos will happily learn "PNG vs JPEG" or "640 vs
512 px" instead of anything visual. So every image — whatever its source format and size — is
resized (short side to 256, area averaging), centre-cropped to 256², and JPEG-encoded and decoded at
quality 90; object crops get the same JPEG round trip at 48². After this, file format and size
cannot separate the sets; only content and appearance can.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from scenesmith.annotate.stats import Dataset, resize_short_side
from scenesmith.domain_adapt.images import read_rgb, resolve_source
from scenesmith.errors import UserError

IMAGE_SIZE = 256
CROP_SIZE = 48
JPEG_QUALITY = 90
CROP_CONTEXT = 0.25  # box side grown by this fraction on each side before the square crop
MAX_CROPS_PER_IMAGE = 8
MIN_IMAGES = 4  # per set: the KID halves need two images each


@dataclass
class ImageSet:
    """Preprocessed images (N×256×256×3 uint8), object crops (M×48×48×3) with the index of the image
    each came from (M), and the labels if any."""

    name: str
    images: np.ndarray
    crops: np.ndarray
    crop_images: np.ndarray
    dataset: Dataset | None


def jpeg_round_trip(rgb: np.ndarray) -> np.ndarray:
    ok, buffer = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode")
    return np.ascontiguousarray(cv2.imdecode(buffer, cv2.IMREAD_COLOR)[..., ::-1])


def normalise_image(rgb: np.ndarray) -> np.ndarray:
    resized = resize_short_side(rgb, IMAGE_SIZE)
    h, w = resized.shape[:2]
    y, x = (h - IMAGE_SIZE) // 2, (w - IMAGE_SIZE) // 2
    return jpeg_round_trip(np.ascontiguousarray(resized[y : y + IMAGE_SIZE, x : x + IMAGE_SIZE]))


def object_crops(rgb: np.ndarray, boxes: list[list[float]], rng: np.random.Generator) -> list[np.ndarray]:
    """Square crops around boxes ([x, y, w, h]) with context, from the full-resolution image."""
    h, w = rgb.shape[:2]
    crops = []
    chosen = rng.permutation(len(boxes))[:MAX_CROPS_PER_IMAGE]
    for i in chosen:
        x, y, bw, bh = boxes[i]
        side = max(bw, bh) * (1 + 2 * CROP_CONTEXT)
        if side < 4:
            continue
        cx, cy = x + bw / 2, y + bh / 2
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        x1, y1 = x0 + int(round(side)), y0 + int(round(side))
        top, left = max(0, -y0), max(0, -x0)
        padded = cv2.copyMakeBorder(rgb, top, max(0, y1 - h), left, max(0, x1 - w), cv2.BORDER_REFLECT)
        crop = padded[y0 + top : y1 + top, x0 + left : x1 + left]
        crops.append(jpeg_round_trip(cv2.resize(crop, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)))
    return crops


def load_image_set(
    source: str | Path, split: str | None, max_images: int | None, rng: np.random.Generator
) -> ImageSet:
    """Read and preprocess a set (dataset folder, COCO file or plain picture folder)."""
    source = Path(source)
    dataset, paths = resolve_source(source, split)
    entries = [(e.path, e.image_id) for e in dataset.images] if dataset else [(p, None) for p in paths]
    if max_images is not None and max_images < MIN_IMAGES:
        raise UserError(
            f"--max-images {max_images}: the gap measures need at least {MIN_IMAGES} images a set"
        )
    if len(entries) < MIN_IMAGES:
        raise UserError(f"{source}: {len(entries)} images; the gap measures need at least {MIN_IMAGES}")
    if max_images is not None and len(entries) > max_images:
        entries = [entries[i] for i in sorted(rng.choice(len(entries), max_images, replace=False))]
    boxes: dict[int, list[list[float]]] = {}
    if dataset is not None:
        for a in dataset.annotations:
            if not a.get("iscrowd", 0):
                boxes.setdefault(a["image_id"], []).append(a["bbox"])
    images, crops, crop_images = [], [], []
    for path, image_id in tqdm(entries, desc=f"gap: reading {source.name}", unit="img"):
        rgb = read_rgb(path)
        images.append(normalise_image(rgb))
        these = object_crops(rgb, boxes.get(image_id, []), rng)
        crops += these
        crop_images += [len(images) - 1] * len(these)
    empty = np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    return ImageSet(
        source.name,
        np.stack(images),
        np.stack(crops) if crops else empty,
        np.array(crop_images, np.int64),
        dataset,
    )
