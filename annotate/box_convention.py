"""Boxes drawn the way a real dataset's annotators drew them, from our exact boxes.

Why: a detector learns the box *convention* of its training labels as well as the object. Our boxes
are exact (the visible mask's extent); people often draw differently. The dice photos, for one, have
square boxes with a margin around each die: a detector trained on exact synthetic boxes predicts
boxes about 15% smaller (in side) than the real ones on the real validation split, so every match
fails the IoU ≥ 0.75 thresholds of mAP@[.5:.95] however well it finds and reads the dice. Matching the
convention is a choice about how labels are *written*; the exact box stays derivable from the masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoxConvention:
    """`square`: grow the short side to the long one about the centre; `padding`: then grow each
    side by this fraction of the box's side on both ends (0.1 → 20% wider and taller). Boxes are
    clipped to the image afterwards."""

    square: bool = False
    padding: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.padding <= 1.0:
            raise ValueError(f"box padding must be in [0, 1] (a fraction of the side), got {self.padding}")

    @property
    def exact(self) -> bool:
        """True when boxes are left exactly as they are."""
        return not self.square and self.padding == 0.0

    def apply(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        """`boxes` (N×4, x0 y0 x1 y1 in pixels) in this convention, clipped to a width×height image.

        Exact boxes come back as they are: boxes from masks already lie inside the image."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if self.exact:
            return boxes.copy()
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        size = boxes[:, 2:] - boxes[:, :2]
        if self.square:
            size = np.repeat(size.max(axis=1, keepdims=True), 2, axis=1)
        half = size * (0.5 + self.padding)
        grown = np.concatenate([centre - half, centre + half], axis=1)
        return np.clip(grown, 0, [width, height, width, height]).astype(np.float32)

    def describe(self) -> str:
        """Words for reports: "exact", "square, padded 0.07 of the side per end"."""
        if self.exact:
            return "exact"
        padded = [f"padded {self.padding:g} of the side per end"] if self.padding else []
        parts = (["square"] if self.square else []) + padded
        return ", ".join(parts)
