"""Training crops with strong augmentation, drawn from an explicit numpy Generator.

Why native-resolution crops: pips are a few pixels wide, so shrinking a 640² photo loses the class;
cropping keeps them readable at a fraction of the full-image cost, and inference runs on whole images
(the detector is fully convolutional). Dice look the same under 90° turns and flips, so those are free
geometric variety; colour, blur and noise jitter keep the model from keying on one camera's rendering.

Why a stronger preset for rendered images (`AUGMENT_PRESETS["strong"]`): a detector pretrained on renders
scores 0.84 on rendered validation and 0.34 on photos; it learns the renderer's look as well as the
dice. Any hue (a die's class is its pip count, not its colour), greyscale, heavier blur and noise, JPEG
re-compression and resolution loss make that look one of many ("diversity beats photorealism"),
using no real image at all.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import cv2
import numpy as np

from scenesmith.benchmark.data import IGNORED_REGION, Sample


@dataclass(frozen=True)
class AugmentConfig:
    crop: int = 256
    scale: tuple[float, float] = (0.8, 1.25)
    centre_on_object: float = 0.8
    min_kept_area: float = 0.5
    colour: float = 0.25
    hue_degrees: float = 8.0
    blur_probability: float = 0.25
    noise_probability: float = 0.3
    # Later additions, off by default: the draws of the default config stay those of earlier runs.
    blur_max_sigma: float = 1.0
    noise_max_std: float = 8.0
    greyscale_probability: float = 0.0
    jpeg_probability: float = 0.0
    jpeg_quality: tuple[int, int] = (30, 90)
    downscale_probability: float = 0.0
    downscale: tuple[float, float] = (0.5, 0.9)


# The fields added after `noise_probability` (new fields go at the end of AugmentConfig): run
# fingerprints record them only when set, so folders from before them resume.
_FIELD_NAMES = tuple(field.name for field in fields(AugmentConfig))
LATER_AUGMENT_FIELDS = _FIELD_NAMES[_FIELD_NAMES.index("noise_probability") + 1 :]

# Named changes to the training augmentation that the benchmark applies to its rendered images
# (`--synthetic-augment`); the crop geometry stays the run's.
AUGMENT_PRESETS: dict[str, dict] = {
    "standard": {},
    "strong": {
        "colour": 0.4,
        "hue_degrees": 180.0,  # any hue: ±180°
        "blur_probability": 0.4,
        "blur_max_sigma": 1.5,
        "noise_probability": 0.5,
        "noise_max_std": 12.0,
        "greyscale_probability": 0.1,
        "jpeg_probability": 0.5,
        "downscale_probability": 0.3,
    },
}

# `--tta` choices (applied by `tta.outputs_for`): "none" scores a photo as it is; "dihedral" averages
# its eight turns and flips. Kept here, beside the presets, because the CLI builds its parser from
# both and must not import torch to do so.
TEST_TIME_AUGMENTATIONS = ("none", "dihedral")


def with_preset(base: AugmentConfig, preset: str) -> AugmentConfig:
    """`base` with the named preset's changes (`AUGMENT_PRESETS`)."""
    return replace(base, **AUGMENT_PRESETS[preset])


def _crop_transform(sample: Sample, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """2×3 affine from image to crop: a random scale, centred on a random object most of the time."""
    height, width = sample.image.shape[:2]
    scale = float(np.exp(rng.uniform(*np.log(config.scale))))
    half = config.crop / scale / 2
    if len(sample.boxes) and rng.random() < config.centre_on_object:
        x0, y0, x1, y1 = sample.boxes[rng.integers(len(sample.boxes))]
        cx = rng.uniform(x0, x1) + rng.uniform(-half, half) * 0.7
        cy = rng.uniform(y0, y1) + rng.uniform(-half, half) * 0.7
    else:
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    cx = float(np.clip(cx, half, max(half, width - half)))
    cy = float(np.clip(cy, half, max(half, height - half)))
    return np.array([[scale, 0, config.crop / 2 - scale * cx], [0, scale, config.crop / 2 - scale * cy]])


def _transform_boxes(
    boxes: np.ndarray, affine: np.ndarray, crop: int, min_kept: float
) -> tuple[np.ndarray, np.ndarray]:
    scale = affine[0, 0]
    moved = boxes * scale + np.tile(affine[:, 2], 2)
    clipped = np.clip(moved, 0, crop)
    area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    kept_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = kept_area >= min_kept * np.maximum(area, 1e-6)
    return clipped, keep


def _turn_and_flip(
    image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    size = image.shape[0]
    for _ in range(int(rng.integers(4))):  # 90° counter-clockwise: (x, y) → (y, size − x)
        image = np.ascontiguousarray(np.rot90(image))
        boxes = np.stack([boxes[:, 1], size - boxes[:, 2], boxes[:, 3], size - boxes[:, 0]], axis=1)
    if rng.random() < 0.5:
        image = np.ascontiguousarray(image[:, ::-1])
        boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], axis=1)
    return image, boxes


def _photometric(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-1, 1) * config.hue_degrees / 2) % 180
    hsv[..., 1] *= 1 + rng.uniform(-1, 1) * config.colour
    hsv[..., 2] *= 1 + rng.uniform(-1, 1) * config.colour
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    contrast = 1 + rng.uniform(-1, 1) * config.colour
    out = (out - out.mean()) * contrast + out.mean()
    if config.greyscale_probability and rng.random() < config.greyscale_probability:
        out = np.repeat(out @ np.float32([0.299, 0.587, 0.114])[:, None], 3, axis=2)
    if config.downscale_probability and rng.random() < config.downscale_probability:
        out = _lose_resolution(out, rng.uniform(*config.downscale))
    if rng.random() < config.blur_probability:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, config.blur_max_sigma))
    if rng.random() < config.noise_probability:
        out = out + rng.normal(0, rng.uniform(2, config.noise_max_std), out.shape).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if config.jpeg_probability and rng.random() < config.jpeg_probability:
        out = _jpeg_roundtrip(out, int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)))
    return out


def _lose_resolution(image: np.ndarray, factor: float) -> np.ndarray:
    """Shrink by `factor` and enlarge back: a softer, blockier camera at the same pixel size."""
    height, width = image.shape[:2]
    small = cv2.resize(
        image, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG (RGB in, RGB out): the phone's block and ringing artefacts."""
    ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode a training crop")
    return np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])


def augmented_crop(
    sample: Sample, config: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crop uint8 RGB, boxes xyxy in crop pixels, labels) for one training draw; the sample's ignored
    regions that reach into the crop come last, labelled `IGNORED_REGION` (they take no draw, so a
    sample without any crops as before)."""
    affine = _crop_transform(sample, config, rng)
    image = cv2.warpAffine(
        sample.image,
        affine,
        (config.crop, config.crop),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    objects = len(sample.boxes)
    every = np.concatenate([sample.boxes.reshape(-1, 4), sample.ignore.reshape(-1, 4)])
    boxes, keep = _transform_boxes(every, affine, config.crop, config.min_kept_area)
    keep[objects:] = (boxes[objects:, 2] > boxes[objects:, 0]) & (boxes[objects:, 3] > boxes[objects:, 1])
    every_label = np.concatenate([sample.labels, np.full(len(sample.ignore), IGNORED_REGION)]).astype(
        np.int64
    )
    boxes, labels = boxes[keep], every_label[keep]
    image, boxes = _turn_and_flip(image, boxes.reshape(-1, 4), rng)
    return _photometric(image, config, rng), boxes.astype(np.float32), labels
