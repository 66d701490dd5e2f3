"""Run a fully convolutional image-to-image network over a large image in overlapping tiles.

Why tiles: memory stays bounded whatever the image size (activations grow with the pixel count; a
4000² photo through the generator at once would need gigabytes), and the output has exactly the
input's size. The image is reflect-padded to a multiple of `multiple` (the generator's two stride-2
steps need 4), cut into `tile`² tiles overlapping by `overlap`, and the tiles are blended with a
raised-cosine window that is 1 in the middle and falls towards (never to) 0 at the edges, so seams
do not show and every pixel has positive weight.

InstanceNorm: each tile is normalised with its own statistics, not the whole image's. The network
was trained on crops of about this size, so per-tile statistics are what it learned with; a whole
image (with tray border, table and floor) has different ones. The price is that two tiles of very
different content may be toned slightly differently; the window blends that over `overlap` pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return [*starts, length - tile]


def _window(length: int, overlap: int) -> np.ndarray:
    """1 inside, a raised-cosine ramp over `overlap` pixels at each end, strictly positive."""
    ramp = np.ones(length, np.float32)
    if overlap > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap, dtype=np.float32) + 1) / (overlap + 1))
        ramp[:overlap] = rise
        ramp[-overlap:] = rise[::-1]
    return ramp


def tiled(
    image: np.ndarray,
    run: Callable[[np.ndarray], np.ndarray],
    tile: int = 256,
    overlap: int = 32,
    multiple: int = 4,
) -> np.ndarray:
    """`run` (float32 h×w×C tile → same shape) over overlapping tiles of `image`; float32, image's size."""
    height, width = image.shape[:2]
    padded = np.pad(
        image.astype(np.float32), ((0, -height % multiple), (0, -width % multiple), (0, 0)), mode="reflect"
    )
    ph, pw = padded.shape[:2]
    tile_h, tile_w = min(tile, ph), min(tile, pw)
    overlap_h, overlap_w = min(overlap, tile_h // 2), min(overlap, tile_w // 2)  # a tile must advance
    window = _window(tile_h, overlap_h)[:, None, None] * _window(tile_w, overlap_w)[None, :, None]
    out = np.zeros_like(padded)
    weight = np.zeros((ph, pw, 1), np.float32)
    for y in _starts(ph, tile_h, overlap_h):
        for x in _starts(pw, tile_w, overlap_w):
            out[y : y + tile_h, x : x + tile_w] += run(padded[y : y + tile_h, x : x + tile_w]) * window
            weight[y : y + tile_h, x : x + tile_w] += window
    return (out / weight)[:height, :width]
