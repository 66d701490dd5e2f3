"""Are the labels still on the objects after adaptation? Boundary-to-edge agreement, measured.

Why this measure: an adapter that moves or melts object outlines (CycleGAN can) leaves masks that
no longer match the pixels, silently corrupting the labels. For every instance-boundary pixel of the
instance mask we ask whether the image has an edge within 1 px (Canny, fixed thresholds 50/150 on the
grey image after a σ=1 Gaussian), in the original render and in the adapted image; the ratio adapted ÷
original is 1 when every outline survived and drops as outlines blur away or shift. Boundaries
against the background count too: that is where a translator would move an object.

Why a second number, outline contrast: edge agreement counts outlines above fixed Canny thresholds,
so it says whether an outline is still detected, not how much of it is left. The median grey gradient
on the labelled outline pixels, adapted ÷ original, grades that: a tone curve that quarters the step
at an outline gives ≈ 0.25, while an outline that blurred away or moved by a few pixels leaves almost
no gradient at its labelled place. It does not tell a moved outline from a faded one by itself; for an
adapter that maps each pixel on its own (histogram matching), outlines cannot move, so a low value
there is fading.
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


def _smoothed_grey(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (0, 0), SMOOTHING)


def edges_within_one_pixel(image: np.ndarray) -> np.ndarray:
    """Canny edges of an RGB image, dilated by a 3×3 square: True within 1 px (8-neighbourhood)."""
    return cv2.dilate(cv2.Canny(_smoothed_grey(image), *CANNY), np.ones((3, 3), np.uint8)) > 0


def edge_agreement(image: np.ndarray, instance: np.ndarray) -> float | None:
    """Fraction of instance-boundary pixels with an image edge within 1 px; None if no boundary."""
    outline = boundary(instance)
    if not outline.any():
        return None
    return float(edges_within_one_pixel(image)[outline].mean())


def outline_contrast(image: np.ndarray, instance: np.ndarray) -> float | None:
    """Median grey gradient magnitude (Sobel, same smoothing as the edges) on the instance outlines."""
    outline = boundary(instance)
    if not outline.any():
        return None
    grey = _smoothed_grey(image).astype(np.float32)
    magnitude = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    return float(np.median(magnitude[outline]))


def label_alignment(original: Path, adapted: Path, progress: bool = True) -> dict:
    """Mean edge agreement of both datasets over the same images, and their ratio (target ≥ 0.9);
    the same for the outline contrast."""
    before, after, contrast_before, contrast_after = [], [], [], []
    for meta in tqdm(load_metas(original), desc="alignment", unit="img", disable=not progress):
        files = meta["files"]
        instance = read_instance(original / files["instance"])
        source, result = (
            read_rgb(original / files["image"]),
            read_rgb(_adapted_image(adapted, files["image"])),
        )
        a, b = edge_agreement(source, instance), edge_agreement(result, instance)
        if a is not None and b is not None:
            before.append(a)
            after.append(b)
            contrast_before.append(outline_contrast(source, instance))
            contrast_after.append(outline_contrast(result, instance))
    if not before:
        raise UserError(f"{original}: no image has an instance outline to check alignment on")
    mean_before, mean_after = float(np.mean(before)), float(np.mean(after))
    contrast = float(np.mean(contrast_before)), float(np.mean(contrast_after))
    return {
        "images": len(before),
        "edge_agreement_original": mean_before,
        "edge_agreement_adapted": mean_after,
        "ratio": mean_after / mean_before if mean_before > 0 else None,
        "outline_contrast_original": contrast[0],
        "outline_contrast_adapted": contrast[1],
        "outline_contrast_ratio": contrast[1] / contrast[0] if contrast[0] > 0 else None,
        "edges": f"Canny {CANNY[0]}/{CANNY[1]} on grey after Gaussian σ {SMOOTHING}, within 1 px",
    }


def _adapted_image(adapted: Path, relative: str) -> Path:
    path = adapted / relative
    if not path.is_file():
        raise UserError(f"{path}: missing; is {adapted} the adapted copy of the --original dataset?")
    return path
