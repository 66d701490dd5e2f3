"""Fast looks for artists: `preview` (a low-sample contact sheet) and `sweep` (vary one factor).

Both render in memory (no dataset folder) and draw labels on the tiles. A sweep keeps the seed fixed
while one key changes. Each part of a scene draws from its own random stream, so everything the
swept key does not touch (other objects, the camera, the lights) stays the same across a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from scenesmith.annotate.atomic import atomic_write_bytes
from scenesmith.annotate.contact_sheet import BACKGROUND, labelled_tile
from scenesmith.pipeline import Sample, iter_samples
from scenesmith.procedural.loader import SceneRuleError, load_scene

PREVIEW_OVERRIDES = ["render.samples=4", "render.denoise=true"]
LABEL_WIDTH = 150


def _tile(sample: Sample, tile: int) -> np.ndarray:
    return labelled_tile(
        np.ascontiguousarray(sample.rgb[..., ::-1]),
        sample.instance,
        sample.labels.objects,
        sample.labels.annotations,
        f"#{sample.index}",
        tile,
    )


def _write_png(path: Path, image: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("OpenCV could not encode the sheet")
    return atomic_write_bytes(path, buf.tobytes())


def _row(label: str, tiles: list[np.ndarray], tile: int) -> np.ndarray:
    caption = np.full((tile, LABEL_WIDTH, 3), BACKGROUND, np.uint8)
    for line, text in enumerate(_wrap(label, 18)):
        cv2.putText(
            caption,
            text,
            (6, 20 + 16 * line),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.42,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return np.concatenate([caption, *tiles], axis=1)


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def preview(
    scene: str,
    out_png: Path,
    overrides: Sequence[str] = (),
    count: int = 8,
    seed: int = 0,
    resolution: int = 192,
    cols: int = 4,
    device: str = "auto",
) -> Path:
    """Render `count` low-sample images and write them as one labelled contact sheet. Each scene is
    built at the dataset's resolution (where things go can depend on it: a satellite's range, the
    view objects are placed in) and rendered `resolution` pixels on its long side: tile #k is image k."""
    samples = iter_samples(
        scene, count, seed, [*PREVIEW_OVERRIDES, *overrides], device=device, long_side=resolution
    )
    tiles = [_tile(s, resolution) for s in tqdm(samples, total=count, desc="preview", unit="img")]
    ncols = min(cols, len(tiles))
    rows = [tiles[i : i + ncols] for i in range(0, len(tiles), ncols)]
    rows[-1] += [np.full_like(tiles[0], BACKGROUND)] * (ncols - len(rows[-1]))
    return _write_png(Path(out_png), np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0))


def sweep(
    scene: str,
    key: str,
    values: Sequence[str],
    out_png: Path,
    overrides: Sequence[str] = (),
    count: int = 4,
    seed: int = 0,
    resolution: int = 192,
    device: str = "auto",
) -> Path:
    """One row per value of `key` (all else equal: same seed), `count` images per row, rendered as in
    `preview`."""
    extra = [*PREVIEW_OVERRIDES, *overrides]
    for value in values:  # every value is checked before anything renders, in the terms the user typed
        try:
            load_scene(scene, [*extra, f"{key}={value}"])
        except SceneRuleError as exc:
            message = str(exc).replace(f"--set {f'{key}={value}'!r}", f"--vary {key} --values {value}")
            raise SceneRuleError(message) from None
    rows = []
    for value in tqdm(values, desc=f"sweep {key}", unit="value"):
        samples = iter_samples(
            scene, count, seed, [*extra, f"{key}={value}"], device=device, long_side=resolution
        )
        rows.append(_row(f"{key} = {value}", [_tile(s, resolution) for s in samples], resolution))
    return _write_png(Path(out_png), np.concatenate(rows, axis=0))
