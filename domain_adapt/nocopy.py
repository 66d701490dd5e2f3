"""No-copy check: is any adapted image a near-copy of a real training photo?

Why: a learned translator can memorise its real training photos and paste them back, which would
leak real pictures (and their unlabelled content) into "synthetic" data and flatter every benchmark.
Each image is reduced to a structure descriptor: a 64×64 grey thumbnail, band-passed (Gaussian
σ 0.7 minus σ 4, in thumbnail pixels) and made zero-mean and unit-norm. The band-pass keeps where
edges and objects are and drops global colour, tone and light fall-off, which adapters change on
purpose. The distance is 1 − the best correlation of two descriptors over the query's 8 turns and
mirrors and its circular shifts of up to 3 thumbnail pixels (0 = the same picture): a translator
trains on mirrored crops, so a mirrored copy is as likely as a plain one.

Threshold 0.01, measured on the real dice photos (200 train, 640²; copies made of 20 of them):
copies after noise σ 6 + resize to 500² and back + JPEG q50, after a colour cast + blur σ 1.5, or
after gamma 0.7 lie at ≤ 0.003, mirrored or turned copies at 0.000; the nearest *different* photo
lies at ≥ 0.032 (shots of the same tray seconds apart, with other dice; 5th percentile 0.098), and
the 120 renders of the dice benchmark at ≥ 0.20. Blind spots, measured on the same photos:
- A copy moved by a fraction of a thumbnail pixel, or cropped: moved 8 px lies at 0.02–0.09, moved
  24 px at 0.07–0.14, cropped 16 px a side and resized back at 0.08–0.36. The fine band that tells
  two shots of one tray apart (0.032) is the band a sub-pixel move changes, so such copies cannot be
  flagged without flagging those shots.
- A copy whose tones were remapped hard (a photo histogram-matched to the renders) lands at
  0.03–0.13.
- A real patch pasted into an image (a verbatim 384² patch of a 640² photo lies at 0.10: whole
  images are compared, not windows at a translator's tile scale). Window checks were tried on the
  dice photos and do not separate: normalised cross-correlation of band-passed 128-px tiles (σ
  0.8−3 at half scale) against every real photo peaks at 0.85–0.93 for plain renders (generic edges
  and pips match somewhere) and at 0.84–0.99 for real 192–256-px patches pasted after noise, blur and
  JPEG; SIFT matches with RANSAC gave renders up to 187 inliers (repeated pip layouts) and pasted
  patches a median of 20–34.
The report carries the real-to-real nearest distances, so the margin can be judged on any data set.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from scenesmith.domain_adapt.images import read_rgb

NEAR_COPY_DISTANCE = 0.01
THUMBNAIL = 64
BAND = (0.7, 4.0)  # Gaussian σ of the band-pass, in thumbnail pixels
SHIFT = 3  # thumbnail pixels each way a copy may be moved (about 5% of the frame)


def descriptor(image: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm band-passed 64×64 grey thumbnail of an RGB image (float64 vector)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    thumb = cv2.resize(grey, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA).astype(np.float32)
    band = cv2.GaussianBlur(thumb, (0, 0), BAND[0]) - cv2.GaussianBlur(thumb, (0, 0), BAND[1])
    v = band.astype(np.float64).ravel()
    v -= v.mean()
    return v / max(float(np.linalg.norm(v)), 1e-9)


def descriptors(paths: list[Path], label: str, progress: bool = True) -> np.ndarray:
    return np.stack(
        [
            descriptor(read_rgb(p))
            for p in tqdm(paths, desc=f"no-copy: {label}", unit="img", disable=not progress)
        ]
    )


def poses(descriptor: np.ndarray) -> np.ndarray:
    """The descriptor under the 8 turns and mirrors of the square, each moved circularly by up to SHIFT
    thumbnail pixels: a copy flipped, turned or moved a little is still a copy, and the translators
    train on mirrored crops (8 × (2·SHIFT+1)² rows, each still zero-mean and unit-norm)."""
    square = descriptor.reshape(THUMBNAIL, THUMBNAIL)
    turned = [np.rot90(face, k) for face in (square, square[:, ::-1]) for k in range(4)]
    steps = range(-SHIFT, SHIFT + 1)
    return np.stack(
        [np.roll(t, (dy, dx), axis=(0, 1)).ravel() for t in turned for dy in steps for dx in steps]
    )


def nearest(
    queries: np.ndarray, references: np.ndarray, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query's nearest reference; distance = 1 − the best correlation over
    the query's poses."""
    # float32: a correlation's rounding (≈1e-7) is far below the threshold, and the products run twice as fast
    against = references.astype(np.float32).T
    distance = np.stack(
        [
            1.0 - (poses(query).astype(np.float32) @ against).max(axis=0).astype(np.float64)
            for query in queries
        ]
    )
    distance = np.maximum(distance, 0.0)  # a copy's rounding must not read as a negative distance
    if exclude_self:
        np.fill_diagonal(distance, np.inf)
    index = distance.argmin(axis=1)
    return distance[np.arange(len(queries)), index], index


def check_no_copies(
    adapted: list[Path], real: list[Path], threshold: float = NEAR_COPY_DISTANCE, progress: bool = True
) -> dict:
    """Each adapted image's nearest real image and distance; those under `threshold` are flagged."""
    real_desc = descriptors(real, "real", progress)
    distance, index = nearest(descriptors(adapted, "adapted", progress), real_desc)
    real_to_real = nearest(real_desc, real_desc, exclude_self=True)[0] if len(real) > 1 else np.zeros(0)
    per_image = [
        {"image": str(path), "nearest_real": str(real[i]), "distance": round(float(d), 6)}
        for path, i, d in zip(adapted, index, distance, strict=True)
    ]
    return {
        "descriptor": (
            f"band-passed {THUMBNAIL}² grey thumbnail (σ {BAND[0]}−{BAND[1]}), 1 − the best correlation over "
            f"its 8 turns and mirrors and circular shifts of up to {SHIFT} px"
        ),
        "threshold": threshold,
        "adapted_images": len(adapted),
        "real_images": len(real),
        "near_copies": [entry for entry in per_image if entry["distance"] < threshold],
        "nearest_distance": _quantiles(distance),
        "real_to_real_nearest_distance": _quantiles(real_to_real),
        "per_image": per_image,
    }


def _quantiles(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {}
    q = np.quantile(values, [0.0, 0.05, 0.5, 0.95, 1.0])
    return dict(zip(("min", "p05", "median", "p95", "max"), (float(v) for v in q), strict=True))
