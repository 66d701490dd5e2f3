"""Export a written dataset to YOLO detection format (Ultralytics layout).

Reads `annotations.json` (see FORMAT.md). Class index = position of the category in its
`categories` list. Boxes are the *visible* boxes, normalised `cx cy w h`, redrawn in a `BoxConvention`
when one is given (so a detector trained on the export draws boxes the way the user's real labels
do; the dataset itself keeps its exact boxes). Images without boxes get an empty label file so
they count as background images.

`iscrowd` objects (e.g. tilted dice whose class is a guess) need a choice, because YOLO has no ignore
regions: `skip` leaves them unlabelled (Ultralytics' own COCO conversion does this; the detector then
learns them as background), `label` writes them as ordinary boxes of their guessed class, and
`erase` paints their pixels out of the exported image (OpenCV inpainting of the mask grown by 2 px,
the growth stopping at labelled objects),
so nothing unlabelled that looks like an object is left. data.yaml records the choice and the count.

Exporting again into the same folder replaces the earlier export whole: files of images it no
longer holds are removed, and so is Ultralytics' `labels.cache`, which is keyed on file sizes only
(fixed-width label lines keep their size when only the boxes change, so a stale cache would load
the old boxes). A folder that holds anything else is refused rather than cleared.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import yaml
from pycocotools import mask as mask_util

from scenesmith.annotate.atomic import atomic_save, atomic_write_bytes, atomic_write_text
from scenesmith.annotate.box_convention import BoxConvention
from scenesmith.annotate.coco_schema import load_coco
from scenesmith.annotate.dataset_writer import (
    ANNOTATIONS_FILE,
    meta_file_of,
    redo_advice,
    require_current_coco,
)
from scenesmith.errors import UserError

EXACT = BoxConvention()
# Written first, so an export killed before its data.yaml is still recognised as ours and replaced.
EXPORT_MARKER = ".scenesmith-yolo-export"
_EXPORT_ENTRIES = {EXPORT_MARKER, "images", "labels", "data.yaml"}
_MOVE_IT = "move it away or choose another out folder"
CrowdPolicy = Literal["skip", "label", "erase"]
CROWD_POLICIES: tuple[CrowdPolicy, ...] = ("skip", "label", "erase")
ERASE_GROW_PX = 2  # covers the anti-aliased rim the mask leaves out
INPAINT_RADIUS_PX = 5


def _prepare_export_folder(out: Path, keep: set[str]) -> None:
    """Make `out` hold only this export's files: refuse a foreign folder, prune an earlier export.

    Everything is checked before anything is removed, so a refused folder is left as it was.
    """
    if out.exists() and any(out.iterdir()):
        if not (out / EXPORT_MARKER).is_file():
            raise UserError(
                f"{out}: folder is not empty and holds no scenesmith YOLO export; choose another out folder"
            )
        caches = [entry for entry in out.iterdir() if entry.name.endswith(".cache")]
        for entry in out.iterdir():
            if entry not in caches and entry.name not in _EXPORT_ENTRIES:
                raise UserError(f"{entry}: not part of a YOLO export; {_MOVE_IT}")
        stale = [
            path
            for folder in ("images", "labels")
            for path in ((out / folder).iterdir() if (out / folder).is_dir() else ())
            if path.name not in keep
        ]
        for path in stale:
            if path.is_dir() and not path.is_symlink():
                raise UserError(f"{path}: a folder inside a YOLO export; {_MOVE_IT}")
        # data.yaml too: until this export writes its own (last), an earlier one would describe labels
        # this export is rewriting (another box convention, crowd policy or class list).
        for path in caches + stale:
            path.unlink()
        (out / "data.yaml").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / EXPORT_MARKER).touch()


def _link_or_copy(src: Path, dst: Path, copy: bool) -> None:
    if not src.is_file():  # a link to nothing would fail only when a trainer opens it
        raise UserError(f"{src}: image missing from the dataset; {redo_advice(meta_file_of(src))}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if copy:  # through a temp file: a copy cut short never lies under the image's name
        atomic_save(dst, lambda tmp: shutil.copy2(src, tmp))
    else:
        dst.symlink_to(os.path.relpath(src.resolve(), dst.parent.resolve()))


def _write_erased(src: Path, dst: Path, crowd: list[dict[str, Any]], labelled: list[dict[str, Any]]) -> None:
    """`src` with the crowd objects' pixels inpainted, written to `dst` in the same format.

    The grown rim stops at the labelled objects: a die touching a crowd die keeps its own pixels, which
    its box still claims.
    """
    image = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"{src}: image missing or unreadable; {redo_advice(meta_file_of(src))}")
    mask = np.zeros(image.shape[:2], np.uint8)
    for ann in crowd:
        mask |= mask_util.decode(ann["segmentation"]).astype(np.uint8)
    grow = 2 * ERASE_GROW_PX + 1
    mask = cv2.dilate(mask, np.ones((grow, grow), np.uint8))
    for ann in labelled:
        mask[mask_util.decode(ann["segmentation"]).astype(bool)] = 0
    erased = cv2.inpaint(image, mask, INPAINT_RADIUS_PX, cv2.INPAINT_TELEA)
    ok, encoded = cv2.imencode(dst.suffix, erased, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise UserError(f"{dst}: cannot encode the erased image as {dst.suffix}")
    atomic_write_bytes(dst, encoded.tobytes())  # makes the folder; replaces a link, not its target


def export_yolo(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    copy: bool = False,
    convention: BoxConvention = EXACT,
    crowd: CrowdPolicy = "skip",
) -> Path:
    """Write images/ (relative symlinks, or copies), labels/*.txt and data.yaml; returns data.yaml.

    Symlinks keep the export cheap; pass `copy=True` when the export must stand alone. `crowd`: what
    becomes of `iscrowd` objects (see the module docstring); `erase` writes its images as files.
    """
    if crowd not in CROWD_POLICIES:
        raise UserError(f"crowd: expected one of {', '.join(CROWD_POLICIES)}, got {crowd!r}")
    src = Path(dataset_dir)
    out = Path(out_dir)
    coco = load_coco(src / ANNOTATIONS_FILE)  # a damaged file is named, not a KeyError below
    require_current_coco(src, coco)
    class_of = {c["id"]: i for i, c in enumerate(coco["categories"])}
    lines: dict[int, list[str]] = {img["id"]: [] for img in coco["images"]}
    crowds: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in coco["images"]}
    labelled: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in coco["images"]}
    sizes = {img["id"]: (img["width"], img["height"]) for img in coco["images"]}
    for ann in coco["annotations"]:
        (crowds if ann.get("iscrowd", 0) else labelled)[ann["image_id"]].append(ann)
        if ann.get("iscrowd", 0) and crowd != "label":
            continue
        width, height = sizes[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        if not convention.exact:
            x0, y0, x1, y1 = convention.apply(np.array([x, y, x + w, y + h]), width, height)[0].tolist()
            x, y, w, h = x0, y0, x1 - x0, y1 - y0
        cx, cy = (x + w / 2) / width, (y + h / 2) / height
        lines[ann["image_id"]].append(
            f"{class_of[ann['category_id']]} {cx:.6f} {cy:.6f} {w / width:.6f} {h / height:.6f}"
        )
    names = [Path(img["file_name"]) for img in coco["images"]]
    _prepare_export_folder(out, {name.name for name in names} | {f"{name.stem}.txt" for name in names})
    for img in coco["images"]:
        image_path = Path(img["file_name"])
        if crowd == "erase" and crowds[img["id"]]:
            _write_erased(
                src / image_path, out / "images" / image_path.name, crowds[img["id"]], labelled[img["id"]]
            )
        else:
            _link_or_copy(src / image_path, out / "images" / image_path.name, copy)
        text = "".join(line + "\n" for line in lines[img["id"]])
        atomic_write_text(out / "labels" / f"{image_path.stem}.txt", text)
    data = {
        "path": str(out.resolve()),
        "train": "images",
        "val": "images",
        "nc": len(coco["categories"]),
        "names": {i: c["name"] for i, c in enumerate(coco["categories"])},
        "box_convention": convention.describe(),  # ignored by trainers; says how the labels were drawn
        "crowd": {"policy": crowd, "objects": sum(len(anns) for anns in crowds.values())},
    }
    return atomic_write_text(out / "data.yaml", yaml.safe_dump(data, sort_keys=False))
