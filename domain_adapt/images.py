"""Image sets the adapters learn from and the gap metric compares, as lists of file paths.

Why one place: a set can be a scenesmith dataset folder, a COCO file (with a `split` field, as the
real sets have), a folder holding annotations.json, or a plain folder of pictures, and every
command must read them the same way. Fitting on real images is restricted to training splits here,
once, so no adapter can ever see a test photo.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from scenesmith.annotate.coco_schema import coco_file_of
from scenesmith.annotate.dataset_writer import semantic_mask_file
from scenesmith.annotate.stats import Dataset, load_coco, load_dataset
from scenesmith.errors import UserError

NO_SPLIT = "none"  # the split value that asks for every image of a source without splits
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def resolve_source(source: str | Path, split: str | None = None) -> tuple[Dataset | None, list[Path]]:
    """The labels (None for a plain picture folder) and the sorted image paths of `source`: a COCO
    file, a folder holding annotations.json, a scenesmith dataset folder or a folder of pictures.

    A split is honoured or refused, never ignored: only a COCO file says which images are which, so
    asking a source without splits for one (e.g. the real photos' image folder, test photos included)
    is an error rather than every picture.
    """
    path = Path(source)
    if split is not None and split.lower() == NO_SPLIT:
        split = None
    if (coco := coco_file_of(path)) is not None:
        dataset = load_coco(coco, split)
    elif path.is_dir() and (path / "meta").is_dir():
        _refuse_split(path, split, "a scenesmith dataset folder")
        dataset = load_dataset(path)
    elif path.is_dir():
        _refuse_split(path, split, "a folder of pictures")
        pictures = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not pictures:
            raise UserError(
                f"{path}: no images (expected a dataset folder, a COCO file or a folder of pictures)"
            )
        return None, pictures
    else:
        raise UserError(f"{path}: no such dataset folder, COCO file or picture folder")
    return dataset, [image.path for image in dataset.images]


def _refuse_split(path: Path, split: str | None, kind: str) -> None:
    if split is not None:
        raise UserError(
            f"{path}: {kind} has no splits, so split {split!r} cannot be taken from it; name the COCO "
            f"file that holds the split field, or pass the split as {NO_SPLIT} to use every image"
        )


def image_paths(source: str | Path, split: str | None = None) -> list[Path]:
    """Paths of the images of `source` (see `resolve_source`), sorted."""
    return resolve_source(source, split)[1]


def semantic_mask_paths(images: list[Path]) -> tuple[Path, ...]:
    """Each image's semantic mask as a scenesmith dataset stores it (`masks/<stem>_semantic.png`
    beside `images/`), or () when any is missing: a plain picture folder or a COCO set has none."""
    masks = tuple(path.parent.parent / semantic_mask_file(path.stem) for path in images)
    return masks if masks and all(mask.is_file() for mask in masks) else ()


def real_training_paths(source: str | Path, split: str | None = "train") -> list[Path]:
    """Real images an adapter may learn from: a training split only, never the test photos.

    `--split none` takes every image of a source without splits; where a COCO file beside the source
    (or the source itself) marks some of those images as test, it is refused: the adapter would see
    them, and an adapted arm's test score would no longer be a score on unseen photos.
    """
    if split is not None and "test" in split.lower():
        raise UserError(
            f"--split {split!r}: adapters see real train images only (unlabelled), never test images"
        )
    paths = image_paths(source, split)
    if (split is None or split.lower() == NO_SPLIT) and (found := test_photos_among(source, paths)):
        coco, seen = found
        raise UserError(
            f"{source}: split {NO_SPLIT!r} takes all its images, and {coco} marks {len(seen)} of "
            f"them as test (e.g. {seen[0].name}); adapters see train images only: give --real {coco} "
            "--split train"
        )
    return paths


def test_photos_among(source: str | Path, paths: list[Path]) -> tuple[Path, list[Path]] | None:
    """The first COCO file of `source` (itself, the one it holds, or the one beside a picture folder)
    that marks some of `paths` as test photos, with those paths; None when none does."""
    for coco in _coco_files_of(Path(source)):
        test = _test_images(coco)
        if seen := [path for path in paths if path.resolve() in test]:
            return coco, seen
    return None


def _coco_files_of(source: Path) -> list[Path]:
    """The COCO files that may say which of `source`'s images are test photos: the source itself, the
    annotations.json it holds, or the one beside a picture folder, as named and as resolved: `.` has
    no parent of its own, and a symlinked folder's parent is not its target's, so both found nothing
    and every picture, test photos included, was taken."""
    own = coco_file_of(source)
    beside = {folder.parent / "annotations.json" for folder in (source.absolute(), source.resolve())}
    candidates = [own, *sorted(beside)] if source.is_dir() else [own]
    return [path for path in candidates if path is not None and path.is_file()]


def _test_images(coco: Path) -> set[Path]:
    """Resolved paths of the images `coco` puts in a split named like test (none when unreadable: a
    file that says nothing about splits cannot say an image is a test photo)."""
    try:
        records = json.loads(coco.read_text()).get("images", [])
    except (OSError, ValueError, AttributeError):
        return set()
    names = {
        str(r["split"]) for r in records if isinstance(r, dict) and "test" in str(r.get("split", "")).lower()
    }
    return {image.path.resolve() for name in names for image in load_coco(coco, name).images}


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
