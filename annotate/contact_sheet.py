"""A contact sheet of a written dataset, for eyeballing labels against pixels.

Each tile shows an image with its instance masks tinted (a distinct colour per instance), the
visible box (solid), the amodal box (thin, dashed) and the category name; `iscrowd` objects are
drawn in grey. It reads only the dataset files (meta, images, instance masks), so it checks what
was actually written.
"""

from __future__ import annotations

import colorsys
import errno
import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from scenesmith.annotate.atomic import atomic_write_bytes
from scenesmith.annotate.dataset_writer import load_metas, meta_file_of, read_instance, redo_advice
from scenesmith.errors import UserError

CROWD_COLOR = (160, 160, 160)  # BGR
BACKGROUND = (40, 40, 40)
TINT_ALPHA = 0.45
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def instance_color(instance_id: int) -> tuple[int, int, int]:
    """Distinct saturated BGR colour per id (golden-ratio hue steps keep neighbours apart)."""
    hue = (instance_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def _dashed_rect(
    img: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], color: tuple[int, int, int], dash: int = 4
) -> None:
    (x0, y0), (x1, y1) = p0, p1
    for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        for s in range(0, length, 2 * dash):
            t0, t1 = s / max(length, 1), min(s + dash, length) / max(length, 1)
            q0 = (round(a[0] + (b[0] - a[0]) * t0), round(a[1] + (b[1] - a[1]) * t0))
            q1 = (round(a[0] + (b[0] - a[0]) * t1), round(a[1] + (b[1] - a[1]) * t1))
            cv2.line(img, q0, q1, color, 1, cv2.LINE_AA)


def _tile(dataset: Path, meta: dict[str, Any], tile: int) -> np.ndarray:
    image = cv2.imread(str(dataset / meta["files"]["image"]), cv2.IMREAD_COLOR)
    if image is None:
        advice = redo_advice(meta_file_of(dataset / meta["files"]["image"]))
        raise FileNotFoundError(
            errno.ENOENT, f"missing or unreadable image; {advice}", str(dataset / meta["files"]["image"])
        )
    instance = read_instance(dataset / meta["files"]["instance"])
    return labelled_tile(image, instance, meta["objects"], meta["annotations"], f"#{meta['image_id']}", tile)


def labelled_tile(
    image: np.ndarray,
    instance: np.ndarray,
    object_entries: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    caption: str,
    tile: int,
) -> np.ndarray:
    """One BGR image with its labels drawn, scaled into a `tile`×`tile` square (arrays in, array out)."""
    objects = {o["instance_id"]: o for o in object_entries}
    colors = {iid: CROWD_COLOR if o["iscrowd"] else instance_color(iid) for iid, o in objects.items()}
    tinted = image.astype(np.float32)
    for iid, color in colors.items():
        m = instance == iid
        tinted[m] = (1 - TINT_ALPHA) * tinted[m] + TINT_ALPHA * np.array(color, np.float32)

    h, w = image.shape[:2]
    scale = tile / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(tinted.clip(0, 255).astype(np.uint8), (tw, th), interpolation=cv2.INTER_AREA)
    canvas = np.full((tile, tile, 3), BACKGROUND, dtype=np.uint8)
    oy, ox = (tile - th) // 2, (tile - tw) // 2
    canvas[oy : oy + th, ox : ox + tw] = small

    def corners(x: float, y: float, w: float, h: float) -> tuple[tuple[int, int], tuple[int, int]]:
        """The first and last tile pixels a box of pixel edges covers: OpenCV draws both inclusively,
        so the outline lies on the box's own outer pixels on all four sides."""
        first = math.floor(ox + x * scale), math.floor(oy + y * scale)
        last = math.ceil(ox + (x + w) * scale) - 1, math.ceil(oy + (y + h) * scale) - 1
        return first, (max(last[0], first[0]), max(last[1], first[1]))

    for ann in annotations:
        color = colors.get(ann["instance_id"], CROWD_COLOR)
        if ann.get("amodal_bbox"):
            _dashed_rect(canvas, *corners(*ann["amodal_bbox"]), color)
        p0, p1 = corners(*ann["bbox"])
        cv2.rectangle(canvas, p0, p1, color, 1)
        name = objects.get(ann["instance_id"], {}).get("category") or str(ann["category_id"])
        cv2.putText(canvas, name, (p0[0], max(p0[1] - 3, 9)), _FONT, 0.35, color, 1, cv2.LINE_AA)
    cv2.putText(canvas, caption, (3, tile - 4), _FONT, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def make_contact_sheet(
    dataset_dir: str | os.PathLike[str],
    out_png: str | os.PathLike[str],
    max_images: int = 16,
    cols: int = 4,
    tile: int = 256,
) -> Path:
    """Write a grid of the first `max_images` images (by image id) as a PNG; returns its path.

    The sheet is `min(cols, n) * tile` wide and `ceil(n / min(cols, n)) * tile` high for n images;
    each image is scaled to fit its tile, keeping its aspect ratio.
    """
    dataset = Path(dataset_dir)
    metas = load_metas(dataset, limit=max_images)
    if not metas:
        raise UserError(f"{dataset}: no finished image (meta/*.json) to draw")
    ncols = min(cols, len(metas))
    nrows = math.ceil(len(metas) / ncols)
    sheet = np.full((nrows * tile, ncols * tile, 3), BACKGROUND, dtype=np.uint8)
    for k, meta in enumerate(metas):
        r, c = divmod(k, ncols)
        sheet[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = _tile(dataset, meta, tile)
    ok, buf = cv2.imencode(".png", sheet)
    if not ok:
        raise RuntimeError("OpenCV could not encode the contact sheet")
    return atomic_write_bytes(out_png, buf.tobytes())
