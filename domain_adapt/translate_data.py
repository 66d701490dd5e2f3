"""Training data of the learned translators: images held in memory, random crops, the image pool.

Why in memory: a step needs one crop per domain; decoding a 640² JPEG per crop would cost more
than the step itself on a CPU. 200 images of 640² per domain are ≈ 250 MB.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

from scenesmith.errors import UserError


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """B×H×W×3 uint8 (or float 0–255) → B×3×H×W float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def luminance(images: torch.Tensor) -> torch.Tensor:
    """B×3×H×W RGB → B×1×H×W grey (Rec. 601 weights, as OpenCV's RGB→grey)."""
    return (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).unsqueeze(1)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """B×3×H×W in [-1, 1] → B×H×W×3 float 0–255 (left unrounded so tiles blend before rounding)."""
    return ((tensor.detach().cpu().clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy()


def resize(image: np.ndarray, scale: float) -> np.ndarray:
    """Area-average when shrinking (no aliasing), cubic when enlarging; scale 1 returns the image."""
    if scale == 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def load_rgb(path: Path, scale: float) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"{path}: not a readable image")
    return resize(np.ascontiguousarray(bgr[..., ::-1]), scale)


def load_mask(path: Path, scale: float, image_shape: tuple[int, ...]) -> np.ndarray:
    """A semantic mask (class id per pixel) at the size its image has after `scale` (nearest)."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.ndim != 2:
        raise UserError(f"{path}: not a readable one-channel semantic mask (class id per pixel)")
    height, width = image_shape[:2]
    if scale == 1.0 and mask.shape != (height, width):
        raise UserError(f"{path}: {mask.shape[1]}×{mask.shape[0]} px, expected its image's {width}×{height}")
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)


class Crops(NamedTuple):
    """B×3×H×W images in [-1, 1] and, for a labelled domain, their B×H×W class-id masks (int64)."""

    images: torch.Tensor
    masks: torch.Tensor | None

    def to(self, device: torch.device) -> Crops:
        return Crops(self.images.to(device), None if self.masks is None else self.masks.to(device))


class CropSampler:
    """Random crops (and horizontal flips) of up to `limit` images of one domain, held in memory,
    with the same crop of each image's semantic mask when `masks` are given (one per path)."""

    def __init__(
        self,
        domain: str,
        paths: tuple[Path, ...],
        crop: int,
        scale: float,
        limit: int,
        rng: np.random.Generator,
        masks: tuple[Path, ...] = (),
    ) -> None:
        if not paths:
            raise UserError(f"no {domain} images to learn from")
        chosen = sorted(rng.choice(len(paths), min(limit, len(paths)), replace=False))
        self.images = [load_rgb(paths[i], scale) for i in chosen]
        self.masks = (
            [load_mask(masks[i], scale, self.images[k].shape) for k, i in enumerate(chosen)]
            if masks
            else None
        )
        self.crop = crop
        self._object_pixels = [np.argwhere(mask > 0) for mask in self.masks or []]
        for index, image in zip(chosen, self.images, strict=True):
            if min(image.shape[:2]) < crop:
                raise UserError(
                    f"{paths[index]}: {image.shape[1]}×{image.shape[0]} px at scale {scale} is smaller "
                    f"than the crop; pass a smaller --option crop=N (or a larger scale)"
                )

    def batch(self, size: int, rng: np.random.Generator, around_objects: bool = False) -> Crops:
        """`size` random crops; with `around_objects` (masks needed), each holds a labelled pixel drawn
        at random, so small objects fill batches instead of one crop in several."""
        crops, masks = [], []
        for index in rng.integers(len(self.images), size=size):
            image = self.images[index]
            if around_objects:
                y, x = self._window_around_an_object(int(index), rng)
            else:
                y = rng.integers(image.shape[0] - self.crop + 1)
                x = rng.integers(image.shape[1] - self.crop + 1)
            window = (slice(y, y + self.crop), slice(x, x + self.crop))
            flip = rng.random() < 0.5
            crops.append(image[window][:, ::-1] if flip else image[window])
            if self.masks is not None:
                mask = self.masks[index][window]
                masks.append(mask[:, ::-1] if flip else mask)
        labels = torch.from_numpy(np.stack(masks).astype(np.int64)) if masks else None
        return Crops(to_tensor(np.stack(crops)), labels)

    def _window_around_an_object(self, index: int, rng: np.random.Generator) -> tuple[int, int]:
        """Top-left corner of a crop holding one random labelled pixel of image `index` (anywhere in the
        crop); a random crop when the image has none."""
        height, width = self.images[index].shape[:2]
        pixels = self._object_pixels[index]
        if not len(pixels):
            return int(rng.integers(height - self.crop + 1)), int(rng.integers(width - self.crop + 1))
        py, px = pixels[rng.integers(len(pixels))]
        y = np.clip(py - rng.integers(self.crop), 0, height - self.crop)
        x = np.clip(px - rng.integers(self.crop), 0, width - self.crop)
        return int(y), int(x)

    def classes(self) -> int:
        """Background plus the highest class id in the masks: the reader's output channels."""
        return 1 + max(int(mask.max()) for mask in self.masks or [np.zeros(1, np.uint8)])


class ImagePool:
    """CycleGAN's buffer of 50 past fakes: the discriminator also sees older generator outputs, which
    stops the two networks from chasing each other in circles (Shrivastava et al. 2017)."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif rng.random() < 0.5:
                slot = int(rng.integers(self.size))
                out.append(self.images[slot])
                self.images[slot] = image
            else:
                out.append(image)
        return torch.stack(out)
