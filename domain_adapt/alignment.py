"""Are the labels still on the objects after adaptation? Boundary-to-edge agreement, measured.

Why this measure: an adapter that moves or melts object outlines (CycleGAN can) leaves masks that
no longer match the pixels, silently corrupting the labels. For every instance-boundary pixel of the
instance mask we ask whether the image has an edge within 1 px (Canny, fixed thresholds 50/150 on the
grey image after a σ=1 Gaussian), in the original render and in the adapted image; the ratio adapted ÷
original is 1 when every outline survived and drops as outlines blur away or shift. Boundaries
against the background count too: that is where a translator would move an object.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from scenesmith.annotate.dataset_writer import load_metas, read_instance
from scenesmith.domain_adapt.images import read_rgb
from scenesmith.errors import UserError

CANNY = (50, 150)  # hysteresis thresholds on 8-bit grey: the usual 1:3 ratio
SMOOTHING = 1.0  # Gaussian σ before Canny, so pixel noise (which sensor adapters add) is no edge


def boundary(instance: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour belongs to another instance (or background)."""
    edge = np.zeros(instance.shape, bool)
    edge[:, :-1] |= instance[:, :-1] != instance[:, 1:]
    edge[:-1, :] |= instance[:-1, :] != instance[1:, :]
    return edge


def edges_within_one_pixel(image: np.ndarray) -> np.ndarray:
    """Canny edges of an RGB image, dilated by a 3×3 square: True within 1 px (8-neighbourhood)."""
    grey = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (0, 0), SMOOTHING)
    return cv2.dilate(cv2.Canny(grey, *CANNY), np.ones((3, 3), np.uint8)) > 0


def edge_agreement(image: np.ndarray, instance: np.ndarray) -> float | None:
    """Fraction of instance-boundary pixels with an image edge within 1 px; None if no boundary."""
    outline = boundary(instance)
    if not outline.any():
        return None
    return float(edges_within_one_pixel(image)[outline].mean())


def label_alignment(original: Path, adapted: Path, progress: bool = True) -> dict:
    """Mean edge agreement of both datasets over the same images, and their ratio (target ≥ 0.9)."""
    before, after = [], []
    for meta in tqdm(load_metas(original), desc="alignment", unit="img", disable=not progress):
        files = meta["files"]
        instance = read_instance(original / files["instance"])
        a = edge_agreement(read_rgb(original / files["image"]), instance)
        b = edge_agreement(read_rgb(_adapted_image(adapted, files["image"])), instance)
        if a is not None and b is not None:
            before.append(a)
            after.append(b)
    if not before:
        raise UserError(f"{original}: no image has an instance outline to check alignment on")
    mean_before, mean_after = float(np.mean(before)), float(np.mean(after))
    return {
        "images": len(before),
        "edge_agreement_original": mean_before,
        "edge_agreement_adapted": mean_after,
        "ratio": mean_after / mean_before if mean_before > 0 else None,
        "edges": f"Canny {CANNY[0]}/{CANNY[1]} on grey after Gaussian σ {SMOOTHING}, within 1 px",
    }


def _adapted_image(adapted: Path, relative: str) -> Path:
    path = adapted / relative
    if not path.is_file():
        raise UserError(f"{path}: missing; is {adapted} the adapted copy of the --original dataset?")
    return path
