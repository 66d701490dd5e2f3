"""Split images into a layout band and a texture band, so the domain classifier can be asked about each.

Why: a classifier that tells renders from photos with AUC 1.0 does not say which lever would close
the gap. An appearance adapter (FDA, histogram, sensor, CycleGAN/CUT) keeps every label, so it cannot
move what is where in the frame; it can change tones and tint. Testing the two bands apart points at
the lever:
- the layout band keeps a 16×16 grid of cell means (blown back up to full size): where the light,
  the tray, the strips and the table edges are, and their tones and tint. At the classifier's 128 px
  a cell is 8 px, so an object that small (a die) shows only as one cell's tone, not as its look;
- the texture band keeps what the 32×32 grid's means remove (centred at mid-grey): noise, grain,
  sharpness, edges and the small objects' insides, without the framing or the overall tones.
On dice (v5 renders against the real train photos) the layout band alone separates the sets (AUC
0.999; still 0.999 with an 8×8 grid, where a die is a quarter of a cell): the photos come from one
rig (see benchmark/results/dice_iterations.md).
"""

from __future__ import annotations

import cv2
import numpy as np

LAYOUT_CELLS = 16
TEXTURE_CELLS = 32


def _cell_means(image: np.ndarray, cells: int) -> np.ndarray:
    """The image's cells×cells grid of means, resized back to the image's size (bilinear)."""
    h, w = image.shape[:2]
    grid = cv2.resize(image, (cells, cells), interpolation=cv2.INTER_AREA)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)


def layout_band(images: np.ndarray) -> np.ndarray:
    """N×H×W×3 uint8 → the same shape, holding only the LAYOUT_CELLS grid's means."""
    return np.stack([_cell_means(image, LAYOUT_CELLS) for image in images])


def texture_band(images: np.ndarray) -> np.ndarray:
    """N×H×W×3 uint8 → the same shape: each image minus its TEXTURE_CELLS grid's means, plus 128."""
    out = [
        np.clip(image.astype(np.int16) - _cell_means(image, TEXTURE_CELLS) + 128, 0, 255).astype(np.uint8)
        for image in images
    ]
    return np.stack(out)
