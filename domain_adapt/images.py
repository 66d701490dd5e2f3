"""Image sets the adapters learn from and the gap metric compares, as lists of file paths.

Why one place: a set can be a scenesmith dataset folder, a COCO file (with a `split` field, as the
real sets have), a folder holding annotations.json, or a plain folder of pictures, and every
command must read them the same way. Fitting on real images is restricted to training splits here,
once, so no adapter can ever see a test photo.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from scenesmith.annotate.dataset_writer import semantic_mask_file
from scenesmith.annotate.stats import load_coco, load_dataset
from scenesmith.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def image_paths(source: str | Path, split: str | None = None) -> list[Path]:
    """Paths of the images of `source` (dataset folder, COCO file or picture folder), sorted."""
    path = Path(source)
    if path.is_file() and path.suffix == ".json":
        return [im.path for im in load_coco(path, split).images]
    if path.is_dir() and ((path / "meta").is_dir() or (path / "annotations.json").is_file()):
        if split is not None and (path / "annotations.json").is_file() and not (path / "meta").is_dir():
            return [im.path for im in load_coco(path / "annotations.json", split).images]
        return [im.path for im in load_dataset(path).images]
    if path.is_dir():
        pictures = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if pictures:
            return pictures
        raise UserError(f"{path}: no images (expected a dataset folder, a COCO file or a folder of pictures)")
    raise UserError(f"{path}: no such dataset folder, COCO file or picture folder")


def semantic_mask_paths(images: list[Path]) -> tuple[Path, ...]:
    """Each image's semantic mask as a scenesmith dataset stores it (`masks/<stem>_semantic.png`
    beside `images/`), or () when any is missing: a plain picture folder or a COCO set has none."""
    masks = tuple(path.parent.parent / semantic_mask_file(path.stem) for path in images)
    return masks if masks and all(mask.is_file() for mask in masks) else ()


def real_training_paths(source: str | Path, split: str | None = "train") -> list[Path]:
    """Real images an adapter may learn from: a training split only, never the test photos."""
    if split is not None and "test" in split.lower():
        raise UserError(
            f"--split {split!r}: adapters see real train images only (unlabelled), never test images"
        )
    return image_paths(source, split)


def read_rgb(path: Path) -> np.ndarray:
    """H×W×3 uint8 RGB (OpenCV reads BGR)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"{path}: not a readable image")
    return np.ascontiguousarray(bgr[..., ::-1])


def encode_like(path: Path, rgb: np.ndarray) -> bytes:
    """Encode `rgb` in the format of `path` (PNG lossless; JPEG at quality 95)."""
    suffix = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
    ok, buffer = cv2.imencode(suffix, np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {suffix}")
    return buffer.tobytes()
